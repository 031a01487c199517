// A secured cluster (issue 6): joining takes the right token and the right
// CA; the control API takes an admin (or manager) certificate and nothing
// else; a removed node is locked out; secrets at rest in etcd are sealed.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import { ControlClient } from '../../proto/generated/orch.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';
import { hostStateDir, labEtcdTls } from '../../lab/state.js';
import { MANAGER_NAME } from '../../shared/tls/pki.js';
import { connectEtcd, keys } from '../../manager/store/index.js';
import { newClusterKey, unseal } from '../../shared/tls/sealed.js';
import { loadClusterKey } from '../../shared/tls/credentials.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
let scratch: string;

test.before(async () => {
  lab = await LabCluster.up({ name: 'tsec', index: 246, hosts: 2, managers: 1 });
  scratch = mkdtempSync(join(tmpdir(), 'orch-sec-'));
});

test.after.always(async () => {
  await lab?.down();
  rmSync(scratch, { recursive: true, force: true });
});

const manager = () => lab.state.managers[0]!;
const managerLog = () => readFileSync(join(lab.host('h1').dir, 'manager.log'), 'utf8');

/** `orch join` from this machine into a fresh state directory. */
async function join_(token: string, name: string) {
  const dir = join(scratch, name);
  const r = await lab.orch('join', '--token', token, '--state-dir', dir, '--hostname', name, manager());
  return { ...r, dir };
}

/** What a join writes in etcd: the nodes (their keys) and the sealed secrets (the CA key, the tokens). */
async function joinState(): Promise<{ nodes: string[]; secrets: string | null }> {
  const etcd = connectEtcd(lab.state.etcd.join(','), labEtcdTls(lab.state));
  try {
    return { nodes: (await etcd.getAll().prefix(keys.kindPrefix('nodes')).keys()).sort(), secrets: await etcd.get(keys.clusterSecrets()).string() };
  } finally {
    etcd.close();
  }
}

test.serial('bad joins are refused: a wrong token, a token for another CA, a malformed token; nothing is written', async (t) => {
  const before = await joinState();
  t.is(before.nodes.length, 2, 'the lab\'s two nodes');
  const good = (await lab.ok('join-token', '-q', 'worker')).trim();
  const wrongSecret = good.replace(/-[0-9a-f]{32}$/, `-${'0'.repeat(32)}`);
  const r1 = await join_(wrongSecret, 'wrong');
  t.is(r1.code, 1);
  t.regex(r1.stderr, /invalid join token \(wrong, or rotated since\)/);
  t.false(existsSync(join(r1.dir, 'node.crt')));
  t.regex(managerLog(), /join refused/);

  const otherCa = good.replace(/^ORCH-1-[0-9a-f]{64}/, `ORCH-1-${'a'.repeat(64)}`);
  const r2 = await join_(otherCa, 'otherca');
  t.is(r2.code, 1);
  t.regex(r2.stderr, /is not of the cluster the token names .*nothing was sent/);
  t.false(existsSync(join(r2.dir, 'node.crt')));

  const r3 = await join_('SWMTKN-1-nope', 'malformed');
  t.is(r3.code, 1);
  t.regex(r3.stderr, /not an orch join token/);
  t.deepEqual(await joinState(), before, 'no node and no secret written in etcd');
});

test.serial('the control API refuses a client without a certificate and a worker certificate, saying why', async (t) => {
  const ca = readFileSync(join(hostStateDir(lab.host('h1')), 'ca.crt'));
  const bare = new ControlClient(manager(), ChannelCredentials.createSsl(ca), { 'grpc.ssl_target_name_override': MANAGER_NAME });
  t.teardown(() => bare.close());
  const err = await new Promise<Error & { code?: number; details?: string }>((resolve) =>
    bare.listNodes({}, new Metadata(), { deadline: new Date(Date.now() + 10_000) }, (e) => resolve(e!)),
  );
  t.is(err.code, 16, 'UNAUTHENTICATED');
  t.regex(err.details ?? '', /the control API needs a certificate of this cluster/);
  t.regex(managerLog(), /caller refused/);

  const asWorker = await lab.orch('--tls-dir', hostStateDir(lab.host('h2')), 'service', 'ls');
  t.is(asWorker.code, 1);
  t.regex(asWorker.stderr, /a worker certificate cannot call the control API/);
  t.is(asWorker.stderr.trim().split('\n').length, 1);
});

test.serial('join-token --rotate: the old token stops working, the new one joins', async (t) => {
  const old = (await lab.ok('join-token', '-q', 'worker')).trim();
  const rotated = await lab.ok('join-token', '--rotate', 'worker');
  t.regex(rotated, /Rotated\. To add a worker/);
  const fresh = (await lab.ok('join-token', '-q', 'worker')).trim();
  t.not(fresh, old);
  t.is((await join_(old, 'late')).code, 1);
  const ok = await join_(fresh, 'fresh');
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /joined the cluster as a worker/);
  t.true(existsSync(join(ok.dir, 'node.crt')));
  t.false(existsSync(join(ok.dir, 'cluster.key')), 'a worker never gets the cluster key');
});

test.serial('the CA key and the tokens are sealed in etcd', async (t) => {
  const etcd = connectEtcd(lab.state.etcd.join(','), labEtcdTls(lab.state));
  t.teardown(() => etcd.close());
  const sealed = (await etcd.get(keys.clusterSecrets()).string())!;
  const token = (await lab.ok('join-token', '-q', 'manager')).trim();
  // What is stored holds the CA key and the token: it opens with the cluster key of a manager's host...
  const clear = unseal(loadClusterKey(hostStateDir(lab.host('h1'))), sealed);
  t.true(clear.includes('PRIVATE KEY') && clear.includes(token.slice(-32)), 'the sealed value holds the CA key and the token');
  // ...and with no other key; nor is it an encoding of them (clear, base64 of the text or of its bytes).
  t.throws(() => unseal(newClusterKey(), sealed), { message: /cannot open the cluster secrets/ });
  const stored = [sealed, Buffer.from(sealed.split(':')[1] ?? '', 'base64').toString('latin1')];
  for (const needle of [token.slice(-32), 'PRIVATE KEY', Buffer.from(token).toString('base64').slice(8, 40), Buffer.from(clear).toString('base64').slice(8, 40)]) {
    t.false(stored.some((s) => s.includes(needle)), `not stored as such: ${needle}`);
  }
  t.regex((await etcd.get(keys.clusterCa()).string())!, /BEGIN CERTIFICATE/, 'the root certificate itself is public');
});

test.serial('a removed node can no longer connect', async (t) => {
  const id = lab.nodeId('h2');
  await lab.ok('node', 'rm', '--force', 'h2');
  // Its agent still runs and keeps trying; it must never be let back in.
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    t.false([...(await lab.hostnames()).values()].includes('h2'));
    await new Promise((r) => setTimeout(r, 500));
  }
  const agentLog = readFileSync(join(lab.host('h2').dir, 'agent.log'), 'utf8');
  t.regex(agentLog, /was removed from the cluster: its certificate is revoked/);
  const asRemoved = await lab.orch('--tls-dir', hostStateDir(lab.host('h2')), 'node', 'ls');
  t.is(asRemoved.code, 1);
  t.regex(asRemoved.stderr, new RegExp(`node ${id} was removed from the cluster`));
});
