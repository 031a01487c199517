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

test("a task being stopped does not start a dependency, a non-zero completion does not complete it, and a condition orch does not know is never met", (t) => {
  const started = [service('d', 'db'), service('w', 'web', [['db', Dependency_Condition.STARTED]])];
  t.deepEqual([...dependencyWaits(started, [task('d', TaskState.RUNNING, '', 0, TaskState.SHUTDOWN)])], [['w', 'waiting for db to run']]);
  t.deepEqual([...dependencyWaits(started, [Task.fromPartial({ serviceId: 'd', desiredState: TaskState.RUNNING })])], [['w', 'waiting for db to run']], 'a task with no status yet');
  const completed = [service('m', 'migrate'), service('w', 'web', [['migrate', Dependency_Condition.COMPLETED]])];
  t.deepEqual([...dependencyWaits(completed, [task('m', TaskState.COMPLETE, '', 3)])], [['w', 'waiting for migrate to complete']]);
  t.deepEqual([...dependencyWaits(completed, [Task.fromPartial({ serviceId: 'm' })])], [['w', 'waiting for migrate to complete']]);
  const odd = [service('d', 'db'), service('w', 'web', [['db', Dependency_Condition.UNRECOGNIZED]])];
  t.deepEqual([...dependencyWaits(odd, [task('d', TaskState.RUNNING)])], [['w', 'waiting for db to be up']]);
});

test('only services with dependencies are looked at; the tasks of each service are its own', (t) => {
  const services = [service('a', 'a'), service('b', 'b'), service('w', 'web', [['a', Dependency_Condition.STARTED], ['b', Dependency_Condition.STARTED]])];
  t.deepEqual([...dependencyWaits(services, [task('a', TaskState.RUNNING), task('a', TaskState.RUNNING)])], [['w', 'waiting for b to run']], "a's tasks do not count for b");
  t.deepEqual([...dependencyWaits([service('a', 'a'), service('b', 'b')], [])], [], 'no dependencies: nothing waits');
});
