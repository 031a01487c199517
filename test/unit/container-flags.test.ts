// Container options in Docker's spelling: `--mount` and the other container
// flags of create become a spec; update edits it with -add/-rm; bad values
// are refused with the flag named; placeholders are filled in per task.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Mount_Type, Task, type ServiceSpec } from '../../proto/generated/orch.js';
import { parseMount } from '../../cli/container-flags.js';
import { CREATE_DEFAULTS, specFromFlags, updatedSpec, type CreateFlags, type UpdateFlags } from '../../cli/spec-flags.js';
import { containerOptions } from '../../agent/exec/container-config.js';
import { templateContext } from '../../shared/templates.js';
import { validateServiceSpec } from '../../shared/spec.js';

const flags = (over: Partial<CreateFlags> = {}): CreateFlags => ({ ...CREATE_DEFAULTS, name: 'web', ...over });
const create = (over: Partial<CreateFlags>) => specFromFlags('orch-test/httpd', [], flags(over));

/** Update flags as commander fills them when only `over` is given. */
function update(cur: ServiceSpec, over: Partial<UpdateFlags>): ServiceSpec {
  const lists = ['envAdd', 'envRm', 'labelAdd', 'labelRm', 'containerLabelAdd', 'containerLabelRm', 'publishAdd', 'publishRm', 'networkAdd', 'networkRm', 'constraintAdd', 'constraintRm',
    'mountAdd', 'mountRm', 'groupAdd', 'groupRm', 'capAdd', 'capDrop', 'sysctlAdd', 'sysctlRm', 'ulimitAdd', 'ulimitRm', 'dnsSearchAdd', 'dnsSearchRm', 'dnsOptionAdd', 'dnsOptionRm',
    'hostAdd', 'hostRm', 'deviceAdd', 'deviceRm', 'secretAdd', 'secretRm', 'configAdd', 'configRm'] as const;
  const empty = Object.fromEntries(lists.map((k) => [k, []])) as unknown as UpdateFlags;
  return updatedSpec(cur, { ...empty, healthcheck: true, timeout: '5m', ...over });
}

test('--mount in Docker spelling: volume, bind, tmpfs, with their options', (t) => {
  const v = parseMount('type=volume,source=data-{{.Task.Slot}},target=/data,volume-label=team=db,volume-nocopy');
  t.is(v.type, Mount_Type.VOLUME);
  t.is(v.source, 'data-{{.Task.Slot}}');
  t.is(v.target, '/data');
  t.deepEqual(v.volumeOptions, { noCopy: true, labels: { team: 'db' } });
  const b = parseMount('type=bind,src=/etc/hostname,dst=/host/name,readonly');
  t.deepEqual([b.type, b.source, b.target, b.readOnly], [Mount_Type.BIND, '/etc/hostname', '/host/name', true]);
  t.false(parseMount('type=bind,source=/srv,target=/srv,ro=false').readOnly);
  const m = parseMount('type=tmpfs,target=/scratch,tmpfs-size=64m,tmpfs-mode=1770');
  t.deepEqual(m.tmpfsOptions, { sizeBytes: 64n * 1024n * 1024n, mode: 0o1770 });
  t.is(parseMount('source=cache,target=/cache').type, Mount_Type.VOLUME, 'volume is the default type');
});

test('bad mounts are refused, saying what is wrong', (t) => {
  t.throws(() => parseMount('type=nfs,target=/x'), { message: /unknown type "nfs"; use volume, bind or tmpfs/ });
  t.throws(() => parseMount('type=bind,source=/x,target=/y,colour=red'), { message: /unknown field "colour"/ });
  t.throws(() => parseMount('type=bind,source=/x,target=/y,tmpfs-size=1m'), { message: /tmpfs-size and tmpfs-mode are for type=tmpfs/ });
  t.throws(() => create({ mount: ['type=volume,source=data'] }), { message: /every mount needs target=/ });
  t.throws(() => create({ mount: ['type=bind,source=relative/path,target=/x'] }), { message: /absolute host path/ });
  t.throws(() => create({ mount: ['type=volume,source=a,target=data'] }), { message: /absolute path/ });
  t.throws(() => create({ mount: ['type=volume,source=a,target=/d', 'type=tmpfs,target=/d'] }), { message: /same target/ });
  t.throws(() => create({ mount: ['type=volume,source=data-{{.Task.Number}},target=/d'] }), { message: /unknown placeholder \{\{\.Task\.Number\}\}/ });
  t.throws(() => create({ mount: ['type=tmpfs,source=x,target=/d'] }), { message: /a tmpfs mount has no source/ });
});

test('the container flags of create become the spec', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-envfile-'));
  writeFileSync(join(dir, 'app.env'), '# comment\n\nFROM_FILE=1\n# HIDDEN=1\n  TRIMMED=1  \r\nPATH\nORCH_NOT_SET_ANYWHERE\nSHARED=file\n');
  const c = create({
    workdir: '/srv', user: 'nobody:nogroup', group: ['audio'], hostname: '{{.Service.Name}}-{{.Task.Slot}}', entrypoint: 'sh -c "exec httpd -f"',
    envFile: [join(dir, 'app.env')], env: ['SHARED=flag'], capAdd: ['NET_ADMIN'], capDrop: ['MKNOD'], readOnly: true, init: true, stopSignal: 'SIGINT',
    sysctl: ['net.core.somaxconn=1024'], ulimit: ['nofile=1024:2048', 'nproc=64'], tty: true, dnsSearch: ['example.internal'], dnsOption: ['ndots:2'],
    host: ['db.local:10.0.0.5'], limitPids: '100',
  }).container!;
  t.is(c.dir, '/srv');
  t.is(c.user, 'nobody:nogroup');
  t.deepEqual(c.groups, ['audio']);
  t.deepEqual(c.entrypoint, ['sh', '-c', 'exec httpd -f']);
  t.deepEqual(c.env, ['FROM_FILE=1', 'TRIMMED=1', `PATH=${process.env.PATH}`, 'SHARED=file', 'SHARED=flag'], '--env-file first, --env after (the later wins in Docker); a bare name takes this shell\'s value, if it has one');
  t.deepEqual([c.capabilityAdd, c.capabilityDrop, c.readOnly, c.init, c.stopSignal, c.tty], [['NET_ADMIN'], ['MKNOD'], true, true, 'SIGINT', true]);
  t.deepEqual(c.sysctls, { 'net.core.somaxconn': '1024' });
  t.deepEqual(c.ulimits.map((u) => [u.name, u.soft, u.hard]), [['nofile', 1024n, 2048n], ['nproc', 64n, 64n]]);
  t.deepEqual(c.dnsConfig, { search: ['example.internal'], options: ['ndots:2'] });
  t.deepEqual(c.hosts, ['10.0.0.5 db.local']);
  t.is(c.resources?.limits?.pids, 100n);
  const engine = containerOptions(c, templateContext(Task.fromPartial({ id: 'tid', serviceId: 'sid', serviceName: 'web', slot: 3 }), { id: 'nid', hostname: 'h1' }));
  t.is(engine.Hostname, 'web-3', 'placeholders filled in for the task');
  t.deepEqual(engine.HostConfig?.ExtraHosts, ['db.local:10.0.0.5'], "the Engine's HOST:IP");
  t.deepEqual(engine.HostConfig?.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: 64, Hard: 64 }]);
  t.is(engine.HostConfig?.PidsLimit, 100);
  t.is(engine.HostConfig?.Init, true);
  t.is(containerOptions(create({}).container!, templateContext(Task.fromPartial({ id: 't', serviceId: 's', serviceName: 'web', slot: 1 }), { id: 'n', hostname: 'h1' })).HostConfig?.Init, undefined, "no --init: the engine's default");
});

test('bad container flags are refused with the flag named', (t) => {
  t.throws(() => create({ ulimit: ['nofile=abc'] }), { message: /--ulimit: "nofile=abc" is not NAME=SOFT\[:HARD\]/ });
  t.throws(() => create({ ulimit: ['files=10'] }), { message: /unknown limit "files"/ });
  t.throws(() => create({ ulimit: ['nofile=20:10'] }), { message: /soft limit 20 is above the hard limit 10/ });
  t.throws(() => create({ host: ['db.local'] }), { message: /--host: "db.local" is not HOST:IP/ });
  t.throws(() => create({ host: ['db.local:not-an-ip'] }), { message: /is not a hostname and an IP address/ });
  t.throws(() => create({ device: ['dev/null'] }), { message: /device paths must be absolute/ });
  t.throws(() => create({ limitPids: '-1' }), { message: /--limit-pids/ });
  t.throws(() => create({ hostname: '{{.Node.Name}}' }), { message: /unknown placeholder/ });
  t.throws(() => create({ capAdd: ['net admin'] }), { message: /not a capability name/ });
  t.throws(() => create({ stopSignal: 'now please' }), { message: /--stop-signal/ });
  t.throws(() => create({ envFile: ['/nonexistent/app.env'] }), { message: /--env-file: cannot read \/nonexistent\/app.env \(ENOENT\)/ });
});

test('update edits the container options, leaving what it does not name', (t) => {
  const cur = create({ mount: ['type=volume,source=data,target=/data', 'type=tmpfs,target=/tmp'], capAdd: ['NET_ADMIN'], ulimit: ['nofile=10'], workdir: '/srv', group: ['audio'] });
  const next = update(cur, { mountAdd: ['type=bind,source=/etc,target=/data,readonly'], mountRm: ['/tmp'], capDrop: ['NET_ADMIN'], ulimitAdd: ['nofile=20:30'], readOnly: 'true', init: 'false', tty: 'true' });
  const c = next.container!;
  t.deepEqual(c.mounts.map((m) => [m.type, m.target, m.readOnly]), [[Mount_Type.BIND, '/data', true]], 'replaced by target; the tmpfs removed');
  t.deepEqual([c.capabilityAdd, c.capabilityDrop], [[], ['NET_ADMIN']], 'dropping a capability takes it off the add list');
  t.deepEqual(c.ulimits.map((u) => [u.name, u.soft, u.hard]), [['nofile', 20n, 30n]]);
  t.deepEqual([c.readOnly, c.init, c.tty, c.dir, c.groups], [true, false, true, '/srv', ['audio']]);
  t.notThrows(() => validateServiceSpec(next));
  t.throws(() => update(cur, { mountRm: ['/nowhere'] }), { message: /--mount-rm: a mount at \/nowhere is not set on service web/ });
  t.throws(() => update(cur, { groupRm: ['video'] }), { message: /--group-rm: group video is not set/ });
  t.throws(() => update(cur, { readOnly: 'maybe' }), { message: /--read-only: "maybe" is not true or false/ });
  t.deepEqual(update(cur, { entrypoint: '' }).container!.entrypoint, [], '"" goes back to the image\'s entrypoint');
});
