// Benchmark (issue 13): a rolling update of 12 replicas, parallelism 2, no
// delay, no health check, from one HTTP image to another, on the same 3 lab
// hosts: first orch, then the hosts' own engines in real swarm mode (orch's
// daemons stopped, `docker swarm init/join` as the benchmark's own step).
// Timed from the update call until every slot runs the new image (counted on
// the engines, the same way for both), and until the orchestrator calls the
// update completed (both wait out the 5 s monitor period after the last
// task). The services compared publish nothing: Swarm's routing mesh needs
// IPVS, which this kernel lacks. orch then runs the same updates on a service
// that publishes a port, under a client loop that counts failed requests.
import { performance } from 'node:perf_hooks';
import Docker from 'dockerode';
import { ServiceSpec, UpdateStatus_State } from '../proto/generated/orch.js';
import { DEFAULT_UPDATE } from '../shared/spec.js';
import { clientLoop, type ClientLoop } from '../lab/client-loop.js';
import type { Control } from '../client/control.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { waitFor } from '../lab/run.js';
import { docker, startSwarm } from './swarm.js';
import { LABEL } from '../agent/exec/labels.js';
import { MD_HEADER, mdRow, ratio, summarize, type Summary } from './stats.js';

const RUNS = 3;
const REPLICAS = 12;
const PARALLELISM = 2;
const IMAGES = ['orch-test/httpd:latest', 'orch-test/httpd:2'] as const;
const PORT = 8090;
const POLL_MS = 50;

export interface RollingUpdateResult {
  runs: number;
  replicas: number;
  parallelism: number;
  orchAllNew: Summary;
  orchCompleted: Summary;
  swarmAllNew: Summary;
  swarmCompleted: Summary;
  /** orch's median to all-new over Swarm's. */
  ratio: number;
  /** The same updates of a service that publishes a port, under the client loop. */
  orchPublishedAllNew: Summary;
  requests: number;
  failedRequests: number;
  /** What the failed requests met (host and error), the first ten. */
  failures: string[];
}

export async function benchRollingUpdate(log: (line: string) => void): Promise<RollingUpdateResult> {
  const lab = await LabCluster.up({ name: 'broll', index: 241, hosts: 3, managers: 1 });
  const s = { orchAllNew: [] as number[], orchCompleted: [] as number[], orchPublishedAllNew: [] as number[], swarmAllNew: [] as number[], swarmCompleted: [] as number[] };
  const failures: string[] = [];
  let requests = 0;
  let failed = 0;
  try {
    const ctl = lab.control();
    try {
      // As Swarm runs it here: publishing nothing.
      await rollOrch(ctl, lab, 'roll', false, log, async (allNew, completed) => {
        s.orchAllNew.push(allNew);
        s.orchCompleted.push(completed);
      });
      // Publishing a port, asked round robin on every host while it rolls.
      const hosts = lab.state.hosts.map((h) => h.addr);
      let loop: ClientLoop | undefined;
      await rollOrch(ctl, lab, 'pub', true, log, async (allNew) => {
        s.orchPublishedAllNew.push(allNew);
        await loop!.stop();
        requests += loop!.samples.length;
        const bad = loop!.samples.filter((x) => !x.ok);
        failed += bad.length;
        failures.push(...bad.map((x) => `${x.host}: ${x.err}`));
      }, async () => {
        loop = clientLoop(() => hosts, PORT, { timeoutMs: 2000, max: 100_000 });
        await new Promise((r) => setTimeout(r, 500));
      });
    } finally {
      ctl.close();
    }

    // The same hosts in swarm mode: orch's daemons stopped first, so only Swarm acts on the engines.
    for (const h of lab.state.hosts) {
      for (const d of ['agent', 'manager'] as const) if (h.pids[d]) await lab.signal(h.name, d, 'SIGKILL');
    }
    await startSwarm(lab);
    const first = docker(lab, 'h1');
    await first(['service', 'create', '--detach', '--no-resolve-image', '--name', 'roll', '--replicas', String(REPLICAS), '--stop-grace-period', '1s', '--update-parallelism', String(PARALLELISM), '--update-delay', '0s', IMAGES[0]]);
    await untilImage(lab, 'com.docker.swarm.service.name', 'roll', IMAGES[0]);
    for (let run = 0; run < RUNS; run++) {
      const image = IMAGES[(run + 1) % 2]!;
      log(`swarm run ${run + 1}/${RUNS}: → ${image}`);
      const t0 = performance.now();
      await first(['service', 'update', '--detach', '--no-resolve-image', '--image', image, 'roll']);
      await untilImage(lab, 'com.docker.swarm.service.name', 'roll', image);
      s.swarmAllNew.push(performance.now() - t0);
      await waitFor(async () => (await first(['service', 'inspect', '--format', '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}', 'roll'])).trim() === 'completed', 120_000, 'swarm update completed', POLL_MS);
      s.swarmCompleted.push(performance.now() - t0);
    }
    await first(['service', 'rm', 'roll']);
  } finally {
    await lab.down();
  }
  const r = {
    runs: RUNS,
    replicas: REPLICAS,
    parallelism: PARALLELISM,
    orchAllNew: summarize(s.orchAllNew),
    orchCompleted: summarize(s.orchCompleted),
    orchPublishedAllNew: summarize(s.orchPublishedAllNew),
    swarmAllNew: summarize(s.swarmAllNew),
    swarmCompleted: summarize(s.swarmCompleted),
    requests,
    failedRequests: failed,
    failures: failures.slice(0, 10),
  };
  return { ...r, ratio: Number(ratio(r.orchAllNew.median, r.swarmAllNew.median)) };
}

/**
 * Creates a 12-replica orch service (publishing PORT if asked), rolls it RUNS
 * times between the two images, hands each run's times to `measured`
 * (`before` runs ahead of each update), then removes it.
 */
async function rollOrch(
  ctl: Control,
  lab: LabCluster,
  name: string,
  publish: boolean,
  log: (line: string) => void,
  measured: (allNewMs: number, completedMs: number) => Promise<void>,
  before: () => Promise<void> = async () => undefined,
): Promise<void> {
  await ctl.createService(
    ServiceSpec.fromPartial({
      name,
      replicas: REPLICAS,
      container: { image: IMAGES[0], stopGracePeriodMs: 1000 },
      endpoint: publish ? { ports: [{ targetPort: 80, publishedPort: PORT }] } : undefined,
      updateConfig: { ...DEFAULT_UPDATE, parallelism: PARALLELISM, delayMs: 0 },
    }),
  );
  await untilImage(lab, LABEL.serviceName, name, IMAGES[0]);
  for (let run = 0; run < RUNS; run++) {
    const image = IMAGES[(run + 1) % 2]!;
    log(`orch${publish ? ', publishing a port,' : ''} run ${run + 1}/${RUNS}: → ${image}`);
    await before();
    const cur = await ctl.getService({ ref: name });
    const t0 = performance.now();
    await ctl.updateService({ ref: cur.id, version: cur.version, spec: { ...cur.spec!, container: { ...cur.spec!.container!, image } }, rebalance: false });
    await untilImage(lab, LABEL.serviceName, name, image);
    const allNew = performance.now() - t0;
    await waitFor(async () => (await ctl.getService({ ref: name })).updateStatus?.state === UpdateStatus_State.COMPLETED, 120_000, 'orch update completed', POLL_MS);
    await measured(allNew, performance.now() - t0);
  }
  await ctl.removeService({ ref: name });
  await waitFor(async () => (await containersOf(lab, LABEL.serviceName, name)).length === 0, 60_000, 'orch containers gone', POLL_MS);
}

/** Running containers of a service (by the orchestrator's label for its name), over every host's engine. */
async function containersOf(lab: LabCluster, label: string, name: string): Promise<Docker.ContainerInfo[]> {
  const out: Docker.ContainerInfo[] = [];
  for (const h of lab.state.hosts) out.push(...(await lab.engine(h.name).listContainers({ filters: { label: [`${label}=${name}`] } })));
  return out;
}

/** Until exactly REPLICAS containers of the service run, every one of `image`. */
function untilImage(lab: LabCluster, label: string, name: string, image: string): Promise<void> {
  const want = image.replace(/:latest$/, '');
  return waitFor(
    async () => {
      const list = await containersOf(lab, label, name);
      return list.length === REPLICAS && list.every((c) => c.Image.replace(/:latest$/, '').replace(/@sha256:.*$/, '') === want);
    },
    120_000,
    `${REPLICAS} containers of ${image}`,
    POLL_MS,
  );
}

/** The results as docs/bench/rolling-update.md. */
export function rollingUpdateMarkdown(r: RollingUpdateResult, machine: string): string {
  return [
    `# Rolling update of ${r.replicas} replicas: orch and Docker Swarm on the same lab hosts`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- rolling-update\` on ${machine}; ` +
      `a lab of 3 hosts (network namespaces, a dockerd each). orch first (1 manager), then the same engines in swarm mode ` +
      `(orch's daemons stopped; \`docker swarm init\` and \`join\` in the benchmark). ${r.runs} updates each, alternating ` +
      `between two HTTP images; parallelism ${r.parallelism}, no delay, no health check, stop grace 1 s, stop-first; milliseconds from the update call.`,
    '',
    ...MD_HEADER,
    `${mdRow('orch: every slot runs the new image (on the engines)', r.orchAllNew)}`,
    `${mdRow('Swarm: every slot runs the new image (on the engines)', r.swarmAllNew)}`,
    `${mdRow('orch: update completed (after the 5 s monitor period)', r.orchCompleted)}`,
    `${mdRow('Swarm: update completed (after the 5 s monitor period)', r.swarmCompleted)}`,
    `${mdRow('orch, the service publishing a port, under the client loop: every slot on the new image', r.orchPublishedAllNew)}`,
    '',
    `orch / Swarm, to every slot on the new image: **${r.ratio}×** (target ≤ 0.5×). Both services publish nothing: Swarm's routing mesh needs IPVS, which this kernel lacks.`,
    '',
    `Requests through orch's published port during its updates, round robin over the 3 hosts: ${r.requests}, of which failed: **${r.failedRequests}** (target 0)` +
      (r.failures.length ? `: ${r.failures.map((f) => `\`${f}\``).join(', ')}.` : '.'),
    '',
  ].join('\n');
}
