// The workload a chaos run keeps busy: a replicated service on an overlay
// network published on every host, a global service, a second service on the
// same network; and a bounded client loop through the published port,
// recording every request's outcome and time.
import type { LabCluster } from '../lab/lab-cluster.js';
import { BURST } from './faults.js';
import { httpGet } from '../lab/run.js';

export const PUBLISHED_PORT = 8080;

/** What the run created, as it must still be at the end (specs intact). */
export const SERVICES = [
  { name: BURST.service, args: ['--replicas', String(BURST.replicas), '--network', 'chaos', '-p', `${PUBLISHED_PORT}:80`, '--restart-delay', '200ms', '--stop-grace-period', '1s', 'orch-test/httpd'] },
  { name: 'api', args: ['--replicas', '3', '--network', 'chaos', '--restart-delay', '200ms', '--stop-grace-period', '1s', 'orch-test/httpd'] },
  { name: 'agentd', args: ['--mode', 'global', '--restart-delay', '200ms', '--stop-grace-period', '1s', 'orch-test/sleep'] },
];

export async function startWorkload(lab: LabCluster): Promise<void> {
  await lab.ok('network', 'create', 'chaos');
  for (const s of SERVICES) await lab.ok('service', 'create', '--name', s.name, ...s.args);
}

export interface Outcome {
  at: number;
  host: string;
  ok: boolean;
}

/** Requests to the published port, round robin over the hosts `targets()` names, until stopped (at most `max`). */
export function clientLoop(targets: () => string[], max: number): { outcomes: Outcome[]; stop: () => Promise<void> } {
  const outcomes: Outcome[] = [];
  let running = true;
  const done = (async () => {
    for (let i = 0; running && i < max; i++) {
      const list = targets();
      if (!list.length) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const host = list[i % list.length]!;
      const at = Date.now();
      const ok = await get(host);
      outcomes.push({ at, host, ok });
      if (!ok) await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    outcomes,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** One GET with a 1 s deadline: true if it answered 200. */
function get(host: string): Promise<boolean> {
  return httpGet(host, PUBLISHED_PORT, 1000).then(() => true, () => false);
}
