// Chaos scenarios: a named list of fault steps, each at a time offset from
// the start of the run, chosen from a seed so that a run can be replayed.
import { InvalidArgumentError } from '../shared/errors.js';

export type FaultKind = 'kill-host' | 'restart-host' | 'kill-agent' | 'restart-agent' | 'partition' | 'heal' | 'freeze-agent' | 'thaw-agent' | 'flap-link' | 'scale-burst';

export interface Step {
  /** Milliseconds after the workload started. */
  at: number;
  fault: FaultKind;
  /** The lab host it hits (none for scale bursts). */
  host?: string;
}

/** A small, seeded PRNG (mulberry32): the same seed, the same run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Faults that take a host away, with what brings it back and how long it stays away. */
const EPISODES: Array<{ down: FaultKind; up: FaultKind; forMs: number }> = [
  { down: 'kill-host', up: 'restart-host', forMs: 12_000 },
  { down: 'kill-agent', up: 'restart-agent', forMs: 10_000 },
  { down: 'partition', up: 'heal', forMs: 10_000 },
  { down: 'freeze-agent', up: 'thaw-agent', forMs: 10_000 },
];

/** Faults after which the replicated services must be whole again while the host is still away. */
export const TAKES_HOST_AWAY: readonly FaultKind[] = EPISODES.map((e) => e.down);

export const SCENARIOS = ['worker-restart', 'all'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * The steps of a scenario over `durationMs`, hitting only `workers` (hosts
 * that run no manager, so the control plane stays up: leader and etcd faults
 * come with manager high availability).
 */
export function plan(name: string, seed: number, durationMs: number, workers: string[]): Step[] {
  if (!workers.length) throw new InvalidArgumentError('a chaos run needs at least one worker host: use --hosts 2 or more');
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  if (name === 'worker-restart') {
    const host = pick(workers);
    return [
      { at: 3000, fault: 'kill-host', host },
      { at: 16_000, fault: 'restart-host', host },
    ];
  }
  if (name !== 'all') throw new InvalidArgumentError(`no scenario "${name}"; there are ${SCENARIOS.join(', ')}`);
  // One episode at a time, a pause between, until the duration is used up;
  // a link flap and a scale burst thrown in between episodes.
  const steps: Step[] = [];
  let t = 3000;
  while (t < durationMs - 10_000) {
    const host = pick(workers);
    const e = pick(EPISODES);
    steps.push({ at: t, fault: e.down, host }, { at: t + e.forMs, fault: e.up, host });
    t += e.forMs + 4000;
    if (random() < 0.5 && t < durationMs - 10_000) {
      steps.push({ at: t, fault: random() < 0.5 ? 'flap-link' : 'scale-burst', host: pick(workers) });
      t += 4000;
    }
  }
  return steps;
}
