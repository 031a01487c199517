// Questions about nodes and tasks that several control loops ask of the
// mirror, answered in one place so that they always agree.
import { NodeAvailability, NodeState, ServiceSpec_Mode, TaskState, type ServiceSummary, type Task } from '../proto/generated/orch.js';
import { shortId } from '../shared/ids.js';
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

/** A node's name for people: its hostname, else its short id. */
export function hostname(cache: Pick<Snapshot, 'nodes'>, nodeId: string): string {
  return cache.nodes.get(nodeId)?.value.description?.hostname || shortId(nodeId);
}

/** Every service with how many of its tasks run and how many it wants (its replicas, or for a global service one per eligible node). */
export function serviceSummaries(cache: Snapshot): ServiceSummary[] {
  const running = new Map<string, number>();
  const globalNodes = new Map<string, Set<string>>();
  for (const { value: t } of cache.tasks.values()) {
    if (t.desiredState !== TaskState.RUNNING) continue;
    if (t.status?.state === TaskState.RUNNING) running.set(t.serviceId, (running.get(t.serviceId) ?? 0) + 1);
    if (t.targetNode) globalNodes.set(t.serviceId, (globalNodes.get(t.serviceId) ?? new Set()).add(t.targetNode));
  }
  return [...cache.services.values()].map(({ value: s }) => ({
    service: s,
    running: running.get(s.id) ?? 0,
    desired: s.spec?.mode === ServiceSpec_Mode.GLOBAL ? (globalNodes.get(s.id)?.size ?? 0) : (s.spec?.replicas ?? 0),
  }));
}
