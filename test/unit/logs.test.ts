// Reading engine logs and the CLI's log flags: frames split into lines per
// stream, a TTY's bytes as they are, --since in Docker's spellings, --filter.
import test from 'ava';
import { LineReader } from '../../agent/exec/logs.js';
import { parseTime } from '../../shared/duration.js';
import { InvalidArgumentError } from '../../shared/errors.js';
import { hasLabel, parseFilters, passes } from '../../shared/filters.js';

/** One frame as the engine sends it without a TTY. */
const frame = (stream: 1 | 2, text: string) => {
  const body = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
};

function read(tty: boolean, chunks: Buffer[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const r = new LineReader(tty, (stderr, line) => out.push([stderr ? 'err' : 'out', line.toString()]));
  for (const c of chunks) r.push(c);
  r.end();
  return out;
}

test('frames become lines of their own stream, whatever the chunks cut', (t) => {
  const bytes = Buffer.concat([frame(1, 'a\n'), frame(2, 'oops\n'), frame(1, 'b\nc'), frame(1, 'd\n'), frame(2, 'tail')]);
  const want: Array<[string, string]> = [['out', 'a'], ['err', 'oops'], ['out', 'b'], ['out', 'cd'], ['err', 'tail']];
  t.deepEqual(read(false, [bytes]), want);
  // Every cut point: a header or a line split over two chunks changes nothing.
  for (let i = 1; i < bytes.length; i++) t.deepEqual(read(false, [bytes.subarray(0, i), bytes.subarray(i)]), want, `cut at ${i}`);
});

test('with a TTY the bytes are lines of stdout, carriage returns dropped', (t) => {
  t.deepEqual(read(true, [Buffer.from('one\r\ntw'), Buffer.from('o\nthree')]), [['out', 'one'], ['out', 'two'], ['out', 'three']]);
});

test('--since: a duration back, a date, a date-time, Unix seconds; anything else refused', (t) => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  t.is(parseTime('10m', '--since', now).toISOString(), '2026-12-02T11:50:00.000Z');
  t.is(parseTime('1h30m', '--since', now).toISOString(), '2026-12-02T10:30:00.000Z');
  t.is(parseTime('2026-12-01T08:00:00Z', '--since', now).toISOString(), '2026-12-01T08:00:00.000Z');
  t.is(parseTime('2026-12-01T08:00:00+02:00', '--since', now).toISOString(), '2026-12-01T06:00:00.000Z');
  t.is(parseTime('1764676800', '--since', now).toISOString(), '2025-12-02T12:00:00.000Z');
  t.is(parseTime('1764676800.5', '--since', now).getTime(), 1764676800500);
  t.is(parseTime('2026-12-01', '--since', now).getUTCDate(), 1);
  for (const bad of ['yesterday-ish', '', '2026-13-45', '5 minutes', '2026-12-01T25:00:00Z', '-10m']) {
    const err = t.throws(() => parseTime(bad, '--since', now), { instanceOf: InvalidArgumentError }, bad);
    t.regex(err!.message, /^--since: ".*" is not a time; give a duration back from now/);
  }
});

test('--filter: values of one key are alternatives, keys all hold; unknown keys and values refused', (t) => {
  const f = parseFilters(['name=web', 'name=api', 'mode=global'], { name: [], mode: ['replicated', 'global'] });
  t.true(passes(f, 'name', (v) => 'api-2'.startsWith(v)));
  t.false(passes(f, 'name', (v) => 'db'.startsWith(v)));
  t.true(passes(f, 'label', () => false), 'a key not given lets everything through');
  t.throws(() => parseFilters(['colour=red'], { name: [] }), { message: '--filter: unknown key "colour"; use name' });
  t.throws(() => parseFilters(['mode=both'], { mode: ['replicated', 'global'] }), { message: '--filter: mode "both" is not one of replicated, global' });
  t.throws(() => parseFilters(['=x'], { name: [] }), { message: '--filter: "=x" is not KEY=VALUE (e.g. name=web)' });
  t.true(hasLabel({ tier: 'edge' }, 'tier'));
  t.true(hasLabel({ tier: 'edge' }, 'tier=edge'));
  t.false(hasLabel({ tier: 'edge' }, 'tier=core'));
  t.false(hasLabel({}, 'tier'));
  t.true(hasLabel({ a: 'x=y' }, 'a=x=y'), 'only the first = splits');
});
