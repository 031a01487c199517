// Node liveness in two stages, so that one slow write or GC pause never
// declares a node dead, and a closed session is a strong hint but not proof:
//  - suspect: the session closed, or no heartbeat for one period + slack;
//  - down:    still nothing `downAfterMs` after the last sign of life (or
//             `closedGraceMs` after its session closed, which comes sooner).
// Down is written to etcd; the orchestrator replaces the node's tasks.

export interface LivenessOptions {
  /** Period agents heartbeat at. */
  heartbeatMs: number;
  /** No heartbeat for this long on an open session: down. */
  downAfterMs: number;
  /** Session closed and not re-opened for this long: down. */
  closedGraceMs: number;
}

export const DEFAULT_LIVENESS: LivenessOptions = { heartbeatMs: 250, downAfterMs: 1000, closedGraceMs: 1000 };

export type Verdict = 'alive' | 'suspect' | 'down';

/** Tracks the last sign of life of each node; pure bookkeeping, no I/O. */
export class Liveness {
  private readonly seen = new Map<string, { at: number; open: boolean }>();

  constructor(readonly opts: LivenessOptions) {}

  /** A heartbeat or any message on an open session. */
  alive(nodeId: string, now: number): void {
    this.seen.set(nodeId, { at: now, open: true });
  }

  /** The node's session ended. */
  closed(nodeId: string, now: number): void {
    this.seen.set(nodeId, { at: now, open: false });
  }

  /** Gives a node we have not heard from yet (e.g. after an election) until `now` to count from. */
  expect(nodeId: string, now: number): void {
    if (!this.seen.has(nodeId)) this.seen.set(nodeId, { at: now, open: false });
  }

  forget(nodeId: string): void {
    this.seen.delete(nodeId);
  }

  verdict(nodeId: string, now: number): Verdict {
    const s = this.seen.get(nodeId);
    if (!s) return 'down';
    const quiet = now - s.at;
    if (s.open) {
      if (quiet > this.opts.downAfterMs) return 'down';
      return quiet > this.opts.heartbeatMs * 2 ? 'suspect' : 'alive';
    }
    return quiet > this.opts.closedGraceMs ? 'down' : 'suspect';
  }
}
