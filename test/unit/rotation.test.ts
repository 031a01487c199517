// CA rotation: the cross-signed chain checked by Node's own TLS (not ours),
// and the pure rules of what is issued and when a rotation moves on.
import { createServer, connect, type TLSSocket } from 'node:tls';
import test from 'ava';
import { NodeAvailability, NodeState, type Node } from '../../proto/generated/orch.js';
import { bundle, crossSign, fingerprint, issueCert, MANAGER_NAME, newCa, newKey, signedBy, splitPems, type KeyPair } from '../../shared/tls/pki.js';
import { issuing, rotationStep, type Rotation } from '../../manager/ca/rotation.js';
import type { ClusterSecrets } from '../../manager/ca/secrets.js';
import { caLines } from '../../cli/commands/ca.js';

async function leaf(ca: KeyPair, role: 'manager' | 'admin') {
  const k = newKey();
  return { key: k.keyPem, cert: await issueCert(ca, k.publicKeyPem, { nodeId: `${role}-1`, role, clusterId: 'c1' }) };
}

/** Whether a client trusting `trust` accepts a server showing `cert` (with its key), and the server the client's admin certificate of `clientCa`. */
async function handshake(server: { key: string; cert: string }, serverTrust: string, trust: string, client: { key: string; cert: string }): Promise<{ clientOk: boolean; serverOk: boolean }> {
  let serverOk = false;
  const srv = createServer({ ...server, ca: serverTrust, requestCert: true, rejectUnauthorized: false }, (s: TLSSocket) => {
    serverOk = s.authorized;
    s.end();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  try {
    const clientOk = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, ca: trust, servername: MANAGER_NAME, ...client }, () => s.once('end', () => resolve(true)).resume());
      s.once('error', () => resolve(false));
    });
    return { clientOk, serverOk };
  } finally {
    srv.close();
  }
}

test('a leaf of the new root sent with the cross-signed copy is accepted by peers trusting the old root, the new, or both; without the copy, not by the old alone', async (t) => {
  const old = await newCa('c1');
  const next = await newCa('c1', 'orch root CA 2');
  const cross = await crossSign(old, next);
  const stranger = await newCa('c1', 'orch root CA 2');
  const newLeaf = await leaf(next, 'manager');
  const chained = { ...newLeaf, cert: bundle(newLeaf.cert, cross) };
  const oldAdmin = await leaf(old, 'admin');
  const newAdmin = await leaf(next, 'admin');
  const both = bundle(old.certPem, next.certPem);

  t.deepEqual(await handshake(chained, both, old.certPem, oldAdmin), { clientOk: true, serverOk: true }, 'a node still trusting only the old root');
  t.deepEqual(await handshake(chained, both, next.certPem, newAdmin), { clientOk: true, serverOk: true }, 'trusting only the new root');
  t.deepEqual(await handshake(chained, both, both, { ...newAdmin, cert: bundle(newAdmin.cert, cross) }), { clientOk: true, serverOk: true }, 'trusting both');
  t.deepEqual(await handshake(chained, old.certPem, old.certPem, { ...newAdmin, cert: bundle(newAdmin.cert, cross) }), { clientOk: true, serverOk: true }, 'a server still trusting only the old root takes a new client certificate with its copy');
  t.false((await handshake(newLeaf, both, old.certPem, oldAdmin)).clientOk, 'without the cross-signed copy the old root alone does not vouch');
  t.false((await handshake(chained, both, stranger.certPem, oldAdmin)).clientOk, "a stranger's root, even of the same name, does not vouch");
  t.false((await handshake(chained, next.certPem, next.certPem, oldAdmin)).serverOk, 'once the old root is dropped, its certificates are refused');
  t.is(signedBy(chained.cert, [old.certPem, next.certPem]), fingerprint(next.certPem));
  t.is(signedBy(oldAdmin.cert, [next.certPem]), undefined);
});

const node = (id: string, certRoot: string, trustedRoots: string[]): Node => ({
  id, certRoot, trustedRoots, state: NodeState.NODE_READY, availability: NodeAvailability.ACTIVE, labels: {}, role: 'worker', stateMessage: '',
  description: undefined, createdAt: undefined, updatedAt: undefined, ingressAddr: '', desiredRole: '', volumes: [], certExpiresAt: undefined,
});

test('what is issued in each phase, and a rotation moves on only when every node is there', async (t) => {
  const old = await newCa('c1');
  const next = await newCa('c1', 'orch root CA 2');
  const r: Rotation = { ca: next, crossSignedPem: await crossSign(old, next), phase: 'reissue', startedAt: new Date().toISOString() };
  const secrets: ClusterSecrets = { clusterId: 'c1', ca: old, tokens: { worker: '', manager: '' }, etcd: '' };
  const [o, n] = [fingerprint(old.certPem), fingerprint(next.certPem)];

  t.like(issuing(secrets), { signer: old, chain: '', root: o, trustRoots: [o] });
  const during = issuing({ ...secrets, rotation: r });
  t.like(during, { signer: next, chain: r.crossSignedPem, root: n, trustRoots: [o, n] });
  t.is(splitPems(during.trust).length, 2);
  t.like(issuing({ ...secrets, ca: next, rotation: { ...r, phase: 'trust' } }), { signer: next, chain: '', root: n, trustRoots: [n] });

  t.is(rotationStep(undefined, [node('a', o, [o])]), undefined);
  t.is(rotationStep(r, [node('a', n, [o, n]), node('b', o, [o])]), undefined, 'b (up or down) still holds the old root');
  t.is(rotationStep(r, [node('a', n, [o, n]), node('b', n, [o, n])]), 'retire');
  const trust: Rotation = { ...r, phase: 'trust' };
  t.is(rotationStep(trust, [node('a', n, [n]), node('b', n, [o, n])]), undefined);
  t.is(rotationStep(trust, [node('a', n, [n]), node('b', n, [n])]), 'finish');
});

test('orch ca names the nodes a rotation waits on, and how to unblock a down one', (t) => {
  const root = { fingerprint: 'a'.repeat(64), subject: 'CN=orch root CA, O=c1', notAfter: new Date('2036-01-01T00:00:00Z') };
  const next = { ...root, fingerprint: 'b'.repeat(64), subject: 'CN=orch root CA x1, O=c1' };
  const n = (hostname: string, ready: boolean, reissued: boolean) => ({ nodeId: hostname, hostname, ready, reissued, trustsNewOnly: false });
  const lines = caLines({ root, next, phase: 'reissue', startedAt: new Date('2026-12-02T17:00:00Z'), nodes: [n('h1', true, true), n('h2', true, false), n('h3', false, false)] });
  t.deepEqual(lines, [
    `root CA: ${'a'.repeat(16)}… CN=orch root CA, O=c1, valid until 2036-01-01T00:00:00.000Z`,
    `rotating to: ${'b'.repeat(16)}… CN=orch root CA x1, O=c1, valid until 2036-01-01T00:00:00.000Z (since 2026-12-02T17:00:00.000Z)`,
    '  nodes with a certificate of the new root: 1/3',
    '  nodes trusting the new root alone: 0/3',
    '  waiting on: h2, h3 (down: bring it back, or `orch node rm` it)',
  ]);
  t.deepEqual(caLines({ root, next: undefined, phase: '', startedAt: undefined, nodes: [] }).slice(1), ['no rotation under way']);
});
