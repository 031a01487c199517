// Benchmark (issue 16): reading logs. On 3 lab hosts (1 manager):
// - `orch service logs --tail 1000` of 10 replicas, against `docker logs
//   --tail 1000` of the same containers one after another (the anchor), in
//   the same run, alternating; with the manager's peak memory while it reads;
// - `orch service logs -f` of 10 replicas each writing as fast as it can:
//   lines per second delivered, against the rate the engines took them,
//   and against `docker logs -f` of each container, all ten at once;
// - the manager's memory while a follower is paused (its reader reads
//   nothing) and the replicas write, and that every line still comes once
//   it reads again.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { TaskState } from '../proto/generated/orch.js';
import { SLEEP_IMAGE } from '../lab/images.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { labAdminDir } from '../lab/state.js';
import { MAIN } from '../lab/run.js';
import { MD_HEADER, mdRow, ratio, summarize, type Summary } from './stats.js';

const REPLICAS = 10;
const RUNS = 5;
const TAIL = 1000;
/** Lines each replica has written before the --tail runs. */
const WRITTEN = 5000;
/** Lines each replica writes as fast as it can in the follow runs. */
const BURST = 20_000;
const FOLLOW_RUNS = 3;
const LINE = 'a line of a benchmark that writes as fast as it can, sixty-four';

export interface LogsResult {
  replicas: number;
  tail: { orch: Summary; docker: Summary; ratio: number; managerPeakMiB: number; managerBaseMiB: number; orchStart: Summary; dockerStart: Summary };
  follow: { lines: number; orchLinesPerSec: number[]; engineLinesPerSec: number[]; dockerLinesPerSec: number[] };
  paused: { bytesWritten: number; managerBaseMiB: number; managerPeakMiB: number; deliveredAfter: number; expected: number };
}

export async function benchLogs(log: (line: string) => void): Promise<LogsResult> {
  const lab = await LabCluster.up({ name: 'blogs', index: 236, hosts: 3, managers: 1 });
  const env = { ...process.env, ORCH_MANAGER: lab.state.managers.join(','), ORCH_TLS_DIR: labAdminDir(lab.state) };
  const managerPid = lab.state.hosts[0]!.pids.manager!;
  try {
    // --tail 1000 of 10 replicas that wrote 5000 lines each.
    await lab.ok('service', 'create', '--name', 'wrote', '--replicas', String(REPLICAS), '--stop-grace-period', '1s', SLEEP_IMAGE, 'sh', '-c', writer(WRITTEN, 0));
    const containers = await containersOf(lab, 'wrote');
    await lab.waitFor(async () => (await count(['service', 'logs', '--tail', '1', 'wrote'], env)).lines === REPLICAS, 60_000, 'every replica wrote');
    await new Promise((r) => setTimeout(r, 3000));
    const orch: number[] = [];
    const docker: number[] = [];
    const orchStart: number[] = [];
    const dockerStart: number[] = [];
    const base = rssMiB(managerPid);
    let peak = base;
    for (let i = 0; i < RUNS; i++) {
      log(`--tail ${TAIL}: run ${i + 1}/${RUNS}`);
      const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(managerPid))), 10);
      let t0 = performance.now();
      const got = await count(['service', 'logs', '--tail', String(TAIL), 'wrote'], env);
      orch.push(performance.now() - t0);
      clearInterval(sampler);
      if (got.lines !== REPLICAS * TAIL) throw new Error(`orch gave ${got.lines} lines, not ${REPLICAS * TAIL}`);
      t0 = performance.now();
      let lines = 0;
      for (const c of containers) lines += (await run('docker', ['-H', `unix://${c.socket}`, 'logs', '--tail', String(TAIL), c.id])).lines;
      docker.push(performance.now() - t0);
      if (lines !== REPLICAS * TAIL) throw new Error(`docker gave ${lines} lines, not ${REPLICAS * TAIL}`);
      // Each CLI's start alone (its help), for what of the above is start-up.
      t0 = performance.now();
      await count(['service', 'logs', '--help'], env);
      orchStart.push(performance.now() - t0);
      t0 = performance.now();
      await run('docker', ['logs', '--help']);
      dockerStart.push(performance.now() - t0);
    }
    await lab.ok('service', 'rm', 'wrote');

    // -f of 10 replicas writing as fast as they can, against docker logs -f of each at once.
    const follow = { lines: REPLICAS * BURST, orchLinesPerSec: [] as number[], engineLinesPerSec: [] as number[], dockerLinesPerSec: [] as number[] };
    for (let i = 0; i < FOLLOW_RUNS; i++) {
      log(`-f: run ${i + 1}/${FOLLOW_RUNS}`);
      const name = `burst${i}`;
      await lab.ok('service', 'create', '--name', name, '--replicas', String(REPLICAS), '--stop-grace-period', '1s', SLEEP_IMAGE, 'sh', '-c', writer(BURST, 6));
      const follower = follow$(['service', 'logs', '-f', '-t', '--raw', name], env);
      const got = await follower.until(REPLICAS * BURST, 180_000);
      follow.orchLinesPerSec.push(Math.round(got.lines / ((got.lastAt - got.firstAt) / 1000)));
      follow.engineLinesPerSec.push(Math.round(got.lines / ((got.lastStamp - got.firstStamp) / 1000)));
      await lab.ok('service', 'rm', name);

      const anchor = `dburst${i}`;
      await lab.ok('service', 'create', '--name', anchor, '--replicas', String(REPLICAS), '--stop-grace-period', '1s', SLEEP_IMAGE, 'sh', '-c', writer(BURST, 6));
      const list = await containersOf(lab, anchor);
      const each = list.map((c) => follow$(['logs', '-f', c.id], process.env, 'docker', ['-H', `unix://${c.socket}`]));
      const all = await Promise.all(each.map((f) => f.until(BURST, 180_000)));
      const first = Math.min(...all.map((a) => a.firstAt));
      const last = Math.max(...all.map((a) => a.lastAt));
      follow.dockerLinesPerSec.push(Math.round((REPLICAS * BURST) / ((last - first) / 1000)));
      await lab.ok('service', 'rm', anchor);
    }

    // A follower that reads nothing while 10 replicas write.
    log('paused reader');
    const pausedBase = rssMiB(managerPid);
    await lab.ok('service', 'create', '--name', 'quiet', '--replicas', String(REPLICAS), '--stop-grace-period', '1s', SLEEP_IMAGE, 'sh', '-c', writer(BURST, 6));
    const paused = follow$(['service', 'logs', '-f', 'quiet'], env, MAIN, [], true);
    let pausedPeak = pausedBase;
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      pausedPeak = Math.max(pausedPeak, rssMiB(managerPid));
      await new Promise((r) => setTimeout(r, 50));
    }
    paused.resume();
    const after = await paused.until(REPLICAS * BURST, 180_000);
    return {
      replicas: REPLICAS,
      tail: { orch: summarize(orch), docker: summarize(docker), ratio: Number(ratio(summarize(orch).median, summarize(docker).median)), managerPeakMiB: Math.round(peak), managerBaseMiB: Math.round(base), orchStart: summarize(orchStart), dockerStart: summarize(dockerStart) },
      follow,
      paused: { bytesWritten: REPLICAS * BURST * (LINE.length + 8), managerBaseMiB: Math.round(pausedBase), managerPeakMiB: Math.round(pausedPeak), deliveredAfter: after.lines, expected: REPLICAS * BURST },
    };
  } finally {
    await lab.down();
  }
}

/** A replica's command: after `wait` seconds, `lines` lines as fast as busybox sh writes them, then it sleeps. */
function writer(lines: number, wait: number): string {
  return `trap "exit 0" TERM; sleep ${wait}; i=0; while [ $i -lt ${lines} ]; do echo "${LINE} $i"; i=$((i+1)); done; sleep 2147483647 & wait`;
}

async function containersOf(lab: LabCluster, service: string): Promise<Array<{ id: string; socket: string }>> {
  await lab.waitFor(async () => (await lab.tasks(service)).filter((t) => t.status?.state === TaskState.RUNNING).length === REPLICAS, 60_000, `${service} running`);
  const hosts = await lab.hostnames();
  return (await lab.tasks(service)).filter((t) => t.status?.state === TaskState.RUNNING).map((t) => ({ id: t.status!.containerId, socket: lab.host(hosts.get(t.nodeId)!).dockerSocket }));
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Runs `orch ARGS` (or another program) to its end, counting the lines it printed on stdout. */
function count(args: string[], env: NodeJS.ProcessEnv): Promise<{ lines: number }> {
  return run(process.execPath, [MAIN, ...args], env);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ lines: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    let lines = 0;
    p.stdout.on('data', (d: Buffer) => {
      for (const b of d) if (b === 10) lines++;
    });
    p.on('error', reject);
    p.on('close', () => resolve({ lines }));
  });
}

/**
 * A following reader (orch, or docker with `pre` before its args) counting
 * lines as they arrive: when the first and last came and, for `-t` output,
 * the engine's first and last timestamps. `paused`: it reads nothing until
 * resume().
 */
function follow$(args: string[], env: NodeJS.ProcessEnv, cmd = MAIN, pre: string[] = [], paused = false) {
  const p = cmd === MAIN ? spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] }) : spawn(cmd, [...pre, ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const got = { lines: 0, firstAt: 0, lastAt: 0, firstStamp: Infinity, lastStamp: 0 };
  let rest = '';
  const onData = (d: Buffer) => {
    const now = performance.now();
    got.firstAt ||= now;
    got.lastAt = now;
    const text = rest + d.toString();
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const l of lines) {
      got.lines++;
      const stamp = /^(\d{4}-\d\d-\d\dT[\d:.]+Z) /.exec(l)?.[1];
      if (stamp) {
        const t = Date.parse(stamp);
        got.firstStamp = Math.min(got.firstStamp, t);
        got.lastStamp = Math.max(got.lastStamp, t);
      }
    }
  };
  if (!paused) p.stdout.on('data', onData);
  else p.stdout.pause();
  return {
    resume: () => {
      p.stdout.on('data', onData);
      p.stdout.resume();
    },
    until: (lines: number, timeoutMs: number) =>
      new Promise<typeof got>((resolve, reject) => {
        const timer = setTimeout(() => (p.kill('SIGINT'), reject(new Error(`${got.lines} of ${lines} lines in ${timeoutMs} ms`))), timeoutMs);
        const check = setInterval(() => {
          if (got.lines < lines) return;
          clearInterval(check);
          clearTimeout(timer);
          p.kill('SIGINT');
          resolve(got);
        }, 20);
      }),
  };
}

/** The results as docs/bench/logs.md. */
export function logsMarkdown(r: LogsResult, machine: string): string {
  const med = (xs: number[]) => summarize(xs).median;
  return [
    `# Reading logs: ${r.replicas} replicas`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- logs\` on ${machine}; a lab of 3 hosts (1 manager), the replicas spread over them.`,
    '',
    `## \`service logs --tail ${TAIL}\``,
    '',
    `${RUNS} runs of each, alternating; milliseconds until the command has printed every line (${r.replicas} × ${TAIL}; each replica wrote ${WRITTEN}).`,
    '',
    ...MD_HEADER,
    mdRow(`\`orch service logs --tail ${TAIL}\` (all replicas, through the manager)`, r.tail.orch),
    mdRow(`\`docker logs --tail ${TAIL}\` of each container, one after another (the anchor)`, r.tail.docker),
    mdRow('`orch service logs --help`: the orch CLI starting, alone', r.tail.orchStart),
    mdRow('`docker logs --help`: the docker CLI starting, alone', r.tail.dockerStart),
    '',
    `orch / docker: **${r.tail.ratio}×**. The manager's memory: ${r.tail.managerBaseMiB} MiB before, ${r.tail.managerPeakMiB} MiB at most while reading (sampled every 10 ms).`,
    '',
    '## `service logs -f`',
    '',
    `${r.replicas} replicas each write ${r.follow.lines / r.replicas} lines as fast as busybox sh can; lines per second, ${r.follow.orchLinesPerSec.length} runs:`,
    '',
    '| what | runs | median |',
    '| --- | --- | --- |',
    `| delivered by \`orch service logs -f\` (first to last line printed) | ${r.follow.orchLinesPerSec.join(', ')} | ${med(r.follow.orchLinesPerSec)} |`,
    `| written, as the engines timestamped them (same runs) | ${r.follow.engineLinesPerSec.join(', ')} | ${med(r.follow.engineLinesPerSec)} |`,
    `| delivered by \`docker logs -f\`, one per container, all at once (the anchor) | ${r.follow.dockerLinesPerSec.join(', ')} | ${med(r.follow.dockerLinesPerSec)} |`,
    '',
    '## A paused reader',
    '',
    `\`orch service logs -f\` whose reader reads nothing while ${r.replicas} replicas write ${r.paused.expected} lines (${Math.round(r.paused.bytesWritten / 2 ** 20)} MiB): ` +
      `the manager held ${r.paused.managerBaseMiB} MiB before and ${r.paused.managerPeakMiB} MiB at most over 40 s; once the reader read again it got ${r.paused.deliveredAfter} of ${r.paused.expected} lines.`,
    '',
  ].join('\n');
}
