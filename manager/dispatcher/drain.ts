// A task leaves the load-balancing pools before it stops. When a task that
// has served traffic is told to stop (an update replaces it, a scale-down, a
// drain), every host's VIP and ingress rules must drop it first, or a host
// still sends it new connections after its container is gone. The other
// hosts learn it through their network state; each answers with the
// generation it has applied. Until every other host has applied a state
// without the task (or `timeoutMs` passed: a host that does not answer cannot
// hold the cluster up), the task's own node is shown the task as still
// running.
import { TaskState, type Task } from '../../proto/generated/orch.js';
import { isTerminal } from '../../shared/states.js';

/** What the drain knows of one node's session: the generation of the network state last pushed to it, and the newest it applied. */
export interface Peer {
  nodeId: string;
  pushed: number;
  applied: number;
}

/** How long a task that leaves the pools is held back at most. */
export const DRAIN_TIMEOUT_MS = 5000;

interface Withdrawal {
  /** The first push generation computed without the task serving. */
  generation: number;
  since: number;
  /** Shown as it is from then on: a node told to stop a task is never told to run it again. */
  released: boolean;
}

export class Drain {
  private generation = 0;
  private readonly withdrawn = new Map<string, Withdrawal>();

  constructor(private readonly timeoutMs = DRAIN_TIMEOUT_MS) {}

  /** Starts a push: the network states computed from now on carry the number returned. */
  nextGeneration(): number {
    return ++this.generation;
  }

  /** Whether some task is held back (acks and time can release it). */
  get waiting(): boolean {
    return [...this.withdrawn.values()].some((w) => !w.released);
  }

  /**
   * The task as its own node must see it at `now`: a task leaving the pools
   * keeps desired state RUNNING until every other peer has applied a network
   * state without it. `late` gets the peers that did not answer in time.
   */
  view(t: Task, peers: Iterable<Peer>, now: number, late?: (nodeIds: string[]) => void): Task {
    if (!this.holds(t)) {
      this.withdrawn.delete(t.id);
      return t;
    }
    let w = this.withdrawn.get(t.id);
    if (!w) {
      w = { generation: this.generation, since: now, released: false };
      this.withdrawn.set(t.id, w);
    }
    if (w.released) return t;
    const generation = w.generation;
    const behind = [...peers].filter((p) => p.nodeId !== t.nodeId && p.applied < generation && p.applied !== p.pushed);
    if (behind.length > 0 && now - w.since < this.timeoutMs) return { ...t, desiredState: TaskState.RUNNING };
    if (behind.length > 0) late?.(behind.map((p) => p.nodeId));
    w.released = true;
    return t;
  }

  /** Forgets tasks that are gone or have stopped (`exists` says which are still known). */
  prune(exists: (taskId: string) => boolean): void {
    for (const id of this.withdrawn.keys()) if (!exists(id)) this.withdrawn.delete(id);
  }

  /** A task that may be in some host's pools and is told to stop: it has run ready on a network and has not ended. */
  private holds(t: Task): boolean {
    return t.desiredState > TaskState.RUNNING && t.networks.length > 0 && t.readyAt !== undefined && !isTerminal(t.status?.state ?? TaskState.NEW);
  }
}
