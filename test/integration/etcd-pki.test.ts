// etcd locked by orch's own certificates, on a real etcd: `orch etcd certs`
// makes etcd's CA before etcd runs, init adopts it and seals its key, the
// manager reaches etcd with the client certificate init gave it, and later
// certificates are issued with the sealed CA. A refused init writes nothing.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { initCluster } from '../../manager/ca/init.js';
import { etcdCerts } from '../../manager/ca/etcd-certs.js';
import { loadSecrets } from '../../manager/ca/secrets.js';
import { Manager } from '../../manager/index.js';
import { Store } from '../../manager/store/index.js';
import { startEtcd, onFreePorts } from '../../lab/etcd.js';
import { freePort } from '../../lab/ports.js';
import { connect } from '../../client/control.js';
import { etcdClientTls, loadClusterKey, loadTls } from '../../shared/tls/credentials.js';

test("orch etcd certs, then init: etcd demands its own CA's certificates; the manager reaches it with the one init gave it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-etcdpki-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'node');
  const out = join(dir, 'pki');
  t.deepEqual(await etcdCerts({ stateDir, out, members: [{ name: 'm1', ips: ['127.0.0.1'] }] }), { created: true });
  t.true(existsSync(join(stateDir, 'etcd-ca.key')), "etcd's CA waits for init in the state directory");
  const member = join(out, 'm1');
  const etcd = await onFreePorts(async () => startEtcd({ name: 'm1', dataDir: join(dir, 'etcd'), clientPort: await freePort(), peerPort: await freePort(), tls: { ca: join(member, 'ca.crt'), cert: join(member, 'server.crt'), key: join(member, 'server.key') } }));
  t.teardown(() => etcd.stop());

  // Without the CA in its state directory, init is refused and writes nothing.
  const elsewhere = join(dir, 'elsewhere');
  await t.throwsAsync(initCluster({ etcd: etcd.endpoint, stateDir: elsewhere, adminDir: join(dir, 'admin2'), advertise: '127.0.0.1:1' }), { message: /holds no etcd CA: run `orch etcd certs/ });
  t.false(existsSync(elsewhere));

  const listen = `127.0.0.1:${await freePort()}`;
  const r = await initCluster({ etcd: etcd.endpoint, stateDir, adminDir: join(dir, 'admin'), advertise: listen });
  t.is(r.etcdAuth, 'orch');
  t.false(existsSync(join(stateDir, 'etcd-ca.key')), 'the key left the disk for the sealed record');
  const tls = etcdClientTls(stateDir)!;
  t.truthy(tls);
  const store = new Store(etcd.endpoint, tls);
  t.teardown(() => store.etcd.close());
  const { secrets } = await loadSecrets(store, loadClusterKey(stateDir));
  t.is(secrets.etcdCa?.certPem, readFileSync(join(member, 'ca.crt'), 'utf8'));

  // A second init into this etcd (with a CA made anew) is refused, and changes nothing there either.
  const again = join(dir, 'again');
  await etcdCerts({ stateDir: again, out: join(dir, 'pki2'), members: [{ name: 'm1', ips: ['127.0.0.1'] }] });
  const before = readdirSync(again).sort();
  await t.throwsAsync(initCluster({ etcd: etcd.endpoint, stateDir: again, adminDir: join(dir, 'admin3'), advertise: listen }));
  t.deepEqual(readdirSync(again).sort(), before);

  const m = new Manager({ etcd: etcd.endpoint, listen, stateDir });
  t.teardown(() => m.stop());
  await m.start();
  const ctl = connect(listen, loadTls(join(dir, 'admin')));
  t.teardown(() => ctl.close());
  const net = await ctl.createNetwork({ name: 'locked', driver: 'overlay', subnet: '', gateway: '', labels: {} });
  t.is((await ctl.getNetwork({ ref: 'locked' })).network?.id, net.id);

  // After init, etcd certs on this manager issue with the sealed CA, given etcd's endpoints.
  await t.throwsAsync(etcdCerts({ stateDir, out: join(dir, 'pki3'), members: [{ name: 'm2', ips: ['127.0.0.2'] }] }), { message: /give --etcd URLS/ });
  t.deepEqual(await etcdCerts({ stateDir, out: join(dir, 'pki3'), members: [{ name: 'm2', ips: ['127.0.0.2'] }], etcd: etcd.endpoint }), { created: false });
  const m2 = new X509Certificate(readFileSync(join(dir, 'pki3', 'm2', 'server.crt')));
  t.true(m2.verify(new X509Certificate(readFileSync(join(member, 'ca.crt'))).publicKey));
});
