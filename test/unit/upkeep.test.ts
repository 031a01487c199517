// The leader's upkeep plan (compaction and defragmentation) and the backup
// file's own checks, without etcd.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import type { StoreMember } from '../../proto/generated/orch.js';
import { readBackup } from '../../manager/upkeep/backup.js';
import { DEFAULT_UPKEEP, planUpkeep, type UpkeepView } from '../../manager/upkeep/plan.js';

const MiB = 1024 * 1024;
const member = (endpoint: string, over: Partial<StoreMember> = {}): StoreMember => ({
  endpoint, answering: true, hasLeader: true, leader: false, dbSize: 10n * BigInt(MiB), dbSizeInUse: 9n * BigInt(MiB), raftAppliedIndex: 100n, id: endpoint, error: '', ...over,
});
const view = (over: Partial<UpkeepView> = {}): UpkeepView => ({
  now: 1_000_000, revision: 5_000, mirrored: 5_000, compacted: { revision: 4_500, at: 1_000_000 - 60_000 }, members: [member('a', { leader: true }), member('b'), member('c')], ...over,
});

test('compacts once the interval has passed, keeping the newest revisions', (t) => {
  t.deepEqual(planUpkeep(view(), DEFAULT_UPKEEP), [], 'a minute after the last one: nothing yet');
  const due = planUpkeep(view({ compacted: { revision: 3_000, at: 1_000_000 - 5 * 60_000 } }), DEFAULT_UPKEEP);
  t.is(due.length, 1);
  t.like(due[0], { kind: 'compact', revision: 5_000 - DEFAULT_UPKEEP.keepRevisions });
});

test('compacts as soon as enough revisions were written, whatever the time', (t) => {
  const plan = planUpkeep(view({ revision: 20_000, mirrored: 20_000, compacted: { revision: 9_000, at: 1_000_000 - 1000 } }), DEFAULT_UPKEEP);
  t.like(plan[0], { kind: 'compact', revision: 19_000 });
});

test('never compacts past what the mirror has reached, nor behind the last compaction', (t) => {
  const behind = planUpkeep(view({ revision: 20_000, mirrored: 12_000, compacted: { revision: 1_000, at: 0 } }), DEFAULT_UPKEEP);
  t.like(behind[0], { kind: 'compact', revision: 12_000 });
  t.deepEqual(planUpkeep(view({ revision: 1_500, mirrored: 1_500, compacted: { revision: 600, at: 0 } }), DEFAULT_UPKEEP), [], 'the kept revisions reach back past the last compaction');
});

test('0 turns a trigger off', (t) => {
  const off = { ...DEFAULT_UPKEEP, compactEveryMs: 0, compactAfterRevisions: 0 };
  t.deepEqual(planUpkeep(view({ revision: 90_000, mirrored: 90_000, compacted: { revision: 0, at: 0 } }), off), []);
});

const fragmented = (over: Partial<StoreMember> = {}) => ({ dbSize: 400n * BigInt(MiB), dbSizeInUse: 100n * BigInt(MiB), ...over });

test('defragments one member a pass, followers first and the raft leader last', (t) => {
  const members = [member('a', { leader: true, ...fragmented() }), member('b', fragmented({ dbSizeInUse: 50n * BigInt(MiB) })), member('c', fragmented())];
  t.like(planUpkeep(view({ members }), DEFAULT_UPKEEP), [{ kind: 'defrag', endpoint: 'b' }], 'the follower with most free space');
  const leaderOnly = [member('a', { leader: true, ...fragmented() }), member('b'), member('c')];
  t.like(planUpkeep(view({ members: leaderOnly }), DEFAULT_UPKEEP), [{ kind: 'defrag', endpoint: 'a' }], 'the leader once no follower needs it');
});

test('no defragmentation while a member is away or behind, or with little free space', (t) => {
  const away = [member('a', { leader: true }), member('b', { ...fragmented(), answering: false }), member('c', fragmented())];
  t.deepEqual(planUpkeep(view({ members: away }), DEFAULT_UPKEEP), []);
  const behind = [member('a', { leader: true, raftAppliedIndex: 10_000n }), member('b', fragmented()), member('c')];
  t.deepEqual(planUpkeep(view({ members: behind }), DEFAULT_UPKEEP), []);
  const small = [member('a', { dbSize: 40n * BigInt(MiB), dbSizeInUse: 1n * BigInt(MiB) })];
  t.deepEqual(planUpkeep(view({ members: small }), DEFAULT_UPKEEP), [], '39 MiB free is below the 64 MiB floor');
});

test('a compaction due comes before any defragmentation (free space is measured after it)', (t) => {
  const members = [member('a', fragmented())];
  t.like(planUpkeep(view({ members, compacted: { revision: 0, at: 0 } }), DEFAULT_UPKEEP), [{ kind: 'compact' }]);
});

function backupFile(lines: string[]): Buffer {
  return gzipSync(`${lines.join('\n')}\n`);
}

test('a backup that is not one, is cut short or was altered is refused with why', (t) => {
  t.throws(() => readBackup(Buffer.from('hello'), 'x.orch'), { message: /x\.orch is not an orch backup \(not gzip data/ });
  t.throws(() => readBackup(backupFile(['{"hello":1}']), 'x.orch'), { message: /no backup header/ });
  const header = JSON.stringify({ orchBackup: 1, clusterId: 'c', revision: 7, takenAt: 'now', prefix: '/orch/v1/' });
  const key = JSON.stringify({ k: '/orch/v1/a', v: Buffer.from('1').toString('base64') });
  t.throws(() => readBackup(backupFile([header, key]), 'x.orch'), { message: /cut short/ });
  t.throws(() => readBackup(backupFile([header, key, JSON.stringify({ end: true, keys: 1, sha256: 'bad' })]), 'x.orch'), { message: /damaged/ });
  const sha256 = createHash('sha256').update(`${key}\n`).digest('hex');
  const good = readBackup(backupFile([header, key, JSON.stringify({ end: true, keys: 1, sha256 })]), 'x.orch');
  t.is(good.header.revision, 7);
  t.deepEqual(good.keys.map((k) => [k.key, k.value.toString()]), [['/orch/v1/a', '1']]);
});
