// Homing (which Swarm lacks: its local volumes silently stay behind): a
// replicated service with named volumes keeps each slot on the node that
// holds the slot's data. A slot whose node went down was started elsewhere,
// on a new, empty copy of its volume; once the node with the older copy is
// up and may take the task again, the slot moves back. The move is made
// before the break, as a rebalancing move is: a new task for the slot,
// marked as replacing the running one, which stops only once the new one runs.
import type { Service, Task } from '../../proto/generated/orch.js';
import { schedule } from '../scheduler/scheduler.js';
import { placementSnapshot } from '../scheduler/snapshot.js';
import { mountsVolume, volumeAge } from '../scheduler/volumes.js';
import type { Change, Snapshot, Versioned } from '../store/index.js';
import { createTask, settledTasks } from './slot.js';

/**
 * Queues a move for each slot whose data is on another node than its task,
 * when the scheduler would place the slot there now (up, eligible, room).
 * Returns when to look again if a failed move holds moves back.
 */
export function homeSlots(cache: Snapshot, service: Service, tasks: Versioned<Task>[], changes: Change[], now: number): number | undefined {
  if (!mountsVolume(service.spec?.container)) return undefined;
  const { live, retryAt } = settledTasks(cache, service, tasks, now);
  if (!live) return retryAt;
  const placement = placementSnapshot(cache);
  for (const { value: task } of live) {
    // Settled: every live task runs on a ready node, and the scheduler places only on nodes it knows.
    const here = cache.nodes.get(task.nodeId)!.value;
    const to = schedule(placement, [task]).placements[0]?.nodeId;
    // Only for the data, never for spread: the node the scheduler picks must hold an older copy.
    if (to !== undefined && volumeAge(cache.nodes.get(to)!.value, task) < volumeAge(here, task)) {
      changes.push(createTask(cache, service, { slot: task.slot, targetNode: '' }, task.attempt, now, task.id));
    }
  }
  return undefined;
}
