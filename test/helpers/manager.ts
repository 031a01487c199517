// A real manager on a throwaway etcd, torn down with the test. The cluster is
// made the way `orch init` makes it, so the manager serves mutual TLS and the
// test talks to it with the admin certificate.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Manager } from '../../manager/index.js';
import { initCluster } from '../../manager/ca/init.js';
import { tempEtcd, type TempEtcd } from '../../lab/etcd.js';
import { freePort } from '../../lab/ports.js';
import { loadTls, type TlsMaterial } from '../../shared/tls/credentials.js';

/** Initialises a cluster on `etcd` and builds (does not start) its first manager. */
export async function initManager(t: ExecutionContext, etcd: TempEtcd): Promise<{ m: Manager; admin: TlsMaterial; stateDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-mgr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const listen = `127.0.0.1:${await freePort()}`;
  const stateDir = join(dir, 'node');
  await initCluster({ etcd: etcd.endpoint, stateDir, adminDir: join(dir, 'admin'), advertise: listen });
  return { m: new Manager({ etcd: etcd.endpoint, listen, stateDir }), admin: loadTls(join(dir, 'admin')), stateDir };
}

export async function managerOnTempEtcd(t: ExecutionContext): Promise<{ m: Manager; etcd: TempEtcd; admin: TlsMaterial }> {
  const etcd = await tempEtcd();
  const { m, admin } = await initManager(t, etcd);
  t.teardown(async () => {
    await m.stop();
    await etcd.destroy();
  });
  await m.start();
  return { m, etcd, admin };
}
