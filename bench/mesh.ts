// Benchmark on a 3-host lab (issues 5 and 11): TCP throughput through a
// published port (the routing mesh: nftables DNAT in the host, the ingress
// overlay, SNAT) against the same container reached without the mesh (a
// host-mode published port, mapped by Docker on the task's own host), in one
// run. The client is on h3; the task is on h2. Through the mesh it is reached
// via h2 (the task's host), via h2 with traffic=local (no SNAT), and via h1
// (a host without a replica). Then a client loop on every host's published
// port while h1's agent is frozen for 10 s: how many requests fail, and how
// many of those hang (run into their deadline) rather than being refused.
import { PortConfig_TrafficPolicy, ServiceSpec, TaskState } from '../proto/generated/orch.js';
import type { Control } from '../client/control.js';
import { clientLoop } from '../lab/client-loop.js';
import { HTTP_IMAGE, SLEEP_IMAGE } from '../lab/images.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { iperf } from './iperf.js';
import { type Summary, mdRow, summarize } from './stats.js';

const RUNS = 3;
const SECONDS = 5;
const FROZEN_MS = 10_000;
const REQUEST_TIMEOUT_MS = 2000;

/** Requests to every host while one host's agent is frozen. */
export interface FrozenAgentResult {
  frozenMs: number;
  timeoutMs: number;
  /** Per host asked: requests, failed, hung (ran into the deadline). */
  hosts: Array<{ host: string; requests: number; failed: number; hung: number; slowestMs: number }>;
}

export interface MeshResult {
  runs: number;
  seconds: number;
  direct: Summary;
  meshViaTaskHost: Summary;
  meshLocalViaTaskHost: Summary;
  meshViaOtherHost: Summary;
  frozenAgent: FrozenAgentResult;
}

export async function benchMesh(log: (line: string) => void): Promise<MeshResult> {
  const lab = await LabCluster.up({ name: 'bmesh', index: 246, hosts: 3, managers: 1 });
  const ctl = lab.control();
  try {
    const onH2 = { constraints: ['node.hostname==h2'] };
    await ctl.createService(ServiceSpec.fromPartial({ name: 'mesh', replicas: 1, placement: onH2, container: { image: SLEEP_IMAGE }, endpoint: { ports: [{ targetPort: 5201, publishedPort: 5201 }] } }));
    await ctl.createService(ServiceSpec.fromPartial({ name: 'direct', replicas: 1, placement: onH2, container: { image: SLEEP_IMAGE }, endpoint: { ports: [{ targetPort: 5201, publishedPort: 5202, publishMode: 1 }] } }));
    const local = { targetPort: 5201, publishedPort: 5203, trafficPolicy: PortConfig_TrafficPolicy.LOCAL };
    await ctl.createService(ServiceSpec.fromPartial({ name: 'local', replicas: 1, placement: onH2, container: { image: SLEEP_IMAGE }, endpoint: { ports: [local] } }));
    const meshPid = await containerPid(lab, ctl, 'mesh');
    const directPid = await containerPid(lab, ctl, 'direct');
    const localPid = await containerPid(lab, ctl, 'local');
    const [h1, h2, h3] = lab.state.hosts;
    const client = `--net=/var/run/netns/${h3!.netns}`;
    const direct: number[] = [];
    const viaTask: number[] = [];
    const viaOther: number[] = [];
    const localViaTask: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      log(`run ${run + 1}/${RUNS}`);
      const inside = (pid: number) => ['-t', String(pid), '-n'];
      direct.push(await iperf(inside(directPid), [client], h2!.addr, { port: 5201, dialPort: 5202, seconds: SECONDS }));
      viaTask.push(await iperf(inside(meshPid), [client], h2!.addr, { port: 5201, seconds: SECONDS }));
      localViaTask.push(await iperf(inside(localPid), [client], h2!.addr, { port: 5201, dialPort: 5203, seconds: SECONDS }));
      viaOther.push(await iperf(inside(meshPid), [client], h1!.addr, { port: 5201, seconds: SECONDS }));
    }
    for (const name of ['mesh', 'direct', 'local']) await ctl.removeService({ ref: name });
    log(`a client loop on every host while h1's agent is frozen for ${FROZEN_MS / 1000} s`);
    const frozenAgent = await frozenAgentLoop(lab);
    return {
      runs: RUNS,
      seconds: SECONDS,
      direct: summarize(direct),
      meshViaTaskHost: summarize(viaTask),
      meshLocalViaTaskHost: summarize(localViaTask),
      meshViaOtherHost: summarize(viaOther),
      frozenAgent,
    };
  } finally {
    ctl.close();
    await lab.down();
  }
}

/** 3 replicas (one a host) published on 8080; h1's agent frozen (SIGSTOP) for FROZEN_MS under a client loop over all hosts. */
async function frozenAgentLoop(lab: LabCluster): Promise<FrozenAgentResult> {
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '3', '-p', '8080:80', '--stop-grace-period', '1s', HTTP_IMAGE);
  await lab.ok('service', 'update', 'web', '--rebalance');
  const hosts = lab.state.hosts.map((h) => h.addr);
  const loop = clientLoop(() => hosts, 8080, { timeoutMs: REQUEST_TIMEOUT_MS, max: 500_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const from = Date.now();
  await lab.signal('h1', 'agent', 'SIGSTOP');
  await new Promise((r) => setTimeout(r, FROZEN_MS));
  await lab.signal('h1', 'agent', 'SIGCONT');
  const to = Date.now();
  await loop.stop();
  const away = loop.samples.filter((x) => x.at >= from && x.at < to);
  return {
    frozenMs: FROZEN_MS,
    timeoutMs: REQUEST_TIMEOUT_MS,
    hosts: lab.state.hosts.map((h) => {
      const mine = away.filter((x) => x.host === h.addr);
      const failed = mine.filter((x) => !x.ok);
      return { host: h.name, requests: mine.length, failed: failed.length, hung: failed.filter((x) => x.ms >= REQUEST_TIMEOUT_MS - 50).length, slowestMs: Math.max(0, ...mine.map((x) => x.ms)) };
    }),
  };
}

async function containerPid(lab: LabCluster, ctl: Control, service: string): Promise<number> {
  await lab.waitFor(async () => (await ctl.listTasks({ service })).tasks.some((t) => t.status?.state === TaskState.RUNNING), 30_000, `${service} running`);
  const task = (await ctl.listTasks({ service })).tasks.find((t) => t.status?.state === TaskState.RUNNING)!;
  return (await lab.engine('h2').getContainer(task.status!.containerId).inspect()).State.Pid;
}

/** The results as docs/bench/mesh.md. */
export function meshMarkdown(r: MeshResult, machine: string): string {
  const pct = (x: Summary) => `${Math.round((100 * x.median) / r.direct.median)} %`;
  const f = r.frozenAgent;
  return [
    '# The routing mesh: throughput through a published port, and a host whose agent is frozen',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- mesh\` on ${machine}; a lab of 3 hosts, ` +
      `iperf3 (TCP, ${r.seconds} s per run, ${r.runs} runs each, alternating), Mbit/s. The task runs on h2; the client is on h3.`,
    '',
    '| path | median | min | max | of direct |',
    '| --- | --- | --- | --- | --- |',
    `${mdRow('direct: h3 → h2:5202, host-mode port (Docker\'s DNAT on the task\'s host)', r.direct)} 100 % |`,
    `${mdRow('mesh via the task\'s host: h3 → h2:5201 (DNAT, ingress overlay, SNAT)', r.meshViaTaskHost)} ${pct(r.meshViaTaskHost)} |`,
    `${mdRow('mesh via the task\'s host, traffic=local: h3 → h2:5203 (DNAT, ingress overlay, no SNAT)', r.meshLocalViaTaskHost)} ${pct(r.meshLocalViaTaskHost)} |`,
    `${mdRow('mesh via another host: h3 → h1:5201 (DNAT on h1, VXLAN to h2, SNAT)', r.meshViaOtherHost)} ${pct(r.meshViaOtherHost)} |`,
    '',
    'Target (issue 11, DESIGN.md §7): a published port on every node at ≥ 80 % of direct throughput. Swarm\'s routing mesh does not work on this kernel (no IPVS).',
    '',
    `## h1's agent frozen (SIGSTOP) for ${f.frozenMs / 1000} s under a client loop over every host's published port`,
    '',
    `3 replicas, one a host; one request at a time, round robin over the hosts, each with a ${f.timeoutMs} ms deadline. A request that failed by running into its deadline hung; any other failure was refused at once.`,
    '',
    '| host asked | requests | failed | of which hung | slowest, ms |',
    '| --- | --- | --- | --- | --- |',
    ...f.hosts.map((h) => `| ${h.host}${h.host === 'h1' ? ' (agent frozen)' : ''} | ${h.requests} | ${h.failed} | ${h.hung} | ${h.slowestMs} |`),
    '',
    'Target (issue 11): 0 hung requests. Before issue 11 the frozen host\'s port stopped answering once its node was marked down (80 % success over 5 hosts in the chaos run).',
    '',
  ].join('\n');
}
