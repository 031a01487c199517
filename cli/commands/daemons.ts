// `orch manager` and `orch agent`: the long-running processes. Their code is
// imported only when they run, so that the everyday CLI commands start fast.
import { Command } from 'commander';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { DEFAULT_LIVENESS } from '../../manager/dispatcher/liveness.js';
import { parseBytes, parseCount, parseCpus } from '../../shared/units.js';
import { setLogFormat } from '../../shared/log.js';
import type { UpkeepPolicy } from '../../manager/upkeep/plan.js';
import { DEFAULT_STATE_DIR } from './cluster.js';
import { etcdTls, etcdTlsOptions, fail, type Globals } from './common.js';

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

/** The flags of the leader's compaction of etcd (`orch manager`, `orch dev`). */
export interface CompactionFlags {
  compactEvery: string;
  compactAfter: string;
  compactKeep: string;
}

/** Adds the compaction flags to a command. */
export function compactionOptions(cmd: Command): Command {
  return cmd
    .option('--compact-every <duration>', "the leader compacts etcd's history at least this often (0s: only by count)", '5m')
    .option('--compact-after <revisions>', 'and as soon as this many revisions were written since the last compaction (0: only by time)', '10000')
    .option('--compact-keep <revisions>', 'the newest revisions a compaction keeps (a watcher that far behind resumes without re-listing)', '1000');
}

/** The upkeep policy the compaction flags give. */
export function upkeepFromFlags(f: CompactionFlags): Partial<UpkeepPolicy> {
  return {
    compactEveryMs: parseDuration(f.compactEvery, '--compact-every'),
    compactAfterRevisions: parseCount(f.compactAfter, '--compact-after'),
    keepRevisions: parseCount(f.compactKeep, '--compact-keep'),
  };
}

export const METRICS_FLAG = '--metrics-addr <host:port>';
export const METRICS_HELP = 'serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP: keep it on loopback or a monitoring network)';
export const LOG_FORMAT_FLAG = '--log-format <format>';
export const LOG_FORMAT_HELP = 'json, or pretty: readable lines (default: pretty on a terminal, json otherwise)';

export function managerCommand(): Command {
  return compactionOptions(etcdTlsOptions(new Command('manager')))
    .description('Run a manager: control API, dispatcher and (when leader) the control loops')
    .option('--etcd <endpoints>', 'etcd endpoints, comma-separated', process.env.ORCH_ETCD ?? 'http://127.0.0.1:2379')
    .option('--listen <addr>', 'gRPC listen address', '127.0.0.1:4242')
    .option('--advertise <addr>', 'address agents and the CLI reach this manager at (default: --listen)')
    .option('--state-dir <dir>', 'holds the certificate and cluster key from `orch init` or `orch join`', DEFAULT_STATE_DIR)
    .option('--heartbeat <duration>', 'agent heartbeat period', formatDuration(DEFAULT_LIVENESS.heartbeatMs))
    .option('--down-after <duration>', 'a node with no heartbeat for this long is down (a host that died or was cut off)', formatDuration(DEFAULT_LIVENESS.downAfterMs))
    .option('--restart-grace <duration>', "a node whose agent closed its session keeps its tasks this long (its host answers: the agent is restarting, its containers run on)", formatDuration(DEFAULT_LIVENESS.closedGraceMs))
    .option(METRICS_FLAG, METRICS_HELP)
    .option('--ui-addr <host:port>', 'serve the dashboard at http://HOST:PORT/ (off loopback it asks for the token `orch dashboard` prints)')
    .option(LOG_FORMAT_FLAG, LOG_FORMAT_HELP)
    .action(async (f: { uiAddr?: string; metricsAddr?: string; logFormat?: string; etcd: string; listen: string; advertise?: string; stateDir: string; heartbeat: string; downAfter: string; restartGrace: string; etcdCa?: string; etcdCert?: string; etcdKey?: string } & CompactionFlags) => {
      try {
        setLogFormat(f.logFormat);
        const upkeep = upkeepFromFlags(f);
        const { Manager } = await import('../../manager/index.js');
        const stopOnDemotion = () => void m.stop().then(() => process.exit(0), () => process.exit(1));
        const m = new Manager({ onDemoted: stopOnDemotion, etcd: f.etcd, etcdTls: etcdTls(f), listen: f.listen, advertise: f.advertise, stateDir: f.stateDir, liveness: { heartbeatMs: parseDuration(f.heartbeat, '--heartbeat'), downAfterMs: parseDuration(f.downAfter, '--down-after'), closedGraceMs: parseDuration(f.restartGrace, '--restart-grace') }, upkeep, metricsAddr: f.metricsAddr, uiAddr: f.uiAddr });
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
    .option('--state-dir <dir>', 'holds the certificate and manager addresses from `orch join` (or `orch init`)', DEFAULT_STATE_DIR)
    .option('--hostname <name>', 'hostname to report (default: the kernel hostname)')
    .option('--addr <ip>', 'address other hosts reach this one at')
    .option('--cluster <id>', 'cluster id stamped on containers', 'default')
    .option('--cpus <cpus>', 'CPUs to offer (default: what the engine reports)')
    .option('--memory <size>', 'memory to offer, e.g. 2g (default: what the engine reports)')
    .option(METRICS_FLAG, METRICS_HELP)
    .option(LOG_FORMAT_FLAG, LOG_FORMAT_HELP)
    .action(async (f: { metricsAddr?: string; logFormat?: string; dockerSocket: string; stateDir: string; hostname?: string; addr?: string; cluster: string; cpus?: string; memory?: string }) => {
      try {
        setLogFormat(f.logFormat);
        const capacity = { nanoCpus: f.cpus ? parseCpus(f.cpus, '--cpus') : undefined, memoryBytes: f.memory ? parseBytes(f.memory, '--memory') : undefined };
        const { Agent } = await import('../../agent/index.js');
        const managers = globals.explicitManager()?.split(',').filter(Boolean);
        const a = new Agent({ managers, dockerSocket: f.dockerSocket, stateDir: f.stateDir, hostname: f.hostname, addr: f.addr, cluster: f.cluster, capacity, metricsAddr: f.metricsAddr });
        untilSignal(() => a.stop());
        await a.start();
      } catch (err) {
        fail(err);
      }
    });
}

