// etcd's own maintenance, as orch does it: the current revision, compaction
// (and its record for the next leader), defragmentation of one member.
import { connectMember } from './etcd.js';
import { keys } from './keys.js';
import type { Store } from './store.js';

/** How long one member's defragmentation may take (it blocks that member meanwhile). */
const DEFRAG_TIMEOUT_MS = 120_000;

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
