// Replicated mode: a service of N replicas has slots 1..N, placed anywhere the
// scheduler finds room; a task lost with its node is replaced elsewhere.
import type { Service } from '../../proto/generated/orch.js';
import type { SlotPlan } from './orchestrator.js';

export function replicatedSlots(service: Service): SlotPlan {
  const n = service.spec?.replicas ?? 0;
  return { slots: Array.from({ length: n }, (_, i) => ({ slot: i + 1, targetNode: '' })), replaceLost: true };
}
