// The scheduler loop: takes the pending tasks from the mirror, asks the pure
// scheduler for a plan, and commits it in fenced, batched transactions that
// compare each task's revision (a task changed meanwhile is simply retried).
import { TaskState, type Task } from '../../proto/generated/orch.js';
import { ConflictError } from '../../shared/errors.js';
import { needsAddresses, nodeStanding, occupiesNode } from '../cluster.js';
import type { Cache, Store, Txn } from '../store/index.js';
import { MAX_TXN_OPS } from '../store/index.js';
import { schedule, type Plan } from './scheduler.js';

/** Tasks waiting for a node. */
export function pendingTasks(cache: Cache): Task[] {
  const out: Task[] = [];
  for (const { value: t } of cache.tasks.values()) {
    // A task still waiting for its network addresses is the allocator's, not ours.
    if (t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.PENDING && !t.nodeId && !needsAddresses(t)) out.push(t);
  }
  return out;
}

/** One scheduling pass; returns the plan it committed (for tests and logs). */
export async function schedulePass(cache: Cache, store: Store): Promise<Plan> {
  const pending = pendingTasks(cache);
  if (pending.length === 0) return { placements: [], unplaced: [] };
  const nodes = [...cache.nodes.values()].map((v) => v.value);
  const placed = [...cache.tasks.values()]
    .map((v) => v.value)
    .filter((t) => occupiesNode(t) && nodeStanding(cache, t.nodeId) !== 'down');
  const plan = schedule({ nodes, placed }, pending);

  const now = new Date();
  const writes: Array<(txn: Txn) => void> = [];
  for (const p of plan.placements) {
    const cur = cache.tasks.get(p.taskId)!;
    writes.push((txn) =>
      txn.expect('tasks', p.taskId, cur.modRevision).put('tasks', p.taskId, {
        ...cur.value,
        nodeId: p.nodeId,
        status: { ...cur.value.status!, state: TaskState.ASSIGNED, message: 'assigned', err: '', timestamp: now },
      }),
    );
  }
  for (const u of plan.unplaced) {
    const cur = cache.tasks.get(u.taskId)!;
    if (cur.value.status?.err === u.reason) continue; // already says so
    writes.push((txn) =>
      txn.expect('tasks', u.taskId, cur.modRevision).put('tasks', u.taskId, {
        ...cur.value,
        status: { ...cur.value.status!, err: u.reason, timestamp: now },
      }),
    );
  }
  await commitBatched(store, writes, MAX_TXN_OPS / 2);
  return plan;
}

/**
 * Commits independent per-object writes in fenced batches. A batch that loses
 * a compare is retried one write per txn so one stale object cannot hold back
 * the others; those still conflicting are left for the next pass.
 */
export async function commitBatched(store: Store, writes: Array<(txn: Txn) => void>, perTxn: number): Promise<void> {
  for (let i = 0; i < writes.length; i += perTxn) {
    const batch = writes.slice(i, i + perTxn);
    const txn = store.txn({ fenced: true });
    for (const w of batch) w(txn);
    try {
      await txn.commit();
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      for (const w of batch) {
        const one = store.txn({ fenced: true });
        w(one);
        await one.commit().catch((e) => {
          if (!(e instanceof ConflictError)) throw e;
        });
      }
    }
  }
}
