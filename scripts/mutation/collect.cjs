// Preloaded, before Stryker's own hook, into the ava process that StrykerJS's
// tap runner starts for one test file. ava hands the same preloads to the
// worker process it runs the tests in, so this runs there too:
// - in ava's process, it makes a directory for the worker's record and, at
//   exit, adds that record (what the code under test counted: coverage, hits)
//   to this process's, before Stryker's hook writes it for Stryker to read;
// - in the worker (the directory is named in its environment), it writes the
//   worker's record there at exit.
const { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const VAR = 'ORCH_MUTATION_OUT';
const namespace = () => globalThis[process.env.STRYKER_NAMESPACE ?? '__stryker__'];

if (process.env[VAR]) {
  const out = process.env[VAR];
  process.on('exit', () => writeFileSync(join(out, `${process.pid}.json`), JSON.stringify(namespace())));
} else {
  // In Stryker's sandbox (the working directory), which goes with the run: a run Stryker cut short leaves nothing behind.
  const out = mkdtempSync(join(process.cwd(), '.orch-mutation-'));
  process.env[VAR] = out; // inherited by ava's worker
  process.on('exit', () => {
    const ns = namespace();
    for (const name of readdirSync(out)) {
      let rec;
      try {
        rec = JSON.parse(readFileSync(join(out, name), 'utf8'));
      } catch {
        continue; // a worker cut short as it wrote (Stryker stopped the run at a failure)
      }
      // Stryker's hook, preloaded in the worker too, left the worker's record where Stryker looks for this process's.
      rmSync(`stryker-output-${name}`, { force: true });
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
  });
}
