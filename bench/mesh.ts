// Benchmark on a 3-host lab (issue 5): TCP throughput through a published
// port (the routing mesh: nftables DNAT in the host, the ingress overlay,
// SNAT) against the same container reached without the mesh (a host-mode
// published port, mapped by Docker on the task's own host), in one run.
// The client is on h3; the task is on h2. Through the mesh it is reached
// both via h2 (the task's host) and via h1 (a host without a replica).
import { ServiceSpec, TaskState } from '../proto/generated/orch.js';
import type { Control } from '../cli/client.js';
import { SLEEP_IMAGE } from '../lab/images.js';
import { LabCluster } from '../lab/lab-cluster.js';
import { iperf } from './iperf.js';
import { summarize, type Summary } from './stats.js';

const RUNS = 3;
const SECONDS = 5;

export interface MeshResult {
  runs: number;
  seconds: number;
  direct: Summary;
  meshViaTaskHost: Summary;
  meshViaOtherHost: Summary;
}

export async function benchMesh(log: (line: string) => void): Promise<MeshResult> {
  const lab = await LabCluster.up({ name: 'bmesh', index: 246, hosts: 3, managers: 1 });
  const ctl = lab.control();
  try {
    const onH2 = { constraints: ['node.hostname==h2'] };
    await ctl.createService(ServiceSpec.fromPartial({ name: 'mesh', replicas: 1, placement: onH2, container: { image: SLEEP_IMAGE }, endpoint: { ports: [{ targetPort: 5201, publishedPort: 5201 }] } }));
    await ctl.createService(ServiceSpec.fromPartial({ name: 'direct', replicas: 1, placement: onH2, container: { image: SLEEP_IMAGE }, endpoint: { ports: [{ targetPort: 5201, publishedPort: 5202, publishMode: 1 }] } }));
    const meshPid = await containerPid(lab, ctl, 'mesh');
    const directPid = await containerPid(lab, ctl, 'direct');
    const [h1, h2, h3] = lab.state.hosts;
    const client = `--net=/var/run/netns/${h3!.netns}`;
    const direct: number[] = [];
    const viaTask: number[] = [];
    const viaOther: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      log(`run ${run + 1}/${RUNS}`);
      const inside = (pid: number) => ['-t', String(pid), '-n'];
      direct.push(await iperf(inside(directPid), [client], h2!.addr, { port: 5201, dialPort: 5202, seconds: SECONDS }));
      viaTask.push(await iperf(inside(meshPid), [client], h2!.addr, { port: 5201, seconds: SECONDS }));
      viaOther.push(await iperf(inside(meshPid), [client], h1!.addr, { port: 5201, seconds: SECONDS }));
    }
    return { runs: RUNS, seconds: SECONDS, direct: summarize(direct), meshViaTaskHost: summarize(viaTask), meshViaOtherHost: summarize(viaOther) };
  } finally {
    ctl.close();
    await lab.down();
  }
}

async function containerPid(lab: LabCluster, ctl: Control, service: string): Promise<number> {
  await lab.waitFor(async () => (await ctl.listTasks({ service })).tasks.some((t) => t.status?.state === TaskState.RUNNING), 30_000, `${service} running`);
  const task = (await ctl.listTasks({ service })).tasks.find((t) => t.status?.state === TaskState.RUNNING)!;
  return (await lab.engine('h2').getContainer(task.status!.containerId).inspect()).State.Pid;
}
