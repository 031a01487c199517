// The leader's upkeep of etcd: every pass it asks the members how they are,
// plans (plan.ts) and carries out one compaction or one defragmentation.
// Compaction keeps the newest revisions (a watcher that briefly lags resumes;
// one further behind gets etcd's "compacted" error and re-lists, as the
// mirror does on any watch trouble). The last compaction is recorded in etcd
// so a new leader goes on from it.
import type { StoreMember } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import { Loop } from '../loop.js';
import { connectMember, keys, type Cache, type Store } from '../store/index.js';
import { memberStatuses } from '../store/members.js';
import { formatBytes } from '../../shared/units.js';
import { planUpkeep, type UpkeepAction, type UpkeepPolicy } from './plan.js';

/** How often the leader looks at etcd. */
const PASS_MS = 10_000;
/** How long one member's defragmentation may take (it blocks that member meanwhile). */
export const DEFRAG_TIMEOUT_MS = 120_000;

export class Upkeep {
  private readonly loop: Loop;
  /** The members as the last pass saw them. */
  private members: StoreMember[] = [];
  /** With no compaction recorded, time counts from when this leader began. */
  private since = Date.now();

  constructor(
    private readonly store: Store,
    private readonly cache: Cache,
    private readonly log: Logger,
    private readonly policy: UpkeepPolicy,
  ) {
    this.loop = new Loop('upkeep', log, () => this.pass(), PASS_MS);
  }

  start(): void {
    this.since = Date.now();
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async pass(): Promise<void> {
    const [members, revision, compacted] = await Promise.all([memberStatuses(this.store.endpoints, this.store.tls), currentRevision(this.store), lastCompaction(this.store)]);
    this.members = members;
    const view = { now: Date.now(), revision, mirrored: this.cache.revision, compacted: compacted ?? { revision: 0, at: this.since }, members };
    const actions = planUpkeep(view, this.policy);
    for (const a of actions) await this.carryOut(a);
  }

  private async carryOut(a: UpkeepAction): Promise<void> {
    if (a.kind === 'compact') {
      await compact(this.store, a.revision);
      await recordCompaction(this.store, a.revision);
      this.log.info({ revision: a.revision, why: a.why }, 'etcd history compacted');
      return;
    }
    const before = this.members.find((m) => m.endpoint === a.endpoint);
    const started = Date.now();
    await defragment(this.store, a.endpoint);
    this.log.info({ member: a.endpoint, why: a.why, before: before && formatBytes(before.dbSize), ms: Date.now() - started }, 'etcd member defragmented');
  }
}

/** etcd's current revision (a count-only read of one key). */
export async function currentRevision(store: Store): Promise<number> {
  const res = await store.call(() => store.etcd.kv.range({ key: Buffer.from(keys.compaction()), count_only: true }));
  return Number(res.header.revision);
}

/** The last compaction recorded, if any. */
export async function lastCompaction(store: Store): Promise<{ revision: number; at: number } | undefined> {
  const raw = await store.getRaw(keys.compaction());
  if (!raw) return undefined;
  const { revision, at } = JSON.parse(raw) as { revision: number; at: string };
  return { revision, at: Date.parse(at) };
}

/** Compacts etcd's history up to `revision`; a revision already compacted (by another leader, an operator, etcd itself) counts as done. */
export async function compact(store: Store, revision: number, physical = false): Promise<void> {
  try {
    await store.etcd.kv.compact({ revision: String(revision), physical });
  } catch (err) {
    if (!/required revision has been compacted/.test(String(err))) throw await store.failure(err);
  }
}

/** Records a compaction for the next leader: a plain put (it depends on no read; a lost one only means an early compaction). */
export async function recordCompaction(store: Store, revision: number): Promise<void> {
  await store.call(() => store.etcd.put(keys.compaction()).value(JSON.stringify({ revision, at: new Date().toISOString() })).exec());
}

/** Defragments one member (it answers nothing else meanwhile). */
export async function defragment(store: Store, endpoint: string): Promise<void> {
  const client = connectMember(endpoint, store.tls, DEFRAG_TIMEOUT_MS);
  try {
    await client.maintenance.defragment();
  } catch (err) {
    throw await store.failure(err);
  } finally {
    client.close();
  }
}
