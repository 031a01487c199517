// Leader election through etcd, used even with one manager so that several
// need no redesign. The leader key is created with Create == 0 under a lease;
// its create revision is the fence every leader write compares (store.fence).
//
// A lease is reported lost late (2×TTL), so the leader also steps down on its
// own when its last successful keepalive is older than two thirds of the TTL: a paused
// or partitioned leader stops writing before anyone else can be elected.
//
// A lease outlives a dead leader by its TTL, and etcd extends every lease by
// an election timeout when its own raft leader changes (as when the host of
// both dies). So followers also ping the leader (when given a `probe`): after
// PROBE_FAILURES missed pings in a row they delete its key, comparing its
// create revision, and campaign at once. A leader watches its key and steps
// down when it goes. Fencing makes a mistaken deposition harmless.
import { EventEmitter } from 'node:events';
import { CompareResult, CompareTarget, type Lease, type Watcher } from 'etcd3';
import type { Logger } from '../shared/log.js';
import { within } from '../shared/timeout.js';
import { keys, type Store } from './store/index.js';

export interface LeaderInfo {
  managerId: string;
  addr: string;
}

export interface ElectionOptions {
  ttlSec?: number;
  /** Asks whether the leader at an address answers; without it, only the lease replaces a dead leader. */
  probe?: (addr: string) => Promise<boolean>;
}

const PROBE_MS = 250;
const PROBE_FAILURES = 4;

/** Emits 'elected' and 'deposed'. */
export class Election extends EventEmitter {
  private lease: Lease | undefined;
  private lastKeepalive = 0;
  private stopped = false;
  private freshness: NodeJS.Timeout | undefined;
  private readonly ttlSec: number;
  private wake: (() => void) | undefined;
  private prober: NodeJS.Timeout | undefined;
  private probing = false;
  private misses = 0;
  private answering: LeaderInfo | undefined;
  private keyWatcher: Watcher | undefined;

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

  /** On a follower: the leader as it last answered this manager's ping (none while it does not). */
  get knownLeader(): LeaderInfo | undefined {
    return this.isLeader ? undefined : this.answering;
  }

  /** The current leader as recorded in etcd, if any. */
  async leader(): Promise<LeaderInfo | undefined> {
    const raw = await this.store.getRaw(keys.leader());
    return raw ? (JSON.parse(raw) as LeaderInfo) : undefined;
  }

  /** Campaigns until stopped; never throws (errors are logged and retried with backoff). */
  start(): void {
    void this.campaignLoop();
    this.freshness = setInterval(() => this.checkFreshness(), 100);
    if (this.opts.probe) this.prober = setInterval(() => void this.probeLeader(), PROBE_MS);
  }

  /** Resigns: deletes our leader key (if still ours) and revokes the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.freshness);
    clearInterval(this.prober);
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
    const lease = this.store.etcd.lease(this.ttlSec, { autoKeepAlive: true });
    this.lease = lease;
    lease.on('keepaliveSucceeded', () => (this.lastKeepalive = Date.now()));
    lease.on('lost', (err) => {
      this.log.warn({ err: String(err) }, 'election lease lost');
      this.depose('lease lost');
      this.wake?.();
    });
    const leaseId = await lease.grant();
    this.lastKeepalive = Date.now();
    while (!this.stopped && !lease.revoked() && this.lease === lease) {
      const res = await this.store.etcd.kv.txn({
        compare: [{ key: Buffer.from(keys.leader()), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: '0' }],
        success: [{ request_put: { key: Buffer.from(keys.leader()), value: Buffer.from(JSON.stringify(this.me)), lease: leaseId } }],
      });
      if (res.succeeded) {
        const fence = { createRevision: Number(res.header.revision) };
        this.store.fence = fence;
        this.log.info({ fence: fence.createRevision }, 'elected leader');
        await this.watchOwnKey(fence.createRevision).catch((err) => this.log.warn({ err: String(err) }, 'cannot watch the leader key; the lease alone will depose us'));
        this.emit('elected');
        await this.sleep(); // until deposed or stopped
        await this.keyWatcher?.cancel().catch(() => undefined);
        this.keyWatcher = undefined;
        break;
      }
      await this.sleep(this.ttlSec * 125); // someone else leads; look again shortly
    }
    // Not awaited: with etcd electing a new raft leader the call can hang for
    // its whole deadline, and an orphan lease only runs out. Campaign again now.
    if (!lease.revoked()) void lease.revoke().catch(() => undefined);
  }

  /** Steps down as soon as our leader key is deleted or replaced (a follower found us dead). */
  private async watchOwnKey(createRevision: number): Promise<void> {
    const w = await this.store.etcd.watch().key(keys.leader()).startRevision(String(createRevision + 1)).create();
    this.keyWatcher = w;
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
  }

  /** A follower's check: replaces a leader that missed PROBE_FAILURES pings in a row. */
  private async probeLeader(): Promise<void> {
    if (this.probing || this.isLeader || this.stopped) return;
    this.probing = true;
    try {
      // Member-local (serializable): while etcd itself elects a new raft leader, the check goes on.
      const res = await this.store.etcd.kv.range({ key: Buffer.from(keys.leader()), serializable: true });
      const kv = res.kvs[0];
      const leader = kv ? (JSON.parse(kv.value.toString()) as LeaderInfo) : undefined;
      if (!kv || !leader || leader.managerId === this.me.managerId) {
        this.misses = 0;
        this.answering = undefined;
        return;
      }
      if (await this.opts.probe!(leader.addr)) {
        this.misses = 0;
        this.answering = leader;
        return;
      }
      this.answering = undefined;
      if (++this.misses < PROBE_FAILURES) return;
      this.misses = 0;
      const del = await this.store.etcd.kv.txn({
        compare: [{ key: Buffer.from(keys.leader()), target: CompareTarget.Create, result: CompareResult.Equal, create_revision: String(kv.create_revision) }],
        success: [{ request_delete_range: { key: Buffer.from(keys.leader()) } }],
      });
      if (del.succeeded) {
        this.log.warn({ leader: leader.managerId, addr: leader.addr }, `the leader missed ${PROBE_FAILURES} pings: its key is deleted; campaigning`);
        this.wake?.();
      }
    } catch {
      // etcd unreachable: the campaign loop reports it
    } finally {
      this.probing = false;
    }
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
