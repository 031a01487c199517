// Reading Compose files, below the mapping onto orch's spec: the model that
// loadCompose builds (interpolation's corners, .env's spellings, merging and
// extends), and where its errors point.
import test from 'ava';
import { LineCounter, parseDocument } from 'yaml';
import { ComposeProblem, interpolate, loadCompose, locate } from '../../compose/load.js';
import { composeDirs } from '../helpers/compose-files.js';

const { files, remove } = composeDirs('orch-compose-load-');
test.after.always(remove);

/** Loads one docker-compose.yml (with more files beside it) and returns the model. */
function load(text: string, env: NodeJS.ProcessEnv = {}, more: Record<string, string> = {}) {
  return loadCompose([files({ 'docker-compose.yml': text, ...more })['docker-compose.yml']!], env);
}

/** Loads several files in order, named a.yml, b.yml… */
function loadAll(texts: string[], more: Record<string, string> = {}) {
  const names = texts.map((_, i) => `${String.fromCharCode(97 + i)}.yml`);
  const f = files({ ...Object.fromEntries(texts.map((x, i) => [names[i]!, x])), ...more });
  return loadCompose(
    names.map((n) => f[n]!),
    {},
  );
}

const fail = (why: string) => new Error(why);

test('interpolation: a lone $ stays, a ${ left open or a name that is no name is refused, :? takes a set value', (t) => {
  t.is(interpolate('cost: $ 5, and $', {}, fail), 'cost: $ 5, and $');
  t.throws(() => interpolate('${ABC', {}, fail), { message: '"${ABC": a ${ is never closed' });
  t.throws(() => interpolate('${A B}', { A: 'a' }, fail), { message: '"${A B}" is not a variable: write ${NAME}, ${NAME:-default} or ${NAME:?error}' });
  t.is(interpolate('${A:?give A}${A?give A}', { A: 'a' }, fail), 'aa');
  t.is(interpolate('${E?give E}', { E: '' }, fail), '', '? without : takes an empty value');
  t.throws(() => interpolate('${E:?give E}', { E: '' }, fail), { message: 'variable E is required: give E' });
});

test('an unquoted value interpolated is read again as YAML would: numbers and booleans, nothing that only looks like one', (t) => {
  const model = (v: string) => load('x-plain: ${V}\nx-quoted: "${V}"\nservices:\n  web:\n    image: x\n', { V: v }).model;
  for (const [v, plain] of [
    ['12', 12],
    ['-3', -3],
    ['1.25', 1.25],
    ['true', true],
    ['false', false],
    ['v1', 'v1'],
    ['1x', '1x'],
    ['1.', '1.'],
    ['1.x', '1.x'],
  ] as const) {
    t.deepEqual([model(v)['x-plain'], model(v)['x-quoted']], [plain, v], v);
  }
  t.is(load('services:\n  web:\n    image: x:${T}\n', { T: '1' }).model.services.web!.image, 'x:1', 'a value that only ends in a number stays a string');
});

test('octal as Compose reads it: a whole 0-led octal literal only; keys are never interpolated', (t) => {
  const { model } = load('x-n: { a: 0440, b: 12, c: 019, d: 0 }\nservices:\n  web:\n    image: x\n    labels: { "a$B": "$B" }\n', { B: 'b' });
  t.deepEqual(model['x-n'], { a: 0o440, b: 12, c: 19, d: 0 });
  t.deepEqual(model.services.web!.labels, { a$B: 'b' });
});

test('.env: quotes of either kind around several words, quotes inside a value kept, a comment after a value, export, a line that names no variable', (t) => {
  const env = [
    'Q1="two words"',
    "Q2='two words'",
    'Q3=x"y"',
    'Q4="a"b',
    "Q5=x'y'",
    "Q6='a'b",
    'C1=plain # a comment',
    'C2="kept # inside"',
    'C3=a#b',
    'export  E=spaced',
    '9A=not a name',
    '# Q7=commented',
    'Q8 = " padded "',
  ];
  const names = ['Q1', 'Q2', 'Q3', 'Q4', 'Q5', 'Q6', 'C1', 'C2', 'C3', 'E', 'A', 'Q7', 'Q8'];
  const { model, warnings } = load(`x-v:\n${names.map((n) => `  ${n}: "\${${n}}"\n`).join('')}services:\n  web:\n    image: x\n`, {}, { '.env': env.join('\n') });
  t.deepEqual(model['x-v'], { Q1: 'two words', Q2: 'two words', Q3: 'x"y"', Q4: '"a"b', Q5: "x'y'", Q6: "'a'b", C1: 'plain', C2: 'kept # inside', C3: 'a#b', E: 'spaced', A: '', Q7: '', Q8: ' padded ' });
  t.deepEqual(
    warnings.map((w) => w.replace(/^.*docker-compose\.yml:\d+: /, '')),
    ['variable A is not set; it stands for an empty string', 'variable Q7 is not set; it stands for an empty string'],
  );
});

test('bad YAML is named at its line with the parser\'s first line only; a key given twice is bad YAML', (t) => {
  const err = t.throws(() => load('services:\n  web:\n    image: x\n    image: y\n'));
  t.regex(err.message, /docker-compose\.yml:4: invalid YAML: Map keys must be unique$/);
});

test('errors point at the last file that sets the key, else at its nearest parent', (t) => {
  const twice = t.throws(() => loadAll(['services:\n  web:\n    image: x\n    deploy:\n      replicas: 2\n', 'services:\n  web:\n    deploy:\n      replicas: many\n']));
  t.regex(twice.message, /b\.yml:4: services\.web\.deploy\.replicas: must be an integer$/);
  const first = t.throws(() => loadAll(['services:\n  web:\n    image: x\n    deploy:\n      replicas: many\n', 'services:\n  web:\n    labels: { a: b }\n']));
  t.regex(first.message, /a\.yml:5: services\.web\.deploy\.replicas: must be an integer$/, 'the later file has the service but not the key');
  const inList = t.throws(() => loadAll(['services:\n  web:\n    image: x\n    ports: ["80:80"]\n', 'services:\n  web:\n    ports:\n      - { target: many }\n']));
  t.regex(inList.message, /b\.yml:3: services\.web\.ports\.1\.target: must be an integer$/, 'an item of a merged list: its place differs in the file that has it, so the list is named');
  const nul = t.throws(() => load('services:\n  web:\n  db:\n    image: x\n'));
  t.is(nul.message.replace(/^.*docker-compose\.yml/, 'f'), 'f:2: services.web: must be a mapping', 'a service with no body is the schema\'s error');
  const nulTwice = t.throws(() => loadAll(['services:\n  web:\n    image: x\n', 'services:\n  web:\n']));
  t.regex(nulTwice.message, /b\.yml:2: services\.web: must be a mapping$/);
});

test('locate: the document itself when no key of the path is there, the first file when nothing is, (top) for the root', (t) => {
  const source = (file: string, text: string) => {
    const lines = new LineCounter();
    return { file, doc: parseDocument(text, { lineCounter: lines }), lines };
  };
  const a = source('a.yml', '\n\nservices: {}\n');
  t.is(locate({ sources: [a] }, ['nope', 'deeper'], 'what'), 'a.yml:3: nope.deeper: what');
  t.is(locate({ sources: [a] }, [], 'what'), 'a.yml:3: (top): what');
  t.is(locate({ sources: [source('empty.yml', '')] }, ['x'], 'what'), 'empty.yml: x: what');
  t.is(locate({ sources: [] }, ['x', 0], 'what'), 'compose file: x.0: what');
  t.is(new ComposeProblem(['services', 'web', 'ports', 0], 'bad').message, 'services.web.ports.0: bad');
});

test('extends: every problem at the extending key, with the chain; a missing file named as such', (t) => {
  const circle = t.throws(() => load('services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n'));
  t.is(circle.message.replace(/^.*docker-compose\.yml/, 'f'), 'f:4: services.a.extends: extends goes round in a circle (a → b → a)');
  const across = t.throws(() =>
    load('services:\n  web:\n    image: x\n    extends: { file: other.yml, service: x }\n', {}, { 'other.yml': 'services:\n  x:\n    image: y\n    extends: { file: docker-compose.yml, service: web }\n' }),
  );
  t.regex(across.message, /docker-compose\.yml:4: services\.web\.extends: extends goes round in a circle \(web → x → web( → x)?\)$/);
  for (const body of ['', ' text']) {
    const err = t.throws(() => load(`services:\n  web:\n    image: x\n    extends: b\n  b:${body}\n`));
    t.regex(err.message, /docker-compose\.yml:4: services\.web\.extends: there is no service "b" in .*docker-compose\.yml to extend$/, JSON.stringify(body));
  }
  const deep = t.throws(() => load('services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: c\n'));
  t.regex(deep.message, /:4: services\.a\.extends: there is no service "c"/, 'the chain is named from where it starts');
  const missing = t.throws(() => load('services:\n  web:\n    image: x\n    extends: { file: nope.yml, service: x }\n'));
  t.regex(missing.message, /nope\.yml: cannot read it \(ENOENT\)$/);
});

test('extends from another file: a name there is not a name here, and that file is read once', (t) => {
  const { model, warnings } = load(
    'services:\n  web:\n    extends: { file: base.yml, service: common }\n  api:\n    extends: { file: base.yml, service: common }\n  common:\n    image: mine\n',
    {},
    { 'base.yml': 'services:\n  common:\n    image: "base${UNSET}"\n' },
  );
  t.deepEqual(
    Object.fromEntries(Object.entries(model.services).map(([n, s]) => [n, s.image])),
    { web: 'base', api: 'base', common: 'mine' },
  );
  t.is(warnings.length, 1, 'one warning for the unset variable: base.yml is read once');
});

test('merging: lists of several entries by identity, long volumes by target, secrets and configs by source, a list replaced by a scalar', (t) => {
  const { model } = loadAll(
    [
      [
        'services:',
        '  web:',
        '    image: x',
        '    entrypoint: [a, b]',
        '    ports: ["1:1", "2:2"]',
        '    dns_search: [a.example]',
        '    sysctls: [a=1]',
        '    environment: [WHO]',
        '    volumes: [{ type: bind, source: /a, target: /t }, /anon]',
        '    secrets: [s1, s2]',
        '    configs: [c1]',
        '',
      ].join('\n'),
      [
        'services:',
        '  web:',
        '    entrypoint: [c]',
        '    ports: ["2:2", "3:3"]',
        '    dns_search: b.example',
        '    sysctls: { b: 2 }',
        '    volumes: [{ type: bind, source: /b, target: /t }, /anon]',
        '    secrets: [{ source: s2, target: two }]',
        '    configs: [c2]',
        '',
      ].join('\n'),
    ],
  );
  const web = model.services.web!;
  t.deepEqual(web.entrypoint, ['c']);
  t.deepEqual(web.ports, ['1:1', '2:2', '3:3']);
  t.is(web.dns_search, 'b.example');
  t.deepEqual(web.sysctls, { a: '1', b: 2 });
  t.deepEqual(web.environment, { WHO: null });
  t.deepEqual(web.volumes, [{ type: 'bind', source: '/b', target: '/t' }, '/anon']);
  t.deepEqual(web.secrets, ['s1', { source: 's2', target: 'two' }]);
  t.deepEqual(web.configs, ['c1', 'c2']);
});
