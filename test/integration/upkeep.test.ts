// The store's upkeep against a real etcd: a full etcd is one typed error with
// the way out, maintenance recovers it; a backup restores into a new etcd and
// is refused where a cluster already is; a restore cut short can run again.
import test from 'ava';
import { keys, Store } from '../../manager/store/index.js';
import { readBackup, restoreBackup, takeBackup } from '../../manager/upkeep/backup.js';
import { maintainStore, storeStatus } from '../../manager/upkeep/maintain.js';
import { tempEtcd } from '../../lab/etcd.js';
import { AlreadyExistsError, OutOfSpaceError } from '../../shared/errors.js';

const MiB = 1024 * 1024;

test('a full etcd: every write fails with OutOfSpaceError and the way out; maintenance brings writes back', async (t) => {
  const etcd = await tempEtcd('full', 8 * MiB);
  t.teardown(() => etcd.destroy());
  const store = new Store(etcd.endpoint);
  t.teardown(() => store.etcd.close());
  const big = Buffer.alloc(MiB, 'x');
  let full = false;
  for (let i = 0; i < 30 && !full; i++) await store.etcd.put('/filler').value(big).exec().catch(() => (full = true));
  t.true(full, 'the quota was reached');

  const err = await t.throwsAsync(store.txn().putKey(keys.object('services', 'x'), '{}').commit());
  t.true(err instanceof OutOfSpaceError, String(err));
  t.regex(err!.message, /^etcd is out of space \(alarm NOSPACE on 1 member\): run `orch cluster maintain`.*\(nothing was changed\)$/);
  t.deepEqual((await storeStatus(store)).alarms.map((a) => a.split(' ')[0]), ['NOSPACE']);

  const steps: string[] = [];
  const after = await maintainStore(store, (s) => steps.push(s));
  t.regex(steps.join('\n'), /compacted etcd's history up to revision \d+\ndefragmented .*\ndisarmed 1 NOSPACE alarm/);
  t.deepEqual(after.alarms, []);
  t.true(after.compactedRevision > 0n);
  t.true(after.members[0]!.dbSize < 4n * BigInt(MiB), `defragmented down to ${after.members[0]!.dbSize} bytes`);
  await store.txn().putKey(keys.object('services', 'x'), '{}').commit();
});

test('a backup restores into a new etcd; a restore where a cluster is is refused; one cut short runs again', async (t) => {
  const [a, b] = await Promise.all([tempEtcd('a'), tempEtcd('b')]);
  t.teardown(() => Promise.all([a.destroy(), b.destroy()]).then(() => undefined));
  const from = new Store(a.endpoint);
  const to = new Store(b.endpoint);
  t.teardown(() => {
    from.etcd.close();
    to.etcd.close();
  });
  // 300 keys: more than one page and more than one transaction.
  for (let i = 0; i < 300; i += 100) {
    const txn = from.txn();
    for (let j = i; j < i + 100; j++) txn.putKey(keys.object('tasks', `t${j}`), JSON.stringify({ n: j }));
    await txn.commit();
  }
  await from.txn().putKey(keys.clusterSecrets(), 'sealed').putKey(keys.compaction(), '{"revision":1}').commit();
  const lease = from.etcd.lease(30);
  await lease.put(keys.leader()).value('me');

  const { file, header, keys: count } = await takeBackup(from, 'c1');
  t.is(count, 301, 'every key but the leader key (a lease) and the compaction record (the old etcd\'s)');
  const backup = readBackup(file, 'backup');
  t.is(backup.header.revision, header.revision);

  // A restore cut short: some keys written, the secrets not yet.
  await to.txn().putKey(keys.object('tasks', 'stale'), '{}').commit();
  const progress: number[] = [];
  await restoreBackup(to.etcd, backup, (done) => progress.push(done));
  t.deepEqual(progress, [128, 256, 301]);
  const restored = await to.etcd.getAll().prefix('/orch/').strings();
  t.is(Object.keys(restored).length, 301);
  t.is(restored[keys.object('tasks', 't7')], JSON.stringify({ n: 7 }));
  t.false(keys.object('tasks', 'stale') in restored, 'leftovers of the cut restore are gone');
  t.false(keys.leader() in restored);

  await t.throwsAsync(restoreBackup(to.etcd, backup, () => undefined), { instanceOf: AlreadyExistsError, message: /already holds an orch cluster/ });
  await lease.revoke();
});
