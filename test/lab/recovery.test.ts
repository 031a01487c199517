// Failure and recovery across the hosts of a real lab: a host SIGKILLed (its
// daemons and containers), restarted on its old data, cut off the network and
// healed; health checks that fail. "Nothing runs twice" is checked against
// every host's engine, not only against what the managers say.
import test from 'ava';
import { TaskState } from '../../proto/generated/orch.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);

test.before(async () => {
  lab = await LabCluster.up({ name: 'trecov', index: 252, hosts: 3, managers: 1 });
});

test.after.always(async () => {
  await lab?.down();
});

/** Slot → hosts running a container of it, across all live engines. */
async function slotsOnEngines(service: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [host, list] of Object.entries(await lab.running(service))) {
    for (const c of list) {
      const slot = c.Labels['orch.slot']!;
      out.set(slot, [...(out.get(slot) ?? []), host]);
    }
  }
  return out;
}

async function allSlotsOnceOn(service: string, replicas: number, hosts: string[]): Promise<boolean> {
  const slots = await slotsOnEngines(service);
  if (slots.size !== replicas) return false;
  return [...slots.values()].every((on) => on.length === 1 && hosts.includes(on[0]!));
}

test.serial('a killed worker host: its replicas run again on the rest; restarted, it rejoins, its stale containers go, nothing runs twice', async (t) => {
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '6', '--stop-grace-period', '1s', 'orch-test/httpd');
  t.deepEqual(await lab.placement('web'), { h1: 2, h2: 2, h3: 2 });

  const killedAt = Date.now();
  await lab.kill('h3');
  await lab.waitFor(() => allSlotsOnceOn('web', 6, ['h1', 'h2']), 15_000, 'all 6 replicas running on h1 and h2');
  t.log(`all replicas running again ${Date.now() - killedAt} ms after the kill (polled through the CLI)`);
  t.deepEqual(await lab.placement('web'), { h1: 3, h2: 3 });

  await lab.restart('h3');
  await lab.waitFor(async () => (await lab.ok('node', 'inspect', 'h3')).includes('NODE_READY'), 15_000, 'h3 ready again');
  // Its old containers (exited when it died) are removed; it runs nothing of web until asked to rebalance.
  await lab.waitFor(async () => (await lab.containers('h3', 'web', true)).length === 0, 15_000, 'stale containers removed from h3');
  t.true(await allSlotsOnceOn('web', 6, ['h1', 'h2']));
  await lab.ok('service', 'update', 'web', '--rebalance');
  await lab.waitFor(() => allSlotsOnceOn('web', 6, ['h1', 'h2', 'h3']), 15_000, 'rebalanced');
  t.deepEqual(await lab.placement('web'), { h1: 2, h2: 2, h3: 2 });
  t.true(await allSlotsOnceOn('web', 6, ['h1', 'h2', 'h3']), 'every slot runs exactly once');
});

test.serial('a partitioned host: its tasks are replaced; healed, it stops its stale ones, and no slot runs twice', async (t) => {
  await lab.partition('h2');
  await lab.waitFor(async () => !(await lab.ok('node', 'inspect', 'h2')).includes('NODE_READY'), 10_000, 'h2 marked down');
  // The managers see all 6 running elsewhere (h2's own containers still run: it cannot be told).
  await lab.waitFor(async () => {
    const p = await lab.placement('web');
    return !p.h2 && (p.h1 ?? 0) + (p.h3 ?? 0) === 6;
  }, 15_000, 'replacements running on h1 and h3');
  await lab.heal('h2');
  await lab.waitFor(async () => (await lab.containers('h2', 'web', true)).length === 0, 15_000, 'h2 removed its stale containers');
  await lab.waitFor(async () => (await lab.ok('node', 'inspect', 'h2')).includes('NODE_READY'), 15_000, 'h2 ready again');
  t.true(await allSlotsOnceOn('web', 6, ['h1', 'h3']), 'after healing, every slot runs exactly once');
});

test.serial('a task whose healthcheck fails is replaced; --restart-max-attempts 2 stops after two restarts', async (t) => {
  const r = await lab.orch(
    'service', 'create', '--name', 'sick', '--health-cmd', 'false', '--health-interval', '200ms', '--health-retries', '1',
    '--restart-max-attempts', '2', '--restart-delay', '100ms', '--detach', 'orch-test/sleep',
  );
  t.is(r.code, 0, r.stderr);
  await lab.waitFor(async () => (await lab.tasks('sick')).filter((x) => x.status?.state === TaskState.FAILED).length === 3, 20_000, 'three failed tasks');
  // Give the orchestrator time to (wrongly) start a fourth.
  await new Promise((res) => setTimeout(res, 1500));
  const tasks = await lab.tasks('sick');
  t.is(tasks.length, 3, 'the first task and two restarts, no more');
  for (const x of tasks) {
    t.is(x.status?.state, TaskState.FAILED);
    t.is(x.status?.err, 'task: container unhealthy');
    t.is(x.status?.health, 'unhealthy');
  }
  t.deepEqual(Object.values(await lab.running('sick')).flat(), [], 'no container of it runs anywhere');

  await lab.ok('service', 'create', '--name', 'well', '--health-cmd', 'true', '--health-interval', '200ms', 'orch-test/sleep');
  await lab.waitFor(async () => (await lab.tasks('well'))[0]?.status?.health === 'healthy', 10_000, 'healthy');
  t.regex(await lab.ok('service', 'ps', 'well'), /Running \(healthy\)/);
});

test.serial('node rm: refused for a live node without --force; a down node goes, and its tasks with it', async (t) => {
  const refused = await lab.orch('node', 'rm', 'h3');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /node "h3" is up: drain it and stop its agent first, or use --force/);
  t.regex(await lab.ok('node', 'inspect', 'h3'), /NODE_READY/);
  const bad = await lab.orch('node', 'update', '--availability', 'sleepy', 'h3');
  t.is(bad.code, 1);
  t.regex(bad.stderr, /--availability: "sleepy" is not one of active, pause, drain/);

  await lab.kill('h3');
  await lab.waitFor(async () => (await lab.ok('node', 'inspect', 'h3')).includes('NODE_DOWN'), 10_000, 'h3 down');
  await lab.ok('node', 'rm', 'h3');
  // By hostname: a short id in the table could contain "h3" by chance.
  t.false([...(await lab.hostnames()).values()].includes('h3'));
  const names = await lab.hostnames();
  await lab.waitFor(async () => (await lab.tasks('web')).every((x) => names.has(x.nodeId) || x.nodeId === ''), 10_000, 'no task left on the removed node');
  await lab.waitFor(() => allSlotsOnceOn('web', 6, ['h1', 'h2']), 15_000, 'web whole on h1 and h2');
  t.pass();
});
