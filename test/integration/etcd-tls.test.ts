// etcd behind TLS with client certificates: a cluster initialised and run
// with the certificate works; a manager without it is refused, saying so.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Etcd3 } from 'etcd3';
import { initCluster } from '../../manager/ca/init.js';
import { Manager } from '../../manager/index.js';
import { startEtcd, onFreePorts } from '../../lab/etcd.js';
import { freePort } from '../../lab/ports.js';
import { issueCert, newCa, newKey } from '../../shared/tls/pki.js';
import { connect } from '../../client/control.js';
import { loadTls } from '../../shared/tls/credentials.js';

test('a manager reaches an etcd that demands client certificates with --etcd-ca/--etcd-cert/--etcd-key, and not without', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-etcdtls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A CA of the operator's for etcd (not the cluster's): a server and a client certificate.
  const ca = await newCa('etcd');
  const files = { ca: join(dir, 'ca.crt'), serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
  writeFileSync(files.ca, ca.certPem);
  const server = newKey();
  writeFileSync(files.serverKey, server.keyPem);
  writeFileSync(files.serverCert, await issueCert(ca, server.publicKeyPem, { nodeId: 'etcd', role: 'worker', clusterId: 'etcd' }, { ips: ['127.0.0.1'] }));
  const client = newKey();
  writeFileSync(files.key, client.keyPem);
  writeFileSync(files.cert, await issueCert(ca, client.publicKeyPem, { nodeId: 'orch', role: 'worker', clusterId: 'etcd' }));
  const etcd = await onFreePorts(async () => startEtcd({ name: 'tls', dataDir: join(dir, 'etcd'), clientPort: await freePort(), peerPort: await freePort(), tls: { ca: files.ca, cert: files.serverCert, key: files.serverKey } }));
  t.teardown(() => etcd.stop());
  t.regex(etcd.endpoint, /^https:/);
  const etcdTls = { ca: files.ca, cert: files.cert, key: files.key };

  // A client that trusts etcd's certificate (the CA) but shows none of its
  // own: only etcd's --client-cert-auth can refuse it.
  const noClientCert = new Etcd3({ hosts: etcd.endpoint, credentials: { rootCertificate: readFileSync(files.ca) }, defaultCallOptions: () => ({ deadline: Date.now() + 3000 }) });
  t.teardown(() => noClientCert.close());
  // etcd's TLS alert (42: bad certificate), not a check of our own.
  await t.throwsAsync(noClientCert.get('/x').string(), { message: /alert bad certificate|alert certificate required/ });
  const withClientCert = new Etcd3({ hosts: etcd.endpoint, credentials: { rootCertificate: readFileSync(files.ca), certChain: readFileSync(files.cert), privateKey: readFileSync(files.key) } });
  t.teardown(() => withClientCert.close());
  t.is(await withClientCert.get('/x').string(), null, 'the same client with its certificate is let in');

  const listen = `127.0.0.1:${await freePort()}`;
  await initCluster({ etcd: etcd.endpoint, etcdTls, stateDir: join(dir, 'node'), adminDir: join(dir, 'admin'), advertise: listen });
  const m = new Manager({ etcd: etcd.endpoint, etcdTls, listen, stateDir: join(dir, 'node') });
  t.teardown(() => m.stop());
  await m.start();
  const ctl = connect(listen, loadTls(join(dir, 'admin')));
  t.teardown(() => ctl.close());
  const net = await ctl.createNetwork({ name: 'over-tls', driver: 'overlay', subnet: '', gateway: '', labels: {} });
  t.is((await ctl.getNetwork({ ref: 'over-tls' })).network?.id, net.id);
});
