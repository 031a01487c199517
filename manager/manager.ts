// `orch manager`: the control API and dispatcher over gRPC, all state in etcd.
// Every manager serves the control API; only the elected leader runs the
// control loop (orchestrate → allocate → schedule → reap) and accepts agent sessions.
// Its certificate is renewed when it comes due, by itself (it holds the
// cluster key) or by the agent of its host, whichever is first; either way the
// server serves the new one from the next connection on.
import { unwatchFile, watchFile } from 'node:fs';
import { join } from 'node:path';
import { Server } from '@grpc/grpc-js';
import { CaService, ControlService, DispatcherService, MaintenanceService } from '../proto/generated/orch.js';
import { AlreadyExistsError, UnauthenticatedError } from '../shared/errors.js';
import { etcdClientTls, loadClusterKey, loadTls, saveCert, saveTrust, serverCredentials, type ServingCredentials, type TlsMaterial } from '../shared/tls/credentials.js';
import { publicKeyOfCert } from '../shared/tls/pki.js';
import { RenewalTimer } from '../shared/tls/renewal.js';
import { insecureEtcd } from '../shared/etcd-endpoints.js';
import { Gate } from './ca/auth.js';
import { certPolicy, issuer, type Issue } from './ca/issue.js';
import { CaRotation } from './ca/rotation.js';
import { caServer } from './ca/join.js';
import { loadSecrets } from './ca/secrets.js';
import { logger, type Logger } from '../shared/log.js';
import { allocatePass } from './allocator/index.js';
import { createNetwork } from './controlapi/networks.js';
import { maintenanceServer } from './controlapi/maintenance.js';
import { controlServer } from './controlapi/server.js';
import { INGRESS_LABEL, INGRESS_NAME, INGRESS_SUBNET } from '../shared/ingress.js';
import { ingressNetwork } from './networks.js';
import { DEFAULT_LIVENESS, Dispatcher, type LivenessOptions } from './dispatcher/index.js';
import { Election, type Predecessor } from './election.js';
import { EventJournal } from './events/journal.js';
import { managerMetrics, managerRegistry, observeChange } from './metrics.js';
import { serveMetrics } from '../shared/metrics-server.js';
import { dashboardToken, onLoopback, serveDashboard } from './dashboard/server.js';
import type { Server as HttpServer } from 'node:http';
import { hostAnswers, ManagerLinks } from './manager-links.js';
import { RaftApart } from './raft-apart.js';
import { Loop } from './loop.js';
import { orchestratePass, reapPass } from './orchestrator/index.js';
import { schedulePass } from './scheduler/index.js';
import { Cache, keys, Store, type EtcdTls } from './store/index.js';
import { DEFAULT_UPKEEP, type UpkeepPolicy } from './upkeep/plan.js';
import { Upkeep } from './upkeep/upkeep.js';
import { secretValue } from './controlapi/files.js';

export interface ManagerOptions {
  /** etcd endpoints, comma-separated (http://127.0.0.1:2379). */
  etcd: string;
  /** A client certificate for an etcd that demands one (default: the one orch issued into the state directory, if any). */
  etcdTls?: EtcdTls;
  /** gRPC listen address, host:port (port 0 picks one). */
  listen: string;
  /** The address agents and the CLI reach this manager at (default: the listen address). */
  advertise?: string;
  /** Holds this manager's certificate and the cluster key (`orch init` or `orch join` wrote them). */
  stateDir: string;
  liveness?: Partial<LivenessOptions>;
  /** Called once when this manager's node is demoted: it must stop serving. */
  onDemoted?: () => void;
  electionTtlSec?: number;
  /** When the leader compacts and defragments etcd (default DEFAULT_UPKEEP). */
  upkeep?: Partial<UpkeepPolicy>;
  /** Serve Prometheus metrics at http://ADDR/metrics (host:port). */
  metricsAddr?: string;
  /** Serve the dashboard at http://ADDR/ (host:port; off loopback it asks for the cluster's dashboard token). */
  uiAddr?: string;
}

export class Manager {
  readonly id: string;
  readonly log: Logger;
  private readonly tag: { manager: string };
  readonly store: Store;
  readonly cache: Cache;
  readonly dispatcher: Dispatcher;
  private readonly server = new Server();
  private readonly election: Election;
  private readonly loop: Loop;
  private readonly gate: Gate;
  private readonly links: ManagerLinks;
  private readonly raftApart: RaftApart;
  private readonly upkeep: Upkeep;
  private readonly rotation: CaRotation;
  private readonly events: EventJournal;
  private metrics: HttpServer | undefined;
  private dashboard: HttpServer | undefined;
  private onCacheChange = () => this.loop.trigger();
  private demoted = false;
  private readonly checkDemoted = () => {
    if (this.demoted || this.cache.nodes.get(this.id)?.value.desiredRole !== 'worker') return;
    this.demoted = true;
    this.log.warn('this node was demoted to worker: the manager stops');
    this.opts.onDemoted?.();
  };
  /** The address the gRPC server is bound to, once started. */
  addr = '';

  private tls: TlsMaterial;
  private readonly clusterKey: Buffer;
  private readonly issue: Issue;
  private readonly serving: ServingCredentials;
  private readonly renewal: RenewalTimer;
  private readonly certFile: string;
  private readonly onCertFile = () => this.reloadTls();

  constructor(private readonly opts: ManagerOptions) {
    this.tls = loadTls(opts.stateDir);
    if (this.tls.identity.role !== 'manager') throw new UnauthenticatedError(`the certificate in ${opts.stateDir} is a ${this.tls.identity.role}'s, not a manager's: join with a manager token`);
    this.clusterKey = loadClusterKey(opts.stateDir);
    this.id = this.tls.identity.nodeId;
    const tag = { manager: this.id.slice(0, 12) };
    this.tag = tag;
    this.log = logger('manager', tag);
    const etcdTls = opts.etcdTls ?? etcdClientTls(opts.stateDir);
    this.store = new Store(opts.etcd, etcdTls);
    this.cache = new Cache(this.store, logger('cache', tag));
    const gate = new Gate(this.tls.identity.clusterId, this.cache, logger('auth', tag));
    this.gate = gate;
    this.issue = issuer(this.store, this.clusterKey);
    this.dispatcher = new Dispatcher({
      cache: this.cache,
      store: this.store,
      log: logger('dispatcher', tag),
      gate,
      issue: this.issue,
      certPolicy: certPolicy(this.store, this.clusterKey),
      liveness: { ...DEFAULT_LIVENESS, ...opts.liveness },
      loadSecret: (id) => secretValue(this.store, this.clusterKey, id),
      leaderAddr: () => this.election.knownLeader?.addr,
    });
    this.links = new ManagerLinks(() => this.tls);
    this.serving = serverCredentials(this.tls);
    this.certFile = join(opts.stateDir, 'node.crt');
    this.renewal = new RenewalTimer(() => this.tls.cert, () => this.renewOwn(), logger('certificate', tag));
    this.raftApart = new RaftApart(opts.etcd, etcdTls, (opts.advertise ?? opts.listen).replace(/:\d+$/, ''), logger('raft-apart', tag));
    this.election = new Election(this.store, { managerId: this.id, addr: opts.advertise ?? opts.listen }, logger('election', tag), {
      ttlSec: opts.electionTtlSec,
      probe: (addr) => this.links.ping(addr),
      handshake: hostAnswers,
    });
    this.upkeep = new Upkeep(this.store, this.cache, logger('upkeep', tag), { ...DEFAULT_UPKEEP, ...opts.upkeep });
    this.events = new EventJournal(this.cache);
    this.rotation = new CaRotation(this.store, this.cache, this.clusterKey, logger('ca-rotation', tag));
    this.loop = new Loop('leader', logger('orchestrator', tag), () => this.leaderPass(), 1000);
  }

  /** Connects to etcd, checks the cluster key opens this cluster's secrets, binds the gRPC port (mutual TLS) and starts campaigning. */
  async start(): Promise<void> {
    const { secrets } = await loadSecrets(this.store, this.clusterKey);
    if (secrets.clusterId !== this.tls.identity.clusterId) {
      throw new UnauthenticatedError(`the certificate in ${this.opts.stateDir} belongs to cluster ${this.tls.identity.clusterId}, but etcd holds cluster ${secrets.clusterId}`);
    }
    await this.cache.start();
    this.events.start();
    this.cache.on('change', this.checkDemoted);
    // A follower learns a new leader from its mirror at once, not at its next check: agents wait here for the name.
    this.cache.on('leader', () => this.election.leaderKeyChanged());
    this.server.addService(ControlService, controlServer(this.store, this.cache, logger('controlapi', this.tag), this.gate, this.clusterKey, this.issue, {
        id: this.id,
        isLeader: () => this.isLeader,
        leading: () => (this.dispatcher.leading ? this.dispatcher : undefined),
        leader: async () => {
          const info = await this.election.leader();
          return info && info.managerId !== this.id ? this.links.client(info.addr) : undefined;
        },
        managerStatus: () => this.managerStatus(),
        events: (call) => this.events.serve(call),
        dashboard: () => this.dashboardAddress(),
      }),
    );
    this.server.addService(DispatcherService, { session: this.dispatcher.session, publishLogs: this.dispatcher.logs.publish });
    this.server.addService(MaintenanceService, maintenanceServer(this.store, logger('maintenance', this.tag), this.gate, this.tls.identity.clusterId));
    this.server.addService(CaService, caServer(this.store, this.clusterKey, this.issue, logger('ca', this.tag)));
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(this.opts.listen, this.serving.credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    if (this.opts.metricsAddr) this.metrics = await serveMetrics(this.opts.metricsAddr, managerRegistry(this.cache, () => this.isLeader));
    if (this.opts.uiAddr) {
      this.dashboard = await serveDashboard(this.opts.uiAddr, { cache: this.cache, events: this.events, control: () => this.links.client(this.addr), token: dashboardToken(this.clusterKey), log: logger('dashboard', this.tag) });
    }
    watchFile(this.certFile, { interval: 1000 }, this.onCertFile);
    this.renewal.start();
    const open = insecureEtcd(this.opts.etcd);
    if (open.length) this.log.warn({ etcd: open }, 'etcd is reached over plain HTTP with no client certificate: whoever reaches it controls the cluster; lock it with `orch etcd certs` (docs/security.md)');
    this.addr = (this.opts.advertise ?? this.opts.listen).replace(/:\d+$/, `:${port}`);
    // Recorded for joiners (a plain put: it depends on no read).
    await this.store.call(async () => void (await this.store.etcd.put(keys.managerAddr(this.id)).value(this.addr)));
    this.election.on('elected', (predecessor?: Predecessor) => this.lead(predecessor));
    this.election.on('predecessor-silent', (predecessor: Predecessor) => this.dispatcher.predecessorGone(predecessor));
    this.election.on('deposed', () => void this.follow());
    this.election.start();
    this.log.info({ addr: this.addr, etcd: this.opts.etcd }, 'manager started');
  }

  get isLeader(): boolean {
    return this.election.isLeader;
  }

  /** Stops loops and sessions, resigns leadership, closes the server and etcd. */
  async stop(): Promise<void> {
    this.renewal.stop();
    unwatchFile(this.certFile, this.onCertFile);
    await this.follow();
    await this.election.stop();
    this.links.close();
    this.raftApart.close();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
    this.metrics?.close();
    this.dashboard?.closeAllConnections();
    this.dashboard?.close();
    this.events.stop();
    await this.cache.stop();
    this.store.etcd.close();
  }

  private lead(predecessor: Predecessor | undefined): void {
    managerMetrics.elections.inc();
    this.cache.on('object', observeChange);
    void this.ensureIngress();
    this.raftApart.start();
    this.upkeep.start();
    this.rotation.start();
    this.dispatcher.start(predecessor);
    this.cache.on('change', this.onCacheChange);
    this.loop.start();
  }

  private async follow(): Promise<void> {
    this.cache.off('object', observeChange);
    this.raftApart.stop();
    this.rotation.stop();
    this.cache.off('change', this.onCacheChange);
    // Everything is told to stop now, before any wait: elected again meanwhile, lead() starts it all anew, and
    // nothing stopped later would stay stopped. The sessions end at once, beside the loop's pass (which may wait
    // seconds on an etcd member that died): until they end, the agents heartbeat here and the new leader hears
    // nothing from them. A defragmentation under way may take a while to finish.
    await Promise.all([this.dispatcher.stop(), this.loop.stop(), this.upkeep.stop()]);
  }

  /** Issues itself a new certificate for its key (it holds the CA through the cluster key) and serves it. */
  private async renewOwn(): Promise<string> {
    const c = await this.issue(this.id, publicKeyOfCert(this.tls.cert), 'manager');
    saveTrust(this.opts.stateDir, c.caPem);
    saveCert(this.opts.stateDir, c.certPem);
    this.reloadTls();
    return c.certPem;
  }

  /** Serves the certificate in the state directory if it is a newer one of this manager's (renewed here or by the host's agent). */
  private reloadTls(): void {
    let next: TlsMaterial;
    try {
      next = loadTls(this.opts.stateDir);
    } catch (err) {
      this.log.warn({ err: String(err) }, 'reading the renewed certificate failed; serving the one held');
      return;
    }
    if ((next.cert.equals(this.tls.cert) && next.ca.equals(this.tls.ca)) || next.identity.nodeId !== this.id || next.identity.role !== 'manager') return;
    this.tls = next;
    this.serving.update(next);
    this.renewal.start();
    this.log.info('serving the renewed certificate');
  }

  /** Where this manager serves the dashboard (its advertised host when it listens on every address), with the token asked for off loopback. */
  private dashboardAddress(): { url: string; token: string } {
    if (!this.opts.uiAddr) return { url: '', token: '' };
    const [, host, port] = /^(.*):(\d+)$/.exec(this.opts.uiAddr)!;
    const shown = !host || host === '0.0.0.0' ? this.addr.replace(/:\d+$/, '') : host;
    const token = onLoopback(shown) ? '' : dashboardToken(this.clusterKey);
    return { url: `http://${shown}:${port}/${token ? `?token=${token}` : ''}`, token };
  }

  /** Each manager's standing, by node id: Leader, Reachable (it answers a ping) or Unreachable. */
  private async managerStatus(): Promise<Record<string, string>> {
    const [leader, addrs] = await Promise.all([this.election.leader(), this.store.call(() => this.store.etcd.getAll().prefix(keys.managersPrefix()).strings())]);
    const byId = Object.entries(addrs).map(([key, addr]) => [key.slice(keys.managersPrefix().length), addr] as const);
    this.links.keep(new Set(byId.map(([, addr]) => addr)));
    const out: Record<string, string> = {};
    await Promise.all(
      byId.map(async ([id, addr]) => {
        out[id] = id === leader?.managerId ? 'Leader' : id === this.id || (await this.links.alive(addr)) ? 'Reachable' : 'Unreachable';
      }),
    );
    return out;
  }

  /** Makes the built-in ingress network if the cluster has none yet. */
  private async ensureIngress(): Promise<void> {
    if (ingressNetwork(this.cache)) return;
    await createNetwork(this.store, this.log, { name: INGRESS_NAME, driver: 'overlay', subnet: INGRESS_SUBNET, gateway: '', labels: { [INGRESS_LABEL]: 'true' } }).catch((err) => {
      if (!(err instanceof AlreadyExistsError)) this.log.warn({ err: String(err) }, 'making the ingress network failed; published ports wait for it');
    });
  }

  /** One pass of the leader's control loop; each stage sees the previous one's writes. */
  private async leaderPass(): Promise<number | undefined> {
    const wakeAt = await orchestratePass(this.cache, this.store);
    await this.cache.waitFor(this.store.lastRevision);
    await allocatePass(this.cache, this.store);
    await this.cache.waitFor(this.store.lastRevision);
    await schedulePass(this.cache, this.store);
    await this.cache.waitFor(this.store.lastRevision);
    await reapPass(this.cache, this.store);
    return wakeAt;
  }
}
