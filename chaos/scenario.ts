// Chaos scenarios: a named list of fault steps, each at a time offset from
// the start of the run, chosen from a seed so that a run can be replayed.
import { InvalidArgumentError } from '../shared/errors.js';
import { DEFAULT_LIVENESS } from '../manager/dispatcher/liveness.js';

export type FaultKind =
  | 'kill-host'
  | 'restart-host'
  | 'kill-leader-host'
  | 'restart-leader-host'
  | 'kill-etcd'
  | 'restart-etcd'
  | 'kill-agent'
  | 'restart-agent'
  | 'kill-dockerd'
  | 'restart-dockerd'
  | 'partition'
  | 'heal'
  | 'freeze-agent'
  | 'thaw-agent'
  | 'flap-link'
  | 'scale-burst'
  | 'rolling-update'
  | 'stack-deploy';

/** What a rolling-update step changes: the image (to the other good one), an environment variable, or the image to one whose containers exit at once (rolled back by itself). */
export type UpdateKind = 'image' | 'env' | 'broken';
const UPDATE_KINDS: readonly UpdateKind[] = ['image', 'env', 'broken'];

/** Stands for the host the leader runs on when the step is injected (its replay names the host it hit). */
export const LEADER = '@leader';

export interface Step {
  /** Milliseconds after the workload started. */
  at: number;
  fault: FaultKind;
  /** The lab host it hits (none for bursts and updates; LEADER until injected). */
  host?: string;
  /** For a rolling update: what it changes. */
  update?: UpdateKind;
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

interface Episode {
  down: FaultKind;
  up: FaultKind;
  forMs: number;
}

/** Faults on a worker host, with what brings it back and how long it stays away. */
const WORKER_EPISODES: Episode[] = [
  { down: 'kill-host', up: 'restart-host', forMs: 12_000 },
  { down: 'kill-agent', up: 'restart-agent', forMs: 10_000 },
  { down: 'kill-dockerd', up: 'restart-dockerd', forMs: 8000 },
  { down: 'partition', up: 'heal', forMs: 10_000 },
  { down: 'freeze-agent', up: 'thaw-agent', forMs: 10_000 },
];

/** Faults on the control plane, when there are managers to spare (3 or more). */
const MANAGER_EPISODES: Episode[] = [
  { down: 'kill-leader-host', up: 'restart-leader-host', forMs: 12_000 },
  { down: 'kill-etcd', up: 'restart-etcd', forMs: 10_000 },
];


/** How long a fault that takes a host away may leave the services short, unless `--heal-within` says otherwise: detection and a container start. */
export const HEAL_WITHIN_MS = 3000;

/**
 * How long after a fault of this kind the replicated services, as the
 * managers count them, may be short, and requests through the published port
 * may fail (on the hosts that are not away), given `healMs` for a host taken
 * away. A link that flaps may add up to a silence past detection, and counts
 * as one. An agent killed: its node keeps its tasks for the restart grace,
 * then they are replaced. A scale burst scales down and up again at once: a
 * slot scaled up again waits until its old task has left the pools and
 * stopped (no slot runs twice; 1 s grace), then starts: twice as long. A
 * stack deployed the first time: its new services start; deployed again (a
 * new release, start-first with a health check), like a rolling update:
 * never short.
 * Everything else (a host, agent or engine given back, an etcd member lost
 * or back, a rolling update of a start-first service with a health check)
 * leaves the hosts' containers running: never short, nothing failed.
 */
export function shortAtMost(kind: FaultKind, healMs = HEAL_WITHIN_MS): number {
  switch (kind) {
    case 'kill-host':
    case 'kill-leader-host':
    case 'partition':
    case 'freeze-agent':
    case 'flap-link':
    case 'stack-deploy':
      return healMs;
    case 'kill-agent':
      return DEFAULT_LIVENESS.closedGraceMs + healMs;
    case 'scale-burst':
      return 2 * healMs;
    default:
      return 0;
  }
}

export const SCENARIOS = ['worker-restart', 'rolling-update', 'all'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * The steps of a scenario over `durationMs`: worker faults on `workers`, and,
 * given three managers or more, faults on the leader's host and on etcd
 * members of `managers` too (one at a time, so quorum always holds).
 */
export function plan(name: string, seed: number, durationMs: number, workers: string[], managers: string[] = []): Step[] {
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
  if (name === 'rolling-update') {
    // Three updates of every kind while a worker host is killed and comes back.
    const host = pick(workers);
    return [
      { at: 3000, fault: 'kill-host', host },
      { at: 4000, fault: 'rolling-update', update: 'image' },
      { at: 10_000, fault: 'rolling-update', update: 'broken' },
      { at: 16_000, fault: 'restart-host', host },
      { at: 18_000, fault: 'rolling-update', update: 'env' },
    ];
  }
  if (name !== 'all') throw new InvalidArgumentError(`no scenario "${name}"; there are ${SCENARIOS.join(', ')}`);
  const episodes = managers.length >= 3 ? [...WORKER_EPISODES, ...MANAGER_EPISODES] : WORKER_EPISODES;
  // One episode at a time, a pause between, until the duration is used up;
  // a rolling update in the middle of half of them; a link flap, a burst of
  // control calls, a rolling update or a stack deploy thrown in between episodes.
  const steps: Step[] = [];
  let t = 3000;
  while (t < durationMs - 10_000) {
    const e = pick(episodes);
    const host = e.down === 'kill-leader-host' ? LEADER : e.down === 'kill-etcd' ? pick(managers) : pick(workers);
    steps.push({ at: t, fault: e.down, host });
    if (random() < 0.5) steps.push({ at: t + Math.round(e.forMs / 3), fault: 'rolling-update', update: pick(UPDATE_KINDS) });
    steps.push({ at: t + e.forMs, fault: e.up, host });
    t += e.forMs + 4000;
    if (random() < 0.5 && t < durationMs - 10_000) {
      const extra = pick(['flap-link', 'scale-burst', 'rolling-update', 'stack-deploy'] as const);
      steps.push(extra === 'rolling-update' ? { at: t, fault: extra, update: pick(UPDATE_KINDS) } : { at: t, fault: extra, host: pick(workers) });
      t += 4000;
    }
  }
  return steps;
}
