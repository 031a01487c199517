// Benchmark on a 3-host lab (issue 4):
//  - TCP throughput between two hosts over the overlay (container to
//    container, VXLAN) against the same two hosts over the underlay, in one
//    run: iperf3 in the containers' namespaces and in the hosts' namespaces;
//  - time from task created to its endpoint reachable from every other host
//    (pinged from a container on each of the other hosts), beside the time
//    to running.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ServiceSpec, TaskState } from '../proto/generated/orch.js';
import type { Control } from '../client/control.js';
import { HTTP_IMAGE, SLEEP_IMAGE } from '../lab/images.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { iperf } from './iperf.js';
import { type Summary, mdRow, summarize } from './stats.js';

const THROUGHPUT_RUNS = 3;
const THROUGHPUT_SECONDS = 5;
const REACH_RUNS = 5;
const PROBE_EVERY_MS = 20;
const REACH_TIMEOUT_MS = 30_000;

export interface OverlayResult {
  throughputRuns: number;
  seconds: number;
  underlayMbps: Summary;
  overlayMbps: Summary;
  reachRuns: number;
  running: Summary;
  reachable: Summary;
}

export async function benchOverlay(log: (line: string) => void): Promise<OverlayResult> {
  const lab = await LabCluster.up({ name: 'bnet', index: 249, hosts: 3, managers: 1 });
  const ctl = lab.control();
  try {
    await lab.ok('network', 'create', 'bench');
    await lab.ok('service', 'create', '--name', 'server', '--network', 'bench', '--constraint', 'node.hostname==h1', SLEEP_IMAGE);
    await lab.ok('service', 'create', '--name', 'client', '--network', 'bench', '--constraint', 'node.hostname==h2', SLEEP_IMAGE);
    const server = await container(lab, ctl, 'server', 'h1');
    const client = await container(lab, ctl, 'client', 'h2');
    const h1 = lab.host('h1');
    const h2 = lab.host('h2');
    const underlay: number[] = [];
    const overlay: number[] = [];
    for (let run = 0; run < THROUGHPUT_RUNS; run++) {
      log(`throughput run ${run + 1}/${THROUGHPUT_RUNS}`);
      const o = { port: 5299, seconds: THROUGHPUT_SECONDS };
      underlay.push(await iperf(['--net=/var/run/netns/' + h1.netns], ['--net=/var/run/netns/' + h2.netns], h1.addr, o));
      overlay.push(await iperf(['-t', String(server.pid), '-n'], ['-t', String(client.pid), '-n'], server.ip, o));
    }

    // Probers: a container on each of the other hosts.
    await lab.ok('service', 'create', '--name', 'probe', '--mode', 'global', '--network', 'bench', '--constraint', 'node.hostname!=h1', SLEEP_IMAGE);
    const probers = [await container(lab, ctl, 'probe', 'h2'), await container(lab, ctl, 'probe', 'h3')];
    const running: number[] = [];
    const reachable: number[] = [];
    for (let run = 0; run < REACH_RUNS; run++) {
      log(`reachability run ${run + 1}/${REACH_RUNS}`);
      const t0 = performance.now();
      const svc = await ctl.createService(ServiceSpec.fromPartial({ name: `r${run}`, replicas: 1, networks: ['bench'], placement: { constraints: ['node.hostname==h1'] }, container: { image: HTTP_IMAGE } }));
      let ip = '';
      let runningAt = 0;
      const deadline = Date.now() + REACH_TIMEOUT_MS;
      while (!ip && Date.now() < deadline) {
        const t = (await ctl.listTasks({ service: svc.id })).tasks[0];
        ip = t?.networks[0]?.addr.split('/')[0] ?? '';
        if (!ip) await new Promise((r) => setTimeout(r, 5));
      }
      const watchRunning = (async () => {
        while (!runningAt && Date.now() < deadline) {
          const t = (await ctl.listTasks({ service: svc.id })).tasks[0];
          if (t?.status?.state === TaskState.RUNNING) runningAt = performance.now();
          else await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const reached = await Promise.all(probers.map((p) => firstReply(p.pid, ip, deadline)));
      await watchRunning;
      running.push(runningAt - t0);
      reachable.push(Math.max(...reached) - t0);
      await ctl.removeService({ ref: svc.id });
    }
    return {
      throughputRuns: THROUGHPUT_RUNS,
      seconds: THROUGHPUT_SECONDS,
      underlayMbps: summarize(underlay),
      overlayMbps: summarize(overlay),
      reachRuns: REACH_RUNS,
      running: summarize(running),
      reachable: summarize(reachable),
    };
  } finally {
    ctl.close();
    await lab.down();
  }
}

/** The running container of a service on a host: its pid (for nsenter) and its overlay address. */
async function container(lab: LabCluster, ctl: Control, service: string, host: string): Promise<{ pid: number; ip: string }> {
  const { nodes } = await ctl.listNodes({});
  const nodeId = nodes.find((n) => n.description?.hostname === host)!.id;
  await lab.waitFor(async () => (await ctl.listTasks({ service })).tasks.some((t) => t.nodeId === nodeId && t.status?.state === TaskState.RUNNING), 30_000, `${service} on ${host}`);
  const task = (await ctl.listTasks({ service })).tasks.find((t) => t.nodeId === nodeId && t.status?.state === TaskState.RUNNING)!;
  const info = await lab.engine(host).getContainer(task.status!.containerId).inspect();
  return { pid: info.State.Pid, ip: task.networks[0]!.addr.split('/')[0]! };
}

/**
 * Pings `ip` from the container with pid `pid`, a new one-packet probe every
 * PROBE_EVERY_MS, until one is answered; returns when that probe was sent.
 */
async function firstReply(pid: number, ip: string, deadline: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setInterval(() => {
      if (done) return;
      if (Date.now() > deadline) {
        done = true;
        clearInterval(timer);
        reject(new Error(`${ip} not reachable from pid ${pid} within ${REACH_TIMEOUT_MS} ms`));
        return;
      }
      const sentAt = performance.now();
      const p = spawn('nsenter', ['-t', String(pid), '-n', 'busybox', 'ping', '-c', '1', '-W', '1', ip], { stdio: 'ignore' });
      p.on('exit', (code) => {
        if (code === 0 && !done) {
          done = true;
          clearInterval(timer);
          resolve(sentAt);
        }
      });
    }, PROBE_EVERY_MS);
  });
}

/** The results as docs/bench/overlay.md. */
export function overlayMarkdown(r: OverlayResult, machine: string): string {
  return [
    '# Overlay networks: throughput and time to reachable',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- overlay\` on ${machine}; a lab of 3 hosts.`,
    '',
    `## TCP throughput between two lab hosts, Mbit/s (iperf3, ${r.seconds} s per run, ${r.throughputRuns} runs each, alternating)`,
    '',
    '| path | median | min | max |',
    '| --- | --- | --- | --- |',
    mdRow('underlay: host h2 → host h1 (their namespaces, 198.18.x.0/24)', r.underlayMbps),
    mdRow('overlay: container on h2 → container on h1 (veth, bridge, VXLAN, MTU 1450)', r.overlayMbps),
    '',
    `Overlay / underlay (medians): **${(r.overlayMbps.median / r.underlayMbps.median).toFixed(2)}**. ` +
      'Both paths cross the same veth pair between the hosts\' namespaces on one kernel, so the ratio is the cost of VXLAN encapsulation, ' +
      'the bridge and the container veth, not of a physical link.',
    '',
    `## Task created → its endpoint reachable from every other host, milliseconds (${r.reachRuns} runs)`,
    '',
    'A one-replica service on `h1` joins the network; containers on `h2` and `h3` ping its overlay address every 20 ms ' +
      'from the moment it has one. Timed from the create request.',
    '',
    '| what | median | min | max |',
    '| --- | --- | --- | --- |',
    mdRow('created → running (as the manager reports it)', r.running),
    mdRow('created → answering pings from both other hosts', r.reachable),
    '',
    'The endpoint can answer before the manager records the task running: its interface is made while Docker starts the ' +
      'container (the plugin\'s Join), before the process runs, while the running status still has to reach the manager.',
    '',
  ].join('\n');
}
