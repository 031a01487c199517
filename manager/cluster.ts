// Questions about nodes and tasks that several control loops ask of the
// mirror, answered in one place so that they always agree.
import { NodeAvailability, NodeState, TaskState, type Task } from '../proto/generated/orch.js';
import { isTerminal } from '../shared/states.js';
import type { Snapshot } from './store/index.js';

/**
 * Where a node stands for the tasks on it:
 *  - ready:    up and may keep its tasks;
 *  - draining: up, but its tasks must move elsewhere;
 *  - down:     not reachable (or not yet registered): its tasks are lost for now;
 *  - gone:     removed from the cluster (or never known).
 */
export type NodeStanding = 'ready' | 'draining' | 'down' | 'gone';

export function nodeStanding(cache: Snapshot, nodeId: string): NodeStanding {
  const node = cache.nodes.get(nodeId)?.value;
  if (!node) return 'gone';
  if (node.state !== NodeState.NODE_READY) return 'down';
  return node.availability === NodeAvailability.DRAIN ? 'draining' : 'ready';
}

/** A task that was handed to a node and has not ended: it holds resources there and counts for spreading. */
export function occupiesNode(t: Task): boolean {
  const s = t.status?.state ?? TaskState.NEW;
  return t.nodeId !== '' && s >= TaskState.ASSIGNED && !isTerminal(s);
}

/** A task still waiting for one of its network addresses (the allocator's to give). */
export function needsAddresses(t: Task): boolean {
  return t.networks.some((a) => !a.addr);
}
