// The dispatcher: one bidirectional session per agent (DESIGN.md §4).
// Agent → manager: Register first, then heartbeats and task status.
// Manager → agent: SessionAccepted, then the node's network state and its
// complete assignment set whenever they change; the agent acknowledges each
// network state it has applied, which is how a task leaves the pools before
// it stops (drain.ts). Task status goes to etcd through status.ts, the
// node's volumes and its answers to volume removals through volumes.ts, its
// certificate (role changes, renewals, CA rotation) through certificates.ts,
// its tasks' logs through logs.ts.
// Runs only on the leader; its writes are fenced.
import { randomUUID } from 'node:crypto';
import { type Metadata, status as grpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import {
  NodeAvailability,
  NodeState,
  TaskState,
  type AgentMessage,
  type ManagerMessage,
  NetworkState,
  type Node,
  type Register,
  type FileValue,
  type Task,
  type LogsSubscription,
} from '../../proto/generated/orch.js';
import { ConflictError, OrchError, PermissionDeniedError } from '../../shared/errors.js';
import { leaderTrailers } from '../../shared/leader-hint.js';
import type { Logger } from '../../shared/log.js';
import { isTerminal } from '../../shared/states.js';
import { networkState, standbyNetworks } from './network-state.js';
import type { Identity, Role } from '../../shared/tls/pki.js';
import type { Gate } from '../ca/auth.js';
import type { CertPolicy, Issue } from '../ca/issue.js';
import { keys, type Cache, type Store } from '../store/index.js';
import { Certificates, nodeCert, type NodeCert } from './certificates.js';
import { Drain, type Peer } from './drain.js';
import { Liveness, type LivenessOptions } from './liveness.js';
import type { Predecessor } from '../election.js';
import { StatusWriter } from './status.js';
import { FileValues } from './files.js';
import { VolumeRecorder } from './volumes.js';
import { LogBroker, type LogFeed } from './logs.js';
import { managerMetrics } from '../metrics.js';

type Stream = ServerDuplexStream<AgentMessage, ManagerMessage>;

interface Session {
  id: string;
  nodeId: string;
  /** Its certificate, as it connected and as sent since. */
  cert: NodeCert;
  stream: Stream;
  pushed: string | undefined; // signature of the last assignment set sent (none yet: even an empty set goes out)
  pushedNetworks: string | undefined; // the same for the network state
  pushedFiles: string | undefined; // the same for the secret and config values
  pushedRemovals: string | undefined; // the same for the volumes to remove
  /** The drain's view: generations of the network state last pushed and the newest the agent applied. */
  peer: Peer;
}

const REGISTER_RETRIES = 5;
/** While a stopping task is held back for the pools to drop it, how often to look again (time releases it too). */
const DRAIN_RECHECK_MS = 250;
/** How often the leader compares each node's certificate with what the cluster asks (lifetime, root, trust). */
const CERT_CHECK_MS = 1000;
/**
 * How long a follower that knows no leader (an election is on) holds an
 * agent's session call for the outcome: it takes about 1 s from the old
 * leader's last answer, and agents that left it look here meanwhile.
 */
const ELECTION_HOLD_MS = 1000;
const ELECTION_LOOK_MS = 25;
/** Who may hold a session: nodes, never the CLI's admin certificate. */
const SESSION_ROLES: readonly Role[] = ['worker', 'manager'];

/** What a dispatcher works with: the manager's mirror, store and gate, and what it asks of the rest of the manager. */
export interface DispatcherDeps {
  cache: Cache;
  store: Store;
  log: Logger;
  gate: Gate;
  /** Issues node certificates (renewals, role changes, rotation), under the cluster's policy. */
  issue: Issue;
  certPolicy: () => Promise<CertPolicy>;
  liveness: LivenessOptions;
  /** A secret's value, decrypted, for the agents whose tasks use it. */
  loadSecret: (secretId: string) => Promise<Uint8Array>;
  /** On a follower: the leader's gRPC address, told to agents that come here. */
  leaderAddr: () => string | undefined;
}

export class Dispatcher {
  private readonly sessions = new Map<string, Session>();
  /** Nodes whose registration is under way (see register). */
  private readonly registering = new Set<string>();
  /** Nodes whose down write is out, each with the revision it was written against (a check does not write it again). */
  private readonly markingDown = new Map<string, number>();
  private readonly liveness: Liveness;
  /** Session calls held while an election is on (electionOutcome), each told its outcome once it is known. */
  private readonly held = new Set<() => boolean>();
  private holdTimer: NodeJS.Timeout | undefined;
  private active = false;
  private timer: NodeJS.Timeout | undefined;
  private pushScheduled = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private certTimer: NodeJS.Timeout | undefined;
  private readonly drain = new Drain();
  private readonly status: StatusWriter;
  private readonly files: FileValues;
  private readonly volumes: VolumeRecorder;
  private readonly certificates: Certificates;
  readonly logs: LogBroker;
  private readonly onChange = () => this.schedulePush();

  private readonly cache: Cache;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly gate: Gate;
  private readonly heartbeatMs: number;
  private readonly leaderAddr: () => string | undefined;

  constructor(deps: DispatcherDeps) {
    ({ cache: this.cache, store: this.store, log: this.log, gate: this.gate, leaderAddr: this.leaderAddr } = deps);
    this.heartbeatMs = deps.liveness.heartbeatMs;
    this.liveness = new Liveness(deps.liveness);
    this.status = new StatusWriter(this.cache, this.store, this.log);
    this.files = new FileValues(this.cache, deps.loadSecret, () => this.schedulePush(), this.log);
    this.volumes = new VolumeRecorder(this.store, this.log);
    this.certificates = new Certificates(this.cache, this.store, this.log, deps.issue, deps.certPolicy);
    this.logs = new LogBroker(this.gate, this.log);
  }

  /** Whether this dispatcher serves sessions (its manager leads). */
  get leading(): boolean {
    return this.active;
  }

  /** Asks a node's agent for its tasks' logs (logs.ts); refused at once if it has no session here. */
  openLogs(nodeId: string, ask: Omit<LogsSubscription, 'id'>): Promise<LogFeed> {
    return this.logs.open(
      nodeId,
      (sub) => {
        const s = this.sessions.get(nodeId);
        if (!this.active || !s) return false;
        s.stream.write({ logs: sub });
        return true;
      },
      ask,
    );
  }

  /** Starts serving sessions and watching liveness (on becoming leader, having replaced `predecessor` if it found one silent). */
  start(predecessor?: Predecessor): void {
    this.active = true;
    this.status.start();
    this.liveness.elected([...this.cache.nodes.values()].map((n) => n.value.id), Date.now(), predecessor);
    this.cache.on('change', this.onChange);
    // At once: the replaced leader's node, found gone by the election, need not wait a period.
    this.checkLiveness();
    this.timer = setInterval(() => this.checkLiveness(), this.liveness.checkMs);
    this.lookAtHeld();
    this.certTimer = setInterval(() => void this.certificates.check([...this.sessions.values()].map((s) => s.cert)), CERT_CHECK_MS);
  }

  /** The replaced leader's host, asked again after the election, is silent: its node is down as soon as its heartbeats would say so. */
  predecessorGone(predecessor: Predecessor): void {
    if (!this.active) return;
    this.liveness.foundSilent(predecessor);
    this.checkLiveness();
  }

  /** Stops (on losing leadership or shutdown): every session is closed; agents reconnect elsewhere. */
  async stop(): Promise<void> {
    this.active = false;
    clearInterval(this.timer);
    clearInterval(this.certTimer);
    clearTimeout(this.drainTimer);
    this.cache.off('change', this.onChange);
    for (const s of this.sessions.values()) endSession(s.stream, grpcStatus.UNAVAILABLE, 'this manager is no longer the leader');
    this.sessions.clear();
    await this.status.stop();
  }

  /** gRPC handler for Dispatcher.Session. */
  session = (stream: Stream): void => {
    let who: Identity;
    try {
      who = this.gate.check(stream, SESSION_ROLES, 'the dispatcher');
    } catch (err) {
      return endSession(stream, (err as OrchError).code, (err as OrchError).message);
    }
    if (!this.active) {
      const refuse = () => endSession(stream, grpcStatus.UNAVAILABLE, 'this manager is not the leader', leaderTrailers(this.leaderAddr()));
      if (this.leaderAddr() !== undefined) return refuse();
      // No leader known here: an election is on. The call waits for its outcome (what the agent sends meanwhile
      // is buffered), so that the agent learns it the moment it is known instead of guessing when to ask again.
      void this.electionOutcome(stream).then((elected) => (elected ? this.serve(stream, who) : refuse()));
      return;
    }
    this.serve(stream, who);
  };

  /**
   * Whether this manager came to lead within ELECTION_HOLD_MS (false as soon
   * as it knows another leader, or the caller left). All held calls are
   * looked at on one timer, and at once when this manager is elected.
   */
  private electionOutcome(stream: Stream): Promise<boolean> {
    const until = Date.now() + ELECTION_HOLD_MS;
    return new Promise((resolve) => {
      const decided = (): boolean => {
        if (this.active) resolve(true);
        else if (this.leaderAddr() !== undefined || stream.cancelled || Date.now() >= until) resolve(false);
        else return false;
        return true;
      };
      this.held.add(decided);
      this.holdTimer ??= setInterval(() => this.lookAtHeld(), ELECTION_LOOK_MS).unref();
    });
  }

  private lookAtHeld(): void {
    for (const decided of this.held) if (decided()) this.held.delete(decided);
    if (this.held.size === 0) {
      clearInterval(this.holdTimer);
      this.holdTimer = undefined;
    }
  }

  /** A session on the leader: a Register first, then heartbeats, statuses and the rest until it ends. */
  private serve(stream: Stream, who: Identity): void {
    let session: Session | undefined;
    const fail = (code: grpcStatus, message: string): void => endSession(stream, code, message);
    stream.on('data', (msg: AgentMessage) => {
      if (!session) {
        if (!msg.register?.nodeId) return fail(grpcStatus.INVALID_ARGUMENT, 'the first message of a session must be Register with a node id');
        if (msg.register.nodeId !== who.nodeId) return fail(grpcStatus.PERMISSION_DENIED, `node ${who.nodeId} cannot register as node ${msg.register.nodeId}`);
        void this.register(stream, msg.register, who.role).then(
          (s) => (session = s),
          (err) => fail(err instanceof OrchError ? err.code : grpcStatus.UNAVAILABLE, `registration failed: ${err instanceof OrchError ? err.message : String(err)}`),
        );
        return;
      }
      this.liveness.alive(session.nodeId, Date.now());
      if (msg.heartbeat) {
        stream.write({ heartbeat: {} });
        managerMetrics.heartbeats.inc();
      }
      if (msg.status) this.status.enqueue(session.nodeId, msg.status);
      if (msg.volumes) this.volumes.report(session.nodeId, msg.volumes.volumes);
      if (msg.volumeRemoved) this.volumes.removed(session.nodeId, msg.volumeRemoved);
      if (msg.renewCertificate) void this.certificates.renew(session.cert);
      if (msg.networksApplied) {
        session.peer.applied = Math.max(session.peer.applied, Number(msg.networksApplied.generation));
        if (this.drain.waiting) this.schedulePush();
      }
    });
    const end = () => {
      if (session && this.sessions.get(session.nodeId) === session) {
        this.sessions.delete(session.nodeId);
        this.liveness.closed(session.nodeId, Date.now());
        this.log.info({ node: session.nodeId }, 'session closed');
      }
    };
    stream.on('end', end);
    stream.on('error', end);
    stream.on('close', end);
  }

  /**
   * Registers a node. The liveness check leaves it alone meanwhile: between
   * its ready record and its session, a returning node's last sign of life is
   * old, and marking it down then would leave a live session on a down node.
   */
  private async register(stream: Stream, reg: Register, role: string): Promise<Session> {
    this.registering.add(reg.nodeId);
    try {
      return await this.registerNode(stream, reg, role);
    } finally {
      this.registering.delete(reg.nodeId);
    }
  }

  private async registerNode(stream: Stream, reg: Register, role: string): Promise<Session> {
    const nodeId = reg.nodeId;
    const now = new Date();
    // The session is made once registered; its certificate's sends go only while it is the node's current one.
    let session: Session | undefined;
    const current = () => !!session && this.sessions.get(nodeId) === session;
    const cert = nodeCert(nodeId, role, stream.getAuthContext().sslPeerCertificate, reg.trustedRoots, {
      current,
      send: (certificate) => current() && (stream.write({ certificate }), true),
    });
    for (let attempt = 0; ; attempt++) {
      // First from the mirror (all agents register at once with a new leader: two etcd reads each were
      // 20-100 ms on a busy host); the transaction compares both, and a retry reads etcd.
      const revoked = attempt === 0 ? this.cache.revoked.has(nodeId) : (await this.store.getRaw(keys.revoked(nodeId))) !== undefined;
      if (revoked) throw new PermissionDeniedError(`node ${nodeId} was removed from the cluster: its certificate is revoked; join again with a token`);
      const cur = attempt === 0 ? this.cache.nodes.get(nodeId) : await this.store.get('nodes', nodeId);
      const node: Node = {
        id: nodeId,
        certRoot: '',
        labels: {},
        ingressAddr: '',
        volumes: [],
        availability: NodeAvailability.ACTIVE,
        createdAt: now,
        desiredRole: '',
        ...cur?.value,
        description: reg.description,
        role,
        state: NodeState.NODE_READY,
        stateMessage: '',
        updatedAt: now,
        certExpiresAt: cert.notAfter ? new Date(cert.notAfter) : undefined,
        trustedRoots: reg.trustedRoots,
      };
      try {
        // Not removed meanwhile: a `node rm` and this registration cannot both win.
        await this.store.txn({ fenced: true }).expectKey(keys.revoked(nodeId), 0).expect('nodes', nodeId, cur?.modRevision ?? 0).put('nodes', nodeId, node).commit();
        break;
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= REGISTER_RETRIES) throw err;
      }
    }
    const old = this.sessions.get(nodeId);
    if (old) endSession(old.stream, grpcStatus.CANCELLED, 'superseded by a newer session');
    session = {
      id: randomUUID(),
      nodeId,
      cert,
      stream,
      pushed: undefined,
      pushedNetworks: undefined,
      pushedFiles: undefined,
      pushedRemovals: undefined,
      peer: { nodeId, pushed: 0, applied: 0 },
    };
    this.sessions.set(nodeId, session);
    this.liveness.alive(nodeId, Date.now());
    stream.write({ accepted: { sessionId: session.id, heartbeatPeriodMs: this.heartbeatMs } });
    this.log.info({ node: nodeId, hostname: reg.description?.hostname }, 'node registered');
    // Its first push comes with everyone's: a drain decides on all sessions' states of one generation.
    this.schedulePush();
    return session;
  }

  private schedulePush(): void {
    if (this.pushScheduled) return;
    this.pushScheduled = true;
    setImmediate(() => {
      this.pushScheduled = false;
      for (const s of this.sessions.values()) {
        if (!this.cache.revoked.has(s.nodeId)) continue;
        this.sessions.delete(s.nodeId);
        endSession(s.stream, grpcStatus.PERMISSION_DENIED, `node ${s.nodeId} was removed from the cluster: its certificate is revoked`);
        this.log.warn({ node: s.nodeId }, 'session of a removed node ended');
      }
      this.pushAll();
    });
  }

  /**
   * One push to every session, all from the same mirror: network states
   * first (a task's container joins its network at start, and the drain
   * compares every node's state of this generation), then certificates and
   * assignment sets.
   */
  private pushAll(): void {
    const generation = this.drain.nextGeneration();
    const byNode = new Map<string, Task[]>();
    for (const { value: t } of this.cache.tasks.values()) {
      if (!this.sessions.has(t.nodeId)) continue;
      const list = byNode.get(t.nodeId) ?? [];
      list.push(t);
      byNode.set(t.nodeId, list);
    }
    for (const s of this.sessions.values()) this.pushNetworks(s, byNode.get(s.nodeId) ?? [], generation);
    const peers = [...this.sessions.values()].map((s) => s.peer);
    const now = Date.now();
    const removals = new Map<string, string[]>();
    for (const { value: r } of this.cache.volumeRemovals.values()) if (!r.error) removals.set(r.nodeId, [...(removals.get(r.nodeId) ?? []), r.name]);
    for (const s of this.sessions.values()) {
      this.certificates.pushRoleChange(s.cert);
      this.pushRemovals(s, removals.get(s.nodeId) ?? []);
      const tasks = byNode.get(s.nodeId) ?? [];
      // The values its tasks mount go first; while one is still being read, its assignments wait.
      const values = this.files.valuesFor(tasks);
      if (!values) continue;
      this.pushFiles(s, values);
      this.pushAssignments(s, tasks.map((t) => this.drain.view(t, peers, now, (late) => this.lateDrain(t, late))));
    }
    this.drain.prune((id) => this.cache.tasks.has(id));
    this.files.prune();
    // Held back tasks are released by acks (each schedules a push) or, failing those, by time.
    clearTimeout(this.drainTimer);
    if (this.drain.waiting) this.drainTimer = setTimeout(() => this.schedulePush(), DRAIN_RECHECK_MS);
  }

  private lateDrain(t: Task, nodes: string[]): void {
    this.log.warn({ task: t.id, nodes }, 'nodes did not confirm that they stopped sending traffic to a stopping task in time; stopping it anyway');
  }

  /**
   * Sends the node its complete assignment set if it changed since the last
   * push. Only what the agent acts on counts as a change (which tasks, and
   * their desired state): the status it reported itself does not.
   */
  private pushAssignments(s: Session, tasks: Task[]): void {
    const signature = tasks
      .map((t) => `${t.id}:${t.desiredState}`)
      .sort()
      .join(',');
    if (signature === s.pushed) return;
    s.pushed = signature;
    s.stream.write({ assignments: { tasks } });
  }

  /** Sends the node the secret and config values its tasks use, if the set changed (values never change under an id). */
  private pushFiles(s: Session, values: FileValue[]): void {
    const signature = values.map((v) => v.id).join(',');
    if (signature === s.pushedFiles) return;
    s.pushedFiles = signature;
    s.stream.write({ files: { values } });
  }

  /** Sends the node the volumes to remove, if that set changed (an empty set goes out only to clear a non-empty one). */
  private pushRemovals(s: Session, names: string[]): void {
    const signature = names.sort().join(',');
    if (signature === (s.pushedRemovals ?? '')) return;
    s.pushedRemovals = signature;
    s.stream.write({ removeVolumes: { names } });
  }

  /** Sends the node its network state (network-state.ts) for its tasks and the services that may come, if it changed, numbered `generation`. */
  private pushNetworks(s: Session, tasks: Task[], generation: number): void {
    const networkIds = standbyNetworks(this.cache, s.nodeId);
    for (const t of tasks) if (!isTerminal(t.status?.state ?? TaskState.NEW)) for (const a of t.networks) networkIds.add(a.networkId);
    const state = networkState(this.cache, s.nodeId, networkIds);
    const signature = JSON.stringify(NetworkState.toJSON(state));
    if (signature === s.pushedNetworks) return;
    s.pushedNetworks = signature;
    s.peer.pushed = generation;
    s.stream.write({ networks: { ...state, generation: BigInt(generation) } });
  }

  private checkLiveness(): void {
    const now = Date.now();
    if (!this.liveness.checking(now)) return;
    const ready = () => [...this.cache.nodes.values()].filter((n) => n.value.state === NodeState.NODE_READY).length;
    const held = this.liveness.holdDown(now, this.sessions.size, ready);
    for (const { value: node, modRevision } of this.cache.nodes.values()) {
      if (node.state !== NodeState.NODE_READY || this.registering.has(node.id) || this.markingDown.get(node.id) === modRevision) continue;
      if (this.liveness.verdict(node.id, now) !== 'down' || (held && this.liveness.holdCovers(node.id))) continue;
      this.log.warn({ node: node.id, quietMs: now - (this.liveness.quietSince(node.id) ?? now) }, 'node down: no heartbeat in time');
      managerMetrics.nodesDown.inc();
      // Its session, if still open, is ended: the agent must register again to be ready again.
      const s = this.sessions.get(node.id);
      if (s) {
        this.sessions.delete(node.id);
        endSession(s.stream, grpcStatus.UNAVAILABLE, 'this node was marked down (no heartbeat in time); register again');
      }
      this.markingDown.set(node.id, modRevision);
      void this.store
        .txn({ fenced: true })
        .expect('nodes', node.id, modRevision)
        .put('nodes', node.id, { ...node, state: NodeState.NODE_DOWN, stateMessage: 'heartbeat failure', updatedAt: new Date(now) })
        .commit()
        .catch((err) => {
          this.markingDown.delete(node.id);
          this.log.warn({ node: node.id, err: String(err) }, 'marking node down failed; will retry');
        });
    }
    for (const [id, rev] of this.markingDown) if (this.cache.nodes.get(id)?.modRevision !== rev) this.markingDown.delete(id);
  }
}

/** Ends a session with a status the agent sees (grpc-js sends it on an 'error' event, not on destroy). */
function endSession(stream: Stream, code: grpcStatus, message: string, metadata?: Metadata): void {
  stream.emit('error', Object.assign(new Error(message), { code, details: message, metadata }));
}
