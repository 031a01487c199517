// The task reaper: forgets tasks whose desired state is REMOVE once nothing
// can still be running for them (observed terminal, never dispatched, or their
// node is down or gone; a returning node removes such containers itself).
import { TaskState } from '../../proto/generated/orch.js';
import { isTerminal } from '../../shared/states.js';
import { nodeStanding } from '../cluster.js';
import { addrIp } from '../../shared/ipam.js';
import type { Change, Snapshot, Store } from '../store/index.js';
import { commitChanges } from '../store/changes.js';
import { keys } from '../store/keys.js';

/** One reaping pass: plans, then commits. */
export async function reapPass(cache: Snapshot, store: Store): Promise<void> {
  await commitChanges(store, planReaping(cache), 32);
}

/** The tasks to forget now, each with its addresses freed (pure). */
export function planReaping(cache: Snapshot): Change[] {
  const changes: Change[] = [];
  for (const { value: t, modRevision } of cache.tasks.values()) {
    if (t.desiredState !== TaskState.REMOVE) continue;
    const standing = t.nodeId ? nodeStanding(cache, t.nodeId) : 'gone';
    const nothingRuns = standing === 'down' || standing === 'gone' || isTerminal(t.status!.state);
    if (!nothingRuns) continue;
    const release = t.networks.filter((a) => a.addr).map((a) => keys.ipam(a.networkId, addrIp(a.addr)));
    changes.push({ kind: 'tasks', id: t.id, modRevision, value: undefined, release });
  }
  return changes;
}
