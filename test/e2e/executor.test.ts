// The executor on the real dockerd: a task of a newer assignment set starts
// at once (the agent does not make it wait behind an earlier set's rules and
// engine listing), and the application of a set that was under way when it
// came must not stop it.
import test from 'ava';
import { ContainerSpec, Task, TaskState } from '../../proto/generated/orch.js';
import { Executor } from '../../agent/exec/executor.js';
import { LABEL } from '../../agent/exec/labels.js';
import { SLEEP_IMAGE } from '../../lab/images.js';
import { logger } from '../../shared/log.js';
import { newId } from '../../shared/ids.js';
import { testEngine } from '../helpers/engine.js';

const log = logger('test');

test('a task started from a newer set while an older one is being applied keeps running', async (t) => {
  let executor: Executor | undefined;
  const { engine, docker, cluster } = testEngine(t, 'exe', async () => executor?.stop());
  executor = new Executor(engine, () => undefined, async () => [], log);
  const task = (slot: number) =>
    Task.fromPartial({
      id: newId(), serviceId: 's1', serviceName: 'exe', slot, nodeId: 'n1', desiredState: TaskState.RUNNING,
      spec: ContainerSpec.fromPartial({ image: SLEEP_IMAGE, stopGracePeriodMs: 1000 }),
      status: { state: TaskState.ASSIGNED, message: 'assigned' },
    });
  const a = task(1);
  const b = task(2);
  let latest = [a];
  await executor.assign(() => latest); // the first set: the engine is listed
  // The set is applied again (its engine listing is in flight) when a newer one, with b, comes and b starts at once.
  const applying = executor.assign(() => latest);
  latest = [a, b];
  executor.startNew(latest);
  await applying;
  const state = (id: string) => executor.statuses().find((s) => s.taskId === id)?.status.state;
  for (let i = 0; i < 100 && (state(a.id) !== TaskState.RUNNING || state(b.id) !== TaskState.RUNNING); i++) await new Promise((r) => setTimeout(r, 100));
  t.is(TaskState[state(b.id) ?? TaskState.NEW], 'RUNNING', 'b runs');
  await new Promise((r) => setTimeout(r, 1500)); // what a stop would have done by now
  t.is(TaskState[state(b.id) ?? TaskState.NEW], 'RUNNING', 'and keeps running');
  const running = await docker.listContainers({ filters: { label: [`${LABEL.cluster}=${cluster}`, `${LABEL.task}=${b.id}`] } });
  t.is(running.length, 1, "b's container runs on the engine");
});
