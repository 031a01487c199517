// The store against a real etcd: compare-and-put uniqueness under concurrency,
// the leader fence, elections, and a mirror that survives an etcd restart.
import test from 'ava';
import { Service, ServiceSpec } from '../../proto/generated/orch.js';
import { Election } from '../../manager/election.js';
import type { PingOutcome } from '../../manager/manager-links.js';
import { Cache, keys, Store } from '../../manager/store/index.js';
import { AlreadyExistsError, NotLeaderError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import { onFreePorts, PortTakenError, startEtcd, tempEtcd } from '../../lab/etcd.js';
import { createServer } from 'node:net';
import { connect } from '../../client/control.js';
import { managerOnTempEtcd } from '../helpers/manager.js';
import { freePort } from '../../lab/ports.js';
import { connectMember } from '../../manager/store/index.js';
import { memberStatuses } from '../../manager/store/members.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const log = logger('test');

function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => (check() ? resolve() : Date.now() > deadline ? reject(new Error('timed out')) : setTimeout(tick, 20));
    tick();
  });
}

test('50 concurrent creates of one service name: exactly one wins, the rest get AlreadyExists', async (t) => {
  const { m, admin } = await managerOnTempEtcd(t);
  const ctl = connect(m.addr, admin);
  const spec = ServiceSpec.fromPartial({ name: 'race', replicas: 0, container: { image: 'orch-test/sleep:latest' } });
  const results = await Promise.allSettled(Array.from({ length: 50 }, () => ctl.createService(spec)));
  ctl.close();
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.is(refused.length, 49);
  t.true(refused.every((r) => r.reason instanceof AlreadyExistsError));
  const stored = await m.store.etcd.getAll().prefix(keys.object('services', '')).keys();
  t.is(stored.length, 1, 'one service object in etcd');
});

test('a deposed leader cannot write: its fenced transaction is refused', async (t) => {
  const etcd = await tempEtcd();
  t.teardown(() => etcd.destroy());
  const a = new Store(etcd.endpoint);
  const b = new Store(etcd.endpoint);
  t.teardown(() => {
    a.etcd.close();
    b.etcd.close();
  });
  const ea = new Election(a, { managerId: 'a', addr: 'a' }, log, { ttlSec: 2 });
  ea.start();
  await until(() => ea.isLeader, 5000);
  const fenceA = a.fence!;
  // Simulate A's lease expiring while A still believes it leads: another term begins.
  await b.etcd.delete().key(keys.leader());
  await b.etcd.put(keys.leader()).value(JSON.stringify({ managerId: 'b', addr: 'b' }));
  a.fence = fenceA; // A has not noticed yet
  await t.throwsAsync(a.txn({ fenced: true }).putKey('/orch/v1/test/x', '1').commit(), { instanceOf: NotLeaderError });
  t.is(await b.getRaw('/orch/v1/test/x'), undefined, 'nothing was written');
  await ea.stop();
});

test('two candidates: one leads; when it resigns the other takes over', async (t) => {
  const etcd = await tempEtcd();
  t.teardown(() => etcd.destroy());
  const sa = new Store(etcd.endpoint);
  const sb = new Store(etcd.endpoint);
  // A 10 s lease: a hand-over within 2 s cannot be its expiry.
  const ea = new Election(sa, { managerId: 'a', addr: 'a' }, log, { ttlSec: 10 });
  const eb = new Election(sb, { managerId: 'b', addr: 'b' }, log, { ttlSec: 10 });
  t.teardown(async () => {
    await ea.stop();
    await eb.stop();
    sa.etcd.close();
    sb.etcd.close();
  });
  ea.start();
  await until(() => ea.isLeader, 5000);
  eb.start();
  await new Promise((r) => setTimeout(r, 700));
  t.false(eb.isLeader, 'only one leader at a time');
  await ea.stop();
  const t0 = Date.now();
  await until(() => eb.isLeader, 15_000);
  t.true(Date.now() - t0 < 2000, `a resignation hands over without waiting for the lease to expire: ${Date.now() - t0} ms`);
  t.deepEqual(await eb.leader(), { managerId: 'b', addr: 'b' });
});

/** Follower c of leader a (a's key put in a fresh etcd), started, pinging a with `probe`: its store, and when it is elected with the predecessor it names. */
async function followerOfA(t: import('ava').ExecutionContext, probe: () => Promise<PingOutcome>, ttlSec: number, handshake?: () => Promise<boolean>) {
  const etcd = await tempEtcd();
  const sc = new Store(etcd.endpoint);
  const ec = new Election(sc, { managerId: 'c', addr: 'c' }, log, { ttlSec, probe, handshake });
  t.teardown(async () => {
    await ec.stop();
    sc.etcd.close();
    await etcd.destroy();
  });
  await sc.etcd.put(keys.leader()).value(JSON.stringify({ managerId: 'a', addr: 'a' }));
  const elected = new Promise<{ at: number; predecessor: unknown }>((r) => ec.once('elected', (predecessor) => r({ at: Date.now(), predecessor })));
  ec.start();
  return { sc, ec, elected };
}

/** A follower (c) watching leader a, whose key someone else deletes once a has been silent to c for `silentMs` (0: a answers to the end); what c's election says of its predecessor. */
async function electedAfterOthersDelete(t: import('ava').ExecutionContext, silentMs: number) {
  let aAnswers = true;
  const { sc, elected } = await followerOfA(t, async () => (aAnswers ? 'answered' : 'silent'), 2);
  await new Promise((r) => setTimeout(r, 600)); // c has read the key and pings a
  aAnswers = silentMs === 0;
  await new Promise((r) => setTimeout(r, silentMs));
  await sc.etcd.delete().key(keys.leader()); // another follower found a silent first
  return (await elected).predecessor;
}

test("a follower elected after another deleted a silent leader's key takes that leader for its predecessor; after a resignation, none", async (t) => {
  const silent = (await electedAfterOthersDelete(t, 700)) as { nodeId: string; hostSilent: boolean } | undefined;
  t.is(silent?.nodeId, 'a', 'silent to c for 0.7 s: the predecessor, so its node is not given the election grace');
  t.true(silent?.hostSilent, 'its host answered no handshake either');
  t.is(await electedAfterOthersDelete(t, 0), undefined, 'a answered c to the end (it resigned): no predecessor');
});

test("a follower claims the leader key as soon as it sees it gone, not at its next claim's turn", async (t) => {
  // A 10 s lease: between claims a candidate waits 1.25 s; the key is read every 250 ms.
  const { sc, elected } = await followerOfA(t, async () => 'answered', 10);
  await new Promise((r) => setTimeout(r, 600)); // c's first claim failed; its next is 0.65 s away
  const deletedAt = Date.now();
  await sc.etcd.delete().key(keys.leader()); // a resigned, or another follower found it silent
  const after = (await elected).at - deletedAt;
  t.true(after < 450, `elected ${after} ms after the key went (one key read, 250 ms, and a claim)`);
});

// Serial: a timing of 1 s to within 150 ms, which the other tests' etcd starts beside it can stretch.
test.serial('a follower replaces a silent leader when its silence runs out, not at its next check', async (t) => {
  let aAnswers = true;
  let lastAnswer = 0;
  // Each answer comes 20 ms after its ping, as over a network: the silence runs out 20 ms after a check.
  const probe = (): Promise<PingOutcome> =>
    aAnswers
      ? new Promise((r) =>
          setTimeout(() => {
            lastAnswer = Date.now();
            r('answered');
          }, 20),
        )
      : Promise.resolve('silent');
  const { elected } = await followerOfA(t, probe, 10);
  await new Promise((r) => setTimeout(r, 600)); // c has read the key and pings a
  aAnswers = false;
  const after = (await elected).at - lastAnswer;
  t.true(after >= 1000, `not before 1 s of silence: ${after} ms`);
  t.true(after < 1150, `elected ${after} ms after a's last answer (1 s of silence, a delete and a claim; the next check would come 230 ms later)`);
});

test("a replaced leader whose host still answered a handshake is asked again once this follower is elected: silent then, it is said so", async (t) => {
  for (const hostAnswersNow of [false, true]) {
    let aAnswers = true;
    // a's manager stops answering while its host still completes a handshake; once c is elected, the host answers or not.
    const { ec, elected } = await followerOfA(t, async () => (aAnswers ? 'answered' : 'host-up'), 2, async () => hostAnswersNow);
    const silent = new Promise<unknown>((r) => ec.once('predecessor-silent', r));
    await new Promise((r) => setTimeout(r, 600));
    aAnswers = false;
    const { predecessor } = await elected;
    t.like(predecessor, { nodeId: 'a', hostSilent: false }, 'a host that answered after its manager went quiet');
    const said = await Promise.race([silent.then(() => true), new Promise((r) => setTimeout(() => r(false), 500))]);
    t.is(said, !hostAnswersNow, hostAnswersNow ? 'its host answers: nothing said' : 'its host is silent now: said at once');
  }
});

test("a new leader leads before the watch on its own key is made (its stream may be on a member that just died); a deletion made meanwhile still deposes it", async (t) => {
  const { sc, ec, elected } = await followerOfA(t, async () => 'silent', 10);
  // The etcd is real; only the watch's creation is held back 1.5 s, as on a member that died.
  let watchMadeAt = 0;
  const watch = sc.etcd.watch.bind(sc.etcd);
  sc.etcd.watch = () => {
    const builder = watch();
    const create = builder.create.bind(builder);
    builder.create = async () => {
      await new Promise((r) => setTimeout(r, 1500));
      const w = await create();
      watchMadeAt = Date.now();
      return w;
    };
    return builder;
  };
  const deposed = new Promise<number>((r) => ec.once('deposed', () => r(Date.now())));
  const { at } = await elected;
  t.is(watchMadeAt, 0, 'elected while the watch is still being made');
  // Another follower found c silent at once: its key goes before c's watch exists (10 s lease: not its expiry).
  await sc.etcd.delete().key(keys.leader());
  const out = await Promise.race([deposed, new Promise<number>((r) => setTimeout(() => r(0), 4000))]);
  t.true(out > 0 && out >= watchMadeAt, `deposed once the watch was made: ${out ? out - at : 'never'} ms after the election`);
});

test('the mirror follows writes, and catches up after etcd is killed and restarted', async (t) => {
  const etcd = await tempEtcd();
  const clientPort = Number(new URL(etcd.endpoint).port);
  const peerPort = await freePort();
  const store = new Store(etcd.endpoint);
  const cache = new Cache(store, log, { relistMs: 60_000 });
  let again: Awaited<ReturnType<typeof startEtcd>> | undefined;
  t.teardown(async () => {
    // In order: the mirror and its client first, then the etcd processes.
    await cache.stop();
    store.etcd.close();
    await again?.stop();
    await etcd.destroy();
  });
  await cache.start();
  const svc = (id: string) => Service.fromPartial({ id, spec: ServiceSpec.fromPartial({ name: id }) });
  await store.txn().put('services', 's1', svc('s1')).commit();
  await until(() => cache.services.has('s1'), 3000);

  etcd.child.kill('SIGKILL');
  await new Promise((r) => etcd.child.once('exit', r));
  again = await startEtcd({ name: 'test', dataDir: etcd.dir, clientPort, peerPort });
  // A write made while the mirror was reconnecting must still show up.
  const writer = new Store(again.endpoint);
  await writer.txn().put('services', 's2', svc('s2')).delete('services', 's1').commit();
  writer.etcd.close();
  await until(() => cache.services.has('s2') && !cache.services.has('s1'), 10_000);
  t.pass();
});

test('an etcd member whose port was taken before it could listen says so (PortTakenError), and onFreePorts starts it again on new ports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-etcd-taken-'));
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
  const takenPort = (taken.address() as { port: number }).port;
  let tries = 0;
  const etcd = await onFreePorts(async () => {
    tries++;
    return startEtcd({ name: 'm', dataDir: join(dir, 'm'), clientPort: await freePort(), peerPort: tries === 1 ? takenPort : await freePort() });
  });
  t.teardown(async () => {
    await etcd.stop();
    taken.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.is(tries, 2, 'the first start failed on the taken port, the second started');
  await t.throwsAsync(startEtcd({ name: 'n', dataDir: join(dir, 'n'), clientPort: await freePort(), peerPort: takenPort }), { instanceOf: PortTakenError });
});

/** Three etcd members on loopback, each restartable on its own ports and data. */
async function threeMembers(t: import('ava').ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'orch-etcd3-'));
  let ports: Array<{ client: number; peer: number }> = [];
  let initialCluster = '';
  const start = (i: number) => startEtcd({ name: `m${i}`, dataDir: join(dir, `m${i}`), clientPort: ports[i]!.client, peerPort: ports[i]!.peer, initialCluster });
  const members = await onFreePorts(async () => {
    ports = await Promise.all([0, 1, 2].map(async () => ({ client: await freePort(), peer: await freePort() })));
    initialCluster = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
    rmSync(dir, { recursive: true, force: true });
    const started = await Promise.allSettled([0, 1, 2].map(start));
    const up = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) return up;
    await Promise.all(up.map((m) => m.stop()));
    throw failed.reason;
  });
  t.teardown(async () => {
    await Promise.all(members.map((m) => m.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  return { members, endpoints: members.map((m) => m.endpoint), restart: async (i: number) => (members[i] = await start(i)) };
}

/** How many watch streams an etcd member serves (its Prometheus gauge). */
async function watchStreams(endpoint: string): Promise<number> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  return Number(/^etcd_debugging_mvcc_watch_stream_total (\S+)$/m.exec(text)?.[1] ?? 0);
}

test('the mirror moves its watch off an etcd member that dies at once: a write through the others made after its re-list shows within a second of the kill, each of four times', async (t) => {
  const etcd = await threeMembers(t);
  const store = new Store(etcd.endpoints.join(','));
  const cache = new Cache(store, log, { relistMs: 60_000 });
  t.teardown(async () => {
    await cache.stop();
    store.etcd.close();
  });
  await cache.start();
  const svc = (id: string) => Service.fromPartial({ id, spec: ServiceSpec.fromPartial({ name: id }) });
  for (let round = 0; round < 4; round++) {
    let streams: number[] = [];
    for (let i = 0; i < 50 && streams.filter((n) => n > 0).length !== 1; i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      streams = await Promise.all(etcd.endpoints.map(watchStreams));
    }
    const watched = streams.findIndex((n) => n > 0);
    t.true(watched >= 0 && streams.filter((n) => n > 0).length === 1, `one member serves the mirror's watch: ${streams.join(', ')}`);
    // Raft leadership elsewhere: the write after the kill must not wait for an election.
    const statuses = await memberStatuses(etcd.endpoints.join(','), undefined);
    if (statuses[watched]!.leader) {
      const member = connectMember(etcd.endpoints[watched]!, undefined, 3000);
      await member.maintenance.moveLeader({ targetID: BigInt(`0x${statuses[(watched + 1) % 3]!.id}`).toString() });
      member.close();
    }
    const writer = new Store(etcd.endpoints.filter((_, i) => i !== watched).join(','));
    const killedAt = Date.now();
    etcd.members[watched]!.child.kill('SIGKILL');
    // After the mirror's re-list (100 ms after its watch broke): only a new watch brings this write.
    await new Promise((r) => setTimeout(r, 300));
    await writer.txn().put('services', `s${round}`, svc(`s${round}`)).commit();
    writer.etcd.close();
    await until(() => cache.services.has(`s${round}`), 10_000);
    const late = Date.now() - killedAt;
    t.true(late < 1000, `round ${round}: the mirror had the write ${late} ms after the kill`);
    await etcd.restart(watched);
    await until(() => store.etcd.health!.answering().length === 3, 10_000);
  }
});

test('calls out on an etcd member when it goes silent are retried on the others then, not after their connection gives up', async (t) => {
  const etcd = await threeMembers(t);
  const store = new Store(etcd.endpoints.join(','));
  t.teardown(() => store.etcd.close());
  // Connections to every member, and raft leadership on another than the one frozen (no election follows).
  for (let i = 0; i < 10; i++) await store.etcd.put(`warm/${i}`).value('x');
  await new Promise((r) => setTimeout(r, 600));
  const statuses = await memberStatuses(etcd.endpoints.join(','), undefined);
  const frozen = statuses.findIndex((s) => !s.leader);
  const child = etcd.members[frozen]!.child;
  t.teardown(() => void child.kill('SIGCONT'));
  // Frozen, as a host that dies is silent: the connection stays, nothing answers.
  child.kill('SIGSTOP');
  const frozenAt = Date.now();
  // Thirty calls, each to a member picked at random: some go to the frozen one (all miss it one time in 190,000).
  const took = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      await store.etcd.put(`after/${i}`).value('y');
      return Date.now() - frozenAt;
    }),
  );
  t.log(`slowest call: ${Math.max(...took)} ms`);
  const slowest = Math.max(...took);
  t.true(slowest < 1500, `every call answered within ${slowest} ms of the freeze (the member is found silent within about 1 s)`);
  t.is((await store.etcd.getAll().prefix('after/').keys()).length, 30);
});
