// Soak (issue 12): churn for a long while (a crash-looping service, scale
// bursts, services created and removed) and watch etcd's database size, its
// revision, and the memory of etcd, the manager and the agents. Run on `orch
// dev` (the real command, as a child process) and on a 3-host lab, each with
// the leader's compaction on (the defaults) and off (`--compact-every 0s
// --compact-after 0`, which is orch before issue 12). The lab and `orch dev`
// run side by side: one with compaction, the other without, then the other
// way round, so each pair shares the machine alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { StoreStatus } from '../proto/generated/orch.js';
import { SLEEP_IMAGE } from '../lab/images.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { freePort } from '../lab/ports.js';
import { MAIN, runOrch, waitFor, type RunResult } from '../lab/run.js';
import { labAdminDir } from '../lab/state.js';
import { systemTool } from '../shared/sh.js';

/** One sample of one run. */
export interface SoakSample {
  minute: number;
  dbBytes: number;
  revision: number;
  /** Resident memory, MiB, by process ("etcd", "manager", "agent h2", "orch dev" …). */
  rssMiB: Record<string, number>;
}

export interface SoakRun {
  where: 'orch dev' | '3-host lab';
  compaction: boolean;
  samples: SoakSample[];
  /** Revisions written per minute over the run. */
  revisionsPerMinute: number;
}

export interface SoakResult {
  minutes: number;
  runs: SoakRun[];
}

const SAMPLE_MS = 30_000;
const NO_COMPACTION = ['--compact-every', '0s', '--compact-after', '0'];

/** A cluster under soak: how to run the CLI against it, and which processes to weigh. */
interface Target {
  orch(...args: string[]): Promise<RunResult>;
  processes(): Record<string, number>;
  stop(): Promise<void>;
}

/** `npm run bench -- soak`; ORCH_SOAK_MINUTES sets the length of each run (30). */
export async function benchSoak(progress: (line: string) => void): Promise<SoakResult> {
  const minutes = Number(process.env.ORCH_SOAK_MINUTES ?? 30);
  const runs: SoakRun[] = [];
  for (const devCompacts of [true, false]) {
    progress(`${minutes} min: orch dev with compaction ${devCompacts ? 'on' : 'off'}, the lab with it ${devCompacts ? 'off' : 'on'}`);
    const started = await Promise.allSettled([startDev(devCompacts), startLab(!devCompacts)]);
    const up = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    if (up.length < 2) {
      await Promise.all(up.map((x) => x.stop()));
      throw started.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason;
    }
    const [dev, lab] = up as [Target, Target];
    try {
      const [a, b] = await Promise.all([
        soak(dev, 'orch dev', devCompacts, minutes, progress),
        soak(lab, '3-host lab', !devCompacts, minutes, progress),
      ]);
      runs.push(a, b);
    } finally {
      await Promise.all([dev.stop(), lab.stop()]);
    }
  }
  return { minutes, runs };
}

async function soak(target: Target, where: SoakRun['where'], compaction: boolean, minutes: number, progress: (line: string) => void): Promise<SoakRun> {
  const ok = async (...args: string[]) => {
    const r = await target.orch(...args);
    if (r.code !== 0) throw new Error(`${where}: orch ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  await ok('service', 'create', '--name', 'crash', '--replicas', '3', '--restart-delay', '0s', '--detach', SLEEP_IMAGE, 'sh', '-c', 'sleep 1; exit 1');
  await ok('service', 'create', '--name', 'burst', '--replicas', '1', '--stop-grace-period', '1s', '--detach', SLEEP_IMAGE);
  const samples: SoakSample[] = [];
  const started = Date.now();
  const end = started + minutes * 60_000;
  let tick = 0;
  while (true) {
    const s = StoreStatus.fromJSON(JSON.parse(await ok('cluster', 'status', '--format', 'json')));
    const sample = { minute: (Date.now() - started) / 60_000, dbBytes: Math.max(...s.members.map((m) => Number(m.dbSize))), revision: Number(s.revision), rssMiB: rss(target.processes()) };
    samples.push(sample);
    progress(`${where}, compaction ${compaction ? 'on' : 'off'}: ${sample.minute.toFixed(1)} min, ${(sample.dbBytes / 1024).toFixed(0)} KiB, revision ${sample.revision}`);
    if (Date.now() >= end) break;
    // Churn between samples: a scale burst every other one, a create and a remove every one.
    if (tick % 2 === 0) await ok('service', 'scale', '--detach', 'burst=6');
    else await ok('service', 'scale', '--detach', 'burst=1');
    await ok('service', 'create', '--name', `churn${tick}`, '--stop-grace-period', '1s', '--detach', SLEEP_IMAGE);
    if (tick > 0) await ok('service', 'rm', `churn${tick - 1}`);
    tick++;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(SAMPLE_MS, end - Date.now()))));
  }
  const first = samples[0]!;
  const last = samples.at(-1)!;
  return { where, compaction, samples, revisionsPerMinute: Math.round((last.revision - first.revision) / (last.minute - first.minute)) };
}

/** Resident memory in MiB of each live process. */
function rss(pids: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) {
    try {
      const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      if (kb) out[name] = Math.round(kb / 1024);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The real `orch dev`, as a child process on free ports, with its data in a temp dir. */
async function startDev(compaction: boolean): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-soak-dev-'));
  const listen = `127.0.0.1:${await freePort()}`;
  const etcdPort = await freePort();
  const log = openSync(join(dir, 'dev.log'), 'a');
  const args = [MAIN, 'dev', '--data-dir', dir, '--listen', listen, '--etcd-port', String(etcdPort), '--cluster', 'soak', '--no-demo', ...(compaction ? [] : NO_COMPACTION)];
  // It stops (cleanly: SIGTERM) if the benchmark dies.
  const child: ChildProcess = spawn(systemTool('setpriv'), ['--pdeathsig', 'TERM', process.execPath, ...args], { stdio: ['ignore', log, log], env: { ...process.env, ORCH_LOG_LEVEL: 'warn', ORCH_CONFIG_DIR: join(dir, 'cli') } });
  const env = { ORCH_MANAGER: listen, ORCH_TLS_DIR: join(dir, 'admin') };
  const orch = (...a: string[]) => runOrch(env, a);
  await waitFor(async () => (await orch('node', 'ls')).stdout.includes('Ready'), 60_000, 'orch dev ready');
  return {
    orch,
    processes: () => ({ 'orch dev (manager + agent)': child.pid!, etcd: etcdPid(join(dir, 'etcd')) }),
    async stop() {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 30_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pid of the etcd whose data dir this is (orch dev runs it under setpriv, which execs it). */
function etcdPid(dataDir: string): number {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(join(dataDir, 'data'))) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}

async function startLab(compaction: boolean): Promise<Target> {
  const lab = await LabCluster.up({ name: 'soak', index: 243, hosts: 3, managers: 1, managerArgs: compaction ? [] : NO_COMPACTION });
  return {
    orch: (...a: string[]) => runOrch({ ORCH_MANAGER: lab.state.managers.join(','), ORCH_TLS_DIR: labAdminDir(lab.state) }, a),
    processes: () => {
      const out: Record<string, number> = {};
      for (const h of lab.state.hosts) {
        if (h.pids.etcd) out[`etcd ${h.name}`] = h.pids.etcd;
        if (h.pids.manager) out[`manager ${h.name}`] = h.pids.manager;
        if (h.pids.agent) out[`agent ${h.name}`] = h.pids.agent;
      }
      return out;
    },
    stop: () => lab.down(),
  };
}

/** The results as docs/bench/soak.md, with its charts (written by the caller as soak-*.svg). */
export function soakMarkdown(r: SoakResult, machine: string): string {
  const at = [0, 10, 20, 30].filter((m) => m <= r.minutes);
  const near = (run: SoakRun, minute: number) => run.samples.reduce((best, s) => (Math.abs(s.minute - minute) < Math.abs(best.minute - minute) ? s : best));
  const kib = (b: number) => `${Math.round(b / 1024)}`;
  const settle = Math.min(10, r.minutes / 3);
  const growth = (run: SoakRun) => {
    const from = near(run, settle);
    const to = run.samples.at(-1)!;
    return to.minute > from.minute ? ((to.dbBytes - from.dbBytes) / 1024 / (to.minute - from.minute)).toFixed(1) : '';
  };
  const lines = [
    `# Soak: etcd and memory under ${r.minutes} minutes of churn, with and without compaction`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- soak\` on ${machine}; ${r.minutes} minutes a run. ` +
      'Churn: a service of 3 replicas that exits after 1 s with `--restart-delay 0s`, a service scaled 1 → 6 → 1, and a service created and the previous one removed every 30 s. ' +
      '"off" is `--compact-every 0s --compact-after 0` (orch before issue 12); "on" is the default (every 5 min or 10,000 revisions, keeping 1,000). ' +
      '`orch dev` and the lab (3 hosts, 1 manager) ran side by side, one with compaction and one without, then the other way round.',
    '',
    '## etcd database size, KiB (the largest member)',
    '',
    `| run | ${at.map((m) => `${m} min`).join(' | ')} | growth after minute ${settle}, KiB / min | revisions / min |`,
    `| --- | ${at.map(() => '---').join(' | ')} | --- | --- |`,
    ...r.runs.map((run) => `| ${run.where}, compaction ${run.compaction ? 'on' : 'off'} | ${at.map((m) => kib(near(run, m).dbBytes)).join(' | ')} | ${growth(run)} | ${run.revisionsPerMinute} |`),
    '',
    `Target (issue 12): flat after the first minutes. Compaction runs every 5 minutes by default, so the size settles once the first compactions have run; "growth" is measured from minute ${settle} to the end.`,
    '',
    '![database size](soak-db.svg)',
    '',
    '## Resident memory, MiB',
    '',
    `| run | process | ${at.map((m) => `${m} min`).join(' | ')} |`,
    `| --- | --- | ${at.map(() => '---').join(' | ')} |`,
  ];
  for (const run of r.runs) {
    for (const proc of Object.keys(run.samples[0]!.rssMiB)) {
      lines.push(`| ${run.where}, compaction ${run.compaction ? 'on' : 'off'} | ${proc} | ${at.map((m) => near(run, m).rssMiB[proc] ?? '').join(' | ')} |`);
    }
  }
  lines.push('', '![memory](soak-rss.svg)', '');
  return lines.join('\n');
}

/** The two charts, as SVG: database size and memory over time, a line per run (and process). */
export async function soakCharts(r: SoakResult): Promise<Record<string, string>> {
  const label = (run: SoakRun) => `${run.where}, compaction ${run.compaction ? 'on' : 'off'}`;
  const db = r.runs.flatMap((run) => run.samples.map((s) => ({ minute: s.minute, KiB: s.dbBytes / 1024, run: label(run) })));
  const mem = r.runs.flatMap((run) => run.samples.flatMap((s) => Object.entries(s.rssMiB).map(([proc, MiB]) => ({ minute: s.minute, MiB, line: `${label(run)}: ${proc}` }))));
  const chart = (title: string, values: object[], y: string, color: string): TopLevelSpec => ({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 640,
    height: 320,
    data: { values },
    mark: 'line',
    encoding: { x: { field: 'minute', type: 'quantitative', title: 'minutes' }, y: { field: y, type: 'quantitative' }, color: { field: color, type: 'nominal', title: null } },
  });
  const svg = (spec: TopLevelSpec) => new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' }).toSVG();
  return {
    'soak-db.svg': await svg(chart("etcd's database size (largest member), KiB", db, 'KiB', 'run')),
    'soak-rss.svg': await svg(chart('resident memory, MiB', mem, 'MiB', 'line')),
  };
}
