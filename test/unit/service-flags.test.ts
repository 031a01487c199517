// `orch service create` and `orch service update` as a user types them: the
// real commands (every flag, its name and its default) parse a command line,
// and the whole spec that comes out is compared. Bad values are refused with
// the flag named, in one line.
import test from 'ava';
import {
  ContainerSpec,
  EndpointSpec_Mode,
  Mount_Type,
  PortConfig_Protocol,
  PortConfig_PublishMode,
  RestartPolicy_Condition,
  ServiceSpec_Mode,
  UpdateConfig_FailureAction,
  UpdateConfig_Order,
  type ServiceSpec,
} from '../../proto/generated/orch.js';
import { shellWords } from '../../shared/words.js';
import { serviceCreateCommand, serviceUpdateCommand, specFromFlags, updatedSpec, type CreateFlags, type UpdateFlags } from '../../cli/spec-flags.js';

/** The spec and flags `orch service create ARGV` makes (throws what the command would print). */
function created(...argv: string[]): { spec: ServiceSpec; flags: CreateFlags } {
  let out: { spec: ServiceSpec; flags: CreateFlags } | undefined;
  serviceCreateCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .action((image: string, command: string[], flags: CreateFlags) => {
      out = { spec: specFromFlags(image, command, flags), flags };
    })
    .parse(argv, { from: 'user' });
  return out!;
}

/** The spec `orch service update web ARGV` asks for, from `cur`. */
function updated(cur: ServiceSpec, ...argv: string[]): ServiceSpec {
  let out: ServiceSpec | undefined;
  serviceUpdateCommand()
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .action((_ref: string, flags: UpdateFlags) => {
      out = updatedSpec(cur, flags);
    })
    .parse(['web', ...argv], { from: 'user' });
  return out!;
}

const words = (line: string) => shellWords(line, 'test');

const EVERY_CREATE_FLAG = words(
  '--name web --mode replicated --replicas 3 --constraint node.role==worker --constraint node.labels.zone==a --auto-rebalance --network front --network back ' +
    '-p 8080:80 -p published=9443,target=443,protocol=udp,mode=host -e A=1 -e B=2 -l team=web -l tier=front --container-label c=1 ' +
    '--mount type=volume,source=data,target=/data --mount type=tmpfs,target=/scratch -w /srv -u nobody --group audio --group video --hostname h-{{.Task.Slot}} ' +
    '--entrypoint "sh -c" --cap-add NET_ADMIN --cap-drop MKNOD --read-only --init --stop-signal SIGINT --sysctl net.core.somaxconn=1024 --ulimit nofile=10:20 -t ' +
    '--dns-search example.internal --dns-option ndots:2 --host db.local:10.0.0.5 --limit-pids 50 --privileged --device /dev/null:/dev/nul:rw ' +
    '--secret pw --secret source=key,target=k,uid=1,gid=2,mode=0400 --config source=cfg,target=/etc/cfg --replicas-max-per-node 2 ' +
    '--reserve-cpu 0.25 --reserve-memory 64m --limit-cpu 0.5 --limit-memory 128m --health-cmd true --health-interval 2s --health-timeout 1s --health-retries 3 ' +
    '--health-start-period 4s --endpoint-mode dnsrr --restart-condition on-failure --restart-delay 2s --restart-max-attempts 4 --restart-window 1m --stop-grace-period 3s ' +
    '--update-parallelism 2 --update-delay 1s --update-failure-action rollback --update-monitor 6s --update-max-failure-ratio 0.5 --update-order start-first ' +
    '--update-progress-deadline 2m --rollback-parallelism 0 --rollback-delay 0 --rollback-failure-action continue --rollback-monitor 0 --rollback-max-failure-ratio 1 ' +
    '--rollback-order stop-first --rollback-progress-deadline 0 -d --timeout 1m orch-test/httpd httpd -f',
);

const FULL: ServiceSpec = {
  name: 'web',
  labels: { team: 'web', tier: 'front' },
  mode: ServiceSpec_Mode.REPLICATED,
  replicas: 3,
  placement: { constraints: ['node.role==worker', 'node.labels.zone==a'], maxReplicas: 2 },
  autoRebalance: true,
  networks: ['front', 'back'],
  endpoint: {
    mode: EndpointSpec_Mode.DNSRR,
    ports: [
      { protocol: PortConfig_Protocol.TCP, targetPort: 80, publishedPort: 8080, publishMode: PortConfig_PublishMode.INGRESS, trafficPolicy: 0 },
      { protocol: PortConfig_Protocol.UDP, targetPort: 443, publishedPort: 9443, publishMode: PortConfig_PublishMode.HOST, trafficPolicy: 0 },
    ],
  },
  container: {
    image: 'orch-test/httpd',
    command: ['httpd', '-f'],
    env: ['A=1', 'B=2'],
    labels: { c: '1' },
    stopGracePeriodMs: 3000,
    resources: { limits: { nanoCpus: 500_000_000n, memoryBytes: 128n << 20n, pids: 50n }, reservations: { nanoCpus: 250_000_000n, memoryBytes: 64n << 20n, pids: 0n } },
    healthcheck: { test: ['CMD-SHELL', 'true'], intervalMs: 2000, timeoutMs: 1000, retries: 3, startPeriodMs: 4000 },
    entrypoint: ['sh', '-c'],
    hostname: 'h-{{.Task.Slot}}',
    dir: '/srv',
    user: 'nobody',
    groups: ['audio', 'video'],
    init: true,
    stopSignal: 'SIGINT',
    tty: true,
    readOnly: true,
    mounts: [
      { type: Mount_Type.VOLUME, source: 'data', target: '/data', readOnly: false, volumeOptions: undefined, tmpfsOptions: undefined },
      { type: Mount_Type.TMPFS, source: '', target: '/scratch', readOnly: false, volumeOptions: undefined, tmpfsOptions: { sizeBytes: 0n, mode: 0 } },
    ],
    hosts: ['10.0.0.5 db.local'],
    dnsConfig: { search: ['example.internal'], options: ['ndots:2'] },
    sysctls: { 'net.core.somaxconn': '1024' },
    capabilityAdd: ['NET_ADMIN'],
    capabilityDrop: ['MKNOD'],
    ulimits: [{ name: 'nofile', soft: 10n, hard: 20n }],
    privileged: true,
    devices: [{ pathOnHost: '/dev/null', pathInContainer: '/dev/nul', cgroupPermissions: 'rw' }],
    secrets: [
      { secretId: '', secretName: 'pw', file: { name: '', uid: 0, gid: 0, mode: 0 } },
      { secretId: '', secretName: 'key', file: { name: 'k', uid: 1, gid: 2, mode: 0o400 } },
    ],
    configs: [{ configId: '', configName: 'cfg', file: { name: '/etc/cfg', uid: 0, gid: 0, mode: 0 } }],
  },
  restart: { condition: RestartPolicy_Condition.RESTART_ON_FAILURE, delayMs: 2000, maxAttempts: 4, windowMs: 60_000 },
  updateConfig: { parallelism: 2, delayMs: 1000, failureAction: UpdateConfig_FailureAction.ROLLBACK, monitorMs: 6000, maxFailureRatio: 0.5, order: UpdateConfig_Order.START_FIRST, progressDeadlineMs: 120_000 },
  rollbackConfig: { parallelism: 0, delayMs: 0, failureAction: UpdateConfig_FailureAction.CONTINUE, monitorMs: 0, maxFailureRatio: 1, order: UpdateConfig_Order.STOP_FIRST, progressDeadlineMs: 0 },
  forceUpdate: 0n,
  dependsOn: [],
  aliases: [],
};

test('service create: every flag, as typed, reaches the spec', (t) => {
  const { spec, flags } = created(...EVERY_CREATE_FLAG);
  t.deepEqual(spec, FULL);
  t.deepEqual([flags.detach, flags.timeout], [true, '1m']);
});

test("service create with no flag: Docker's defaults", (t) => {
  const { spec, flags } = created('--name', 'web', 'orch-test/httpd');
  const rollout = { parallelism: 1, delayMs: 0, failureAction: UpdateConfig_FailureAction.PAUSE, monitorMs: 5000, maxFailureRatio: 0, order: UpdateConfig_Order.STOP_FIRST, progressDeadlineMs: 600_000 };
  t.deepEqual(spec, {
    name: 'web',
    labels: {},
    mode: ServiceSpec_Mode.REPLICATED,
    replicas: 1,
    placement: { constraints: [], maxReplicas: 0 },
    autoRebalance: false,
    networks: [],
    endpoint: { mode: EndpointSpec_Mode.VIP, ports: [] },
    // The proto's zero values, but for these:
    container: ContainerSpec.fromPartial({
      image: 'orch-test/httpd',
      stopGracePeriodMs: 10_000,
      resources: { limits: { nanoCpus: 0n, memoryBytes: 0n, pids: 0n }, reservations: { nanoCpus: 0n, memoryBytes: 0n, pids: 0n } },
      dnsConfig: { search: [], options: [] },
    }),
    restart: { condition: RestartPolicy_Condition.RESTART_ANY, delayMs: 5000, maxAttempts: 0, windowMs: 0 },
    updateConfig: rollout,
    rollbackConfig: rollout,
    forceUpdate: 0n,
    dependsOn: [],
    aliases: [],
  });
  t.deepEqual([flags.detach, flags.timeout], [undefined, '5m']);
  t.is(created('--name', 'web', '--mode', 'global', 'orch-test/httpd').spec.replicas, 0, 'a global service counts no replicas');
  t.deepEqual(created('--name', 'web', '--no-healthcheck', 'orch-test/httpd').spec.container!.healthcheck, { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 });
});

test('service update: every flag edits its field; what it does not name stays', (t) => {
  const argv = words(
    '--image orch-test/httpd:2 --args "httpd -v" --env-add B=3 --env-add C=4 --env-rm A --label-add tier=back --label-rm team --container-label-add d=2 ' +
      '--container-label-rm c --publish-add 7000:70 --publish-rm 8080 --network-add mid --network-rm front --constraint-add node.labels.ssd==true ' +
      '--constraint-rm node.role==worker --auto-rebalance false --force --replicas 5 --mount-add type=bind,source=/etc,target=/etc2,readonly --mount-rm /scratch ' +
      '-w "" -u root --group-add wheel --group-rm audio --hostname "" --entrypoint "" --cap-add MKNOD --cap-drop NET_ADMIN --read-only false --init false ' +
      '--stop-signal "" --sysctl-add net.ipv4.ip_forward=1 --sysctl-rm net.core.somaxconn --ulimit-add nproc=64 --ulimit-rm nofile --tty false ' +
      '--dns-search-add b.internal --dns-search-rm example.internal --dns-option-add edns0 --dns-option-rm ndots:2 --host-add cache:10.0.0.6 ' +
      '--host-rm db.local:10.0.0.5 --limit-pids 0 --privileged false --device-add /dev/zero --device-rm /dev/null --secret-add source=pw,target=p2 ' +
      '--secret-rm key --config-add cfg2 --config-rm cfg --replicas-max-per-node 0 --reserve-cpu 0 --limit-memory 256m --health-retries 5 --endpoint-mode vip ' +
      '--restart-condition none --restart-window 0s --update-parallelism 1 --rollback-order start-first',
  );
  const c = FULL.container!;
  t.deepEqual(updated(FULL, ...argv), {
    ...FULL,
    labels: { tier: 'back' },
    replicas: 5,
    placement: { constraints: ['node.labels.zone==a', 'node.labels.ssd==true'], maxReplicas: 0 },
    autoRebalance: false,
    networks: ['back', 'mid'],
    endpoint: { mode: EndpointSpec_Mode.VIP, ports: [FULL.endpoint!.ports[1]!, { protocol: PortConfig_Protocol.TCP, targetPort: 70, publishedPort: 7000, publishMode: PortConfig_PublishMode.INGRESS, trafficPolicy: 0 }] },
    container: {
      ...c,
      image: 'orch-test/httpd:2',
      command: ['httpd', '-v'],
      env: ['B=3', 'C=4'],
      labels: { d: '2' },
      resources: { limits: { ...c.resources!.limits!, memoryBytes: 256n << 20n, pids: 0n }, reservations: { ...c.resources!.reservations!, nanoCpus: 0n } },
      healthcheck: { ...c.healthcheck!, retries: 5 },
      entrypoint: [],
      hostname: '',
      dir: '',
      user: 'root',
      groups: ['video', 'wheel'],
      init: false,
      stopSignal: '',
      tty: false,
      readOnly: false,
      mounts: [c.mounts[0]!, { type: Mount_Type.BIND, source: '/etc', target: '/etc2', readOnly: true, volumeOptions: undefined, tmpfsOptions: undefined }],
      hosts: ['10.0.0.6 cache'],
      dnsConfig: { search: ['b.internal'], options: ['edns0'] },
      sysctls: { 'net.ipv4.ip_forward': '1' },
      capabilityAdd: ['MKNOD'],
      capabilityDrop: ['NET_ADMIN'],
      ulimits: [{ name: 'nproc', soft: 64n, hard: 64n }],
      privileged: false,
      devices: [{ pathOnHost: '/dev/zero', pathInContainer: '', cgroupPermissions: '' }],
      secrets: [{ secretId: '', secretName: 'pw', file: { name: 'p2', uid: 0, gid: 0, mode: 0 } }],
      configs: [{ configId: '', configName: 'cfg2', file: { name: '', uid: 0, gid: 0, mode: 0 } }],
    },
    restart: { ...FULL.restart!, condition: RestartPolicy_Condition.RESTART_NONE, windowMs: 0 },
    updateConfig: { ...FULL.updateConfig!, parallelism: 1 },
    rollbackConfig: { ...FULL.rollbackConfig!, order: UpdateConfig_Order.START_FIRST },
    forceUpdate: 1n,
  });
  t.deepEqual(updated(FULL), FULL, 'no flag: the same spec');
  t.deepEqual(FULL.container!.env, ['A=1', 'B=2'], 'the spec read is not changed');
  const prefixed = { ...FULL, networks: ['n0a1b2c3', 'n9z8y7'] };
  t.deepEqual(updated(prefixed, '--network-rm', 'n0a1').networks, ['n9z8y7'], '--network-rm takes an id prefix');
  t.deepEqual(updated(FULL, '--publish-rm', '9443/udp', '--publish-rm', '8080:80').endpoint!.ports, [], '--publish-rm takes PORT/PROTO or the mapping');
  t.deepEqual(updated(FULL, '--health-cmd', 'false').container!.healthcheck, { ...c.healthcheck!, test: ['CMD-SHELL', 'false'] }, 'a new command keeps the timings');
  t.deepEqual(updated(FULL, '--update-delay', '0', '--auto-rebalance', 'true', '--rollback-failure-action', 'pause').updateConfig!.delayMs, 0);
  t.true(updated({ ...FULL, autoRebalance: false }, '--auto-rebalance', 'true').autoRebalance);
  const none = updated(FULL, '--no-healthcheck');
  t.throws(() => updated(none, '--health-retries', '2'), { message: '--health-interval/-timeout/-retries/-start-period need --health-cmd' }, 'a disabled check has no timings to tune');
  t.deepEqual(updated(none, '--health-cmd', 'true').container!.healthcheck, { test: ['CMD-SHELL', 'true'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 });
});

test('service create: bad flags are refused in one line that names the flag', (t) => {
  const create = (line: string) => created(...words(`--name web ${line} orch-test/httpd`));
  for (const [line, message] of [
    ['--mode sometimes', '--mode: "sometimes" is not one of replicated, global'],
    ['--mode global --replicas 2', '--replicas can only be used with replicated mode'],
    ['--replicas many', '--replicas: "many" is not a replica count; give a whole number from 0 to 10000'],
    ['--endpoint-mode lb', '--endpoint-mode: "lb" is not one of vip, dnsrr'],
    ['--restart-condition sometimes', '--restart-condition: "sometimes" is not one of any, on-failure, none'],
    ['--restart-window soon', '--restart-window: "soon" is not a duration; write it like 500ms, 5s or 1m30s'],
    ['--update-failure-action retry', '--update-failure-action: "retry" is not one of pause, continue, rollback'],
    ['--rollback-failure-action rollback', '--rollback-failure-action: a rollback cannot roll back; use pause or continue'],
    ['--update-max-failure-ratio 1.5', '--update-max-failure-ratio: "1.5" is not a ratio from 0 to 1 (e.g. 0.2)'],
    ['--update-max-failure-ratio -1', '--update-max-failure-ratio: "-1" is not a ratio from 0 to 1 (e.g. 0.2)'],
    ['--update-order random', '--update-order: "random" is not one of stop-first, start-first'],
    ['--rollback-delay soon', '--rollback-delay: "soon" is not a duration; write it like 500ms, 5s or 1m30s'],
    ['--no-healthcheck --health-cmd true', '--no-healthcheck conflicts with --health-* options'],
    ['--no-healthcheck --health-retries 2', '--no-healthcheck conflicts with --health-* options'],
    ['--health-interval 2s', '--health-interval/-timeout/-retries/-start-period need --health-cmd'],
    ['--health-timeout 2s', '--health-interval/-timeout/-retries/-start-period need --health-cmd'],
    ['--health-start-period 2s', '--health-interval/-timeout/-retries/-start-period need --health-cmd'],
    ['--entrypoint "a | b"', '--entrypoint: "a | b" holds shell operators; quote them'],
    ['--mount type=volume,source,target=/d', '--mount: "source" needs a value (source=…) in "type=volume,source,target=/d"'],
    ['--mount type=volume,source=,target=/d', '--mount: "source" needs a value (source=…) in "type=volume,source=,target=/d"'],
    ['--mount type=bind,source=/a,target=/b,ro=maybe', '--mount ro: "maybe" is not true or false'],
    ['--mount type=tmpfs,target=/t,tmpfs-mode=999', '--mount tmpfs-mode: "999" is not an octal mode such as 1777'],
    ['--mount type=tmpfs,target=/t,volume-nocopy', '--mount: volume-label and volume-nocopy are for type=volume, not tmpfs'],
    ['--mount type=bind,source=/a,target=/b,volume-label=a=b', '--mount: volume-label and volume-nocopy are for type=volume, not bind'],
    ['--mount type=volume,source=a,target=/b,tmpfs-mode=700', '--mount: tmpfs-size and tmpfs-mode are for type=tmpfs, not volume'],
    ['--host :10.0.0.5', '--host: ":10.0.0.5" is not HOST:IP, e.g. db.local:10.0.0.5'],
    ['--host db.local:', '--host: "db.local:" is not HOST:IP, e.g. db.local:10.0.0.5'],
    ['--device /dev/a:/dev/b:/dev/c', '--device: "/dev/a:/dev/b:/dev/c" is not /dev/HOST[:/dev/CONTAINER][:rwm]'],
    ['--device :rw', '--device: ":rw" is not /dev/HOST[:/dev/CONTAINER][:rwm]'],
    ['--limit-pids lots', '--limit-pids: "lots" is not a whole number (0: no limit)'],
    ['--secret target=/x', '--secret: "target=/x" names no source; use source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0444], or NAME'],
    ['--secret source=a,uid=me', '--secret: uid "me" is not a number'],
    ['--config source=a,gid=-1', '--config: gid "-1" is not a number'],
    ['--secret source=a,mode=rw', '--secret: mode "rw" is not an octal mode such as 0444'],
    ['--secret source=a,owner=me', '--secret: unknown field "owner"; use source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0444], or NAME'],
    ['--secret source=a,target', '--secret: "target" is not KEY=VALUE in "source=a,target"; use source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0444], or NAME'],
    ['--secret source=a,target=', '--secret: "target=" is not KEY=VALUE in "source=a,target="; use source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0444], or NAME'],
  ] as const) {
    t.throws(() => create(line), { message }, line);
  }
  t.is(create('--secret src=a,mode=444').spec.container!.secrets[0]!.file!.mode, 0o444, 'src= and a mode without its leading 0');
  t.deepEqual(create('--secret " spaced "').spec.container!.secrets.map((s) => s.secretName), ['spaced']);
  t.deepEqual(create('--mount type=volume,src=a,dst=/b,volume-nocopy=false,volume-label=x').spec.container!.mounts[0]!.volumeOptions, { noCopy: false, labels: { x: '' } });
  t.is(create('--mount type=volume,source=a,destination=/b,volume-nocopy=true').spec.container!.mounts[0]!.volumeOptions!.noCopy, true);
  t.is(create('--mount type=bind,source=/a,target=/b,readonly=true').spec.container!.mounts[0]!.readOnly, true);
  t.is(create('--mount type=bind,source=/a,target=/b,readonly=0').spec.container!.mounts[0]!.readOnly, false);
  t.is(create('--mount type=bind,source=/a,target=/b,readonly=1').spec.container!.mounts[0]!.readOnly, true);
  t.deepEqual(create('--device /dev/sda:rwm').spec.container!.devices, [{ pathOnHost: '/dev/sda', pathInContainer: '', cgroupPermissions: 'rwm' }]);
  t.deepEqual(create('--host db:10.0.0.1').spec.container!.hosts, ['10.0.0.1 db']);
  t.is(create('--limit-pids " 7 "').spec.container!.resources!.limits!.pids, 7n);
});

test('service update: removing what the service does not have, or a bad value, is refused in one line', (t) => {
  for (const [line, message] of [
    ['--env-rm NOPE', '--env-rm: NOPE is not set on service web'],
    ['--label-rm nope', '--label-rm: nope is not set on service web'],
    ['--container-label-rm nope', '--container-label-rm: nope is not set on service web'],
    ['--constraint-rm node.role==manager', '--constraint-rm: node.role==manager is not set on service web'],
    ['--network-rm mid', '--network-rm: service web is not on network mid'],
    ['--publish-rm 8081', '--publish-rm: service web does not publish 8081/tcp'],
    ['--publish-rm 8080/udp', '--publish-rm: service web does not publish 8080/udp'],
    ['--sysctl-rm kernel.x', '--sysctl-rm: kernel.x is not set on service web'],
    ['--ulimit-rm nproc', '--ulimit-rm: ulimit nproc is not set on service web'],
    ['--dns-search-rm nope', '--dns-search-rm: search domain nope is not set on service web'],
    ['--dns-option-rm nope', '--dns-option-rm: DNS option nope is not set on service web'],
    ['--host-rm db:10.0.0.9', '--host-rm: host entry "10.0.0.9 db" is not set on service web'],
    ['--device-rm /dev/zero', '--device-rm: device /dev/zero is not set on service web'],
    ['--secret-rm nope', '--secret-rm: secret nope is not set on service web'],
    ['--config-rm nope', '--config-rm: config nope is not set on service web'],
    ['--auto-rebalance maybe', '--auto-rebalance: "maybe" is not true or false'],
    ['--tty yes', '--tty: "yes" is not true or false'],
    ['--privileged 2', '--privileged: "2" is not true or false'],
    ['--init on', '--init: "on" is not true or false'],
  ] as const) {
    t.throws(() => updated(FULL, ...words(line)), { message }, line);
  }
  t.throws(() => updated({ ...FULL, mode: ServiceSpec_Mode.GLOBAL, replicas: 0 }, '--replicas', '2'), { message: '--replicas can only be used with replicated mode' });
  t.deepEqual(updated(FULL, '--env-add', 'A=9').container!.env, ['B=2', 'A=9'], 'a variable added again replaces the one of its name');
  t.deepEqual([updated(FULL, '--tty', '1').container!.tty, updated(FULL, '--read-only', '0').container!.readOnly, updated(FULL, '--privileged', 'true').container!.privileged], [true, false, true]);
});

// What `--help` says is part of the interface: a change to a flag's name, its
// default or its words shows here and is accepted with `npx ava --update-snapshots`.
test('service create --help and service update --help', (t) => {
  t.snapshot(serviceCreateCommand().helpInformation(), 'orch service create --help');
  t.snapshot(serviceUpdateCommand().helpInformation(), 'orch service update --help');
});
