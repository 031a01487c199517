// depends_on as the scheduler sees it: which services wait, for what.
import test from 'ava';
import { Dependency_Condition, Service, ServiceSpec, Task, TaskState } from '../../proto/generated/orch.js';
import { dependencyWaits } from '../../manager/scheduler/depends.js';

const service = (id: string, name: string, dependsOn: Array<[string, Dependency_Condition]> = []) =>
  Service.fromPartial({ id, spec: ServiceSpec.fromPartial({ name, dependsOn: dependsOn.map(([s, condition]) => ({ service: s, condition })) }) });
const task = (serviceId: string, state: TaskState, health = '', exitCode = 0, desired = TaskState.RUNNING) =>
  Task.fromPartial({ serviceId, desiredState: desired, status: { state, health, exitCode } });

test('started: one running task is enough; none, or one only starting, is not', (t) => {
  const services = [service('d', 'db'), service('w', 'web', [['db', Dependency_Condition.STARTED]])];
  t.deepEqual([...dependencyWaits(services, [task('d', TaskState.STARTING)])], [['w', 'waiting for db to run']]);
  t.deepEqual([...dependencyWaits(services, [task('d', TaskState.STARTING), task('d', TaskState.RUNNING, 'starting')])], []);
});

test('healthy: a running task whose health check passed (or that has none); a task being removed does not count', (t) => {
  const services = [service('d', 'db'), service('w', 'web', [['db', Dependency_Condition.HEALTHY]])];
  t.deepEqual([...dependencyWaits(services, [task('d', TaskState.RUNNING, 'starting')])], [['w', 'waiting for db to be healthy']]);
  t.deepEqual([...dependencyWaits(services, [task('d', TaskState.RUNNING, 'unhealthy')])], [['w', 'waiting for db to be healthy']]);
  t.deepEqual([...dependencyWaits(services, [task('d', TaskState.RUNNING, 'healthy', 0, TaskState.SHUTDOWN)])], [['w', 'waiting for db to be healthy']]);
  t.deepEqual([...dependencyWaits(services, [task('d', TaskState.RUNNING, 'healthy')])], []);
  t.deepEqual([...dependencyWaits(services, [task('d', TaskState.RUNNING, '')])], []);
});

test('completed: a task that exited 0; a failure does not count', (t) => {
  const services = [service('m', 'migrate'), service('w', 'web', [['migrate', Dependency_Condition.COMPLETED]])];
  t.deepEqual([...dependencyWaits(services, [task('m', TaskState.FAILED, '', 1)])], [['w', 'waiting for migrate to complete']]);
  t.deepEqual([...dependencyWaits(services, [task('m', TaskState.COMPLETE, '', 0, TaskState.SHUTDOWN)])], []);
});

test('every unmet dependency is named, a missing service too; a service without any never waits', (t) => {
  const services = [service('d', 'db'), service('c', 'cache'), service('w', 'web', [['db', Dependency_Condition.STARTED], ['cache', Dependency_Condition.STARTED], ['queue', Dependency_Condition.STARTED]])];
  t.deepEqual([...dependencyWaits(services, [task('c', TaskState.RUNNING)])], [['w', 'waiting for db to run, service queue, which does not exist']]);
});
