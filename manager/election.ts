// Leader election through etcd, used even with one manager so that several
// need no redesign. The leader key is created with Create == 0 under a lease;
// its create revision is the fence every leader write compares (store.fence).
//
// A lease is reported lost late (2×TTL), so the leader also steps down on its
// own when its last successful keepalive is older than two thirds of the TTL: a paused
// or partitioned leader stops writing before anyone else can be elected.
import { EventEmitter } from 'node:events';
import { CompareResult, CompareTarget, type Lease } from 'etcd3';
import type { Logger } from '../shared/log.js';
import { within } from '../shared/timeout.js';
import { keys, type Store } from './store/index.js';

export interface LeaderInfo {
  managerId: string;
  addr: string;
}

export interface ElectionOptions {
  ttlSec?: number;
}

/** Emits 'elected' and 'deposed'. */
export class Election extends EventEmitter {
  private lease: Lease | undefined;
  private lastKeepalive = 0;
  private stopped = false;
  private freshness: NodeJS.Timeout | undefined;
  private readonly ttlSec: number;
  private wake: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly me: LeaderInfo,
    private readonly log: Logger,
    opts: ElectionOptions = {},
  ) {
    super();
    this.ttlSec = opts.ttlSec ?? 2;
  }

  get isLeader(): boolean {
    return this.store.fence !== undefined;
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
  }

  /** Resigns: deletes our leader key (if still ours) and revokes the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.freshness);
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
        this.store.fence = { createRevision: Number(res.header.revision) };
        this.log.info({ fence: this.store.fence.createRevision }, 'elected leader');
        this.emit('elected');
        await this.sleep(); // until deposed or stopped
        break;
      }
      await this.sleep(this.ttlSec * 250); // someone else leads; look again shortly
    }
    if (!lease.revoked()) await lease.revoke().catch(() => undefined);
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
