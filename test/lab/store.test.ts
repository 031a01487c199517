// The store lasts (issue 12): three managers over a three-member etcd with a
// small quota and a short compaction interval (manager flags, as an operator
// would set them). A crash loop churns etcd while compaction keeps its
// database from growing; a full etcd refuses writes with one clear line until
// `orch cluster maintain`; a backup brings the cluster back after every etcd
// member and its data are gone, with the same containers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { StoreStatus, TaskState } from '../../proto/generated/orch.js';
import { HTTP_IMAGE, SLEEP_IMAGE } from '../../lab/images.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';
import { runOrch } from '../../lab/run.js';
import { hostStateDir, labAdminDir, labEtcdTls } from '../../lab/state.js';
import { connectEtcd } from '../../manager/store/index.js';
import { connect } from '../../client/control.js';
import { loadTls } from '../../shared/tls/credentials.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
const dir = mkdtempSync(join(tmpdir(), 'orch-store-test-'));
const QUOTA = 24 * 1024 * 1024;

test.before(async () => {
  lab = await LabCluster.up({
    name: 'sto',
    index: 244,
    hosts: 3,
    managers: 3,
    managerArgs: ['--compact-every', '5s', '--compact-after', '200', '--compact-keep', '50'],
    etcdQuotaBytes: QUOTA,
  });
});

test.after.always(async () => {
  await lab?.down();
  rmSync(dir, { recursive: true, force: true });
});

async function status(): Promise<StoreStatus> {
  return StoreStatus.fromJSON(JSON.parse(await lab.ok('cluster', 'status', '--format', 'json')));
}

const largest = (s: StoreStatus) => Math.max(...s.members.map((m) => Number(m.dbSize)));

/** What one manager's mirror holds: service names and task ids (every list reads the mirror). */
async function seenBy(manager: string): Promise<{ services: string[]; tasks: string[] }> {
  const ctl = connect(manager, loadTls(labAdminDir(lab.state)));
  try {
    const { services } = await ctl.listServices({});
    const { tasks } = await ctl.listTasks({ service: '' });
    return { services: services.map((s) => s.service!.spec!.name).sort(), tasks: tasks.map((x) => x.id).sort() };
  } finally {
    ctl.close();
  }
}

test.serial('a crash loop churns etcd: compaction keeps its database from growing, and every manager sees a create made after compactions', async (t) => {
  t.timeout(300_000);
  await lab.ok('service', 'create', '--name', 'crash', '--replicas', '3', '--restart-delay', '0s', '--detach', SLEEP_IMAGE, 'sh', '-c', 'sleep 1; exit 1');
  const samples: Array<{ at: number; size: number; revision: number; compacted: number }> = [];
  for (let i = 0; i <= 10; i++) {
    const s = await status();
    samples.push({ at: i * 15, size: largest(s), revision: Number(s.revision), compacted: Number(s.compactedRevision) });
    if (i < 10) await new Promise((r) => setTimeout(r, 15_000));
  }
  t.log(samples.map((s) => `${s.at}s: ${(s.size / 1024).toFixed(0)} KiB, revision ${s.revision}, compacted ${s.compacted}`).join('\n'));
  const [first, mid, last] = [samples[0]!, samples[5]!, samples.at(-1)!];
  t.true(last.revision - first.revision > 500, 'the crash loop wrote to etcd');
  t.true(mid.compacted > first.compacted && last.compacted > mid.compacted, 'the leader compacted, again and again');
  // Uncompacted, this churn grows the database by ~850 KiB a minute; compacted, its pages are reused.
  t.true(last.size - mid.size < 256 * 1024, `the database stopped growing (${mid.size} → ${last.size} bytes in the last 75 s)`);

  await lab.ok('service', 'rm', 'crash');
  await lab.ok('service', 'create', '--name', 'after', '--replicas', '2', '--detach', SLEEP_IMAGE);
  await lab.waitFor(async () => {
    const views = await Promise.all(lab.state.managers.map(seenBy));
    return views.every((v) => JSON.stringify(v) === JSON.stringify(views[0]) && v.services.includes('after') && !v.services.includes('crash') && v.tasks.length > 0);
  }, 20_000, 'every manager sees the same services and tasks, with the create made after compactions');
});

test.serial('a full etcd refuses writes with one line that says what to do; node ls warns; cluster maintain brings writes back and nothing is lost', async (t) => {
  t.timeout(120_000);
  const before = await seenBy(lab.state.managers[0]!);
  const etcd = connectEtcd(lab.state.etcd.join(','), labEtcdTls(lab.state));
  try {
    const filler = Buffer.alloc(1024 * 1024, 'x');
    let full = false;
    for (let i = 0; i < 3 * (QUOTA / filler.length) && !full; i++) {
      await etcd.put('/filler').value(filler).exec().catch((err: Error) => (full = /database space exceeded/.test(err.message)));
    }
    t.true(full, 'etcd reached its quota');

    const refused = await lab.orch('service', 'scale', 'after=3', '--detach');
    t.is(refused.code, 1);
    t.regex(refused.stderr, /^orch: etcd is out of space \(alarm NOSPACE on \d members?\): run `orch cluster maintain`/);
    t.is(refused.stderr.trim().split('\n').length, 1, 'one line');
    t.regex((await lab.orch('node', 'ls')).stderr, /NOSPACE/, 'node ls warns');

    // Under the alarm deletes still pass: the operator removes what filled it, then maintains.
    await etcd.delete().key('/filler').exec();
    const maintained = await lab.orch('cluster', 'maintain');
    t.is(maintained.code, 0, maintained.stderr);
    t.regex(maintained.stdout, /compacted etcd's history/);
    t.is((maintained.stdout.match(/^defragmented /gm) ?? []).length, 3, 'every member defragmented');
    t.regex(maintained.stdout, /disarmed \d NOSPACE alarms?/);
    t.deepEqual((await status()).alarms, []);

    await lab.ok('service', 'scale', 'after=3', '--detach');
    const now = await seenBy(lab.state.managers[0]!);
    t.deepEqual(now.services, before.services, 'no service lost');
  } finally {
    etcd.close();
  }
});

test.serial('backup; every etcd member and its data lost; restore into a new etcd: services run on in the same containers and the published port answers', async (t) => {
  t.timeout(240_000);
  await lab.ok('network', 'create', '--subnet', '10.244.0.0/24', 'bnet');
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '2', '--network', 'bnet', '-p', '8080:80', HTTP_IMAGE);
  const containers = async () => {
    const ids: string[] = [];
    for (const service of ['web', 'after']) for (const list of Object.values(await lab.running(service))) ids.push(...list.map((c) => c.Id));
    return ids.sort();
  };
  await lab.waitFor(async () => (await containers()).length === 5, 30_000, 'web 2 and after 3 running');
  const before = await containers();
  const file = join(dir, 'cluster.backup');
  const backedUp = await lab.orch('cluster', 'backup', file);
  t.is(backedUp.code, 0, backedUp.stderr);
  t.regex(backedUp.stdout, /^Backed up \d+ keys of cluster \S+ at etcd revision \d+/);

  // The store is lost for good: managers down, every member's data gone, a new etcd.
  for (const h of lab.state.hosts.filter((x) => x.manager)) await lab.signal(h.name, 'manager', 'SIGKILL');
  await lab.newEtcd();
  const restored = await runOrch({}, ['cluster', 'restore', file, '--etcd', lab.state.etcd.join(','), '--state-dir', hostStateDir(lab.host('h1'))]);
  t.is(restored.code, 0, restored.stderr);
  const again = await runOrch({}, ['cluster', 'restore', file, '--etcd', lab.state.etcd.join(','), '--state-dir', hostStateDir(lab.host('h1'))]);
  t.is(again.code, 1, 'a second restore into the same etcd is refused');
  t.regex(again.stderr, /already holds an orch cluster/);
  for (const h of lab.state.hosts.filter((x) => x.manager)) await lab.startDaemon(h.name, 'manager');

  await lab.waitFor(async () => {
    const r = await lab.orch('service', 'ls', '--format', 'json');
    if (r.code !== 0) return false;
    const list = JSON.parse(r.stdout) as Array<{ service: { spec: { name: string } }; running: number; desired: number }>;
    return list.length === 2 && list.every((s) => s.running === s.desired);
  }, 60_000, 'both services running as the restored managers see them');
  // Long enough for a wrongly replaced task to show.
  await new Promise((r) => setTimeout(r, 10_000));
  t.deepEqual(await containers(), before, 'the same containers, none restarted or replaced');
  const tasks = await lab.tasks('web');
  t.is(tasks.filter((x) => x.desiredState === TaskState.RUNNING && x.status?.state === TaskState.RUNNING).length, 2);
  const body = await lab.onHost('h1', 'busybox', ['wget', '-qO-', `http://${lab.host('h3').addr}:8080/`]);
  t.true(body.trim().length > 0, 'the published port answers');
});
