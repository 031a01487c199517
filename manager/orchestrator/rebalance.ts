// Rebalancing (which Swarm lacks): when `service update --rebalance` asked for
// it, or the service opted in with auto-rebalance, a replicated service whose
// slots are all settled and running is evened out over the nodes that may run
// it. Each move starts a new task for a slot on the most loaded node, marked
// as replacing the running one; the scheduler places it by spread (so on the
// least loaded node) and the slot drops the old task only once the new one
// runs — the service never goes below its desired count. A service with
// named volumes stays with its data instead (homing.ts).
import { NodeAvailability, NodeState, type Node, type Service, type Task } from '../../proto/generated/orch.js';
import { meetsConstraints } from '../scheduler/filter.js';
import { mountsVolume } from '../scheduler/volumes.js';
import type { Change, Snapshot, Versioned } from '../store/index.js';
import { put } from '../store/changes.js';
import { createTask, settledTasks } from './slot.js';

/**
 * Queues the moves that even out `service`, and records a manual request as
 * done. Returns when to look again if a failed move holds moves back.
 */
export function rebalance(cache: Snapshot, versioned: Versioned<Service>, tasks: Versioned<Task>[], changes: Change[], now: number): number | undefined {
  const service = versioned.value;
  const requested = service.rebalanceRequested > service.rebalanceDone;
  if (!requested && !service.spec?.autoRebalance) return undefined;
  const { live, retryAt } = settledTasks(cache, service, tasks, now);
  if (!live) return retryAt;

  const nodes = [...cache.nodes.values()].map((v) => v.value);
  const moves = mountsVolume(service.spec?.container) ? [] : planMoves(nodes, service, live.map((t) => t.value));
  for (const move of moves) {
    changes.push(createTask(cache, service, { slot: move.slot, targetNode: '' }, move.attempt, now, move.id));
  }
  if (requested) {
    changes.push(put('services', service.id, versioned.modRevision, { ...service, rebalanceDone: service.rebalanceRequested }));
  }
  return undefined;
}

/**
 * The running tasks to move: take from the node with the most tasks of the
 * service and give to the one with the fewest, until they differ by at most
 * one. Only nodes that may take new tasks of the service count.
 */
export function planMoves(nodes: readonly Node[], service: Service, running: readonly Task[]): Task[] {
  const onNode = new Map<string, Task[]>();
  for (const node of nodes) {
    const open = node.state === NodeState.NODE_READY && node.availability === NodeAvailability.ACTIVE;
    if (open && meetsConstraints(node, service.spec?.placement)) onNode.set(node.id, []);
  }
  for (const t of running) onNode.get(t.nodeId)?.push(t);
  if (onNode.size < 2) return [];
  const lists = [...onNode.values()];
  const counts = lists.map((l) => l.length);
  const moves: Task[] = [];
  for (;;) {
    const max = counts.indexOf(Math.max(...counts));
    const min = counts.indexOf(Math.min(...counts));
    if (counts[max]! - counts[min]! <= 1) return moves;
    counts[max]!--;
    counts[min]!++;
    moves.push(lists[max]!.sort((a, b) => b.slot - a.slot).shift()!);
  }
}
