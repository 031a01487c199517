// The scheduler as a pure function (Nomad's style): a read-only snapshot and
// the pending tasks in, a plan out. The leader commits the plan (commit.ts).
//
// Placement: every filter must accept the node; among those left, the node
// that holds the oldest copy of the task's named volume comes first (its data
// is there: Swarm would start it empty elsewhere; volumes.ts); then no node
// that would end two tasks of the service above the node with fewest
// (evenness); then spread while starting: the service's tasks on the node
// plus the containers its engine is starting (busyOrSpread); then fewest
// containers being started, fewest tasks of the service, fewest tasks in
// all, and node id (so that a plan is deterministic and testable). A host
// lost puts all its tasks up for placement at once, and a host that came
// back empty has the fewest of each service: by spread alone it would take
// them all, and one engine starts them one after another in seconds, where
// several start them side by side. The price: a service may end one task
// further from even than Swarm's strict spread would leave it (never more).
// A global-mode task names its node (`targetNode`) and is only ever checked
// against that one. A task of a service that waits for its dependencies is
// not placed at all.
import { TaskState, type Node, type Task } from '../../proto/generated/orch.js';
import { FILTERS, type Filter, type NodeLoad } from './filter.js';
import { volumeAge } from './volumes.js';

/** What the scheduler may look at. Never mutated. */
export interface Snapshot {
  nodes: readonly Node[];
  /** Tasks on nodes that hold resources and count for spreading. */
  placed: readonly Task[];
  /** Services whose tasks wait, and why: their dependencies are not up yet (depends.ts). */
  waiting?: ReadonlyMap<string, string>;
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
  const load = new Map<string, NodeLoad>();
  const byId = new Map<string, Node>();
  for (const n of snapshot.nodes) {
    load.set(n.id, { total: 0, starting: 0, perService: new Map(), nanoCpus: 0n, memoryBytes: 0n });
    byId.set(n.id, n);
  }
  const add = (nodeId: string, t: Task) => {
    const l = load.get(nodeId);
    if (!l) return;
    l.total++;
    if ((t.status?.state ?? TaskState.NEW) < TaskState.RUNNING) l.starting++;
    l.perService.set(t.serviceId, (l.perService.get(t.serviceId) ?? 0) + 1);
    l.nanoCpus += t.spec?.resources?.reservations?.nanoCpus ?? 0n;
    l.memoryBytes += t.spec?.resources?.reservations?.memoryBytes ?? 0n;
  };
  for (const t of snapshot.placed) add(t.nodeId, t);

  const plan: Plan = { placements: [], unplaced: [] };
  for (const task of [...pending].sort(byServiceThenSlot)) {
    const wait = snapshot.waiting?.get(task.serviceId);
    if (wait) {
      plan.unplaced.push({ taskId: task.id, reason: wait });
      continue;
    }
    const candidates = task.targetNode ? [byId.get(task.targetNode)].filter((n): n is Node => !!n) : snapshot.nodes;
    const rejected = new Map<Filter, number>();
    const accepted: Node[] = [];
    for (const node of candidates) {
      const failed = filters.find((f) => !f.accepts(node, task, load.get(node.id)!));
      if (failed) rejected.set(failed, (rejected.get(failed) ?? 0) + 1);
      else accepted.push(node);
    }
    const sameOn = (node: Node) => load.get(node.id)!.perService.get(task.serviceId) ?? 0;
    const fewest = Math.min(...accepted.map(sameOn));
    let best: { node: Node; key: number[] } | undefined;
    for (const node of accepted) {
      const l = load.get(node.id)!;
      const same = sameOn(node);
      const key = [volumeAge(node, task), same > fewest + 1 ? 1 : 0, busyOrSpread(same, l.starting), l.starting, same, l.total];
      if (!best || before(key, node.id, best.key, best.node.id)) best = { node, key };
    }
    if (best) {
      plan.placements.push({ taskId: task.id, nodeId: best.node.id });
      add(best.node.id, task);
    } else {
      plan.unplaced.push({ taskId: task.id, reason: noSuitableNode(candidates.length, rejected) });
    }
  }
  return plan;
}

/** Whether a node ranks before another: the lower key (compared in order), then, to be deterministic, the lower id. */
function before(key: number[], id: string, otherKey: number[], otherId: string): boolean {
  const i = key.findIndex((k, j) => k !== otherKey[j]);
  return i >= 0 ? key[i]! < otherKey[i]! : id < otherId;
}

/** The spread key: the service's tasks on the node, one more for each container its engine is starting. */
function busyOrSpread(sameService: number, starting: number): number {
  return sameService + starting;
}

/** Swarm's wording: "no suitable node (1 node not ready; insufficient resources on 2 nodes)". */
function noSuitableNode(total: number, rejected: Map<Filter, number>): string {
  if (total === 0) return 'no suitable node (no nodes in the cluster)';
  return `no suitable node (${[...rejected].map(([f, n]) => f.explain(n)).join('; ')})`;
}

function byServiceThenSlot(a: Task, b: Task): number {
  return a.serviceId < b.serviceId ? -1 : a.serviceId > b.serviceId ? 1 : a.slot - b.slot;
}
