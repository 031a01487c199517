// The restart policy decision, for each condition, delay and attempt limit.
import test from 'ava';
import { RestartPolicy_Condition, TaskState, type RestartPolicy, Task as TaskMsg, type Task } from '../../proto/generated/orch.js';
import { restartDecision } from '../../manager/orchestrator/restart.js';

const policy = (over: Partial<RestartPolicy>): RestartPolicy => ({ condition: RestartPolicy_Condition.RESTART_ANY, delayMs: 0, maxAttempts: 0, windowMs: 0, ...over });

function ended(state: TaskState, attempt = 0, endedAt = 10_000, createdAt = 9_000): Task {
  return TaskMsg.fromPartial({
    id: 't', serviceId: 's', serviceName: 's', slot: 1, nodeId: 'n', spec: undefined, desiredState: TaskState.RUNNING, placement: undefined, targetNode: '', replaces: '', attempt, createdAt: new Date(createdAt),
    status: { state, message: '', err: '', timestamp: new Date(endedAt), containerId: '', exitCode: state === TaskState.COMPLETE ? 0 : 1, health: '' },
  });
}

test('condition none never restarts', (t) => {
  t.is(restartDecision(policy({ condition: RestartPolicy_Condition.RESTART_NONE }), ended(TaskState.FAILED), 20_000).kind, 'never');
});

test('on-failure restarts a failure but not a completion', (t) => {
  const p = policy({ condition: RestartPolicy_Condition.RESTART_ON_FAILURE });
  t.is(restartDecision(p, ended(TaskState.FAILED), 20_000).kind, 'at');
  t.is(restartDecision(p, ended(TaskState.COMPLETE), 20_000).kind, 'never');
});

test('any restarts a completion too, after the delay', (t) => {
  t.deepEqual(restartDecision(policy({ delayMs: 5000 }), ended(TaskState.COMPLETE), 11_000), { kind: 'at', at: 15_000, attempt: 1 });
});

test('max attempts: two restarts allowed, the third refused', (t) => {
  const p = policy({ maxAttempts: 2 });
  t.deepEqual(restartDecision(p, ended(TaskState.FAILED, 0), 20_000), { kind: 'at', at: 10_000, attempt: 1 });
  t.deepEqual(restartDecision(p, ended(TaskState.FAILED, 1), 20_000), { kind: 'at', at: 10_000, attempt: 2 });
  const third = restartDecision(p, ended(TaskState.FAILED, 2), 20_000);
  t.is(third.kind, 'never');
  t.regex(third.kind === 'never' ? third.why : '', /gave up after 2 restart attempts/);
});

test('a window resets the count for a task that started before it', (t) => {
  const p = policy({ maxAttempts: 1, windowMs: 5000 });
  t.is(restartDecision(p, ended(TaskState.FAILED, 1, 10_000, 9_000), 12_000).kind, 'never');
  t.deepEqual(restartDecision(p, ended(TaskState.FAILED, 1, 10_000, 1_000), 12_000), { kind: 'at', at: 10_000, attempt: 1 });
});

test('each refusal says why; one attempt is said in the singular', (t) => {
  t.deepEqual(restartDecision(policy({ condition: RestartPolicy_Condition.RESTART_NONE }), ended(TaskState.FAILED), 20_000), { kind: 'never', why: 'restart condition is none' });
  t.deepEqual(restartDecision(policy({ condition: RestartPolicy_Condition.RESTART_ON_FAILURE }), ended(TaskState.COMPLETE), 20_000), { kind: 'never', why: 'completed, and restart condition is on-failure' });
  t.deepEqual(restartDecision(policy({ maxAttempts: 1 }), ended(TaskState.FAILED, 1), 20_000), { kind: 'never', why: 'gave up after 1 restart attempt' });
});

test('no policy is Docker default: any exit, 5 s later; an end not yet timestamped counts from now', (t) => {
  t.deepEqual(restartDecision(undefined, ended(TaskState.COMPLETE), 20_000), { kind: 'at', at: 15_000, attempt: 1 });
  const untimed = TaskMsg.fromPartial({ ...ended(TaskState.FAILED), status: { state: TaskState.FAILED } });
  t.deepEqual(restartDecision(policy({ delayMs: 1000 }), untimed, 20_000), { kind: 'at', at: 21_000, attempt: 1 });
});
