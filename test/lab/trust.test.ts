// Trust that lasts (issue 15), on a lab of three managers: the lab's etcd
// refuses every client but those with a certificate of etcd's own CA;
// certificates of one minute are renewed three lifetimes over while a client
// loop runs through a published port, and nothing stops; the root CA rotates
// under that loop; an agent frozen past its certificate's end says so in one
// line and a new join brings its host back; bad input changes nothing.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Etcd3 } from 'etcd3';
import { LabCluster } from '../../lab/lab-cluster.js';
import { clientLoop } from '../../lab/client-loop.js';
import { HTTP_IMAGE } from '../../lab/images.js';
import { hostStateDir, labAdminDir, labEtcdTls, MANAGER_PORT } from '../../lab/state.js';
import { connectEtcd } from '../../manager/store/index.js';
import { fingerprint, issueEtcdCert, MANAGER_NAME, newCa, newKey, signedBy, splitPems, validity } from '../../shared/tls/pki.js';
import { reportLogsOnFailure } from '../helpers/lab.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
let scratch: string;

test.before(async () => {
  lab = await LabCluster.up({ name: 'ttrust', index: 244, hosts: 3, managers: 3 });
  scratch = mkdtempSync(join(tmpdir(), 'orch-trust-'));
});

test.after.always(async () => {
  await lab?.down();
  rmSync(scratch, { recursive: true, force: true });
});

const endpoints = () => lab.state.etcd.join(',');
/** `node ls` as JSON. */
const nodeList = async () => JSON.parse(await lab.ok('node', 'ls', '--format', 'json')) as Array<{ id: string; state?: string; description?: { hostname?: string } }>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether etcd answers a read made with this client (closed after). */
async function answers(client: Etcd3): Promise<boolean> {
  try {
    await client.get('/orch/v1/cluster/ca').string();
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}

/** The certificate the manager at addr serves, checked against the cluster's CA (undefined: refused). */
function servedNotAfter(addr: string, ca: Buffer): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: addr, port: MANAGER_PORT, ca, servername: MANAGER_NAME, ALPNProtocols: ['h2'], timeout: 3000 }, () => {
      const cert = s.getPeerCertificate();
      s.destroy();
      resolve(new Date(cert.valid_to).getTime());
    });
    s.once('error', () => resolve(undefined));
    s.once('timeout', () => {
      s.destroy();
      resolve(undefined);
    });
  });
}

test.serial("the lab's etcd refuses a client without a certificate, one of another CA and one of the nodes' CA; the managers use theirs", async (t) => {
  const tls = labEtcdTls(lab.state);
  const caOnly = new Etcd3({ hosts: lab.state.etcd, credentials: { rootCertificate: readFileSync(tls.ca) }, dialTimeout: 2000, defaultCallOptions: () => ({ deadline: Date.now() + 3000 }) });
  t.false(await answers(caOnly), 'no client certificate');
  const plain = new Etcd3({ hosts: lab.state.etcd.map((e) => e.replace('https:', 'http:')), dialTimeout: 2000, defaultCallOptions: () => ({ deadline: Date.now() + 3000 }) });
  t.false(await answers(plain), 'plain HTTP');

  const other = await newCa('orch', 'orch etcd CA');
  const key = newKey();
  const files = { ca: tls.ca, cert: join(scratch, 'intruder.crt'), key: join(scratch, 'intruder.key') };
  writeFileSync(files.cert, await issueEtcdCert(other, key.publicKeyPem, 'operator'));
  writeFileSync(files.key, key.keyPem);
  t.false(await answers(connectEtcd(endpoints(), files)), 'a certificate of another CA, even one named like ours');
  const admin = labAdminDir(lab.state);
  t.false(await answers(connectEtcd(endpoints(), { ca: tls.ca, cert: join(admin, 'node.crt'), key: join(admin, 'node.key') })), "the cluster's own admin certificate (the nodes' CA opens no etcd)");

  t.true(await answers(connectEtcd(endpoints(), tls)), "the operator's certificate from `orch etcd certs`");
  for (const h of lab.state.hosts) {
    const dir = hostStateDir(h);
    t.regex(readFileSync(join(dir, 'etcd-client.crt'), 'utf8'), /BEGIN CERTIFICATE/, `${h.name}'s manager holds an etcd client certificate`);
    t.true(await answers(connectEtcd(endpoints(), { ca: join(dir, 'etcd-ca.crt'), cert: join(dir, 'etcd-client.crt'), key: join(dir, 'node.key') })));
  }
  t.regex(await lab.ok('node', 'ls'), /h1.*Ready[\s\S]*h2.*Ready[\s\S]*h3.*Ready/);
});

test.serial('bad input: a lifetime below the floor, or no duration, is refused in one line and changes nothing', async (t) => {
  const before = await lab.ok('cluster', 'inspect', '--format', 'json');
  for (const [bad, why] of [['5s', /--cert-expiry 5s: give 1m to \d+h/], ['59s', /--cert-expiry 59s: give 1m/], ['soon', /is not a duration/]] as const) {
    const r = await lab.orch('cluster', 'update', '--cert-expiry', bad);
    t.is(r.code, 1, bad);
    t.regex(r.stderr, why);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  t.is(await lab.ok('cluster', 'inspect', '--format', 'json'), before);
  t.regex(await lab.ok('cluster', 'inspect'), /certificate lifetime \(--cert-expiry\): 2160h \(the default/);
});

test.serial('certificates of one minute: three lifetimes over, every node and manager renews in time, no request fails, nothing restarts', async (t) => {
  t.timeout(330_000);
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '3', '-p', '8080:80', HTTP_IMAGE);
  const containers = async () => Object.values(await lab.running('web')).flat().map((c) => c.Id).sort();
  const before = await containers();
  t.is(before.length, 3);
  const loop = clientLoop(() => lab.state.hosts.map((h) => h.addr), 8080);
  const ca = readFileSync(join(hostStateDir(lab.host('h1')), 'ca.crt'));
  const onDisk = new Map<string, Set<number>>();
  const served = new Map<string, Set<number>>();
  const problems: string[] = [];

  t.regex(await lab.ok('cluster', 'update', '--cert-expiry', '1m'), /certificate lifetime \(--cert-expiry\): 1m/);
  const start = Date.now();
  while (Date.now() - start < 200_000) {
    const now = Date.now();
    for (const n of await nodeList()) if (n.state !== 'NODE_READY') problems.push(`${n.description?.hostname} ${n.state} at +${now - start} ms`);
    for (const h of lab.state.hosts) {
      const notAfter = validity(readFileSync(join(hostStateDir(h), 'node.crt'))).notAfter.getTime();
      if (notAfter <= now) problems.push(`${h.name}'s node.crt expired at +${now - start} ms`);
      onDisk.set(h.name, (onDisk.get(h.name) ?? new Set()).add(notAfter));
      const s = await servedNotAfter(h.addr, ca);
      if (s === undefined || s <= now) problems.push(`${h.name}'s manager served ${s === undefined ? 'nothing acceptable' : 'an expired certificate'} at +${now - start} ms`);
      else served.set(h.name, (served.get(h.name) ?? new Set()).add(s));
    }
    await sleep(1000);
  }
  await loop.stop();
  t.deepEqual(problems, [], 'no node down, no certificate expired, every manager served a valid one');
  for (const h of lab.state.hosts) {
    // Every certificate but the 90-day one the host started with.
    const short = [...onDisk.get(h.name)!].filter((n) => n - start < 300_000);
    t.true(short.length >= 4, `${h.name} renewed ${short.length} times in 200 s of one-minute certificates`);
    t.true((served.get(h.name)?.size ?? 0) >= 4, `${h.name}'s manager served ${served.get(h.name)?.size} certificates`);
  }
  const failed = loop.samples.filter((s) => !s.ok);
  t.true(loop.samples.length > 500, `${loop.samples.length} requests`);
  t.is(failed.length, 0, `failed requests: ${failed.slice(0, 3).map((s) => `${s.host}: ${s.err}`).join('; ')}`);
  t.deepEqual(await containers(), before, 'the same three containers, none restarted');
  t.regex(await lab.ok('node', 'ls'), /CERTIFICATE[\s\S]*expires in \d+s/);

  // The CLI's admin certificate renews with one command (a copy, so the rest of the file keeps the 90-day one).
  const copy = join(scratch, 'admin');
  cpSync(labAdminDir(lab.state), copy, { recursive: true });
  const was = validity(readFileSync(join(copy, 'node.crt'))).notAfter.getTime();
  t.regex(await lab.ok('--tls-dir', copy, 'context', 'renew'), /Renewed the certificate in .*: valid until/);
  const now = validity(readFileSync(join(copy, 'node.crt'))).notAfter.getTime();
  t.true(now < was && now - Date.now() <= 60_000 && now > Date.now(), 'a new one-minute certificate');
  t.regex(await lab.ok('--tls-dir', copy, 'node', 'ls'), /h1/);
});

test.serial('an agent frozen past its certificate\'s end says so in one line, node ls shows it, and a new join brings the host back', async (t) => {
  t.timeout(180_000);
  const h4 = await lab.add();
  const dir = hostStateDir(h4);
  const notAfter = validity(readFileSync(join(dir, 'node.crt'))).notAfter.getTime();
  await lab.signal('h4', 'agent', 'SIGSTOP');
  await sleep(Math.max(0, notAfter - Date.now()) + 2000);
  await lab.signal('h4', 'agent', 'SIGCONT');
  const log = join(h4.dir, 'agent.log');
  await lab.waitFor(async () => /certificate expired at/.test(readFileSync(log, 'utf8')), 20_000, "the agent's line");
  const line = readFileSync(log, 'utf8').split('\n').find((l) => /"msg":"this node's certificate expired at/.test(l));
  t.truthy(line, 'one log line says it');
  t.regex(line!, /join again with a token \(`orch join --token TOKEN MANAGER`\)/);
  await lab.waitFor(async () => /h4 .*Down \(certificate expired: join again\)/.test(await lab.ok('node', 'ls')), 10_000, 'node ls names the reason');

  const oldId = lab.nodeId('h4');
  await lab.rejoin('h4');
  await lab.waitFor(async () => (await nodeList()).some((n) => n.description?.hostname === 'h4' && n.id !== oldId && n.state === 'NODE_READY'), 30_000, 'h4 back as a new node');
  // What a person does next: forget the old node.
  await lab.ok('node', 'rm', oldId);
  t.false((await nodeList()).some((n) => n.id === oldId));
});

test.serial('orch ca rotate under a client loop: every node ends under the new root, none goes down, no request fails; old tokens stop working', async (t) => {
  t.timeout(180_000);
  // Back to the default lifetime: the admin certificate the rotation renews must outlast the rest of the file.
  await lab.ok('cluster', 'update', '--cert-expiry', '2160h');
  const oldToken = (await lab.ok('join-token', '-q', 'worker')).trim();
  const before = JSON.parse(await lab.ok('ca', '--format', 'json')) as { root: { fingerprint: string } };
  await lab.ok('service', 'create', '--name', 'rot', '--replicas', '3', '-p', '8081:80', HTTP_IMAGE);
  const loop = clientLoop(() => lab.state.hosts.map((h) => h.addr), 8081);
  const downs: string[] = [];
  let watching = true;
  const watch = (async () => {
    while (watching) {
      for (const n of await nodeList().catch(() => [])) if (n.state !== 'NODE_READY') downs.push(`${n.description?.hostname} ${n.state}`);
      await sleep(500);
    }
  })();

  const done = await lab.orch('ca', 'rotate', '--timeout', '60s');
  watching = false;
  await watch;
  await loop.stop();
  t.is(done.code, 0, done.stderr);
  t.regex(done.stdout, /CA rotation done in [\d.]+m?s?/);

  const after = JSON.parse(await lab.ok('ca', '--format', 'json')) as { root: { fingerprint: string }; phase?: string };
  t.not(after.root.fingerprint, before.root.fingerprint);
  t.falsy(after.phase);
  for (const h of lab.state.hosts) {
    const trust = splitPems(readFileSync(join(hostStateDir(h), 'ca.crt')));
    t.deepEqual(trust.map((p) => fingerprint(p)), [after.root.fingerprint], `${h.name} trusts the new root alone`);
    t.is(signedBy(readFileSync(join(hostStateDir(h), 'node.crt')), trust), after.root.fingerprint, `${h.name}'s certificate is of the new root`);
    if (h.manager) t.true((await servedNotAfter(h.addr, Buffer.from(trust[0]!))) !== undefined, `${h.name}'s manager serves a certificate of the new root`);
  }
  t.deepEqual(downs, [], 'no node went down');
  const failed = loop.samples.filter((x) => !x.ok);
  t.true(loop.samples.length > 50, `${loop.samples.length} requests`);
  t.is(failed.length, 0, `failed requests: ${failed.slice(0, 3).map((x) => `${x.host}: ${x.err}`).join('; ')}`);

  const stale = await lab.orch('join', '--token', oldToken, '--state-dir', join(scratch, 'stale'), '--hostname', 'stale', lab.state.managers[0]!);
  t.is(stale.code, 1);
  t.regex(stale.stderr, /is not of the cluster the token names .*nothing was sent/);
  const fresh = await lab.orch('join', '--token', (await lab.ok('join-token', '-q', 'worker')).trim(), '--state-dir', join(scratch, 'fresh'), '--hostname', 'fresh', lab.state.managers[0]!);
  t.is(fresh.code, 0, fresh.stderr);
  t.is(signedBy(readFileSync(join(scratch, 'fresh', 'node.crt')), [readFileSync(join(hostStateDir(lab.host('h1')), 'ca.crt'), 'utf8')]), after.root.fingerprint);
});

test.serial('a rotation waits on a node that is down and names it; a second rotate meanwhile is refused and changes nothing; the node back, it finishes', async (t) => {
  t.timeout(120_000);
  const caJson = async () => JSON.parse(await lab.ok('ca', '--format', 'json')) as { root: { fingerprint: string }; next?: { fingerprint: string }; phase?: string };
  const before = await caJson();
  await lab.signal('h4', 'agent', 'SIGSTOP');
  await lab.waitFor(async () => (await nodeList()).some((n) => n.description?.hostname === 'h4' && n.state === 'NODE_DOWN'), 15_000, 'h4 down');
  t.regex(await lab.ok('ca', 'rotate', '--detach'), /CA rotation started/);
  await lab.waitFor(async () => /waiting on: h4 \(down: bring it back, or `orch node rm` it\)/.test(await lab.ok('ca')), 15_000, '`orch ca` names h4');
  const during = await caJson();
  t.is(during.phase, 'reissue');
  t.is(during.root.fingerprint, before.root.fingerprint);

  const again = await lab.orch('ca', 'rotate');
  t.is(again.code, 1);
  t.regex(again.stderr, /a CA rotation is under way \(phase reissue, since .*\): `orch ca` shows who it waits on/);
  t.is(again.stderr.trim().split('\n').length, 1);
  t.deepEqual(await caJson(), during, 'the refused rotate changed nothing');

  await lab.signal('h4', 'agent', 'SIGCONT');
  await lab.waitFor(async () => !(await caJson()).phase, 60_000, 'the rotation finished once h4 was back');
  const after = await caJson();
  t.is(after.root.fingerprint, during.next!.fingerprint);
  const h4 = lab.host('h4');
  t.is(signedBy(readFileSync(join(hostStateDir(h4), 'node.crt')), splitPems(readFileSync(join(hostStateDir(h4), 'ca.crt')))), after.root.fingerprint);
  t.regex(await lab.ok('node', 'ls'), /h4 .*Ready/);
});
