// Loaded into ava's worker process during a mutation run (see ava-file.mjs):
// the namespace the instrumented code counts into, and its record written to
// ORCH_MUTATION_OUT when the worker ends.
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const name = process.env.STRYKER_NAMESPACE ?? '__stryker__';
const ns = (globalThis[name] = {});
if (process.env.STRYKER_HIT_LIMIT) {
  ns.hitLimit = Number(process.env.STRYKER_HIT_LIMIT);
  ns.hitCount = 0;
}
process.on('exit', () => writeFileSync(join(process.env.ORCH_MUTATION_OUT, `${process.pid}.json`), JSON.stringify(ns)));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));
