// Placement inputs: constraint syntax, sizes and CPUs, rebalancing moves, and
// when a global service or a rebalance counts as converged.
import test from 'ava';
import { NodeAvailability, NodeState, ServiceSpec, Task as TaskMsg, TaskState, type Node, Service, type Task } from '../../proto/generated/orch.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { parseConstraint, satisfies } from '../../shared/constraints.js';
import { parseBytes, parseCpus } from '../../shared/units.js';
import { planMoves } from '../../manager/orchestrator/rebalance.js';
import { convergence } from '../../cli/progress.js';

const node = (id: string, over: Partial<Node> = {}): Node => ({
  id, state: NodeState.NODE_READY, availability: NodeAvailability.ACTIVE, labels: {}, role: 'worker', stateMessage: '',
  description: { hostname: `host-${id}`, os: 'linux', arch: 'x86_64', engineVersion: '', addr: '', resources: undefined }, createdAt: undefined, updatedAt: undefined, ingressAddr: '', desiredRole: '', volumes: [], certExpiresAt: undefined, certRoot: '', trustedRoots: [], ...over,
});

const task = (id: string, slot: number, nodeId: string, state = TaskState.RUNNING, over: Partial<Task> = {}): Task => TaskMsg.fromPartial({
  id, serviceId: 's', serviceName: 's', slot, nodeId, spec: undefined, desiredState: TaskState.RUNNING, placement: undefined, targetNode: '', replaces: '',
  createdAt: undefined, attempt: 0, status: { state, message: '', err: '', timestamp: undefined, containerId: '', exitCode: 0, health: '' }, ...over,
});

const service = (constraints: string[] = []): Service =>
  Service.fromPartial({ id: 's', spec: ServiceSpec.fromPartial({ name: 's', replicas: 6, placement: { constraints } }), rebalanceRequested: 1n, rebalanceDone: 0n });

test('constraints: Docker syntax, every key, == and !=', (t) => {
  const n = node('abc', { labels: { zone: 'a' }, role: 'manager' });
  t.true(satisfies(n, parseConstraint('node.labels.zone==a')));
  t.false(satisfies(n, parseConstraint('node.labels.zone!=a')));
  t.true(satisfies(n, parseConstraint('node.labels.rack!=1')), 'a missing label is never equal');
  t.false(satisfies(n, parseConstraint('node.labels.rack==1')));
  t.true(satisfies(n, parseConstraint(' node.role == manager ')));
  t.true(satisfies(n, parseConstraint('node.hostname==host-abc')));
  t.true(satisfies(n, parseConstraint('node.id==abc')));
  t.true(satisfies(n, parseConstraint('node.platform.os==linux')));
  t.throws(() => parseConstraint('node.labels.zone=a'), { instanceOf: InvalidArgumentError, message: /expected KEY==VALUE or KEY!=VALUE/ });
  t.throws(() => parseConstraint('node.color==red'), { message: /unknown key "node.color"/ });
  t.throws(() => parseConstraint('node.labels.==x'), { message: /unknown key/ });
  t.throws(() => parseConstraint('node.role=='), { message: /expected KEY==VALUE/ });
});

test('constraints: the platform, a node that describes nothing, and the whole error', (t) => {
  const n = node('abc');
  t.true(satisfies(n, parseConstraint('node.platform.arch==x86_64')));
  t.false(satisfies(n, parseConstraint('node.platform.arch==aarch64')));
  t.false(satisfies(n, parseConstraint('node.platform.os!=linux')));
  const bare = node('b', { description: undefined });
  for (const key of ['node.hostname', 'node.platform.os', 'node.platform.arch']) {
    t.false(satisfies(bare, parseConstraint(`${key}==x`)), `${key}: nothing known, never equal`);
    t.true(satisfies(bare, parseConstraint(`${key}!=x`)));
  }
  t.deepEqual(parseConstraint('node.labels.zone != a b '), { key: 'node.labels.zone', equal: false, value: 'a b' });
  t.throws(() => parseConstraint('x node.role==manager'), { message: 'invalid constraint "x node.role==manager": expected KEY==VALUE or KEY!=VALUE, e.g. node.labels.zone==a' });
  t.throws(() => parseConstraint('node.colour==red'), {
    message: 'invalid constraint "node.colour==red": unknown key "node.colour"; use node.labels.<label>, node.id, node.hostname, node.role, node.platform.os, node.platform.arch',
  });
});

test('sizes and CPUs in Docker spelling', (t) => {
  t.is(parseBytes('512m', 'f'), 512n << 20n);
  t.is(parseBytes('1.5g', 'f'), 3n << 29n);
  t.is(parseBytes('2GiB', 'f'), 2n << 30n);
  t.is(parseBytes('1048576', 'f'), 1n << 20n);
  t.is(parseCpus('0.5', 'f'), 500_000_000n);
  t.is(parseCpus('2', 'f'), 2_000_000_000n);
  for (const bad of ['', 'lots', '-1g', '1x']) t.throws(() => parseBytes(bad, '--reserve-memory'), { message: /--reserve-memory: .* is not a size/ });
  for (const bad of ['', 'half', '-1', '0.0000000001']) t.throws(() => parseCpus(bad, '--limit-cpu'), { message: /--limit-cpu: .* is not a number of CPUs/ });
});

test('rebalance moves tasks from the fullest node to the emptiest until they differ by at most one', (t) => {
  const nodes = [node('a'), node('b'), node('c')];
  const running = [1, 2, 3].map((s) => task(`a${s}`, s, 'a')).concat([4, 5, 6].map((s) => task(`b${s}`, s, 'b')));
  const moves = planMoves(nodes, service(), running);
  t.is(moves.length, 2);
  const from = moves.map((m) => m.nodeId).sort();
  t.deepEqual(from, ['a', 'b'], 'one from each full node');
  t.deepEqual(planMoves(nodes, service(), [1, 2, 3, 4].map((s) => task(`x${s}`, s, ['a', 'b', 'c', 'a'][s - 1]!))), [], '2/1/1 is even enough');
});

test('rebalance ignores nodes that may not take the service: outside its constraints, paused, or down', (t) => {
  const zoneA = { labels: { zone: 'a' } };
  const a = node('a', zoneA);
  const b = node('b', zoneA);
  const running = [1, 2, 3, 4, 5, 6].map((s) => task(`t${s}`, s, 'a'));
  const moves = (...others: Node[]) => planMoves([a, b, ...others], service(['node.labels.zone==a']), running).length;
  t.is(moves(), 3, '6/0 over a and b → 3/3');
  // Each ineligible node, were it counted, would make it 6/0/0 → 2/2/2: 4 moves.
  t.is(moves(node('c')), 3, 'c is outside the constraint');
  t.is(moves(node('d', { ...zoneA, availability: NodeAvailability.PAUSE })), 3, 'd is paused');
  t.is(moves(node('e', { ...zoneA, state: NodeState.NODE_DOWN })), 3, 'e is down');
  t.is(moves(node('f', zoneA)), 4, 'f may take it: 2/2/2');
});

test('convergence of a global service counts its nodes; a move on its way is not converged', (t) => {
  const g = [task('g1', 0, 'a', TaskState.RUNNING, { targetNode: 'a' }), task('g2', 0, 'b', TaskState.STARTING, { targetNode: 'b' })];
  t.like(convergence(undefined, g), { running: 1, desired: 2, done: false });
  const moving = [1, 2].map((s) => task(`t${s}`, s, 'a')).concat([task('m', 2, '', TaskState.PENDING, { replaces: 't2' })]);
  t.like(convergence(2, moving), { running: 2, desired: 2, done: false });
});
