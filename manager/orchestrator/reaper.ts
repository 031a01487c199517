// The task reaper: forgets tasks whose desired state is REMOVE once nothing
// can still be running for them (observed terminal, never dispatched, or their
// node is down or gone; a returning node removes such containers itself).
import { TaskState } from '../../proto/generated/orch.js';
import { isTerminal } from '../../shared/states.js';
import { nodeStanding } from '../cluster.js';
import { addrIp } from '../../shared/ipam.js';
import { keys, type Cache, type Store, type Txn } from '../store/index.js';
import { commitBatched } from '../scheduler/index.js';

/** One reaping pass. */
export async function reapPass(cache: Cache, store: Store): Promise<void> {
  const writes: Array<(txn: Txn) => void> = [];
  for (const { value: t, modRevision } of cache.tasks.values()) {
    if (t.desiredState !== TaskState.REMOVE) continue;
    const standing = t.nodeId ? nodeStanding(cache, t.nodeId) : 'gone';
    const nothingRuns = standing === 'down' || standing === 'gone' || isTerminal(t.status!.state);
    if (!nothingRuns) continue;
    writes.push((txn) => {
      txn.expect('tasks', t.id, modRevision).delete('tasks', t.id);
      // Its addresses are free again.
      for (const a of t.networks) if (a.addr) txn.deleteKey(keys.ipam(a.networkId, addrIp(a.addr)));
    });
  }
  await commitBatched(store, writes, 32);
}
