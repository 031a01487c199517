// Benchmark (issue 15): what trust costs. On 5 lab hosts (3 managers) with a
// 5-replica service: the time `orch ca rotate` takes until every node is
// under the new root, and the CPU the leader's manager spends meanwhile;
// then renewal, as the CPU the leader spends over two minutes of one-minute
// certificates against two minutes of the default lifetime, in the same run.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { HTTP_IMAGE } from '../lab/images.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { MD_HEADER, mdRow, summarize, type Summary } from './stats.js';

const RUNS = 3;
const HOSTS = 5;
const WINDOW_MS = 120_000;

export interface CaRotationResult {
  runs: number;
  hosts: number;
  managers: number;
  /** Wall time of `orch ca rotate` (CLI start to "done"), ms. */
  rotate: Summary;
  /** CPU (user + system) of the leader's manager during each rotation, ms. */
  leaderCpu: Summary;
  /** The leader's CPU over WINDOW_MS with one-minute certificates, and with the default lifetime (ms of CPU). */
  renewalWindowMs: number;
  leaderCpuShortCerts: number;
  leaderCpuDefaultCerts: number;
  renewals: number;
}

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU time (user + system) a process has used, ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

export async function benchCaRotation(log: (line: string) => void): Promise<CaRotationResult> {
  const lab = await LabCluster.up({ name: 'bca', index: 237, hosts: HOSTS, managers: 3 });
  const s = { rotate: [] as number[], leaderCpu: [] as number[] };
  let renewal = { short: 0, long: 0, renewals: 0 };
  try {
    await lab.ok('service', 'create', '--name', 'web', '--replicas', String(HOSTS), '-p', '8080:80', HTTP_IMAGE);
    const leaderPid = async () => lab.host((await lab.leaderHost())!).pids.manager!;
    for (let run = 0; run < RUNS; run++) {
      const pid = await leaderPid();
      const cpu0 = cpuMs(pid);
      const t0 = performance.now();
      const r = await lab.orch('ca', 'rotate');
      if (r.code !== 0) throw new Error(`orch ca rotate failed: ${r.stderr}`);
      s.rotate.push(performance.now() - t0);
      s.leaderCpu.push(cpuMs(pid) - cpu0);
      log(`rotation ${run + 1}/${RUNS}: ${Math.round(s.rotate.at(-1)!)} ms, leader CPU ${Math.round(s.leaderCpu.at(-1)!)} ms`);
    }
    const window = async (expiry: string) => {
      await lab.ok('cluster', 'update', '--cert-expiry', expiry);
      const pid = await leaderPid();
      const log0 = readFileSync(`${lab.host((await lab.leaderHost())!).dir}/manager.log`, 'utf8').split('\n').length;
      const cpu0 = cpuMs(pid);
      await new Promise((r) => setTimeout(r, WINDOW_MS));
      const lines = readFileSync(`${lab.host((await lab.leaderHost())!).dir}/manager.log`, 'utf8').split('\n').slice(log0);
      return { cpu: cpuMs(pid) - cpu0, renewals: lines.filter((l) => l.includes('"msg":"certificate renewed"')).length };
    };
    const long = await window('2160h');
    const short = await window('1m');
    renewal = { short: short.cpu, long: long.cpu, renewals: short.renewals };
    log(`leader CPU over ${WINDOW_MS / 1000} s: ${Math.round(short.cpu)} ms with 1m certificates (${short.renewals} renewals), ${Math.round(long.cpu)} ms with 2160h`);
  } finally {
    await lab.down();
  }
  return {
    runs: RUNS,
    hosts: HOSTS,
    managers: 3,
    rotate: summarize(s.rotate),
    leaderCpu: summarize(s.leaderCpu),
    renewalWindowMs: WINDOW_MS,
    leaderCpuShortCerts: Math.round(renewal.short),
    leaderCpuDefaultCerts: Math.round(renewal.long),
    renewals: renewal.renewals,
  };
}

/** The results as docs/bench/ca-rotation.md. */
export function caRotationMarkdown(r: CaRotationResult, machine: string): string {
  const pct = (cpu: number) => ((cpu / r.renewalWindowMs) * 100).toFixed(2);
  return [
    `# Trust: CA rotation and certificate renewal on ${r.hosts} hosts`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- ca-rotation\` on ${machine}; a lab of ${r.hosts} hosts (${r.managers} managers, etcd locked) running a ${r.hosts}-replica service with a published port.`,
    '',
    `## \`orch ca rotate\`, ${r.runs} rotations in a row`,
    '',
    'From starting the CLI until it reports every node under the new root (every node renewed under the new root, the old root retired, every node trusting the new root alone), and the CPU time the leader\'s manager spent meanwhile.',
    '',
    ...MD_HEADER,
    mdRow('`orch ca rotate` (ms)', r.rotate),
    mdRow("the leader's manager CPU during it (ms)", r.leaderCpu),
    '',
    '## Renewal',
    '',
    `The leader's CPU over ${r.renewalWindowMs / 1000} s: with one-minute certificates (every node and manager renewing at 50–80% of their life; ${r.renewals} renewals the leader answered) against the default lifetime (no renewal), one after the other.`,
    '',
    '| lifetime | leader CPU (ms) | share of one core |',
    '| --- | --- | --- |',
    `| 1m | ${r.leaderCpuShortCerts} | ${pct(r.leaderCpuShortCerts)}% |`,
    `| 2160h (default) | ${r.leaderCpuDefaultCerts} | ${pct(r.leaderCpuDefaultCerts)}% |`,
    '',
  ].join('\n');
}
