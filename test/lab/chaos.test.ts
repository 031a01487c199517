// The chaos harness itself: a short scenario (kill a worker host, restart it)
// passes and writes its report; a deliberately broken build (a scheduler that
// places on down nodes, behind a test-only switch) makes it fail with the
// right violation — the harness must be able to fail.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runOrch } from '../../lab/run.js';

const dir = mkdtempSync(join(tmpdir(), 'orch-chaos-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

// A run is a lab, 20 s of faults, up to 45 s of convergence and the checks: longer than ava's 90 s of silence.
const RUN_TIMEOUT_MS = 240_000;

test.serial('worker-restart passes: every invariant holds, and the report says so with the replay command', async (t) => {
  t.timeout(RUN_TIMEOUT_MS);
  const report = join(dir, 'ok');
  const r = await runOrch({}, ['chaos', 'run', '--scenario', 'worker-restart', '--seed', '7', '--duration', '20s', '--hosts', '3', '--report', report]);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /PASSED: 0 violation\(s\)/);
  const json = JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')) as { passed: boolean; steps: Array<{ fault: string }>; recoveries: Array<{ replicatedAfterMs: number | null }>; command: string };
  t.true(json.passed);
  t.deepEqual(json.steps.map((s) => s.fault), ['kill-host', 'restart-host']);
  t.true(json.recoveries[0]!.replicatedAfterMs !== null && json.recoveries[0]!.replicatedAfterMs < 10_000, 'replicated services back within 10 s of the kill');
  t.is(json.command, 'orch chaos run --scenario worker-restart --seed 7 --duration 20s --hosts 3');
  t.true(existsSync(join(report, 'timeline.svg')));
  t.regex(readFileSync(join(report, 'report.md'), 'utf8'), /PASSED[\s\S]*\| kill-host \| h\d/);
});

test.serial('a scheduler that places on down nodes makes the harness fail, naming the violation', async (t) => {
  t.timeout(RUN_TIMEOUT_MS);
  const report = join(dir, 'broken');
  const r = await runOrch({ ORCH_TEST_BREAK: 'scheduler-ignores-down-nodes' }, ['chaos', 'run', '--scenario', 'worker-restart', '--seed', '7', '--duration', '20s', '--hosts', '3', '--report', report]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /FAILED: [1-9]\d* violation\(s\)/);
  t.regex(r.stdout, /heals while a host is away: after kill-host h\d at 3\.0s the replicated services were (never|only after [\d.]+s) whole again/);
  t.false((JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')) as { passed: boolean }).passed);
});
