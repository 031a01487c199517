// `npm run bench`: runs the benchmarks and writes their results to docs/bench/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { benchServiceStart, type ServiceStartResult } from './service-start.js';

const OUT = resolve(import.meta.dirname, '../../docs/bench');

async function main(): Promise<void> {
  const engine = await new Docker({ socketPath: '/var/run/docker.sock' }).version();
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Docker Engine ${engine.Version}`;
  const r = await benchServiceStart((line) => process.stderr.write(`service-start: ${line}\n`));
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'service-start.json'), `${JSON.stringify({ date: new Date().toISOString(), machine, ...r }, null, 2)}\n`);
  const md = serviceStartMarkdown(r, machine);
  writeFileSync(join(OUT, 'service-start.md'), md);
  process.stdout.write(md);
}

function serviceStartMarkdown(r: ServiceStartResult, machine: string): string {
  const row = (what: string, s: { median: number; min: number; max: number }) => `| ${what} | ${s.median} | ${s.min} | ${s.max} |`;
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  return [
    '# Service start: orch vs `docker run -d`',
    '',
    `Measured ${new Date().toISOString().slice(0, 10)} with \`npm run bench\` on ${machine}; ${r.runs} runs each, milliseconds.`,
    '',
    '| what | median | min | max |',
    '| --- | --- | --- | --- |',
    row('`orch service create --replicas 1` (CLI, returns when running)', r.orchCli1),
    row('`orch service create --replicas 10` (CLI, returns when all run)', r.orchCli10),
    row('orch API: create 1 replica → running', r.orchApi1),
    row('orch API: create 10 replicas → all running', r.orchApi10),
    row('`docker run -d` × 1', r.dockerRun1),
    row('`docker run -d` × 10, one after another', r.dockerRun10Sequential),
    row('`docker run -d` × 10, all at once', r.dockerRun10Parallel),
    '',
    `Ratios (orch CLI / docker run, medians): 1 replica **${ratio(r.orchCli1.median, r.dockerRun1.median)}×**; ` +
      `10 replicas **${ratio(r.orchCli10.median, r.dockerRun10Sequential.median)}×** of sequential \`docker run -d\`, ` +
      `**${ratio(r.orchCli10.median, r.dockerRun10Parallel.median)}×** of parallel.`,
    '',
  ].join('\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
