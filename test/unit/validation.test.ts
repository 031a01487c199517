// What a valid request is: names, replica counts, durations, whole specs and CLI flags.
import test from 'ava';
import { InvalidArgumentError } from '../../shared/errors.js';
import { formatDuration, parseDuration } from '../../shared/duration.js';
import { parseReplicas, validateName } from '../../shared/spec.js';
import { CREATE_DEFAULTS, specFromFlags, type CreateFlags } from '../../cli/spec-flags.js';
import { RestartPolicy_Condition } from '../../proto/generated/orch.js';

const flags = (over: Partial<CreateFlags> = {}): CreateFlags => ({ ...CREATE_DEFAULTS, name: 'web', ...over });

test('replica counts: whole numbers from 0 up to the limit', (t) => {
  t.is(parseReplicas('0', 'x'), 0);
  t.is(parseReplicas('42', 'x'), 42);
  for (const bad of ['-1', 'abc', '1.5', '', '10001']) t.throws(() => parseReplicas(bad, '--replicas'), { instanceOf: InvalidArgumentError });
});

test('names are DNS labels', (t) => {
  t.notThrows(() => validateName('web-1'));
  t.notThrows(() => validateName('app_web'), 'a stack\'s service');
  for (const bad of ['', 'Web', '_a', 'a_', '-a', 'a-', 'a.b', 'x'.repeat(64)]) t.throws(() => validateName(bad), { instanceOf: InvalidArgumentError });
});

test('durations in Docker spelling', (t) => {
  t.is(parseDuration('500ms', 'f'), 500);
  t.is(parseDuration('1m30s', 'f'), 90_000);
  t.is(parseDuration('2h', 'f'), 7_200_000);
  t.throws(() => parseDuration('5', '--restart-delay'), { message: /has no unit/ });
  t.throws(() => parseDuration('soon', '--restart-delay'), { message: /not a duration/ });
  t.is(formatDuration(90_000), '1m30s');
});

test('flags become a spec; restart settings included', (t) => {
  const spec = specFromFlags('orch-test/sleep:latest', ['sleep', '5'], flags({ env: ['A=1'], label: ['team=x'], restartCondition: 'on-failure', restartMaxAttempts: '2', restartDelay: '1s', replicas: '3' }));
  t.is(spec.replicas, 3);
  t.deepEqual(spec.container?.command, ['sleep', '5']);
  t.deepEqual(spec.labels, { team: 'x' });
  t.deepEqual(spec.restart, { condition: RestartPolicy_Condition.RESTART_ON_FAILURE, delayMs: 1000, maxAttempts: 2, windowMs: 0 });
});

test('bad flags are refused with the flag named', (t) => {
  t.throws(() => specFromFlags('img', [], flags({ restartCondition: 'sometimes' })), { message: /--restart-condition: "sometimes"/ });
  t.throws(() => specFromFlags('img', [], flags({ env: ['=x'] })), { message: /invalid --env "=x"/ });
  t.throws(() => specFromFlags('img', [], flags({ env: ['A B=x'] })), { message: /invalid --env "A B=x"/ });
  t.notThrows(() => specFromFlags('img', [], flags({ env: ['discovery.type=single-node'] })), 'a dotted name, as Elasticsearch reads');
  t.throws(() => specFromFlags('img', [], flags({ label: ['orch.task=x'] })), { message: /reserved/ });
  t.throws(() => specFromFlags('', [], flags()), { message: /needs an image/ });
  t.throws(() => specFromFlags('Not An Image', [], flags()), { message: /invalid image reference/ });
});
