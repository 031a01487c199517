// The task controller on the real dockerd, across an agent that died between
// creating a task's container and starting it: the task says starting, the
// engine holds a container that was created and never started. The agent
// that comes back must start it (in a chaos run, a host killed at that moment
// left a global service one task short for good).
import test from 'ava';
import { ContainerSpec, Task, TaskState, type TaskStatus } from '../../proto/generated/orch.js';
import { TaskController } from '../../agent/exec/controller.js';
import { SLEEP_IMAGE } from '../../lab/images.js';
import { newId } from '../../shared/ids.js';
import { testEngine } from '../helpers/engine.js';

test('a container created and never started (its agent died in between) is started by the controller that finds it', async (t) => {
  const { engine } = testEngine(t, 'ctl');
  const task = Task.fromPartial({
    id: newId(), serviceId: 's1', serviceName: 'ctl', slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING,
    spec: ContainerSpec.fromPartial({ image: SLEEP_IMAGE, stopGracePeriodMs: 1000 }),
    status: { state: TaskState.ASSIGNED, message: 'assigned' },
  });
  const reported: TaskStatus[] = [];
  const report = (_id: string, s: TaskStatus) => reported.push(s);
  const first = new TaskController(task, engine, report, async () => [], undefined);
  while (!(first.status.state === TaskState.PREPARING && first.status.message === 'created')) t.true(await first.step(), `advances (at ${TaskState[first.status.state]})`);
  const containerId = first.status.containerId;
  t.is((await engine.inspect(containerId))?.State.Status, 'created');

  // The agent reported "starting" and died before the engine heard the start; a new one adopts the task.
  const adopted = new TaskController({ ...task, status: { ...first.status, state: TaskState.STARTING, message: 'starting' } }, engine, report, async () => [], containerId);
  for (let i = 0; i < 5 && adopted.status.state !== TaskState.RUNNING; i++) await adopted.step();
  t.is(TaskState[adopted.status.state], 'RUNNING');
  t.true((await engine.inspect(containerId))?.State.Running, 'the same container runs');
});

test("a health check's result keeps the time the task began to run (it is a detail of the state, as docker service ps shows it)", async (t) => {
  const { engine } = testEngine(t, 'ctlh');
  const task = Task.fromPartial({
    id: newId(), serviceId: 's1', serviceName: 'ctlh', slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING,
    spec: ContainerSpec.fromPartial({ image: SLEEP_IMAGE, stopGracePeriodMs: 1000, healthcheck: { test: ['CMD-SHELL', 'true'], intervalMs: 100, retries: 1 } }),
    status: { state: TaskState.ASSIGNED, message: 'assigned' },
  });
  const reported: TaskStatus[] = [];
  const ctl = new TaskController(task, engine, (_id, s) => reported.push(s), async () => [], undefined);
  for (let i = 0; i < 10 && ctl.status.state !== TaskState.RUNNING; i++) await ctl.step();
  t.is(TaskState[ctl.status.state], 'RUNNING');
  const began = ctl.status.timestamp!.getTime();
  for (let i = 0; i < 50 && ctl.status.health !== 'healthy'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await ctl.step();
  }
  t.is(ctl.status.health, 'healthy');
  t.true(reported.some((s) => s.state === TaskState.RUNNING && s.health === 'starting'), 'it was reported running before its check passed');
  t.is(reported[reported.length - 1]!.timestamp!.getTime(), began, 'the report that it is healthy says when it began to run');
  await ctl.step(); // nothing changed
  t.true(reported.filter((s) => s.state === TaskState.RUNNING).every((s) => s.timestamp!.getTime() === began));
});
