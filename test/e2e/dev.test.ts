// The README's first command runs `orch dev`: etcd, manager and agent in one
// process, and a demo service whose replicas answer HTTP. This runs it for
// real, and again as people do on a host that ran it before: a clean stop,
// `--reset`, a SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Docker from 'dockerode';
import { leftovers } from '../helpers/host.js';
import { httpGet, MAIN, runOrch, waitFor } from '../../lab/run.js';
import { freePort } from '../../lab/ports.js';
import { newId } from '../../shared/ids.js';

test.serial('orch dev brings up a cluster whose demo replicas answer HTTP, and stops cleanly', async (t) => {
  const place = await devPlace(t, 'orch-dev-');
  const { docker, cluster, env } = place;
  const { p, out: output } = place.track(await startDev(place.args, env));
  const out = output();
  const answers = [...out.matchAll(/demo\.(\d) at http:\/\/([\d.]+)\/ answers: (\S+)/g)];
  t.is(answers.length, 3, out);
  const containers = await docker.listContainers({ filters: { label: [`orch.cluster=${cluster}`] } });
  t.deepEqual(answers.map((a) => a[3]).sort(), containers.map((c) => c.Id.slice(0, 12)).sort(), 'each replica answered with its own hostname');
  // "In another shell": the CLI finds the cluster and its admin certificate through the "dev" context.
  const ls = await runOrch(env, ['service', 'ls']);
  t.is(ls.code, 0, ls.stderr);
  t.regex(ls.stdout, /demo\s+replicated\s+3\/3/);

  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  p.kill('SIGTERM');
  t.is(await exited, 0);
  t.regex(output(), /orch dev stopped/);
});

/**
 * A place for `orch dev` runs of one test: its own data dir, ports, cluster
 * id and CLI config; the runs it tracks are killed, and the cluster's
 * containers and the dir removed, when the test ends.
 */
async function devPlace(t: ExecutionContext, prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const cluster = `dev${newId().slice(0, 8)}`;
  const docker = new Docker({ socketPath: '/var/run/docker.sock' });
  const etcdPort = await freePort();
  const args = ['--data-dir', join(dir, 'data'), '--listen', `127.0.0.1:${await freePort()}`, '--etcd-port', String(etcdPort), '--cluster', cluster];
  const env = { ORCH_CONFIG_DIR: join(dir, 'cli'), ORCH_MANAGER: undefined, ORCH_TLS_DIR: undefined };
  const runs: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of runs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    const list = await docker.listContainers({ all: true, filters: { label: [`orch.cluster=${cluster}`] } });
    for (const c of list) await docker.getContainer(c.Id).remove({ force: true });
    rmSync(dir, { recursive: true, force: true });
  });
  const track = <R extends { p: ChildProcess }>(run: R): R => {
    runs.push(run.p);
    return run;
  };
  return { dir, cluster, docker, etcdPort, args, env, track };
}

/** `orch dev` as a child process; resolves once it says Ready. */
async function startDev(args: string[], env: NodeJS.ProcessEnv): Promise<{ p: ChildProcess; out: () => string }> {
  const p = spawn(process.execPath, [MAIN, 'dev', ...args], { env: { ...process.env, ORCH_LOG_LEVEL: 'warn', ...env } });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  await waitFor(async () => out.includes('Ready.') || p.exitCode !== null, 60_000, 'orch dev ready');
  if (!out.includes('Ready.')) throw new Error(`orch dev did not start: ${out}`);
  return { p, out: () => out };
}

/** This host's first non-loopback IPv4 address. */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  throw new Error('no IPv4 address on this host');
}

test.serial('a host that ran orch dev before: a published service answers on loopback after a clean stop, --reset, and a SIGKILL; a clean stop leaves nothing', async (t) => {
  const place = await devPlace(t, 'orch-dev-again-');
  const { docker, cluster, env, etcdPort } = place;
  const args = [...place.args, '--no-demo'];
  const port = await freePort();
  const publishAndAsk = async (round: string) => {
    const r = await runOrch(env, ['service', 'create', '--name', 'web', '-p', `${port}:80`, 'orch-test/httpd']);
    t.is(r.code, 0, `${round}: ${r.stderr}`);
    for (const host of ['127.0.0.1', hostAddress()]) {
      await waitFor(async () => (await httpGet(host, port, 1000).catch(() => '')) !== '', 10_000, `${round}: ${host}:${port} answers`);
    }
    t.pass(`${round}: answered on loopback and on ${hostAddress()}`);
  };
  const stop = async (p: ChildProcess, sig: NodeJS.Signals) => {
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill(sig);
    return exited;
  };

  let dev = place.track(await startDev(args, env)).p;
  await publishAndAsk('first run');
  t.is(await stop(dev, 'SIGTERM'), 0);
  t.deepEqual(await leftovers(docker, cluster), [], 'a clean stop leaves nothing of its networks');

  dev = place.track(await startDev([...args, '--reset'], env)).p;
  await publishAndAsk('after --reset');
  await stop(dev, 'SIGKILL');
  // Its etcd died with it: nothing answers on its port for the next run to mistake for its own.
  await waitFor(async () => !(await httpGet('127.0.0.1', etcdPort, 300).then(() => true, (e: Error) => !/ECONNREFUSED/.test(e.message))), 5000, 'etcd gone with orch dev');

  dev = place.track(await startDev([...args, '--reset'], env)).p;
  await publishAndAsk('after SIGKILL and --reset');
  const containers = await docker.listContainers({ all: true, filters: { label: [`orch.cluster=${cluster}`] } });
  t.is(containers.length, 1, 'the killed run\'s container was removed by the new node; only the new one runs');
  t.is(await stop(dev, 'SIGTERM'), 0);
  t.deepEqual(await leftovers(docker, cluster), [], 'nothing left after the last clean stop');
});
