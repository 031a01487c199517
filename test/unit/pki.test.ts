// The cluster CA, join tokens and sealed secrets, checked with Node's own
// X.509 and TLS code rather than with ours.
import { X509Certificate } from 'node:crypto';
import { createServer, connect, type TLSSocket } from 'node:tls';
import test from 'ava';
import { certIdentity, fingerprint, issueCert, MANAGER_NAME, newCa, newKey } from '../../shared/tls/pki.js';
import { newClusterKey, seal, unseal } from '../../shared/tls/sealed.js';
import { newToken, parseToken, sameToken } from '../../shared/tls/token.js';

test('a certificate the CA issues verifies against it and names node, role and cluster; only managers carry the manager name', async (t) => {
  const ca = await newCa('c1');
  const root = new X509Certificate(ca.certPem);
  t.true(root.ca);
  t.true(root.verify(root.publicKey), 'self-signed');
  const { publicKeyPem } = newKey();
  const worker = new X509Certificate(await issueCert(ca, publicKeyPem, { nodeId: 'n1', role: 'worker', clusterId: 'c1' }));
  t.true(worker.verify(root.publicKey));
  t.false(worker.ca);
  t.deepEqual(certIdentity(worker.toString()), { nodeId: 'n1', role: 'worker', clusterId: 'c1' });
  t.is(worker.checkHost(MANAGER_NAME), undefined);
  const manager = new X509Certificate(await issueCert(ca, publicKeyPem, { nodeId: 'm1', role: 'manager', clusterId: 'c1' }));
  t.is(manager.checkHost(MANAGER_NAME), MANAGER_NAME);
  const other = new X509Certificate((await newCa('c2')).certPem);
  t.false(worker.verify(other.publicKey), "another cluster's CA does not vouch for it");
});

test('mutual TLS with issued certificates: the server sees who calls; a stranger\'s certificate is not authorized', async (t) => {
  const ca = await newCa('c1');
  const stranger = await newCa('c1');
  const pair = async (role: 'manager' | 'admin', from = ca) => {
    const k = newKey();
    return { key: k.keyPem, cert: await issueCert(from, k.publicKeyPem, { nodeId: `${role}-1`, role, clusterId: 'c1' }) };
  };
  const srv = await pair('manager');
  const seen: Array<{ authorized: boolean; cn?: string }> = [];
  const server = createServer({ ...srv, ca: ca.certPem, requestCert: true, rejectUnauthorized: false }, (s: TLSSocket) => {
    seen.push({ authorized: s.authorized, cn: s.authorized ? (s.getPeerCertificate().subject.CN as string) : undefined });
    s.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const dial = (client: { key: string; cert: string }) =>
    new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: MANAGER_NAME, ...client }, () => s.once('end', resolve).resume());
      s.once('error', reject);
    });
  await dial(await pair('admin'));
  await dial(await pair('admin', stranger));
  t.deepEqual(seen, [{ authorized: true, cn: 'admin-1' }, { authorized: false, cn: undefined }]);
});

test('join tokens: the fingerprint pins the CA; malformed tokens are refused with the expected shape', async (t) => {
  const ca = await newCa('c1');
  const fp = fingerprint(ca.certPem);
  const token = newToken(fp);
  t.is(parseToken(token).caFingerprint, fp);
  t.not(newToken(fp), token, 'each token has its own secret');
  t.true(sameToken(token, `${token}`));
  t.false(sameToken(token, newToken(fp)));
  t.throws(() => parseToken('SWMTKN-1-abc'), { message: /not an orch join token \(expected ORCH-1-<64 hex>-<32 hex>\)/ });
});

test('sealed secrets open only with the cluster key, and a changed byte is detected', (t) => {
  const key = newClusterKey();
  const sealed = seal(key, 'the CA key');
  t.false(sealed.includes('the CA key'));
  t.is(unseal(key, sealed), 'the CA key');
  t.throws(() => unseal(newClusterKey(), sealed), { message: /cluster key is not the cluster's/ });
  const raw = Buffer.from(sealed.slice(3), 'base64');
  raw[raw.length - 1]! ^= 1;
  t.throws(() => unseal(key, `v1:${raw.toString('base64')}`), { message: /cluster key is not the cluster's/ });
});
