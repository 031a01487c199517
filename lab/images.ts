// The test images built from busybox-static by scripts/build-test-images.sh
// (no registry is reachable here, so they are made with `docker import`).

/** Serves HTTP on port 80; the page is the container's hostname, so replicas are told apart. */
export const HTTP_IMAGE = 'orch-test/httpd:latest';
/** Sleeps for a long time; for tasks that only need to run. */
export const SLEEP_IMAGE = 'orch-test/sleep:latest';
