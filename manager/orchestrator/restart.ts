// The restart policy (Docker's --restart-condition/delay/max-attempts/window):
// given the task that just ended in a slot, whether and when its slot gets a
// replacement.
import { RestartPolicy_Condition, TaskState, type RestartPolicy, type Task } from '../../proto/generated/orch.js';
import { DEFAULT_RESTART } from '../../shared/spec.js';

export type RestartDecision =
  | { kind: 'never'; why: string }
  | { kind: 'at'; at: number; attempt: number };

/** Decides for a slot whose latest task `ended` (observed terminal). */
export function restartDecision(policy: RestartPolicy | undefined, ended: Task, now: number): RestartDecision {
  const p = policy ?? DEFAULT_RESTART;
  const state = ended.status?.state ?? TaskState.NEW;
  if (p.condition === RestartPolicy_Condition.RESTART_NONE) return { kind: 'never', why: 'restart condition is none' };
  if (p.condition === RestartPolicy_Condition.RESTART_ON_FAILURE && state === TaskState.COMPLETE) {
    return { kind: 'never', why: 'completed, and restart condition is on-failure' };
  }
  const endedAt = ended.status?.timestamp?.getTime() ?? now;
  // Within a window, attempts accumulate; a task that started before the window resets the count.
  const started = ended.createdAt?.getTime() ?? endedAt;
  const attempt = p.windowMs > 0 && started < now - p.windowMs ? 1 : ended.attempt + 1;
  if (p.maxAttempts > 0 && attempt > p.maxAttempts) {
    return { kind: 'never', why: `gave up after ${p.maxAttempts} restart attempt${p.maxAttempts === 1 ? '' : 's'}` };
  }
  return { kind: 'at', at: endedAt + p.delayMs, attempt };
}
