// Runs one ava test file for StrykerJS's tap runner, which runs each test
// file as `node -r <its hook> ava-file.mjs <file>` and reads what the code
// under test recorded (coverage, hits) from that process. ava runs the tests
// in a worker process of its own, so the worker records through worker-hook.cjs
// into a directory of this run, and this process adds it to its own record
// before Stryker's hook writes it out at exit.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const file = process.argv[2];
const out = mkdtempSync(join(tmpdir(), 'orch-mutation-'));
const ava = join(dirname(createRequire(import.meta.url).resolve('ava')), 'cli.mjs');
const hook = new URL('./worker-hook.cjs', import.meta.url).pathname;
const run = spawnSync(process.execPath, [ava, '--tap', '--no-worker-threads', `--node-arguments=--require=${hook}`, file], {
  env: { ...process.env, ORCH_MUTATION_OUT: out },
  stdio: ['ignore', 'inherit', 'inherit'],
});

const ns = globalThis[process.env.STRYKER_NAMESPACE ?? '__stryker__'];
for (const name of readdirSync(out)) {
  const rec = JSON.parse(readFileSync(join(out, name), 'utf8'));
  if (rec.hitCount !== undefined) ns.hitCount = (ns.hitCount ?? 0) + rec.hitCount;
  for (const kind of ['static', 'perTest']) {
    const from = rec.mutantCoverage?.[kind];
    if (!from) continue;
    ns.mutantCoverage ??= { static: {}, perTest: {} };
    const into = ns.mutantCoverage[kind];
    for (const [k, v] of Object.entries(from)) {
      if (kind === 'static') into[k] = (into[k] ?? 0) + v;
      else into[k] = { ...(into[k] ?? {}), ...v };
    }
  }
}
rmSync(out, { recursive: true, force: true });
process.exitCode = run.status ?? 1;
