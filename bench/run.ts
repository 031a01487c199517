// `npm run bench [-- NAME...]`: runs the benchmarks (all, or those named:
// service-start, lab-cluster, managers, mesh, overlay, soak, rolling-update, secrets, ca-rotation, logs, stack-deploy) and writes their results to docs/bench/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { benchCaRotation, caRotationMarkdown } from './ca-rotation.js';
import { benchLabCluster, labClusterMarkdown } from './lab-cluster.js';
import { benchLogs, logsMarkdown } from './logs.js';
import { benchManagers, managersMarkdown } from './managers.js';
import { benchMesh, meshMarkdown } from './mesh.js';
import { benchOverlay, overlayMarkdown } from './overlay.js';
import { benchRollingUpdate, rollingUpdateMarkdown } from './rolling-update.js';
import { benchSecrets, secretsMarkdown } from './secrets.js';
import { benchServiceStart, serviceStartMarkdown } from './service-start.js';
import { benchSoak, soakCharts, soakMarkdown } from './soak.js';
import { benchStackDeploy, stackDeployMarkdown } from './stack-deploy.js';

const OUT = resolve(import.meta.dirname, '../../docs/bench');

const BENCHES: Record<string, (machine: string) => Promise<string>> = {
  'service-start': async (machine) => {
    const r = await benchServiceStart((line) => process.stderr.write(`service-start: ${line}\n`));
    return write('service-start', machine, r, serviceStartMarkdown(r, machine));
  },
  'lab-cluster': async (machine) => {
    const r = await benchLabCluster((line) => process.stderr.write(`lab-cluster: ${line}\n`));
    return write('lab-cluster', machine, r, labClusterMarkdown(r, machine));
  },
  mesh: async (machine) => {
    const r = await benchMesh((line) => process.stderr.write(`mesh: ${line}\n`));
    return write('mesh', machine, r, meshMarkdown(r, machine));
  },
  managers: async (machine) => {
    const r = await benchManagers((line) => process.stderr.write(`managers: ${line}\n`));
    return write('managers', machine, r, managersMarkdown(r, machine));
  },
  soak: async (machine) => {
    const r = await benchSoak((line) => process.stderr.write(`soak: ${line}\n`));
    const md = write('soak', machine, r, soakMarkdown(r, machine));
    for (const [file, svg] of Object.entries(await soakCharts(r))) writeFileSync(join(OUT, file), svg);
    return md;
  },
  overlay: async (machine) => {
    const r = await benchOverlay((line) => process.stderr.write(`overlay: ${line}\n`));
    return write('overlay', machine, r, overlayMarkdown(r, machine));
  },
  secrets: async (machine) => {
    const r = await benchSecrets((line) => process.stderr.write(`secrets: ${line}\n`));
    return write('secrets', machine, r, secretsMarkdown(r, machine));
  },
  'ca-rotation': async (machine) => {
    const r = await benchCaRotation((line) => process.stderr.write(`ca-rotation: ${line}\n`));
    return write('ca-rotation', machine, r, caRotationMarkdown(r, machine));
  },
  logs: async (machine) => {
    const r = await benchLogs((line) => process.stderr.write(`logs: ${line}\n`));
    return write('logs', machine, r, logsMarkdown(r, machine));
  },
  'stack-deploy': async (machine) => {
    const r = await benchStackDeploy((line) => process.stderr.write(`stack-deploy: ${line}\n`));
    return write('stack-deploy', machine, r, stackDeployMarkdown(r, machine));
  },
  'rolling-update': async (machine) => {
    const r = await benchRollingUpdate((line) => process.stderr.write(`rolling-update: ${line}\n`));
    return write('rolling-update', machine, r, rollingUpdateMarkdown(r, machine));
  },
};

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  for (const n of names) if (!BENCHES[n]) throw new Error(`no benchmark "${n}"; there are ${Object.keys(BENCHES).join(', ')}`);
  const engine = await new Docker({ socketPath: '/var/run/docker.sock' }).version();
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, Docker Engine ${engine.Version}`;
  for (const n of names.length ? names : Object.keys(BENCHES)) process.stdout.write(await BENCHES[n]!(machine));
}

function write(name: string, machine: string, result: object, md: string): string {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, `${name}.json`), `${JSON.stringify({ date: new Date().toISOString(), machine, ...result }, null, 2)}\n`);
  writeFileSync(join(OUT, `${name}.md`), md);
  return md;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
