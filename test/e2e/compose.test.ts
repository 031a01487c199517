// docker-compose.test.yml for real: Debian's docker-compose brings up the
// test cluster (etcd with TLS, three managers, an agent on this host's
// engine and kernel) from images built out of this host's own binaries; a
// service created through its managers runs and answers on its published
// port; taking the cluster down leaves nothing behind.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import Docker from 'dockerode';
import { leftovers } from '../helpers/host.js';
import { freePort } from '../../lab/ports.js';
import { httpGet, runOrch, waitFor } from '../../lab/run.js';
import { sh } from '../../shared/sh.js';

const root = process.cwd();
const project = 'orchcomposetest';
const compose = (...args: string[]) => sh('docker-compose', ['-p', project, '-f', join(root, 'docker-compose.test.yml'), ...args], { timeoutMs: 180_000 });
const env = { ORCH_MANAGER: '198.19.250.21:4242,198.19.250.22:4242', ORCH_TLS_DIR: join(root, '.compose/certs/orch'), ORCH_CONFIG_DIR: join(root, '.compose/cli') };
const docker = new Docker();

test.before(async () => {
  await sh('bash', [join(root, 'scripts/build-compose-images.sh')], { timeoutMs: 120_000 });
  await compose('down', '-v').catch(() => undefined); // a run killed half-way
  rmSync(join(root, '.compose'), { recursive: true, force: true });
});

test.after.always(async () => {
  await compose('down', '-v').catch(() => undefined);
  rmSync(join(root, '.compose'), { recursive: true, force: true });
});

test.serial('docker-compose brings up the test cluster; a service created through its managers runs and answers; down leaves nothing', async (t) => {
  await compose('up', '-d');
  await waitFor(async () => / Ready /.test((await runOrch(env, ['node', 'ls'])).stdout), 90_000, 'the agent joined and is ready', 500);
  const port = await freePort();
  const created = await runOrch(env, ['service', 'create', '--name', 'hello', '--replicas', '2', '-p', `${port}:80`, 'orch-test/httpd']);
  t.is(created.code, 0, created.stderr);
  const running = await docker.listContainers({ filters: { label: ['orch.cluster=compose', 'orch.service.name=hello'] } });
  t.is(running.length, 2, "two replicas on this host's engine");
  const ids = running.map((c) => c.Id.slice(0, 12));
  await waitFor(async () => ids.includes(await httpGet('127.0.0.1', port, 1000).catch(() => '')), 10_000, `127.0.0.1:${port} answers`);
  const store = JSON.parse((await runOrch(env, ['cluster', 'status', '--format', 'json'])).stdout) as { members: Array<{ endpoint: string; answering: boolean }> };
  t.deepEqual(store.members.map((m) => `${m.endpoint} ${m.answering}`).sort(), [1, 2, 3].map((i) => `https://198.19.250.1${i}:2379 true`), 'three etcd members, over TLS');
  t.is((await runOrch(env, ['service', 'rm', 'hello'])).code, 0);
  await waitFor(async () => (await docker.listContainers({ all: true, filters: { label: ['orch.cluster=compose'] } })).length === 0, 20_000, 'the replicas removed');
  await compose('down', '-v');
  t.deepEqual((await docker.listContainers({ all: true, filters: { label: [`com.docker.compose.project=${project}`] } })).map((c) => c.Names[0]), [], 'no container of the project');
  t.deepEqual((await docker.listVolumes({ filters: { label: [`com.docker.compose.project=${project}`] } })).Volumes.map((v) => v.Name), [], 'no volume');
  t.deepEqual((await docker.listNetworks({ filters: { label: [`com.docker.compose.project=${project}`] } })).map((n) => n.Name), [], 'no network');
  t.deepEqual(await leftovers(docker, 'compose'), [], 'nothing of the agent in the kernel or the engine');
});
