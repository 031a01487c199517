// Node filters: each says whether a node can take a task, and names itself so
// that a task that fits nowhere can say why ("no suitable node (1 node down)").
import { NodeAvailability, NodeState, type Node, type Task } from '../../proto/generated/orch.js';

export interface Filter {
  /** Counted in the reason as "N node(s) <explain>". */
  explain: string;
  accepts(node: Node, task: Task): boolean;
}

export const readyFilter: Filter = {
  explain: 'not ready',
  accepts: (node) => node.state === NodeState.NODE_READY,
};

export const availabilityFilter: Filter = {
  explain: 'not active (paused or drained)',
  accepts: (node) => node.availability === NodeAvailability.ACTIVE,
};

/** The filters every placement passes, in order. */
export const FILTERS: readonly Filter[] = [readyFilter, availabilityFilter];
