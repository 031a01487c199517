// Benchmark (issue 14): the cost of delivering secrets. On 3 lab hosts, a
// 3-replica service that mounts 10 secrets is created → all running,
// against the same service without secrets, alternating, in the same run.
import { performance } from 'node:perf_hooks';
import { ServiceSpec, TaskState } from '../proto/generated/orch.js';
import type { Control } from '../client/control.js';
import { SLEEP_IMAGE } from '../lab/images.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { waitFor } from '../lab/run.js';
import { MD_HEADER, mdRow, ratio, summarize, type Summary } from './stats.js';

const RUNS = 5;
const SECRETS = 10;
const REPLICAS = 3;
const POLL_MS = 10;

export interface SecretsResult {
  runs: number;
  secrets: number;
  replicas: number;
  withSecrets: Summary;
  without: Summary;
  ratio: number;
}

export async function benchSecrets(log: (line: string) => void): Promise<SecretsResult> {
  const lab = await LabCluster.up({ name: 'bsec', index: 238, hosts: 3, managers: 1 });
  const ctl = lab.control();
  const s = { withSecrets: [] as number[], without: [] as number[] };
  try {
    for (let i = 0; i < SECRETS; i++) await ctl.createSecret({ name: `s${i}`, labels: {}, data: Buffer.from(`value ${i} `.repeat(64)) });
    for (let run = 0; run < RUNS; run++) {
      log(`run ${run + 1}/${RUNS}`);
      for (const secrets of [true, false]) {
        const t0 = performance.now();
        const svc = await ctl.createService(
          ServiceSpec.fromPartial({
            name: `${secrets ? 'with' : 'without'}${run}`,
            replicas: REPLICAS,
            container: {
              image: SLEEP_IMAGE,
              stopGracePeriodMs: 1000,
              secrets: secrets ? Array.from({ length: SECRETS }, (_, i) => ({ secretName: `s${i}`, secretId: '' })) : [],
            },
          }),
        );
        await untilRunning(ctl, svc.id);
        (secrets ? s.withSecrets : s.without).push(performance.now() - t0);
        await ctl.removeService({ ref: svc.id });
        await waitFor(async () => (await ctl.listTasks({ service: '' })).tasks.length === 0, 60_000, 'tasks gone', POLL_MS);
      }
    }
  } finally {
    ctl.close();
    await lab.down();
  }
  const r = { runs: RUNS, secrets: SECRETS, replicas: REPLICAS, withSecrets: summarize(s.withSecrets), without: summarize(s.without) };
  return { ...r, ratio: Number(ratio(r.withSecrets.median, r.without.median)) };
}

function untilRunning(ctl: Control, serviceId: string): Promise<void> {
  return waitFor(
    async () => (await ctl.listTasks({ service: serviceId })).tasks.filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).length === REPLICAS,
    60_000,
    'all replicas running',
    POLL_MS,
  );
}

/** The results as docs/bench/secrets.md. */
export function secretsMarkdown(r: SecretsResult, machine: string): string {
  return [
    `# Secret delivery: ${r.replicas} replicas with ${r.secrets} secrets`,
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench -- secrets\` on ${machine}; a lab of 3 hosts (1 manager), ` +
      `${r.runs} runs of each, alternating; milliseconds from \`CreateService\` until every replica runs (control API polled every ${POLL_MS} ms).`,
    '',
    ...MD_HEADER,
    mdRow(`${r.replicas} replicas, each mounting ${r.secrets} secrets (640 bytes each)`, r.withSecrets),
    mdRow(`${r.replicas} replicas, no secret`, r.without),
    '',
    `With secrets / without: **${r.ratio}×** (target ≤ 1.2×).`,
    '',
  ].join('\n');
}
