#!/usr/bin/env bash
# Prepares a Debian host for orch, idempotently: installs what it needs (apt),
# starts dockerd if no engine answers, builds the test images, installs the
# npm dependencies and builds orch. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "prepare-host: run as root (it installs packages and starts dockerd)" >&2; exit 1; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "prepare-host: orch needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

need=()
for pkg in docker.io docker-compose etcd-server etcd-client nftables iproute2 busybox-static iperf3 conntrack gcc libc6-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Debian's etcd-server package may start a system etcd; orch starts its own
# members on other ports, so that one is left alone.

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd"
  mkdir -p /run/orch /var/log/orch
  nohup dockerd --pidfile /run/orch/dockerd.pid >/var/log/orch/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { echo "prepare-host: dockerd did not come up; see /var/log/orch/dockerd.log" >&2; exit 1; }
fi

bash scripts/build-test-images.sh

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "building orch"
npm run --silent build
