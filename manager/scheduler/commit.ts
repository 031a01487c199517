// The scheduler loop: takes the pending tasks from the mirror, asks the pure
// scheduler for a plan, and commits it in fenced, batched transactions that
// compare each task's revision (a task changed meanwhile is simply retried).
import { TaskState } from '../../proto/generated/orch.js';
import { commitChanges, MAX_TXN_OPS, put, type Change, type Snapshot, type Store } from '../store/index.js';
import { schedule, type Plan } from './scheduler.js';
import { managerMetrics } from '../metrics.js';
import { pendingTasks, placementSnapshot } from './snapshot.js';

/** One scheduling pass; returns the plan it committed (for tests and logs). */
export async function schedulePass(cache: Snapshot, store: Store): Promise<Plan> {
  const pending = pendingTasks(cache);
  if (pending.length === 0) return { placements: [], unplaced: [] };
  const plan = schedule(placementSnapshot(cache), pending);

  const now = new Date();
  const changes: Change[] = [];
  for (const p of plan.placements) {
    const cur = cache.tasks.get(p.taskId)!;
    changes.push(put('tasks', p.taskId, cur.modRevision, { ...cur.value, nodeId: p.nodeId, status: { ...cur.value.status!, state: TaskState.ASSIGNED, message: 'assigned', err: '', timestamp: now } }));
  }
  for (const u of plan.unplaced) {
    const cur = cache.tasks.get(u.taskId)!;
    if (cur.value.status?.err === u.reason) continue; // already says so
    changes.push(put('tasks', u.taskId, cur.modRevision, { ...cur.value, status: { ...cur.value.status!, err: u.reason, timestamp: now } }));
  }
  await commitChanges(store, changes, MAX_TXN_OPS / 2);
  managerMetrics.placements.inc({ result: 'placed' }, plan.placements.length);
  managerMetrics.placements.inc({ result: 'unplaced' }, plan.unplaced.length);
  for (const p of plan.placements) {
    const made = cache.tasks.get(p.taskId)?.value.createdAt;
    if (made) managerMetrics.schedulingLatency.observe(Math.max(0, now.getTime() - made.getTime()) / 1000);
  }
  return plan;
}
