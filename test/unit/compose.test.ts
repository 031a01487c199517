// Compose files as orch reads them: interpolation, .env, anchors, several
// files merged, extends, the schema's errors at their line, and the mapping
// of every key Swarm honours onto orch's spec.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Dependency_Condition, EndpointSpec_Mode, Mount_Type, PortConfig_Protocol, PortConfig_PublishMode, RestartPolicy_Condition, ServiceSpec_Mode, UpdateConfig_FailureAction, UpdateConfig_Order } from '../../proto/generated/orch.js';
import { readStack } from '../../compose/index.js';
import { interpolate } from '../../compose/load.js';

const root = mkdtempSync(join(tmpdir(), 'orch-compose-'));
test.after.always(() => rmSync(root, { recursive: true, force: true }));
let made = 0;

/** Writes files into a fresh directory (under this file's own temporary one); returns the path of each. */
function files(contents: Record<string, string>): Record<string, string> {
  const dir = join(root, String(made++));
  mkdirSync(dir);
  return Object.fromEntries(Object.entries(contents).map(([name, text]) => (writeFileSync(join(dir, name), text), [name, join(dir, name)])));
}

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
