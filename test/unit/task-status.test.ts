// What a registering node's list of running containers does to the tasks
// the managers hold for it.
import test from 'ava';
import { Task, TaskState } from '../../proto/generated/orch.js';
import { notRunning } from '../../manager/dispatcher/status.js';

const task = (id: string, nodeId: string, state: TaskState, desiredState = TaskState.RUNNING) => Task.fromPartial({ id, nodeId, desiredState, status: { state, message: 'x', containerId: `c-${id}`, health: 'healthy' } });

test('a task held as running on the node, meant to run, whose container is not running there fails; nothing else changes', (t) => {
  const now = new Date(5000);
  const tasks = [
    task('gone', 'n1', TaskState.RUNNING),
    task('runs', 'n1', TaskState.RUNNING),
    task('starting', 'n1', TaskState.STARTING),
    task('ended', 'n1', TaskState.FAILED),
    task('elsewhere', 'n2', TaskState.RUNNING),
  ];
  const out = notRunning(tasks, 'n1', ['runs'], now);
  t.deepEqual(out.map((u) => u.taskId), ['gone']);
  const s = out[0]!.status!;
  t.is(s.state, TaskState.FAILED);
  t.regex(s.err, /not running when its node registered again/);
  t.is(s.containerId, 'c-gone', 'the container it had stays named');
  t.is(s.health, '', 'no health claimed for a container that does not run');
  t.deepEqual(s.timestamp, now);
  t.deepEqual(notRunning(tasks, 'n1', ['runs', 'gone'], now), [], 'everything it holds as running runs');
});

test('a task orch was stopping whose container is not running is shut down, not failed', (t) => {
  const [u] = notRunning([task('stopping', 'n1', TaskState.RUNNING, TaskState.SHUTDOWN)], 'n1', [], new Date(1));
  t.is(u!.status!.state, TaskState.SHUTDOWN);
  t.is(u!.status!.err, '');
});
