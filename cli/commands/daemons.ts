// `orch manager` and `orch agent`: the long-running processes. Their code is
// imported only when they run, so that the everyday CLI commands start fast.
import { Command } from 'commander';
import { parseDuration } from '../../shared/duration.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { parseBytes, parseCpus } from '../../shared/units.js';
import { fail, type Globals } from './common.js';

/** Runs until SIGINT/SIGTERM, then calls `stop` once and exits. */
export function untilSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export function managerCommand(): Command {
  return new Command('manager')
    .description('Run a manager: control API, dispatcher and (when leader) the control loops')
    .option('--etcd <endpoints>', 'etcd endpoints, comma-separated', process.env.ORCH_ETCD ?? 'http://127.0.0.1:2379')
    .option('--listen <addr>', 'gRPC listen address', '127.0.0.1:4242')
    .option('--id <id>', 'manager id (default: a new one)')
    .option('--heartbeat <duration>', 'agent heartbeat period', '250ms')
    .option('--down-after <duration>', 'a node with no heartbeat for this long is down', '1s')
    .action(async (f: { etcd: string; listen: string; id?: string; heartbeat: string; downAfter: string }) => {
      try {
        const downAfterMs = parseDuration(f.downAfter, '--down-after');
        const { Manager } = await import('../../manager/index.js');
        const m = new Manager({ etcd: f.etcd, listen: f.listen, id: f.id, liveness: { heartbeatMs: parseDuration(f.heartbeat, '--heartbeat'), downAfterMs, closedGraceMs: downAfterMs } });
        await m.start();
        untilSignal(() => m.stop());
      } catch (err) {
        fail(err);
      }
    });
}

export function agentCommand(globals: Globals): Command {
  return new Command('agent')
    .description("Run an agent: runs this host's tasks on the Docker Engine")
    .option('--docker-socket <path>', 'Docker Engine socket', '/var/run/docker.sock')
    .option('--state-dir <dir>', 'where the node id is kept', '/var/lib/orch/agent')
    .option('--hostname <name>', 'hostname to report (default: the kernel hostname)')
    .option('--addr <ip>', 'address other hosts reach this one at')
    .option('--cluster <id>', 'cluster id stamped on containers', 'default')
    .option('--role <role>', 'manager when a manager runs on this host (for node.role constraints)', 'worker')
    .option('--cpus <cpus>', 'CPUs to offer (default: what the engine reports)')
    .option('--memory <size>', 'memory to offer, e.g. 2g (default: what the engine reports)')
    .action(async (f: { dockerSocket: string; stateDir: string; hostname?: string; addr?: string; cluster: string; role: string; cpus?: string; memory?: string }) => {
      try {
        if (!['manager', 'worker'].includes(f.role)) throw new InvalidArgumentError(`--role: "${f.role}" is not manager or worker`);
        const capacity = { nanoCpus: f.cpus ? parseCpus(f.cpus, '--cpus') : undefined, memoryBytes: f.memory ? parseBytes(f.memory, '--memory') : undefined };
        const { Agent } = await import('../../agent/index.js');
        const managers = globals.manager().split(',').filter(Boolean);
        const a = new Agent({ managers, dockerSocket: f.dockerSocket, stateDir: f.stateDir, hostname: f.hostname, addr: f.addr, cluster: f.cluster, role: f.role, capacity });
        untilSignal(() => a.stop());
        await a.start();
      } catch (err) {
        fail(err);
      }
    });
}

