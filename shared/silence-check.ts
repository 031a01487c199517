// A periodic check that judges another party's silence (a node's heartbeats,
// the leader's pings, the manager's answers) must not count its own
// process's stall as that silence: when a Node process resumes, timers run
// before reads, so the first check after a stall finds everybody quiet while
// what they sent waits unread. Such a check (more than a period past its due
// time) is passed over; the next one, which runs after those reads, judges.
// Only one check in a row is passed over, so a process whose every check is
// late (a starved CPU rather than a stall) still judges every other time.

/** Tells a periodic check whether it may judge silence now. */
export class SilenceCheck {
  private lastAt: number | undefined;
  private passedOver = false;

  constructor(readonly periodMs: number) {}

  /** A check begins at `now`: whether it may judge (false right after a stall, unless the check before was passed over already). */
  mayJudge(now: number): boolean {
    const late = this.lastAt !== undefined && now - this.lastAt - this.periodMs > this.periodMs;
    this.lastAt = now;
    this.passedOver = late && !this.passedOver;
    return !this.passedOver;
  }

  /** Starts afresh: the time until the next check is no stall. */
  reset(): void {
    this.lastAt = undefined;
    this.passedOver = false;
  }
}
