// Benchmark (issue 2): time from `orch service create` to all replicas
// running, for 1 and for 10 replicas, against a plain `docker run -d` of the
// same image on the same engine, in the same run.
//
// Both sides are timed the way a user sees them, from the command's start to
// its return: `orch service create` returns once every task runs (it waits
// for convergence); `docker run -d` returns once its container has started.
// orch is also timed through its API alone (no CLI start-up), polling every 10 ms.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ServiceSpec, TaskState } from '../proto/generated/orch.js';
import type { Control } from '../client/control.js';
import { SLEEP_IMAGE } from '../lab/images.js';
import { LocalCluster } from '../lab/local-cluster.js';
import { MD_HEADER, type Summary, mdRow, ratio, summarize } from './stats.js';

const RUNS = 5;
/** Label on the containers a benchmark runs with plain `docker run`, so it can remove them. */
export const BENCH_LABEL = 'orch-bench';

export interface ServiceStartResult {
  runs: number;
  orchCli1: Summary;
  orchCli10: Summary;
  orchApi1: Summary;
  orchApi10: Summary;
  dockerRun1: Summary;
  dockerRun10Sequential: Summary;
  dockerRun10Parallel: Summary;
}

export async function benchServiceStart(log: (line: string) => void): Promise<ServiceStartResult> {
  const c = await LocalCluster.start();
  const ctl = c.control();
  const samples: Record<keyof Omit<ServiceStartResult, 'runs'>, number[]> = {
    orchCli1: [], orchCli10: [], orchApi1: [], orchApi10: [], dockerRun1: [], dockerRun10Sequential: [], dockerRun10Parallel: [],
  };
  try {
    for (let run = 0; run < RUNS; run++) {
      log(`run ${run + 1}/${RUNS}`);
      for (const n of [1, 10] as const) {
        samples[n === 1 ? 'orchCli1' : 'orchCli10'].push(await timed(async () => {
          const r = await c.orch('service', 'create', '--name', `cli${n}-${run}`, '--replicas', String(n), SLEEP_IMAGE);
          if (r.code !== 0) throw new Error(r.stderr);
        }));
        await removeService(c, ctl, `cli${n}-${run}`);
        samples[n === 1 ? 'orchApi1' : 'orchApi10'].push(await timed(() => createAndWait(ctl, `api${n}-${run}`, n)));
        await removeService(c, ctl, `api${n}-${run}`);
      }
      samples.dockerRun1.push(await timed(() => dockerRun()));
      samples.dockerRun10Sequential.push(await timed(async () => {
        for (let i = 0; i < 10; i++) await dockerRun();
      }));
      samples.dockerRun10Parallel.push(await timed(async () => {
        await Promise.all(Array.from({ length: 10 }, () => dockerRun()));
      }));
      await removeBenchContainers(c);
    }
  } finally {
    ctl.close();
    await removeBenchContainers(c);
    await c.destroy();
  }
  const out = { runs: RUNS } as ServiceStartResult;
  for (const [k, v] of Object.entries(samples)) (out as unknown as Record<string, Summary>)[k] = summarize(v);
  return out;
}

export async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function createAndWait(ctl: Control, name: string, replicas: number): Promise<void> {
  const svc = await ctl.createService(ServiceSpec.fromPartial({ name, replicas, container: { image: SLEEP_IMAGE } }));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const { tasks } = await ctl.listTasks({ service: svc.id });
    if (tasks.filter((t) => t.status?.state === TaskState.RUNNING).length === replicas) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${name} did not converge within 60 s`);
}

async function removeService(c: LocalCluster, ctl: Control, name: string): Promise<void> {
  await ctl.removeService({ ref: name });
  await c.waitFor(async () => (await c.containers(name)).length === 0, 60_000, `${name} removed`);
}

/** `docker run -d` of the sleep image on an engine (the local one by default), labelled for clean-up. */
export function dockerRun(dockerHost = 'unix:///var/run/docker.sock'): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('docker', ['-H', dockerHost, 'run', '-d', '--label', `${BENCH_LABEL}=1`, SLEEP_IMAGE], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker run failed: ${err}`))));
  });
}

async function removeBenchContainers(c: LocalCluster): Promise<void> {
  const list = await c.docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=1`] } });
  await Promise.all(list.map((x) => c.docker.getContainer(x.Id).remove({ force: true })));
}

/** The results as docs/bench/service-start.md. */
export function serviceStartMarkdown(r: ServiceStartResult, machine: string): string {
  return [
    '# Service start: orch vs `docker run -d`',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- service-start\` on ${machine}; ${r.runs} runs each, milliseconds.`,
    '',
    ...MD_HEADER,
    mdRow('`orch service create --replicas 1` (CLI, returns when running)', r.orchCli1),
    mdRow('`orch service create --replicas 10` (CLI, returns when all run)', r.orchCli10),
    mdRow('orch API: create 1 replica → running', r.orchApi1),
    mdRow('orch API: create 10 replicas → all running', r.orchApi10),
    mdRow('`docker run -d` × 1', r.dockerRun1),
    mdRow('`docker run -d` × 10, one after another', r.dockerRun10Sequential),
    mdRow('`docker run -d` × 10, all at once', r.dockerRun10Parallel),
    '',
    `Ratios (orch CLI / docker run, medians): 1 replica **${ratio(r.orchCli1.median, r.dockerRun1.median)}×**; ` +
      `10 replicas **${ratio(r.orchCli10.median, r.dockerRun10Sequential.median)}×** of sequential \`docker run -d\`, ` +
      `**${ratio(r.orchCli10.median, r.dockerRun10Parallel.median)}×** of parallel.`,
    '',
  ].join('\n');
}
