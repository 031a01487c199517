// When `service create/scale` considers a service converged.
import test from 'ava';
import { TaskState, Task as TaskMsg, type Task } from '../../proto/generated/orch.js';
import { convergence } from '../../cli/progress.js';

function task(slot: number, state: TaskState, desired = TaskState.RUNNING, err = ''): Task {
  return TaskMsg.fromPartial({
    id: `t${slot}${state}${desired}`, serviceId: 's', serviceName: 's', slot, nodeId: 'n', spec: undefined, desiredState: desired, placement: undefined, targetNode: '', replaces: '', attempt: 0, createdAt: undefined,
    status: { state, message: '', err, timestamp: undefined, containerId: '', exitCode: 0, health: '' },
  });
}

test('converged when every slot runs', (t) => {
  const c = convergence(2, [task(1, TaskState.RUNNING), task(2, TaskState.RUNNING)]);
  t.deepEqual(c, { running: 2, desired: 2, problems: [], done: true });
});

test('not converged while a removed task still runs (scale down)', (t) => {
  const c = convergence(1, [task(1, TaskState.RUNNING), task(2, TaskState.RUNNING, TaskState.REMOVE)]);
  t.is(c.running, 1);
  t.false(c.done);
});

test('problems of slots that do not run are shown once each', (t) => {
  const c = convergence(2, [task(1, TaskState.RUNNING), task(2, TaskState.PENDING, TaskState.RUNNING, 'no suitable node (1 node not ready)')]);
  t.deepEqual(c.problems, ['2/2: no suitable node (1 node not ready)']);
  t.false(c.done);
});

test('history (failed, shut down) does not block convergence', (t) => {
  const c = convergence(1, [task(1, TaskState.RUNNING), task(1, TaskState.FAILED, TaskState.SHUTDOWN)]);
  t.true(c.done);
});
