// Deployments on a real 3-host lab: a rolling update watched on the engines,
// a bad release paused or rolled back by itself, manual rollbacks, two
// updates racing, bad input, and client loops through the published port
// and the VIP that must see no failed request in either order.
import test from 'ava';
import { Service, TaskState, UpdateStatus_State } from '../../proto/generated/orch.js';
import { clientLoop } from '../../lab/client-loop.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';
import { StaleVersionError } from '../../shared/errors.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);

test.before(async () => {
  lab = await LabCluster.up({ name: 'tdeploy', index: 242, hosts: 3, managers: 1 });
});

test.after.always(async () => {
  await lab?.down();
});

async function inspect(name: string): Promise<Service> {
  return Service.fromJSON((JSON.parse(await lab.ok('service', 'inspect', name)) as unknown[])[0]);
}

/** Slot → image of the running containers of a service, on every engine. */
async function enginesBySlot(service: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const list of Object.values(await lab.running(service))) {
    for (const c of list) out.set(c.Labels['orch.slot']!, [...(out.get(c.Labels['orch.slot']!) ?? []), c.Image]);
  }
  return out;
}

test.serial('a rolling update, parallelism 2 and delay 1s: never more than 2 slots out of service on the engines; all on the new image; old tasks shut down in the history', async (t) => {
  t.timeout(120_000);
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '6', '--stop-grace-period', '1s', '--update-parallelism', '2', '--update-delay', '1s', 'orch-test/httpd');
  let fewest = 6;
  let watching = true;
  const watch = (async () => {
    for (let i = 0; watching && i < 2000; i++) {
      fewest = Math.min(fewest, (await enginesBySlot('web')).size);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const out = await lab.ok('service', 'update', '--image', 'orch-test/httpd:2', 'web');
  watching = false;
  await watch;
  t.regex(out, /verify: Service converged/);
  t.true(fewest >= 4, `at least 4 of 6 slots running at every look (fewest: ${fewest})`);
  const slots = await enginesBySlot('web');
  t.is(slots.size, 6);
  const s = await inspect('web');
  t.is(s.updateStatus?.state, UpdateStatus_State.COMPLETED);
  t.is(s.version, 2n);
  const tasks = await lab.tasks('web');
  t.deepEqual(tasks.filter((x) => x.desiredState === TaskState.RUNNING).map((x) => x.spec?.image), Array(6).fill('orch-test/httpd:2'));
  t.true(tasks.filter((x) => x.desiredState === TaskState.SHUTDOWN && x.spec?.image === 'orch-test/httpd').length >= 6, 'the old tasks are in the history, shut down');
  t.regex(await lab.ok('service', 'ps', 'web'), /orch-test\/httpd\s.*Shutdown/);
});

test.serial('a bad release: with failure action rollback the service goes back by itself; with pause it stops, saying why; rollback and --to-version work', async (t) => {
  t.timeout(120_000);
  const back = await lab.orch('service', 'update', '--image', 'orch-test/broken', '--update-failure-action', 'rollback', '--update-monitor', '2s', 'web');
  t.is(back.code, 1, back.stdout);
  t.regex(back.stderr, /update rolled back due to failure or early termination of task \w+/);
  let s = await inspect('web');
  t.is(s.updateStatus?.state, UpdateStatus_State.ROLLBACK_COMPLETED);
  t.is(s.spec?.container?.image, 'orch-test/httpd:2');
  t.deepEqual((await lab.tasks('web')).filter((x) => x.desiredState === TaskState.RUNNING).map((x) => x.spec?.image), Array(6).fill('orch-test/httpd:2'));

  const paused = await lab.orch('service', 'update', '--image', 'orch-test/broken', '--update-failure-action', 'pause', 'web');
  t.is(paused.code, 1);
  t.regex(paused.stderr, /update paused due to failure or early termination of task \w+ \(task: non-zero exit \(1\)\)/);
  s = await inspect('web');
  t.is(s.updateStatus?.state, UpdateStatus_State.PAUSED);
  t.regex(await lab.ok('service', 'ls'), /paused/);

  t.regex(await lab.ok('service', 'rollback', 'web'), /verify: Service converged/);
  s = await inspect('web');
  t.is(s.spec?.container?.image, 'orch-test/httpd:2');
  t.is(s.updateStatus?.state, UpdateStatus_State.ROLLBACK_COMPLETED);
  const history = JSON.parse(await lab.ok('service', 'history', 'web', '--format', 'json')) as Array<{ version: string; spec: { container: { image: string } } }>;
  t.deepEqual(history.map((r) => r.spec.container.image).slice(0, 3), ['orch-test/httpd:2', 'orch-test/broken', 'orch-test/httpd:2']);
  const first = history.find((r) => r.version === '1')!;
  t.is(first.spec.container.image, 'orch-test/httpd');
  await lab.ok('service', 'rollback', '--to-version', '1', 'web');
  t.deepEqual((await lab.tasks('web')).filter((x) => x.desiredState === TaskState.RUNNING).map((x) => x.spec?.image), Array(6).fill('orch-test/httpd'));
});

test.serial('two updates racing on one service: one wins, the other gets the conflict error; no field is lost', async (t) => {
  const ctl = lab.control();
  try {
    const cur = await ctl.getService({ ref: 'web' });
    const env = (e: string) => ({ ...cur.spec!, container: { ...cur.spec!.container!, env: [...cur.spec!.container!.env, e] } });
    const results = await Promise.allSettled([ctl.updateService({ ref: cur.id, version: cur.version, spec: env('A=1'), rebalance: false }), ctl.updateService({ ref: cur.id, version: cur.version, spec: env('B=2'), rebalance: false })]);
    const lost = results.filter((r) => r.status === 'rejected');
    t.is(lost.length, 1, 'exactly one loses');
    const err = (lost[0] as PromiseRejectedResult).reason as Error;
    t.true(err instanceof StaleVersionError);
    t.regex(err.message, new RegExp(`service web was changed by someone else \\(version ${cur.version + 1n}, you read ${cur.version}\\); run the command again`));
    // Through the CLI, the loser's change made again keeps the winner's.
    const winner = (await ctl.getService({ ref: 'web' })).spec!.container!.env.at(-1)!;
    await lab.ok('service', 'update', '--env-add', winner === 'A=1' ? 'B=2' : 'A=1', '--detach', 'web');
    const envs = (await ctl.getService({ ref: 'web' })).spec!.container!.env;
    t.true(envs.includes('A=1') && envs.includes('B=2'), envs.join(' '));
  } finally {
    ctl.close();
  }
});

test.serial('bad input: a one-line error, exit 1, and nothing changed', async (t) => {
  await lab.waitFor(async () => (await inspect('web')).updateStatus?.state === UpdateStatus_State.COMPLETED, 30_000, 'the last update of web done');
  const before = await lab.ok('service', 'inspect', 'web');
  const cases: Array<[string[], RegExp]> = [
    [['service', 'update', '--no-such-flag', 'web'], /unknown option '--no-such-flag'/],
    [['service', 'update', '--update-parallelism', '-1', 'web'], /--update-parallelism: "-1" is not a replica count/],
    [['service', 'update', '--update-delay', 'soon', 'web'], /--update-delay: "soon" is not a duration/],
    [['service', 'update', '--env-rm', 'NOPE', 'web'], /--env-rm: NOPE is not set on service web/],
    [['service', 'update', '--image', 'x', 'nosuch'], /service "nosuch" not found/],
    [['service', 'update', '--update-failure-action', 'shrug', 'web'], /--update-failure-action: "shrug" is not one of pause, continue, rollback/],
  ];
  for (const [args, why] of cases) {
    const r = await lab.orch(...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, why);
    t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  await lab.ok('service', 'create', '--name', 'fresh', '--detach', 'orch-test/sleep');
  const none = await lab.orch('service', 'rollback', 'fresh');
  t.is(none.code, 1);
  t.regex(none.stderr, /service "fresh" has no previous version to roll back to/);
  t.is(await lab.ok('service', 'inspect', 'web'), before, 'web is as it was');
});

// Without the drain (a stopping task is held until every host has dropped it), one request in ~10,000 fails in some runs.
for (const order of ['stop-first', 'start-first']) {
  test.serial(`under client loops through the published port and the VIP, a rolling update of 6 replicas with a health check, ${order}: 0 failed requests`, async (t) => {
    t.timeout(150_000);
    const name = `lb-${order}`;
    const port = order === 'stop-first' ? 8081 : 8082;
    await lab.ok('network', 'create', `net-${order}`);
    await lab.ok(
      'service', 'create', '--name', name, '--replicas', '6', '--network', `net-${order}`, '-p', `${port}:80`, '--stop-grace-period', '2s',
      '--health-cmd', 'wget -qO- http://127.0.0.1/ >/dev/null', '--health-interval', '500ms', '--update-order', order, '--update-parallelism', '2', 'orch-test/httpd',
    );
    await lab.ok('service', 'create', '--name', `client-${order}`, '--network', `net-${order}`, 'orch-test/sleep');
    const [client] = (await lab.tasks(`client-${order}`)).filter((x) => x.status?.state === TaskState.RUNNING);
    const clientHost = (await lab.hostnames()).get(client!.nodeId)!;
    // By address: the test image's static busybox cannot resolve names itself.
    const svc = await inspect(name);
    const vipAddr = svc.vips.find((v) => v.networkId === svc.spec!.networks[0])!.addr.split('/')[0]!;
    const hosts = lab.state.hosts.map((h) => h.addr);
    const loop = clientLoop(() => hosts, port, { timeoutMs: 2000, max: 50_000 });
    // Through the VIP, from a container on the overlay, in bounded rounds of 50 requests until the update is done.
    let updating = true;
    const vip = { sent: 0, failed: 0 };
    const vipLoop = (async () => {
      for (let round = 0; round < 40 && (updating || round < 2); round++) {
        const line = await lab.exec(clientHost, client!.status!.containerId, `f=0; i=0; while [ $i -lt 50 ]; do wget -qO- http://${vipAddr}/ >/dev/null 2>&1 || f=$((f+1)); i=$((i+1)); sleep 0.05; done; echo $f`);
        vip.sent += 50;
        vip.failed += Number(line.trim());
      }
    })();
    let out: string;
    let updateAt = 0;
    try {
      await new Promise((r) => setTimeout(r, 1000));
      updateAt = Date.now();
      out = await lab.ok('service', 'update', '--image', 'orch-test/httpd:2', name);
    } finally {
      // The loops end whatever the update did: a loop left running fails the file after its tests.
      updating = false;
      await vipLoop.catch(() => undefined);
      await loop.stop();
    }
    await vipLoop;
    t.regex(out, /verify: Service converged/);
    const failed = loop.samples.filter((x) => !x.ok);
    t.log(`published port: ${loop.samples.length} requests, ${failed.length} failed; VIP: ${vip.sent} requests, ${vip.failed} failed`);
    t.true(loop.samples.length > 100 && vip.sent >= 100);
    t.deepEqual(failed.map((x) => `${x.host}, sent ${x.at - updateAt} ms into the update, failed after ${x.ms} ms: ${x.err}`), [], 'no request through the published port failed');
    t.is(vip.failed, 0, 'no request through the VIP failed');
  });
}
