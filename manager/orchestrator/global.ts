// Global mode: one slot on every eligible node — every node known to the
// cluster that is not drained and satisfies the service's constraints,
// including nodes that join later. A node that is down keeps its slot (its
// task waits for it); a drained or removed node loses it.
import { NodeAvailability, type Service } from '../../proto/generated/orch.js';
import { parseConstraint, satisfies } from '../../shared/constraints.js';
import type { Snapshot } from '../store/index.js';
import type { SlotPlan } from './orchestrator.js';

export function globalSlots(cache: Snapshot, service: Service): SlotPlan {
  const constraints = (service.spec?.placement?.constraints ?? []).map(parseConstraint);
  const slots = [];
  for (const { value: node } of cache.nodes.values()) {
    if (node.availability === NodeAvailability.DRAIN) continue;
    if (!constraints.every((c) => satisfies(node, c))) continue;
    slots.push({ slot: 0, targetNode: node.id });
  }
  return { slots, replaceLost: false };
}
