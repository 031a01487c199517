// Where a task's data is: the one rule the scheduler and the orchestrator's
// homing pass share. A named volume is made on the node where a task first
// lands; a task that had to go elsewhere (its node was down) gets a new,
// empty copy there. Of the copies, the oldest holds the slot's data.
import { Mount_Type, type ContainerSpec, type Node, type Task } from '../../proto/generated/orch.js';
import { volumeNames } from '../../shared/templates.js';

/**
 * When the node made the oldest copy of a named volume the task mounts (its
 * name as the task would make it there), in ms; Infinity if it holds none.
 * Smaller is better: the scheduler ranks nodes by it first.
 */
export function volumeAge(node: Node, task: Task): number {
  if (!node.volumes.length) return Infinity;
  const made = new Map(node.volumes.map((v) => [v.name, v.createdAt?.getTime() ?? 0]));
  const names = volumeNames(task, { id: node.id, hostname: node.description?.hostname ?? '' });
  return Math.min(...names.map((name) => made.get(name) ?? Infinity));
}

/** Whether a container spec mounts a named volume at all. */
export function mountsVolume(spec: ContainerSpec | undefined): boolean {
  return (spec?.mounts ?? []).some((m) => m.type === Mount_Type.VOLUME);
}
