// Compose files as orch reads them: interpolation, .env, anchors, several
// files merged, extends, the schema's errors at their line, and the mapping
// of every key Swarm honours onto orch's spec.
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Dependency_Condition, EndpointSpec_Mode, Mount_Type, PortConfig_Protocol, PortConfig_PublishMode, RestartPolicy_Condition, ServiceSpec_Mode, UpdateConfig_FailureAction, UpdateConfig_Order } from '../../proto/generated/orch.js';
import { readStack } from '../../compose/index.js';
import { interpolate } from '../../compose/load.js';
import { composeDirs } from '../helpers/compose-files.js';

const { root, files, remove } = composeDirs('orch-compose-');
test.after.always(remove);

const fail = (why: string) => new Error(why);

test('interpolation: ${VAR}, defaults, alternatives, required, $$ and bare $VAR', (t) => {
  const env = { A: 'a', EMPTY: '' };
  t.is(interpolate('${A}-$A-$$A', env, fail), 'a-a-$A');
  t.is(interpolate('${NOPE:-d} ${EMPTY:-d} ${EMPTY-d} ${NOPE-d}', env, fail), 'd d  d');
  t.is(interpolate('${A:+set}${NOPE:+set}', env, fail), 'set');
  t.throws(() => interpolate('${NOPE:?give NOPE}', env, fail), { message: 'variable NOPE is required: give NOPE' });
  t.throws(() => interpolate('${A', env, fail), { message: /never closed/ });
  t.throws(() => interpolate('${1A}', env, fail), { message: /is not a variable/ });
  const unset: string[] = [];
  t.is(interpolate('x${GONE}y', env, fail, (n) => unset.push(n)), 'xy');
  t.deepEqual(unset, ['GONE']);
});

test('variables come from the environment over the .env file; an unquoted number stays a number', (t) => {
  const f = files({
    'docker-compose.yml': 'services:\n  web:\n    image: "img:${TAG}"\n    deploy:\n      replicas: ${N}\n    environment:\n      WHO: ${WHO}\n',
    '.env': 'TAG=1.0\nN=4\nWHO="from file"\n',
  });
  const { plan } = readStack([f['docker-compose.yml']!], 'app', { WHO: 'from env' });
  t.is(plan.services[0]!.container!.image, 'img:1.0');
  t.is(plan.services[0]!.replicas, 4);
  t.deepEqual(plan.services[0]!.container!.env, ['WHO=from env']);
});

test('several files merge in order: mappings by key, lists appended or replaced as Compose says', (t) => {
  const f = files({
    'a.yml': 'version: "3.8"\nservices:\n  web:\n    image: img:1\n    command: [a, b]\n    environment: [X=1, Y=1]\n    ports: ["80:80"]\n    volumes: ["data:/d", "/tmp:/t"]\nvolumes:\n  data: {}\n',
    'b.yml': 'services:\n  web:\n    image: img:2\n    command: c\n    environment:\n      Y: "2"\n    ports: ["81:81"]\n    volumes: ["/srv:/t"]\n',
  });
  const { plan } = readStack([f['a.yml']!, f['b.yml']!], 'app', {});
  const c = plan.services[0]!.container!;
  t.is(c.image, 'img:2');
  t.deepEqual(c.command, ['c'], 'a command is replaced, not appended');
  t.deepEqual(c.env, ['X=1', 'Y=2']);
  t.deepEqual(plan.services[0]!.endpoint!.ports.map((p) => p.publishedPort), [80, 81]);
  t.deepEqual(c.mounts.map((m) => `${m.source}:${m.target}`), ['app_data:/d', '/srv:/t'], 'a mount is replaced by its target');
});

test('anchors, merge keys and extends (in the file and from another), with a circle refused', (t) => {
  const f = files({
    'base.yml': 'services:\n  common:\n    image: img:base\n    environment: { FROM: base }\n',
    'docker-compose.yml': [
      'x-opts: &opts',
      '  stop_grace_period: 3s',
      'services:',
      '  web:',
      '    <<: *opts',
      '    extends: { service: common, file: base.yml }',
      '    environment: { OWN: "1" }',
      '  worker:',
      '    extends: web',
      '    command: work',
      '',
    ].join('\n'),
  });
  const { plan } = readStack([f['docker-compose.yml']!], 'app', {});
  const web = plan.services.find((s) => s.name === 'app_web')!.container!;
  t.is(web.image, 'img:base');
  t.is(web.stopGracePeriodMs, 3000);
  t.deepEqual(web.env.sort(), ['FROM=base', 'OWN=1']);
  const worker = plan.services.find((s) => s.name === 'app_worker')!.container!;
  t.is(worker.image, 'img:base');
  t.deepEqual(worker.command, ['work']);
  const loop = files({ 'docker-compose.yml': 'services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n' });
  t.throws(() => readStack([loop['docker-compose.yml']!], 'app', {}), { message: /extends goes round in a circle/ });
});

test('schema errors name the file, the line and the key', (t) => {
  const f = files({ 'docker-compose.yml': 'services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n    healthcheck:\n      interval: soon\n    imagee: typo\n' });
  const err = t.throws(() => readStack([f['docker-compose.yml']!], 'app', {}));
  const lines = err.message.split('\n');
  t.true(lines.some((l) => /docker-compose\.yml:5: services\.web\.deploy\.replicas: must be an integer$/.test(l)), err.message);
  t.true(lines.some((l) => /docker-compose\.yml:7: services\.web\.healthcheck\.interval: "soon" is not a valid duration$/.test(l)), err.message);
  t.true(lines.some((l) => /docker-compose\.yml:8: services\.web\.imagee: is not a known key here/.test(l)), err.message);
});

test('every key Swarm honours maps onto the spec', (t) => {
  const f = files({
    'docker-compose.yml': `
services:
  web:
    image: img
    entrypoint: /bin/sh -c
    command: ["echo", "hi"]
    env_file: [web.env]
    environment: { B: "2" }
    ports:
      - "8080:80/udp"
      - { target: 443, published: 8443, mode: host }
    networks:
      back: { aliases: [www] }
    volumes:
      - data:/data:ro
      - ./conf:/conf
      - { type: tmpfs, target: /scratch, tmpfs: { size: 67108864 } }
    tmpfs: /run
    secrets: [pw, { source: pw2, target: other, mode: 0400, uid: "10" }]
    configs: [{ source: cfg, target: /etc/cfg }]
    healthcheck: { test: "true", interval: 2s, timeout: 1s, retries: 2, start_period: 5s }
    stop_grace_period: 1m30s
    stop_signal: SIGINT
    user: "1000:1000"
    working_dir: /app
    hostname: "{{.Task.Slot}}.web"
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    sysctls: [net.core.somaxconn=1024]
    ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: 64 }
    read_only: true
    init: true
    tty: true
    extra_hosts: ["db.local:10.0.0.5"]
    labels: { team: web }
    depends_on: { db: { condition: service_healthy } }
    deploy:
      replicas: 2
      endpoint_mode: dnsrr
      labels: [tier=front]
      placement: { constraints: [node.role==worker], max_replicas_per_node: 1 }
      resources: { limits: { cpus: "0.5", memory: 128M }, reservations: { cpus: "0.25", memory: 64M } }
      restart_policy: { condition: on-failure, delay: 2s, max_attempts: 3, window: 1m }
      update_config: { parallelism: 2, delay: 3s, failure_action: rollback, monitor: 10s, max_failure_ratio: 0.5, order: start-first }
      rollback_config: { parallelism: 0, order: stop-first }
  db:
    image: db
    deploy: { mode: global }
networks:
  back: { external: true, name: shared-back }
volumes:
  data: {}
secrets:
  pw: { file: ./pw.txt }
  pw2: { file: ./pw.txt }
configs:
  cfg: { external: true }
`,
    'web.env': 'A=1\n# comment\nB=1\n',
    'pw.txt': 'hunter2',
  });
  const { plan } = readStack([f['docker-compose.yml']!], 'app', {});
  t.deepEqual(plan.services.map((s) => s.name), ['app_db', 'app_web'], 'dependencies first');
  const s = plan.services[1]!;
  const c = s.container!;
  t.deepEqual([c.entrypoint, c.command], [['/bin/sh', '-c'], ['echo', 'hi']]);
  t.deepEqual(c.env, ['A=1', 'B=2'], 'environment over env_file');
  t.deepEqual(s.endpoint!.ports, [
    { targetPort: 80, publishedPort: 8080, protocol: PortConfig_Protocol.UDP, publishMode: PortConfig_PublishMode.INGRESS, trafficPolicy: 0 },
    { targetPort: 443, publishedPort: 8443, protocol: PortConfig_Protocol.TCP, publishMode: PortConfig_PublishMode.HOST, trafficPolicy: 0 },
  ]);
  t.is(s.endpoint!.mode, EndpointSpec_Mode.DNSRR);
  t.deepEqual(s.networks, ['shared-back'], 'an external network keeps its name');
  t.deepEqual(s.aliases, [{ network: 'shared-back', names: ['web', 'www'] }]);
  t.deepEqual(c.mounts.map((m) => [m.type, m.source.replace(/.*orch-compose-[^/]+\/\d+/, '.'), m.target, m.readOnly]), [
    [Mount_Type.VOLUME, 'app_data', '/data', true],
    [Mount_Type.BIND, './conf', '/conf', false],
    [Mount_Type.TMPFS, '', '/scratch', false],
    [Mount_Type.TMPFS, '', '/run', false],
  ]);
  t.is(c.mounts[2]!.tmpfsOptions!.sizeBytes, 64n << 20n);
  t.deepEqual(c.mounts[0]!.volumeOptions?.labels, { 'com.docker.stack.namespace': 'app' }, "the stack's volume is labelled with it");
  t.deepEqual(c.secrets.map((r) => [r.secretName, r.file!.name, r.file!.mode, r.file!.uid]), [['app_pw', '/run/secrets/pw', 0, 0], ['app_pw2', '/run/secrets/other', 0o400, 10]]);
  t.deepEqual(c.configs.map((r) => [r.configName, r.file!.name]), [['cfg', '/etc/cfg']]);
  t.deepEqual(c.healthcheck, { test: ['CMD-SHELL', 'true'], intervalMs: 2000, timeoutMs: 1000, retries: 2, startPeriodMs: 5000 });
  t.deepEqual([c.stopGracePeriodMs, c.stopSignal, c.user, c.dir, c.hostname], [90_000, 'SIGINT', '1000:1000', '/app', '{{.Task.Slot}}.web']);
  t.deepEqual([c.capabilityAdd, c.capabilityDrop, c.sysctls], [['NET_ADMIN'], ['ALL'], { 'net.core.somaxconn': '1024' }]);
  t.deepEqual(c.ulimits, [{ name: 'nofile', soft: 1024n, hard: 2048n }, { name: 'nproc', soft: 64n, hard: 64n }]);
  t.deepEqual([c.readOnly, c.init, c.tty, c.hosts], [true, true, true, ['10.0.0.5 db.local']]);
  t.deepEqual(c.labels, { team: 'web', 'com.docker.stack.namespace': 'app' });
  t.deepEqual(s.labels, { tier: 'front', 'com.docker.stack.namespace': 'app' });
  t.deepEqual(s.dependsOn, [{ service: 'app_db', condition: Dependency_Condition.HEALTHY }]);
  t.is(s.replicas, 2);
  t.deepEqual(s.placement, { constraints: ['node.role==worker'], maxReplicas: 1 });
  t.deepEqual(c.resources, { limits: { nanoCpus: 500_000_000n, memoryBytes: 128n << 20n, pids: 0n }, reservations: { nanoCpus: 250_000_000n, memoryBytes: 64n << 20n, pids: 0n } });
  t.deepEqual(s.restart, { condition: RestartPolicy_Condition.RESTART_ON_FAILURE, delayMs: 2000, maxAttempts: 3, windowMs: 60_000 });
  t.deepEqual(s.updateConfig, { parallelism: 2, delayMs: 3000, failureAction: UpdateConfig_FailureAction.ROLLBACK, monitorMs: 10_000, maxFailureRatio: 0.5, order: UpdateConfig_Order.START_FIRST, progressDeadlineMs: 600_000 });
  t.is(s.rollbackConfig!.parallelism, 0);
  t.is(plan.services[0]!.mode, ServiceSpec_Mode.GLOBAL);
  t.deepEqual(plan.secrets.map((x) => [x.name, Buffer.from(x.data!).toString(), x.labels['com.docker.stack.namespace']]), [['app_pw', 'hunter2', 'app'], ['app_pw2', 'hunter2', 'app']]);
  t.deepEqual(plan.configs.map((x) => [x.name, x.data]), [['cfg', undefined]], 'external: expected to exist, not made');
  t.deepEqual(plan.networks.map((n) => [n.spec.name, n.external]), [['shared-back', true], ['app_default', false]], 'db, with no networks:, joins the stack default');
});

test('keys orch does not carry out are warned about by name; unknown references and missing images are errors at their key', (t) => {
  const f = files({ 'docker-compose.yml': 'services:\n  web:\n    image: x\n    build: .\n    network_mode: host\n    restart: always\n    deploy:\n      placement:\n        preferences: [{ spread: node.labels.zone }]\n' });
  const { plan } = readStack([f['docker-compose.yml']!], 'app', {});
  t.deepEqual(plan.warnings.map((w) => w.split(':')[0]), ['services.web.build', 'services.web.network_mode', 'services.web.restart', 'services.web.deploy.placement.preferences']);
  const newer = files({ 'docker-compose.yml': 'name: shop\nservices:\n  web:\n    image: x\n    develop: { watch: [] }\n' });
  t.deepEqual(readStack([newer['docker-compose.yml']!], 'app', {}).plan.warnings.map((w) => w.split(':')[0]), ['name', 'services.web.develop'], 'keys of a newer Compose Specification than the schema: warned, not refused');
  for (const [text, why] of [
    ['services:\n  web:\n    build: .\n', /:2: services\.web: needs image: orch does not build images/],
    ['services:\n  web:\n    image: x\n    volumes: ["data:/d"]\n', /:4: services\.web\.volumes\.0: volume "data" is not declared/],
    ['services:\n  web:\n    image: x\n    depends_on: [db]\n', /:4: services\.web\.depends_on\.db: there is no service "db" in the file/],
    ['services:\n  web:\n    image: x\n    secrets: [pw]\n', /:4: services\.web\.secrets\.0: secret "pw" is not declared/],
    ['services:\n  Web:\n    image: x\n', /:2: services\.Web: "app_Web" cannot be a service name/],
    ['services:\n  web:\n    image: x\n    ports: ["127.0.0.1:80:80"]\n', /:4: services\.web\.ports\.0: "127\.0\.0\.1:80:80": a host IP is not supported/],
    ['services:\n  web:\n    image: x\n    deploy:\n      restart_policy: { condition: sometimes }\n', /:5: services\.web\.deploy\.restart_policy\.condition: "sometimes" is not one of any, on-failure, none/],
    ['services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n', /depends_on goes round in a circle: app_a → app_b → app_a/],
    ['networks:\n  n:\n    driver: bridge\nservices:\n  web:\n    image: x\n    networks: [n]\n', /:3: networks\.n\.driver: driver "bridge" is not supported/],
  ] as const) {
    const bad = files({ 'docker-compose.yml': text });
    t.throws(() => readStack([bad['docker-compose.yml']!], 'app', {}), { message: why }, text);
  }
});

const stack = (text: string, env: NodeJS.ProcessEnv = {}, more: Record<string, string> = {}) => readStack([files({ 'docker-compose.yml': text, ...more })['docker-compose.yml']!], 'app', env).plan;

/** Each text is refused, with a message that matches its pattern. */
function refused(t: ExecutionContext, cases: ReadonlyArray<readonly [string, RegExp]>): void {
  for (const [text, message] of cases) t.throws(() => stack(text), { message }, JSON.stringify(text));
}

test('every key orch does not carry out is named with why, once', (t) => {
  const keys = [
    'build: .', 'network_mode: host', 'container_name: one', 'links: [db]', 'external_links: [other]', 'restart: always', 'logging: { driver: syslog }', 'security_opt: [x]',
    'pid: host', 'ipc: host', 'cgroup_parent: x', 'devices: [/dev/null]', 'dns: 1.1.1.1', 'domainname: example', 'mac_address: 02:42:ac:11:00:02', 'userns_mode: host',
    'volumes_from: [db]', 'blkio_config: { weight: 10 }', 'cpu_shares: 2', 'cpu_quota: 2', 'cpu_period: 2', 'cpus: 1', 'cpuset: "0"', 'mem_limit: 1g', 'mem_reservation: 1g',
    'memswap_limit: 1g', 'shm_size: 1g', 'oom_kill_disable: true', 'oom_score_adj: 1', 'isolation: default', 'platform: linux', 'profiles: [a]', 'pull_policy: always', 'scale: 2',
    'runtime: runc', 'stdin_open: true', 'storage_opt: { size: 1g }', 'credential_spec: { file: x }', 'expose: ["80"]', 'privileged: true', 'pids_limit: 10',
  ];
  const plan = stack(`services:\n  web:\n    image: x\n${keys.map((k) => `    ${k}\n`).join('')}  db:\n    image: x\n`);
  t.deepEqual(plan.warnings.map((w) => w.slice(0, w.indexOf(':'))), keys.map((k) => `services.web.${k.slice(0, k.indexOf(':'))}`));
  for (const w of plan.warnings) t.regex(w, /^services\.web\.\w+: [a-z].*[a-z):]; ignored$/, 'each says why');
  t.deepEqual(plan.warnings.slice(0, 2), ['services.web.build: orch does not build images; build and push the image, then give image:; ignored', 'services.web.network_mode: tasks always join overlay networks; ignored']);
  t.deepEqual(stack('services:\n  web:\n    image: x\n    deploy:\n      resources:\n        reservations:\n          generic_resources: [{ discrete_resource_spec: { kind: gpu, value: 1 } }]\n').warnings, [
    'services.web.deploy.resources.reservations.generic_resources: not supported; ignored',
  ]);
});

test('networks: declared, external in each spelling, one subnet; options orch ignores are named', (t) => {
  const plan = stack(
    [
      'services:',
      '  web:',
      '    image: x',
      '    networks: [front, old, named, plain]',
      'networks:',
      '  front:',
      '    driver: overlay',
      '    driver_opts: { a: b }',
      '    attachable: true',
      '    internal: true',
      '    enable_ipv6: false',
      '    labels: [team=web]',
      '    ipam: { config: [{ subnet: 10.9.0.0/24, gateway: 10.9.0.1 }] }',
      '  old: { external: { name: legacy } }',
      '  named: { external: true, name: shared }',
      '  plain: { external: true }',
      '',
    ].join('\n'),
  );
  t.deepEqual(plan.networks, [
    { spec: { name: 'app_front', driver: 'overlay', subnet: '10.9.0.0/24', gateway: '10.9.0.1', labels: { team: 'web', 'com.docker.stack.namespace': 'app' } }, external: false },
    { spec: { name: 'legacy', driver: 'overlay', subnet: '', gateway: '', labels: {} }, external: true },
    { spec: { name: 'shared', driver: 'overlay', subnet: '', gateway: '', labels: {} }, external: true },
    { spec: { name: 'plain', driver: 'overlay', subnet: '', gateway: '', labels: {} }, external: true },
  ]);
  t.deepEqual(plan.warnings, ['networks.front.driver_opts: not supported; ignored', 'networks.front.attachable: not supported; ignored', 'networks.front.internal: not supported; ignored', 'networks.front.enable_ipv6: not supported; ignored']);
  t.deepEqual(plan.services[0]!.aliases.map((a) => a.network), ['app_front', 'legacy', 'shared', 'plain']);
  t.deepEqual(stack('services:\n  web:\n    image: x\nnetworks:\n  unused: {}\n').networks.map((n) => n.spec.name), ['app_default'], 'a network no service joins is not made');
  t.deepEqual(stack('services:\n  web:\n    image: x\n    networks:\n      default: {}\n').networks.map((n) => n.spec.name), ['app_default']);
  refused(t, [
    ['services:\n  web:\n    image: x\n    networks: [nope]\n', /:4: services\.web\.networks\.nope: network "nope" is not declared under the top-level networks key$/],
    ['services:\n  web:\n    image: x\n    networks: [n]\nnetworks:\n  n:\n    ipam: { config: [{ subnet: 10.1.0.0/24 }, { subnet: 10.2.0.0/24 }] }\n', /:7: networks\.n\.ipam\.config: an orch network has one subnet; give one entry$/],
  ]);
});

test('secrets, configs and volumes: from a file, external, or a local volume; what cannot be made is refused at its key', (t) => {
  const plan = stack(
    [
      'services:',
      '  web:',
      '    image: x',
      '    secrets: [{ source: s, mode: 288 }, { source: e, target: other, uid: "1", gid: "2", mode: 0400 }]',
      '    configs: [c]',
      '    volumes: [data:/d, ext:/e:ro, "named:/n:nocopy", /anon, { type: volume, source: data, target: /l, read_only: true, volume: { nocopy: true } }]',
      'secrets:',
      '  s: { file: ./s.txt, labels: { k: v } }',
      '  e: { external: true, name: prod-key }',
      'configs:',
      '  c: { file: ./s.txt, name: conf-v1 }',
      'volumes:',
      '  data: { driver: local, driver_opts: { type: none }, labels: [a=b] }',
      '  ext: { external: true }',
      '  named: { name: shared-data }',
      '',
    ].join('\n'),
    {},
    { 's.txt': 'sss' },
  );
  t.deepEqual(plan.secrets.map((s) => [s.name, s.data && Buffer.from(s.data).toString(), s.labels]), [['app_s', 'sss', { k: 'v', 'com.docker.stack.namespace': 'app' }], ['prod-key', undefined, {}]]);
  t.deepEqual(plan.configs.map((s) => [s.name, s.data && Buffer.from(s.data).toString()]), [['conf-v1', 'sss']]);
  const c = plan.services[0]!.container!;
  t.deepEqual(c.secrets.map((s) => [s.secretName, s.file]), [['app_s', { name: '/run/secrets/s', uid: 0, gid: 0, mode: 0o440 }], ['prod-key', { name: '/run/secrets/other', uid: 1, gid: 2, mode: 0o400 }]]);
  t.deepEqual(c.configs.map((s) => [s.configName, s.file!.name]), [['conf-v1', '/c']]);
  t.deepEqual(c.mounts, [
    { type: Mount_Type.VOLUME, source: 'app_data', target: '/d', readOnly: false, volumeOptions: { noCopy: false, labels: { a: 'b', 'com.docker.stack.namespace': 'app' } }, tmpfsOptions: undefined },
    { type: Mount_Type.VOLUME, source: 'ext', target: '/e', readOnly: true, volumeOptions: undefined, tmpfsOptions: undefined },
    { type: Mount_Type.VOLUME, source: 'shared-data', target: '/n', readOnly: false, volumeOptions: { noCopy: true, labels: { 'com.docker.stack.namespace': 'app' } }, tmpfsOptions: undefined },
    { type: Mount_Type.VOLUME, source: '', target: '/anon', readOnly: false, volumeOptions: undefined, tmpfsOptions: undefined },
    { type: Mount_Type.VOLUME, source: 'app_data', target: '/l', readOnly: true, volumeOptions: { noCopy: true, labels: { a: 'b', 'com.docker.stack.namespace': 'app' } }, tmpfsOptions: undefined },
  ]);
  t.deepEqual(plan.warnings, ['volumes.data.driver_opts: not supported; ignored']);
  const binds = stack('services:\n  web:\n    image: x\n    volumes: ["~/conf:/c", "/abs:/a", { type: bind, source: ./rel, target: /r }, { type: tmpfs, target: /t }]\n    tmpfs: ["/run:size=64m", /tmp]\n', { HOME: '/home/me' });
  t.deepEqual(binds.services[0]!.container!.mounts.map((m) => [m.type, m.source.replace(/^\/.*orch-compose-[^/]+\/\d+/, '.'), m.target, m.tmpfsOptions?.sizeBytes]), [
    [Mount_Type.BIND, '/home/me/conf', '/c', undefined],
    [Mount_Type.BIND, '/abs', '/a', undefined],
    [Mount_Type.BIND, './rel', '/r', undefined],
    [Mount_Type.TMPFS, '', '/t', 0n],
    [Mount_Type.TMPFS, '', '/run', 64n << 20n],
    [Mount_Type.TMPFS, '', '/tmp', 0n],
  ]);
  refused(t, [
    ['services:\n  web:\n    image: x\n    configs: [c]\nconfigs:\n  c: { name: c }\n', /:6: configs\.c: give file: \(a path to its value\) or external: true$/],
    ['services:\n  web:\n    image: x\n    secrets: [s]\nsecrets:\n  s: { file: ./missing.txt }\n', /:6: secrets\.s\.file: cannot read .*missing\.txt \(ENOENT\)$/],
    ['services:\n  web:\n    image: x\nvolumes:\n  v: { driver: nfs }\n', /:5: volumes\.v\.driver: driver "nfs" is not supported; orch volumes are the engine's local volumes$/],
    ['services:\n  web:\n    image: x\n    configs: [nope]\n', /:4: services\.web\.configs\.0: config "nope" is not declared under the top-level configs key$/],
    ['services:\n  web:\n    image: x\n    volumes: [{ type: npipe, source: a, target: /b }]\n', /services\.web\.volumes\.0\.type: type "npipe" is not supported; use volume, bind or tmpfs$/],
  ]);
});

test('ports, health, restart and rollout: each spelling Compose allows, and each bad value at its key', (t) => {
  const web = stack(
    [
      'services:',
      '  web:',
      '    image: x',
      '    ports: [80, "81", "7000-7001:70-71", { target: 90 }, { target: 91, published: 9091, protocol: udp }, { target: 92, published: 9092, mode: host }]',
      '    healthcheck: { test: [CMD, wget, -q, localhost] }',
      '    environment: { SET: null, UNSET: null, EMPTY: "" }',
      '    extra_hosts: { db.local: 10.0.0.5 }',
      '    dns_search: example.internal',
      '    user: "1000"',
      '    init: false',
      '    ulimits: { nofile: 10 }',
      '    deploy:',
      '      restart_policy: { max_attempts: 2 }',
      '      update_config: { order: start-first }',
      '',
    ].join('\n'),
    { SET: 'from the shell' },
  ).services[0]!;
  t.deepEqual(web.endpoint!.ports.map((p) => [p.targetPort, p.publishedPort, p.protocol, p.publishMode]), [
    [80, 0, PortConfig_Protocol.TCP, PortConfig_PublishMode.INGRESS],
    [81, 0, PortConfig_Protocol.TCP, PortConfig_PublishMode.INGRESS],
    [70, 7000, PortConfig_Protocol.TCP, PortConfig_PublishMode.INGRESS],
    [71, 7001, PortConfig_Protocol.TCP, PortConfig_PublishMode.INGRESS],
    [90, 0, PortConfig_Protocol.TCP, PortConfig_PublishMode.INGRESS],
    [91, 9091, PortConfig_Protocol.UDP, PortConfig_PublishMode.INGRESS],
    [92, 9092, PortConfig_Protocol.TCP, PortConfig_PublishMode.HOST],
  ]);
  const c = web.container!;
  t.deepEqual(c.healthcheck, { test: ['CMD', 'wget', '-q', 'localhost'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 });
  t.deepEqual(c.env, ['SET=from the shell', 'EMPTY='], "a variable with no value takes the deploying shell's, or is left out");
  t.deepEqual([c.hosts, c.dnsConfig!.search, c.user, c.init, c.ulimits], [['10.0.0.5 db.local'], ['example.internal'], '1000', false, [{ name: 'nofile', soft: 10n, hard: 10n }]]);
  t.deepEqual(web.restart, { condition: RestartPolicy_Condition.RESTART_ANY, delayMs: 5000, maxAttempts: 2, windowMs: 0 });
  t.deepEqual(web.updateConfig, { parallelism: 1, delayMs: 0, failureAction: UpdateConfig_FailureAction.PAUSE, monitorMs: 5000, maxFailureRatio: 0, order: UpdateConfig_Order.START_FIRST, progressDeadlineMs: 600_000 });
  t.deepEqual(stack('services:\n  web:\n    image: x\n    healthcheck: { disable: true }\n').services[0]!.container!.healthcheck, { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 });
  t.is(stack('services:\n  web:\n    image: x\n').services[0]!.container!.init, undefined, "no init: key: the engine's default");
  t.deepEqual(stack('services:\n  a:\n    image: x\n    ports: ["80:80"]\n  b:\n    image: x\n    ports: ["80:80/udp"]\n').services.map((s) => s.endpoint!.ports[0]!.publishedPort), [80, 80], 'the same number over TCP and UDP is two ports');
  refused(t, [
    ['services:\n  a:\n    image: x\n    ports: ["80:80"]\n  b:\n    image: x\n    ports: [{ target: 81, published: 80 }]\n', /:7: services\.b\.ports: port 80\/tcp is also published by service a$/],
    ['services:\n  a:\n    image: x\n    ports: ["53:53/udp"]\n  b:\n    image: x\n    ports: ["53:53/udp"]\n', /services\.b\.ports: port 53\/udp is also published by service a$/],
    ['services:\n  web:\n    image: x\n    healthcheck: { test: [] }\n', /:4: services\.web\.healthcheck\.test: give the command to run \(or disable: true\)$/],
    ['services:\n  web:\n    image: x\n    deploy:\n      resources: { limits: { cpus: lots } }\n', /:5: services\.web\.deploy\.resources\.limits\.cpus: /],
    ['services:\n  web:\n    image: x\n    deploy:\n      update_config: { failure_action: retry }\n', /services\.web\.deploy\.update_config\.failure_action: "retry" is not one of pause, continue, rollback$/],
    ['services:\n  web:\n    image: x\n    deploy:\n      mode: sometimes\n', /services\.web\.deploy\.mode: /],
    ['services:\n  web:\n    image: x\n    command: "a | b"\n', /:4: services\.web\.command: "a \| b" holds shell operators; quote them$/],
    ['services:\n  web:\n    image: x\n    env_file: missing.env\n', /services\.web\.env_file\.0: cannot read .*missing\.env \(ENOENT\)$/],
  ]);
});

test('reading: no file, an unreadable one, bad YAML, a file that is no mapping, no services; .env spellings', (t) => {
  t.throws(() => readStack([], 'app', {}), { message: 'give a Compose file: -c docker-compose.yml' });
  t.throws(() => readStack([join(root, 'nope.yml')], 'app', {}), { message: `${join(root, 'nope.yml')}: cannot read it (ENOENT)` });
  refused(t, [
    ['services:\n  web: [\n', /docker-compose\.yml:\d+: invalid YAML: /],
    ['- a\n- b\n', /docker-compose\.yml:1: the file must be a mapping with a services key$/],
    ['just text\n', /docker-compose\.yml:1: the file must be a mapping with a services key$/],
    ['', /docker-compose\.yml:1: the file must be a mapping with a services key$/],
    ['services: {}\n', /docker-compose\.yml: no services: a stack needs at least one$/],
    ['services:\n  web:\n    image: x\n    extends: nope\n', /:4: services\.web\.extends: there is no service "nope" in .*docker-compose\.yml to extend$/],
  ]);
  const f = files({ 'docker-compose.yml': 'services:\n  web:\n    image: "${A}:${B}:${C}:${D}"\n', '.env': '# a comment\nexport A=a\nB = "b"\nC=\'c\'\n  # D=no\nnot a line\n' });
  t.is(readStack([f['docker-compose.yml']!], 'app', {}).plan.services[0]!.container!.image, 'a:b:c:', '.env: export, spaces, quotes and comments');
  const warned = readStack([f['docker-compose.yml']!], 'app', {}).plan.warnings;
  t.deepEqual(warned.map((w) => w.replace(/^.*docker-compose\.yml:/, '')), ['3: variable D is not set; it stands for an empty string']);
  const octal = stack('services:\n  web:\n    image: x\n    secrets: [{ source: s, mode: 0440 }]\nsecrets:\n  s: { file: ./s.txt }\n', {}, { 's.txt': 'x' });
  t.is(octal.services[0]!.container!.secrets[0]!.file!.mode, 0o440, 'a mode written 0440 is octal, as in Compose');
});

test('merging files: services by name, mappings key by key, lists by what they name; extends merges the same way', (t) => {
  const f = files({
    'a.yml': 'services:\n  web:\n    image: x\n    labels: [a=1, b=1]\n    secrets: [s, t]\n    deploy: { labels: [x=1] }\n  db:\n    image: db\nsecrets:\n  s: { file: ./a.yml }\n  t: { file: ./a.yml }\n',
    'b.yml': 'services:\n  web:\n    labels: { b: "2" }\n    secrets: [{ source: s, target: renamed }]\n    deploy: { labels: { y: "2" } }\n    healthcheck: { test: [CMD, a] }\n  cache:\n    image: cache\n',
    'c.yml': 'services:\n  web:\n    healthcheck: { test: [CMD, b] }\n',
  });
  const { plan } = readStack([f['a.yml']!, f['b.yml']!, f['c.yml']!], 'app', {});
  t.deepEqual(plan.services.map((s) => s.name), ['app_web', 'app_db', 'app_cache']);
  const web = plan.services[0]!;
  t.deepEqual(web.container!.labels, { a: '1', b: '2', 'com.docker.stack.namespace': 'app' });
  t.deepEqual(web.labels, { x: '1', y: '2', 'com.docker.stack.namespace': 'app' });
  t.deepEqual(web.container!.secrets.map((s) => s.file!.name), ['/run/secrets/t', '/run/secrets/renamed'], 'a secret is replaced by its source');
  t.deepEqual(web.container!.healthcheck!.test, ['CMD', 'b'], "a healthcheck's test is replaced");
  const ext = files({ 'docker-compose.yml': 'services:\n  base:\n    image: x\n    configs: [c]\n    environment: [A=1]\n  web:\n    extends: base\n    configs: [{ source: c, target: /etc/c }]\n    environment: [B=2]\nconfigs:\n  c: { file: ./docker-compose.yml }\n' });
  const w = readStack([ext['docker-compose.yml']!], 'app', {}).plan.services.find((s) => s.name === 'app_web')!.container!;
  t.deepEqual([w.env, w.configs.map((x) => x.file!.name)], [['A=1', 'B=2'], ['/etc/c']]);
});

test('keys of newer Compose files: each named with why, then left out; bad values that pass the schema are refused at their key', (t) => {
  const top = ['name: shop', 'include: [other.yml]', 'models: {}'];
  const service = ['develop: {}', 'annotations: {}', 'attach: false', 'label_file: x', 'provider: {}', 'models: []', 'gpus: all', 'post_start: []', 'pre_stop: []', 'use_api_socket: true'];
  const plan = stack(`${top.join('\n')}\nservices:\n  web:\n    image: x\n${service.map((k) => `    ${k}\n`).join('')}`);
  const key = (k: string) => k.slice(0, k.indexOf(':'));
  t.deepEqual(plan.warnings.map((w) => w.slice(0, w.indexOf(':'))), [...top.map(key), ...service.map((k) => `services.web.${key(k)}`)]);
  for (const w of plan.warnings) t.regex(w, /^[\w.]+: [a-z].*[a-z]; ignored$/, 'each says why');
  t.is(plan.warnings[1], 'include: not supported: merge files with several -c; ignored');
  refused(t, [
    ['services:\n  web:\n    image: x\n    deploy:\n      resources: { limits: { memory: lots } }\n', /:5: services\.web\.deploy\.resources\.limits\.memory: /],
    ['services:\n  web:\n    image: x\n    deploy:\n      resources: { reservations: { cpus: lots } }\n', /:5: services\.web\.deploy\.resources\.reservations\.cpus: /],
    ['services:\n  web:\n    image: x\n    deploy:\n      resources: { reservations: { memory: lots } }\n', /:5: services\.web\.deploy\.resources\.reservations\.memory: /],
    ['services:\n  web:\n    image: x\n    deploy:\n      endpoint_mode: ipvs\n', /:5: services\.web\.deploy\.endpoint_mode: "ipvs" is not one of vip, dnsrr$/],
    ['services:\n  web:\n    image: x\n    entrypoint: "a && b"\n', /:4: services\.web\.entrypoint: "a && b" holds shell operators; quote them$/],
    ['services:\n  web:\n    image: x\n    volumes: [{ type: tmpfs, target: /t, tmpfs: { size: lots } }]\n', /:4: services\.web\.volumes\.0\.tmpfs\.size: /],
    ['services:\n  web:\n    image: x\n    ports: [{ target: 80, published: 99999 }]\n', /services\.web\.ports\.0\.published: /],
    ['services:\n  web:\n    image: "${TAG:?set TAG}"\n', /docker-compose\.yml:3: variable TAG is required: set TAG$/],
    ['services:\n  web:\n    image: "${TAG?}"\n', /docker-compose\.yml:3: variable TAG is required: it is not set$/],
    ['services:\n  web:\n    image: x\n    stop_grace_period: soon\n', /:4: services\.web\.stop_grace_period: /],
    ['services:\n  web:\n    image: x\n    deploy:\n      replicas: 100000\n', /services\.web: /],
  ]);
});

test('the smaller spellings: lists or mappings, nulls, short and long volumes, external volumes', (t) => {
  const web = stack(
    [
      'services:',
      '  web:',
      '    image: x',
      '    labels: { a: null, b: 2 }',
      '    extra_hosts: ["db=10.0.0.5", "cache:10.0.0.6"]',
      '    dns_opt: [ndots:1]',
      '    group_add: [10, wheel]',
      '    working_dir: /w',
      '    volumes: ["data:/d:ro,nocopy", "./rel:/r:ro", "ext:/e", { type: volume, target: /anon }, { type: bind, source: /abs, target: /b, read_only: true }]',
      '    tmpfs: "/run:size=1k"',
      '    deploy:',
      '      restart_policy: { delay: 1s, window: 2s }',
      '      update_config: { delay: 3s, monitor: 4s, order: start-first, parallelism: 3, max_failure_ratio: 0.25 }',
      '      rollback_config: { failure_action: continue }',
      '    healthcheck: { test: "true", interval: 1s, timeout: 2s, start_period: 3s }',
      'volumes:',
      '  data: {}',
      '  ext: { external: true, name: outside }',
      '',
    ].join('\n'),
  ).services[0]!;
  const c = web.container!;
  t.deepEqual(c.labels, { a: '', b: '2', 'com.docker.stack.namespace': 'app' });
  t.deepEqual([c.hosts, c.dnsConfig, c.groups, c.dir], [['10.0.0.5 db', '10.0.0.6 cache'], { search: [], options: ['ndots:1'] }, ['10', 'wheel'], '/w']);
  t.deepEqual(c.mounts.map((m) => [m.type, m.source.replace(/^\/.*orch-compose-[^/]+\/\d+/, '.'), m.target, m.readOnly, m.volumeOptions?.noCopy, m.tmpfsOptions?.sizeBytes]), [
    [Mount_Type.VOLUME, 'app_data', '/d', true, true, undefined],
    [Mount_Type.BIND, './rel', '/r', true, undefined, undefined],
    [Mount_Type.VOLUME, 'outside', '/e', false, undefined, undefined],
    [Mount_Type.VOLUME, '', '/anon', false, undefined, undefined],
    [Mount_Type.BIND, '/abs', '/b', true, undefined, undefined],
    [Mount_Type.TMPFS, '', '/run', false, undefined, 1024n],
  ]);
  t.deepEqual([web.restart!.delayMs, web.restart!.windowMs], [1000, 2000]);
  t.deepEqual(web.updateConfig, { parallelism: 3, delayMs: 3000, failureAction: UpdateConfig_FailureAction.PAUSE, monitorMs: 4000, maxFailureRatio: 0.25, order: UpdateConfig_Order.START_FIRST, progressDeadlineMs: 600_000 });
  t.is(web.rollbackConfig!.failureAction, UpdateConfig_FailureAction.CONTINUE);
  t.deepEqual(c.healthcheck, { test: ['CMD-SHELL', 'true'], intervalMs: 1000, timeoutMs: 2000, retries: 0, startPeriodMs: 3000 });
  t.deepEqual(stack('services:\n  web:\n    image: x\n    entrypoint: ["a b"]\n').services[0]!.container!.entrypoint, ['a b'], 'a list is taken word for word');
});

test('every duration and name is refused at its own key; external in each spelling, a bad one refused', (t) => {
  const svc = (lines: string) => `services:\n  web:\n    image: x\n${lines}`;
  for (const [text, key] of [
    [svc('    deploy:\n      restart_policy: { delay: soon }\n'), 'deploy.restart_policy.delay'],
    [svc('    deploy:\n      restart_policy: { window: soon }\n'), 'deploy.restart_policy.window'],
    [svc('    deploy:\n      update_config: { delay: soon }\n'), 'deploy.update_config.delay'],
    [svc('    deploy:\n      update_config: { monitor: soon }\n'), 'deploy.update_config.monitor'],
    [svc('    deploy:\n      rollback_config: { delay: soon }\n'), 'deploy.rollback_config.delay'],
    [svc('    healthcheck: { test: "true", interval: soon }\n'), 'healthcheck.interval'],
    [svc('    healthcheck: { test: "true", timeout: soon }\n'), 'healthcheck.timeout'],
    [svc('    healthcheck: { test: "true", start_period: soon }\n'), 'healthcheck.start_period'],
  ] as const) {
    const err = t.throws(() => stack(text), undefined, key);
    // The key named once, at its line, and the parser's complaint without its own key in front.
    t.regex(err.message, new RegExp(`docker-compose\\.yml:\\d+: services\\.web\\.${key.replace(/\./g, '\\.')}: "?soon"? `), key);
    t.notRegex(err.message, /: [a-z_]+: "?soon/, key);
  }
  t.throws(() => readStack([files({ 'docker-compose.yml': svc('') })['docker-compose.yml']!], 'Bad Name', {}), { message: /^invalid stack name "Bad Name": use / });
  t.throws(() => stack(svc('    ports: ["127.0.0.1:80:80"]\n')), { message: /services\.web\.ports\.0: "127\.0\.0\.1:80:80": a host IP is not supported; a published port answers on every node$/ });
  const ext = stack(
    [
      'services:',
      '  web:',
      '    image: x',
      '    user: "0"',
      '    networks: [a, b, c]',
      '    secrets: [s, t]',
      'networks:',
      '  a: { external: { name: outside-a } }',
      '  b: { external: {}, name: outside-b }',
      '  c: { external: {} }',
      'secrets:',
      '  s: { external: { name: outside-s } }',
      '  t: { external: {} }',
      '',
    ].join('\n'),
  );
  t.deepEqual(ext.networks.map((n) => [n.spec.name, n.external]), [['outside-a', true], ['outside-b', true], ['c', true]]);
  t.deepEqual(ext.secrets.map((s) => s.name), ['outside-s', 't']);
  t.is(ext.services[0]!.container!.user, '0');
  t.is(stack(svc('')).services[0]!.container!.user, '', 'no user: the image decides');
  refused(t, [
    ['services:\n  web:\n    image: x\n    secrets: [s]\nsecrets:\n  s: { external: { other: 1 } }\n', /:6: secrets\.s\.external: must be true \(or name the object\)$/],
  ]);
  const tmp = stack(svc('    tmpfs: ["/a:size=10", "/b:mode=1777,size=2k"]\n')).services[0]!.container!.mounts;
  t.deepEqual(tmp.map((m) => [m.target, m.tmpfsOptions?.sizeBytes]), [['/a', 10n], ['/b', 2048n]]);
});
