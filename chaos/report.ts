// The report of a chaos run: JSON for machines, Markdown for people, and an
// SVG of running replicas and request success over time with the faults marked.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Violation } from './invariants.js';
import type { Step } from './scenario.js';
import type { Outcome } from './workload.js';
import type { ClockStep } from './clock.js';

export interface Sample {
  at: number; // ms since start, when the answer came
  /** When the managers were asked (ms since start): what it counts was read after that. */
  askedAt?: number;
  /** Running tasks, each service counted up to its own count (a spare task of one never hides another that is short). */
  running: number;
  desired: number;
  /** The same for replicated services only (a global service's slot on a dead host waits for the host). */
  replicatedRunning: number;
  replicatedDesired: number;
  /** False when the managers did not answer: nothing is known, so it counts as short (the counts are 0). */
  answered: boolean;
  /** The services short at that moment, as `name running/desired`. */
  short?: string[];
  /**
   * Each service, and since when it has been whole (ms since start; null
   * while short): when the last of the tasks that made it whole began to run
   * (its status time, set by its agent). A sample is stamped when the
   * managers' answer came, which lagged by over a second while a leader was
   * replaced; a dip ends at this time instead.
   */
  services?: ServiceWhole[];
}

/** A service as a sample counts it: its running tasks, its count, and since when it has been whole (epoch ms; null while short). */
export interface ServiceCount {
  name: string;
  global: boolean;
  running: number;
  desired: number;
  wholeSince: number | null;
}

/** A service in a sample: since when it has been whole, in ms since the start (null while short). */
export type ServiceWhole = Pick<ServiceCount, 'name' | 'global' | 'wholeSince'>;

/**
 * A sample of the managers' answer, asked at `askedAt` and answered at `at`
 * (ms since the start; `toRun` maps a wall time onto that). Each service counts up to its
 * own count: one with a task to spare (a start-first update) must not hide
 * another that is short.
 */
export function sampleOf(services: readonly ServiceCount[], o: { at: number; askedAt: number; toRun: (wall: number) => number }): Sample {
  const replicated = services.filter((s) => !s.global);
  const running = (xs: readonly ServiceCount[]) => xs.reduce((a, s) => a + Math.min(s.running, s.desired), 0);
  const desired = (xs: readonly ServiceCount[]) => xs.reduce((a, s) => a + s.desired, 0);
  return {
    at: o.at,
    askedAt: o.askedAt,
    running: running(services),
    desired: desired(services),
    replicatedRunning: running(replicated),
    replicatedDesired: desired(replicated),
    answered: true,
    short: services.filter((s) => s.running < s.desired).map((s) => `${s.name} ${s.running}/${s.desired}`),
    services: services.map((s) => ({ name: s.name, global: s.global, wholeSince: s.wholeSince === null ? null : o.toRun(s.wholeSince) })),
  };
}

/** What a measure reads of a sample: running and wanted tasks, and the services it counts (with since when each is whole). */
export interface Counts {
  running: number;
  desired: number;
  services?: ServiceWhole[];
}

/** Every service, and the replicated ones only (a global service's slot on a dead host waits for the host). */
export const allServices = (s: Sample): Counts => ({ running: s.running, desired: s.desired, services: s.services });
export const replicatedServices = (s: Sample): Counts => ({ running: s.replicatedRunning, desired: s.replicatedDesired, services: s.services?.filter((x) => !x.global) });

/** A sample the managers did not answer: nothing is known, so it counts as short (the counts wanted are the last known). */
export function unanswered(at: number, last: Sample | undefined): Sample {
  return { at, running: 0, desired: last?.desired ?? 0, replicatedRunning: 0, replicatedDesired: last?.replicatedDesired ?? 0, answered: false };
}

/** A fault as the measure sees it: when it began and was done, and how long it may leave the services short. */
export interface TimedFault {
  at: number;
  doneAt: number;
  mostMs: number;
}

/**
 * How long each fault disturbed the services, counted from the fault. A dip
 * is a run of samples that are short, or that the managers did not answer;
 * it ends when the first later sample that answered and is whole says the
 * services short in the dip became whole (each service's `wholeSince`; all
 * of them when no sample in the dip answered), else at that sample; never
 * before the last answered short sample was asked (a node counted down
 * again and back up makes no task start: the services were short until
 * then). Each dip is the doing of the latest fault before it began that may
 * leave the services short and whose window (its deadline after it) the dip
 * began in: a host killed a moment before a rolling update is found dead
 * after the update started, and the dip is still the kill's. A dip no such
 * window covers is the doing of the latest fault before it. Per fault: 0 (no
 * dip of its own), the time until its last dip ended, or null (one never
 * ended).
 */
export function disturbances(samples: readonly Sample[], faults: readonly TimedFault[], counts: (s: Sample) => Counts): Array<number | null> {
  const short = (s: Sample) => !s.answered || counts(s).running < counts(s).desired;
  const out: Array<number | null> = faults.map(() => 0);
  for (let i = 0; i < samples.length; i++) {
    if (!short(samples[i]!) || (i > 0 && short(samples[i - 1]!))) continue;
    const began = samples[i]!.at;
    const before = faults.map((f, k) => ({ f, k })).filter(({ f }) => f.at <= began);
    const owner = before.filter(({ f }) => f.mostMs > 0 && began <= f.doneAt + f.mostMs).pop() ?? before.pop();
    if (!owner) continue;
    const rest = samples.slice(i);
    const j = rest.findIndex((s) => !short(s));
    let took: number | null = null;
    if (j >= 0) {
      const back = rest[j]!;
      const answered = rest.slice(0, j).filter((s) => s.answered);
      const lastShort = answered[answered.length - 1];
      const end = Math.max(wholeAt(back, answered, counts) ?? back.at, lastShort ? (lastShort.askedAt ?? lastShort.at) : -Infinity);
      took = Math.max(0, Math.round(end - owner.f.doneAt));
    }
    const had = out[owner.k]!;
    out[owner.k] = had === null || took === null ? null : Math.max(had, took);
  }
  return out;
}

/** Since when the services short in a dip's answered samples are whole in the sample that ended it (all of them if none is known short); undefined when not known. */
function wholeAt(back: Sample, dip: readonly Sample[], counts: (s: Sample) => Counts): number | undefined {
  const wasShort = new Set(dip.flatMap((s) => (counts(s).services ?? []).filter((x) => x.wholeSince === null).map((x) => x.name)));
  const since = (counts(back).services ?? []).filter((x) => wasShort.size === 0 || wasShort.has(x.name)).map((x) => x.wholeSince);
  return since.length && since.every((x) => x !== null) ? Math.max(...(since as number[])) : undefined;
}

/** A request through the published port: when it was sent (ms since start), how long it took, the host asked, whether it was answered. */
export interface TimedRequest {
  at: number;
  ms: number;
  host: string;
  ok: boolean;
}

/** A host a fault is done to answers nothing from a second before it (a request's timeout) until a few seconds after it gave the host back (its agent restores its rules). */
const OWN_HOST_WINDOW = { beforeMs: 1000, afterMs: 3000 };

/**
 * Requests through the published port may fail only on a host a fault is
 * being done to (`addr`), or within a fault's window: from the fault until
 * its deadline after it was done (while a host taken away is found dead,
 * say). A request still in flight when a fault began is within its window:
 * the backend it was sent to may be the one that died. Any other failure is
 * a violation.
 */
export function failedOutsideFaults(requests: readonly TimedRequest[], faults: ReadonlyArray<TimedFault & { addr?: string }>): Violation[] {
  const late = requests.filter((x) => {
    if (x.ok) return false;
    const own = faults.some((f) => f.addr === x.host && x.at >= f.at - OWN_HOST_WINDOW.beforeMs && x.at <= f.doneAt + OWN_HOST_WINDOW.afterMs);
    const inWindow = faults.some((f) => f.at <= x.at + x.ms && x.at <= f.doneAt + f.mostMs);
    return !own && !inWindow;
  });
  if (!late.length) return [];
  const where = late.slice(0, 5).map((x) => `${(x.at / 1000).toFixed(1)}s ${x.host}`);
  return [{ invariant: 'published port', detail: `${late.length} requests failed outside a fault's window (${where.join(', ')}${late.length > 5 ? ', …' : ''})` }];
}

export interface Report {
  command: string;
  /** When the faults began (every `at` counts from here), to match the events and the daemons' logs. */
  startedAt: string;
  seed: number;
  scenario: string;
  hosts: number;
  durationMs: number;
  steps: Array<Step & { doneAt: number }>;
  /** Per fault: how long after it every service ran its desired count again. */
  recoveries: Array<{ fault: string; host?: string; update?: string; at: number; replicatedAfterMs: number | null; convergedAfterMs: number | null; failedRequests: number; failedServiceRequests: number }>;
  samples: Sample[];
  /** Through the published port, from outside. */
  requests: Requests;
  /** Between services: `caller` to `api` by name, inside the overlay. */
  serviceRequests: Requests;
  violations: Violation[];
  passed: boolean;
  /** Steps of the machine's wall clock seen during the run (times stamped on it are mapped back onto the run's clock). */
  clockSteps: ClockStep[];
}

export interface Requests {
  total: number;
  failed: number;
  buckets: Array<{ at: number; ok: number; failed: number }>;
}

/** Requests per second bucket, relative to `start`. */
export function buckets(outcomes: Outcome[], toRun: (wall: number) => number): Requests['buckets'] {
  const out = new Map<number, { ok: number; failed: number }>();
  for (const o of outcomes) {
    const b = Math.floor(toRun(o.at) / 1000) * 1000;
    const e = out.get(b) ?? { ok: 0, failed: 0 };
    if (o.ok) e.ok++;
    else e.failed++;
    out.set(b, e);
  }
  return [...out].sort((a, b) => a[0] - b[0]).map(([at, e]) => ({ at, ...e }));
}

export function writeReport(dir: string, r: Report): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'report.md'), markdown(r));
  writeFileSync(join(dir, 'timeline.svg'), svg(r));
}

function markdown(r: Report): string {
  const s = (ms: number | null) => (ms === null ? 'did not converge' : `${(ms / 1000).toFixed(1)} s`);
  return [
    `# Chaos run: ${r.scenario}, seed ${r.seed} — ${r.passed ? 'PASSED' : 'FAILED'}`,
    '',
    `${r.hosts} lab hosts, ${(r.durationMs / 1000).toFixed(0)} s from ${r.startedAt}. Replay: \`${r.command}\``,
    '',
    ...r.clockSteps.map((c) => `The machine's wall clock stepped ${c.ms > 0 ? '+' : ''}${(c.ms / 1000).toFixed(1)} s at ${(c.at / 1000).toFixed(1)} s; the times stamped on it are placed on the run's own clock.\n`),
    '![running replicas and request success over time](timeline.svg)',
    '',
    '## Faults and recovery',
    '',
    'Each time is counted from the fault. "Replicated back" is when every replicated service runs its count on hosts that are up; ' +
      '"all back" also waits for global services, whose task on a dead host waits for that host. The managers are asked every 250 ms; ' +
      'a dip ends when the services short in it were whole again: for each, when the task that made it whole began to run (its status time), not when the answer came. A dip is charged to the latest fault ' +
      'whose window (its deadline after it) it began in, else to the latest fault before it; 0.0 s: no dip of its own.',
    '',
    '| at | fault | host | replicated back after | all back after | requests failed until all back: published port / between services |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.recoveries.map((x) => `| ${(x.at / 1000).toFixed(1)} s | ${x.fault}${x.update ? ` (${x.update})` : ''} | ${x.host ?? ''} | ${s(x.replicatedAfterMs)} | ${s(x.convergedAfterMs)} | ${x.failedRequests} / ${x.failedServiceRequests} |`),
    '',
    '### By fault kind',
    '',
    '| fault | times | replicated back: median / worst | all back: median / worst | requests failed (published port): median / worst | requests failed (between services): median / worst |',
    '| --- | --- | --- | --- | --- | --- |',
    ...byKind(r).map((k) => `| ${k.fault} | ${k.n} | ${k.replicated} | ${k.all} | ${k.failed} | ${k.failedBetween} |`),
    '',
    `## Requests through the published port: ${tally(r.requests)}`,
    '',
    `## Requests between services (\`caller\` → \`api\` by name, inside the overlay): ${tally(r.serviceRequests)}`,
    '',
    '## Invariants',
    '',
    r.violations.length ? r.violations.map((v) => `- **${v.invariant}**: ${v.detail}`).join('\n') : 'All held: every service converged, every rolling update ended (completed or rolled back) with its tasks on the spec, no address held twice, no slot running twice, no dangling reference in etcd, every spec intact, the published port answering on every host.',
    '',
  ].join('\n');
}

/** Median and worst per fault kind (times in seconds; "never" if one did not converge). */
const tally = (q: Requests) => `${q.total} sent, ${q.failed} failed (${((100 * q.failed) / Math.max(1, q.total)).toFixed(2)} %)`;

function byKind(r: Report): Array<{ fault: string; n: number; replicated: string; all: string; failed: string; failedBetween: string }> {
  const kinds = [...new Set(r.recoveries.map((x) => x.fault))];
  const stat = (xs: Array<number | null>, unit: (v: number) => string) => {
    if (xs.some((x) => x === null)) return `${unit(median(xs.filter((x): x is number => x !== null)))} / never`;
    const ys = xs as number[];
    return `${unit(median(ys))} / ${unit(Math.max(...ys))}`;
  };
  const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return kinds.map((fault) => {
    const xs = r.recoveries.filter((x) => x.fault === fault);
    return {
      fault,
      n: xs.length,
      replicated: stat(xs.map((x) => x.replicatedAfterMs), sec),
      all: stat(xs.map((x) => x.convergedAfterMs), sec),
      failed: stat(xs.map((x) => x.failedRequests), String),
      failedBetween: stat(xs.map((x) => x.failedServiceRequests), String),
    };
  });
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function svg(r: Report): string {
  const W = 900;
  const H = 300;
  const pad = 40;
  const x = (ms: number) => pad + ((W - 2 * pad) * ms) / Math.max(1, r.durationMs);
  const y = (frac: number) => H - pad - (H - 2 * pad) * frac;
  const line = (pts: Array<[number, number]>, color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`;
  const replicas = r.samples.map((s) => [s.at, s.desired ? Math.min(1, s.running / s.desired) : 1] as [number, number]);
  const rate = (q: Requests) => q.buckets.map((b) => [b.at, b.ok + b.failed ? b.ok / (b.ok + b.failed) : 1] as [number, number]);
  const faults = r.steps.map(
    (st) => `<line x1="${x(st.at)}" x2="${x(st.at)}" y1="${pad}" y2="${H - pad}" stroke="#c33" stroke-dasharray="3,3"/><text x="${x(st.at) + 2}" y="${pad - 4}" font-size="9" fill="#c33" transform="rotate(-30 ${x(st.at) + 2} ${pad - 4})">${st.fault}${st.host ? ` ${st.host}` : ''}${st.update ? ` ${st.update}` : ''}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${pad}" y1="${y(0)}" x2="${W - pad}" y2="${y(0)}" stroke="#999"/><line x1="${pad}" y1="${y(1)}" x2="${W - pad}" y2="${y(1)}" stroke="#ddd"/>`,
    `<text x="4" y="${y(1) + 4}" font-size="10">100%</text><text x="4" y="${y(0) + 4}" font-size="10">0%</text>`,
    ...faults,
    line(replicas, '#2a7'),
    line(rate(r.requests), '#27c'),
    line(rate(r.serviceRequests), '#e90'),
    `<text x="${pad}" y="${H - 8}" font-size="11"><tspan fill="#2a7">■ running / desired replicas</tspan>  <tspan fill="#27c">■ published port OK</tspan>  <tspan fill="#e90">■ between services OK</tspan>  <tspan fill="#c33">┆ faults</tspan>  time: 0–${(r.durationMs / 1000).toFixed(0)} s</text>`,
    '</svg>',
    '',
  ].join('\n');
}
