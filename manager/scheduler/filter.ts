// Node filters: each says whether a node can take a task, and explains a
// rejection in Swarm's words, so that a task that fits nowhere can say why:
// "no suitable node (insufficient resources on 3 nodes)".
import { NodeAvailability, NodeState, type Node, type Placement, type Task } from '../../proto/generated/orch.js';
import { parseConstraint, satisfies, type Constraint } from '../../shared/constraints.js';

/** What the scheduler has already put on a node (placed tasks plus this plan's). */
export interface NodeLoad {
  total: number;
  /** Tasks on their way to running there (this plan's included): containers its engine is starting. */
  starting: number;
  perService: Map<string, number>;
  nanoCpus: bigint;
  memoryBytes: bigint;
}

export interface Filter {
  /** The reason for `n` rejected nodes, e.g. "insufficient resources on 2 nodes". */
  explain(n: number): string;
  accepts(node: Node, task: Task, load: NodeLoad): boolean;
}

const nodes = (n: number) => `${n} node${n === 1 ? '' : 's'}`;

export const readyFilter: Filter = {
  explain: (n) => `${nodes(n)} not ready`,
  accepts: (node) => node.state === NodeState.NODE_READY,
};

export const availabilityFilter: Filter = {
  explain: (n) => `${nodes(n)} not available for new tasks (paused or drained)`,
  accepts: (node) => node.availability === NodeAvailability.ACTIVE,
};

export const constraintFilter: Filter = {
  explain: (n) => `scheduling constraints not satisfied on ${nodes(n)}`,
  accepts: (node, task) => meetsConstraints(node, task.placement),
};

/** Whether a node meets a placement's constraints (what constraintFilter asks). */
export function meetsConstraints(node: Node, placement: Placement | undefined): boolean {
  return (placement?.constraints ?? []).every((c) => satisfies(node, parsed(c)));
}

/** Constraints are validated at create; parsing them once keeps the filter cheap. */
const parsedCache = new Map<string, Constraint>();
function parsed(text: string): Constraint {
  let c = parsedCache.get(text);
  if (!c) parsedCache.set(text, (c = parseConstraint(text)));
  return c;
}

export const resourceFilter: Filter = {
  explain: (n) => `insufficient resources on ${nodes(n)}`,
  accepts: (node, task, load) => {
    const want = task.spec?.resources?.reservations;
    if (!want) return true;
    const cap = node.description?.resources;
    const cpu = want.nanoCpus === 0n || load.nanoCpus + want.nanoCpus <= (cap?.nanoCpus ?? 0n);
    const mem = want.memoryBytes === 0n || load.memoryBytes + want.memoryBytes <= (cap?.memoryBytes ?? 0n);
    return cpu && mem;
  },
};

/** Docker's MaxReplicas: no more than this many of a service's tasks on one node. */
export const maxReplicasFilter: Filter = {
  explain: (n) => `max replicas per node limit exceeded on ${nodes(n)}`,
  accepts: (node, task, load) => !task.placement?.maxReplicas || (load.perService.get(task.serviceId) ?? 0) < task.placement.maxReplicas,
};

/** The filters every placement passes, in order; a node is counted under the first that rejects it. */
export const FILTERS: readonly Filter[] = [readyFilter, availabilityFilter, constraintFilter, resourceFilter, maxReplicasFilter];
