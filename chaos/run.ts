// `orch chaos run`: a lab, a workload, faults on a seeded schedule, samples of
// running replicas and requests throughout, then convergence and the
// invariants; a report, and a verdict (the harness fails on any violation).
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LabCluster } from '../lab/lab-cluster.js';
import { BURST, inject } from './faults.js';
import { checkAll, convergence, type Violation } from './invariants.js';
import { RunClock } from './clock.js';
import { allServices, buckets, disturbances, failedOutsideFaults, replicatedServices, sampleOf, unanswered, writeReport, type Report, type Sample } from './report.js';
import { HEAL_WITHIN_MS, LEADER, plan, shortAtMost, type FaultKind, type Step } from './scenario.js';
import { CallerLog, publishedLoop, startWorkload, type Outcome } from './workload.js';

export interface ChaosOptions {
  scenario: string;
  seed: number;
  durationMs: number;
  hosts: number;
  reportDir: string;
  /** How long a fault that takes a host away may leave the services short (HEAL_WITHIN_MS); the other deadlines follow from it. */
  healMs?: number;
  /** Lab name and underlay index (runs side by side need different ones). */
  name?: string;
  index?: number;
  progress?: (line: string) => void;
}

/** After the last fault, how long every service gets to converge again. */
const CONVERGE_DEADLINE_MS = 45_000;
/** How long convergence must hold before the invariants are checked. */
const STEADY_MS = 2500;
const SAMPLE_MS = 250;
/** How often the callers' outcomes are read from the engines (a container's log is read until its agent removes it). */
const CALLERS_EVERY_MS = 2500;

export async function runChaos(o: ChaosOptions): Promise<Report> {
  const say = o.progress ?? (() => undefined);
  // Five hosts or more: three managers, so the control plane can take faults too.
  const lab = await LabCluster.up({ name: o.name ?? 'chaos', index: o.index ?? 240, hosts: o.hosts, managers: o.hosts >= 5 ? 3 : 1 });
  const ctl = lab.control();
  let stopEvents = async (): Promise<void> => undefined;
  try {
    const workers = lab.state.hosts.filter((h) => !h.manager).map((h) => h.name);
    const managers = lab.state.hosts.filter((h) => h.manager).map((h) => h.name);
    const steps = plan(o.scenario, o.seed, o.durationMs, workers, managers);
    say(`workload up; ${steps.length} fault steps over ${o.durationMs / 1000}s`);
    await startWorkload(lab);
    // What the cluster did, as `orch events` tells it (kept with a failed run's report).
    mkdirSync(o.reportDir, { recursive: true });
    const eventsFile = join(o.reportDir, 'events.jsonl');
    stopEvents = lab.follow(eventsFile, 'events', '--format', 'json');

    const away = new Set<string>(); // hosts a fault has taken away: the client does not ask them
    const addrOf = new Map(lab.state.hosts.map((h) => [h.name, h.addr]));
    // Bounded in count as well as by stop(): far more than the run can send (a few hundred a second).
    const maxRequests = Math.ceil((o.durationMs + CONVERGE_DEADLINE_MS) / 1000) * 2000;
    const loop = publishedLoop(() => lab.state.hosts.filter((h) => !away.has(h.name)).map((h) => h.addr), maxRequests);
    const clock = new RunClock();
    const since = () => clock.since();
    const samples: Sample[] = [];
    const callers = new CallerLog();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const askedAt = since();
        const c = await convergence(ctl).catch(() => undefined);
        clock.read();
        samples.push(c ? sampleOf(c, { at: since(), askedAt, toRun: clock.toRun }) : unanswered(since(), samples[samples.length - 1]));
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
    })();
    // The callers' outcomes, read from the engines on a loop of its own: it takes seconds, and the samples must not wait.
    const reader = (async () => {
      while (sampling) {
        await callers.collect(lab);
        await new Promise((r) => setTimeout(r, CALLERS_EVERY_MS));
      }
    })();

    const done: Report['steps'] = [];
    const refused: Violation[] = [];
    let leaderVictim: string | undefined;
    for (const planned of steps) {
      const wait = planned.at - since();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const st = { ...planned };
      if (st.host === LEADER) {
        if (st.fault === 'kill-leader-host') leaderVictim = await lab.leaderHost();
        st.host = leaderVictim;
        if (!st.host) {
          say(`${(since() / 1000).toFixed(1)}s ${st.fault}: no leader now, skipped`);
          continue;
        }
      }
      say(`${(since() / 1000).toFixed(1)}s ${st.fault} ${st.host ?? ''}`);
      if (isAway(st)) away.add(st.host!);
      try {
        await inject(lab, ctl, st);
      } catch (err) {
        // A request a user makes (a scale, an update, a deploy) that orch refused is orch's failure, not the harness's.
        if (!BY_CONTROL_API.has(st.fault)) throw err;
        refused.push({ invariant: 'control API answers', detail: `${st.fault} at ${(st.at / 1000).toFixed(1)}s: ${String(err).split('\n')[0]}` });
      }
      if (isBack(st)) away.delete(st.host!);
      done.push({ ...st, doneAt: since() });
    }
    const rest = o.durationMs - since();
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));

    // Convergence (every count reached, every rollout ended, and so for STEADY_MS) after the last
    // fault, then the invariants. Held for a while: a host back from the dead is ready before its
    // agent has reported the tasks that died with it, which count as running until then.
    const deadline = Date.now() + CONVERGE_DEADLINE_MS;
    let steadySince: number | undefined;
    while (Date.now() < deadline) {
      const unsettled = (await convergence(ctl)).some((s) => s.running !== s.desired || s.rollingOut);
      steadySince = unsettled ? undefined : (steadySince ?? Date.now());
      if (steadySince !== undefined && Date.now() - steadySince >= STEADY_MS) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    say(`${(since() / 1000).toFixed(1)}s checking the invariants`);
    await new Promise((r) => setTimeout(r, 1000)); // every host applies its last rules
    sampling = false;
    await Promise.all([sampler, reader]);
    await loop.stop();
    await callers.collect(lab);
    await stopEvents();
    const violations: Violation[] = await checkAll(lab, ctl, new Map([[BURST.service, BURST.replicas], ['api', 3], ['caller', 2]]));
    violations.push(...(await probeEverywhere([...addrOf.values()])));

    const heal = o.healMs ?? HEAL_WITHIN_MS;
    const timed = done.map((st) => ({ at: st.at, doneAt: st.doneAt, mostMs: shortAtMost(st.fault, heal), addr: st.host === undefined ? undefined : addrOf.get(st.host) }));
    const replicated = disturbances(samples, timed, replicatedServices);
    const converged = disturbances(samples, timed, allServices);
    const recoveries = done.map((st, i) => {
      const replicatedAfterMs = replicated[i]!;
      const convergedAfterMs = converged[i]!;
      const until = st.doneAt + (convergedAfterMs ?? Infinity);
      const failedIn = (xs: Outcome[]) => xs.filter((x) => !x.ok && clock.toRun(x.at) >= st.doneAt && clock.toRun(x.at) <= until).length;
      return { fault: st.fault, host: st.host, update: st.update, at: st.at, replicatedAfterMs, convergedAfterMs, failedRequests: failedIn(loop.samples), failedServiceRequests: failedIn(callers.outcomes) };
    });
    for (const [i, x] of recoveries.entries()) {
      const most = timed[i]!.mostMs;
      if (x.replicatedAfterMs === null || x.replicatedAfterMs > most) {
        const when = x.replicatedAfterMs === null ? 'never whole again' : `whole again only after ${(x.replicatedAfterMs / 1000).toFixed(1)}s`;
        violations.push({ invariant: 'heals in time', detail: `after ${x.fault} ${x.host ?? ''} at ${(x.at / 1000).toFixed(1)}s the replicated services were ${when} (at most ${most / 1000}s)` });
      }
    }
    violations.push(...failedOutsideFaults(loop.samples.map((x) => ({ ...x, at: clock.toRun(x.at) })), timed));
    violations.push(...refused);
    const outcomes = loop.samples;
    const report: Report = {
      command: `orch chaos run --scenario ${o.scenario} --seed ${o.seed} --duration ${o.durationMs / 1000}s --hosts ${o.hosts}${heal === HEAL_WITHIN_MS ? '' : ` --heal-within ${heal / 1000}s`}`,
      startedAt: new Date(clock.wall0).toISOString(),
      seed: o.seed,
      scenario: o.scenario,
      hosts: o.hosts,
      durationMs: Math.round(since()),
      steps: done,
      recoveries,
      samples,
      requests: { total: outcomes.length, failed: outcomes.filter((x) => !x.ok).length, buckets: buckets(outcomes, clock.toRun) },
      serviceRequests: { total: callers.outcomes.length, failed: callers.outcomes.filter((x) => !x.ok).length, buckets: buckets(callers.outcomes, clock.toRun) },
      violations,
      passed: violations.length === 0,
      clockSteps: clock.steps,
    };
    writeReport(o.reportDir, report);
    if (report.passed) rmSync(eventsFile, { force: true });
    else keepLogs(lab, join(o.reportDir, 'logs'));
    return report;
  } finally {
    await stopEvents();
    ctl.close();
    await lab.down();
  }
}

/** The faults that are requests to the control API, as a user makes them. */
const BY_CONTROL_API = new Set<FaultKind>(['scale-burst', 'rolling-update', 'stack-deploy']);

const isAway = (st: Step) => st.fault === 'kill-host' || st.fault === 'kill-leader-host' || st.fault === 'partition';
const isBack = (st: Step) => st.fault === 'restart-host' || st.fault === 'restart-leader-host' || st.fault === 'heal';

/** After convergence the published port must answer on every host, every time. */
async function probeEverywhere(addrs: string[]): Promise<Violation[]> {
  const probe = publishedLoop(() => addrs, addrs.length * 20);
  await new Promise((r) => setTimeout(r, 3000));
  await probe.stop();
  const failed = probe.samples.filter((x) => !x.ok);
  return failed.length ? [{ invariant: 'published port', detail: `${failed.length} of ${probe.samples.length} requests failed after convergence (${[...new Set(failed.map((f) => f.host))].join(', ')})` }] : [];
}

/** A failed run keeps every host's manager, agent and dockerd log beside its report and its events (the lab and its logs go with it). */
function keepLogs(lab: LabCluster, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const h of lab.state.hosts) {
    for (const daemon of ['manager', 'agent', 'dockerd']) {
      const from = join(h.dir, `${daemon}.log`);
      if (existsSync(from)) copyFileSync(from, join(dir, `${h.name}-${daemon}.log`));
    }
  }
}
