// Sizes, CPU amounts and counts in Docker's spelling, and sizes for people.
import test from 'ava';
import { formatBytes, parseBytes, parseCount, parseCpus } from '../../shared/units.js';

test('sizes: a number and a unit (b, k, m, g, t, with or without "ib"/"b"), fractions included', (t) => {
  t.is(parseBytes('1048576', 'f'), 1048576n);
  t.is(parseBytes('512m', 'f'), 512n << 20n);
  t.is(parseBytes(' 1G ', 'f'), 1n << 30n);
  t.is(parseBytes('1.5g', 'f'), 3n << 29n);
  t.is(parseBytes('1.25k', 'f'), 1280n);
  t.is(parseBytes('0.5', 'f'), 0n, 'half a byte is none');
  t.is(parseBytes('2kib', 'f'), 2048n);
  t.is(parseBytes('2kb', 'f'), 2048n);
  t.is(parseBytes('3b', 'f'), 3n);
  t.is(parseBytes('1t', 'f'), 1n << 40n);
  for (const bad of ['', 'm', '1.m', '1.5.5g', '1x', '-1m', '1 g x', '1kibb']) {
    t.throws(() => parseBytes(bad, '--limit-memory'), { message: `--limit-memory: "${bad}" is not a size; write it like 512m, 1g or 1048576 (bytes)` }, bad);
  }
});

test('CPUs: whole and up to nine decimals, as nano CPUs', (t) => {
  t.is(parseCpus('2', 'f'), 2_000_000_000n);
  t.is(parseCpus('0.5', 'f'), 500_000_000n);
  t.is(parseCpus(' 12.000000001 ', 'f'), 12_000_000_001n);
  for (const bad of ['', '.5', '1.', '1.0000000001', 'x', '-1', '1 2']) {
    t.throws(() => parseCpus(bad, '--limit-cpu'), { message: `--limit-cpu: "${bad}" is not a number of CPUs; write it like 0.5 or 2` }, bad);
  }
});

test('counts: whole numbers from 0', (t) => {
  t.is(parseCount('0', 'f'), 0);
  t.is(parseCount(' 10000 ', 'f'), 10000);
  for (const bad of ['', '1.5', '-1', 'x', '1x', 'x1']) {
    t.throws(() => parseCount(bad, '--keep'), { message: `--keep: "${bad}" is not a whole number; write it like 10000` }, bad);
  }
});

test('sizes for people: bytes, then KiB, MiB and GiB with one decimal', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1023), '1023 B');
  t.is(formatBytes(1024), '1.0 KiB');
  t.is(formatBytes(53248n), '52.0 KiB');
  t.is(formatBytes(1024 * 1024 - 1), '1024.0 KiB');
  t.is(formatBytes(1024 * 1024), '1.0 MiB');
  t.is(formatBytes(12.5 * 1024 * 1024), '12.5 MiB');
  t.is(formatBytes(1024 ** 3), '1.0 GiB');
  t.is(formatBytes(1.25 * 1024 ** 4), '1280.0 GiB');
});
