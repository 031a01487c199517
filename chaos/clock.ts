// A chaos run's clock: ms since its start on the monotonic clock, and a map
// from the wall times others stamp (task status times, engine log stamps,
// the client's requests) onto it. This machine's wall clock can step (a
// VM's time sync: +6.4 s in one run), and a time stamped on one clock and
// compared on the other is then off by the whole step.
import { performance } from 'node:perf_hooks';

/** A change of the wall clock against the monotonic one this large, between two readings, is a step. */
const STEP_MS = 500;
/** A change this large since the last one noted is noted (a slow drift too). */
const MARK_MS = 20;

/** A step of the wall clock: when (run ms) it was seen, and by how much it moved (ms, forward if positive). */
export interface ClockStep {
  at: number;
  ms: number;
}

/** The two clocks read: monotonic and wall (epoch ms). */
export interface Clocks {
  mono(): number;
  wall(): number;
}

const SYSTEM: Clocks = { mono: () => performance.now(), wall: () => Date.now() };

export class RunClock {
  private readonly t0: number;
  /** The wall time at the start (epoch ms). */
  readonly wall0: number;
  /** Wall minus run time, and the wall time from which it holds (ascending; a step back is reported, not mapped): one entry at the start, one per change noted. */
  private readonly offsets: Array<{ from: number; offset: number }>;
  private lastOffset: number;
  readonly steps: ClockStep[] = [];

  constructor(private readonly clocks: Clocks = SYSTEM) {
    this.t0 = clocks.mono();
    this.wall0 = clocks.wall();
    this.offsets = [{ from: -Infinity, offset: this.wall0 }];
    this.lastOffset = this.wall0;
  }

  /** Ms since the start. */
  since(): number {
    return this.clocks.mono() - this.t0;
  }

  /** Reads both clocks (call it often: a step is placed between two readings) and notes a change since the last one. */
  read(): void {
    const wall = this.clocks.wall();
    const at = this.since();
    const offset = wall - at;
    if (Math.abs(offset - this.lastOffset) > STEP_MS) this.steps.push({ at, ms: offset - this.lastOffset });
    this.lastOffset = offset;
    const noted = this.offsets[this.offsets.length - 1]!;
    if (Math.abs(offset - noted.offset) > MARK_MS && wall > noted.from) this.offsets.push({ from: wall, offset });
  }

  /** A wall time (epoch ms) as ms since the start, by the offset in force when it was stamped. */
  toRun = (wall: number): number => {
    let lo = 0;
    let hi = this.offsets.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid]!.from <= wall) lo = mid;
      else hi = mid - 1;
    }
    return wall - this.offsets[lo]!.offset;
  };
}
