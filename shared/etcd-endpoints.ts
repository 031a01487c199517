// The one rule for an etcd that is open: plain HTTP to an address other than
// loopback. Only `orch dev` runs etcd without TLS, and only on loopback.
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** The endpoints (comma-separated URLs) that reach etcd over plain HTTP beyond this host. */
export function insecureEtcd(endpoints: string): string[] {
  return endpoints
    .split(',')
    .map((e) => e.trim())
    .filter((e) => {
      const m = /^http:\/\/([^/]+?)(:\d+)?\/?$/.exec(e);
      return !!m && !LOOPBACK.test(m[1]!);
    });
}
