// Docker Swarm on the lab's hosts, for the benchmarks that compare orch with
// it on the same engines: the docker CLI against one host's engine, and a
// swarm made of every host (h1 initialises it, the others join as workers).
import type { LabCluster } from '../lab/lab-cluster.js';
import { waitFor } from '../lab/run.js';
import { sh } from '../shared/sh.js';

/** Swarm's data path port, away from the VXLAN port orch's overlay uses. */
const SWARM_DATA_PORT = 4799;

/** Runs the docker CLI against one lab host's engine. */
export function docker(lab: LabCluster, host: string): (args: string[]) => Promise<string> {
  return (args) => sh('docker', ['-H', `unix://${lab.host(host).dockerSocket}`, ...args], { timeoutMs: 60_000 });
}

/** h1 initialises a swarm on its underlay address, h2 and h3 join it as workers. */
export async function startSwarm(lab: LabCluster): Promise<void> {
  const [first, ...rest] = lab.state.hosts;
  await docker(lab, first!.name)(['swarm', 'init', '--advertise-addr', first!.addr, '--listen-addr', `${first!.addr}:2377`, '--data-path-port', String(SWARM_DATA_PORT)]);
  const token = (await docker(lab, first!.name)(['swarm', 'join-token', '-q', 'worker'])).trim();
  for (const h of rest) await docker(lab, h.name)(['swarm', 'join', '--token', token, '--advertise-addr', h.addr, '--listen-addr', `${h.addr}:2377`, `${first!.addr}:2377`]);
  await waitFor(async () => (await docker(lab, first!.name)(['node', 'ls', '--format', '{{.Status}}'])).trim().split('\n').filter((x) => x === 'Ready').length === lab.state.hosts.length, 60_000, 'swarm nodes ready', 200);
}

