// Task status from the agents into etcd: each report is written only if it
// moves the task forward (or adds detail), the newest per task, many per
// transaction. Fenced: a manager that lost the lead writes nothing.
import { TaskState, type Task, type TaskStatus, type TaskStatusUpdate } from '../../proto/generated/orch.js';
import { ConflictError, NotLeaderError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { canAdvance, isReady } from '../../shared/states.js';
import type { Cache, Store } from '../store/index.js';

const STATUS_RETRIES = 5;
/** Status updates per transaction (etcd allows 128 operations: a compare and a put each). */
const STATUS_BATCH = 64;

export class StatusWriter {
  /** Reports as they came, each with when this manager heard it. */
  private queue: Array<{ update: TaskStatusUpdate; heardAt: Date }> = [];
  private flushing: Promise<void> | undefined;
  private active = false;

  constructor(
    private readonly cache: Cache,
    private readonly store: Store,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.active = true;
  }

  /** Stops writing; resolves once the batch in flight is done. */
  async stop(): Promise<void> {
    this.active = false;
    await this.flushing;
  }

  /** Queues a node's report about one of its tasks (a task that is not the node's is ignored). */
  enqueue(nodeId: string, update: TaskStatusUpdate): void {
    const task = this.cache.tasks.get(update.taskId)?.value;
    if (!task || task.nodeId !== nodeId) return;
    this.queue.push({ update, heardAt: new Date() });
    if (!this.flushing) this.flushing = this.flush().finally(() => (this.flushing = undefined));
  }

  /**
   * Writes queued updates, a batch per transaction. If the batch loses a
   * compare (a task changed meanwhile), each update is retried on its own,
   * all at once: one after the other, a batch of 64 took seconds on a busy
   * etcd, and every report that came meanwhile waited behind it.
   */
  private async flush(): Promise<void> {
    while (this.queue.length > 0 && this.active) {
      const newest = new Map<string, { update: TaskStatusUpdate; heardAt: Date }>();
      for (const q of this.queue.splice(0, STATUS_BATCH)) newest.set(q.update.taskId, q);
      const txn = this.store.txn({ fenced: true });
      let writes = 0;
      for (const { update: u, heardAt } of newest.values()) {
        const cur = this.cache.tasks.get(u.taskId);
        const next = cur && advanced(cur.value, u, heardAt);
        if (!next) continue;
        txn.expect('tasks', u.taskId, cur.modRevision).put('tasks', u.taskId, next);
        writes++;
      }
      if (writes === 0) continue;
      try {
        await txn.commit();
      } catch (err) {
        if (err instanceof NotLeaderError) return;
        if (!(err instanceof ConflictError)) this.log.warn({ err: String(err) }, 'status batch failed; retrying one by one');
        await Promise.all([...newest.values()].map((q) => this.writeOne(q.update, q.heardAt)));
      }
    }
  }

  /**
   * Writes one update from a fresh read, again on a conflict (a few times at
   * most). Any other failure (etcd without quorum, say) is logged, never
   * thrown: the agent sends every status again on its next session.
   */
  private async writeOne(u: TaskStatusUpdate, heardAt: Date): Promise<void> {
    for (let attempt = 0; attempt < STATUS_RETRIES; attempt++) {
      try {
        const cur = await this.store.get('tasks', u.taskId);
        const next = cur && advanced(cur.value, u, heardAt);
        if (!next) return;
        await this.store.txn({ fenced: true }).expect('tasks', u.taskId, cur.modRevision).put('tasks', u.taskId, next).commit();
        return;
      } catch (err) {
        if (err instanceof NotLeaderError) return;
        if (!(err instanceof ConflictError)) {
          this.log.warn({ task: u.taskId, err: String(err) }, 'status write failed');
          return;
        }
      }
    }
  }
}

/** The task with the reported status, if the report moves it forward (or adds detail); otherwise undefined. */
export function advanced(cur: Task, u: TaskStatusUpdate, heardAt: Date): Task | undefined {
  if (!u.status || !canAdvance(cur.status?.state ?? TaskState.NEW, u.status.state) || sameStatus(cur, u)) return undefined;
  return { ...cur, status: u.status, readyAt: readySince(cur, u.status, heardAt) };
}

/**
 * The first moment a task was ready, kept once known (a rollout's delay and
 * monitor count from it): without a health check, when it began to run (the
 * status's time); with one, when the report that it was healthy was heard
 * (the status's time is still when it began to run).
 */
function readySince(cur: Task, s: TaskStatus, heardAt: Date): Date | undefined {
  if (cur.readyAt || !isReady(s)) return cur.readyAt;
  return s.health ? heardAt : s.timestamp;
}

function sameStatus(t: Task, u: TaskStatusUpdate): boolean {
  const a = t.status;
  const b = u.status!;
  return !!a && a.state === b.state && a.message === b.message && a.err === b.err && a.containerId === b.containerId && a.health === b.health && a.exitCode === b.exitCode;
}
