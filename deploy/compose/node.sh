#!/bin/sh
# One orch container of docker-compose.test.yml, set up the way a person sets
# up real hosts: the first manager runs `orch init` and publishes the join
# tokens (in the shared volume, for this test cluster only); the others run
# `orch join` with them, then their daemon. Waits are bounded (2 minutes).
set -eu
orch() { node /orch/dist/cli/main.js "$@"; }
ETCD=http://etcd1:2379,http://etcd2:2379,http://etcd3:2379

wait_for() { # FILE
  i=0
  until [ -s "$1" ]; do
    i=$((i + 1)); [ "$i" -le 120 ] || { echo "no $1 after 2 minutes" >&2; exit 1; }
    sleep 1
  done
}

case "$1" in
  first)
    [ -f /state/node.crt ] || ORCH_CONFIG_DIR=/shared orch init --etcd "$ETCD" --state-dir /state --advertise manager1:4242
    orch manager --etcd "$ETCD" --listen 0.0.0.0:4242 --advertise manager1:4242 --state-dir /state &
    pid=$!
    for role in manager worker; do
      i=0
      until ORCH_MANAGER=manager1:4242 ORCH_TLS_DIR=/shared/certs/orch orch join-token -q "$role" > "/shared/$role.token.tmp"; do
        i=$((i + 1)); [ "$i" -le 120 ] || exit 1
        sleep 1
      done
      mv "/shared/$role.token.tmp" "/shared/$role.token"
    done
    wait "$pid"
    ;;
  manager)
    wait_for /shared/manager.token
    [ -f /state/node.crt ] || orch join --token "$(cat /shared/manager.token)" --state-dir /state manager1:4242
    exec orch manager --etcd "$ETCD" --listen 0.0.0.0:4242 --advertise "$(hostname):4242" --state-dir /state
    ;;
  agent)
    wait_for /shared/worker.token
    [ -f /state/node.crt ] || orch join --token "$(cat /shared/worker.token)" --state-dir /state 127.0.0.1:4242
    exec orch --manager 127.0.0.1:4242,127.0.0.1:4243,127.0.0.1:4244 agent --state-dir /state --cluster compose
    ;;
  *)
    echo "usage: node.sh first|manager|agent" >&2
    exit 2
    ;;
esac
