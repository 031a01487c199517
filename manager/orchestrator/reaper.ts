// The task reaper: forgets tasks whose desired state is REMOVE once nothing
// can still be running for them (observed terminal, never placed, or their
// node is down or gone; a returning node removes such containers itself).
import { NodeState, TaskState } from '../../proto/generated/orch.js';
import { isTerminal } from '../../shared/states.js';
import type { Cache, Store, Txn } from '../store/index.js';
import { commitBatched } from '../scheduler/index.js';

/** One reaping pass. */
export async function reapPass(cache: Cache, store: Store): Promise<void> {
  const writes: Array<(txn: Txn) => void> = [];
  for (const { value: t, modRevision } of cache.tasks.values()) {
    if (t.desiredState !== TaskState.REMOVE) continue;
    const node = t.nodeId ? cache.nodes.get(t.nodeId)?.value : undefined;
    const gone = !t.nodeId || !node || node.state !== NodeState.NODE_READY;
    if (gone || isTerminal(t.status!.state)) writes.push((txn) => txn.expect('tasks', t.id, modRevision).delete('tasks', t.id));
  }
  await commitBatched(store, writes, 64);
}
