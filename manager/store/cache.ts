// An in-memory mirror of every orch object in etcd, kept by list + watch.
//
// The watch is a hint, not the truth (DESIGN.md §3): the mirror lists
// everything, watches from that revision + 1, and on any watcher trouble
// (disconnect, compaction, cancel) or every `relistMs` it throws the watch
// away and lists again. Loops read the mirror and write through compare-and-
// swap Txns, so a stale mirror can only cause a retried write, never a wrong one.
// The watch goes through a client of its own, to one member that answers: when
// that member goes silent (its host died), the mirror lists again and watches
// through another at once, instead of waiting out the dead connection; and a
// member whose watch broke is not picked again next (just killed, it is still
// counted as answering for a moment).
import { EventEmitter } from 'node:events';
import type { IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../../shared/log.js';
import { within } from '../../shared/timeout.js';
import { UnavailableError } from '../../shared/errors.js';
import { decode, type KindType } from './codec.js';
import { KINDS, keys, PREFIX, parseObjectKey, prefixEnd, type Kind } from './keys.js';
import type { Store, Versioned } from './store.js';
import type { StreamClient } from './etcd.js';

type Tables = { [K in Kind]: Map<string, Versioned<KindType[K]>> };

/**
 * How long a new watch may take to connect before the re-list is tried again
 * (on another member): a member that answers creates one in milliseconds,
 * even on a busy host; meanwhile the mirror falls behind.
 */
const WATCH_CREATE_MS = 1500;

export interface CacheOptions {
  /** Re-list this often even when the watch looks healthy. */
  relistMs?: number;
}

/** What the leader's passes read: the objects by kind (the mirror, or a test's own). */
export type Snapshot = Pick<Cache, 'nodes' | 'services' | 'tasks' | 'networks'>;

/** One object that changed, as the mirror applied it: before (absent: new) and after (absent: deleted). */
export interface ObjectChange {
  kind: Kind;
  id: string;
  prev?: unknown;
  next?: unknown;
  /** The etcd revision of the change (of the re-list that found it, after a re-list). */
  revision: number;
}

/**
 * Emits 'change' after every batch of applied events or re-list; 'object'
 * (an ObjectChange) for each object that changed, and 'leader' (the leader
 * key's value, the revision) when the leader changed, before that batch's 'change'. A
 * re-list reports what differs from before it (not the first list).
 */
export class Cache extends EventEmitter {
  readonly nodes: Tables['nodes'] = new Map();
  readonly services: Tables['services'] = new Map();
  readonly tasks: Tables['tasks'] = new Map();
  readonly networks: Tables['networks'] = new Map();
  /** Secrets' metadata (their values are not mirrored) and configs. */
  readonly secrets: Tables['secrets'] = new Map();
  readonly configs: Tables['configs'] = new Map();
  /** `orch volume rm` requests waiting for their node's answer. */
  readonly volumeRemovals: Tables['volumeRemovals'] = new Map();
  /** Ids of removed nodes, whose certificates are refused. */
  readonly revoked = new Set<string>();
  /** The etcd revision the mirror reflects. */
  revision = 0;
  /** The leader key's value (JSON: managerId, addr), if any. */
  leader: string | undefined;

  private watcher: Watcher | undefined;
  private watchVia: StreamClient | undefined;
  /** The member of the last watch that broke or never started: the next watch goes to another one. */
  private failedVia: string | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private failures = 0;
  private syncing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: CacheOptions = {},
  ) {
    super();
  }

  /** Lists once (throws if etcd is unreachable), then keeps itself current. */
  async start(): Promise<void> {
    this.store.etcd.onSilent((endpoint) => {
      if (this.watcher && this.watchVia?.endpoint === endpoint) this.troubled(this.watcher, new Error(`etcd member ${endpoint} went silent`));
    });
    await this.resync();
    this.relistTimer = setInterval(() => void this.resyncQuietly(), this.opts.relistMs ?? 30_000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.relistTimer);
    clearTimeout(this.retryTimer);
    // A re-list under way is waited for, not its outcome: one that fails (etcd gone) is logged where it runs.
    await within(this.syncing?.catch(() => undefined) ?? Promise.resolve(), 2000, undefined);
    await this.dropWatcher();
  }

  /** Resolves once the mirror has caught up with `revision` (or after `timeoutMs`, whichever first). */
  waitFor(revision: number, timeoutMs = 2000): Promise<void> {
    if (this.revision >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (this.revision < revision) return;
        clearTimeout(timer);
        this.off('change', done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('change', done);
        resolve();
      }, timeoutMs);
      this.on('change', done);
    });
  }

  private table<K extends Kind>(kind: K): Tables[K] {
    return this[kind] as Tables[K];
  }

  private async resync(): Promise<void> {
    await this.dropWatcher();
    const res = await this.store.call(() =>
      this.store.etcd.kv.range({ key: Buffer.from(PREFIX), range_end: Buffer.from(prefixEnd(PREFIX)) }),
    );
    const listedBefore = this.revision > 0;
    const before = Object.fromEntries(KINDS.map((kind) => [kind, new Map(this.table(kind) as Map<string, Versioned<unknown>>)])) as unknown as Tables;
    const leaderBefore = this.leader;
    for (const kind of KINDS) this.table(kind).clear();
    this.revoked.clear();
    this.leader = undefined;
    const revision = Number(res.header.revision);
    for (const kv of res.kvs) this.applyPut(kv, false);
    this.revision = revision;
    if (listedBefore) this.reportDifferences(before, leaderBefore, revision);
    if (this.stopped) return;
    // Bounded: a watch that does not connect in time (its stream on a member that just died, say) must not hold every later re-list up.
    // A member that just died is still counted as answering for a moment: not that one again.
    this.watchVia = this.store.etcd.streamClient(this.failedVia);
    const creating = this.watchVia.etcd.watch().prefix(PREFIX).startRevision(String(this.revision + 1)).create();
    const watcher = await within(creating, WATCH_CREATE_MS, undefined);
    if (!watcher) {
      void creating.then((w) => w.cancel()).catch(() => undefined);
      this.failedVia = this.watchVia.endpoint;
      throw new UnavailableError(`the etcd watch did not start within ${WATCH_CREATE_MS} ms${this.failedVia ? ` on ${this.failedVia}` : ''}`);
    }
    this.failedVia = undefined;
    if (this.stopped) {
      // stop() ran while the watch was being created: it must not outlive us.
      this.watcher = watcher;
      await this.dropWatcher();
      return;
    }
    this.watcher = watcher;
    watcher.on('data', (res) => {
      // A dropped watcher may still deliver what it had buffered: older than the list that replaced it.
      if (watcher !== this.watcher) return;
      for (const ev of res.events) {
        if (ev.type === 'Put') this.applyPut(ev.kv, true);
        else this.applyDelete(ev.kv);
      }
      this.revision = Math.max(this.revision, Number(res.header.revision));
      this.failures = 0;
      this.emit('change');
    });
    // Any trouble: start over from a fresh list. 'error' covers compaction.
    watcher.on('error', (err) => this.troubled(watcher, err));
    watcher.on('disconnected', (err) => this.troubled(watcher, err));
    this.emit('change');
  }

  private troubled(watcher: Watcher, err: unknown): void {
    if (watcher !== this.watcher || this.stopped) return;
    this.log.warn({ err: String(err), member: this.watchVia?.endpoint }, 'etcd watch interrupted; re-listing');
    this.failedVia = this.watchVia?.endpoint;
    this.watcher = undefined;
    void watcher.cancel().catch(() => undefined);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = Math.min(2000, 100 * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.resyncQuietly();
    }, delay);
  }

  private async resyncQuietly(): Promise<void> {
    if (this.stopped || this.syncing) return;
    this.syncing = this.resync();
    try {
      await this.syncing;
    } catch (err) {
      this.log.warn({ err: String(err) }, 're-list failed; will retry');
      this.scheduleRetry();
    } finally {
      this.syncing = undefined;
    }
  }

  private async dropWatcher(): Promise<void> {
    const w = this.watcher;
    const via = this.watchVia;
    this.watcher = undefined;
    this.watchVia = undefined;
    if (via?.endpoint) {
      // The watch's own client: closing it ends the watch, answered or not.
      void w?.cancel().catch(() => undefined);
      via.close();
    } else if (w) {
      // With etcd gone, a cancel may never be answered: wait a little, not forever.
      await within(w.cancel().catch(() => undefined), 1000, undefined);
    }
  }

  /** Applies a put; `report`: say so ('object', 'leader'), as for a watch event. */
  private applyPut(kv: IKeyValue, report: boolean): void {
    const key = kv.key.toString();
    const revoked = revokedId(kv);
    if (revoked) this.revoked.add(revoked);
    if (key === keys.leader()) {
      this.leader = kv.value.toString();
      if (report) this.emit('leader', this.leader, Number(kv.mod_revision));
    }
    const parsed = parseObjectKey(key);
    if (!parsed) return;
    try {
      const value = decode(parsed.kind, kv.value.toString());
      const table = this.table(parsed.kind) as Map<string, Versioned<unknown>>;
      const prev = table.get(parsed.id)?.value;
      table.set(parsed.id, { value, modRevision: Number(kv.mod_revision) });
      if (report) this.emit('object', { kind: parsed.kind, id: parsed.id, prev, next: value, revision: Number(kv.mod_revision) } satisfies ObjectChange);
    } catch (err) {
      this.log.error({ key, err: String(err) }, 'undecodable value in etcd; ignored');
    }
  }

  private applyDelete(kv: IKeyValue): void {
    const revoked = revokedId(kv);
    if (revoked) this.revoked.delete(revoked);
    if (kv.key.toString() === keys.leader()) this.leader = undefined;
    const parsed = parseObjectKey(kv.key.toString());
    if (!parsed) return;
    const prev = this.table(parsed.kind).get(parsed.id)?.value;
    this.table(parsed.kind).delete(parsed.id);
    if (prev !== undefined) this.emit('object', { kind: parsed.kind, id: parsed.id, prev, revision: Number(kv.mod_revision) } satisfies ObjectChange);
  }

  /** After a re-list: what differs from the mirror before it, as if watched. */
  private reportDifferences(before: Tables, leaderBefore: string | undefined, revision: number): void {
    for (const kind of KINDS) {
      const was = before[kind] as Map<string, Versioned<unknown>>;
      const is = this.table(kind) as Map<string, Versioned<unknown>>;
      for (const [id, v] of is) if (was.get(id)?.modRevision !== v.modRevision) this.emit('object', { kind, id, prev: was.get(id)?.value, next: v.value, revision } satisfies ObjectChange);
      for (const [id, v] of was) if (!is.has(id)) this.emit('object', { kind, id, prev: v.value, revision } satisfies ObjectChange);
    }
    if (this.leader && this.leader !== leaderBefore) this.emit('leader', this.leader, revision);
  }
}

function revokedId(kv: IKeyValue): string | undefined {
  const key = kv.key.toString();
  return key.startsWith(keys.revokedPrefix()) ? key.slice(keys.revokedPrefix().length) : undefined;
}
