// `orch agent`: one per host. Holds a session with the leader, runs the
// node's tasks through the Docker Engine and reports their status, and
// programs the host's overlay networks (bridge, vxlan, static entries) and
// serves Docker as the network plugin that attaches containers to them.
//
// It owns its host (host.ts): at start it takes over what an earlier agent of
// this host made (namespaces, the plugin's name) and removes what an earlier
// node of this host left (its containers, its Docker networks); `leave`
// removes everything it made, for a host that stops being a node.
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import type { LogsSubscription, NetworkState, Task, TaskState, TaskStatus } from '../proto/generated/orch.js';
import { isTerminal, stateName } from '../shared/states.js';
import { serveMetrics } from '../shared/metrics-server.js';
import { agentMetrics, agentRegistry } from './metrics.js';
import { InvalidArgumentError } from '../shared/errors.js';
import { logger, type Logger } from '../shared/log.js';
import { loadManagers, loadTls, removeClusterKey, saveCert, saveClusterKey, saveEtcdClient, saveTrust } from '../shared/tls/credentials.js';
import { Engine } from './exec/engine.js';
import { FILES_ROOT, TaskFiles } from './exec/files.js';
import { HostLock, hostKey } from './host.js';
import type { NetworkResolver } from './exec/controller.js';
import { Executor } from './exec/executor.js';
import { publishLogs } from './exec/logs.js';
import { Overlay } from './network/overlay.js';
import { NetworkPlugin } from './network/plugin.js';
import { Session } from './session.js';

export interface AgentOptions {
  /** Manager gRPC addresses, host:port; the session finds the leader among them (default: those `orch join` recorded). */
  managers?: string[];
  /** Docker Engine socket. */
  dockerSocket?: string;
  /** Holds the node's certificate (its id and role) from `orch join` or `orch init`. */
  stateDir: string;
  /** Overrides the reported hostname (the lab's hosts share one kernel hostname). */
  hostname?: string;
  /** Address other hosts reach this one at (underlay). */
  addr?: string;
  /** Cluster id stamped on containers; only containers with it are ever touched. */
  cluster?: string;
  /** Capacity to report instead of what the engine says (reservations are counted against it). */
  capacity?: { nanoCpus?: bigint; memoryBytes?: bigint };
  /** Serve Prometheus metrics at http://ADDR/metrics (host:port). */
  metricsAddr?: string;
}

/** How often this node's orch volumes are looked at besides each container made or removed (reported when they changed). */
const VOLUMES_MS = 30_000;
/** How often the overlay is compared with the kernel even without news from the manager. */
const RECONCILE_MS = 10_000;

export class Agent {
  readonly nodeId: string;
  readonly log: Logger;
  private readonly managers: string[];
  private readonly engine: Engine;
  private readonly executor: Executor;
  private readonly session: Session;
  private applying: Promise<void> = Promise.resolve();
  private latest: Task[] | undefined;
  private applyQueued = false;
  private overlay: Overlay | undefined;
  private plugin: NetworkPlugin | undefined;
  private overlayProblem = '';
  private reconcileTimer: NodeJS.Timeout | undefined;
  private volumesTimer: NodeJS.Timeout | undefined;
  private networksApplied: Promise<void> = Promise.resolve();
  /** Volume removals being carried out (a set pushed again meanwhile does not start one twice). */
  private readonly removing = new Set<string>();
  /** Each live task's last state reported (for the transitions counted). */
  private readonly states = new Map<string, TaskState>();
  private metrics: HttpServer | undefined;
  private readonly hostKey = hostKey();
  private lock: HostLock | undefined;

  constructor(private readonly opts: AgentOptions) {
    const tls = loadTls(opts.stateDir);
    this.nodeId = tls.identity.nodeId;
    const managers = opts.managers?.length ? opts.managers : loadManagers(opts.stateDir);
    if (!managers.length) throw new InvalidArgumentError(`no manager address: give --manager, or join first (\`orch join\` records them in ${opts.stateDir})`);
    this.managers = managers;
    const tag = { node: this.nodeId.slice(0, 12) };
    this.log = logger('agent', tag);
    const files = new TaskFiles(join(FILES_ROOT, this.hostKey), logger('files', tag));
    this.engine = new Engine(opts.dockerSocket ?? '/var/run/docker.sock', { cluster: opts.cluster ?? 'default', node: this.nodeId, hostname: opts.hostname ?? hostname() }, logger('engine', tag), files);
    this.executor = new Executor(this.engine, (taskId, status) => this.reportStatus(taskId, status), this.resolveNetworks, logger('executor', tag));
    this.session = new Session(
      managers,
      tls,
      {
        describe: () => this.engine.describe(opts.addr ?? '', opts.hostname, opts.capacity),
        onAssignments: (tasks) => this.apply(tasks),
        onNetworks: (state, applied) => this.applyNetworks(state, applied),
        onFiles: (values) => files.set(values),
        onRemoveVolumes: (names) => this.removeVolumes(names),
        onLogs: (sub) => this.publishLogs(sub),
        statuses: () => this.executor.statuses(),
        onCertificate: (c) => {
          const was = loadTls(opts.stateDir).identity.role;
          // The key stays: a renewal or a new role is a new certificate for it (one rename). The roots to
          // trust first: during a CA rotation they hold the old root too, which still vouches for the old certificate.
          if (c.caPem) saveTrust(opts.stateDir, c.caPem);
          saveCert(opts.stateDir, c.certPem);
          if (c.clusterKey) saveClusterKey(opts.stateDir, Buffer.from(c.clusterKey, 'base64'));
          else removeClusterKey(opts.stateDir);
          saveEtcdClient(opts.stateDir, c.etcdCertPem ? { caPem: c.etcdCaPem, certPem: c.etcdCertPem } : undefined);
          if (c.role !== was) this.log.info({ role: c.role, stateDir: opts.stateDir }, c.role === 'manager' ? 'promoted: this host may now run `orch manager`' : 'demoted: this host is a worker');
          return loadTls(opts.stateDir);
        },
      },
      logger('session', tag),
    );
  }

  /** Takes the host, sets up overlay networking (if this host allows it), clears what earlier nodes left, then starts the executor and the session. */
  async start(): Promise<void> {
    this.lock = HostLock.take(this.hostKey);
    if (this.opts.metricsAddr) this.metrics = await serveMetrics(this.opts.metricsAddr, agentRegistry);
    await this.startNetworking();
    await this.clearPredecessors().catch((err) => this.log.warn({ err: String(err) }, 'removing what an earlier node of this host left failed'));
    this.executor.start();
    this.session.start();
    // On each change, and now and then for one missed (a volume removed by hand, say).
    this.engine.volumes.changed = () => void this.reportVolumes();
    this.volumesTimer = setInterval(() => void this.reportVolumes(), VOLUMES_MS);
    this.log.info({ managers: this.managers, host: this.hostKey, overlay: this.overlay ? 'on' : `off (${this.overlayProblem})` }, 'agent started');
  }

  /**
   * Stops. The containers and the data plane stay, for the next agent to
   * adopt (a restart serves on); with `leave`, everything on orch networks
   * goes first: their containers, the Docker networks, the namespaces and
   * rules (containers on no orch network stay).
   */
  async stop(opts: { leave?: boolean } = {}): Promise<void> {
    this.session.stop();
    this.metrics?.close();
    clearInterval(this.reconcileTimer);
    clearInterval(this.volumesTimer);
    await this.applying;
    await this.executor.stop();
    if (opts.leave) await this.leave().catch((err) => this.log.warn({ err: String(err) }, 'removing this host\'s networks failed'));
    await this.plugin?.stop();
    await this.overlay?.close();
    this.lock?.release();
  }

  /** Containers and Docker networks of earlier nodes of this host; dead plugin sockets; namespaces of the naming before host keys. */
  private async clearPredecessors(): Promise<void> {
    const containers = await this.engine.listPredecessors();
    const networks = await this.engine.listForeignNetworks();
    // Docker asks a network's driver as a container leaves it or it is removed: answer under the leftovers' names too.
    const stops = this.plugin ? await Promise.all([...new Set(networks.values())].map((d) => this.plugin!.answerAs(d))) : [];
    try {
      for (const [id, node] of containers) {
        this.log.info({ container: id.slice(0, 12), node }, 'removing a container an earlier node of this host left');
        await this.engine.remove(id);
      }
      for (const id of networks.keys()) if (!(await this.engine.removeNetwork(id))) this.log.warn({ network: id.slice(0, 12) }, 'a docker network another orch node made is still in use: left');
    } finally {
      for (const stop of stops) await stop();
    }
    await this.plugin?.removeDeadSockets();
    this.overlay?.removeOldLeftovers();
  }

  /** Removes what this host has on orch networks: their containers, the Docker networks, the kernel's side. */
  private async leave(): Promise<void> {
    for (const id of await this.engine.listAttached()) await this.engine.remove(id);
    await this.engine.removeNetworksExcept(new Set());
    await this.overlay?.teardown();
  }

  private async startNetworking(): Promise<void> {
    const underlay = this.opts.addr || firstAddress();
    try {
      this.overlay = new Overlay(this.nodeId, this.hostKey, underlay, logger('overlay', { node: this.nodeId.slice(0, 12) }));
      this.plugin = new NetworkPlugin(this.hostKey, this.overlay, logger('netplugin', { node: this.nodeId.slice(0, 12) }));
      await this.plugin.start();
      // A container's addresses are refused before it stops, so rules elsewhere that still point there fail fast.
      const overlay = this.overlay;
      this.engine.beforeStop = async (addrs) => {
        for (const a of addrs) await overlay.bury(a.networkId, a.ip);
      };
      for (const [dockerId, orchId] of await this.engine.listNetworks().catch(() => new Map<string, string>())) this.plugin.remember(dockerId, orchId);
      // The kernel is the truth: entries lost behind our back come back within this period.
      this.reconcileTimer = setInterval(() => this.overlay?.reconcile(), RECONCILE_MS);
    } catch (err) {
      // Without root (or netlink), tasks that join networks fail with this reason; others run.
      this.overlayProblem = String(err);
      await this.overlay?.close();
      this.overlay = undefined;
      this.plugin = undefined;
      this.log.warn({ err: this.overlayProblem }, 'overlay networking unavailable on this host');
    }
  }

  /** Reports this node's orch volumes (the session sends only a change). */
  private async reportVolumes(): Promise<void> {
    try {
      this.session.sendVolumes(await this.engine.volumes.list());
    } catch (err) {
      this.log.debug({ err: String(err) }, 'listing volumes failed (is dockerd up?)');
    }
  }

  /** Sends a task's status to the leader, counting each state a controller reaches. */
  private reportStatus(taskId: string, status: TaskStatus): void {
    if (this.states.get(taskId) !== status.state) {
      agentMetrics.taskTransitions.inc({ state: stateName(status.state) });
      if (isTerminal(status.state)) this.states.delete(taskId);
      else this.states.set(taskId, status.state);
    }
    this.session.sendStatus(taskId, status);
  }

  /** Answers a logs subscription on a call of its own (the leader ends it when nobody reads any more). */
  private publishLogs(sub: LogsSubscription): void {
    const answered = new AbortController();
    const call = this.session.openLogs(() => answered.abort());
    if (!call) return;
    void publishLogs(this.engine, sub, call, answered.signal, this.log).catch((err) => this.log.warn({ err: String(err) }, 'publishing logs failed'));
  }

  /** Removes each volume asked for, then reports the node's volumes and answers (so the manager sees it gone first). */
  private removeVolumes(names: string[]): void {
    for (const name of names) {
      if (this.removing.has(name)) continue;
      this.removing.add(name);
      void (async () => {
        const error = await this.engine.volumes.remove(name, this.latest ?? []).catch((err: Error) => `removing volume ${name} failed: ${err.message}`);
        this.log.info({ volume: name, error: error || undefined }, error ? 'volume not removed' : 'volume removed');
        await this.reportVolumes();
        this.session.sendVolumeRemoved(name, error);
        this.removing.delete(name);
      })();
    }
  }

  /**
   * Applies the manager's network state and, once its rules are in the
   * kernel, says so (the manager then lets stopping tasks it left out stop);
   * then drops Docker networks this host no longer needs.
   */
  private applyNetworks(state: NetworkState, applied: () => void): void {
    if (!this.overlay) return applied();
    this.overlay.apply(state);
    void this.overlay.rulesApplied().then(applied);
    const keep = new Set(state.networks.map((n) => n.id));
    this.networksApplied = this.networksApplied.then(() =>
      this.engine.removeNetworksExcept(keep).catch((err) => this.log.warn({ err: String(err) }, 'removing unused docker networks failed')),
    );
  }

  /** For a task's container: its networks, each with the Docker network that stands for it here. */
  private resolveNetworks: NetworkResolver = async (task) => {
    const out = [];
    for (const a of task.networks) {
      if (!this.overlay || !this.plugin) throw new Error(`this host cannot join overlay networks: ${this.overlayProblem}`);
      const network = this.overlay.network(a.networkId);
      if (!network) throw new Error(`network ${a.networkId} is not set up on this host`);
      out.push({ network, dockerName: await this.engine.ensureNetwork(network, this.plugin.driver) });
    }
    return out;
  };

  /**
   * Applies assignment sets one at a time; sets that arrive meanwhile collapse
   * into the newest. A set that cannot be applied (engine down) is retried.
   */
  private apply(tasks: Task[]): void {
    this.latest = tasks;
    // New tasks start at once, not behind the rules and the engine listing of
    // an earlier set (0.2–0.8 s on a busy host).
    this.executor.startNew(tasks);
    if (this.applyQueued) return;
    this.applyQueued = true;
    this.applying = this.applying.then(async () => {
      this.applyQueued = false;
      // Tasks leave the pools before they stop: the rules pushed before this set are in the kernel first.
      await this.overlay?.rulesApplied();
      await this.executor.assign(() => this.latest!).catch((err) => {
        this.log.warn({ err: String(err) }, 'applying assignments failed; retrying in 1s');
        setTimeout(() => this.apply(this.latest!), 1000);
      });
    });
  }
}

/** This host's first non-loopback IPv4 address (the underlay when none is given), else loopback. */
function firstAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return '127.0.0.1';
}
