// `npm run bench [-- NAME...]`: runs the benchmarks (all, or those named:
// service-start, lab-cluster, managers, mesh, overlay) and writes their results to docs/bench/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { benchLabCluster, type LabClusterResult } from './lab-cluster.js';
import { benchManagers, type ManagersResult } from './managers.js';
import { benchMesh, type MeshResult } from './mesh.js';
import { benchOverlay, type OverlayResult } from './overlay.js';
import { benchServiceStart, type ServiceStartResult } from './service-start.js';
import type { Summary } from './stats.js';

const OUT = resolve(import.meta.dirname, '../../docs/bench');

const BENCHES: Record<string, (machine: string) => Promise<string>> = {
  'service-start': async (machine) => {
    const r = await benchServiceStart((line) => process.stderr.write(`service-start: ${line}\n`));
    return write('service-start', machine, r, serviceStartMarkdown(r, machine));
  },
  'lab-cluster': async (machine) => {
    const r = await benchLabCluster((line) => process.stderr.write(`lab-cluster: ${line}\n`));
    return write('lab-cluster', machine, r, labClusterMarkdown(r, machine));
  },
  mesh: async (machine) => {
    const r = await benchMesh((line) => process.stderr.write(`mesh: ${line}\n`));
    return write('mesh', machine, r, meshMarkdown(r, machine));
  },
  managers: async (machine) => {
    const r = await benchManagers((line) => process.stderr.write(`managers: ${line}\n`));
    return write('managers', machine, r, managersMarkdown(r, machine));
  },
  overlay: async (machine) => {
    const r = await benchOverlay((line) => process.stderr.write(`overlay: ${line}\n`));
    return write('overlay', machine, r, overlayMarkdown(r, machine));
  },
};

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  for (const n of names) if (!BENCHES[n]) throw new Error(`no benchmark "${n}"; there are ${Object.keys(BENCHES).join(', ')}`);
  const engine = await new Docker({ socketPath: '/var/run/docker.sock' }).version();
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Docker Engine ${engine.Version}`;
  for (const n of names.length ? names : Object.keys(BENCHES)) process.stdout.write(await BENCHES[n]!(machine));
}

function write(name: string, machine: string, result: object, md: string): string {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${name}.json`), `${JSON.stringify({ date: new Date().toISOString(), machine, ...result }, null, 2)}\n`);
  writeFileSync(join(OUT, `${name}.md`), md);
  return md;
}

const row = (what: string, s: Summary) => `| ${what} | ${s.median} | ${s.min} | ${s.max} |`;
const header = ['| what | median | min | max |', '| --- | --- | --- | --- |'];
const ratio = (a: number, b: number) => (a / b).toFixed(2);

function serviceStartMarkdown(r: ServiceStartResult, machine: string): string {
  return [
    '# Service start: orch vs `docker run -d`',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- service-start\` on ${machine}; ${r.runs} runs each, milliseconds.`,
    '',
    ...header,
    row('`orch service create --replicas 1` (CLI, returns when running)', r.orchCli1),
    row('`orch service create --replicas 10` (CLI, returns when all run)', r.orchCli10),
    row('orch API: create 1 replica → running', r.orchApi1),
    row('orch API: create 10 replicas → all running', r.orchApi10),
    row('`docker run -d` × 1', r.dockerRun1),
    row('`docker run -d` × 10, one after another', r.dockerRun10Sequential),
    row('`docker run -d` × 10, all at once', r.dockerRun10Parallel),
    '',
    `Ratios (orch CLI / docker run, medians): 1 replica **${ratio(r.orchCli1.median, r.dockerRun1.median)}×**; ` +
      `10 replicas **${ratio(r.orchCli10.median, r.dockerRun10Sequential.median)}×** of sequential \`docker run -d\`, ` +
      `**${ratio(r.orchCli10.median, r.dockerRun10Parallel.median)}×** of parallel.`,
    '',
  ].join('\n');
}

function labClusterMarkdown(r: LabClusterResult, machine: string): string {
  return [
    `# A ${r.hosts}-host lab: failure recovery, create and scale`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- lab-cluster\` on ${machine}; ` +
      `a lab of ${r.hosts} hosts (network namespaces, a dockerd each, 1 manager), ${r.runs} runs each, milliseconds, ` +
      'through the control API polled every 10 ms unless marked CLI. Targets and Swarm figures are from DESIGN.md §7 (Swarm measured on the same kind of lab).',
    '',
    '| what | median | min | max | target | Swarm |',
    '| --- | --- | --- | --- | --- | --- |',
    `${row('worker host SIGKILLed → all 6 replicas running again', r.killRecovery)} ≤ 2000 | 18500 |`,
    `${row('… of which: until the node is marked down', r.killDetection)} | 13500–16500 |`,
    `${row('service create, 4 replicas → all running', r.create4Api)} ≤ 500 | 1070 |`,
    `${row('`orch service create --replicas 4` (CLI, returns when all run)', r.create4Cli)} | |`,
    `${row('scale 4 → 20 replicas → all running', r.scale4to20Api)} ≤ 1000 | 2040 |`,
    `${row('for scale: `docker run -d` × 1 on one lab host', r.dockerRun1)} | |`,
    `${row('for scale: 16 × `docker run -d` at once over the 3 lab hosts (6/5/5)', r.dockerRun16Parallel)} | |`,
    '',
    'The Docker rows are the engines alone, in the same lab and run: one container, and the 16 containers a 4 → 20 ' +
      'scale-up adds, started at once and spread as orch spreads them. The 3 engines share this machine\'s 2 cores.',
    '',
  ].join('\n');
}

function meshMarkdown(r: MeshResult, machine: string): string {
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
    `${row('direct: h3 → h2:5202, host-mode port (Docker\'s DNAT on the task\'s host)', r.direct)} 100 % |`,
    `${row('mesh via the task\'s host: h3 → h2:5201 (DNAT, ingress overlay, SNAT)', r.meshViaTaskHost)} ${pct(r.meshViaTaskHost)} |`,
    `${row('mesh via the task\'s host, traffic=local: h3 → h2:5203 (DNAT, ingress overlay, no SNAT)', r.meshLocalViaTaskHost)} ${pct(r.meshLocalViaTaskHost)} |`,
    `${row('mesh via another host: h3 → h1:5201 (DNAT on h1, VXLAN to h2, SNAT)', r.meshViaOtherHost)} ${pct(r.meshViaOtherHost)} |`,
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

function managersMarkdown(r: ManagersResult, machine: string): string {
  const lat = (what: string, l: ManagersResult['latency']['lsLeader']) => `| ${what} | ${l.p50} | ${l.p99} | ${l.n} |`;
  return [
    '# Several managers: leader failover and control API latency',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- managers\` on ${machine}: a lab of 3 hosts, each a manager over a 3-member etcd, each also running an agent.`,
    '',
    `## Leader's host killed (${r.runs} runs, milliseconds from the kill)`,
    '',
    ...header,
    row('a new leader serving: a service created after the kill has its task placed (target ≤ 3000)', r.failoverServing),
    row("the new leader's key in etcd", r.failoverElected),
    '',
    "Followers ping the leader every 250 ms and replace it after 4 missed pings, without waiting for its lease (2 s TTL, which etcd also extends when its own raft leader changes). The leader keeps etcd's raft leader off its own host, so losing one host never costs two elections in series; before that, runs where the killed host held both took 2.7–3.7 s (median 3.2 s over 5 runs).",
    '',
    `## Control API latency with ${r.services} services (milliseconds; gRPC over mutual TLS on an open connection)`,
    '',
    '| call | p50 | p99 | samples |',
    '| --- | --- | --- | --- |',
    lat('`service ls` through the leader', r.latency.lsLeader),
    lat('`service ls` through a follower', r.latency.lsFollower),
    lat('`service create` through the leader', r.latency.createLeader),
    lat('`service create` through a follower', r.latency.createFollower),
    '',
    'Every manager answers reads from its own mirror of etcd and writes to etcd itself (compare-and-swap transactions), so a follower does not forward to the leader. A reply waits until the manager\'s mirror holds the write (read your writes).',
    '',
  ].join('\n');
}

function overlayMarkdown(r: OverlayResult, machine: string): string {
  return [
    '# Overlay networks: throughput and time to reachable',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- overlay\` on ${machine}; a lab of 3 hosts.`,
    '',
    `## TCP throughput between two lab hosts, Mbit/s (iperf3, ${r.seconds} s per run, ${r.throughputRuns} runs each, alternating)`,
    '',
    '| path | median | min | max |',
    '| --- | --- | --- | --- |',
    row('underlay: host h2 → host h1 (their namespaces, 198.18.x.0/24)', r.underlayMbps),
    row('overlay: container on h2 → container on h1 (veth, bridge, VXLAN, MTU 1450)', r.overlayMbps),
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
    row('created → running (as the manager reports it)', r.running),
    row('created → answering pings from both other hosts', r.reachable),
    '',
    'The endpoint can answer before the manager records the task running: its interface is made while Docker starts the ' +
      'container (the plugin\'s Join), before the process runs, while the running status still has to reach the manager.',
    '',
  ].join('\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
