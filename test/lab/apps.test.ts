// What a real application needs, on a real lab: volumes that outlive their
// tasks (one per slot with a placeholder), bind mounts and tmpfs, Docker's
// container options as the engine sees them (and rolled out by an update),
// privileged services only where the cluster allows them, secrets (never in
// clear anywhere but the container's tmpfs) and configs, and bad input
// refused with nothing changed.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type Docker from 'dockerode';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';
import { FILES_ROOT } from '../../agent/exec/files.js';
import { hostKeyOfInode } from '../../agent/host.js';
import { connectEtcd } from '../../manager/store/index.js';
import { labEtcdTls } from '../../lab/state.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
const dir = mkdtempSync(join(tmpdir(), 'orch-apps-'));

test.before(async () => {
  lab = await LabCluster.up({ name: 'tapps', index: 239, hosts: 2, managers: 1 });
});

test.after.always(async () => {
  await lab?.down();
  rmSync(dir, { recursive: true, force: true });
});

/** The one running container of a service on h1 (waits for it, and for it to be another than `not`). */
async function runningOn(service: string, not?: string): Promise<Docker.ContainerInfo> {
  let found: Docker.ContainerInfo | undefined;
  await lab.waitFor(async () => {
    const list = (await lab.containers('h1', service)).filter((c) => c.Id !== not);
    found = list.length === 1 ? list[0] : undefined;
    return !!found;
  }, 30_000, `a running container of ${service}${not ? ' other than the killed one' : ''}`);
  return found!;
}

const onH1 = ['--constraint', 'node.hostname==h1', '--restart-delay', '0s', '--stop-grace-period', '1s'];
const sleeper = ['orch-test/sleep', 'sleep', '100000'];

test.serial('a named volume outlives its task: the replacement of a killed task on the same node reads what it wrote', async (t) => {
  await lab.ok('service', 'create', '--name', 'db', ...onH1, '--mount', 'type=volume,source=dbdata,target=/data,volume-label=team=db', ...sleeper);
  const first = await runningOn('db');
  await lab.exec('h1', first.Id, 'echo written-by-the-first > /data/f');
  await lab.engine('h1').getContainer(first.Id).kill();
  const second = await runningOn('db', first.Id);
  t.is((await lab.exec('h1', second.Id, 'cat /data/f')).trim(), 'written-by-the-first');
  const vol = await lab.engine('h1').getVolume('dbdata').inspect();
  t.is(vol.Labels['orch.service.name'], 'db');
  t.is(vol.Labels.team, 'db', 'volume-label is on the volume');
});

test.serial('source=data-{{.Task.Slot}}: each replica has its own volume', async (t) => {
  await lab.ok('service', 'create', '--name', 'kv', '--replicas', '2', ...onH1, '--mount', 'type=volume,source=kv-{{.Task.Slot}},target=/data', ...sleeper);
  await lab.waitFor(async () => (await lab.containers('h1', 'kv')).length === 2, 30_000, 'two replicas');
  const { Volumes } = await lab.engine('h1').listVolumes({ filters: { label: ['orch.service.name=kv'] } });
  t.deepEqual(Volumes.map((v) => [v.Name, v.Labels['orch.slot']]).sort(), [['kv-1', '1'], ['kv-2', '2']]);
  for (const c of await lab.containers('h1', 'kv')) {
    const mount = (await lab.engine('h1').getContainer(c.Id).inspect()).Mounts.find((m) => m.Destination === '/data');
    t.is(mount?.Name, `kv-${c.Labels['orch.slot']}`);
  }
});

test.serial('volume ls shows node, slot and user; a replacement goes back to the node holding its volume, though another is emptier', async (t) => {
  await lab.ok('service', 'create', '--name', 'sticky', '--restart-delay', '0s', '--stop-grace-period', '1s', '--mount', 'type=volume,source=st-{{.Task.Slot}},target=/data', ...sleeper);
  let host = '';
  let first: Docker.ContainerInfo | undefined;
  await lab.waitFor(async () => {
    for (const h of ['h1', 'h2']) {
      [first] = await lab.containers(h, 'sticky');
      if (first) {
        host = h;
        return true;
      }
    }
    return false;
  }, 30_000, 'sticky running');
  const other = host === 'h1' ? 'h2' : 'h1';
  type Row = { hostname: string; volume: { name: string; slot: number; tasks: string[] } };
  await lab.waitFor(async () => {
    const rows = JSON.parse(await lab.ok('volume', 'ls', '--format', 'json')) as Row[];
    return rows.some((r) => r.volume.name === 'st-1' && r.hostname === host && r.volume.slot === 1 && r.volume.tasks.includes(first!.Labels['orch.task']!));
  }, 15_000, `volume ls shows st-1 on ${host}, slot 1, used by its task`);
  t.regex(await lab.ok('volume', 'ls'), new RegExp(`st-1\\s+${host}\\s+sticky\\s+1\\s`));
  await lab.exec(host, first!.Id, 'echo kept > /data/f');
  // Make the volume's host the busier one: by spread alone, the replacement would go to the other.
  await lab.ok('service', 'create', '--name', 'filler', '--replicas', '3', '--constraint', `node.hostname==${host}`, ...sleeper);
  await lab.engine(host).getContainer(first!.Id).kill();
  let next: Docker.ContainerInfo | undefined;
  await lab.waitFor(async () => {
    const mine = (await lab.containers(host, 'sticky')).filter((c) => c.Id !== first!.Id);
    const elsewhere = await lab.containers(other, 'sticky');
    t.deepEqual(elsewhere, [], `never started on ${other}`);
    next = mine[0];
    return !!next;
  }, 30_000, `the replacement on ${host}`);
  t.is((await lab.exec(host, next!.Id, 'cat /data/f')).trim(), 'kept');
  await lab.ok('service', 'rm', 'filler', 'sticky');
});

test.serial('a bind mount shows the host file, readonly refuses writes; a tmpfs is empty at each start', async (t) => {
  writeFileSync(join(dir, 'greeting'), 'hello from the host\n');
  await lab.ok('service', 'create', '--name', 'files', ...onH1, '--mount', `type=bind,source=${dir},target=/host,readonly`, '--mount', 'type=tmpfs,target=/scratch,tmpfs-size=8m', ...sleeper);
  const first = await runningOn('files');
  t.is((await lab.exec('h1', first.Id, 'cat /host/greeting')).trim(), 'hello from the host');
  await t.throwsAsync(lab.exec('h1', first.Id, 'touch /host/new'), { message: /Read-only file system/ });
  t.regex(await lab.exec('h1', first.Id, 'grep " /scratch " /proc/mounts'), /tmpfs \/scratch tmpfs .*size=8192k/);
  await lab.exec('h1', first.Id, 'echo x > /scratch/left-behind');
  await lab.engine('h1').getContainer(first.Id).kill();
  const second = await runningOn('files', first.Id);
  t.is((await lab.exec('h1', second.Id, 'ls -A /scratch')).trim(), '', 'the new task starts with an empty tmpfs');
});

test.serial("Docker's container options are on the engine, and an update rolls a change out", async (t) => {
  await lab.ok(
    'service', 'create', '--name', 'opts', ...onH1, '--workdir', '/tmp', '--user', '65534:65534', '--group', '20', '--hostname', '{{.Service.Name}}-{{.Task.Slot}}',
    '--entrypoint', 'sh -c', '--cap-add', 'NET_ADMIN', '--cap-drop', 'MKNOD', '--read-only', '--init', '--stop-signal', 'SIGINT', '--sysctl', 'net.ipv4.ip_forward=1',
    '--ulimit', 'nofile=512:1024', '--dns-search', 'example.internal', '--host', 'db.local:10.1.2.3', '--limit-pids', '64', '-t', 'orch-test/sleep', 'sleep 100000',
  );
  const c = await runningOn('opts');
  const i = await lab.engine('h1').getContainer(c.Id).inspect();
  t.is(i.Config.WorkingDir, '/tmp');
  t.is(i.Config.User, '65534:65534');
  t.is(i.Config.Hostname, 'opts-1');
  t.deepEqual(i.Config.Entrypoint, ['sh', '-c']);
  t.deepEqual(i.Config.Cmd, ['sleep 100000']);
  t.is((i.Config as { StopSignal?: string }).StopSignal, 'SIGINT');
  t.true(i.Config.Tty);
  t.deepEqual(i.HostConfig.GroupAdd, ['20']);
  t.deepEqual(i.HostConfig.CapAdd, ['NET_ADMIN']);
  t.deepEqual(i.HostConfig.CapDrop, ['MKNOD']);
  t.true(i.HostConfig.ReadonlyRootfs);
  t.true(i.HostConfig.Init);
  t.deepEqual(i.HostConfig.Sysctls, { 'net.ipv4.ip_forward': '1' });
  t.deepEqual(i.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 512, Hard: 1024 }]);
  t.deepEqual(i.HostConfig.DnsSearch, ['example.internal']);
  t.deepEqual(i.HostConfig.ExtraHosts, ['db.local:10.1.2.3']);
  t.is(i.HostConfig.PidsLimit, 64);
  t.is((await lab.exec('h1', c.Id, 'id -u')).trim(), '65534');
  t.regex(await lab.exec('h1', c.Id, 'cat /etc/hosts'), /10\.1\.2\.3\s+db\.local/);

  const out = await lab.ok('service', 'update', '--cap-add', 'SYS_TIME', '--hostname', 'renamed', '--ulimit-add', 'nofile=256', '--read-only=false', 'opts');
  t.regex(out, /verify: Service converged/);
  const next = await runningOn('opts', c.Id);
  const j = await lab.engine('h1').getContainer(next.Id).inspect();
  t.deepEqual(j.HostConfig.CapAdd, ['NET_ADMIN', 'SYS_TIME']);
  t.is(j.Config.Hostname, 'renamed');
  t.deepEqual(j.HostConfig.Ulimits, [{ Name: 'nofile', Soft: 256, Hard: 256 }]);
  t.false(j.HostConfig.ReadonlyRootfs);
  t.is(j.Config.WorkingDir, '/tmp', 'what the update did not name stays');
});

test.serial('--privileged and --device only where the cluster allows them', async (t) => {
  const refused = await lab.orch('service', 'create', '--name', 'priv', ...onH1, '--privileged', ...sleeper);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /service priv asks for --privileged, which this cluster does not allow; an admin can allow it with `orch cluster update --allow-privileged`/);
  t.is(refused.stderr.trim().split('\n').length, 1);
  t.false((await lab.ok('service', 'ls')).includes('priv'), 'nothing was created');
  t.regex(await lab.ok('cluster', 'update', '--allow-privileged'), /allowed/);
  await lab.ok('service', 'create', '--name', 'dev', ...onH1, '--device', '/dev/null:/dev/orch-null:rw', ...sleeper);
  const c = await runningOn('dev');
  t.deepEqual((await lab.engine('h1').getContainer(c.Id).inspect()).HostConfig.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/orch-null', CgroupPermissions: 'rw' }]);
  t.regex(await lab.exec('h1', c.Id, 'ls -l /dev/orch-null'), /^c/);
  // This machine's kernel keeps CAP_SYS_RESOURCE out of every bounding set, so a privileged container cannot start
  // here ("unable to apply caps"); that it reached the engine privileged is what can be seen.
  await lab.ok('service', 'create', '--name', 'priv', '--detach', ...onH1, '--privileged', ...sleeper);
  // Each attempt's container is removed when the next is made: look until one is caught.
  await lab.waitFor(async () => {
    for (const c of await lab.containers('h1', 'priv', true)) {
      const i = await lab.engine('h1').getContainer(c.Id).inspect().catch(() => undefined);
      if (i?.HostConfig.Privileged) return true;
    }
    return false;
  }, 30_000, 'a container made privileged on the engine');
  await lab.ok('service', 'rm', 'priv');
  await lab.ok('cluster', 'update', '--allow-privileged=false');
  const update = await lab.orch('service', 'update', '--env-add', 'X=1', 'dev');
  t.is(update.code, 1);
  t.regex(update.stderr, /does not allow/);
  t.regex(await lab.ok('cluster', 'inspect'), /not allowed/);
});

/** Files under `root` whose bytes hold `needle` (sockets, devices and unreadable files skipped). */
function filesHolding(root: string, needle: Buffer): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) {
        try {
          if (statSync(path).size < 64 * 1024 * 1024 && readFileSync(path).includes(needle)) found.push(path);
        } catch {
          // gone meanwhile (containers come and go), or not readable: nothing to find in it
        }
      }
    }
  };
  if (existsSync(root)) walk(root);
  return found;
}

test.serial('a secret: read at its target with its mode and owner; nowhere in clear on disk, in logs, in docker inspect or in etcd; only on the node that uses it; rm refused while used', async (t) => {
  const value = `s3cret-${randomBytes(12).toString('hex')}`;
  writeFileSync(join(dir, 'pw'), value);
  await lab.ok('secret', 'create', '--label', 'app=db', 'db-pass', join(dir, 'pw'));
  writeFileSync(join(dir, 'key'), `${value}-key`);
  await lab.ok('secret', 'create', 'api-key', join(dir, 'key'));
  t.false((await lab.ok('secret', 'inspect', 'db-pass')).includes(value), 'inspect shows no value');
  await lab.ok('service', 'create', '--name', 'uses-secret', ...onH1, '--secret', 'source=db-pass,target=/etc/app/pw,uid=65534,gid=65534,mode=0400', '--secret', 'api-key', ...sleeper);
  const c = await runningOn('uses-secret');
  t.is((await lab.exec('h1', c.Id, 'cat /etc/app/pw')).trim(), value);
  t.is((await lab.exec('h1', c.Id, 'cat /run/secrets/api-key')).trim(), `${value}-key`, 'the default target');
  t.regex(await lab.exec('h1', c.Id, 'ls -ln /etc/app/pw'), /^-r-------- +1 65534 +65534 /);
  t.regex(await lab.exec('h1', c.Id, 'grep " /etc/app/pw " /proc/mounts'), /^tmpfs /, 'on a tmpfs');

  const needle = Buffer.from(value);
  t.false(JSON.stringify(await lab.engine('h1').getContainer(c.Id).inspect()).includes(value), 'not in docker inspect');
  for (const h of lab.state.hosts) {
    t.deepEqual(filesHolding(h.dir, needle), [], `nothing under ${h.name}'s data (docker data root, orch state, logs)`);
  }
  const h2files = join(FILES_ROOT, hostKeyOfInode(lab.host('h2').netnsInode!));
  t.true(!existsSync(h2files) || readdirSync(h2files).length === 0, 'h2, which runs no task using it, holds none');
  const etcd = connectEtcd(lab.state.etcd.join(','), labEtcdTls(lab.state));
  try {
    const all = await etcd.getAll().prefix('').buffers();
    t.false(Object.values(all).some((v) => v.includes(needle)), 'not in clear in etcd');
  } finally {
    etcd.close();
  }

  const rm = await lab.orch('secret', 'rm', 'db-pass');
  t.is(rm.code, 1);
  t.regex(rm.stderr, /secret db-pass is used by service uses-secret; remove it from them first/);
  await lab.ok('service', 'update', '--secret-rm', 'db-pass', '--secret-add', 'source=db-pass,target=/etc/app/pw2', 'uses-secret');
  const next = await runningOn('uses-secret', c.Id);
  t.is((await lab.exec('h1', next.Id, 'cat /etc/app/pw2')).trim(), value);
  await lab.ok('service', 'rm', 'uses-secret');
  await lab.waitFor(async () => (await lab.containers('h1', 'uses-secret', true)).length === 0, 30_000, 'its containers gone');
  await lab.ok('secret', 'rm', 'db-pass', 'api-key');
  t.false((await lab.ok('secret', 'ls')).includes('db-pass'));
  const left = join(FILES_ROOT, hostKeyOfInode(lab.host('h1').netnsInode!));
  t.true(!existsSync(left) || readdirSync(left).length === 0, "the task's tmpfs went with it");
});

test.serial('a config is mounted at its target with its mode and content; inspect shows it', async (t) => {
  writeFileSync(join(dir, 'app.conf'), 'listen = 8080\n');
  await lab.ok('config', 'create', 'app-conf', join(dir, 'app.conf'));
  t.regex(await lab.ok('config', 'inspect', 'app-conf'), new RegExp(Buffer.from('listen = 8080\n').toString('base64')));
  await lab.ok('service', 'create', '--name', 'uses-config', ...onH1, '--config', 'source=app-conf,target=/etc/app.conf,mode=0440', ...sleeper);
  const c = await runningOn('uses-config');
  t.is(await lab.exec('h1', c.Id, 'cat /etc/app.conf'), 'listen = 8080\n');
  t.regex(await lab.exec('h1', c.Id, 'ls -ln /etc/app.conf'), /^-r--r----- /);
  const missing = await lab.orch('service', 'update', '--config-add', 'nope', 'uses-config');
  t.is(missing.code, 1);
  t.regex(missing.stderr, /config "nope" not found/);
});

test.serial('bad input: a one-line error, exit 1, and nothing changed', async (t) => {
  const before = await lab.ok('service', 'ls', '--format', 'json');
  for (const [args, why] of [
    [['service', 'create', '--name', 'bad', '--mount', 'type=nfs,target=/x', ...sleeper], /--mount: unknown type "nfs"/],
    [['service', 'create', '--name', 'bad', '--mount', 'type=volume,source=x', ...sleeper], /every mount needs target=/],
    [['service', 'create', '--name', 'bad', '--mount', 'type=bind,source=rel,target=/x', ...sleeper], /absolute host path/],
    [['service', 'create', '--name', 'bad', '--ulimit', 'nofile=abc', ...sleeper], /--ulimit: "nofile=abc"/],
    [['service', 'update', '--mount-rm', '/nope', 'db'], /--mount-rm: a mount at \/nope is not set on service db/],
    [['service', 'create', '--name', 'bad', '--secret', 'nope', ...sleeper], /secret "nope" not found/],
    [['secret', 'create', 'bad name', join(dir, 'pw')], /invalid secret name "bad name"/],
    [['secret', 'create', 'empty', '/nonexistent/file'], /cannot read the secret's value from \/nonexistent\/file \(ENOENT\)/],
  ] as const) {
    const r = await lab.orch(...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, why);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  t.is(await lab.ok('service', 'ls', '--format', 'json'), before);
});

test.serial('after its node restarts, a slot goes back to the node that holds its volume; volume rm removes a copy no task uses', async (t) => {
  t.timeout(180_000);
  await lab.ok('service', 'create', '--name', 'home', '--replicas', '2', '--restart-delay', '0s', '--stop-grace-period', '1s', '--mount', 'type=volume,source=hm-{{.Task.Slot}},target=/data', ...sleeper);
  let away: Docker.ContainerInfo | undefined;
  await lab.waitFor(async () => {
    [away] = await lab.containers('h2', 'home');
    return !!away && (await lab.containers('h1', 'home')).length === 1;
  }, 30_000, 'one task of home on each host');
  const slot = away!.Labels['orch.slot']!;
  const volume = `hm-${slot}`;
  await lab.exec('h2', away!.Id, 'echo precious > /data/f');

  // h2 dies: its slot starts on h1, on a new, empty copy of the volume.
  await lab.kill('h2');
  await lab.waitFor(async () => (await lab.containers('h1', 'home')).length === 2, 60_000, `slot ${slot} started on h1 while h2 is down`);
  const standIn = (await lab.containers('h1', 'home')).find((c) => c.Labels['orch.slot'] === slot)!;
  t.is((await lab.exec('h1', standIn.Id, 'ls -A /data')).trim(), '', 'the copy on h1 is new');

  // h2 is back: the slot goes home to its data, and the stand-in goes once it runs there.
  await lab.restart('h2');
  let back: Docker.ContainerInfo | undefined;
  await lab.waitFor(async () => {
    [back] = (await lab.containers('h2', 'home')).filter((c) => c.Labels['orch.slot'] === slot);
    return !!back && (await lab.containers('h1', 'home')).length === 1;
  }, 90_000, `slot ${slot} back on h2 and its stand-in gone from h1`);
  t.not(back!.Labels['orch.task'], away!.Labels['orch.task'], 'a new task: the one killed with h2 was replaced');
  t.is((await lab.exec('h2', back!.Id, 'cat /data/f')).trim(), 'precious', 'the slot reads what it wrote before the restart');

  // Two copies now: rm must be told which; the one in use is refused; the other goes.
  type Row = { hostname: string; volume: { name: string } };
  const holders = async () => (JSON.parse(await lab.ok('volume', 'ls', '--format', 'json')) as Row[]).filter((r) => r.volume.name === volume).map((r) => r.hostname).sort();
  await lab.waitFor(async () => (await holders()).join() === 'h1,h2', 40_000, `volume ls lists ${volume} on h1 and h2`);
  for (const [args, why] of [
    [['volume', 'rm', volume], new RegExp(`volume "${volume}" is on 2 nodes \\(h1, h2\\): say which with --node`)],
    [['volume', 'rm', '--node', 'h2', volume], new RegExp(`volume "${volume}" on h2 is in use by task `)],
    [['volume', 'rm', 'no-such-volume'], /no node has an orch volume "no-such-volume"/],
  ] as const) {
    const r = await lab.orch(...args);
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, why);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  t.is((await lab.ok('volume', 'rm', '--node', 'h1', volume)).trim(), volume);
  t.deepEqual(await holders(), ['h2'], 'gone from the list as soon as rm returns');
  await t.throwsAsync(lab.engine('h1').getVolume(volume).inspect(), { message: /no such volume/i }, 'and from the engine');
  t.is((await lab.exec('h2', back!.Id, 'cat /data/f')).trim(), 'precious', "h2's copy untouched");
  await lab.ok('service', 'rm', 'home');
});
