// Fault injection on a lab: each fault kind as one action on a host (or, on
// the control API, a burst: scale calls, and a service created and removed;
// a rolling update of one service, started and left to run on; or a stack
// deployed from a Compose file, a new release of it each time).
import type { Control } from '../client/control.js';
import type { LabCluster } from '../lab/lab-cluster.js';
import { ServiceSpec } from '../proto/generated/orch.js';
import { SLEEP_IMAGE } from '../lab/images.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployStack } from '../client/stack.js';
import { readStack } from '../compose/index.js';
import { sh } from '../shared/sh.js';
import type { Step, UpdateKind } from './scenario.js';

/** The service a scale burst shakes, and the count it returns to. */
export const BURST = { service: 'web', replicas: 6 };

/** The service rolling updates change: between two good images, or to one whose containers exit at once. */
export const ROLLED = { service: 'api', images: ['orch-test/httpd', 'orch-test/httpd:2'], broken: 'orch-test/broken' };

export async function inject(lab: LabCluster, ctl: Control, step: Step): Promise<void> {
  const h = step.host ?? '';
  switch (step.fault) {
    case 'kill-host':
    case 'kill-leader-host':
      return lab.kill(h);
    case 'restart-host':
    case 'restart-leader-host':
      return lab.restart(h);
    case 'kill-etcd':
      return lab.signal(h, 'etcd', 'SIGKILL');
    case 'restart-etcd':
      return lab.startDaemon(h, 'etcd');
    case 'kill-dockerd':
      return lab.signal(h, 'dockerd', 'SIGKILL');
    case 'restart-dockerd':
      return lab.startDaemon(h, 'dockerd');
    case 'kill-agent':
      return signal(lab, h, 'SIGKILL');
    case 'restart-agent':
      return lab.restartAgent(h);
    case 'partition':
      return lab.partition(h);
    case 'heal':
      return lab.heal(h);
    case 'freeze-agent':
      return signal(lab, h, 'SIGSTOP');
    case 'thaw-agent':
      return signal(lab, h, 'SIGCONT');
    case 'flap-link':
      for (let i = 0; i < 3; i++) {
        await sh('ip', ['link', 'set', lab.host(h).veth, 'down']);
        await new Promise((r) => setTimeout(r, 300));
        await sh('ip', ['link', 'set', lab.host(h).veth, 'up']);
        await new Promise((r) => setTimeout(r, 300));
      }
      return;
    case 'scale-burst': {
      // Scale calls and a service created and removed, while the rest runs on.
      const extra = `burst${Date.now().toString(36)}`;
      await ctl.createService(ServiceSpec.fromPartial({ name: extra, replicas: 2, container: { image: SLEEP_IMAGE, stopGracePeriodMs: 1000 } }));
      for (const n of [BURST.replicas + 3, BURST.replicas - 2, BURST.replicas + 1, BURST.replicas]) {
        await ctl.scaleService({ ref: BURST.service, replicas: n });
        await new Promise((r) => setTimeout(r, 200));
      }
      await ctl.removeService({ ref: extra });
      return;
    }
    case 'rolling-update':
      return rollingUpdate(ctl, step.update ?? 'image');
    case 'stack-deploy':
      return stackDeploy(ctl);
  }
}

/** The stack a stack-deploy step deploys: a web front on its own network and a worker, both rolled start-first behind a health check. */
const STACK = 'shop';

function stackFile(release: string): string {
  const service = (image: string, replicas: number, health: string) => `
    image: ${image}
    networks: [shop]
    environment:
      RELEASE: "${release}"
    healthcheck:
      test: ["CMD-SHELL", "${health}"]
      interval: 1s
    deploy:
      replicas: ${replicas}
      update_config:
        order: start-first
      restart_policy:
        delay: 200ms`;
  return `services:
  front:${service('orch-test/httpd', 2, 'wget -qO- http://127.0.0.1/')}
  worker:${service('orch-test/sleep', 1, 'true')}
networks:
  shop: {}
`;
}

/** Deploys STACK from a Compose file, a new release each time (created the first time, rolled out after); does not wait for it. */
async function stackDeploy(ctl: Control): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'orch-chaos-stack-'));
  try {
    const file = join(dir, 'docker-compose.yml');
    writeFileSync(file, stackFile(Date.now().toString(36)));
    await deployStack(ctl, readStack([file], STACK, {}).plan, { prune: true, say: () => undefined });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts a rolling update of ROLLED (its update config, set at create, rolls a failure back by itself); does not wait for it. */
async function rollingUpdate(ctl: Control, kind: UpdateKind): Promise<void> {
  const s = await ctl.getService({ ref: ROLLED.service });
  const c = s.spec!.container!;
  const container =
    kind === 'env'
      ? { ...c, env: [...c.env.filter((e) => !e.startsWith('RELEASE=')), `RELEASE=${Date.now().toString(36)}`] }
      : { ...c, image: kind === 'broken' ? ROLLED.broken : (ROLLED.images.find((i) => i !== c.image) ?? ROLLED.images[0]!) };
  await ctl.updateService({ ref: s.id, version: s.version, spec: { ...s.spec!, container }, rebalance: false });
}

function signal(lab: LabCluster, host: string, sig: NodeJS.Signals): void {
  const pid = lab.host(host).pids.agent;
  if (pid) process.kill(pid, sig);
}
