// `orch manager`: the control API and dispatcher over gRPC, all state in etcd.
// Every manager serves the control API; only the elected leader runs the
// control loop (orchestrate → allocate → schedule → reap) and accepts agent sessions.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ControlService, DispatcherService } from '../proto/generated/orch.js';
import { AlreadyExistsError } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { logger, type Logger } from '../shared/log.js';
import { allocatePass } from './allocator/index.js';
import { createNetwork } from './controlapi/networks.js';
import { controlServer } from './controlapi/server.js';
import { INGRESS_LABEL, INGRESS_NAME, INGRESS_SUBNET, ingressNetwork } from './networks.js';
import { DEFAULT_LIVENESS, Dispatcher, type LivenessOptions } from './dispatcher/index.js';
import { Election } from './election.js';
import { Loop } from './loop.js';
import { orchestratePass, reapPass } from './orchestrator/index.js';
import { schedulePass } from './scheduler/index.js';
import { Cache, connectEtcd, Store } from './store/index.js';

export interface ManagerOptions {
  /** etcd endpoints, comma-separated (http://127.0.0.1:2379). */
  etcd: string;
  /** gRPC listen address, host:port (port 0 picks one). */
  listen: string;
  /** Stable id of this manager (a new one if omitted). */
  id?: string;
  liveness?: Partial<LivenessOptions>;
  electionTtlSec?: number;
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
  private onCacheChange = () => this.loop.trigger();
  /** The address the gRPC server is bound to, once started. */
  addr = '';

  constructor(private readonly opts: ManagerOptions) {
    this.id = opts.id ?? newId();
    const tag = { manager: this.id.slice(0, 12) };
    this.tag = tag;
    this.log = logger('manager', tag);
    this.store = new Store(connectEtcd(opts.etcd), opts.etcd);
    this.cache = new Cache(this.store, logger('cache', tag));
    this.dispatcher = new Dispatcher(this.cache, this.store, logger('dispatcher', tag), { ...DEFAULT_LIVENESS, ...opts.liveness });
    this.election = new Election(this.store, { managerId: this.id, addr: opts.listen }, logger('election', tag), { ttlSec: opts.electionTtlSec });
    this.loop = new Loop('leader', logger('orchestrator', tag), () => this.leaderPass(), 1000);
  }

  /** Connects to etcd, binds the gRPC port and starts campaigning. */
  async start(): Promise<void> {
    await this.cache.start();
    this.server.addService(ControlService, controlServer(this.store, this.cache, logger('controlapi', this.tag)));
    this.server.addService(DispatcherService, { session: this.dispatcher.session });
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(this.opts.listen, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.addr = this.opts.listen.replace(/:\d+$/, `:${port}`);
    this.election.on('elected', () => this.lead());
    this.election.on('deposed', () => void this.follow());
    this.election.start();
    this.log.info({ addr: this.addr, etcd: this.opts.etcd }, 'manager started');
  }

  get isLeader(): boolean {
    return this.election.isLeader;
  }

  /** Stops loops and sessions, resigns leadership, closes the server and etcd. */
  async stop(): Promise<void> {
    await this.follow();
    await this.election.stop();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    this.server.forceShutdown();
    await this.cache.stop();
    this.store.etcd.close();
  }

  private lead(): void {
    void this.ensureIngress();
    this.dispatcher.start();
    this.cache.on('change', this.onCacheChange);
    this.loop.start();
  }

  private async follow(): Promise<void> {
    this.cache.off('change', this.onCacheChange);
    await this.loop.stop();
    await this.dispatcher.stop();
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
