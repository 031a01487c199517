// Issue 2 end to end, on the real etcd and the real dockerd, through the real
// CLI, manager and agent processes.
import test from 'ava';
import { HTTP_IMAGE, SLEEP_IMAGE } from '../../lab/images.js';
import { LocalCluster } from '../../lab/local-cluster.js';
import { runOrch } from '../../lab/run.js';

interface PsRow {
  id: string;
  slot: number;
  desiredState: string;
  status: { state: string; containerId?: string; err?: string };
}

async function ps(c: LocalCluster, service: string): Promise<PsRow[]> {
  const r = await c.orch('service', 'ps', service, '--format', 'json');
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as PsRow[];
}

const running = (rows: PsRow[]) => rows.filter((t) => t.desiredState === 'RUNNING' && t.status.state === 'RUNNING');

test.serial('create → running containers labelled with their tasks; scale up and down; rm removes everything', async (t) => {
  const c = await LocalCluster.start();
  t.teardown(() => c.destroy());

  const created = await c.orch('service', 'create', '--name', 'web', '--replicas', '3', HTTP_IMAGE);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout, /overall progress: 3 out of 3 tasks/);
  t.regex(created.stdout, /verify: Service converged/);

  const rows = await ps(c, 'web');
  t.is(running(rows).length, 3);
  const containers = await c.containers('web', false);
  t.is(containers.length, 3);
  const taskIds = new Set(running(rows).map((r) => r.id));
  for (const ct of containers) t.true(taskIds.has(ct.Labels['orch.task']!), `container ${ct.Id} carries a task label of web`);
  // The replicas answer HTTP at their container addresses.
  for (const ct of containers) {
    const ip = Object.values(ct.NetworkSettings.Networks)[0]!.IPAddress;
    const body = await (await fetch(`http://${ip}/`, { signal: AbortSignal.timeout(3000) })).text();
    t.is(body.trim(), ct.Id.slice(0, 12));
  }

  const inspected = JSON.parse((await c.orch('service', 'inspect', 'web')).stdout) as Array<{ spec: { name: string; replicas: number } }>;
  t.like(inspected[0]?.spec, { name: 'web', replicas: 3 });
  const node = JSON.parse((await c.orch('node', 'inspect', c.cluster)).stdout) as Array<{ state: string; description: { hostname: string } }>;
  t.like(node[0], { state: 'NODE_READY', description: { hostname: c.cluster } });

  const up = await c.orch('service', 'scale', 'web=5');
  t.is(up.code, 0, up.stderr);
  t.is(running(await ps(c, 'web')).length, 5);
  t.is((await c.containers('web', false)).length, 5);

  const down = await c.orch('service', 'scale', 'web=1');
  t.is(down.code, 0, down.stderr);
  await c.waitFor(async () => (await c.containers('web')).length === 1, 15_000, 'removed containers gone from the engine');
  t.is(running(await ps(c, 'web')).length, 1);

  const rm = await c.orch('service', 'rm', 'web');
  t.is(rm.code, 0, rm.stderr);
  await c.waitFor(async () => (await c.containers('web')).length === 0, 15_000, 'every container of web removed');
  await c.waitFor(async () => [...(await c.etcdState()).values()].every((v) => !v.includes('"web"')), 15_000, 'nothing in etcd for web');
  // Left: the nodes, the cluster's CA and sealed secrets, the managers' addresses, and the built-in ingress network with the node's address on it.
  const state = await c.etcdState();
  const ingressId = state.get('/orch/v1/names/networks/ingress');
  const builtIn = (k: string) => k.includes('/nodes/') || k.includes('/cluster/') || k.includes('/managers/') || k.endsWith('/guards/networks') || k.endsWith('/names/networks/ingress') || (!!ingressId && k.includes(ingressId));
  t.deepEqual([...state.keys()].filter((k) => !builtIn(k)), []);
});

test.serial('docker kill → the task fails and is replaced; with --restart-condition none it is not', async (t) => {
  const c = await LocalCluster.start();
  t.teardown(() => c.destroy());

  t.is((await c.orch('service', 'create', '--name', 'again', '--restart-delay', '0s', SLEEP_IMAGE)).code, 0);
  t.is((await c.orch('service', 'create', '--name', 'once', '--restart-condition', 'none', SLEEP_IMAGE)).code, 0);

  for (const name of ['again', 'once']) {
    const [victim] = await c.containers(name, false);
    await c.docker.getContainer(victim!.Id).kill();
  }
  await c.waitFor(async () => {
    const rows = await ps(c, 'again');
    return rows.some((r) => r.status.state === 'FAILED') && running(rows).length === 1;
  }, 15_000, 'again: a failed task and a running replacement');
  const again = await ps(c, 'again');
  const failed = again.find((r) => r.status.state === 'FAILED')!;
  t.is(failed.desiredState, 'SHUTDOWN');
  t.regex(failed.status.err ?? '', /non-zero exit \(137\)/);
  t.not(running(again)[0]!.id, failed.id);

  await c.waitFor(async () => (await ps(c, 'once')).some((r) => r.status.state === 'FAILED'), 15_000, 'once: the task is failed');
  await new Promise((r) => setTimeout(r, 1500)); // time in which a wrong restart would show
  const once = await ps(c, 'once');
  t.is(once.length, 1, 'no replacement task was made');
  t.is(running(once).length, 0);
  t.is((await c.containers('once', false)).length, 0);
});

test.serial('restarting the agent, then the manager, loses nothing and duplicates nothing', async (t) => {
  const c = await LocalCluster.start();
  t.teardown(() => c.destroy());
  t.is((await c.orch('service', 'create', '--name', 'steady', '--replicas', '3', SLEEP_IMAGE)).code, 0);
  const before = (await c.containers('steady', false)).map((x) => x.Id).sort();
  const tasksBefore = running(await ps(c, 'steady')).map((r) => r.id).sort();
  t.is(before.length, 3);

  await c.kill('agent');
  c.startAgent();
  await c.waitFor(async () => (await c.orch('node', 'ls')).stdout.includes('Ready'), 10_000, 'node ready again');
  await new Promise((r) => setTimeout(r, 2500)); // longer than the down window: a wrong replacement would show
  t.deepEqual((await c.containers('steady', false)).map((x) => x.Id).sort(), before, 'same containers after the agent restart');
  t.deepEqual(running(await ps(c, 'steady')).map((r) => r.id).sort(), tasksBefore);
  t.is((await c.containers('steady')).length, 3, 'no extra (stopped) containers either');

  await c.kill('manager');
  c.startManager();
  await c.waitFor(async () => (await c.orch('service', 'ls')).code === 0, 10_000, 'manager serving again');
  await new Promise((r) => setTimeout(r, 4000)); // past the election grace and the down window
  t.deepEqual((await c.containers('steady', false)).map((x) => x.Id).sort(), before, 'same containers after the manager restart');
  t.deepEqual(running(await ps(c, 'steady')).map((r) => r.id).sort(), tasksBefore);
  t.is((await ps(c, 'steady')).length, 3, 'no extra tasks');
});

test.serial('bad input: one-line error, non-zero exit, nothing changed in etcd', async (t) => {
  const c = await LocalCluster.start();
  t.teardown(() => c.destroy());
  t.is((await c.orch('service', 'create', '--name', 'taken', '--detach', SLEEP_IMAGE)).code, 0);
  await c.waitFor(async () => running(await ps(c, 'taken')).length === 1, 15_000, 'taken running');
  // The leader notes the root of the node's certificate within a second of its registration: let that write land first.
  await c.waitFor(async () => [...(await c.etcdState()).entries()].some(([k, v]) => k.includes('/nodes/') && v.includes('"certRoot"')), 10_000, 'the node record complete');
  const before = await c.etcdState();

  const cases: Array<[string[], RegExp]> = [
    [['service', 'create', '--bogus', SLEEP_IMAGE], /unknown option '--bogus'/],
    [['service', 'create', '--name', 'x', '--replicas', '-1', SLEEP_IMAGE], /--replicas: "-1" is not a replica count/],
    [['service', 'create', '--name', 'x', '--replicas', 'abc', SLEEP_IMAGE], /--replicas: "abc" is not a replica count/],
    [['service', 'create', '--name', 'x', ''], /needs an image/],
    [['service', 'create', '--name', 'taken', SLEEP_IMAGE], /service "taken" already exists/],
    [['service', 'create', '--name', 'Bad_Name', SLEEP_IMAGE], /invalid service name "Bad_Name"/],
    [['service', 'scale', 'missing=3'], /service "missing" not found/],
    [['service', 'scale', 'taken=-2'], /is not a replica count/],
    [['service', 'rm', 'missing'], /service "missing" not found/],
    [['node', 'demote', c.cluster], /node ".*" is the last manager: promote another node first/],
    [['node', 'promote', 'nowhere'], /node "nowhere" not found/],
  ];
  for (const [args, message] of cases) {
    const r = await c.orch(...args);
    t.not(r.code, 0, `exit code of orch ${args.join(' ')}`);
    t.regex(r.stderr, message, `orch ${args.join(' ')}`);
    t.is(r.stderr.trim().split('\n').length, 1, `one line for orch ${args.join(' ')}: ${r.stderr}`);
  }
  t.deepEqual(await c.etcdState(), before, 'etcd unchanged by rejected requests');

  // etcd unreachable: the manager answers with a clear error, and nothing changes once it is back.
  process.kill(c.etcd.pid, 'SIGSTOP');
  try {
    const sent = Date.now();
    const r = await c.orch('service', 'create', '--name', 'during-outage', SLEEP_IMAGE);
    t.log(`etcd frozen: the CLI had its answer after ${Date.now() - sent} ms: ${r.stderr}`);
    t.not(r.code, 0);
    t.regex(r.stderr, /etcd unreachable at http:\/\/127\.0\.0\.1:\d+/);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  } finally {
    process.kill(c.etcd.pid, 'SIGCONT');
  }
  const after = await c.etcdState();
  t.false([...after.values()].some((v) => v.includes('during-outage')));
});

test.serial('no manager at the address: a one-line error that says where it looked', async (t) => {
  const c = await LocalCluster.start();
  t.teardown(() => c.destroy());
  const r = await runOrch({ ORCH_MANAGER: '127.0.0.1:1', ORCH_TLS_DIR: c.adminDir }, ['service', 'ls']);
  t.not(r.code, 0);
  t.regex(r.stderr, /cannot reach the manager at 127\.0\.0\.1:1/);
  t.is(r.stderr.trim().split('\n').length, 1);
});
