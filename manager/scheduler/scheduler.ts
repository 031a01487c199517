// The scheduler as a pure function (Nomad's style): a read-only snapshot and
// the pending tasks in, a plan out. The leader commits the plan (commit.ts).
//
// Placement: every filter must accept the node; among those left, spread:
// fewest tasks of the same service, then fewest tasks in all, then node id
// (so that a plan is deterministic and testable).
import type { Node, Task } from '../../proto/generated/orch.js';
import { FILTERS, type Filter } from './filter.js';

/** What the scheduler may look at. Never mutated. */
export interface Snapshot {
  nodes: readonly Node[];
  /** Tasks already on nodes that count for spreading (desired running). */
  placed: readonly Task[];
}

export interface Placement {
  taskId: string;
  nodeId: string;
}

export interface Unplaced {
  taskId: string;
  reason: string;
}

export interface Plan {
  placements: Placement[];
  unplaced: Unplaced[];
}

/** Places pending tasks onto nodes. Pure: same input, same plan. */
export function schedule(snapshot: Snapshot, pending: readonly Task[], filters: readonly Filter[] = FILTERS): Plan {
  const load = new Map<string, { total: number; perService: Map<string, number> }>();
  for (const n of snapshot.nodes) load.set(n.id, { total: 0, perService: new Map() });
  const count = (nodeId: string, serviceId: string) => {
    const l = load.get(nodeId);
    if (!l) return;
    l.total++;
    l.perService.set(serviceId, (l.perService.get(serviceId) ?? 0) + 1);
  };
  for (const t of snapshot.placed) count(t.nodeId, t.serviceId);

  const plan: Plan = { placements: [], unplaced: [] };
  for (const task of [...pending].sort(byServiceThenSlot)) {
    let best: Node | undefined;
    let bestKey: [number, number] = [Infinity, Infinity];
    const rejected = new Map<Filter, number>();
    for (const node of snapshot.nodes) {
      const failed = filters.find((f) => !f.accepts(node, task));
      if (failed) {
        rejected.set(failed, (rejected.get(failed) ?? 0) + 1);
        continue;
      }
      const l = load.get(node.id)!;
      const key: [number, number] = [l.perService.get(task.serviceId) ?? 0, l.total];
      if (key[0] < bestKey[0] || (key[0] === bestKey[0] && (key[1] < bestKey[1] || (key[1] === bestKey[1] && node.id < best!.id)))) {
        best = node;
        bestKey = key;
      }
    }
    if (best) {
      plan.placements.push({ taskId: task.id, nodeId: best.id });
      count(best.id, task.serviceId);
    } else {
      plan.unplaced.push({ taskId: task.id, reason: noSuitableNode(snapshot.nodes.length, rejected) });
    }
  }
  return plan;
}

/** Swarm's wording: "no suitable node (2 nodes not ready; 1 node not active)". */
function noSuitableNode(total: number, rejected: Map<Filter, number>): string {
  if (total === 0) return 'no suitable node (no nodes in the cluster)';
  const parts = [...rejected].map(([f, n]) => `${n} node${n === 1 ? '' : 's'} ${f.explain}`);
  return `no suitable node (${parts.join('; ')})`;
}

function byServiceThenSlot(a: Task, b: Task): number {
  return a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : a.slot - b.slot;
}
