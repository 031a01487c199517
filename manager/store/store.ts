// Typed, transactional access to etcd. Every multi-key change goes through a
// Txn: its compares (mod revisions, absence, the leader fence) and its writes
// are one etcd transaction, so a change lands whole or not at all.
import { managerMetrics } from '../metrics.js';
import { CompareResult, CompareTarget, type ICompare, type IRequestOp } from 'etcd3';
import { ConflictError, NotLeaderError, OrchError } from '../../shared/errors.js';
import { decode, encode, type KindType } from './codec.js';
import { connectEtcd, etcdFailure, type EtcdClient, type EtcdTls } from './etcd.js';
import { keys, prefixEnd, type Kind } from './keys.js';

/** etcd refuses transactions with more operations than this (--max-txn-ops). */
export const MAX_TXN_OPS = 128;

/** A value with the etcd revision it was last written at (0 = absent). */
export interface Versioned<T> {
  value: T;
  modRevision: number;
}

/** Identifies the current leadership term: the leader key's create revision. */
export interface Fence {
  createRevision: number;
}

export class Store {
  /** Set by the election while this manager leads; fenced Txns compare it. */
  fence: Fence | undefined;
  /** The revision of the newest transaction this process committed. */
  lastRevision = 0;

  readonly etcd: EtcdClient;

  /** Connects to the etcd endpoints (comma-separated), with a client certificate if given. */
  constructor(
    readonly endpoints: string,
    readonly tls?: EtcdTls,
  ) {
    this.etcd = connectEtcd(endpoints, tls);
  }

  /** A transaction; `fenced` ones commit only while this manager's leadership term holds (else commit rejects with NotLeaderError). */
  txn(opts: { fenced?: boolean } = {}): Txn {
    return new Txn(this, opts.fenced ? (this.fence ?? 'not leader') : undefined);
  }

  /** Reads one object straight from etcd. */
  async get<K extends Kind>(kind: K, id: string): Promise<Versioned<KindType[K]> | undefined> {
    const res = await this.call(() => this.etcd.kv.range({ key: Buffer.from(keys.object(kind, id)) }));
    const kv = res.kvs[0];
    return kv ? { value: decode(kind, kv.value.toString()), modRevision: Number(kv.mod_revision) } : undefined;
  }

  /** Reads every object of a kind straight from etcd. */
  async list<K extends Kind>(kind: K): Promise<Array<Versioned<KindType[K]>>> {
    const prefix = keys.kindPrefix(kind);
    const res = await this.call(() => this.etcd.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(prefixEnd(prefix)) }));
    return res.kvs.map((kv) => ({ value: decode(kind, kv.value.toString()), modRevision: Number(kv.mod_revision) }));
  }

  /** Reads a raw string key with its mod revision (0 and undefined when absent). */
  async getRawVersioned(key: string): Promise<{ value: string | undefined; modRevision: number }> {
    const res = await this.call(() => this.etcd.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return { value: kv?.value.toString(), modRevision: kv ? Number(kv.mod_revision) : 0 };
  }

  /** Reads a raw string key (indexes), or undefined. */
  async getRaw(key: string): Promise<string | undefined> {
    const res = await this.call(() => this.etcd.kv.range({ key: Buffer.from(key) }));
    return res.kvs[0]?.value.toString();
  }

  /** Runs an etcd call, turning its failures into typed errors (failure). */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    const timer = managerMetrics.etcdRequests.startTimer({ op: 'read' });
    try {
      return await fn();
    } catch (err) {
      managerMetrics.etcdErrors.inc({ op: 'read' });
      throw err instanceof OrchError ? err : await this.failure(err);
    } finally {
      timer();
    }
  }

  /** What an etcd failure means (unreachable, no quorum, out of space), as a typed error. */
  failure(err: unknown, sent = false): Promise<OrchError> {
    return etcdFailure(err, this.endpoints, this.tls, sent);
  }
}

/** One etcd transaction under construction. Commit it once. */
export class Txn {
  private readonly compares: ICompare[] = [];
  private readonly ops: IRequestOp[] = [];

  constructor(
    private readonly store: Store,
    private readonly fence: Fence | 'not leader' | undefined,
  ) {
    if (fence && fence !== 'not leader') this.compares.push(cmp(keys.leader(), CompareTarget.Create, { create_revision: String(fence.createRevision) }));
  }

  /** Requires the object to be at this mod revision (0: it must not exist). */
  expect(kind: Kind, id: string, modRevision: number): this {
    return this.expectKey(keys.object(kind, id), modRevision);
  }

  /** Requires a raw key to be at this mod revision (0: it must not exist). */
  expectKey(key: string, modRevision: number): this {
    this.compares.push(cmp(key, CompareTarget.Mod, { mod_revision: String(modRevision) }));
    return this;
  }

  put<K extends Kind>(kind: K, id: string, value: KindType[K]): this {
    return this.putKey(keys.object(kind, id), encode(kind, value));
  }

  putKey(key: string, value: string): this {
    this.ops.push({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
    return this;
  }

  delete(kind: Kind, id: string): this {
    return this.deleteKey(keys.object(kind, id));
  }

  deleteKey(key: string): this {
    this.ops.push({ request_delete_range: { key: Buffer.from(key) } });
    return this;
  }

  /** Deletes every key under `prefix`. */
  deletePrefix(prefix: string): this {
    this.ops.push({ request_delete_range: { key: Buffer.from(prefix), range_end: Buffer.from(prefixEnd(prefix)) } });
    return this;
  }

  /** Operations queued so far (callers batch below MAX_TXN_OPS). */
  get size(): number {
    return this.ops.length;
  }

  /**
   * Commits. Resolves to the new revision; throws ConflictError when a compare
   * failed (someone changed what we read), NotLeaderError when the fence did.
   */
  async commit(): Promise<number> {
    if (this.fence === 'not leader') throw new NotLeaderError('this manager is not the leader');
    if (this.ops.length > MAX_TXN_OPS) throw new Error(`txn of ${this.ops.length} ops exceeds etcd's ${MAX_TXN_OPS}`);
    const failure: IRequestOp[] = this.fence ? [{ request_range: { key: Buffer.from(keys.leader()) } }] : [];
    let res;
    const timer = managerMetrics.etcdRequests.startTimer({ op: 'txn' });
    try {
      res = await this.store.etcd.kv.txn({ compare: this.compares, success: this.ops, failure });
    } catch (err) {
      managerMetrics.etcdErrors.inc({ op: 'txn' });
      throw await this.store.failure(err, true);
    } finally {
      timer();
    }
    if (res.succeeded) {
      const revision = Number(res.header.revision);
      this.store.lastRevision = Math.max(this.store.lastRevision, revision);
      return revision;
    }
    if (this.fence) {
      const leader = res.responses[0]?.response_range?.kvs[0];
      if (!leader || Number(leader.create_revision) !== this.fence.createRevision) {
        throw new NotLeaderError('leadership lost: the write was fenced off');
      }
    }
    throw new ConflictError('a concurrent change touched the same objects; retry');
  }
}

function cmp(key: string, target: CompareTarget, value: Partial<ICompare>): ICompare {
  return { key: Buffer.from(key), target, result: CompareResult.Equal, ...value };
}
