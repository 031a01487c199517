// What `orch dev` runs (loaded only then): etcd, a manager and an agent in
// this process, and the demo service.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { Agent } from '../../agent/index.js';
import { TaskState } from '../../proto/generated/orch.js';
import { Manager } from '../../manager/index.js';
import { startEtcd } from '../../lab/etcd.js';
import { HTTP_IMAGE } from '../../lab/images.js';
import { NotFoundError } from '../../shared/errors.js';
import { connect, type Control } from '../../client/control.js';
import { useNewContext } from '../context.js';
import { initCluster } from '../../manager/ca/init.js';
import { hasTls, loadTls } from '../../shared/tls/credentials.js';
import { waitForService } from '../progress.js';
import { CREATE_DEFAULTS, specFromFlags } from '../spec-flags.js';
import { untilSignal, upkeepFromFlags } from './daemons.js';
import type { DevFlags } from './dev.js';

/** Starts the embedded cluster and, unless --no-demo, the demo service. */
export async function runDev(f: DevFlags): Promise<void> {
  const docker = new Docker({ socketPath: f.dockerSocket });
  // The new node's agent removes what the old one left on this host (its containers, its networks).
  if (f.reset) rmSync(f.dataDir, { recursive: true, force: true });
  const clientPort = Number(f.etcdPort);
  const etcd = await startEtcd({ name: 'orch-dev', dataDir: join(f.dataDir, 'etcd'), clientPort, peerPort: clientPort + 10 });
  // One host is manager and worker: the manager and the agent share its state directory.
  const stateDir = join(f.dataDir, 'node');
  const adminDir = join(f.dataDir, 'admin');
  try {
    if (!hasTls(stateDir)) await initCluster({ etcd: etcd.endpoint, stateDir, adminDir, advertise: f.listen });
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  useNewContext('dev', { managers: [f.listen], tlsDir: adminDir, description: 'orch dev' });
  const manager = new Manager({ etcd: etcd.endpoint, listen: f.listen, stateDir, upkeep: upkeepFromFlags(f), uiAddr: f.uiAddr || undefined });
  const agent = new Agent({ managers: [f.listen], stateDir, dockerSocket: f.dockerSocket, cluster: f.cluster });
  untilSignal(async () => {
    await agent.stop({ leave: true });
    await manager.stop();
    await etcd.stop();
    process.stdout.write(
      'orch dev stopped; its containers on orch networks went with those networks, the others keep running and are adopted by the next `orch dev` (`orch dev --reset` removes them)\n',
    );
  });
  try {
    await manager.start();
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  await agent.start();
  process.stdout.write(`orch dev: etcd at ${etcd.endpoint}, manager at ${manager.addr}, data in ${f.dataDir}\n`);
  if (f.uiAddr) process.stdout.write(`orch dev: dashboard at http://${f.uiAddr}/\n`);
  if (f.demo) await deployDemo(connect(f.listen, loadTls(adminDir)), docker);
  process.stdout.write(`\nReady. In another shell: ./orch service ls   (context "dev" is current: manager ${f.listen}, admin certificate in ${adminDir})\nCtrl-C stops orch dev.\n`);
}

/** Deploys `demo` (3 replicas of the HTTP test image) unless it exists, then asks each replica for its page. */
async function deployDemo(ctl: Control, docker: Docker): Promise<void> {
  try {
    const existing = await ctl.getService({ ref: 'demo' }).catch((err) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (!existing) {
      const spec = specFromFlags(HTTP_IMAGE, [], { ...CREATE_DEFAULTS, name: 'demo', replicas: '3', restartDelay: '1s', stopGracePeriod: '2s' });
      await ctl.createService(spec);
      process.stdout.write('created service demo (3 replicas of the HTTP test image)\n');
    }
    await waitForService(ctl, 'demo', process.stdout, 60_000);
    const { tasks } = await ctl.listTasks({ service: 'demo' });
    for (const t of tasks.filter((x) => x.desiredState === TaskState.RUNNING && x.status?.state === TaskState.RUNNING)) {
      const info = await docker.getContainer(t.status!.containerId).inspect();
      const ip = Object.values(info.NetworkSettings.Networks)[0]?.IPAddress ?? '';
      const body = await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(3000) }).then((r) => r.text(), (e: Error) => `(no answer: ${e.message})`);
      process.stdout.write(`demo.${t.slot} at http://${ip}/ answers: ${body.trim()}\n`);
    }
  } finally {
    ctl.close();
  }
}
