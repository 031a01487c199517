// One slot of a service: the unit the orchestrator keeps exactly one live task
// in. A replicated service has slots 1..N; a global service has one slot per
// eligible node (slot 0, `targetNode` set).
//
// On every pass, per slot:
//  - a task that ended (observed terminal) while desired running is retired
//    (desired shutdown, kept as history) and the restart policy decides if and
//    when a replacement is made;
//  - a task whose node is down, removed or draining is *not* retired at once:
//    a replacement is made right away (node loss ignores the restart delay),
//    and the lost task is removed only once the replacement runs. A node that
//    returns quickly therefore keeps its tasks and the unstarted replacement is
//    dropped ("fast, not twitchy", DESIGN.md §4; ADR 0003), and a drain never
//    drops a slot before its new task runs;
//  - several live tasks: the newest ready one (running, and healthy if it has
//    a health check) keeps the slot and the others are shut down, except that
//    a task made to replace it (a rebalancing move, a start-first update:
//    `replaces` = the keeper) is let become ready first;
//  - a task being stopped (a stop-first update, or one holding host ports or
//    mounts) is let stop before its replacement starts; a task scaled away
//    does not hold its slot if the slot is wanted again; a slot whose task
//    orch stopped is refilled at once, outside the restart policy;
//  - history beyond HISTORY_PER_SLOT is removed.
import { TaskState, type Service, type Task } from '../../proto/generated/orch.js';
import { newId } from '../../shared/ids.js';
import { isReady, isTerminal } from '../../shared/states.js';
import { nodeStanding } from '../cluster.js';
import { serviceNetworks } from '../networks.js';
import type { Change, Snapshot, Versioned } from '../store/index.js';
import { put } from '../store/changes.js';
import { restartDecision } from './restart.js';
import { hostPorts, sameTemplate, taskTemplate } from './template.js';

/** Ended tasks kept per slot for `service ps` history (Swarm keeps 5 per slot). */
export const HISTORY_PER_SLOT = 3;

/** Which slot: a replicated slot number, or a global service's node. */
export interface SlotKey {
  slot: number;
  targetNode: string;
}

/** A slot's tasks, sorted out (each list newest first). */
export interface SlotView {
  newestFirst: Versioned<Task>[];
  /** Desired running, observed ended: to be retired. */
  ended: Versioned<Task>[];
  /** Desired running, on a node that is down, removed or draining. */
  lost: Versioned<Task>[];
  /** Desired running, not ended, not lost (placed on a ready node, or not placed yet). */
  live: Versioned<Task>[];
  /** The live task that keeps the slot: the newest ready one, else the newest running, else the newest. */
  keeper: Versioned<Task> | undefined;
  /** A task asked to stop is still stopping on a ready node. */
  stopping: boolean;
}

/** Sorts out a slot's tasks: the one rule for which task keeps it. */
export function slotView(cache: Snapshot, tasks: Versioned<Task>[]): SlotView {
  const newestFirst = [...tasks].sort((a, b) => created(b.value) - created(a.value));
  const wanted = newestFirst.filter((t) => t.value.desiredState === TaskState.RUNNING);
  const ended = wanted.filter((t) => isTerminal(t.value.status!.state));
  const lost = wanted.filter((t) => !ended.includes(t) && t.value.nodeId !== '' && nodeStanding(cache, t.value.nodeId) !== 'ready');
  const live = wanted.filter((t) => !ended.includes(t) && !lost.includes(t));
  const keeper = live.find((t) => isReady(t.value.status)) ?? live.find((t) => t.value.status!.state === TaskState.RUNNING) ?? live[0];
  const stopping = newestFirst.some((t) => t.value.desiredState !== TaskState.RUNNING && holdsSlot(t.value) && !isTerminal(t.value.status!.state) && nodeStanding(cache, t.value.nodeId) === 'ready');
  return { newestFirst, ended, lost, live, keeper, stopping };
}

/**
 * Whether a task asked to stop must be gone before its slot gets a new one:
 * a stop-first update asked for that (desired shutdown), and two tasks of a
 * slot may not share a node's host-mode ports or a volume. Otherwise a task
 * scaled away (desired remove) does not hold its slot, as in Swarm: a slot
 * wanted again before it stopped is refilled at once.
 */
function holdsSlot(t: Task): boolean {
  return t.desiredState === TaskState.SHUTDOWN || t.hostPorts.length > 0 || (t.spec?.mounts.length ?? 0) > 0;
}

/**
 * Reconciles one slot. `replaceLost` is false for global slots: a task on a
 * down node has nowhere else to go and simply waits for its node.
 * Returns the time a delayed restart is due, if one is.
 */
export function reconcileSlot(
  cache: Snapshot,
  service: Service,
  key: SlotKey,
  tasks: Versioned<Task>[],
  changes: Change[],
  now: number,
  replaceLost: boolean,
): number | undefined {
  const { newestFirst, ended, lost, live, keeper, stopping } = slotView(cache, tasks);

  for (const t of ended) setDesired(changes, t, TaskState.SHUTDOWN);

  if (keeper) {
    // A task a start-first update replaced stays as history (another template); any other duplicate goes.
    for (const t of live) if (t !== keeper && !movingIn(t, keeper)) setDesired(changes, t, sameTemplate(taskTemplate(t.value), taskTemplate(keeper.value)) ? TaskState.REMOVE : TaskState.SHUTDOWN);
    if (keeper.value.status!.state === TaskState.RUNNING) for (const t of lost) setDesired(changes, t, TaskState.REMOVE);
    trimHistory(newestFirst, changes);
    return undefined;
  }

  let wakeAt: number | undefined;
  if (stopping) {
    // Stop first: the replacement waits for the old task to be gone.
  } else if (lost.length > 0) {
    // The node is gone or leaving: replace at once, outside the restart policy.
    if (replaceLost) changes.push(createTask(cache, service, key, lost[0]!.value.attempt, now));
  } else {
    const last = ended[0] ?? newestFirst.find((t) => isTerminal(t.value.status!.state));
    if (!last || stoppedByOrch(last.value)) {
      changes.push(createTask(cache, service, key, 0, now));
    } else if (last.value.desiredState !== TaskState.REMOVE) {
      const decision = restartDecision(service.spec?.restart, last.value, now);
      if (decision.kind === 'at') {
        if (decision.at <= now) changes.push(createTask(cache, service, key, decision.attempt, now));
        else wakeAt = decision.at;
      }
    }
  }
  trimHistory(newestFirst, changes);
  return wakeAt;
}

/** How long after a move failed (its task ended without taking over) no other move of the service is tried. */
export const MOVE_RETRY_MS = 30_000;

/**
 * The service's live tasks, if every slot is settled: as many as it has
 * replicas, each running on a ready node, and no move failed in the last
 * MOVE_RETRY_MS (`retryAt` then says when to look again). Only a settled
 * service is moved (rebalance.ts, homing.ts): a move, a restart or a
 * placement under way is let finish first.
 */
export function settledTasks(cache: Snapshot, service: Service, tasks: Versioned<Task>[], now: number): { live?: Versioned<Task>[]; retryAt?: number } {
  const live = tasks.filter((t) => t.value.desiredState === TaskState.RUNNING && !isTerminal(t.value.status!.state));
  const settled = live.length === (service.spec?.replicas ?? 0) && live.every((t) => t.value.status!.state === TaskState.RUNNING && nodeStanding(cache, t.value.nodeId) === 'ready');
  if (!settled) return {};
  const failedMoves = tasks.filter((t) => t.value.replaces && (t.value.status!.state === TaskState.FAILED || t.value.status!.state === TaskState.REJECTED));
  const retryAt = Math.max(...failedMoves.map((t) => (t.value.status!.timestamp?.getTime() ?? 0) + MOVE_RETRY_MS));
  return retryAt > now ? { retryAt } : { live };
}

/** A task made to replace the keeper (a move, a start-first update) keeps its place beside it until it is ready. */
function movingIn(t: Versioned<Task>, keeper: Versioned<Task>): boolean {
  return t.value.replaces === keeper.value.id && !isReady(t.value.status);
}

/** Stopped because orch asked (an update), not ended by itself: no restart policy applies. */
function stoppedByOrch(t: Task): boolean {
  return t.desiredState === TaskState.SHUTDOWN && t.status!.state === TaskState.SHUTDOWN;
}

/** Beyond HISTORY_PER_SLOT ended tasks, the oldest are removed. */
function trimHistory(newestFirst: Versioned<Task>[], changes: Change[]): void {
  const history = newestFirst.filter((t) => t.value.desiredState === TaskState.SHUTDOWN || isTerminal(t.value.status!.state));
  for (const t of history.slice(HISTORY_PER_SLOT)) setDesired(changes, t, TaskState.REMOVE);
}

/** Queues a desired-state change (never out of REMOVE). */
export function setDesired(changes: Change[], t: Versioned<Task>, desired: TaskState): void {
  if (t.value.desiredState === desired || t.value.desiredState === TaskState.REMOVE) return;
  changes.push(put('tasks', t.value.id, t.modRevision, { ...t.value, desiredState: desired }));
}

/** A new pending task for a slot. */
export function createTask(cache: Snapshot, service: Service, key: SlotKey, attempt: number, now: number, replaces = ''): Change {
  const id = newId();
  const task: Task = {
    id,
    serviceId: service.id,
    serviceName: service.spec!.name,
    slot: key.slot,
    nodeId: '',
    spec: service.spec!.container,
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.PENDING, message: 'pending', err: '', timestamp: new Date(now), containerId: '', exitCode: 0, health: '' },
    createdAt: new Date(now),
    attempt,
    placement: service.spec!.placement,
    targetNode: key.targetNode,
    replaces,
    networks: serviceNetworks(cache, service).map((networkId) => ({ networkId, addr: '' })),
    hostPorts: hostPorts(service),
    forceUpdate: service.spec!.forceUpdate,
    readyAt: undefined,
  };
  return put('tasks', id, 0, task);
}

function created(t: Task): number {
  return t.createdAt?.getTime() ?? 0;
}
