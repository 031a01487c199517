#!/bin/sh
# One orch container of docker-compose.test.yml, set up the way a person sets
# up real hosts: etcd's certificates first, then the first manager runs
# `orch init` and publishes the join tokens (in the shared volume, for this
# test cluster only); the others run `orch join` with them, then their
# daemon. Waits are bounded (2 minutes).
set -eu
orch() { node /orch/dist/cli/main.js "$@"; }
ETCD=https://198.19.250.11:2379,https://198.19.250.12:2379,https://198.19.250.13:2379
MANAGERS=198.19.250.21:4242,198.19.250.22:4242,198.19.250.23:4242

wait_for() { # FILE
  i=0
  until [ -s "$1" ]; do
    i=$((i + 1)); [ "$i" -le 120 ] || { echo "no $1 after 2 minutes" >&2; exit 1; }
    sleep 1
  done
}

case "$1" in
  certs)
    [ -f /shared/etcd/etcd1/server.crt ] || orch etcd certs --state-dir /state --out /shared/etcd etcd1=198.19.250.11 etcd2=198.19.250.12 etcd3=198.19.250.13
    ;;
  first)
    [ -f /state/node.crt ] || ORCH_CONFIG_DIR=/shared orch init --etcd "$ETCD" --state-dir /state --advertise "$2:4242"
    orch manager --etcd "$ETCD" --listen 0.0.0.0:4242 --advertise "$2:4242" --state-dir /state &
    pid=$!
    for role in manager worker; do
      i=0
      until ORCH_MANAGER="$2:4242" ORCH_TLS_DIR=/shared/certs/orch orch join-token -q "$role" > "/shared/$role.token.tmp"; do
        i=$((i + 1)); [ "$i" -le 120 ] || exit 1
        sleep 1
      done
      mv "/shared/$role.token.tmp" "/shared/$role.token"
    done
    wait "$pid"
    ;;
  manager)
    wait_for /shared/manager.token
    [ -f /state/node.crt ] || orch join --token "$(cat /shared/manager.token)" --state-dir /state 198.19.250.21:4242
    exec node /orch/dist/cli/main.js manager --etcd "$ETCD" --listen 0.0.0.0:4242 --advertise "$2:4242" --state-dir /state
    ;;
  agent)
    # Docker mounts /proc/sys read-only in a container that is not privileged; the agent sets sysctls (ip_forward in its namespaces).
    mount -o remount,rw /proc/sys
    wait_for /shared/worker.token
    [ -f /state/node.crt ] || orch join --token "$(cat /shared/worker.token)" --state-dir /state 198.19.250.21:4242
    exec node /orch/dist/cli/main.js --manager "$MANAGERS" agent --state-dir /state --cluster compose
    ;;
  *)
    echo "usage: node.sh certs|first ADDR|manager ADDR|agent" >&2
    exit 2
    ;;
esac
