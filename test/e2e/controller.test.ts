// The task controller on the real dockerd, across an agent that died between
// creating a task's container and starting it: the task says starting, the
// engine holds a container that was created and never started. The agent
// that comes back must start it (in a chaos run, a host killed at that moment
// left a global service one task short for good).
import test from 'ava';
import { ContainerSpec, Network, Task, TaskState, type TaskStatus } from '../../proto/generated/orch.js';
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

test("a health check's result keeps the time the task began to run (it is a detail of the state, as docker service ps shows it); no report that it runs leaves its health out", async (t) => {
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
  // No health said would mean it has no check: the managers would count it serving, and a start-first update ready.
  t.deepEqual(reported.filter((s) => s.state === TaskState.RUNNING && !s.health), [], 'every report that it runs says its health');
  t.is(reported[reported.length - 1]!.timestamp!.getTime(), began, 'the report that it is healthy says when it began to run');
  await ctl.step(); // nothing changed
  t.true(reported.filter((s) => s.state === TaskState.RUNNING).every((s) => s.timestamp!.getTime() === began));
});

test('a Docker network removed by hand after the engine saw it is made again for the next task, which runs', async (t) => {
  const { engine, docker } = testEngine(t, 'ctln');
  const network = Network.fromPartial({ id: `ctln${newId().slice(0, 8)}`, subnet: '10.213.77.0/24', gateway: '10.213.77.1' });
  const made: string[] = [];
  t.teardown(async () => {
    for (const id of made) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
    await docker.getNetwork(`orch-${network.id}`).remove().catch(() => undefined);
  });
  // Docker's own bridge driver stands in for the agent's plugin: the engine's bookkeeping is what is tested.
  const resolve = async () => [{ network, dockerName: await engine.ensureNetwork(network, 'bridge') }];
  const task = (addr: string) =>
    Task.fromPartial({
      id: newId(), serviceId: 's1', serviceName: 'ctln', slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING,
      spec: ContainerSpec.fromPartial({ image: SLEEP_IMAGE, stopGracePeriodMs: 1000 }),
      networks: [{ networkId: network.id, addr }],
      status: { state: TaskState.ASSIGNED, message: 'assigned' },
    });
  const created = async (c: TaskController) => {
    for (let i = 0; i < 5 && !(c.status.state === TaskState.PREPARING && c.status.message === 'created') && c.status.state !== TaskState.FAILED; i++) await c.step();
    return c.status;
  };
  const first = new TaskController(task('10.213.77.10/24'), engine, () => undefined, resolve, undefined);
  const status1 = await created(first);
  t.is(status1.message, 'created', status1.err);
  await docker.getContainer(first.status.containerId).remove({ force: true });
  await docker.getNetwork(`orch-${network.id}`).remove();

  const second = new TaskController(task('10.213.77.11/24'), engine, () => undefined, resolve, undefined);
  const status2 = await created(second);
  t.is(status2.message, 'created', status2.err);
  for (let i = 0; i < 5 && second.status.state !== TaskState.RUNNING; i++) await second.step();
  made.push(second.status.containerId);
  t.is(TaskState[second.status.state], 'RUNNING', second.status.err);
  t.truthy(await docker.getNetwork(`orch-${network.id}`).inspect(), 'the network is there again');
});

test('an image removed by hand after the engine saw it is looked for again: the next task is rejected by the pull, not failed by the create', async (t) => {
  const { engine, docker } = testEngine(t, 'ctli');
  // A name under a registry on a closed loopback port: the pull is refused at once, and nothing leaves the machine.
  const image = `127.0.0.1:1/orch-ctli:${newId().slice(0, 8)}`;
  const [repo, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
  await docker.getImage(SLEEP_IMAGE).tag({ repo, tag });
  t.teardown(() => docker.getImage(image).remove().catch(() => undefined));
  const task = () =>
    Task.fromPartial({
      id: newId(), serviceId: 's1', serviceName: 'ctli', slot: 1, nodeId: 'n1', desiredState: TaskState.RUNNING,
      spec: ContainerSpec.fromPartial({ image, stopGracePeriodMs: 1000 }),
      status: { state: TaskState.ASSIGNED, message: 'assigned' },
    });
  const settle = async (c: TaskController) => {
    for (let i = 0; i < 5 && !(c.status.state === TaskState.PREPARING && c.status.message === 'created') && c.status.state < TaskState.COMPLETE; i++) await c.step();
    return c.status;
  };
  const first = new TaskController(task(), engine, () => undefined, async () => [], undefined);
  t.is((await settle(first)).message, 'created');
  await docker.getContainer(first.status.containerId).remove({ force: true });
  await docker.getImage(image).remove();

  const second = new TaskController(task(), engine, () => undefined, async () => [], undefined);
  const status = await settle(second);
  t.is(TaskState[status.state], 'REJECTED', status.err);
  t.regex(status.err, /pulling 127\.0\.0\.1:1\/orch-ctli/);
});
