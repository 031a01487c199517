// Task state rules (DESIGN.md §3): observed states only move forward.
import { TaskState, taskStateToJSON, type Task } from '../proto/generated/orch.js';

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

/** A load-balancing backend: running, not unhealthy or still starting its health checks, and not being removed (it leaves the pools before it stops). */
export function servesTraffic(t: Task): boolean {
  return t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING && t.status.health !== 'unhealthy' && t.status.health !== 'starting';
}
