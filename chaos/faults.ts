// Fault injection on a lab: each fault kind as one action on a host (or, for
// a scale burst, on the control API).
import type { Control } from '../cli/client.js';
import type { LabCluster } from '../lab/lab-cluster.js';
import { sh } from '../shared/sh.js';
import type { FaultKind } from './scenario.js';

/** The service a scale burst shakes, and the count it returns to. */
export const BURST = { service: 'web', replicas: 6 };

export async function inject(lab: LabCluster, ctl: Control, fault: FaultKind, host: string | undefined): Promise<void> {
  const h = host ?? '';
  switch (fault) {
    case 'kill-host':
      return lab.kill(h);
    case 'restart-host':
      return lab.restart(h);
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
    case 'scale-burst':
      for (const n of [BURST.replicas + 3, BURST.replicas - 2, BURST.replicas + 1, BURST.replicas]) {
        await ctl.scaleService({ ref: BURST.service, replicas: n });
        await new Promise((r) => setTimeout(r, 200));
      }
      return;
  }
}

function signal(lab: LabCluster, host: string, sig: NodeJS.Signals): void {
  const pid = lab.host(host).pids.agent;
  if (pid) process.kill(pid, sig);
}
