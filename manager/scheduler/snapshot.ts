// What the scheduler reads from the mirror: the tasks waiting for a node and
// the placement snapshot it plans against. Pure reads of a Snapshot.
import { TaskState, type Task } from '../../proto/generated/orch.js';
import { needsAddresses, nodeStanding, occupiesNode } from '../cluster.js';
import type { Snapshot } from '../store/cache.js';
import type { Snapshot as Placement } from './scheduler.js';
import { dependencyWaits } from './depends.js';

/** Tasks waiting for a node. */
export function pendingTasks(cache: Snapshot): Task[] {
  const out: Task[] = [];
  for (const { value: t } of cache.tasks.values()) {
    // A task still waiting for its network addresses is the allocator's, not ours.
    if (t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.PENDING && !t.nodeId && !needsAddresses(t)) out.push(t);
  }
  return out;
}

/** What the scheduler sees of the mirror: every node, the tasks that hold resources on one that is not down, and the services that wait for others. */
export function placementSnapshot(cache: Snapshot): Placement {
  const nodes = [...cache.nodes.values()].map((v) => v.value);
  const placed = [...cache.tasks.values()].map((v) => v.value).filter((t) => occupiesNode(t) && nodeStanding(cache, t.nodeId) !== 'down');
  const waiting = dependencyWaits([...cache.services.values()].map((v) => v.value), [...cache.tasks.values()].map((v) => v.value));
  return { nodes, placed, waiting };
}
