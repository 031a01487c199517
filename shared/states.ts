// Task state rules (DESIGN.md §3): observed states only move forward.
import { TaskState, taskStateToJSON, UpdateStatus_State, type Task, type TaskStatus, type UpdateStatus } from '../proto/generated/orch.js';
import { shortId } from './ids.js';

/** True once a task's container has ended for good (or never will start). */
export function isTerminal(state: TaskState): boolean {
  return state >= TaskState.COMPLETE;
}

/**
 * Whether an agent's report may replace the observed state we hold: forward
 * moves always, the same state when details (health, message) change.
 */
export function canAdvance(from: TaskState, to: TaskState): boolean {
  if (to === TaskState.REMOVE) return false; // desired-only state
  return to >= from;
}

/** Lower-case state name as users read it ("running", "failed"). */
export function stateName(state: TaskState): string {
  return taskStateToJSON(state).toLowerCase();
}

/** Ready: running and, with a health check, healthy (not unhealthy, not still starting its checks). */
export function isReady(s: TaskStatus | undefined): boolean {
  return s?.state === TaskState.RUNNING && s.health !== 'unhealthy' && s.health !== 'starting';
}

/** A load-balancing backend: ready, and not being removed (it leaves the pools before it stops). */
export function servesTraffic(t: Task): boolean {
  return t.desiredState === TaskState.RUNNING && isReady(t.status);
}

/** Whether a rollout (an update or a rollback) is under way. */
export function rollingOut(s: UpdateStatus | undefined): boolean {
  return s?.state === UpdateStatus_State.UPDATING || s?.state === UpdateStatus_State.ROLLBACK_STARTED;
}

/** A task's name as people read it: "web.1", or "web.<node>" for a global service's task. */
export function taskName(t: Task): string {
  return t.targetNode ? `${t.serviceName}.${shortId(t.targetNode)}` : `${t.serviceName}.${t.slot}`;
}
