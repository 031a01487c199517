// Rolling updates and rollbacks as pure plans, through the harness that
// records them: Swarm's knobs (parallelism, delay, order, monitor, failure
// ratio and action) and the progress deadline.
import test from 'ava';
import { EndpointSpec, PortConfig_PublishMode, ServiceSpec_Mode, TaskState, UpdateConfig_FailureAction, type Task, UpdateConfig_Order, UpdateStatus_State, type ServiceSpec, type UpdateConfig } from '../../proto/generated/orch.js';
import { DEFAULT_UPDATE } from '../../shared/spec.js';
import { isReady } from '../../shared/states.js';
import { desired, Harness } from '../helpers/harness.js';

const image = (img: string) => (spec: ServiceSpec) => ({ ...spec, container: { ...spec.container!, image: img } });

/** A service of `replicas` running `img` on n1, with this update config. */
function running(replicas: number, update: Partial<UpdateConfig> = {}): Harness {
  const h = new Harness();
  h.node('n1');
  h.service('web', replicas, 0, { updateConfig: { ...DEFAULT_UPDATE, ...update }, rollbackConfig: { ...DEFAULT_UPDATE, ...update } });
  h.orchestrate();
  h.settle('web');
  h.orchestrate();
  h.now += 60_000;
  return h;
}

/** Updates `web` to `img` and runs passes until slot 1's new task runs (its old task stopped first). */
function updateFirstSlot(h: Harness, img: string): void {
  h.update('web', image(img));
  h.orchestrate();
  h.settle('web');
  h.orchestrate();
  h.settle('web');
}

/** Slots whose wanted task is not ready: out of service. */
function outOfService(h: Harness, replicas: number): number {
  const ready = new Set(h.live('web').filter((t) => isReady(t.status)).map((t) => t.slot));
  return replicas - ready.size;
}

/** Runs passes, the agent doing its part between them and time moving on, until the rollout ends; returns the most slots ever out of service. */
function rollOut(h: Harness, replicas: number, stepMs = 1000, maxPasses = 200): number {
  let worst = 0;
  for (let i = 0; i < maxPasses; i++) {
    h.orchestrate();
    worst = Math.max(worst, outOfService(h, replicas));
    const state = h.serviceOf('web').updateStatus?.state;
    if (state !== UpdateStatus_State.UPDATING && state !== UpdateStatus_State.ROLLBACK_STARTED) return worst;
    h.settle('web');
    h.now += stepMs;
  }
  throw new Error('the rollout did not end');
}

test('stop-first, parallelism 2: two slots at a time, each old task stopped before its new one starts; then completed', (t) => {
  const h = running(6, { parallelism: 2 });
  h.update('web', image('img:2'));
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 1', 'SHUTDOWN 2', 'services'], 'two old tasks stop; the status is written');
  t.deepEqual(desired(h.orchestrate().changes), [], 'nothing starts while they are stopping');
  h.settle('web');
  t.deepEqual(desired(h.orchestrate().changes), ['create 1', 'create 2'], 'stopped: refilled at once, outside the restart policy');
  t.is(rollOut(h, 6), 2, 'never more than two slots out of service');
  const s = h.serviceOf('web');
  t.is(s.updateStatus?.state, UpdateStatus_State.COMPLETED);
  t.is(s.updateStatus?.message, 'update completed');
  t.deepEqual(h.live('web').map((x) => x.spec?.image), Array(6).fill('img:2'));
  t.is(h.tasks('web').filter((x) => x.desiredState === TaskState.SHUTDOWN && x.spec?.image === 'img').length, 6, 'the old tasks are kept as history');
});

test('start-first: the new task starts beside the old one, which stops only once the new one is ready (healthy)', (t) => {
  const h = running(2, { order: UpdateConfig_Order.START_FIRST });
  h.update('web', image('img:2'));
  t.deepEqual(desired(h.orchestrate().changes), ['create 1', 'services']);
  const fresh = h.live('web').find((x) => x.spec?.image === 'img:2')!;
  h.report(fresh, TaskState.RUNNING, 'n1', 'starting');
  t.deepEqual(desired(h.orchestrate().changes), [], 'running but not yet healthy: the old task keeps serving');
  t.is(outOfService(h, 2), 0);
  h.report(h.live('web').find((x) => x.id === fresh.id)!, TaskState.RUNNING, 'n1', 'healthy');
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 1', 'create 2', 'services'], 'healthy: the old one stops, the next slot starts');
  t.is(rollOut(h, 2), 0, 'no slot is ever out of service');
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.COMPLETED);
});

test('delay: a worker waits after its slot is ready; the plan says when to wake', (t) => {
  const h = running(2, { delayMs: 10_000, monitorMs: 0 });
  updateFirstSlot(h, 'img:2');
  const readyAt = h.now;
  const plan = h.orchestrate();
  t.deepEqual(desired(plan.changes), ['services'], 'slot 1 done; slot 2 waits for the delay');
  t.is(plan.wakeAt, readyAt + 10_000);
  h.now += 10_000;
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 2']);
});

test('a new task that fails within the monitor period pauses the update, saying which; no further slot is touched', (t) => {
  const h = running(4);
  h.update('web', image('broken'));
  h.orchestrate();
  h.settle('web');
  h.orchestrate();
  const fresh = h.live('web').find((x) => x.spec?.image === 'broken')!;
  h.report(fresh, TaskState.RUNNING);
  h.now += 1000;
  h.report(h.live('web').find((x) => x.id === fresh.id)!, TaskState.FAILED);
  h.orchestrate();
  const s = h.serviceOf('web').updateStatus!;
  t.is(s.state, UpdateStatus_State.PAUSED);
  t.regex(s.message, new RegExp(`update paused due to failure or early termination of task ${fresh.id.slice(0, 12)}`));
  for (let i = 0; i < 5; i++) {
    h.now += 10_000;
    h.settle('web');
    h.orchestrate();
  }
  t.deepEqual(h.live('web').filter((x) => x.slot !== fresh.slot).map((x) => x.spec?.image), ['img', 'img', 'img'], 'the other slots keep the old image');
});

test('a task that fails after its monitor period is not an update failure', (t) => {
  const h = running(2, { monitorMs: 5000 });
  updateFirstSlot(h, 'img:2');
  h.now += 6000;
  const fresh = h.live('web').find((x) => x.spec?.image === 'img:2')!;
  h.report(fresh, TaskState.FAILED);
  rollOut(h, 2);
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.COMPLETED);
});

test('failure action rollback: the previous spec comes back as a new version, and only the slots that changed are replaced', (t) => {
  const h = running(4, { parallelism: 2, failureAction: UpdateConfig_FailureAction.ROLLBACK });
  const oldIds = h.live('web').map((x) => x.id);
  h.update('web', image('broken'));
  h.orchestrate();
  h.settle('web');
  h.orchestrate();
  for (const x of h.live('web').filter((y) => y.spec?.image === 'broken')) h.report(x, TaskState.FAILED);
  const plan = h.orchestrate();
  t.deepEqual(desired(plan.changes), ['services'], 'the rollback is the only change of that pass');
  t.deepEqual(Object.keys(plan.changes[0]!.claim ?? {}), ['/orch/v1/revisions/web/000000000003'], 'the new version joins the history');
  const s = h.serviceOf('web');
  t.is(s.version, 3n);
  t.is(s.spec?.container?.image, 'img');
  t.is(s.previousSpec?.container?.image, 'broken');
  t.is(s.updateStatus?.state, UpdateStatus_State.ROLLBACK_STARTED);
  t.regex(s.updateStatus!.message, /^update rolled back due to failure or early termination of task /);
  rollOut(h, 4);
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.ROLLBACK_COMPLETED);
  t.deepEqual(h.live('web').map((x) => x.spec?.image), Array(4).fill('img'));
  const kept = h.live('web').filter((x) => oldIds.includes(x.id));
  t.is(kept.length, 2, 'the two slots never updated keep their healthy old tasks (moby#43081)');
});

test('no slot updated within the progress deadline: the failure action runs', (t) => {
  const h = running(2, { progressDeadlineMs: 60_000 });
  h.update('web', image('img:2'));
  h.orchestrate();
  h.settle('web');
  h.orchestrate(); // the new task is created and never placed (no room anywhere, say)
  h.now += 30_000;
  const plan = h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.UPDATING);
  t.is(plan.wakeAt, h.now - 30_000 + 60_000 + 1, 'it wakes when the deadline passes');
  h.now += 31_000;
  h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.PAUSED);
  t.regex(h.serviceOf('web').updateStatus!.message, /update paused due to no progress for 1m/);
});

test('a change that leaves the tasks alone (scale) starts no rollout; --force replaces every task', (t) => {
  const h = running(2, { parallelism: 0 });
  h.set('services', 'web', { ...h.serviceOf('web'), spec: { ...h.serviceOf('web').spec!, replicas: 3 } });
  t.deepEqual(desired(h.orchestrate().changes), ['create 3']);
  h.settle('web');
  h.update('web', (spec) => ({ ...spec, forceUpdate: spec.forceUpdate + 1n }));
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 1', 'SHUTDOWN 2', 'SHUTDOWN 3', 'services'], 'parallelism 0: all at once');
});

test('the monitor period: the rollout completes only once each new task has been ready that long, and the plan says when', (t) => {
  const h = running(1, { monitorMs: 5000 });
  updateFirstSlot(h, 'img:2');
  const readyAt = h.now;
  const plan = h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.UPDATING, 'ready, but not for the monitor period yet');
  t.is(plan.wakeAt, readyAt + 5000);
  h.now += 4999;
  h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.UPDATING);
  h.now += 1;
  h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.COMPLETED);
});

test('a task that ends exactly when its monitor period ends, or that orch stopped, is no failure; one that never became ready is', (t) => {
  const h = running(2, { monitorMs: 5000, failureAction: UpdateConfig_FailureAction.PAUSE });
  updateFirstSlot(h, 'img:2');
  const fresh = h.live('web').find((x) => x.spec?.image === 'img:2')!;
  h.now += 5000;
  h.report(fresh, TaskState.FAILED);
  h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.UPDATING, 'ready for the whole monitor period: not the update\'s failure');

  const g = running(2, { failureAction: UpdateConfig_FailureAction.PAUSE });
  g.update('web', image('img:2'));
  g.orchestrate();
  g.settle('web');
  g.orchestrate();
  const never = g.live('web').find((x) => x.spec?.image === 'img:2')!;
  g.set('tasks', never.id, { ...never, status: { ...never.status!, state: TaskState.REJECTED, err: 'no such image', timestamp: new Date(g.now) } });
  g.orchestrate();
  t.is(g.serviceOf('web').updateStatus?.state, UpdateStatus_State.PAUSED);
  t.regex(g.serviceOf('web').updateStatus!.message, new RegExp(`^update paused due to failure or early termination of task ${never.id.slice(0, 12)} \\(no such image\\)$`));
});

test('the failure ratio: failures up to it are borne, one more pauses', (t) => {
  const fail = (replicas: number, ratio: number, failing: number) => {
    const h = running(replicas, { parallelism: 0, maxFailureRatio: ratio, monitorMs: 60_000 });
    h.update('web', image('img:2'));
    h.orchestrate();
    h.settle('web');
    h.orchestrate();
    h.settle('web');
    h.now += 1000;
    for (const x of h.live('web').filter((y) => y.spec?.image === 'img:2').slice(0, failing)) h.report(x, TaskState.FAILED);
    h.orchestrate();
    return h.serviceOf('web').updateStatus!.state;
  };
  t.is(fail(4, 0.5, 2), UpdateStatus_State.UPDATING, '2 of 4 is the ratio, not above it');
  t.is(fail(4, 0.5, 3), UpdateStatus_State.PAUSED);
  t.is(fail(4, 0, 1), UpdateStatus_State.PAUSED, 'a ratio of 0 bears none');
  t.is(fail(4, 1, 4), UpdateStatus_State.UPDATING, 'a ratio of 1 bears all');
});

test('the progress deadline counts from the last task that became ready; 0 turns it off', (t) => {
  const h = running(2, { progressDeadlineMs: 60_000, monitorMs: 0 });
  h.update('web', image('img:2'));
  h.orchestrate();
  h.settle('web');
  h.orchestrate();
  h.now += 50_000;
  h.settle('web'); // slot 1's new task ready 50 s in
  h.orchestrate(); // slot 2's old task is stopped
  h.orchestrate(); // its new task is created, and never placed
  h.now += 60_000;
  h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.UPDATING, '60 s since slot 1 was ready: not more');
  h.now += 1;
  h.orchestrate();
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.PAUSED);

  const off = running(2, { progressDeadlineMs: 0 });
  off.update('web', image('img:2'));
  off.orchestrate();
  off.now += 3_600_000;
  const plan = off.orchestrate();
  t.is(off.serviceOf('web').updateStatus?.state, UpdateStatus_State.UPDATING, 'no deadline: it waits');
  t.is(plan.wakeAt, undefined);
});

test('a rollback completes as such, and the ports go back with the spec: the old claimed again, the new released', (t) => {
  const h = running(1, { failureAction: UpdateConfig_FailureAction.ROLLBACK });
  const withPort = (published: number, img: string) => (spec: ServiceSpec): ServiceSpec => ({ ...spec, container: { ...spec.container!, image: img }, endpoint: EndpointSpec.fromPartial({ ports: [{ targetPort: 80, publishedPort: published }] }) });
  h.set('services', 'web', { ...h.serviceOf('web'), spec: withPort(8080, 'img')(h.serviceOf('web').spec!) });
  h.update('web', withPort(9090, 'broken'));
  h.orchestrate();
  h.settle('web');
  h.orchestrate();
  for (const x of h.live('web').filter((y) => y.spec?.image === 'broken')) h.report(x, TaskState.FAILED);
  const back = h.orchestrate().changes[0]!;
  t.deepEqual(Object.keys(back.claim ?? {}).filter((k) => k.includes('/ports/')), ['/orch/v1/ports/tcp/8080']);
  t.deepEqual(back.release?.filter((k) => k.includes('/ports/')), ['/orch/v1/ports/tcp/9090']);
  t.is(h.serviceOf('web').updateStatus?.total, 1, 'the slot count carries over');
  rollOut(h, 1);
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.ROLLBACK_COMPLETED);
  t.is(h.serviceOf('web').updateStatus?.message, 'rollback completed');
});

test('host-mode ports are part of the template, ingress ports are not: changing one rolls the tasks, the other leaves them', (t) => {
  const publish = (mode: PortConfig_PublishMode, published: number) => (spec: ServiceSpec): ServiceSpec => ({ ...spec, endpoint: EndpointSpec.fromPartial({ ports: [{ targetPort: 80, publishedPort: published, publishMode: mode }] }) });
  const h = running(2, { parallelism: 0, monitorMs: 0 });
  const before = h.live('web').map((x) => x.id);
  h.update('web', publish(PortConfig_PublishMode.INGRESS, 8080));
  t.deepEqual(desired(h.orchestrate().changes), ['services'], 'the ingress port: nothing to replace, the rollout ends');
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.COMPLETED);
  t.deepEqual(h.live('web').map((x) => x.id), before);

  h.update('web', publish(PortConfig_PublishMode.HOST, 8080));
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 1', 'SHUTDOWN 2', 'services'], 'a host port: each task maps it itself');
  rollOut(h, 2);
  t.is(h.serviceOf('web').updateStatus?.state, UpdateStatus_State.COMPLETED);
  t.deepEqual(h.live('web').map((x) => x.hostPorts.map((p) => p.publishedPort)), [[8080], [8080]]);
  t.deepEqual(h.orchestrate().changes, [], 'the new tasks are of the template: nothing more');
});

test('a global service rolls out node by node in the order of their ids, whatever the order they joined in', (t) => {
  const h = new Harness();
  for (const id of ['n3', 'n1', 'n2']) h.node(id);
  h.service('web', 0, 0, { mode: ServiceSpec_Mode.GLOBAL, updateConfig: { ...DEFAULT_UPDATE, parallelism: 1 } });
  h.orchestrate();
  for (const x of h.live('web')) h.report(x, TaskState.RUNNING, x.targetNode);
  h.orchestrate();
  h.update('web', image('img:2'));
  const first = h.orchestrate().changes.filter((c) => c.kind === 'tasks');
  t.deepEqual(first.map((c) => [(c.value as Task).desiredState, (c.value as Task).nodeId]), [[TaskState.SHUTDOWN, 'n1']]);
});
