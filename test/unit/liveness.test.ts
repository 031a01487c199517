// Two-stage node liveness: suspect first, down only after the window.
import test from 'ava';
import { DEFAULT_LIVENESS, ELECTION_GRACE, Liveness } from '../../manager/dispatcher/liveness.js';

const opts = { heartbeatMs: 250, downAfterMs: 1000, closedGraceMs: 800 };

test('heartbeats keep a node alive; silence makes it suspect, then down', (t) => {
  const l = new Liveness(opts);
  l.alive('n', 0);
  t.is(l.verdict('n', 400), 'alive');
  t.is(l.verdict('n', 600), 'suspect');
  t.is(l.verdict('n', 1001), 'down');
  l.alive('n', 1100);
  t.is(l.verdict('n', 1200), 'alive');
});

test('a closed session is suspect at once and down after the grace, unless it reconnects', (t) => {
  const l = new Liveness(opts);
  l.alive('n', 0);
  l.closed('n', 100);
  t.is(l.verdict('n', 150), 'suspect');
  t.is(l.verdict('n', 901), 'down');
  l.alive('n', 700);
  t.is(l.verdict('n', 901), 'alive');
});

test('an unknown node is down; after an election every known node gets the grace, even one seen in an earlier term', (t) => {
  const l = new Liveness(opts);
  t.is(l.verdict('x', 0), 'down');
  l.closed('y', 0); // heard of when this manager led before
  l.elected(['x', 'y'], 5000);
  for (const id of ['x', 'y']) {
    t.is(l.verdict(id, 5000 + ELECTION_GRACE.ms - 1), 'suspect');
    t.is(l.verdict(id, 5000 + ELECTION_GRACE.ms + 1), 'down');
  }
  l.alive('x', 5000 + ELECTION_GRACE.ms - 100);
  t.is(l.verdict('x', 5000 + ELECTION_GRACE.ms + 1), 'alive', 'reconnected in the grace');
});

test('after an election, nothing is marked down while fewer than half the ready nodes have reconnected, for at most the longest grace', (t) => {
  const l = new Liveness(opts);
  t.false(l.holdDown(0, 0, () => 3), 'no election yet: nothing held');
  l.elected(['a', 'b', 'c', 'd'], 1000);
  t.true(l.holdDown(1000 + ELECTION_GRACE.ms + 1, 1, () => 4), '1 of 4 back: held');
  t.false(l.holdDown(1000 + ELECTION_GRACE.ms + 1, 2, () => 4), '2 of 4 back: the others may be down');
  t.false(l.holdDown(1000 + ELECTION_GRACE.maxMs, 0, () => 4), 'not past the longest grace');
});

test('after an election, the node of a leader replaced because its host went silent gets no grace; one whose host refused gets it', (t) => {
  const l = new Liveness(opts);
  l.elected(['old', 'x'], 5000, { nodeId: 'old', addr: 'old:4242', quietSince: 3800, hostSilent: true });
  t.is(l.verdict('old', 5000), 'down', 'silent since 3800: down as soon as the election is done');
  t.is(l.verdict('x', 5000), 'suspect', 'the others get the grace');
  l.alive('old', 5100);
  t.is(l.verdict('old', 5200), 'alive', 'its agent, back here, is alive again');

  const m = new Liveness(opts);
  m.elected(['old'], 5000, { nodeId: 'old', addr: 'old:4242', quietSince: 3800, hostSilent: false });
  t.is(m.verdict('old', 5000 + ELECTION_GRACE.ms - 1), 'suspect', 'only its manager died: its agent gets the grace to come back');
});

test('the hold after an election covers every node but the replaced leader whose host went silent, until it is heard from', (t) => {
  const l = new Liveness(opts);
  l.elected(['old', 'x', 'y'], 5000, { nodeId: 'old', addr: 'old:4242', quietSince: 3800, hostSilent: true });
  t.true(l.holdDown(5000, 0, () => 3), 'no session back yet: held');
  t.false(l.holdCovers('old'), 'the election found its host gone: not held');
  t.true(l.holdCovers('x'), 'the others wait for the hold');
  l.alive('old', 5100);
  t.true(l.holdCovers('old'), 'heard from again: held as any other');

  const m = new Liveness(opts);
  m.elected(['old', 'x'], 5000, { nodeId: 'old', addr: 'old:4242', quietSince: 3800, hostSilent: false });
  t.true(m.holdCovers('old'), 'its host answered: only its manager died, it waits as the others');
});

test('each stage begins just past its bound, not on it; forgetting a node makes it unknown', (t) => {
  const l = new Liveness(opts);
  l.alive('n', 0);
  t.is(l.verdict('n', 500), 'alive', 'two heartbeats of silence: still alive');
  t.is(l.verdict('n', 501), 'suspect');
  t.is(l.verdict('n', 1000), 'suspect', 'the down bound itself: suspect');
  t.is(l.verdict('n', 1001), 'down');
  l.closed('n', 2000);
  t.is(l.quietSince('n'), 2000);
  t.is(l.verdict('n', 2800), 'suspect', 'the closed grace itself: suspect');
  t.is(l.verdict('n', 2801), 'down');
  l.forget('n');
  t.is(l.quietSince('n'), undefined);
  t.is(l.verdict('n', 2000), 'down');
});

test("the default liveness: heartbeats every 250 ms, down after 1 s of silence, 5 s for an agent whose session closed", (t) => {
  t.deepEqual(DEFAULT_LIVENESS, { heartbeatMs: 250, downAfterMs: 1000, closedGraceMs: 5000 });
});

test("a silent predecessor's node that this manager never knew gets nothing", (t) => {
  const l = new Liveness(opts);
  l.elected(['x'], 5000, { nodeId: 'old', addr: 'old:4242', quietSince: 3800, hostSilent: true });
  t.is(l.quietSince('old'), undefined);
  t.is(l.verdict('x', 5000), 'suspect');
});

test("a silent predecessor's node is down once 1 s has passed since it went quiet, as a node whose heartbeats stopped", (t) => {
  const l = new Liveness(opts);
  l.elected(['old'], 5000, { nodeId: 'old', addr: 'old:4242', quietSince: 4100, hostSilent: true });
  t.is(l.verdict('old', 5000), 'suspect', 'quiet 900 ms: not yet');
  t.is(l.verdict('old', 5101), 'down');
});

test("the manager's own stall is not the nodes' silence: a check more than a period late marks nothing down, the next one judges", (t) => {
  const l = new Liveness(opts);
  t.is(l.checkMs, 125);
  l.alive('a', 0);
  for (let now = 0; now <= 375; now += 125) t.true(l.checking(now), 'checks on time judge');
  t.false(l.checking(1400), 'after a stall: the heartbeats sent meanwhile are still unread');
  t.is(l.verdict('a', 1400), 'down', 'the quiet time itself is not bent');
  l.alive('a', 1401); // read after the late check
  t.true(l.checking(1525));
  t.is(l.verdict('a', 1525), 'alive');
  t.false(l.checking(3000), 'another stall: passed over again');
  t.true(l.checking(3300), 'late again, right after one passed over: judges');
  t.is(l.verdict('a', 3300), 'down', 'and a node that said nothing since is down');
});

test('a manager whose checks are all late (a loaded CPU) still finds a silent node down, a check later at most', (t) => {
  const l = new Liveness(opts);
  l.alive('a', 0);
  let downAt: number | undefined;
  for (let now = 0; now <= 10_000 && downAt === undefined; now += 300) if (l.checking(now) && l.verdict('a', now) === 'down') downAt = now;
  t.true(downAt !== undefined && downAt <= 1500, `silent since 0, found down at ${downAt} ms`);
});

test('a new term starts its stall count afresh: the time between two terms is no stall', (t) => {
  const l = new Liveness(opts);
  l.checking(0);
  l.elected(['a'], 10_000);
  l.alive('a', 10_000);
  t.true(l.checking(10_125), 'the first check of a term judges');
  t.is(l.verdict('a', 11_001), 'down');
});

test("a predecessor whose host answered at the election, found silent when asked again, loses its grace; one heard from meanwhile keeps its session", (t) => {
  const before = { nodeId: 'old', addr: 'old:4242', quietSince: 3800, hostSilent: false };
  const l = new Liveness(opts);
  l.elected(['old', 'x'], 5000, before);
  t.is(l.verdict('old', 5300), 'suspect', 'its host answered: the grace');
  l.foundSilent(before);
  t.is(l.verdict('old', 5300), 'down', 'silent when asked again: down, as if the election had found it so');
  t.false(l.holdCovers('old'));

  const m = new Liveness(opts);
  m.elected(['old'], 5000, before);
  m.alive('old', 5200);
  m.foundSilent(before);
  t.is(m.verdict('old', 5300), 'alive', 'its agent reconnected here after the election: alive');
});
