// Placement across the hosts of a real lab (3 network namespaces, a dockerd
// each, etcd, a manager and 3 agents): spread, constraints, reservations,
// drain and rebalance, global mode. Each assertion also checks what each
// host's own engine runs, not only what the managers say.
import test from 'ava';
import { TaskState } from '../../proto/generated/orch.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);

test.before(async () => {
  lab = await LabCluster.up({ name: 'tplace', index: 251, hosts: 3, managers: 1, memory: '4g' });
});

test.after.always(async () => {
  await lab?.down();
});

/** Running containers of a service per host, from the engines themselves. */
async function engineCounts(service: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [host, list] of Object.entries(await lab.running(service))) if (list.length) out[host] = list.length;
  return out;
}

test.serial('6 replicas land 2/2/2', async (t) => {
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '6', '--restart-delay', '100ms', '--stop-grace-period', '1s', 'orch-test/httpd');
  t.deepEqual(await lab.placement('web'), { h1: 2, h2: 2, h3: 2 });
  t.deepEqual(await engineCounts('web'), { h1: 2, h2: 2, h3: 2 });
});

test.serial('a node.labels constraint places only on matching nodes', async (t) => {
  await lab.ok('node', 'update', '--label-add', 'zone=a', 'h1');
  await lab.ok('node', 'update', '--label-add', 'zone=a', 'h3');
  await lab.ok('service', 'create', '--name', 'zoned', '--replicas', '4', '--constraint', 'node.labels.zone==a', 'orch-test/sleep');
  t.deepEqual(await lab.placement('zoned'), { h1: 2, h3: 2 });
  t.deepEqual(await engineCounts('zoned'), { h1: 2, h3: 2 });
  // A constraint no node meets: pending, with Swarm's reason.
  const r = await lab.orch('service', 'create', '--name', 'nowhere', '--constraint', 'node.labels.zone==b', '--timeout', '1s', 'orch-test/sleep');
  t.is(r.code, 1);
  t.regex(r.stdout, /no suitable node \(scheduling constraints not satisfied on 3 nodes\)/);
  await lab.ok('service', 'rm', 'zoned', 'nowhere');
});

test.serial('drain moves a node\'s tasks away; active + rebalance evens the spread again', async (t) => {
  await lab.ok('node', 'update', '--availability', 'drain', 'h2');
  await lab.waitFor(async () => JSON.stringify(await engineCounts('web')) === JSON.stringify({ h1: 3, h3: 3 }), 20_000, 'web on h1 and h3 only');
  t.deepEqual(await lab.placement('web'), { h1: 3, h3: 3 });
  t.deepEqual((await lab.containers('h2', 'web')).length, 0, 'the drained node runs none');

  await lab.ok('node', 'update', '--availability', 'active', 'h2');
  // Nothing moves back by itself (as in Swarm) until rebalancing is asked for.
  await new Promise((r) => setTimeout(r, 1000));
  t.deepEqual(await lab.placement('web'), { h1: 3, h3: 3 });
  await lab.ok('service', 'update', 'web', '--rebalance');
  t.deepEqual(await lab.placement('web'), { h1: 2, h2: 2, h3: 2 });
  await lab.waitFor(async () => JSON.stringify(await engineCounts('web')) === JSON.stringify({ h1: 2, h2: 2, h3: 2 }), 20_000, 'engines 2/2/2');
  // The moves kept every slot: one running task per slot.
  const running = (await lab.tasks('web')).filter((x) => x.desiredState === TaskState.RUNNING && x.status?.state === TaskState.RUNNING);
  t.deepEqual(running.map((x) => x.slot).sort(), [1, 2, 3, 4, 5, 6]);
});

test.serial('a reservation larger than any node stays pending with the reason, and runs once a node with room joins; an auto-rebalancing service spreads onto it', async (t) => {
  await lab.ok('service', 'create', '--name', 'auto', '--replicas', '6', '--auto-rebalance', 'orch-test/sleep');
  t.deepEqual(await lab.placement('auto'), { h1: 2, h2: 2, h3: 2 });
  const r = await lab.orch('service', 'create', '--name', 'big', '--replicas', '2', '--reserve-memory', '8g', '--timeout', '1s', 'orch-test/sleep');
  t.is(r.code, 1, 'create waits for convergence and gives up');
  t.regex(r.stdout, /no suitable node \(insufficient resources on 3 nodes\)/);
  const pending = await lab.tasks('big');
  t.true(pending.every((x) => x.status?.state === TaskState.PENDING && x.status.err === 'no suitable node (insufficient resources on 3 nodes)'));

  const h4 = await lab.add({ memory: '20g' });
  await lab.waitFor(async () => (await lab.placement('big'))[h4.name] === 2, 20_000, 'big on the new host');
  t.deepEqual(await engineCounts('big'), { [h4.name]: 2 });
  // The opted-in service evens out by itself over the 4 nodes: 2/2/1/1 in some order, never below 6.
  await lab.waitFor(async () => {
    const p = await lab.placement('auto');
    const counts = Object.values(p);
    return p[h4.name] === 1 && counts.length === 4 && counts.reduce((a, b) => a + b) === 6 && Math.max(...counts) === 2;
  }, 20_000, 'auto spread over 4 nodes');
  t.is(Object.values(await engineCounts('auto')).reduce((a, b) => a + b), 6);
  await lab.ok('service', 'rm', 'auto');
  // Room is counted: a third task would not fit on h4 (20g ≥ 2 × 8g, < 3 × 8g).
  await lab.ok('service', 'scale', 'big=3', '--detach');
  await lab.waitFor(async () => (await lab.tasks('big')).some((x) => x.status?.err.includes('insufficient resources on 4 nodes')), 10_000, 'third task pending');
  t.deepEqual(await lab.placement('big'), { [h4.name]: 2 });
  await lab.ok('service', 'rm', 'big');
});

test.serial('global mode: one task on every node, and one on a node that joins', async (t) => {
  await lab.ok('service', 'create', '--name', 'agentd', '--mode', 'global', 'orch-test/sleep');
  const hosts = lab.state.hosts.map((h) => h.name);
  t.deepEqual(await lab.placement('agentd'), Object.fromEntries(hosts.map((h) => [h, 1])));
  const h5 = await lab.add();
  await lab.waitFor(async () => (await lab.placement('agentd'))[h5.name] === 1, 20_000, 'a task on the new host');
  t.deepEqual(await engineCounts('agentd'), Object.fromEntries([...hosts, h5.name].map((h) => [h, 1])));
  // Draining a node removes its global task, and nothing runs in its stead.
  await lab.ok('node', 'update', '--availability', 'drain', h5.name);
  await lab.waitFor(async () => (await lab.containers(h5.name, 'agentd')).length === 0, 20_000, 'global task gone from the drained node');
  t.is(Object.keys(await lab.placement('agentd')).length, hosts.length);
});
