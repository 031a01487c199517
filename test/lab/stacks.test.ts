// Stacks from Compose files on a real 3-host lab: an application deployed
// whole and reached through the mesh and by name, a re-deploy that rolls out
// only what changed, depends_on honoured (engine timestamps), the common
// shapes of stack files, bad files refused with nothing written, and
// `stack rm` taking away exactly the stack.
import { join } from 'node:path';
import test from 'ava';
import { TaskState } from '../../proto/generated/orch.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { httpGet } from '../../lab/run.js';
import { reportLogsOnFailure } from '../helpers/lab.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
let hosts: string[] = [];
const fixture = (name: string) => join(process.cwd(), 'test/fixtures/stacks', name);

test.before(async () => {
  lab = await LabCluster.up({ name: 'tstacks', index: 234, hosts: 3, managers: 1 });
  hosts = lab.state.hosts.map((h) => h.addr);
});

test.after.always(async () => {
  await lab?.down();
});

/** What etcd holds that a deploy could change, as the CLI lists it. */
async function everything(): Promise<string> {
  const parts = await Promise.all([['service', 'ls'], ['network', 'ls'], ['secret', 'ls'], ['config', 'ls']].map((c) => lab.ok(...c, '--format', 'json')));
  return parts.join('\n');
}

/** Running tasks' container ids of a service. */
async function runningIds(service: string): Promise<string[]> {
  return (await lab.tasks(service)).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).map((t) => t.status!.containerId).sort();
}

test.serial('an application stack: deployed whole, answers on every host, reaches its API by name and alias, shown by stack ps/services', async (t) => {
  const r = await lab.orch('stack', 'deploy', '-c', fixture('app.yml'), 'app');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Creating network app_back/);
  t.regex(r.stdout, /verify: Stack converged/);
  t.deepEqual((await runningIds('app_web')).length, 3);
  const services = JSON.parse(await lab.ok('stack', 'services', 'app', '--format', 'json')) as Array<{ spec: { name: string; labels: Record<string, string> }; running: number; desired: number }>;
  t.deepEqual(services.map((s) => `${s.spec.name} ${s.running}/${s.desired}`).sort(), ['app_api 1/1', 'app_db 1/1', 'app_web 3/3']);
  t.true(services.every((s) => s.spec.labels['com.docker.stack.namespace'] === 'app'), 'labelled with the stack, as Docker does');
  t.is((await lab.ok('stack', 'ls')).split('\n')[1]?.trim().split(/\s+/).join(' '), 'app 3');
  const ps = await lab.ok('stack', 'ps', 'app');
  t.is(ps.split('\n').filter((l) => / Running /.test(l)).length, 5, ps);
  // The published port answers on every host (the mesh), with a web replica's name.
  const webs = await lab.containers('h1', 'app_web').then(async () => (await lab.tasks('app_web')).map((x) => x.status!.containerId.slice(0, 12)));
  for (const h of hosts) await lab.waitFor(async () => webs.includes(await httpGet(h, 8180, 1000).catch(() => '')), 10_000, `${h}:8180`);
  // From a web container: the API by its short name and by its alias on the back network; the config file and not the secret.
  const [host, cid] = await taskOn('app_web');
  const api = (await runningIds('app_api'))[0]!.slice(0, 12);
  t.is((await lab.exec(host, cid, 'wget -qO- http://api/')).trim(), api);
  t.is((await lab.exec(host, cid, 'wget -qO- http://backend-api/')).trim(), api);
  t.is((await lab.exec(host, cid, 'cat /etc/site.conf')).trim(), 'listen 80');
  const [apiHost, apiCid] = await taskOn('app_api');
  t.is((await lab.exec(apiHost, apiCid, 'cat /run/secrets/db_password')).trim(), 's3cret-from-a-file');
  t.regex(await lab.exec(apiHost, apiCid, 'echo $DB_HOST $API_MODE'), /^db normal/);
  // The database is where its constraint puts it, with its named volume.
  const [dbHost, dbCid] = await taskOn('app_db');
  t.is(dbHost, 'h1');
  const mounts = (await lab.engine('h1').getContainer(dbCid).inspect()).Mounts;
  t.true(mounts.some((m) => m.Type === 'volume' && m.Name?.startsWith('app_data') && m.Destination === '/var/lib/db'), JSON.stringify(mounts));
});

test.serial('re-deploying the same file changes nothing; a new image for one service rolls out only that service, with its update_config', async (t) => {
  const before = Object.fromEntries(await Promise.all(['app_web', 'app_api', 'app_db'].map(async (s) => [s, await runningIds(s)] as const)));
  const versions = async () => (JSON.parse(await lab.ok('stack', 'services', 'app', '--format', 'json')) as Array<{ spec: { name: string }; version: string }>).map((s) => `${s.spec.name}@${s.version}`).sort();
  const v0 = await versions();
  const same = await lab.orch('stack', 'deploy', '-c', fixture('app.yml'), 'app');
  t.is(same.code, 0, same.stderr);
  t.regex(same.stdout, /Unchanged: app_web, app_api, app_db/);
  t.deepEqual(await versions(), v0, 'no service got a new version');
  t.deepEqual(await runningIds('app_web'), before.app_web, 'no task restarted');

  const r = await lab.orch('stack', 'deploy', '-c', fixture('app.yml'), '-c', fixture('app-v2.yml'), 'app');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /Updating service app_web/);
  t.notRegex(r.stdout, /Updating service app_(api|db)/);
  const web = JSON.parse(await lab.ok('service', 'inspect', 'app_web')) as Array<{ spec: { container: { image: string }; updateConfig: { parallelism: number; order: string } }; updateStatus: { state: string } }>;
  t.is(web[0]!.spec.container.image, 'orch-test/httpd:2');
  t.is(web[0]!.spec.updateConfig.parallelism, 2, "the file's update_config");
  t.is(web[0]!.spec.updateConfig.order, 'START_FIRST');
  t.is(web[0]!.updateStatus.state, 'COMPLETED');
  const after = await runningIds('app_web');
  t.is(after.length, 3);
  t.false(after.some((id) => before.app_web!.includes(id)), 'every web task replaced');
  t.deepEqual(await runningIds('app_api'), before.app_api, 'the API untouched');
  t.deepEqual(await runningIds('app_db'), before.app_db, 'the database untouched');
});

test.serial('bad files are refused with file, line and key, and nothing in etcd changes', async (t) => {
  const before = await everything();
  const bad: Array<[string, RegExp]> = [
    ['bad-yaml.yml', /bad-yaml\.yml:\d+: invalid YAML: Flow sequence/],
    ['bad-schema.yml', /bad-schema\.yml:9: services\.api\.deploy\.replicas: must be an integer/],
    ['bad-secret.yml', /bad-secret\.yml:10: secrets\.token\.file: cannot read .*missing-token\.txt \(ENOENT\)/],
    ['bad-network.yml', /bad-network\.yml:6: services\.api\.networks\.backend: network "backend" is not declared/],
    ['bad-port.yml', /bad-port\.yml:8: services\.api\.ports: port 8180\/tcp is also published by service web/],
  ];
  for (const [file, why] of bad) {
    const r = await lab.orch('stack', 'deploy', '-c', fixture(file), 'app');
    t.is(r.code, 1, file);
    t.regex(r.stderr, why, file);
    t.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  // A port another stack's service holds: refused before anything is written.
  const clash = await lab.orch('stack', 'deploy', '-c', fixture('app.yml'), 'other');
  t.is(clash.code, 1);
  t.regex(clash.stderr, /port 8180\/tcp is already published by service app_web/);
  t.is(await everything(), before, 'no service, network, secret or config was created or changed');
});

test.serial('depends_on service_healthy: the dependent tasks start only once the dependency is healthy', async (t) => {
  const r = await lab.orch('stack', 'deploy', '-c', fixture('depends.yml'), 'dep');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /waiting for dep_db to be healthy/, 'the progress display says what web waits for');
  const [dbHost, dbCid] = await taskOn('dep_db');
  const db = await lab.engine(dbHost).getContainer(dbCid).inspect();
  const healthyAt = Date.parse(db.State.StartedAt) + 3000; // its check passes once the file exists, 3 s after start
  for (const task of (await lab.tasks('dep_web')).filter((x) => x.status?.state === TaskState.RUNNING)) {
    const host = (await lab.hostnames()).get(task.nodeId)!;
    const web = await lab.engine(host).getContainer(task.status!.containerId).inspect();
    t.true(Date.parse(web.Created) >= healthyAt, `web created at ${web.Created}, db started ${db.State.StartedAt}`);
  }
  await lab.ok('stack', 'rm', 'dep');
});

test.serial('the common shapes: web + cache + database, a global monitoring agent, host-mode ports', async (t) => {
  t.is((await lab.orch('stack', 'deploy', '-c', fixture('cache-app.yml'), 'shop')).code, 0);
  await lab.waitFor(async () => (await httpGet(hosts[2]!, 8181, 1000).catch(() => '')) !== '', 10_000, 'shop frontend on h3:8181');
  t.is((await runningIds('shop_frontend')).length, 2);
  const mon = await lab.orch('stack', 'deploy', '-c', fixture('monitoring.yml'), 'mon');
  t.is(mon.code, 0, mon.stderr);
  t.deepEqual(await lab.placement('mon_agent'), { h1: 1, h2: 1, h3: 1 });
  const [h, cid] = await taskOn('mon_agent');
  // One file, not a listing: a listing of /proc fails when a process ends while it is read.
  t.regex(await lab.exec(h, cid, 'head -1 /host/proc/cpuinfo'), /processor/, "the host's /proc, bound read-only");
  const edge = await lab.orch('stack', 'deploy', '-c', fixture('host-ports.yml'), 'edge');
  t.is(edge.code, 0, edge.stderr);
  for (const i of [0, 1]) await lab.waitFor(async () => (await httpGet(hosts[i]!, 8182, 1000).catch(() => '')) !== '', 10_000, `edge on ${hosts[i]}`);
  t.regex(await httpGet(hosts[2]!, 8182, 1000).catch((e: Error) => e.message), /ECONNREFUSED/, 'no task on h3: nothing answers there');
  // --prune: a deploy of another file to the same stack removes the services the file no longer has.
  const pruned = await lab.orch('stack', 'deploy', '--prune', '--detach', '-c', fixture('depends.yml'), 'shop');
  t.is(pruned.code, 0, pruned.stderr);
  for (const gone of ['shop_frontend', 'shop_cache']) t.regex(pruned.stdout, new RegExp(`Removing service ${gone}\\b`));
  t.regex(pruned.stdout, /Updating service shop_db\b/, 'a service in both files is updated, not removed');
  const left = JSON.parse(await lab.ok('stack', 'services', 'shop', '--format', 'json')) as Array<{ spec: { name: string } }>;
  t.deepEqual(left.map((x) => x.spec.name).sort(), ['shop_db', 'shop_web']);
  for (const s of ['shop', 'mon', 'edge']) await lab.ok('stack', 'rm', s);
});

test.serial('stack rm removes every service, network, secret and config of the stack, and nothing else', async (t) => {
  await lab.ok('network', 'create', 'keep-net');
  await lab.ok('service', 'create', '--name', 'keep', '--network', 'keep-net', 'orch-test/sleep');
  const r = await lab.orch('stack', 'rm', 'app');
  t.is(r.code, 0, r.stderr);
  const left = await everything();
  t.notRegex(left, /app_/, 'nothing of the stack is left');
  t.regex(left, /"keep"/);
  t.regex(left, /keep-net/);
  t.regex((await lab.orch('stack', 'rm', 'app')).stderr, /nothing found in stack: app/);
  await lab.waitFor(async () => (await lab.containers('h1', 'app_db', true)).length === 0, 20_000, "the stack's containers gone");
});

/** The host and container id of a running task of the service. */
async function taskOn(service: string): Promise<[string, string]> {
  const names = await lab.hostnames();
  const task = (await lab.tasks(service)).find((x) => x.desiredState === TaskState.RUNNING && x.status?.state === TaskState.RUNNING);
  if (!task) throw new Error(`no running task of ${service}`);
  return [names.get(task.nodeId)!, task.status!.containerId];
}
