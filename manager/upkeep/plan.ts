// What the leader's upkeep of etcd does next, as a pure function of what it
// sees: compact the history once it is old or long enough, then defragment
// members whose database is mostly free space, one member a pass, the raft
// leader's last, and never while a member is away or behind.
import type { StoreMember } from '../../proto/generated/orch.js';
import { formatBytes } from '../../shared/units.js';

/** When to compact and when to defragment. */
export interface UpkeepPolicy {
  /** Compact at least this often (ms; 0: only by count). */
  compactEveryMs: number;
  /** Compact as soon as this many revisions were written since the last compaction (0: only by time). */
  compactAfterRevisions: number;
  /** Revisions of history always kept: a watcher this far behind resumes without re-listing. */
  keepRevisions: number;
  /** Defragment a member once this fraction of its database file is free... */
  defragFreeRatio: number;
  /** ...and at least this many bytes are. */
  defragMinFreeBytes: number;
}

/** Every 5 minutes or 10,000 revisions, keeping 1,000; defragment when half the file (and 64 MiB) is free. */
export const DEFAULT_UPKEEP: UpkeepPolicy = {
  compactEveryMs: 5 * 60_000,
  compactAfterRevisions: 10_000,
  keepRevisions: 1_000,
  defragFreeRatio: 0.5,
  defragMinFreeBytes: 64 * 1024 * 1024,
};

/** A member whose applied index trails the others' by more than this is behind: no defragmentation meanwhile. */
export const MAX_APPLIED_LAG = 1_000;

/** What the upkeep sees at one pass. */
export interface UpkeepView {
  now: number;
  /** etcd's current revision. */
  revision: number;
  /** The revision this orch mirror has reached: never compact past it. */
  mirrored: number;
  /** The last compaction (revision 0: none known). */
  compacted: { revision: number; at: number };
  members: StoreMember[];
}

export type UpkeepAction = { kind: 'compact'; revision: number; why: string } | { kind: 'defrag'; endpoint: string; why: string };

/** The actions of one pass, in order: a compaction, or at most one defragmentation. */
export function planUpkeep(view: UpkeepView, policy: UpkeepPolicy): UpkeepAction[] {
  const compact = planCompaction(view, policy);
  if (compact) return [compact];
  const defrag = planDefrag(view.members, policy);
  return defrag ? [defrag] : [];
}

function planCompaction(view: UpkeepView, policy: UpkeepPolicy): UpkeepAction | undefined {
  const target = Math.min(view.revision - policy.keepRevisions, view.mirrored);
  if (target <= view.compacted.revision) return undefined;
  const written = view.revision - view.compacted.revision;
  if (policy.compactAfterRevisions > 0 && written >= policy.compactAfterRevisions) {
    return { kind: 'compact', revision: target, why: `${written} revisions since the last compaction` };
  }
  if (policy.compactEveryMs > 0 && view.now - view.compacted.at >= policy.compactEveryMs) {
    return { kind: 'compact', revision: target, why: `${Math.round((view.now - view.compacted.at) / 1000)} s since the last compaction` };
  }
  return undefined;
}

function planDefrag(members: StoreMember[], policy: UpkeepPolicy): UpkeepAction | undefined {
  if (members.length === 0 || members.some((m) => !m.answering)) return undefined;
  const applied = members.map((m) => Number(m.raftAppliedIndex));
  if (Math.max(...applied) - Math.min(...applied) > MAX_APPLIED_LAG) return undefined;
  const due = members
    .map((m) => ({ m, free: Number(m.dbSize - m.dbSizeInUse), size: Number(m.dbSize) }))
    .filter(({ free, size }) => free >= policy.defragMinFreeBytes && size > 0 && free / size >= policy.defragFreeRatio)
    // Followers first, the most free space first; the raft leader's member last.
    .sort((a, b) => Number(a.m.leader) - Number(b.m.leader) || b.free - a.free);
  const pick = due[0];
  if (!pick) return undefined;
  return { kind: 'defrag', endpoint: pick.m.endpoint, why: `${formatBytes(pick.free)} of ${formatBytes(pick.size)} free` };
}
