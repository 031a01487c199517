// Several managers (issue 6): three managers over a three-member etcd, two
// workers. The leader's host dies, the leader freezes and comes back, etcd
// loses one member and then its quorum; each time the cluster must go on (or
// refuse clearly) and never lose or double a task.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { NodeState, Service, TaskState, UpdateStatus_State } from '../../proto/generated/orch.js';
import { SLEEP_IMAGE } from '../../lab/images.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { ELECTION_GRACE } from '../../manager/dispatcher/index.js';
import { reportLogsOnFailure } from '../helpers/lab.js';
import { alive } from '../../lab/processes.js';
import { certIdentity } from '../../shared/tls/pki.js';
import { runOrch } from '../../lab/run.js';
import { labAdminDir } from '../../lab/state.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);

test.before(async () => {
  lab = await LabCluster.up({ name: 'tha', index: 247, hosts: 5, managers: 3 });
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '6', '--stop-grace-period', '1s', SLEEP_IMAGE);
});

test.after.always(async () => {
  await lab?.down();
});

/** Every slot of the service runs exactly once across the live engines, and there are `n` slots. */
async function slotsOnce(service: string, n: number): Promise<boolean> {
  const seen = new Map<string, number>();
  for (const list of Object.values(await lab.running(service))) for (const c of list) seen.set(c.Labels['orch.slot']!, (seen.get(c.Labels['orch.slot']!) ?? 0) + 1);
  return seen.size === n && [...seen.values()].every((k) => k === 1);
}

/** Ids of the service's running tasks, as the managers see them. */
async function runningTasks(service: string): Promise<string[]> {
  return (await lab.tasks(service)).filter((x) => x.desiredState === TaskState.RUNNING && x.status?.state === TaskState.RUNNING).map((x) => x.id).sort();
}

async function inspect(name: string): Promise<Service> {
  return Service.fromJSON((JSON.parse(await lab.ok('service', 'inspect', name)) as unknown[])[0]);
}

async function newLeader(other: string): Promise<string> {
  let leader: string | undefined;
  await lab.waitFor(async () => {
    leader = await lab.leaderHost();
    return leader !== undefined && leader !== other;
  }, 15_000, `a leader other than ${other}`);
  return leader!;
}

test.serial("the leader's host killed: another manager leads and heals, a service created right after succeeds, nothing is lost or doubled", async (t) => {
  await lab.waitFor(() => slotsOnce('web', 6), 30_000, 'web running');
  const old = (await lab.leaderHost())!;
  t.truthy(old);
  await lab.kill(old);
  // The CLI knows every manager: the first it tries may be the dead one.
  const created = await lab.orch('service', 'create', '--name', 'after', '--replicas', '2', '--detach', SLEEP_IMAGE);
  t.is(created.code, 0, created.stderr);
  const leader = await newLeader(old);
  t.not(leader, old);
  await lab.waitFor(() => slotsOnce('web', 6), 30_000, 'web whole again on the live hosts');
  await lab.waitFor(() => slotsOnce('after', 2), 30_000, 'the service created after the kill runs');

  await lab.restart(old);
  await lab.waitFor(async () => (await lab.ok('node', 'inspect', old)).includes('NODE_READY'), 30_000, `${old} back`);
  t.true(await slotsOnce('web', 6));
});

test.serial('a paused old leader, resumed after a new one took over, changes nothing', async (t) => {
  const old = (await lab.leaderHost())!;
  const tasksBefore = await runningTasks('web');
  await lab.signal(old, 'manager', 'SIGSTOP');
  let resumed = false;
  t.teardown(async () => {
    if (!resumed) await lab.signal(old, 'manager', 'SIGCONT').catch(() => undefined);
  });
  await newLeader(old);
  // Every agent (the paused manager's host's too) leaves the silent leader and
  // finds the new one within the new leader's grace: no node is marked down,
  // and no task moves.
  const settled = Date.now() + ELECTION_GRACE.maxMs;
  while (Date.now() < settled) {
    const nodes = JSON.parse(await lab.ok('node', 'ls', '--format', 'json')) as Array<{ description: { hostname: string }; state: string }>;
    t.deepEqual(nodes.filter((n) => n.state !== NodeState[NodeState.NODE_READY]).map((n) => n.description.hostname), [], 'every node stays ready through the failover');
    await new Promise((r) => setTimeout(r, 250));
  }
  t.deepEqual(await runningTasks('web'), tasksBefore, "web's tasks are the ones that ran before");
  // While it sleeps, the cluster moves on: it would act on a stale view.
  await lab.ok('service', 'scale', 'web=4', '--detach');
  await lab.waitFor(() => slotsOnce('web', 4), 30_000, 'web scaled to 4');
  const logBefore = readFileSync(join(lab.host(old).dir, 'manager.log'), 'utf8').length;
  await lab.signal(old, 'manager', 'SIGCONT');
  resumed = true;
  // Its clocks say every node went silent while it slept: unfenced, it would
  // mark them all down; nor may it take the lead back (the leader key, read
  // in etcd, stays the new leader's).
  const leader = await lab.leaderHost();
  const until = Date.now() + 4000;
  while (Date.now() < until) {
    const nodes = JSON.parse(await lab.ok('node', 'ls', '--format', 'json')) as Array<{ state: string }>;
    t.true(nodes.every((n) => n.state === NodeState[NodeState.NODE_READY]), 'every node stays ready');
    t.is(await lab.leaderHost(), leader, 'the lead stays where it went');
    await new Promise((r) => setTimeout(r, 250));
  }
  t.true(await slotsOnce('web', 4), 'web still 4, each once');
  const after = readFileSync(join(lab.host(old).dir, 'manager.log'), 'utf8').slice(logBefore);
  t.regex(after, /no longer leader/, 'it noticed it had lost the lead (a warning: written at every log level)');
});

test.serial('one etcd member down: the cluster keeps working; two down: writes are refused with "no quorum"; back, it recovers', async (t) => {
  const [a, b] = lab.state.hosts.filter((h) => h.manager).map((h) => h.name);
  await lab.signal(a!, 'etcd', 'SIGKILL');
  await lab.ok('service', 'scale', 'web=5', '--detach');
  await lab.waitFor(() => slotsOnce('web', 5), 30_000, 'scaled to 5 with one etcd member down');

  await lab.signal(b!, 'etcd', 'SIGKILL');
  const refused = await lab.orch('service', 'scale', 'web=2', '--detach');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /no quorum/);
  t.is(refused.stderr.trim().split('\n').length, 1);

  await lab.startDaemon(a!, 'etcd');
  await lab.startDaemon(b!, 'etcd');
  await lab.waitFor(async () => (await lab.orch('service', 'scale', 'web=3', '--detach')).code === 0, 30_000, 'writes accepted again');
  await lab.waitFor(() => slotsOnce('web', 3), 30_000, 'scaled to 3 after etcd recovered');
  const tasks = await lab.tasks('web');
  t.is(new Set(tasks.filter((x) => x.desiredState === TaskState.RUNNING).map((x) => x.slot)).size, 3);
});

test.serial('promote a worker: it gets a manager certificate, the cluster key and an etcd client certificate, and a manager started there serves; demote it: that manager stops', async (t) => {
  const host = lab.state.hosts.find((h) => !h.manager)!;
  const dir = join(host.dir, 'node');
  const role = () => certIdentity(readFileSync(join(dir, 'node.crt'))).role;
  t.is(role(), 'worker');
  await lab.ok('node', 'promote', host.name);
  await lab.waitFor(async () => role() === 'manager' && existsSync(join(dir, 'cluster.key')) && existsSync(join(dir, 'etcd-client.crt')), 30_000, 'a manager certificate, the cluster key and an etcd client certificate');
  await lab.waitFor(async () => (await lab.ok('node', 'inspect', host.name)).includes('"role": "manager"'), 30_000, 'registered again as a manager');

  await lab.startDaemon(host.name, 'manager');
  const direct = `${host.addr}:4242`;
  await lab.waitFor(async () => (await runOrch({ ORCH_MANAGER: direct, ORCH_TLS_DIR: labAdminDir(lab.state) }, ['node', 'ls'])).code === 0, 30_000, 'the new manager serves');

  await lab.ok('node', 'demote', host.name);
  await lab.waitFor(async () => role() === 'worker' && !existsSync(join(dir, 'cluster.key')) && !existsSync(join(dir, 'etcd-client.crt')), 30_000, 'a worker certificate again, the cluster key and the etcd certificate gone');
  await lab.waitFor(async () => !alive(lab.host(host.name).pids.manager), 30_000, 'its manager stopped');
  await lab.waitFor(async () => (await lab.ok('node', 'inspect', host.name)).includes('"role": "worker"'), 30_000, 'registered again as a worker');
});

test.serial("the leader's host killed in the middle of a rolling update: the new leader finishes it; no slot runs twice, none is skipped", async (t) => {
  t.timeout(150_000);
  await lab.ok('service', 'create', '--name', 'roll', '--replicas', '6', '--stop-grace-period', '1s', '--update-delay', '1s', '--update-monitor', '1s', SLEEP_IMAGE);
  await lab.waitFor(() => slotsOnce('roll', 6), 30_000, 'roll running');
  await lab.ok('service', 'update', '--env-add', 'RELEASE=2', '--detach', 'roll');
  await lab.waitFor(async () => {
    const u = (await inspect('roll')).updateStatus;
    return u?.state === UpdateStatus_State.UPDATING && u.updated >= 2;
  }, 30_000, 'two slots updated');
  const old = (await lab.leaderHost())!;
  await lab.kill(old);
  await newLeader(old);
  await lab.waitFor(async () => (await inspect('roll')).updateStatus?.state === UpdateStatus_State.COMPLETED, 90_000, 'the update completed under the new leader');
  await lab.waitFor(() => slotsOnce('roll', 6), 30_000, 'every slot once on the live engines');
  const tasks = await lab.tasks('roll');
  const wanted = tasks.filter((x) => x.desiredState === TaskState.RUNNING);
  t.deepEqual(new Set(wanted.map((x) => x.slot)).size, 6, 'six slots, none skipped');
  t.true(wanted.every((x) => x.spec?.env.includes('RELEASE=2')), 'every slot runs the new spec');
  const ids = new Set(wanted.map((x) => x.id));
  for (const list of Object.values(await lab.running('roll'))) for (const c of list) t.true(ids.has(c.Labels['orch.task']!), `container of task ${c.Labels['orch.task']} is one of the wanted tasks`);
  t.is((await inspect('roll')).version, 2n);
  await lab.restart(old);
});
