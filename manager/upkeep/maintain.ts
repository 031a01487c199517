// `orch cluster maintain`: the way out of a full etcd, also safe on a healthy
// one. Compacts the whole history, defragments every member one at a time
// (followers first, the raft leader's member last, so a quorum always
// answers), then disarms a NOSPACE alarm. Each step is reported as it ends.
import type { StoreStatus } from '../../proto/generated/orch.js';
import { UnavailableError } from '../../shared/errors.js';
import type { Store } from '../store/index.js';
import { disarmNospace, memberStatuses, storeAlarms } from '../store/members.js';
import { formatBytes } from '../../shared/units.js';
import { compact, currentRevision, defragment, lastCompaction, recordCompaction } from '../store/maintenance.js';

/** How the store is: members, alarms, revision, the last compaction. */
export async function storeStatus(store: Store): Promise<StoreStatus> {
  const [members, alarms, revision, compacted] = await Promise.all([
    memberStatuses(store.endpoints, store.tls),
    storeAlarms(store.etcd).catch(() => [] as string[]),
    currentRevision(store),
    lastCompaction(store),
  ]);
  return { members, alarms, revision: BigInt(revision), compactedRevision: BigInt(compacted?.revision ?? 0), compactedAt: compacted ? new Date(compacted.at) : undefined };
}

/** Runs the whole maintenance, calling `step` after each part; resolves to the store's status at the end. */
export async function maintainStore(store: Store, step: (message: string) => void): Promise<StoreStatus> {
  const members = await memberStatuses(store.endpoints, store.tls);
  const away = members.filter((m) => !m.answering);
  if (away.length) throw new UnavailableError(`etcd member${away.length > 1 ? 's' : ''} ${away.map((m) => m.endpoint).join(', ')} do${away.length > 1 ? '' : 'es'} not answer: bring ${away.length > 1 ? 'them' : 'it'} back first (defragmenting the others could leave no quorum)`);
  const revision = await currentRevision(store);
  await compact(store, revision, true);
  step(`compacted etcd's history up to revision ${revision}`);
  for (const m of [...members].sort((a, b) => Number(a.leader) - Number(b.leader))) {
    await defragment(store, m.endpoint);
    const after = (await memberStatuses(m.endpoint, store.tls))[0]!;
    step(`defragmented ${m.endpoint}${m.leader ? ' (raft leader)' : ''}: ${formatBytes(m.dbSize)} → ${formatBytes(after.dbSize)}`);
  }
  const disarmed = await store.call(() => disarmNospace(store.etcd));
  if (disarmed) step(`disarmed ${disarmed} NOSPACE alarm${disarmed > 1 ? 's' : ''}: writes are accepted again`);
  await recordCompaction(store, revision);
  return storeStatus(store);
}
