// Benchmark (issue 17): `stack deploy` of a 6-service stack (12 containers)
// until every container runs, counted on the engines the same way for both:
// first orch (`orch stack deploy`), then the same hosts' engines in swarm
// mode (`docker stack deploy`; orch's daemons stopped first). Both through
// their real CLIs, from the call until the last container of the stack runs
// on the lab's engines; the stack is removed and its containers gone before
// the next run.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LabCluster } from '../lab/lab-cluster.js';
import { waitFor } from '../lab/run.js';
import { docker, startSwarm } from './swarm.js';
import { MD_HEADER, mdRow, ratio, summarize, type Summary } from './stats.js';

const RUNS = 5;
const FILE = join(import.meta.dirname, '../../bench/fixtures/six-services.yml');
const STACK = 'bench';
/** 3 + 2 + 2 + 1 + 1 replicas, and the global service on each of the 3 hosts. */
const CONTAINERS = 12;
const POLL_MS = 50;

export interface StackDeployResult {
  runs: number;
  services: number;
  containers: number;
  orch: Summary;
  swarm: Summary;
  /** orch's median over Swarm's. */
  ratio: number;
}

export async function benchStackDeploy(log: (line: string) => void): Promise<StackDeployResult> {
  const lab = await LabCluster.up({ name: 'bstack', index: 235, hosts: 3, managers: 1 });
  const orch: number[] = [];
  const swarm: number[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      log(`orch run ${run + 1}/${RUNS}`);
      const t0 = performance.now();
      await lab.ok('stack', 'deploy', '--detach', '-c', FILE, STACK);
      await untilRunning(lab, CONTAINERS);
      orch.push(performance.now() - t0);
      await lab.ok('stack', 'rm', STACK);
      await untilRunning(lab, 0, true);
    }
    for (const h of lab.state.hosts) for (const d of ['agent', 'manager'] as const) if (h.pids[d]) await lab.signal(h.name, d, 'SIGKILL');
    await startSwarm(lab);
    const first = docker(lab, 'h1');
    for (let run = 0; run < RUNS; run++) {
      log(`swarm run ${run + 1}/${RUNS}`);
      const t0 = performance.now();
      await first(['stack', 'deploy', '--resolve-image', 'never', '-c', FILE, STACK]);
      await untilRunning(lab, CONTAINERS);
      swarm.push(performance.now() - t0);
      await first(['stack', 'rm', STACK]);
      await untilRunning(lab, 0, true);
      // Swarm removes a stack's networks after its tasks; a deploy meanwhile would find them going.
      await waitFor(async () => !(await first(['network', 'ls', '--format', '{{.Name}}'])).split('\n').some((n) => n.startsWith(`${STACK}_`)), 60_000, 'swarm stack networks gone', 200);
    }
  } finally {
    await lab.down();
  }
  const r = { runs: RUNS, services: 6, containers: CONTAINERS, orch: summarize(orch), swarm: summarize(swarm) };
  return { ...r, ratio: Number(ratio(r.orch.median, r.swarm.median)) };
}

/** Until exactly `n` containers of the stack run over the lab's engines (with `all`, exist at all). */
function untilRunning(lab: LabCluster, n: number, all = false): Promise<void> {
  return waitFor(
    async () => {
      let count = 0;
      for (const h of lab.state.hosts) count += (await lab.engine(h.name).listContainers({ all, filters: { label: [`com.docker.stack.namespace=${STACK}`] } })).length;
      return count === n;
    },
    120_000,
    `${n} containers of stack ${STACK}`,
    POLL_MS,
  );
}

/** The results as docs/bench/stack-deploy.md. */
export function stackDeployMarkdown(r: StackDeployResult, machine: string): string {
  return [
    `# Deploying a stack of ${r.services} services: orch and Docker Swarm on the same lab hosts`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- stack-deploy\` on ${machine}; ` +
      `a lab of 3 hosts (network namespaces, a dockerd each). The stack is \`bench/fixtures/six-services.yml\`: ${r.services} services, ` +
      `${r.containers} containers, two overlay networks, a named volume, a global service. orch first (1 manager, \`orch stack deploy --detach\`), ` +
      `then the same engines in swarm mode (orch's daemons stopped; \`docker stack deploy --resolve-image never\`). ${r.runs} deploys each, ` +
      'the stack removed and its containers gone between them; milliseconds from the CLI call until every container of the stack runs, counted on the engines.',
    '',
    ...MD_HEADER,
    mdRow('orch stack deploy: every container running', r.orch),
    mdRow('docker stack deploy (Swarm): every container running', r.swarm),
    '',
    `orch / Swarm: **${r.ratio}×**. Both times include starting the CLI (node for orch, the docker binary for Swarm).`,
    '',
  ].join('\n');
}
