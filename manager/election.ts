// Leader election through etcd, used even with one manager so that several
// need no redesign. The leader key is created with Create == 0 under a lease;
// its create revision is the fence every leader write compares (store.fence).
//
// A lease is reported lost late (2×TTL), so the leader also steps down on its
// own when its last successful keepalive is older than two thirds of the TTL: a paused
// or partitioned leader stops writing before anyone else can be elected. The
// leader sends each keepalive on its own (every KEEPALIVE_MS), not down one
// long-lived stream: a stream stays with the member it was opened on, and
// when that member's host dies, the keepalives would stop with it and a
// healthy leader would step down; each new one goes to a member that answers.
//
// A lease outlives a dead leader by its TTL, and etcd extends every lease by
// an election timeout when its own raft leader changes (as when the host of
// both dies). So followers also ping the leader (when given a `probe`), every
// PROBE_MS without waiting for the last ping's answer: a dead host answers
// nothing, and a ping to it only times out. A leader that answered none for
// LEADER_SILENCE_MS has its key deleted, comparing its create revision, and
// the follower campaigns at once. A leader watches its key and steps down when
// it goes. Fencing makes a mistaken deposition harmless.
import { EventEmitter } from 'node:events';
import { CompareResult, CompareTarget, GRPCDeadlineExceededError, type Lease, type Watcher } from 'etcd3';
import type { Logger } from '../shared/log.js';
import { within } from '../shared/timeout.js';
import { SilenceCheck } from '../shared/silence-check.js';
import { keys, type Store } from './store/index.js';
import type { PingOutcome } from './manager-links.js';

export interface LeaderInfo {
  managerId: string;
  addr: string;
}

export interface ElectionOptions {
  ttlSec?: number;
  /** Pings the leader at an address; without it, only the lease replaces a dead leader. */
  probe?: (addr: string) => Promise<PingOutcome>;
  /** Whether the host at a manager's address answers a TCP handshake: a replaced leader whose host still did is asked again once elected. */
  handshake?: (addr: string) => Promise<boolean>;
}

const PROBE_MS = 250;
/** How often the leader keeps its lease alive (a candidate, every third of the TTL), and how long one keepalive may take. */
const KEEPALIVE_MS = 250;
const KEEPALIVE_TIMEOUT_MS = 1000;
/** How long one try to create the leader key, or to delete a silent leader's, may take. */
const CLAIM_TIMEOUT_MS = 500;
/** A leader that answered no ping for this long is replaced. */
const LEADER_SILENCE_MS = 1000;
/**
 * A silence that runs out between two checks is judged when it does, not at
 * the next check (up to PROBE_MS later), if this manager's timer then comes
 * at most this late (later: it was stalled, and the next check judges).
 */
const JUDGE_SLACK_MS = 50;
/**
 * A leader whose key another follower deleted is this manager's predecessor
 * too (if it is elected next) when it answered none of this manager's own
 * pings for this long: the follower that deletes the key is not always the
 * one that wins the next election, and without a predecessor the winner
 * gave the dead leader's node the whole election grace. Two periods: a
 * leader alive to this manager whose last ping is still out answered the
 * one before (a round trip under PROBE_MS).
 */
const PREDECESSOR_QUIET_MS = LEADER_SILENCE_MS / 2;

/** The leader key a follower watches over, and when that leader last answered. */
interface Watched {
  info: LeaderInfo;
  createRevision: string;
  answeredAt: number;
  /** The last time its host's kernel answered when it did not (the host is up, the manager is not). */
  hostUpAt?: number;
  /** Deleting its key failed once already (said once). */
  replaceFailed?: boolean;
}

/** A leader this manager found silent and replaced (or saw replaced): its node, since when it answered nothing, and whether its host did not either (no TCP handshake answered since). */
export interface Predecessor {
  nodeId: string;
  /** Its manager's gRPC address. */
  addr: string;
  quietSince: number;
  hostSilent: boolean;
}

/**
 * Emits 'elected' (with the Predecessor this manager replaced, if it replaced
 * one), 'predecessor-silent' (that predecessor's host, which still answered a
 * handshake before the election, no longer does) and 'deposed'.
 */
export class Election extends EventEmitter {
  private lease: Lease | undefined;
  private lastKeepalive = 0;
  private stopped = false;
  private freshness: NodeJS.Timeout | undefined;
  private keeper: NodeJS.Timeout | undefined;
  private readonly ttlSec: number;
  private wake: (() => void) | undefined;
  private prober: NodeJS.Timeout | undefined;
  /** The judgment of a silence that runs out before the next check (see JUDGE_SLACK_MS). */
  private judge: NodeJS.Timeout | undefined;
  private reading = false;
  private replacing = false;
  private watched: Watched | undefined;
  /** The probe's check of the leader's silence, which a stall of this manager must not decide. */
  private readonly silence = new SilenceCheck(PROBE_MS);
  /** The silent leader whose key this manager (or another follower) deleted, until someone is elected. */
  private replaced: Watched | undefined;
  /** While a claim is out: sends another beside it (the leader key went meanwhile). */
  private freed: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly me: LeaderInfo,
    private readonly log: Logger,
    private readonly opts: ElectionOptions = {},
  ) {
    super();
    this.ttlSec = opts.ttlSec ?? 2;
  }

  get isLeader(): boolean {
    return this.store.fence !== undefined;
  }

  /** On a follower: the leader, if it answered this manager's pings within the last two periods. */
  get knownLeader(): LeaderInfo | undefined {
    const w = this.watched;
    return !this.isLeader && w && Date.now() - w.answeredAt <= 2 * PROBE_MS ? w.info : undefined;
  }

  /** The current leader as recorded in etcd, if any. */
  async leader(): Promise<LeaderInfo | undefined> {
    const raw = await this.store.getRaw(keys.leader());
    return raw ? (JSON.parse(raw) as LeaderInfo) : undefined;
  }

  /** The leader key changed (the mirror saw it): a follower reads it now rather than at its next check. */
  leaderKeyChanged(): void {
    if (!this.isLeader && !this.stopped) void this.readLeaderKey();
  }

  /** Campaigns until stopped; never throws (errors are logged and retried with backoff). */
  start(): void {
    void this.campaignLoop();
    this.freshness = setInterval(() => this.checkFreshness(), 100);
    if (this.opts.probe) this.prober = setInterval(() => this.probeLeader(), this.silence.periodMs);
  }

  /** Resigns: deletes our leader key (if still ours) and revokes the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.freshness);
    clearInterval(this.keeper);
    clearInterval(this.prober);
    clearTimeout(this.judge);
    this.wake?.();
    const fence = this.store.fence;
    this.depose('stopping');
    if (fence) {
      const resign = this.store.etcd.kv
        .txn({
          compare: [{ key: Buffer.from(keys.leader()), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: String(fence.createRevision) }],
          success: [{ request_delete_range: { key: Buffer.from(keys.leader()) } }],
        })
        .catch(() => undefined);
      await within(resign, 2000, undefined);
    }
    if (this.lease) await within(this.lease.revoke().catch(() => undefined), 2000, undefined);
  }

  private async campaignLoop(): Promise<void> {
    let backoff = 100;
    while (!this.stopped) {
      try {
        await this.campaignOnce();
        backoff = 100;
      } catch (err) {
        this.log.warn({ err: String(err) }, 'campaign failed; retrying');
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, 2000);
      }
    }
  }

  private async campaignOnce(): Promise<void> {
    const lease = this.store.etcd.lease(this.ttlSec, { autoKeepAlive: false });
    this.lease = lease;
    lease.on('lost', (err) => {
      this.log.warn({ err: String(err) }, 'election lease lost');
      this.depose('lease lost');
      this.wake?.();
    });
    const leaseId = await lease.grant();
    this.lastKeepalive = Date.now();
    clearInterval(this.keeper);
    this.keeper = setInterval(() => {
      if (lease.revoked() || this.lease !== lease) return clearInterval(this.keeper);
      const sent = Date.now();
      // A candidate's lease only has to outlive its TTL: every third of it is enough.
      if (!this.isLeader && sent - this.lastKeepalive < (this.ttlSec * 1000) / 3) return;
      // One that hangs on a member gone silent is left to its connection's keepalive; the next goes elsewhere.
      void within(lease.keepaliveOnce(), KEEPALIVE_TIMEOUT_MS, undefined)
        .then((res) => {
          if (res && this.lease === lease) this.lastKeepalive = Math.max(this.lastKeepalive, sent);
        })
        .catch(() => undefined); // a lost lease says so through 'lost'
    }, KEEPALIVE_MS);
    while (!this.stopped && !lease.revoked() && this.lease === lease) {
      const createRevision = await this.claimSoon(leaseId);
      if (createRevision) {
        const fence = { createRevision };
        this.store.fence = fence;
        this.log.info({ fence: fence.createRevision }, 'elected leader');
        // Not awaited: the watch starts at the key's creation, so a deletion while it is being made is still seen (and the
        // fence fails every write meanwhile). Its stream may be on a member that just died: awaited, it held the lead up
        // for 1.2 s after a leader's host was killed, and the agents were refused all that time.
        const watching = this.watchOwnKey(createRevision).catch((err) => {
          this.log.warn({ err: String(err) }, 'cannot watch the leader key; the lease alone will depose us');
          return undefined;
        });
        // The leader watched until now is gone, whether or not a read of its key saw that yet.
        if (this.watched) this.keyGone(this.watched);
        this.watched = undefined;
        const w = this.replaced;
        this.replaced = undefined;
        const predecessor: Predecessor | undefined = w && { nodeId: w.info.managerId, addr: w.info.addr, quietSince: w.answeredAt, hostSilent: (w.hostUpAt ?? 0) <= w.answeredAt };
        this.emit('elected', predecessor);
        // Its host answered a handshake after its manager's last answer (a stall, then the host died, say): asked again now.
        if (predecessor && !predecessor.hostSilent && this.opts.handshake) {
          void this.opts.handshake(predecessor.addr).then((up) => up || !this.isLeader || this.emit('predecessor-silent', predecessor));
        }
        await this.sleep(); // until deposed or stopped
        void watching.then((w) => w?.cancel()).catch(() => undefined);
        break;
      }
      await this.sleep(this.ttlSec * 125); // someone else leads; look again shortly
    }
    // Not awaited: with etcd electing a new raft leader the call can hang for
    // its whole deadline, and an orphan lease only runs out. Campaign again now.
    if (!lease.revoked()) void lease.revoke().catch(() => undefined);
  }

  /**
   * Creates the leader key under our lease if there is none: the key's create
   * revision if it is ours (made now, or by an earlier try whose answer was
   * lost), else 0. A try gets CLAIM_TIMEOUT_MS: one sent to a member that has
   * just gone silent must not hold the campaign up until its connection dies.
   */
  private async claim(leaseId: string): Promise<number> {
    const key = Buffer.from(keys.leader());
    let res;
    try {
      res = await this.store.etcd.kv.txn(
        {
          compare: [{ key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: '0' }],
          success: [{ request_put: { key, value: Buffer.from(JSON.stringify(this.me)), lease: leaseId } }],
          failure: [{ request_range: { key } }],
        },
        { deadline: Date.now() + CLAIM_TIMEOUT_MS },
      );
    } catch (err) {
      if (err instanceof GRPCDeadlineExceededError) return 0; // tried again shortly, on a member that answers
      throw err;
    }
    if (res.succeeded) return Number(res.header.revision);
    const held = res.responses[0]?.response_range?.kvs[0];
    return held && String(held.lease) === String(leaseId) ? Number(held.create_revision) : 0;
  }

  /**
   * A claim; if the leader key goes while it is out (claimNow), a second goes
   * at once beside it: the first, sent before, fails its compare or hangs on
   * a member that went silent with the leader's host. The first to win decides.
   */
  private async claimSoon(leaseId: string): Promise<number> {
    const first = this.claim(leaseId);
    const freed = new Promise<'freed'>((resolve) => (this.freed = () => resolve('freed')));
    const outcome = await Promise.race([first, freed]).finally(() => (this.freed = undefined));
    if (outcome !== 'freed') return outcome;
    return firstWin([first, this.claim(leaseId)]);
  }

  /** Steps down as soon as our leader key is deleted or replaced (a follower found us dead). */
  private async watchOwnKey(createRevision: number): Promise<Watcher> {
    const w = await this.store.etcd.watch().key(keys.leader()).startRevision(String(createRevision + 1)).create();
    w.on('error', () => undefined);
    const gone = () => {
      if (this.store.fence?.createRevision !== createRevision) return;
      this.depose('leader key taken away');
      this.wake?.();
    };
    w.on('delete', gone);
    w.on('put', (kv) => {
      if (Number(kv.create_revision) !== createRevision) gone();
    });
    return w;
  }

  /** A follower's check, each PROBE_MS: reads the leader key, pings the leader, replaces one silent for LEADER_SILENCE_MS. */
  private probeLeader(): void {
    if (this.isLeader || this.stopped) return;
    void this.readLeaderKey();
    const w = this.watched;
    if (!w) return;
    void this.opts.probe!(w.info.addr).then((outcome) => {
      if (outcome === 'answered') w.answeredAt = Math.max(w.answeredAt, Date.now());
      if (outcome === 'host-up') w.hostUpAt = Date.now();
    });
    const now = Date.now();
    if (!this.silence.mayJudge(now)) return;
    const runsOut = w.answeredAt + LEADER_SILENCE_MS;
    if (now > runsOut) return void this.replace(w);
    clearTimeout(this.judge);
    if (runsOut - now >= PROBE_MS) return;
    const due = runsOut + 1;
    this.judge = setTimeout(() => {
      const at = Date.now();
      if (this.watched === w && !this.isLeader && !this.stopped && at - due <= JUDGE_SLACK_MS && at - w.answeredAt > LEADER_SILENCE_MS) void this.replace(w);
    }, due - now);
  }

  /** Follows the leader key (member-local, serializable: while etcd elects a new raft leader, the check goes on). */
  private async readLeaderKey(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const res = await this.store.etcd.kv.range({ key: Buffer.from(keys.leader()), serializable: true });
      const kv = res.kvs[0];
      const info = kv ? (JSON.parse(kv.value.toString()) as LeaderInfo) : undefined;
      if (!kv || !info || info.managerId === this.me.managerId) {
        if (!kv && this.watched) {
          this.keyGone(this.watched);
          this.claimNow();
        }
        this.watched = undefined;
      } else if (this.watched?.createRevision !== String(kv.create_revision)) {
        this.watched = { info, createRevision: String(kv.create_revision), answeredAt: Date.now() };
        this.replaced = undefined; // another manager won: the next election here replaces no one
      }
    } catch {
      // etcd unreachable: the campaign loop reports it
    } finally {
      this.reading = false;
    }
  }

  /** The watched leader's key went (deleted by another follower, or it resigned): a leader silent to this manager too is its predecessor. */
  private keyGone(w: Watched): void {
    if (Date.now() - w.answeredAt >= PREDECESSOR_QUIET_MS) this.replaced = w;
  }

  /** Deletes a silent leader's key, if it is still that leader's, and campaigns. */
  private async replace(w: Watched): Promise<void> {
    if (this.replacing) return;
    this.replacing = true;
    try {
      const del = await this.store.etcd.kv.txn(
        {
          compare: [{ key: Buffer.from(keys.leader()), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: w.createRevision }],
          success: [{ request_delete_range: { key: Buffer.from(keys.leader()) } }],
        },
        { deadline: Date.now() + CLAIM_TIMEOUT_MS },
      );
      if (this.watched === w) this.watched = undefined;
      if (!del.succeeded) this.keyGone(w);
      else {
        this.replaced = w;
        this.log.warn({ leader: w.info.managerId, addr: w.info.addr }, `the leader answered no ping for ${LEADER_SILENCE_MS} ms: its key is deleted; campaigning`);
      }
      this.claimNow();
    } catch (err) {
      // etcd unreachable or slow to answer: tried again at the next probe (said once per leader).
      if (!w.replaceFailed) this.log.warn({ leader: w.info.managerId, err: String(err) }, 'the leader answers no ping, but deleting its key failed; trying again');
      w.replaceFailed = true;
    } finally {
      this.replacing = false;
    }
  }

  /** The leader key went: the campaign claims it at once, whether it waits between claims or has one out. */
  private claimNow(): void {
    if (this.isLeader) return; // its sleep lasts until it is deposed
    if (this.freed) this.freed();
    else this.wake?.();
  }

  private checkFreshness(): void {
    if (this.isLeader && Date.now() - this.lastKeepalive > (this.ttlSec * 1000 * 2) / 3) {
      this.depose('keepalive stale');
      this.wake?.();
    }
  }

  private depose(why: string): void {
    if (!this.store.fence) return;
    this.store.fence = undefined;
    this.log.warn({ why }, 'no longer leader');
    this.emit('deposed');
    this.lease = undefined;
  }

  private sleep(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const t = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** The first of several claims to win (a create revision), else 0 once all are answered; an error only if every one failed. */
function firstWin(claims: Array<Promise<number>>): Promise<number> {
  return new Promise((resolve, reject) => {
    let left = claims.length;
    let lost = false;
    let failure: unknown;
    const done = () => (lost ? resolve(0) : reject(failure));
    for (const c of claims) {
      c.then(
        (rev) => {
          lost ||= !rev;
          if (rev) resolve(rev);
          else if (--left === 0) done();
        },
        (err) => {
          failure = err;
          if (--left === 0) done();
        },
      );
    }
  });
}
