// The dispatcher's status writer when etcd cannot take a write (no quorum,
// unreachable): the report is dropped with a warning, never thrown, so that
// stopping the writer (on losing the lead) cannot take the manager down. The
// agent sends every status again on its next session.
import test from 'ava';
import { Task, TaskState, TaskStatus } from '../../proto/generated/orch.js';
import { StatusWriter } from '../../manager/dispatcher/status.js';
import { Cache, keys, Store } from '../../manager/store/index.js';
import { tempEtcd } from '../../lab/etcd.js';
import { logger } from '../../shared/log.js';

const log = logger('test');

test('a status that etcd cannot take is dropped, not thrown: the writer stops cleanly', async (t) => {
  const etcd = await tempEtcd();
  t.teardown(() => etcd.destroy());
  const store = new Store(etcd.endpoint);
  const cache = new Cache(store, log);
  t.teardown(async () => {
    await cache.stop();
    store.etcd.close();
  });
  const leader = await store.etcd.put(keys.leader()).value(JSON.stringify({ managerId: 'm1', addr: 'm1' })).exec();
  store.fence = { createRevision: Number(leader.header.revision) };
  await store.txn().put('tasks', 't1', Task.fromPartial({ id: 't1', nodeId: 'n1', status: { state: TaskState.STARTING } })).commit();
  await cache.start();
  const writer = new StatusWriter(cache, store, log);
  writer.start();

  etcd.child.kill('SIGKILL');
  writer.enqueue('n1', { taskId: 't1', status: TaskStatus.fromPartial({ state: TaskState.RUNNING, message: 'running' }) });
  await t.notThrowsAsync(writer.stop());
});
