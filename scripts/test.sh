#!/usr/bin/env bash
# The test command (README): prepares the host, type-checks, checks that the
# generated gRPC code matches proto/orch.proto, runs every test against the
# real etcd and the real dockerd, and ends with "N passed, N failed" taken
# from the test runner's own TAP counts.
#
# A tier runs alone: `bash scripts/test.sh unit` (seconds), `integration`
# (real etcd), `e2e` (real etcd + dockerd + orch processes) or `lab` (simulated
# hosts). Other arguments go to ava as they are (a file, --match).
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
for a in "$@"; do
  case "$a" in
    unit | integration | e2e | lab) args+=("dist/test/$a/**/*.test.js") ;;
    *) args+=("$a") ;;
  esac
done

bash scripts/prepare-host.sh

# Tools only the tests use: promtool (Debian's prometheus package) checks the
# metrics pages, Chromium (driven by playwright-core) loads the dashboard.
test_need=()
for pkg in prometheus chromium; do dpkg -s "$pkg" >/dev/null 2>&1 || test_need+=("$pkg"); done
if [ "${#test_need[@]}" -gt 0 ]; then
  echo "==> installing ${test_need[*]} (for the tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${test_need[@]}" >/dev/null
fi

echo "==> checking that proto/generated matches proto/orch.proto"
before=$(cat proto/generated/*.ts proto/generated/google/protobuf/*.ts | sha256sum)
npm run --silent proto
after=$(cat proto/generated/*.ts proto/generated/google/protobuf/*.ts | sha256sum)
if [ "$before" != "$after" ]; then
  echo "proto/generated was stale: it has been regenerated; commit it" >&2
  exit 1
fi

echo "==> type check"
npm run --silent typecheck

echo "==> tests (unit, integration on real etcd, end to end on real etcd + dockerd)"
export ORCH_LOG_LEVEL="${ORCH_LOG_LEVEL:-warn}"
# ava's inactivity timeout (package.json) is far above every test's own
# bounded waits: when it fires, ava 6's TAP reporter crashes (avajs/ava#3461)
# and the run ends there, so a slow test must fail by its own deadline.
tap=$(mktemp)
export ORCH_TEST_EXIT_TRACE
ORCH_TEST_EXIT_TRACE=$(mktemp)
trap 'rm -f "$tap" "$ORCH_TEST_EXIT_TRACE"' EXIT
set +e
npx ava --tap "${args[@]}" | tee "$tap"
code=${PIPESTATUS[0]}
set -e
pass=$(awk '/^# pass /{print $3}' "$tap" | tail -n 1)
fail=$(awk '/^# fail /{print $3}' "$tap" | tail -n 1)
# A crash before the summary still counts its "not ok" lines.
[ -n "$pass" ] || pass=$(grep -c '^ok ' "$tap" || true)
[ -n "$fail" ] || fail=$(grep -c '^not ok ' "$tap" || true)
# ava leaves a failed hook (an after.always that threw, say) out of its
# "# fail" count although it prints it as "not ok": count those lines too, and
# name them again here, where the end of a long run's output shows them.
notok=$(grep -c '^not ok ' "$tap" || true)
[ "$notok" -le "${fail:-0}" ] || fail=$notok
if [ "$notok" -gt 0 ]; then
  echo "==> not ok:"
  grep '^not ok ' "$tap" | cut -c1-300
fi
if [ -s "$ORCH_TEST_EXIT_TRACE" ]; then
  echo "==> test processes that called process.exit() (test/helpers/exit-trace.ts):"
  cat "$ORCH_TEST_EXIT_TRACE"
fi
if [ "$code" -ne 0 ] && [ "${fail:-0}" -eq 0 ]; then
  # ava counts some failures in its exit code only: a test file's process
  # that called process.exit() after its last test, say. Never a pass.
  echo "ava exited with code $code although no test failed: a test file's process ended abnormally; run each tier alone to find it"
  fail=1
fi
echo "${pass:-0} passed, ${fail:-0} failed"
exit "$code"
