// The executor: keeps this host's containers equal to the assignment set.
// Each assigned task has a controller, stepped until it stops changing; a
// container labelled as ours whose task is not assigned is removed (this is
// what makes a returning node drop what is no longer its own).
import { TaskState, type Task, type TaskStatus } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import { TaskController, type NetworkResolver, type Reporter } from './controller.js';
import type { Engine } from './engine.js';

/** Steps per kick at most: a controller never spins. */
const MAX_STEPS = 16;

export class Executor {
  private readonly controllers = new Map<string, TaskController>();
  private readonly busy = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  /** Tasks whose last step failed (said once, see kick). */
  private readonly failing = new Set<string>();
  /** Containers of no assigned task being removed, by container id. */
  private readonly removing = new Map<string, Promise<void>>();
  private assigned = new Set<string>();
  private synced = false;
  private events = new AbortController();
  private resync: NodeJS.Timeout | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly report: Reporter,
    private readonly networks: NetworkResolver,
    private readonly log: Logger,
  ) {}

  /** Starts following engine events and a periodic re-inspection (missed events). */
  start(): void {
    void this.engine.followEvents(
      (ev) => {
        if (ev.taskId) this.kick(ev.taskId);
      },
      () => this.kickAll(),
      this.events.signal,
    );
    this.resync = setInterval(() => this.kickAll(), 5000);
  }

  async stop(): Promise<void> {
    this.events.abort();
    clearInterval(this.resync);
    await Promise.all([...this.busy.values(), ...this.removing.values()]);
  }

  /** The latest status of every task we hold (re-sent after a reconnect). */
  statuses(): Array<{ taskId: string; status: TaskStatus }> {
    return [...this.controllers.values()].map((c) => ({ taskId: c.task.id, status: c.status }));
  }

  /**
   * Starts the tasks of an assignment set that are new here, at once: once
   * the engine was listed (the first assign), a task this executor never saw
   * has no container, so it needs no listing. assign() does the rest.
   */
  startNew(tasks: Task[]): void {
    if (!this.synced) return;
    for (const t of tasks) {
      if (t.desiredState !== TaskState.RUNNING || this.controllers.has(t.id)) continue;
      this.assigned.add(t.id);
      this.controllers.set(t.id, new TaskController(t, this.engine, this.report, this.networks, undefined));
      this.kick(t.id);
    }
  }

  /**
   * Applies the manager's complete assignment set, the newest one when the
   * engine has been listed (`current` is read then): a task started meanwhile
   * by startNew belongs to a set at least as new, and applying an older set
   * would stop it.
   */
  async assign(current: () => Task[]): Promise<void> {
    const existing = await this.engine.listManaged();
    const tasks = current();
    this.assigned = new Set(tasks.map((t) => t.id));
    for (const t of tasks) {
      const c = this.controllers.get(t.id);
      if (c) c.update(t);
      else this.controllers.set(t.id, new TaskController(t, this.engine, this.report, this.networks, existing.get(t.id)));
      this.kick(t.id);
    }
    for (const [id, c] of this.controllers) {
      if (!this.assigned.has(id)) {
        c.update({ ...c.task, desiredState: TaskState.REMOVE });
        this.kick(id);
      }
    }
    // Not awaited: removing a container takes seconds on a busy engine, and
    // the next assignment set (a replacement to start) must not wait for it.
    for (const [taskId, containerId] of existing) {
      if (this.assigned.has(taskId) || this.controllers.has(taskId) || this.removing.has(containerId)) continue;
      this.log.info({ task: taskId, container: containerId.slice(0, 12) }, 'removing a container that is no longer assigned here');
      const removed = this.engine
        .remove(containerId)
        .catch((err) => this.log.warn({ err: String(err) }, 'remove failed'))
        .finally(() => this.removing.delete(containerId));
      this.removing.set(containerId, removed);
    }
    // Secrets and configs of tasks gone from here (an earlier run's included) leave memory too.
    this.engine.files.prune(new Set([...this.assigned, ...this.controllers.keys()]));
    this.synced = true;
  }

  private kickAll(): void {
    if (!this.synced) return;
    for (const id of this.controllers.keys()) this.kick(id);
  }

  /** Steps a task's controller until it settles; serialised per task. */
  private kick(taskId: string): void {
    if (this.busy.has(taskId)) {
      this.again.add(taskId);
      return;
    }
    const run = async () => {
      do {
        this.again.delete(taskId);
        const c = this.controllers.get(taskId);
        if (!c) return;
        try {
          for (let i = 0; i < MAX_STEPS && (await c.step()); i++);
          this.failing.delete(taskId);
        } catch (err) {
          // Said once per task until a step succeeds: an engine that is down fails every task every second.
          const first = !this.failing.has(taskId);
          this.failing.add(taskId);
          this.log[first ? 'warn' : 'debug']({ task: taskId, err: String(err) }, 'task step failed; will retry');
          setTimeout(() => this.kick(taskId), 1000);
        }
        if (c.removed && !this.assigned.has(taskId)) {
          this.controllers.delete(taskId);
          this.failing.delete(taskId);
        }
      } while (this.again.has(taskId));
    };
    const p = run().finally(() => this.busy.delete(taskId));
    this.busy.set(taskId, p);
  }
}
