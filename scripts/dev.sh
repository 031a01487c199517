#!/usr/bin/env bash
# The README's first command: prepares the host, then runs `orch dev` — a local
# single-host cluster (etcd, manager, agent on the local Docker Engine) with a
# demo service whose replicas answer HTTP. Extra arguments go to `orch dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare-host.sh
exec node dist/cli/main.js dev "$@"
