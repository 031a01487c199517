// The orchestrator's and the reaper's passes as pure plans, driven through a
// harness that records every plan and applies it to its own snapshot the way
// etcd would (a change whose object moved on meanwhile is refused), then
// lets time pass and tasks run, fail or lose their node.
import test from 'ava';
import { ContainerSpec, Mount_Type, NodeAvailability, NodeState, RestartPolicy_Condition, Service, ServiceSpec_Mode, TaskState, type Node, type Task } from '../../proto/generated/orch.js';
import { planOrchestration } from '../../manager/orchestrator/orchestrator.js';
import type { Change } from '../../manager/store/index.js';
import { desired, Harness } from '../helpers/harness.js';

test('a new service gets one task per slot; the next pass plans nothing', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 3);
  t.deepEqual(desired(h.orchestrate().changes), ['create 1', 'create 2', 'create 3']);
  t.deepEqual(h.orchestrate().changes, [], 'nothing more to do');
});

test('a failed task is retired to history and replaced after the restart delay; the plan says when to wake', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1, 5000);
  h.orchestrate();
  const [first] = h.live('web');
  h.report(first!, TaskState.FAILED);
  const plan = h.orchestrate();
  t.deepEqual(desired(plan.changes), ['SHUTDOWN 1'], 'retired, no replacement yet');
  t.is(plan.wakeAt, h.now + 5000);
  h.now += 5000;
  const later = h.orchestrate();
  t.deepEqual(desired(later.changes), ['create 1']);
  t.is((later.changes[0]!.value as Task).attempt, 1);
});

test('scale: slots above the count are removed, new ones created', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 3);
  h.orchestrate();
  h.service('web', 1);
  t.deepEqual(desired(h.orchestrate().changes).sort(), ['REMOVE 2', 'REMOVE 3']);
  h.service('web', 2);
  t.deepEqual(desired(h.orchestrate().changes), ['create 2']);
});

test('a node lost: its task is replaced at once and removed once the replacement runs; a node back first keeps its task', (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2');
  h.service('web', 1, 60_000);
  h.orchestrate();
  const [task] = h.live('web');
  h.report(task!, TaskState.RUNNING, 'n1');
  h.node('n1', NodeState.NODE_DOWN);
  t.deepEqual(desired(h.orchestrate().changes), ['create 1'], 'replaced at once, whatever the restart delay');
  const replacement = h.live('web').find((x) => x.id !== task!.id)!;
  t.deepEqual(desired(h.orchestrate().changes), [], 'the lost task stays while its replacement does not run');
  h.report(replacement, TaskState.RUNNING, 'n2');
  t.deepEqual(desired(h.orchestrate().changes), ['REMOVE 1'], 'the lost task goes');
  t.deepEqual(h.live('web').map((x) => x.id), [replacement.id]);

  // Again, but the node returns before the replacement runs.
  h.node('n2', NodeState.NODE_DOWN);
  h.orchestrate();
  h.node('n2');
  t.deepEqual(desired(h.orchestrate().changes), ['REMOVE 1'], 'the unstarted replacement is dropped');
  t.deepEqual(h.live('web').map((x) => x.id), [replacement.id], 'the returning node keeps its task');
});

test('a removed service: every task is removed; the reaper forgets them once nothing runs, freeing their addresses', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 2);
  h.orchestrate();
  const [a, b] = h.live('web');
  h.report(a!, TaskState.RUNNING);
  h.set('tasks', b!.id, { ...b!, networks: [{ networkId: 'net1', addr: '10.0.0.5/24' }] });
  h.snap.services.delete('web');
  t.deepEqual(desired(h.orchestrate().changes).sort(), ['REMOVE 1', 'REMOVE 2']);
  const reaped = h.reap();
  t.deepEqual(reaped.map((c) => c.id), [b!.id], 'the task never placed goes; the running one waits for its container to stop');
  t.deepEqual(reaped[0]!.release, ['/orch/v1/ipam/net1/10.0.0.5']);
  h.report(h.tasks('web')[0]!, TaskState.SHUTDOWN);
  t.is(h.reap().length, 1);
  t.deepEqual(h.tasks('web'), []);
});

test('history: beyond 3 ended tasks a slot removes its oldest', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1);
  h.orchestrate();
  for (let i = 0; i < 5; i++) {
    h.report(h.live('web')[0]!, TaskState.FAILED);
    h.now += 1000;
    h.orchestrate();
  }
  const ended = h.tasks('web').filter((x) => x.desiredState !== TaskState.RUNNING);
  t.is(ended.filter((x) => x.desiredState === TaskState.SHUTDOWN).length, 3);
  t.true(ended.filter((x) => x.desiredState === TaskState.REMOVE).length >= 1);
});

test('a rebalance asked for: tasks move off the busiest node, each marked as replacing, and the request is recorded done', (t) => {
  const h = crowdedOnN1(4);
  const s = h.snap.services.get('web')!.value;
  h.set('services', 'web', { ...s, rebalanceRequested: 1n });
  const plan = h.orchestrate().changes;
  const moves = plan.filter((c): c is Change & { kind: 'tasks' } => c.kind === 'tasks').map((c) => c.value!);
  t.is(moves.length, 2, '4 on n1 and 0 on n2: two move');
  t.true(moves.every((m) => m.replaces !== '' && m.nodeId === ''), 'new tasks replacing running ones, for the scheduler to place');
  t.deepEqual(plan.filter((c) => c.kind === 'services').map((c) => (c.value as Service).rebalanceDone), [1n]);
});

/** `web`'s slots all running on n1; then n2 joins. */
function crowdedOnN1(replicas: number): Harness {
  const h = new Harness();
  h.node('n1');
  h.service('web', replicas);
  h.orchestrate();
  for (const x of h.live('web')) h.report(x, TaskState.RUNNING, 'n1');
  h.node('n2');
  return h;
}

/** A service whose slots each mount their own volume, data-<slot>. */
function volumeService(h: Harness, replicas: number): void {
  h.service('db', replicas, 0, { container: ContainerSpec.fromPartial({ image: 'img', mounts: [{ type: Mount_Type.VOLUME, source: 'data-{{.Task.Slot}}', target: '/data' }] }) });
}

/** Two nodes, and `db`'s two slots both running on n1. */
function dbOnN1(): Harness {
  const h = new Harness();
  h.node('n1');
  h.node('n2');
  volumeService(h, 2);
  h.orchestrate();
  for (const x of h.live('db')) h.report(x, TaskState.RUNNING, 'n1');
  return h;
}

/** What the node's agent reports: these volumes, each made at the given time. */
function volumes(h: Harness, nodeId: string, made: Record<string, number>): void {
  const n = h.snap.nodes.get(nodeId)!.value;
  h.set('nodes', nodeId, { ...n, volumes: Object.entries(made).map(([name, at]) => ({ name, serviceId: 'db', serviceName: 'db', slot: 0, tasks: [], createdAt: new Date(at) })) });
}

test('homing: a slot that had to start elsewhere while its node was down goes back to its data, making before breaking', (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2');
  volumeService(h, 2);
  h.orchestrate();
  const [one, two] = h.live('db');
  h.report(one!, TaskState.RUNNING, 'n1');
  h.report(two!, TaskState.RUNNING, 'n2');
  volumes(h, 'n1', { 'data-1': 1000 });
  volumes(h, 'n2', { 'data-2': 1000 });
  t.deepEqual(desired(h.orchestrate().changes), [], 'each slot is with its data');

  // n2 goes down: slot 2 starts on n1, on a new copy of its volume.
  h.now += 10_000;
  h.node('n2', NodeState.NODE_DOWN);
  volumes(h, 'n2', { 'data-2': 1000 });
  t.deepEqual(desired(h.orchestrate().changes), ['create 2']);
  const stand = h.live('db').find((x) => x.slot === 2 && x.id !== two!.id)!;
  h.report(stand, TaskState.RUNNING, 'n1');
  volumes(h, 'n1', { 'data-1': 1000, 'data-2': 5000 });
  t.deepEqual(desired(h.orchestrate().changes), ['REMOVE 2'], 'the lost task goes once its replacement runs');
  t.deepEqual(desired(h.orchestrate().changes), [], 'no move while the older copy is on a node that is down');

  // n2 is back, with the older copy: slot 2 moves home, the stand-in staying until the move runs.
  h.now += 10_000;
  h.node('n2');
  volumes(h, 'n2', { 'data-2': 1000 });
  const plan = h.orchestrate().changes;
  t.deepEqual(desired(plan), ['create 2']);
  const move = plan[0]!.value as Task;
  t.is(move.replaces, stand.id, 'made to replace the stand-in');
  t.deepEqual(desired(h.orchestrate().changes), [], 'one move at a time: the slot is not settled while it is under way');
  h.report(move, TaskState.RUNNING, 'n2');
  t.deepEqual(desired(h.orchestrate().changes), ['REMOVE 2'], 'the stand-in goes once the move runs');
  t.deepEqual(h.live('db').map((x) => [x.slot, x.nodeId]), [[1, 'n1'], [2, 'n2']]);
  t.deepEqual(desired(h.orchestrate().changes), [], 'home: nothing more to move');
});

test('homing: no move for spread, none to a node that may not take the task, and a failed move holds moves back for a while', (t) => {
  const h = dbOnN1();
  volumes(h, 'n1', { 'data-1': 1000, 'data-2': 1000 });
  const auto = h.serviceOf('db');
  h.set('services', 'db', { ...auto, spec: { ...auto.spec!, autoRebalance: true } });
  t.deepEqual(desired(h.orchestrate().changes), [], 'both slots are with their data on n1: not evened out over n2');

  // Slot 2's older copy is on n2, which is drained: it stays; once active again, it moves.
  volumes(h, 'n2', { 'data-2': 500 });
  const n2 = h.snap.nodes.get('n2')!.value;
  h.set('nodes', 'n2', { ...n2, availability: NodeAvailability.DRAIN });
  t.deepEqual(desired(h.orchestrate().changes), []);
  h.set('nodes', 'n2', { ...n2, availability: NodeAvailability.ACTIVE });
  const plan = h.orchestrate().changes;
  t.deepEqual(desired(plan), ['create 2']);

  // The move fails: no new move until MOVE_RETRY_MS later, and the plan says when to look again.
  const move = plan[0]!.value as Task;
  h.report(move, TaskState.FAILED, 'n2');
  const after = h.orchestrate();
  t.deepEqual(desired(after.changes), ['SHUTDOWN 2'], 'the failed move is retired, the slot keeps its task');
  t.deepEqual(desired(h.orchestrate().changes), []);
  t.is(h.orchestrate().wakeAt, h.now + 30_000);
  h.now += 30_000;
  t.deepEqual(desired(h.orchestrate().changes), ['create 2'], 'tried again');
});

test('a change refused because its object moved on is planned again from the new state', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1);
  h.orchestrate();
  const [task] = h.live('web');
  h.report(task!, TaskState.FAILED);
  const stale = planOrchestration(h.snap, h.now);
  h.report(h.live('web')[0]!, TaskState.COMPLETE); // the agent spoke meanwhile
  const shutdown = stale.changes.find((c) => c.kind === 'tasks' && c.id === task!.id)!;
  t.not(h.snap.tasks.get(task!.id)!.modRevision, shutdown.modRevision, 'the plan was made on an older revision');
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 1', 'create 1'], 'the next pass plans from what is there now');
});

test('global mode: a task on every node that may take it; a down node keeps its task, a drained or removed one loses it, one that joins gets one', (t) => {
  const h = new Harness();
  const change = (id: string, over: Partial<Node>) => h.set('nodes', id, { ...h.snap.nodes.get(id)!.value, ...over });
  for (const [id, zone] of [['n1', 'a'], ['n2', 'a'], ['n3', 'b']]) {
    h.node(id!);
    change(id!, { labels: { zone: zone! } });
  }
  h.service('agent', 0, 0, { mode: ServiceSpec_Mode.GLOBAL, placement: { constraints: ['node.labels.zone==a'], maxReplicas: 0 } });
  const targets = (changes: ReturnType<Harness['orchestrate']>['changes']) => changes.map((c) => (c.value as Task).targetNode).sort();
  const first = h.orchestrate().changes;
  t.deepEqual(desired(first), ['create 0', 'create 0']);
  t.deepEqual(targets(first), ['n1', 'n2'], 'not n3: it fails the constraint');
  for (const x of h.live('agent')) h.report(x, TaskState.RUNNING, x.targetNode);
  t.deepEqual(h.orchestrate().changes, []);

  change('n2', { state: NodeState.NODE_DOWN });
  t.deepEqual(h.orchestrate().changes, [], 'a down node keeps its task: it waits for the node, never elsewhere');

  change('n1', { availability: NodeAvailability.DRAIN });
  const drained = h.orchestrate().changes;
  t.deepEqual(desired(drained), ['REMOVE 0']);
  t.is((drained[0]!.value as Task).nodeId, 'n1');

  h.node('n4');
  change('n4', { labels: { zone: 'a' } });
  change('n3', { labels: { zone: 'a' } });
  t.deepEqual(targets(h.orchestrate().changes), ['n3', 'n4'], 'a node that joins, and one whose labels now match');

  h.snap.nodes.delete('n2');
  const removed = h.orchestrate().changes;
  t.deepEqual(desired(removed), ['REMOVE 0'], "a removed node's task goes");
  t.is((removed[0]!.value as Task).nodeId, 'n2');
});

test('a task orch stopped (a stop-first update) is refilled at once, whatever the restart delay; one that exited by itself waits for it', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1, 60_000);
  h.orchestrate();
  h.settle('web');
  const [first] = h.live('web');
  h.set('tasks', first!.id, { ...first!, desiredState: TaskState.SHUTDOWN });
  h.settle('web');
  t.deepEqual(desired(h.orchestrate().changes), ['create 1'], 'stopped by orch: a new task at once');
  h.settle('web');
  h.report(h.live('web')[0]!, TaskState.COMPLETE);
  const plan = h.orchestrate();
  t.deepEqual(desired(plan.changes), ['SHUTDOWN 1'], 'exited by itself: retired, and the restart waits');
  t.is(plan.wakeAt, h.now + 60_000);
});

test('a slot scaled away and wanted again before its task stopped is refilled at once, as in Swarm; one whose tasks hold a volume waits for the stop', (t) => {
  const scaleBack = (h: Harness, service: string) => {
    h.node('n1');
    h.orchestrate();
    h.settle(service);
    h.service(service, 1, 0, { container: h.serviceOf(service).spec!.container });
    t.deepEqual(desired(h.orchestrate().changes).sort(), ['REMOVE 2', 'REMOVE 3']);
    h.service(service, 3, 0, { container: h.serviceOf(service).spec!.container }); // before the agent stopped them
    return desired(h.orchestrate().changes).sort();
  };
  const web = new Harness();
  web.service('web', 3);
  t.deepEqual(scaleBack(web, 'web'), ['create 2', 'create 3'], 'the scaled-away tasks stop on their own; their slots get new ones now');
  t.is(web.live('web').length, 3);

  const db = new Harness();
  db.service('db', 3, 0, { container: ContainerSpec.fromPartial({ image: 'img', mounts: [{ type: Mount_Type.VOLUME, source: 'data-{{.Task.Slot}}', target: '/data' }] }) });
  t.deepEqual(scaleBack(db, 'db'), [], "two tasks of a slot would share its volume: the new one waits");
  db.settle('db');
  db.reap();
  t.deepEqual(desired(db.orchestrate().changes).sort(), ['create 2', 'create 3'], 'stopped and forgotten: now');
});

test('restart condition none: a task that ended stays ended, its slot empty', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('job', 1, 0, { restart: { condition: RestartPolicy_Condition.RESTART_NONE, delayMs: 0, maxAttempts: 0, windowMs: 0 } });
  h.orchestrate();
  h.settle('job');
  h.report(h.live('job')[0]!, TaskState.COMPLETE);
  t.deepEqual(desired(h.orchestrate().changes), ['SHUTDOWN 1']);
  h.now += 3_600_000;
  const later = h.orchestrate();
  t.deepEqual(later.changes, [], 'never restarted');
  t.is(later.wakeAt, undefined);
});

test("a slot keeps its ready task over a newer one that is only running; a duplicate of the same template goes", (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1);
  h.orchestrate();
  h.settle('web');
  const [ready] = h.live('web');
  h.now += 1000;
  const dup = { ...ready!, id: 'dup', createdAt: new Date(h.now), readyAt: undefined, status: { ...ready!.status!, state: TaskState.RUNNING, health: 'starting' } };
  h.set('tasks', 'dup', dup);
  const plan = h.orchestrate().changes;
  t.deepEqual(desired(plan), ['REMOVE 1']);
  t.is(plan[0]!.id, 'dup', 'the newer, unready copy goes; the ready one keeps the slot');
});

test("a lost task goes only once its replacement runs, not while it is starting", (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2');
  h.service('web', 1);
  h.orchestrate();
  const [task] = h.live('web');
  h.report(task!, TaskState.RUNNING, 'n1');
  h.node('n1', NodeState.NODE_DOWN);
  t.deepEqual(desired(h.orchestrate().changes), ['create 1']);
  const stand = h.live('web').find((x) => x.id !== task!.id)!;
  h.report(stand, TaskState.STARTING, 'n2');
  t.deepEqual(desired(h.orchestrate().changes), [], 'the replacement is only starting: the lost task stays');
  h.report(h.live('web').find((x) => x.id === stand.id)!, TaskState.RUNNING, 'n2');
  t.deepEqual(desired(h.orchestrate().changes), ['REMOVE 1']);
});

test('homing: copies made at the same time are no reason to move; a service without volumes is never homed', (t) => {
  const h = dbOnN1();
  volumes(h, 'n1', { 'data-1': 1000, 'data-2': 1000 });
  volumes(h, 'n2', { 'data-2': 1000 });
  t.deepEqual(desired(h.orchestrate().changes), [], 'the same age on n2: slot 2 stays on n1');
  volumes(h, 'n2', { 'data-2': 999 });
  t.deepEqual(desired(h.orchestrate().changes), ['create 2'], 'a millisecond older: it moves');

  const plain = new Harness();
  plain.node('n1');
  plain.node('n2');
  plain.service('web', 2);
  plain.orchestrate();
  for (const x of plain.live('web')) plain.report(x, TaskState.RUNNING, 'n1');
  volumes(plain, 'n2', { 'data-2': 1 });
  t.deepEqual(plain.orchestrate().changes, []);
});

test('homing: a slot whose data is on a node without room for it stays where it runs until there is room', (t) => {
  const GiB = 1024n ** 3n;
  const h = new Harness();
  const sized = (id: string, bytes: bigint) => {
    const n = h.snap.nodes.get(id)!.value;
    h.set('nodes', id, { ...n, description: { ...n.description!, resources: { nanoCpus: 0n, memoryBytes: bytes, pids: 0n } } });
  };
  h.node('n1');
  h.node('n2');
  sized('n1', 2n * GiB);
  sized('n2', 2n * GiB);
  h.service('db', 2, 0, { container: ContainerSpec.fromPartial({ image: 'img', mounts: [{ type: Mount_Type.VOLUME, source: 'data-{{.Task.Slot}}', target: '/data' }], resources: { reservations: { nanoCpus: 0n, memoryBytes: GiB } } }) });
  h.orchestrate();
  for (const x of h.live('db')) h.report(x, TaskState.RUNNING, 'n1');
  volumes(h, 'n1', { 'data-1': 1000, 'data-2': 1000 });
  volumes(h, 'n2', { 'data-2': 500 });
  sized('n2', GiB / 2n);
  t.deepEqual(desired(h.orchestrate().changes), [], 'n2 holds the older copy but has no room: the slot stays on n1, where n1 has no room left either');
  sized('n2', 2n * GiB);
  t.deepEqual(desired(h.orchestrate().changes), ['create 2'], 'room on n2: the slot goes home');
});

test('the reaper: a removed task on a node that is down, or that no longer exists, is forgotten at once; an attachment never given an address frees nothing', (t) => {
  const h = new Harness();
  h.node('n1');
  h.node('n2');
  h.service('web', 2);
  h.orchestrate();
  const [a, b] = h.live('web');
  h.report(a!, TaskState.RUNNING, 'n1');
  h.report(b!, TaskState.RUNNING, 'n2');
  const withNets = (x: Task) => ({ ...h.tasks('web').find((y) => y.id === x.id)!, networks: [{ networkId: 'net1', addr: '10.0.0.5/24' }, { networkId: 'net2', addr: '' }] });
  h.set('tasks', a!.id, withNets(a!));
  h.snap.services.delete('web');
  h.orchestrate();
  t.deepEqual(h.reap(), [], 'both still run on ready nodes');
  h.node('n1', NodeState.NODE_DOWN);
  h.snap.nodes.delete('n2');
  const reaped = h.reap();
  t.deepEqual(reaped.map((c) => c.id).sort(), [a!.id, b!.id].sort());
  t.deepEqual(reaped.find((c) => c.id === a!.id)!.release, ['/orch/v1/ipam/net1/10.0.0.5']);
});

test('the plan wakes for the earliest restart of any service', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('slow', 1, 9000);
  h.service('fast', 1, 4000);
  h.service('fine', 1);
  h.orchestrate();
  h.settle('slow');
  h.settle('fast');
  h.settle('fine');
  h.report(h.live('slow')[0]!, TaskState.FAILED);
  h.report(h.live('fast')[0]!, TaskState.FAILED);
  t.is(h.orchestrate().wakeAt, h.now + 4000);
});

test('rebalancing: the highest slots move first; none while the pass changed the service, while it rolls out, or for a global service', (t) => {
  const moved = (h: Harness) => h.orchestrate().changes.filter((c) => c.kind === 'tasks' && (c.value as Task).replaces).map((c) => (c.value as Task).slot).sort();
  const crowded = (replicas: number) => {
    const h = crowdedOnN1(replicas);
    h.set('services', 'web', { ...h.serviceOf('web'), rebalanceRequested: 1n });
    return h;
  };
  t.deepEqual(moved(crowded(4)), [3, 4]);

  const scaling = crowded(4);
  scaling.set('services', 'web', { ...scaling.serviceOf('web'), spec: { ...scaling.serviceOf('web').spec!, replicas: 5 } });
  t.deepEqual(moved(scaling), [], 'a slot is being added: moves wait');

  const rolling = crowded(4);
  rolling.update('web', (spec) => ({ ...spec, container: { ...spec.container!, image: 'img:2' } }));
  t.deepEqual(moved(rolling), [], 'rolling out: moves wait');

  const g = new Harness();
  g.node('n1');
  g.service('agent', 0, 0, { mode: ServiceSpec_Mode.GLOBAL });
  g.orchestrate();
  for (const x of g.live('agent')) g.report(x, TaskState.RUNNING, 'n1');
  g.node('n2');
  g.set('services', 'agent', { ...g.serviceOf('agent'), rebalanceRequested: 1n });
  t.deepEqual(desired(g.orchestrate().changes), ['create 0'], 'a global service: n2 gets its own task, nothing moves');
});

test('auto-rebalance evens a service out without being asked; without it, nothing moves', (t) => {
  const h = crowdedOnN1(2);
  t.deepEqual(h.orchestrate().changes, [], 'not asked, not opted in');
  h.set('services', 'web', { ...h.serviceOf('web'), spec: { ...h.serviceOf('web').spec!, autoRebalance: true } });
  const plan = h.orchestrate().changes;
  t.deepEqual(desired(plan), ['create 2']);
  t.is((plan[0]!.value as Task).replaces, h.live('web').find((x) => x.slot === 2 && x.nodeId === 'n1')!.id);
});

test('a new task is pending, unplaced, of its slot and attempt, made now from the service', (t) => {
  const h = new Harness();
  h.node('n1');
  h.service('web', 1);
  const [c] = h.orchestrate().changes;
  const task = c!.value as Task;
  t.like(task, { serviceId: 'web', serviceName: 'web', slot: 1, nodeId: '', desiredState: TaskState.RUNNING, attempt: 0, replaces: '' });
  t.deepEqual(task.status, { state: TaskState.PENDING, message: 'pending', err: '', timestamp: new Date(h.now), containerId: '', exitCode: 0, health: '' });
  t.deepEqual(task.createdAt, new Date(h.now));
  t.is(task.spec?.image, 'img');
});

test('a move the engine rejected holds further moves back as a failed one does', (t) => {
  const h = crowdedOnN1(2);
  h.set('services', 'web', { ...h.serviceOf('web'), spec: { ...h.serviceOf('web').spec!, autoRebalance: true } });
  const move = h.orchestrate().changes[0]!.value as Task;
  h.report(move, TaskState.REJECTED, 'n2');
  h.orchestrate();
  const held = h.orchestrate();
  t.deepEqual(held.changes, [], 'no new move');
  t.is(held.wakeAt, h.now + 30_000);
});

test('rebalancing waits until every slot of the service runs on a ready node', (t) => {
  const setup = () => {
    const h = crowdedOnN1(4);
    h.node('n3');
    h.set('services', 'web', { ...h.serviceOf('web'), spec: { ...h.serviceOf('web').spec!, autoRebalance: true } });
    return h;
  };
  const moves = (h: Harness) => h.orchestrate().changes.filter((c) => c.kind === 'tasks' && (c.value as Task).replaces).length;
  t.is(moves(setup()), 2, 'settled: 4 on n1 spread over three nodes');

  const starting = setup();
  starting.report(starting.live('web')[0]!, TaskState.STARTING, 'n1');
  t.is(moves(starting), 0, 'a task only starting');

  const away = setup();
  away.report(away.live('web')[0]!, TaskState.RUNNING, 'n3');
  away.node('n3', NodeState.NODE_DOWN);
  t.is(moves(away), 0, 'a task on a node that is down (its replacement comes first)');
});
