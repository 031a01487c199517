// Node liveness in two stages, so that one slow write or GC pause never
// declares a node dead:
//  - suspect: the session closed, or no heartbeat for one period + slack;
//  - down:    still nothing `downAfterMs` after the last sign of life on an
//             open session, or `closedGraceMs` after its session closed.
// The two differ because they mean different things. A host that died or
// was cut off goes silent: it closes nothing, and only the missing heartbeats
// tell. A session that closes was closed by the host's kernel, which is alive:
// its agent stopped (a crash, a restart, an upgrade) and the containers run
// on. That gets long enough for an agent to start again and take its tasks
// back without any of them moving.
// Down is written to etcd; the orchestrator replaces the node's tasks.
// A check right after this manager's own stall judges nothing (SilenceCheck):
// the heartbeats sent meanwhile still wait to be read.
// A new leader knows no session yet: every known node gets an election grace
// to find it and reconnect, stretched while fewer than half have (then the
// silence is more likely the agents' slow hunt, or this manager's, than theirs).

import type { Predecessor } from '../election.js';
import { SilenceCheck } from '../../shared/silence-check.js';

export interface LivenessOptions {
  /** Period agents heartbeat at. */
  heartbeatMs: number;
  /** No heartbeat for this long on an open session: down. */
  downAfterMs: number;
  /** Session closed (the host's kernel closed it: its agent stopped) and not re-opened for this long: down. */
  closedGraceMs: number;
}

export const DEFAULT_LIVENESS: LivenessOptions = { heartbeatMs: 250, downAfterMs: 1000, closedGraceMs: 5000 };

/**
 * After an election: how long known nodes get to reconnect (agents leave a
 * leader that answered no heartbeat for 1 s, about when the followers replace
 * it, and a follower names the new leader to them; on a loaded host the hunt
 * took up to 1.3 s), and the longest the grace is stretched while fewer than
 * half of them have.
 */
export const ELECTION_GRACE = { ms: 2000, maxMs: 5000 };

export type Verdict = 'alive' | 'suspect' | 'down';

/** Tracks the last sign of life of each node; pure bookkeeping, no I/O. */
export class Liveness {
  private readonly seen = new Map<string, { at: number; open: boolean }>();
  private readonly check: SilenceCheck;

  constructor(readonly opts: LivenessOptions) {
    this.check = new SilenceCheck(Math.max(50, opts.heartbeatMs / 2));
  }

  /** How often the dispatcher checks: twice a heartbeat period. */
  get checkMs(): number {
    return this.check.periodMs;
  }

  /** A check begins at `now`; whether it may mark nodes down (not right after this manager's own stall). */
  checking(now: number): boolean {
    return this.check.mayJudge(now);
  }

  /** A heartbeat or any message on an open session. */
  alive(nodeId: string, now: number): void {
    this.seen.set(nodeId, { at: now, open: true });
    if (nodeId === this.foundGone) this.foundGone = undefined;
  }

  /** The node's session ended. */
  closed(nodeId: string, now: number): void {
    this.seen.set(nodeId, { at: now, open: false });
  }

  private electedAt = -Infinity;
  /** The node of the leader replaced at the last election, whose host went silent, until it is heard from. */
  private foundGone: string | undefined;

  /**
   * This manager was elected at `now` (it holds no session yet): each known
   * node is down only after the election grace, except the node of a leader
   * it replaced whose host went silent (not even its kernel answered):
   * that host is gone as a killed one is, quiet since `quietSince`.
   */
  elected(nodeIds: Iterable<string>, now: number, predecessor?: Predecessor): void {
    this.electedAt = now;
    this.check.reset();
    this.seen.clear();
    this.foundGone = undefined;
    for (const id of nodeIds) this.seen.set(id, { at: now + ELECTION_GRACE.ms - this.opts.closedGraceMs, open: false });
    if (predecessor?.hostSilent) this.foundSilent(predecessor);
  }

  /**
   * The replaced leader's host is silent (found so by the election, or asked
   * again after it): its node is quiet since its manager's last answer and
   * no hold covers it; unless it has opened a session here since.
   */
  foundSilent(predecessor: Predecessor): void {
    const s = this.seen.get(predecessor.nodeId);
    if (!s || (s.open && s.at > predecessor.quietSince)) return;
    this.seen.set(predecessor.nodeId, { at: predecessor.quietSince, open: true });
    this.foundGone = predecessor.nodeId;
  }

  /**
   * Whether no node may be marked down yet: soon after an election, while
   * fewer than half the ready nodes (counted only then) have sessions here.
   * The hold guards against this manager's own trouble reaching the agents;
   * it does not cover the replaced leader whose host the election found
   * silent (holdCovers).
   */
  holdDown(now: number, sessions: number, ready: () => number): boolean {
    return now - this.electedAt < ELECTION_GRACE.maxMs && sessions * 2 < ready();
  }

  /** Whether a hold (holdDown) keeps the node up: every node but the replaced leader's, which the election itself found gone. */
  holdCovers(nodeId: string): boolean {
    return nodeId !== this.foundGone;
  }

  forget(nodeId: string): void {
    this.seen.delete(nodeId);
  }

  /** Since when nothing was heard from the node (its session's close, or its last sign of life). */
  quietSince(nodeId: string): number | undefined {
    return this.seen.get(nodeId)?.at;
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
