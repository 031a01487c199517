// The README's first command runs `orch dev`: etcd, manager and agent in one
// process, and a demo service whose replicas answer HTTP. This runs it for real.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import Docker from 'dockerode';
import { MAIN, runOrch } from '../../lab/run.js';
import { freePort } from '../../lab/ports.js';
import { newId } from '../../shared/ids.js';

test('orch dev brings up a cluster whose demo replicas answer HTTP, and stops cleanly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orch-dev-'));
  const cluster = `dev${newId().slice(0, 8)}`;
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const listen = `127.0.0.1:${await freePort()}`;
  const etcdPort = await freePort();
  const p = spawn(process.execPath, [MAIN, 'dev', '--data-dir', dir, '--listen', listen, '--etcd-port', String(etcdPort), '--cluster', cluster], {
    env: { ...process.env, ORCH_LOG_LEVEL: 'warn', ORCH_CONFIG_DIR: join(dir, 'cli') },
  });
  t.teardown(async () => {
    if (p.exitCode === null) p.kill('SIGKILL');
    const list = await docker.listContainers({ all: true, filters: { label: [`orch.cluster=${cluster}`] } });
    for (const c of list) await docker.getContainer(c.Id).remove({ force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const deadline = Date.now() + 90_000;
  while (!out.includes('Ready.') && Date.now() < deadline && p.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  t.true(out.includes('Ready.'), out);
  const answers = [...out.matchAll(/demo\.(\d) at http:\/\/([\d.]+)\/ answers: (\S+)/g)];
  t.is(answers.length, 3, out);
  const containers = await docker.listContainers({ filters: { label: [`orch.cluster=${cluster}`] } });
  t.deepEqual(answers.map((a) => a[3]).sort(), containers.map((c) => c.Id.slice(0, 12)).sort(), 'each replica answered with its own hostname');
  // "In another shell": the CLI finds the cluster and its admin certificate through the "dev" context.
  const ls = await runOrch({ ORCH_CONFIG_DIR: join(dir, 'cli'), ORCH_MANAGER: undefined, ORCH_TLS_DIR: undefined }, ['service', 'ls']);
  t.is(ls.code, 0, ls.stderr);
  t.regex(ls.stdout, /demo\s+replicated\s+3\/3/);

  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  p.kill('SIGTERM');
  t.is(await exited, 0);
  t.regex(out, /orch dev stopped/);
});
