// The scheduler is a pure function: these tests drive it with fake snapshots.
import test from 'ava';
import { ContainerSpec, Mount_Type, NodeAvailability, NodeState, TaskState, type Node, Task as TaskMsg, type Task } from '../../proto/generated/orch.js';
import { schedule } from '../../manager/scheduler/scheduler.js';

function node(id: string, over: Partial<Node> = {}): Node {
  return { id, state: NodeState.NODE_READY, availability: NodeAvailability.ACTIVE, labels: {}, role: 'worker', stateMessage: '', description: undefined, createdAt: undefined, updatedAt: undefined, ingressAddr: '', desiredRole: '', volumes: [], certExpiresAt: undefined, certRoot: '', trustedRoots: [], ...over };
}

function task(id: string, serviceId: string, slot: number, nodeId = '', over: Partial<Task> = {}): Task {
  return TaskMsg.fromPartial({
    id, serviceId, serviceName: serviceId, slot, nodeId, spec: undefined, desiredState: TaskState.RUNNING, placement: undefined, targetNode: '', replaces: '', createdAt: undefined, attempt: 0,
    status: { state: nodeId ? TaskState.RUNNING : TaskState.PENDING, message: '', err: '', timestamp: undefined, containerId: '', exitCode: 0, health: '' },
    ...over,
  });
}

const count = (placements: { nodeId: string }[]) => placements.reduce<Record<string, number>>((m, p) => ({ ...m, [p.nodeId]: (m[p.nodeId] ?? 0) + 1 }), {});

test('spreads the replicas of a service evenly: 6 over 3 nodes is 2/2/2', (t) => {
  const pending = [1, 2, 3, 4, 5, 6].map((s) => task(`t${s}`, 'web', s));
  const plan = schedule({ nodes: [node('a'), node('b'), node('c')], placed: [] }, pending);
  t.deepEqual(count(plan.placements), { a: 2, b: 2, c: 2 });
  t.deepEqual(plan.unplaced, []);
});

test('prefers the node with fewest tasks of the service, then fewest tasks in all', (t) => {
  const placed = [task('x1', 'other', 1, 'a'), task('x2', 'other', 2, 'a'), task('w1', 'web', 1, 'b')];
  const plan = schedule({ nodes: [node('a'), node('b'), node('c')], placed }, [task('w2', 'web', 2), task('w3', 'web', 3)]);
  // c has no web task and no task: first. Then a (0 web, 2 others) ties with... b has 1 web → a.
  t.deepEqual(plan.placements, [
    { taskId: 'w2', nodeId: 'c' },
    { taskId: 'w3', nodeId: 'a' },
  ]);
});

test("a lost host's tasks of several services start side by side: among nodes equal for each service, fewest containers being started first, then fewest tasks", (t) => {
  // e has no task at all (its tasks moved away earlier); a, b, c run 3 each. Four services lose one task each.
  const placed = ['a', 'b', 'c'].flatMap((n) => [1, 2, 3].map((i) => task(`${n}${i}`, `busy${i}`, 1, n)));
  const pending = ['s1', 's2', 's3', 's4'].map((svc) => task(`${svc}.1`, svc, 1));
  const plan = schedule({ nodes: ['a', 'b', 'c', 'e'].map((id) => node(id)), placed }, pending);
  t.deepEqual(count(plan.placements), { e: 1, a: 1, b: 1, c: 1 }, 'one start per engine, not four on e');
  // Tasks already starting from an earlier plan count too; running ones do not.
  const starting = [task('x1', 'other', 1, 'e', { status: { state: TaskState.STARTING, message: '', err: '', timestamp: undefined, containerId: '', exitCode: 0, health: '' } })];
  t.is(schedule({ nodes: [node('a'), node('e')], placed: [...starting, task('y1', 'other', 2, 'a'), task('y2', 'other', 3, 'a')] }, [task('z', 'new', 1)]).placements[0]?.nodeId, 'a');
  t.is(schedule({ nodes: [node('a'), node('e')], placed: [task('y1', 'other', 2, 'a'), task('y2', 'other', 3, 'a'), task('x1', 'other', 1, 'e')] }, [task('z', 'new', 1)]).placements[0]?.nodeId, 'e');
});

test('a host that came back empty takes one replacement at a time: the next goes to a node with one more of its service but nothing starting; never two more', (t) => {
  // e came back empty; a, b, c run web and api once each. The lost host ran one of each.
  const placed = ['a', 'b', 'c'].flatMap((n) => [task(`${n}w`, 'web', 1, n), task(`${n}a`, 'api', 1, n)]);
  const plan = schedule({ nodes: ['a', 'b', 'c', 'e'].map((id) => node(id)), placed }, [task('api.4', 'api', 4), task('web.4', 'web', 4)]);
  t.deepEqual(plan.placements, [
    { taskId: 'api.4', nodeId: 'e' },
    { taskId: 'web.4', nodeId: 'a' },
  ]);
  // Two more of the service than elsewhere: spread wins over a busy engine.
  const crowded = [task('aw2', 'web', 2, 'a'), task('bw2', 'web', 3, 'b'), task('cw2', 'web', 5, 'c')];
  t.is(schedule({ nodes: ['a', 'b', 'c', 'e'].map((id) => node(id)), placed: [...placed, ...crowded] }, [task('api.4', 'api', 4), task('web.4', 'web', 4)]).placements[1]?.nodeId, 'e');
});

test('each container being started counts: an engine starting two takes no third while others start one; never two tasks of a service above even', (t) => {
  const starting = (id: string, svc: string, nodeId: string) => task(id, svc, 9, nodeId, { status: { state: TaskState.STARTING, message: '', err: '', timestamp: undefined, containerId: '', exitCode: 0, health: '' } });
  const nodes = ['a', 'b', 'c', 'e'].map((id) => node(id));
  // e came back empty and starts two replacements; a, b, c run api and start one each.
  const apis = ['a', 'b', 'c'].map((n) => task(`${n}a`, 'api', 1, n));
  const placed = [...apis, starting('ew', 'web', 'e'), starting('ef', 'front', 'e'), ...['a', 'b', 'c'].map((n) => starting(`${n}x`, 'other', n))];
  t.is(schedule({ nodes, placed }, [task('api.4', 'api', 4)]).placements[0]?.nodeId, 'a');
  // However busy e is, a, b, c take no second api before e has one.
  const busy = [...apis, ...[1, 2, 3, 4, 5].map((i) => starting(`e${i}`, `s${i}`, 'e'))];
  const plan = schedule({ nodes, placed: busy }, [4, 5, 6, 7].map((s) => task(`api.${s}`, 'api', s)));
  t.deepEqual(count(plan.placements), { a: 1, b: 1, c: 1, e: 1 });
});

test('never places on a node that is down, paused or drained, and says why', (t) => {
  const nodes = [node('a', { state: NodeState.NODE_DOWN }), node('b', { availability: NodeAvailability.DRAIN }), node('c', { availability: NodeAvailability.PAUSE })];
  const plan = schedule({ nodes, placed: [] }, [task('t1', 'web', 1)]);
  t.deepEqual(plan.placements, []);
  t.deepEqual(plan.unplaced, [{ taskId: 't1', reason: 'no suitable node (1 node not ready; 2 nodes not available for new tasks (paused or drained))' }]);
});

test('with no nodes at all, the reason says so', (t) => {
  const plan = schedule({ nodes: [], placed: [] }, [task('t1', 'web', 1)]);
  t.is(plan.unplaced[0]?.reason, 'no suitable node (no nodes in the cluster)');
});

test('is deterministic: the same input gives the same plan', (t) => {
  const nodes = ['n3', 'n1', 'n2'].map((id) => node(id));
  const pending = [3, 1, 2, 4].map((s) => task(`t${s}`, 'web', s));
  t.deepEqual(schedule({ nodes, placed: [] }, pending), schedule({ nodes: [...nodes].reverse(), placed: [] }, [...pending].reverse()));
});

test('does not mutate its inputs', (t) => {
  const nodes = Object.freeze([node('a')]);
  const pending = Object.freeze([task('t1', 'web', 1)]);
  const copy = JSON.stringify(pending.map((x) => TaskMsg.toJSON(x)));
  schedule({ nodes, placed: [] }, pending);
  t.is(JSON.stringify(pending.map((x) => TaskMsg.toJSON(x))), copy);
});

const GiB = 1n << 30n;
const withMemory = (id: string, gib: bigint) =>
  node(id, { description: { hostname: id, os: 'linux', arch: 'x86_64', engineVersion: '', addr: '', resources: { nanoCpus: 2_000_000_000n, memoryBytes: gib * GiB, pids: 0n } } });
const reserving = (gib: bigint) => ContainerSpec.fromPartial({ image: 'x', resources: { reservations: { nanoCpus: 0n, memoryBytes: gib * GiB } } });

test('constraints: only matching nodes; none matching says so', (t) => {
  const nodes = [node('a', { labels: { zone: 'a' } }), node('b', { labels: { zone: 'b' } }), node('c', { role: 'manager' })];
  const inA = [1, 2, 3].map((s) => task(`t${s}`, 'web', s, '', { placement: { constraints: ['node.labels.zone==a'], maxReplicas: 0 } }));
  t.deepEqual(count(schedule({ nodes, placed: [] }, inA).placements), { a: 3 });
  const notManager = [1, 2].map((s) => task(`m${s}`, 'api', s, '', { placement: { constraints: ['node.role!=manager'], maxReplicas: 0 } }));
  t.deepEqual(count(schedule({ nodes, placed: [] }, notManager).placements), { a: 1, b: 1 });
  const nowhere = schedule({ nodes, placed: [] }, [task('x', 'web', 1, '', { placement: { constraints: ['node.labels.zone==z'], maxReplicas: 0 } })]);
  t.deepEqual(nowhere.unplaced, [{ taskId: 'x', reason: 'no suitable node (scheduling constraints not satisfied on 3 nodes)' }]);
});

test('reservations count against capacity, including what the plan itself placed', (t) => {
  const nodes = [withMemory('a', 4n), withMemory('b', 4n)];
  const placed = [task('p1', 'db', 1, 'a', { spec: reserving(3n) })];
  const pending = [1, 2, 3].map((s) => task(`t${s}`, 'web', s, '', { spec: reserving(2n) }));
  const plan = schedule({ nodes, placed }, pending);
  // a has 1 GiB left: nothing fits there; b takes two of 2 GiB; the third fits nowhere.
  t.deepEqual(plan.placements, [
    { taskId: 't1', nodeId: 'b' },
    { taskId: 't2', nodeId: 'b' },
  ]);
  t.deepEqual(plan.unplaced, [{ taskId: 't3', reason: 'no suitable node (insufficient resources on 2 nodes)' }]);
});

test('a global task is only ever placed on its own node', (t) => {
  const nodes = [node('a'), node('b', { availability: NodeAvailability.PAUSE })];
  const plan = schedule({ nodes, placed: [] }, [task('ga', 'g', 0, '', { targetNode: 'a' }), task('gb', 'g', 0, '', { targetNode: 'b' })]);
  t.deepEqual(plan.placements, [{ taskId: 'ga', nodeId: 'a' }]);
  t.deepEqual(plan.unplaced, [{ taskId: 'gb', reason: 'no suitable node (1 node not available for new tasks (paused or drained))' }]);
});

test("a slot goes back to the node that holds its volume, while that node can take it; otherwise it spreads", (t) => {
  const spec = ContainerSpec.fromPartial({ image: 'x', mounts: [{ type: Mount_Type.VOLUME, source: 'data-{{.Task.Slot}}', target: '/data' }] });
  const vol = (name: string, at = 1000) => ({ name, serviceId: 'db', serviceName: 'db', slot: 1, tasks: [], createdAt: new Date(at) });
  // b is busier, but holds data-1: slot 1 goes there; slot 2 has no volume anywhere and spreads.
  const nodes = [node('a'), node('b', { volumes: [vol('data-1')] })];
  const placed = [task('x1', 'other', 1, 'b'), task('x2', 'other', 2, 'b')];
  const plan = schedule({ nodes, placed }, [task('d1', 'db', 1, '', { spec }), task('d2', 'db', 2, '', { spec })]);
  t.deepEqual(plan.placements, [{ taskId: 'd1', nodeId: 'b' }, { taskId: 'd2', nodeId: 'a' }]);
  // Drained, b cannot take it: the slot starts elsewhere.
  const drained = [node('a'), node('b', { volumes: [vol('data-1')], availability: NodeAvailability.DRAIN })];
  t.deepEqual(schedule({ nodes: drained, placed: [] }, [task('d1', 'db', 1, '', { spec })]).placements, [{ taskId: 'd1', nodeId: 'a' }]);
  // Both hold a copy (the slot once had to start on a): the older copy, on the busier b, holds the data.
  const copies = [node('a', { volumes: [vol('data-1', 5000)] }), node('b', { volumes: [vol('data-1', 1000)] })];
  t.deepEqual(schedule({ nodes: copies, placed }, [task('d1', 'db', 1, '', { spec })]).placements, [{ taskId: 'd1', nodeId: 'b' }]);
});

test('max replicas per node: never more of a service on one node, counting what the plan placed; the rest says why', (t) => {
  const two = [1, 2, 3, 4, 5].map((s) => task(`t${s}`, 'web', s, '', { placement: { constraints: [], maxReplicas: 2 } }));
  const plan = schedule({ nodes: [node('a'), node('b')], placed: [] }, two);
  t.deepEqual(count(plan.placements), { a: 2, b: 2 });
  t.deepEqual(plan.unplaced, [{ taskId: 't5', reason: 'no suitable node (max replicas per node limit exceeded on 2 nodes)' }]);
  const other = schedule({ nodes: [node('a')], placed: [task('o1', 'other', 1, 'a'), task('o2', 'other', 2, 'a')] }, [task('w1', 'web', 1, '', { placement: { constraints: [], maxReplicas: 1 } })]);
  t.deepEqual(count(other.placements), { a: 1 }, "another service's tasks do not count");
});

test('a service that waits for its dependencies has none of its tasks placed, and says why', (t) => {
  const waiting = new Map([['web', 'waiting for app_db to be healthy']]);
  const plan = schedule({ nodes: [node('a')], placed: [], waiting }, [task('w1', 'web', 1), task('d1', 'db', 1)]);
  t.deepEqual(plan.placements, [{ taskId: 'd1', nodeId: 'a' }]);
  t.deepEqual(plan.unplaced, [{ taskId: 'w1', reason: 'waiting for app_db to be healthy' }]);
});

test('CPU reservations count as memory does, up to the last nano CPU; a node that tells nothing of its resources takes no reservation', (t) => {
  const cpus = (n: bigint) => ContainerSpec.fromPartial({ image: 'x', resources: { reservations: { nanoCpus: n, memoryBytes: 0n } } });
  const nodes = [withMemory('a', 4n), node('b', { description: undefined })]; // a: 2 CPUs
  const placed = [task('p1', 'db', 1, 'a', { spec: cpus(1_500_000_000n) })];
  const pending = [task('t1', 'web', 1, '', { spec: cpus(500_000_000n) }), task('t2', 'web', 2, '', { spec: cpus(1n) }), task('t3', 'web', 3)];
  const plan = schedule({ nodes, placed }, pending);
  t.deepEqual(plan.placements, [{ taskId: 't1', nodeId: 'a' }, { taskId: 't3', nodeId: 'b' }], 'a is then full to the nano CPU; b takes what reserves nothing');
  t.deepEqual(plan.unplaced, [{ taskId: 't2', reason: 'no suitable node (insufficient resources on 2 nodes)' }]);
});

test('ties go to the lowest node id, whatever the order nodes are listed in; pending tasks are placed by service, then slot', (t) => {
  const pending = [task('w3', 'web', 3), task('a2', 'api', 2), task('w1', 'web', 1)];
  for (const order of [['c', 'a', 'b'], ['b', 'c', 'a'], ['a', 'b', 'c']]) {
    const plan = schedule({ nodes: order.map((id) => node(id)), placed: [] }, pending);
    t.deepEqual(plan.placements, [{ taskId: 'a2', nodeId: 'a' }, { taskId: 'w1', nodeId: 'b' }, { taskId: 'w3', nodeId: 'c' }], order.join(''));
  }
});

test('tasks placed on nodes that are gone, or with limits but no reservations, count for nothing; a global task for a node that is gone is not placed', (t) => {
  const limitsOnly = ContainerSpec.fromPartial({ image: 'x', resources: { limits: { nanoCpus: 1n, memoryBytes: 1n } } });
  const placed = [task('p1', 'web', 1, 'gone'), task('p2', 'web', 2, 'a', { spec: limitsOnly })];
  const plan = schedule({ nodes: [withMemory('a', 1n), withMemory('b', 1n)], placed }, [task('t3', 'web', 3, '', { spec: reserving(1n) }), task('g', 'g', 0, '', { targetNode: 'gone' })]);
  t.deepEqual(plan.placements, [{ taskId: 't3', nodeId: 'b' }], 'b: no task of web yet; a has one, holding no reservation');
  t.deepEqual(plan.unplaced, [{ taskId: 'g', reason: 'no suitable node (no nodes in the cluster)' }]);
  const full = schedule({ nodes: [withMemory('a', 1n)], placed }, [task('t4', 'web', 4, '', { spec: reserving(1n) })]);
  t.deepEqual(full.placements, [{ taskId: 't4', nodeId: 'a' }], "a's whole GiB is free: the limits reserve nothing");
});
