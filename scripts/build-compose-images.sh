#!/usr/bin/env bash
# Builds the two images docker-compose.test.yml runs, from what this host
# has (no registry is reachable): `docker import` of a root filesystem made
# of the host's own binaries and the libraries they load.
#   orch-compose/etcd:local  Debian's etcd-server binary
#   orch-compose/node:local  the host's Node.js, busybox, and the tools an
#                            agent calls (nft, conntrack, iptables, nsenter, ip);
#                            orch itself is mounted from the checkout
# It also readies this host for the agent's container (see below).
# Idempotent: images of the current version are kept.
# Usage: build-compose-images.sh [DOCKER_HOST]   (default: the local engine)
set -euo pipefail
# The system's own tools: under npm, $PATH starts with node_modules/.bin (where `nft` is not nftables).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DOCKER_HOST="${1:-${DOCKER_HOST:-unix:///var/run/docker.sock}}"

# The agent's container mounts the host's network namespaces with shared
# propagation (/var/run/netns:shared), which Docker refuses unless that path is
# a shared mount of its own: make it one, as `ip netns add` does on first use.
mkdir -p /run/netns
mountpoint -q /run/netns || mount --bind /run/netns /run/netns
mount --make-shared /run/netns

VERSION=2
have() { [ "$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" 2>/dev/null | grep -c "^ORCH_COMPOSE_IMAGE=$VERSION$")" = 1 ]; }
if have orch-compose/etcd:local && have orch-compose/node:local; then exit 0; fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# Copies files into the root filesystem at the same paths, with the shared libraries they load.
add() {
  local dest=$1; shift
  for f in "$@"; do
    local real; real=$(readlink -f "$f")
    [ "$(head -c 4 "$real" | tail -c 3)" = ELF ] || { echo "build-compose-images: $f is not a binary (expected the system's own tool)" >&2; exit 1; }
    mkdir -p "$dest$(dirname "$f")" "$dest$(dirname "$real")"
    cp -a "$real" "$dest$real"
    [ "$f" = "$real" ] || ln -sf "$real" "$dest$f"
    { ldd "$real" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
      [ -e "$dest$lib" ] && continue
      mkdir -p "$dest$(dirname "$lib")"
      cp -aL "$lib" "$dest$lib"
    done
  done
}

base() { # DIR: busybox as the shell and the usual tools
  mkdir -p "$1/bin" "$1/tmp" "$1/etc" "$1/run" "$1/var/run"
  chmod 1777 "$1/tmp"
  cp /bin/busybox "$1/bin/busybox"
  for applet in sh cat ls mkdir mv rm sleep hostname wget test true false mount; do ln -sf busybox "$1/bin/$applet"; done
  echo 'root:x:0:0:root:/:/bin/sh' >"$1/etc/passwd"
  echo 'root:x:0:' >"$1/etc/group"
}

mkdir -p "$root/etcd"
base "$root/etcd"
add "$root/etcd" "$(command -v etcd)"
tar -C "$root/etcd" -c . | docker import -c 'ENV PATH=/usr/bin:/bin' -c "ENV ORCH_COMPOSE_IMAGE=$VERSION" -c 'ENTRYPOINT ["/usr/bin/etcd"]' - orch-compose/etcd:local >/dev/null

mkdir -p "$root/node"
base "$root/node"
add "$root/node" "$(command -v node)" "$(command -v nft)" "$(command -v conntrack)" "$(command -v nsenter)" "$(command -v ip)" \
  "$(command -v iptables)" "$(readlink -f "$(command -v iptables)")"
# iptables-nft loads its matches and targets as plugins.
xt=$(dirname "$(ldd "$(readlink -f "$(command -v iptables)")" | grep -o '/[^ ]*libxtables[^ ]*' | head -1)")/xtables
if [ -d "$xt" ]; then mkdir -p "$root/node$xt" && cp -a "$xt/." "$root/node$xt/"; fi
tar -C "$root/node" -c . | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin' -c "ENV ORCH_COMPOSE_IMAGE=$VERSION" - orch-compose/node:local >/dev/null
echo "==> built orch-compose/etcd:local and orch-compose/node:local"
