// The replicated orchestrator: services → tasks. A service of N replicas has
// slots 1..N; each slot wants exactly one live task.
//
// Per slot, on every pass:
//  - a task that ended (observed terminal) while desired running is retired
//    (desired shutdown, kept as history) and the restart policy decides if and
//    when a replacement is made;
//  - a task whose node is down is *not* retired at once: a replacement is made
//    right away (node loss ignores the restart delay), and whichever of the two
//    runs first on a ready node keeps the slot. A node that returns quickly
//    therefore keeps its tasks and the unstarted replacement is dropped
//    ("fast, not twitchy", DESIGN.md §4);
//  - extra live tasks (several running) keep the newest running one;
//  - slots above N, tasks of removed services and history beyond the
//    retention limit get desired state REMOVE; the reaper forgets them.
import { NodeState, TaskState, type Service, type Task } from '../../proto/generated/orch.js';
import { newId } from '../../shared/ids.js';
import { isTerminal } from '../../shared/states.js';
import type { Cache, Store, Txn, Versioned } from '../store/index.js';
import { commitBatched } from '../scheduler/index.js';
import { DEFAULT_RESTART, restartDecision } from './restart.js';

/** Ended tasks kept per slot for `service ps` history (Swarm keeps 5 per slot). */
export const HISTORY_PER_SLOT = 3;

type Write = (txn: Txn) => void;

/** One orchestration pass. Returns the earliest time a delayed restart is due. */
export async function orchestratePass(cache: Cache, store: Store, now = Date.now()): Promise<number | undefined> {
  const writes: Write[] = [];
  let wakeAt: number | undefined;
  const byService = new Map<string, Versioned<Task>[]>();
  for (const t of cache.tasks.values()) {
    const list = byService.get(t.value.serviceId) ?? [];
    list.push(t);
    byService.set(t.value.serviceId, list);
  }
  for (const [serviceId, tasks] of byService) {
    if (!cache.services.has(serviceId)) for (const t of tasks) setDesired(writes, t, TaskState.REMOVE);
  }
  for (const { value: service } of cache.services.values()) {
    const tasks = byService.get(service.id) ?? [];
    const due = reconcileService(cache, service, tasks, writes, now);
    if (due !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, due);
  }
  await commitBatched(store, writes, 32);
  return wakeAt;
}

function reconcileService(cache: Cache, service: Service, tasks: Versioned<Task>[], writes: Write[], now: number): number | undefined {
  const replicas = service.spec?.replicas ?? 0;
  const bySlot = new Map<number, Versioned<Task>[]>();
  for (const t of tasks) {
    const list = bySlot.get(t.value.slot) ?? [];
    list.push(t);
    bySlot.set(t.value.slot, list);
  }
  let wakeAt: number | undefined;
  for (const [slot, slotTasks] of bySlot) {
    if (slot > replicas) for (const t of slotTasks) setDesired(writes, t, TaskState.REMOVE);
  }
  for (let slot = 1; slot <= replicas; slot++) {
    const due = reconcileSlot(cache, service, slot, bySlot.get(slot) ?? [], writes, now);
    if (due !== undefined) wakeAt = Math.min(wakeAt ?? Infinity, due);
  }
  return wakeAt;
}

function reconcileSlot(cache: Cache, service: Service, slot: number, tasks: Versioned<Task>[], writes: Write[], now: number): number | undefined {
  const newestFirst = [...tasks].sort((a, b) => created(b.value) - created(a.value));
  const wanted = newestFirst.filter((t) => t.value.desiredState === TaskState.RUNNING);
  const ended = wanted.filter((t) => isTerminal(t.value.status!.state));
  const lost = wanted.filter((t) => !ended.includes(t) && onDownNode(cache, t.value));
  const live = wanted.filter((t) => !ended.includes(t) && !lost.includes(t));

  for (const t of ended) setDesired(writes, t, TaskState.SHUTDOWN);

  const runningOnReady = live.filter((t) => t.value.status!.state === TaskState.RUNNING);
  const keeper = runningOnReady[0] ?? live[0];
  if (keeper) {
    // One live task keeps the slot; a running one beats a starting one, newest first.
    for (const t of live) if (t !== keeper) setDesired(writes, t, TaskState.REMOVE);
    if (keeper.value.status!.state === TaskState.RUNNING) for (const t of lost) setDesired(writes, t, TaskState.REMOVE);
    trimHistory(newestFirst, writes);
    return undefined;
  }

  let wakeAt: number | undefined;
  if (lost.length > 0) {
    // The node is gone: replace at once, outside the restart policy.
    writes.push(createTask(service, slot, lost[0]!.value.attempt, now));
  } else {
    const last = ended[0] ?? newestFirst.find((t) => isTerminal(t.value.status!.state));
    if (!last) {
      writes.push(createTask(service, slot, 0, now));
    } else if (last.value.desiredState !== TaskState.REMOVE) {
      const decision = restartDecision(service.spec?.restart ?? DEFAULT_RESTART, last.value, now);
      if (decision.kind === 'at') {
        if (decision.at <= now) writes.push(createTask(service, slot, decision.attempt, now));
        else wakeAt = decision.at;
      }
    }
  }
  trimHistory(newestFirst, writes);
  return wakeAt;
}

/** Beyond HISTORY_PER_SLOT ended tasks, the oldest are removed. */
function trimHistory(newestFirst: Versioned<Task>[], writes: Write[]): void {
  const history = newestFirst.filter((t) => t.value.desiredState === TaskState.SHUTDOWN || isTerminal(t.value.status!.state));
  for (const t of history.slice(HISTORY_PER_SLOT)) setDesired(writes, t, TaskState.REMOVE);
}

function setDesired(writes: Write[], t: Versioned<Task>, desired: TaskState): void {
  if (t.value.desiredState === desired || t.value.desiredState === TaskState.REMOVE) return;
  writes.push((txn) => txn.expect('tasks', t.value.id, t.modRevision).put('tasks', t.value.id, { ...t.value, desiredState: desired }));
}

function createTask(service: Service, slot: number, attempt: number, now: number): Write {
  const id = newId();
  const task: Task = {
    id,
    serviceId: service.id,
    serviceName: service.spec!.name,
    slot,
    nodeId: '',
    spec: service.spec!.container,
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.PENDING, message: 'pending', err: '', timestamp: new Date(now), containerId: '', exitCode: 0, health: '' },
    createdAt: new Date(now),
    attempt,
  };
  return (txn) => txn.expect('tasks', id, 0).put('tasks', id, task);
}

function onDownNode(cache: Cache, t: Task): boolean {
  return t.nodeId !== '' && cache.nodes.get(t.nodeId)?.value.state !== NodeState.NODE_READY;
}

function created(t: Task): number {
  return t.createdAt?.getTime() ?? 0;
}
