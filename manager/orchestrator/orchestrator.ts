// The orchestrator pass: services → tasks. Tasks are grouped by service and
// slot; each mode decides which slots a service has (replicated.ts,
// global.ts), and slot.ts keeps one live task in each. Tasks of removed
// services, and of slots a service no longer has, get desired state REMOVE.
// A service rolling out a new spec then has its next slots replaced (rollout.ts);
// a settled one may have slots moved: back to their data (homing.ts), or to
// even it out (rebalance.ts).
// planOrchestration is pure (snapshot, now → changes); orchestratePass
// commits what it plans.
import { ServiceSpec_Mode, TaskState, type Service, type Task } from '../../proto/generated/orch.js';
import type { Change, Snapshot, Store, Versioned } from '../store/index.js';
import { commitChanges } from '../store/changes.js';
import { globalSlots } from './global.js';
import { homeSlots } from './homing.js';
import { rebalance } from './rebalance.js';
import { planRollout, type RolloutSlot } from './rollout.js';
import { rollingOut } from '../../shared/states.js';
import { replicatedSlots } from './replicated.js';
import { reconcileSlot, setDesired, type SlotKey } from './slot.js';

/** The slots a service should have, and whether a lost task in one is replaced elsewhere. */
export interface SlotPlan {
  slots: SlotKey[];
  replaceLost: boolean;
}

/** What one orchestration pass changes, and the earliest time a delayed restart is due. */
export interface OrchestrationPlan {
  changes: Change[];
  wakeAt: number | undefined;
}

/** One orchestration pass: plans, then commits. Returns the earliest time a delayed restart is due. */
export async function orchestratePass(cache: Snapshot, store: Store, now = Date.now()): Promise<number | undefined> {
  const plan = planOrchestration(cache, now);
  await commitChanges(store, plan.changes, 32);
  return plan.wakeAt;
}

/** Plans a pass over every service and its tasks (pure). */
export function planOrchestration(cache: Snapshot, now: number): OrchestrationPlan {
  const changes: Change[] = [];
  let wakeAt: number | undefined;
  const byService = new Map<string, Versioned<Task>[]>();
  for (const t of cache.tasks.values()) {
    const list = byService.get(t.value.serviceId) ?? [];
    list.push(t);
    byService.set(t.value.serviceId, list);
  }
  for (const [serviceId, tasks] of byService) {
    if (!cache.services.has(serviceId)) for (const t of tasks) setDesired(changes, t, TaskState.REMOVE);
  }
  for (const s of cache.services.values()) {
    const due = reconcileService(cache, s, byService.get(s.value.id) ?? [], changes, now);
    if (due !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, due);
  }
  return { changes, wakeAt };
}

function reconcileService(cache: Snapshot, versioned: Versioned<Service>, tasks: Versioned<Task>[], changes: Change[], now: number): number | undefined {
  const service = versioned.value;
  const plan: SlotPlan = service.spec?.mode === ServiceSpec_Mode.GLOBAL ? globalSlots(cache, service) : replicatedSlots(service);
  const bySlot = new Map<string, Versioned<Task>[]>();
  for (const t of tasks) {
    const k = slotId(t.value);
    const list = bySlot.get(k) ?? [];
    list.push(t);
    bySlot.set(k, list);
  }
  const wanted = new Set(plan.slots.map(slotId));
  for (const [k, slotTasks] of bySlot) {
    if (!wanted.has(k)) for (const t of slotTasks) setDesired(changes, t, TaskState.REMOVE);
  }
  let wakeAt: number | undefined;
  const first = changes.length;
  const slots: RolloutSlot[] = [];
  for (const key of plan.slots) {
    const before = changes.length;
    const slotTasks = bySlot.get(slotId(key)) ?? [];
    const due = reconcileSlot(cache, service, key, slotTasks, changes, now, plan.replaceLost);
    slots.push({ key, tasks: slotTasks, touched: changes.length > before });
    if (due !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, due);
  }
  const changed = changes.length > first;
  const rollout = planRollout(cache, versioned, slots, changes, now);
  if (rollout.rolledBack) {
    // Planned for the spec it leaves: the next pass plans for the one it goes back to.
    const back = changes.pop()!;
    changes.splice(first, changes.length - first, back);
    return undefined;
  }
  if (rollout.wakeAt !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, rollout.wakeAt);
  // Moves look only at a service whose slots are all settled, and not while it rolls out.
  if (!changed && !rollingOut(service.updateStatus) && service.spec?.mode !== ServiceSpec_Mode.GLOBAL) {
    const moves = changes.length;
    const homingDue = homeSlots(cache, service, tasks, changes, now);
    const rebalanceDue = changes.length > moves ? undefined : rebalance(cache, versioned, tasks, changes, now);
    for (const due of [homingDue, rebalanceDue]) if (due !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, due);
  }
  return wakeAt;
}

function slotId(k: SlotKey): string {
  return k.targetNode ? `node:${k.targetNode}` : `slot:${k.slot}`;
}
