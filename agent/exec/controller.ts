// The task controller: walks one task through the task states against the
// Docker Engine, advancing exactly one state per step() (swarmkit's style):
//
//   assigned → accepted → preparing (pull, create) → starting (start)
//            → running → complete | failed
//   desired shutdown/remove, from any state → stop → shutdown (remove: and
//   the container is removed)
//
// Errors become states: an image that cannot be had → rejected; a create or
// start that fails → failed, with the engine's message in `err`.
import type Docker from 'dockerode';
import { TaskState, type Network, type Task, type TaskStatus } from '../../proto/generated/orch.js';
import { isTerminal } from '../../shared/states.js';
import { MissingError, PullError, type Engine } from './engine.js';

/** Receives every observed state change of a task. */
export type Reporter = (taskId: string, status: TaskStatus) => void;

/** The Docker networks a task's container joins (made ready on this host); throws if one cannot be. */
export type NetworkResolver = (task: Task) => Promise<Array<{ dockerName: string; network: Network }>>;

export class TaskController {
  status: TaskStatus;
  private containerId: string;
  /** True once the container is removed (desired REMOVE done). */
  removed = false;
  /** Whether this controller asked the engine to start the container (a start it did not ask for is not in flight). */
  private startAsked = false;

  constructor(
    public task: Task,
    private readonly engine: Engine,
    private readonly report: Reporter,
    private readonly networks: NetworkResolver,
    existingContainer: string | undefined,
  ) {
    this.status = { ...task.status!, containerId: existingContainer ?? task.status?.containerId ?? '' };
    this.containerId = this.status.containerId;
  }

  /** Takes a newer copy of the task from the manager (desired state may change). */
  update(task: Task): void {
    this.task = task;
  }

  /** Advances at most one state. Resolves true if something changed. */
  async step(): Promise<boolean> {
    const desired = this.task.desiredState;
    const state = this.status.state;
    if (desired === TaskState.REMOVE) return this.removeContainer();
    if (desired !== TaskState.RUNNING || (isTerminal(state) && this.containerId)) {
      if (!isTerminal(state)) return this.shutdown();
      return false;
    }
    switch (state) {
      case TaskState.NEW:
      case TaskState.PENDING:
      case TaskState.ASSIGNED:
        return this.set({ state: TaskState.ACCEPTED, message: 'accepted' });
      case TaskState.ACCEPTED:
        return this.prepare();
      case TaskState.PREPARING:
        return this.startContainer();
      case TaskState.STARTING:
      case TaskState.RUNNING:
        return this.observe();
      default:
        return false;
    }
  }

  private async prepare(): Promise<boolean> {
    if (this.containerId && (await this.engine.inspect(this.containerId))) {
      return this.set({ state: TaskState.PREPARING, message: 'created' });
    }
    this.set({ state: TaskState.PREPARING, message: 'preparing' });
    // Twice at most: an image or network the engine had seen may have been removed since (by hand).
    for (let attempt = 1; ; attempt++) {
      try {
        let last = 0;
        await this.engine.ensureImage(this.task.spec!.image, (text) => {
          if (Date.now() - last < 500) return; // progress, at most twice a second
          last = Date.now();
          this.set({ state: TaskState.PREPARING, message: text.slice(0, 200) });
        });
      } catch (err) {
        const rejected = err instanceof PullError;
        return this.set({ state: rejected ? TaskState.REJECTED : TaskState.FAILED, message: rejected ? 'rejected' : 'failed', err: errText(err) });
      }
      try {
        this.containerId = await this.engine.create(this.task, await this.networks(this.task));
        return this.set({ state: TaskState.PREPARING, message: 'created', containerId: this.containerId });
      } catch (err) {
        if (attempt === 1 && err instanceof MissingError) continue;
        return this.set({ state: TaskState.FAILED, message: 'failed', err: `create: ${errText(err)}` });
      }
    }
  }

  private async startContainer(): Promise<boolean> {
    this.startAsked = true;
    this.set({ state: TaskState.STARTING, message: 'starting' });
    try {
      await this.engine.start(this.containerId);
    } catch (err) {
      if (!(err instanceof MissingError && (await this.remake()))) return this.set({ state: TaskState.FAILED, message: 'failed', err: `start: ${errText(err)}` });
    }
    return this.observe();
  }

  /** A network the container was made on is gone (removed by hand): the container is made again, its networks too, and started; false if that fails. */
  private async remake(): Promise<boolean> {
    try {
      await this.engine.remove(this.containerId);
      this.containerId = await this.engine.create(this.task, await this.networks(this.task));
      this.set({ state: TaskState.STARTING, message: 'starting', containerId: this.containerId });
      await this.engine.start(this.containerId);
      return true;
    } catch {
      return false;
    }
  }

  /** Brings the observed state in line with what the engine says. */
  private async observe(): Promise<boolean> {
    const info = await this.engine.inspect(this.containerId);
    if (!info) return this.set({ state: TaskState.FAILED, message: 'failed', err: 'the container disappeared' });
    const s = info.State;
    const health = (s as Docker.ContainerInspectInfo['State'] & { Health?: { Status?: string } }).Health?.Status ?? '';
    if (s.Running && health === 'unhealthy') {
      // As Swarm does: an unhealthy task is failed (and its container stopped);
      // the restart policy decides about a replacement.
      await this.engine.stop(this.containerId, this.task.spec?.stopGracePeriodMs ?? 10_000);
      return this.set({ state: TaskState.FAILED, message: 'failed', err: 'task: container unhealthy', health });
    }
    if (s.Running) return this.set({ state: TaskState.RUNNING, message: 'running', health });
    // Created and never started: a start still in flight, or one that died with
    // its agent or host (the task says starting, the container waits for ever).
    if (s.Status === 'created') return this.startAsked ? false : this.startContainer();
    return this.exited(s.ExitCode, s.Error);
  }

  private exited(exitCode: number, engineError: string): boolean {
    if (exitCode === 0 && !engineError) return this.set({ state: TaskState.COMPLETE, message: 'finished', exitCode: 0, health: '' });
    return this.set({ state: TaskState.FAILED, message: 'failed', exitCode, err: engineError || `task: non-zero exit (${exitCode})`, health: '' });
  }

  private async shutdown(): Promise<boolean> {
    if (this.containerId) await this.engine.stop(this.containerId, this.task.spec?.stopGracePeriodMs ?? 10_000);
    return this.set({ state: TaskState.SHUTDOWN, message: 'shutdown', health: '' });
  }

  private async removeContainer(): Promise<boolean> {
    if (this.removed) return false;
    if (!isTerminal(this.status.state)) await this.shutdown();
    if (this.containerId) await this.engine.remove(this.containerId);
    this.engine.files.release(this.task.id);
    this.removed = true;
    return true;
  }

  /**
   * Records and reports a status change; returns whether anything changed.
   * The time is when the task entered its state (as `docker service ps`
   * shows it): a new message or health result in the same state keeps it.
   */
  private set(change: Partial<TaskStatus> & { state: TaskState }): boolean {
    const timestamp = change.state === this.status.state && this.status.timestamp ? this.status.timestamp : new Date();
    const next: TaskStatus = { ...this.status, err: '', ...change, containerId: change.containerId ?? this.containerId, timestamp };
    const same =
      next.state === this.status.state && next.message === this.status.message && next.err === this.status.err && next.health === this.status.health && next.containerId === this.status.containerId;
    if (same) return false;
    this.status = next;
    this.report(this.task.id, next);
    return true;
  }
}

function errText(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).split('\n')[0]!;
}
