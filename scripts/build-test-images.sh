#!/usr/bin/env bash
# Builds orch's test images (both stop promptly on SIGTERM, as a well-behaved app does) from Debian's busybox-static with `docker import`
# (no registry is reachable here). Idempotent: existing images are kept.
#   orch-test/httpd  serves HTTP on :80; the page is the container's hostname, and
#                    /cgi-bin/peer the address the request came from; echoes UDP on :7
#   orch-test/httpd:2  the same server, another image (a new version to roll out)
#   orch-test/sleep  sleeps (for tasks that only need to run)
#   orch-test/broken exits with status 1 at once (a bad release)
# Usage: build-test-images.sh [DOCKER_HOST]   (default: the local engine)
set -euo pipefail
export DOCKER_HOST="${1:-${DOCKER_HOST:-unix:///var/run/docker.sock}}"

# Bumped whenever the images change, so a host with older ones rebuilds them.
VERSION=4
have() { [ "$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" 2>/dev/null | grep -c "^ORCH_TEST_IMAGE=$VERSION$")" = 1 ]; }
if have orch-test/httpd:latest && have orch-test/httpd:2 && have orch-test/sleep:latest && have orch-test/broken:latest; then exit 0; fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/www/cgi-bin" "$root/tmp" "$root/etc"
cp /bin/busybox "$root/bin/busybox"
gcc -static -O2 -o "$root/bin/udp-echo" "$here/udp-echo.c"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s\\n" "$REMOTE_ADDR"\n' >"$root/www/cgi-bin/peer"
chmod +x "$root/www/cgi-bin/peer"
for applet in sh httpd sleep hostname cat echo ls wget nc ping ip ifconfig true false kill ps nslookup; do
  ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"

tar -C "$root" -c . | docker import \
  -c 'CMD ["/bin/sh", "-c", "hostname > /www/index.html; trap \"exit 0\" TERM; udp-echo 7 & httpd -f -p 80 -h /www & wait"]' \
  -c 'ENV PATH=/bin' -c "ENV ORCH_TEST_IMAGE=$VERSION" - orch-test/httpd:latest >/dev/null
tar -C "$root" -c . | docker import \
  -c 'CMD ["/bin/sh", "-c", "hostname > /www/index.html; trap \"exit 0\" TERM; udp-echo 7 & httpd -f -p 80 -h /www & wait"]' \
  -c 'ENV PATH=/bin' -c "ENV ORCH_TEST_IMAGE=$VERSION" -c 'ENV ORCH_TEST_RELEASE=2' - orch-test/httpd:2 >/dev/null
tar -C "$root" -c . | docker import \
  -c 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM; sleep 2147483647 & wait"]' \
  -c 'ENV PATH=/bin' -c "ENV ORCH_TEST_IMAGE=$VERSION" - orch-test/sleep:latest >/dev/null
tar -C "$root" -c . | docker import \
  -c 'CMD ["/bin/false"]' \
  -c 'ENV PATH=/bin' -c "ENV ORCH_TEST_IMAGE=$VERSION" - orch-test/broken:latest >/dev/null
echo "==> built test images orch-test/httpd, orch-test/httpd:2, orch-test/sleep and orch-test/broken"
