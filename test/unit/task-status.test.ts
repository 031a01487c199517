// What the managers write of an agent's report: forward moves only, and since when the task is ready.
import test from 'ava';
import { Task, TaskState, type TaskStatus } from '../../proto/generated/orch.js';
import { advanced } from '../../manager/dispatcher/status.js';

const began = new Date(1000);
const heard = new Date(1700);
const task = (status: Partial<TaskStatus>, readyAt?: Date) => Task.fromPartial({ id: 't1', status, readyAt });
const report = (status: Partial<TaskStatus>) => ({ taskId: 't1', status: { state: TaskState.RUNNING, message: 'running', err: '', containerId: 'c', exitCode: 0, health: '', timestamp: began, ...status } });

test('without a health check, a task is ready when it began to run', (t) => {
  const next = advanced(task({ state: TaskState.STARTING }), report({}), heard);
  t.is(next?.readyAt?.getTime(), 1000);
});

test('with one, it is ready when the report that it is healthy was heard: its status time still says when it began to run', (t) => {
  const starting = advanced(task({ state: TaskState.STARTING }), report({ health: 'starting' }), new Date(1100))!;
  t.is(starting.readyAt, undefined, 'not ready while its checks start');
  const healthy = advanced(starting, report({ health: 'healthy' }), heard)!;
  t.is(healthy.readyAt?.getTime(), 1700);
  t.is(healthy.status?.timestamp?.getTime(), 1000);
  const again = advanced(healthy, report({ health: 'unhealthy' }), new Date(2500))!;
  t.is(again.readyAt?.getTime(), 1700, 'the first moment is kept');
});

test('a report that moves nothing forward is not written', (t) => {
  t.is(advanced(task({ state: TaskState.RUNNING, message: 'running', containerId: 'c', health: '' }), report({}), heard), undefined, 'the same');
  t.is(advanced(task({ state: TaskState.FAILED }), report({}), heard), undefined, 'backwards');
});
