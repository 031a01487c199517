// A whole service spec, as the manager checks it: each rule refuses what
// breaks it with its own one-line error and lets through what is right.
import test from 'ava';
import { Dependency_Condition, Mount_Type, ServiceSpec, ServiceSpec_Mode, UpdateConfig_FailureAction, type DeepPartial } from '../../proto/generated/orch.js';
import { DEFAULT_RESTART, DEFAULT_UPDATE, MAX_REPLICAS, NAME_RULE, parseReplicas, validateName, validateServiceSpec, withDefaults } from '../../shared/spec.js';

type Spec = ServiceSpec;

/** A valid spec, changed by `over`. */
const spec = (over: DeepPartial<Spec> = {}, container: DeepPartial<NonNullable<Spec['container']>> = {}): Spec =>
  ServiceSpec.fromPartial({ name: 'web', replicas: 2, ...over, container: { image: 'orch-test/httpd:2', ...container } });

test('a valid spec passes, with every optional part present', (t) => {
  t.notThrows(() => validateServiceSpec(spec()));
  t.notThrows(() =>
    validateServiceSpec(
      spec(
        {
          replicas: MAX_REPLICAS,
          labels: { team: 'a' },
          placement: { constraints: ['node.role==worker'], maxReplicas: 2 },
          endpoint: { ports: [{ targetPort: 80, publishedPort: 8080 }] },
          updateConfig: { ...DEFAULT_UPDATE, maxFailureRatio: 1 },
          rollbackConfig: { ...DEFAULT_UPDATE, maxFailureRatio: 0 },
          dependsOn: [{ service: 'db', condition: Dependency_Condition.STARTED }],
          aliases: [{ network: 'n1', names: ['db.internal', 'x'] }],
        },
        { env: ['A=1', 'discovery.type=single-node'], healthcheck: { test: ['CMD', 'true'], intervalMs: 1000, timeoutMs: 1000, retries: 1, startPeriodMs: 0 }, resources: { limits: { nanoCpus: 1n, memoryBytes: 0n }, reservations: { nanoCpus: 0n, memoryBytes: 1n } }, labels: { tier: 'front' } },
      ),
    ),
  );
  t.notThrows(() => validateServiceSpec(spec({ mode: ServiceSpec_Mode.GLOBAL, replicas: 0 })), 'a global service with no replica count');
});

test('each broken rule is refused with its own message', (t) => {
  const refused: Array<[string, Spec, RegExp]> = [
    ['no name', spec({ name: '' }), /^a service needs a name: pass --name NAME$/],
    ['a bad name', spec({ name: 'Web' }), /^invalid service name "Web": use 1 to 63 lower-case/],
    ['no image', spec({}, { image: '  ' }), /^a service needs an image: orch service create/],
    ['a bad image', spec({}, { image: 'Not An Image' }), /^invalid image reference "Not An Image"/],
    ['an image with a bad tail', spec({}, { image: 'nginx:1.27 x' }), /^invalid image reference/],
    ['too many replicas', spec({ replicas: MAX_REPLICAS + 1 }), /^10001 replicas is more than the 10000 allowed$/],
    ['an env without =', spec({}, { env: ['A=1', 'B'] }), /^invalid --env "B": expected KEY=VALUE/],
    ['replicas in global mode', spec({ mode: ServiceSpec_Mode.GLOBAL, replicas: 3 }), /^replicas can only be set in replicated mode/],
    ['a bad constraint', spec({ placement: { constraints: ['node.role~worker'], maxReplicas: 0 } }), /constraint/],
    ['a bad port', spec({ endpoint: { ports: [{ targetPort: 0, publishedPort: 8080 }] } }), /port/],
    ['a negative CPU limit', spec({}, { resources: { limits: { nanoCpus: -1n, memoryBytes: 0n }, reservations: undefined } }), /^a limit cannot be negative$/],
    ['a negative memory reservation', spec({}, { resources: { limits: undefined, reservations: { nanoCpus: 0n, memoryBytes: -1n } } }), /^a reservation cannot be negative$/],
    ['a healthcheck with no command', spec({}, { healthcheck: { test: [], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 } }), /^a healthcheck needs a command: --health-cmd CMD, or --no-healthcheck$/],
    ['an update failure ratio above 1', spec({ updateConfig: { ...DEFAULT_UPDATE, maxFailureRatio: 1.5 } }), /^--update-max-failure-ratio: 1\.5 is not between 0 and 1$/],
    ['a rollback failure ratio below 0', spec({ rollbackConfig: { ...DEFAULT_UPDATE, maxFailureRatio: -0.1 } }), /^--rollback-max-failure-ratio: -0\.1 is not between 0 and 1$/],
    ['a rollback that rolls back', spec({ rollbackConfig: { ...DEFAULT_UPDATE, failureAction: UpdateConfig_FailureAction.ROLLBACK } }), /^--rollback-failure-action: a rollback cannot roll back; use pause or continue$/],
    ['a per-node maximum in global mode', spec({ mode: ServiceSpec_Mode.GLOBAL, replicas: 0, placement: { constraints: [], maxReplicas: 1 } }), /^--replicas-max-per-node is for replicated services/],
    ['a dependency that is not a name', spec({ dependsOn: [{ service: 'Db!', condition: Dependency_Condition.STARTED }] }), /^depends on "Db!", which is not a service name$/],
    ['a service that depends on itself', spec({ dependsOn: [{ service: 'db', condition: Dependency_Condition.STARTED }, { service: 'web', condition: Dependency_Condition.STARTED }] }), /^service "web" depends on itself$/],
    ['an alias with no network', spec({ aliases: [{ network: '', names: ['x'] }] }), /^a network alias needs its network$/],
    ['an alias that is not a DNS name', spec({ aliases: [{ network: 'n1', names: ['ok', 'not ok'] }] }), /^network alias "not ok" is not a DNS name/],
    ['an alias that starts with a dot', spec({ aliases: [{ network: 'n1', names: ['.x'] }] }), /^network alias "\.x"/],
    ['an alias with a bad tail', spec({ aliases: [{ network: 'n1', names: ['x y'] }] }), /^network alias "x y"/],
    ['a mount with no target', spec({}, { mounts: [{ type: Mount_Type.VOLUME, source: 'data', target: '' }] }), /^--mount: every mount needs target/],
    ['a reserved service label', spec({ labels: { 'orch.slot': '1' } }), /^invalid label key "orch\.slot": it must be non-empty and not start with "orch\." \(reserved\)$/],
    ['a reserved container label', spec({}, { labels: { 'orch.task': 'x' } }), /^invalid label key "orch\.task"/],
    ['an empty label key', spec({ labels: { '': 'x' } }), /^invalid label key ""/],
  ];
  for (const [what, s, message] of refused) t.throws(() => validateServiceSpec(s), { message }, what);
});

test('names: the rule is said in the error; one character and 63 are names', (t) => {
  t.regex(NAME_RULE, /^1 to 63 lower-case letters, digits, '-' and '_'/);
  t.notThrows(() => validateName('a'));
  t.notThrows(() => validateName('a'.repeat(63)));
  t.throws(() => validateName('a'.repeat(64)), { message: `invalid service name "${'a'.repeat(64)}": use ${NAME_RULE}` });
});

test('replica counts: the limit itself is allowed, around spaces too; errors name where and why', (t) => {
  t.is(parseReplicas(String(MAX_REPLICAS), 'x'), MAX_REPLICAS);
  t.is(parseReplicas(' 7 ', 'x'), 7);
  t.throws(() => parseReplicas('7x', 'scale web'), { message: 'scale web: "7x" is not a replica count; give a whole number from 0 to 10000' });
  t.throws(() => parseReplicas('10001', '--replicas'), { message: '--replicas: 10001 replicas is more than the 10000 allowed' });
});

test('defaults fill only what a spec leaves out', (t) => {
  const bare = withDefaults(spec());
  t.deepEqual(bare.restart, { condition: DEFAULT_RESTART.condition, delayMs: 5000, maxAttempts: 0, windowMs: 0 });
  t.is(bare.updateConfig, DEFAULT_UPDATE);
  t.is(bare.rollbackConfig, DEFAULT_UPDATE);
  const own = { ...DEFAULT_UPDATE, parallelism: 3 };
  const kept = withDefaults(spec({ restart: { ...DEFAULT_RESTART, delayMs: 1 }, updateConfig: own, rollbackConfig: own }));
  t.is(kept.restart!.delayMs, 1);
  t.is(kept.updateConfig!.parallelism, 3);
  t.is(kept.rollbackConfig!.parallelism, 3);
});
