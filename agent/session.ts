// The agent's session with the leader's dispatcher: register, heartbeat at the
// period the manager asks for, receive assignment sets, send task status.
// Given several managers, it tries them in turn until one (the leader) accepts;
// one that is not the leader names it (shared/leader-hint.ts), and the agent
// goes there at once (a follower that knows no leader holds the call until the
// election ends, so the answer comes when there is one).
// It reconnects by itself with bounded exponential backoff, and after every
// reconnect re-sends the latest status of every task (the manager ignores what
// does not move a task forward), so no status is lost to a broken stream.
// After a silence longer than the manager waits (this process frozen, say),
// nothing more from that session is applied: it is stale; a new one starts.
// The node's certificate is renewed over the session when it comes due
// (renewal.ts): the session goes on, and later connections use the new one.
// With an expired certificate it does not dial at all, and says so once.
import type { ClientDuplexStream, ClientWritableStream } from '@grpc/grpc-js';
import { DispatcherClient, VolumeInfo, type AgentMessage, type FileValue, type LogsPublish, type LogsSubscription, type ManagerMessage, type NetworkState, type NodeCertificate, NodeDescription, type Task, type TaskStatus } from '../proto/generated/orch.js';
import { UnavailableError } from '../shared/errors.js';
import { hintedLeader } from '../shared/leader-hint.js';
import type { Logger } from '../shared/log.js';
import { CLIENT_CHANNEL_OPTIONS, clientCredentials, type TlsMaterial } from '../shared/tls/credentials.js';
import { fingerprint, splitPems, validity } from '../shared/tls/pki.js';
import { expired, RenewalTimer } from '../shared/tls/renewal.js';
import { SilenceCheck } from '../shared/silence-check.js';
import { agentMetrics } from './metrics.js';

export interface SessionHandlers {
  describe(): Promise<NodeDescription>;
  onAssignments(tasks: Task[]): void;
  /** Applies a network state; calls `applied` once its rules are in the kernel (the manager is told, on that same session only). */
  onNetworks(state: NetworkState, applied: () => void): void;
  /** Takes the complete set of secret and config values this node's tasks use. */
  onFiles(values: FileValue[]): void;
  /** Removes these volumes (the complete set of pending removals); each is answered with sendVolumeRemoved. */
  onRemoveVolumes(names: string[]): void;
  statuses(): Array<{ taskId: string; status: TaskStatus }>;
  /** Saves a certificate (renewed, or for a new role) and returns the material to connect with from now on. */
  onCertificate(c: NodeCertificate): TlsMaterial;
  /** Publishes the logs asked for on a call from openLogs. */
  onLogs(sub: LogsSubscription): void;
}

const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;
/** The longest wait before asking again when a live manager answered that it is not the leader (an election is on). */
const HUNT_MAX_MS = 200;
/** A manager that answers no heartbeat for this long (4 periods) is given up for the next one. */
const SILENCE_MS = 1000;
/** How often that silence is looked at (a manager is given up at most this long after SILENCE_MS). */
const WATCH_MS = 100;
/** A manager that does not accept a new session within this long is given up (a registration writes to etcd). */
const ACCEPT_MS = 2000;
/** How long a renewal request waits for its certificate. */
const RENEWAL_WAIT_MS = 10_000;

export class Session {
  /** The client of the manager this session is with (or is being opened with). */
  private client: DispatcherClient | undefined;
  /**
   * A client per manager whose connection is known to work: a hunt that goes
   * back to a manager that refused it reuses its connection (a handshake
   * costs time on a loaded host). After an accept only the accepted one is
   * kept; all are made anew after a certificate change.
   */
  private readonly clients = new Map<number, DispatcherClient>();
  private clientsStale = false;
  private next = 0;
  /** The manager last given up for silence (a frozen old leader, say): passed over until a session is accepted, unless named leader. */
  private shunned = -1;
  private stream: ClientDuplexStream<AgentMessage, ManagerMessage> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private stopped = false;
  private backoff = BACKOFF_MIN_MS;
  private connected = false;
  private volumesSent: string | undefined;
  private readonly renewal: RenewalTimer;
  /** The renewal asked for on this session, waiting for its certificate. */
  private renewing: ((certPem: string) => void) | undefined;
  private expiryTold = false;
  /** The last description of this node the engine gave. */
  private described: NodeDescription | undefined;
  /**
   * The engine's description of this node for the hunt for a leader: asked
   * once, when the session is lost (while the first retry waits), not on
   * every try; asked anew after the next accept. The hunt registers with the
   * last description at once and waits for this one only if there is none.
   */
  private describing: Promise<NodeDescription | undefined> | undefined;
  /** Managers named leader since the last accept: the first naming of each is tried at once, later ones after the hunt's wait (two that name each other do not spin). */
  private readonly chased = new Set<number>();

  constructor(
    private readonly managers: readonly string[],
    private tls: TlsMaterial,
    private readonly handlers: SessionHandlers,
    private readonly log: Logger,
  ) {
    this.renewal = new RenewalTimer(() => this.tls.cert, () => this.requestRenewal(), log);
  }

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.renewal.stop();
    this.teardown();
  }

  /** Asks the leader for a renewed certificate; resolves once it is saved. */
  private requestRenewal(): Promise<string> {
    const stream = this.stream;
    if (!this.connected || !stream) return Promise.reject(new UnavailableError('no session with the leader'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.renewing = undefined;
        reject(new UnavailableError(`no certificate within ${RENEWAL_WAIT_MS / 1000}s`));
      }, RENEWAL_WAIT_MS);
      this.renewing = (certPem) => {
        clearTimeout(timer);
        this.renewing = undefined;
        resolve(certPem);
      };
      stream.write({ renewCertificate: {} });
    });
  }

  /** Reports this node's orch volumes if they changed since the last report on this session (each new session gets one). */
  sendVolumes(volumes: VolumeInfo[]): void {
    const signature = JSON.stringify(volumes.map((v) => VolumeInfo.toJSON(v)));
    if (!this.connected || signature === this.volumesSent) return;
    this.volumesSent = signature;
    this.stream?.write({ volumes: { volumes } });
  }

  /** Answers a volume removal: done (no error), or why not. Unanswered (not connected), it is asked again on the next session. */
  sendVolumeRemoved(name: string, error: string): void {
    if (this.connected) this.stream?.write({ volumeRemoved: { name, error } });
  }

  /** A PublishLogs call to the leader this session is with (none while not connected); `answered` is called when the leader ends it. */
  openLogs(answered: () => void): ClientWritableStream<LogsPublish> | undefined {
    if (!this.connected || !this.client) return undefined;
    return this.client.publishLogs(() => answered());
  }

  /** Sends a status now, if connected (otherwise it is re-sent on reconnect). */
  sendStatus(taskId: string, status: TaskStatus): void {
    if (this.connected) this.stream?.write({ status: { taskId, status } });
  }

  /**
   * This node as its engine describes it. A node that described itself
   * before registers as it was when the engine does not answer: its engine
   * restarting (containers run on) is no reason for it to be down.
   */
  private async describe(): Promise<NodeDescription | undefined> {
    try {
      return (this.described = await this.handlers.describe());
    } catch (err) {
      if (!this.described) this.log.warn({ err: String(err) }, 'cannot describe this node (is dockerd up?); retrying');
      return this.described;
    }
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    if (expired(this.tls.cert, Date.now())) {
      if (!this.expiryTold) this.log.error({ expiredAt: validity(this.tls.cert).notAfter.toISOString() }, `this node's certificate expired at ${validity(this.tls.cert).notAfter.toISOString()}: the managers refuse it; join again with a token (\`orch join --token TOKEN MANAGER\`) and restart the agent`);
      this.expiryTold = true;
      this.backoff = BACKOFF_MAX_MS;
      return this.retry();
    }
    // A node that described itself before registers so at once (docker info takes 0.1-0.4 s on a busy
    // engine, and a new leader waits for the agents); the hunt's own answer, if it differs, registers anew.
    const asked = (this.describing ??= this.describe());
    const description = this.described ?? (await asked);
    if (!description) {
      this.describing = undefined;
      return this.retry();
    }
    if (this.stopped) return;
    const index = this.next;
    const addr = this.managers[index]!;
    if (this.clientsStale) this.closeClients();
    this.clientsStale = false;
    let client = this.clients.get(index);
    if (!client) {
      client = new DispatcherClient(addr, clientCredentials(this.tls), {
        ...CLIENT_CHANNEL_OPTIONS,
        'grpc.keepalive_time_ms': 5000,
        'grpc.keepalive_timeout_ms': 3000,
        'grpc.initial_reconnect_backoff_ms': BACKOFF_MIN_MS,
        'grpc.max_reconnect_backoff_ms': BACKOFF_MAX_MS,
      });
      this.clients.set(index, client);
    }
    this.client = client;
    const stream = client.session();
    this.stream = stream;
    // A manager that is frozen or cut off keeps the stream open but says
    // nothing: it must answer (accept, then answer every heartbeat) in time.
    let heard = Date.now();
    let limit = ACCEPT_MS;
    /** When each heartbeat not yet answered was sent (answers come in order). */
    const sent: number[] = [];
    clearInterval(this.watchdog);
    const silence = new SilenceCheck(WATCH_MS);
    this.watchdog = setInterval(() => {
      const now = Date.now();
      if (silence.mayJudge(now) && now - heard > limit) lost(`no word from the manager for ${limit} ms`, true);
    }, silence.periodMs);
    stream.on('data', (msg: ManagerMessage) => {
      if (this.stream !== stream) return;
      // This process was frozen (or the link was) for longer than the manager waits: it has ended this
      // session, and what arrives now was sent before that, about a cluster that has moved on.
      if (Date.now() - heard > limit) return lost(`nothing heard for ${Date.now() - heard} ms: what this session says now is stale`, true);
      heard = Date.now();
      if (msg.accepted) {
        this.connected = true;
        this.shunned = -1;
        this.backoff = BACKOFF_MIN_MS;
        this.describing = undefined;
        this.chased.clear();
        this.closeClients(client);
        this.log.info({ manager: addr, session: msg.accepted.sessionId }, 'session established');
        void asked.then((now) => {
          if (this.stream === stream && now && !sameDescription(now, description)) lost("this node's description changed: registering it anew");
        });
        clearInterval(this.heartbeat);
        const period = msg.accepted.heartbeatPeriodMs || 250;
        limit = Math.max(SILENCE_MS, 3 * period);
        sent.length = 0;
        this.heartbeat = setInterval(() => {
          if (sent.length < 100) sent.push(Date.now());
          stream.write({ heartbeat: {} });
        }, period);
        for (const s of this.handlers.statuses()) stream.write({ status: s });
        this.renewal.start();
      }
      if (msg.heartbeat && sent.length) agentMetrics.heartbeatRtt.observe((Date.now() - sent.shift()!) / 1000);
      if (msg.certificate) {
        const renewed = msg.certificate.role === this.tls.identity.role;
        this.tls = this.handlers.onCertificate(msg.certificate);
        // Later connections show the new certificate; this one goes on.
        this.clientsStale = true;
        if (renewed) {
          // Asked for, or sent unasked (the cluster's lifetime was shortened): the next renewal is reckoned from it.
          this.renewing?.(msg.certificate.certPem);
          this.renewal.start();
        } else {
          // Promoted or demoted: from now on, connect as the new role.
          this.log.info({ role: msg.certificate.role }, 'new certificate for a new role; reconnecting with it');
          return lost('certificate replaced');
        }
      }
      if (msg.networks) {
        const generation = msg.networks.generation;
        this.handlers.onNetworks(msg.networks, () => {
          if (this.stream === stream && this.connected) stream.write({ networksApplied: { generation } });
        });
      }
      if (msg.files) this.handlers.onFiles(msg.files.values);
      if (msg.removeVolumes) this.handlers.onRemoveVolumes(msg.removeVolumes.names);
      if (msg.assignments) this.handlers.onAssignments(msg.assignments.tasks);
      if (msg.logs) this.handlers.onLogs(msg.logs);
    });
    const lost = (why: string, silent = false, err?: Error) => {
      if (this.stream !== stream) return;
      this.log.warn({ manager: addr, why }, 'session lost; reconnecting');
      // Not accepted here (not the leader, or unreachable), or gone silent: try
      // the leader it named, if it named one we know, else the next manager.
      const hint = err && hintedLeader(err);
      const named = hint ? this.managers.indexOf(hint) : -1;
      if (silent) this.shunned = index;
      if (named >= 0) this.next = named;
      else if (!this.connected || silent) this.next = this.after(index);
      // A live manager that is not the leader: an election is on or just over; ask again soon,
      // and at once the first time it names a manager this hunt has not been sent to.
      if (hint !== undefined) this.backoff = Math.min(this.backoff, HUNT_MAX_MS);
      const atOnce = named >= 0 && named !== index && !this.chased.has(named);
      if (atOnce) this.chased.add(named);
      if (this.connected) this.describing = this.describe();
      // Only a connection that just carried a refusal is known to work: any other is made anew next time.
      if (hint === undefined) this.closeClient(index);
      this.teardown();
      void this.retry(atOnce);
    };
    stream.on('error', (err: Error) => lost(err.message, false, err));
    stream.on('end', () => lost('stream ended'));
    stream.write({ register: { nodeId: this.tls.identity.nodeId, description, trustedRoots: splitPems(this.tls.ca).map((p) => fingerprint(p)) } });
  }

  /** The manager to try after `index`: the next one, passing over a shunned one while there is another. */
  private after(index: number): number {
    const n = this.managers.length;
    const next = (index + 1) % n;
    return next === this.shunned && n > 2 ? (next + 1) % n : next;
  }

  /** Connects again after the backoff (growing it), or right away. */
  private async retry(atOnce = false): Promise<void> {
    if (this.stopped) return;
    if (!atOnce) {
      const delay = this.backoff * (0.5 + Math.random() / 2);
      this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
      await new Promise((r) => setTimeout(r, delay));
    }
    return this.connect();
  }

  private teardown(): void {
    this.connected = false;
    this.volumesSent = undefined;
    clearInterval(this.heartbeat);
    clearInterval(this.watchdog);
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
    if (this.stopped) this.closeClients();
  }

  /** Closes the clients of every manager but `keep`'s. */
  private closeClients(keep?: DispatcherClient): void {
    for (const [index, c] of this.clients) if (c !== keep) this.closeClient(index);
  }

  private closeClient(index: number): void {
    this.clients.get(index)?.close();
    this.clients.delete(index);
  }
}

/** Whether two descriptions of this node say the same. */
function sameDescription(a: NodeDescription, b: NodeDescription): boolean {
  return JSON.stringify(NodeDescription.toJSON(a)) === JSON.stringify(NodeDescription.toJSON(b));
}
