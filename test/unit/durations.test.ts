// Durations and points in time in Docker's spelling, and back for people.
import test from 'ava';
import { formatDuration, parseDuration, parseTime } from '../../shared/duration.js';

test('durations: units in sequence, fractions, spaces around; a bare number or anything else refused with why', (t) => {
  t.is(parseDuration('200ms', 'f'), 200);
  t.is(parseDuration(' 1.5s ', 'f'), 1500);
  t.is(parseDuration('1.25m', 'f'), 75_000);
  t.is(parseDuration('1h2m3s4ms', 'f'), 3_723_004);
  t.is(parseDuration('10s', 'f'), 10_000);
  t.is(parseDuration('0.0005s', 'f'), 1, 'rounded to the millisecond');
  for (const bare of ['5', ' 10 ', '10']) t.throws(() => parseDuration(bare, '--delay'), { message: `--delay: "${bare}" has no unit; write it like 500ms, 5s or 1m` }, bare);
  for (const bad of ['', 'soon', '5s x', 'x5s', '5x', '1.s', '5 s', '1.5.5s']) {
    t.throws(() => parseDuration(bad, '--delay'), { message: `--delay: "${bad}" is not a duration; write it like 500ms, 5s or 1m30s` }, bad);
  }
});

test('durations for people, back in the same spelling', (t) => {
  t.is(formatDuration(0), '0ms');
  t.is(formatDuration(999), '999ms');
  t.is(formatDuration(1000), '1s');
  t.is(formatDuration(1500), '1.5s');
  t.is(formatDuration(59_990), '59.99s');
  t.is(formatDuration(60_000), '1m');
  t.is(formatDuration(90_000), '1m30s');
  t.is(formatDuration(3_599_000), '59m59s');
  t.is(formatDuration(3_600_000), '1h');
  t.is(formatDuration(5_430_000), '1h30m30s');
  t.is(formatDuration(7_200_500), '2h500ms');
  for (const ms of [250, 1500, 90_000, 5_430_000, 7_200_500]) t.is(parseDuration(formatDuration(ms), 'f'), ms, `${ms} round trip`);
});

test('points in time: Unix seconds, a duration back from now, a date or a date-time; anything else refused', (t) => {
  const now = Date.parse('2026-12-02T15:00:00Z');
  t.is(parseTime('1700000000', 'f', now).getTime(), 1_700_000_000_000);
  t.is(parseTime('1700000000.5', 'f', now).getTime(), 1_700_000_000_500);
  t.is(parseTime(' 10m ', 'f', now).getTime(), now - 600_000);
  t.is(parseTime('1h30m', 'f', now).getTime(), now - 5_400_000);
  t.is(parseTime('1.5h', 'f', now).getTime(), now - 5_400_000);
  t.is(parseTime('2026-12-02', 'f', now).toISOString(), '2026-12-02T00:00:00.000Z');
  t.is(parseTime('2026-12-02T15:04:05Z', 'f', now).toISOString(), '2026-12-02T15:04:05.000Z');
  t.is(parseTime('2026-12-02T15:04:05.25+01:00', 'f', now).toISOString(), '2026-12-02T14:04:05.250Z');
  for (const bad of ['', 'yesterday', '10m ago', 'x2026-12-02', '2026-12-02x', '2026-13-45', '2026-12-02T15:04:05Zx', '1700000000.']) {
    t.throws(() => parseTime(bad, '--since'), { message: new RegExp(`^--since: "${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is not a time; give a duration back from now`) }, bad);
  }
});
