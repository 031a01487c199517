// Service discovery and the routing mesh on a real 3-host lab: a published
// port answers on every host and spreads over all replicas; VIPs and DNS
// names work from another service's container; scaling and a dead host
// while a bounded client loop runs; host-mode publishing; port conflicts.
import test from 'ava';
import { TaskState } from '../../proto/generated/orch.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';
import { httpGet } from '../../lab/run.js';
import { clientLoop } from '../../lab/client-loop.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
let hosts: string[] = [];

test.before(async () => {
  lab = await LabCluster.up({ name: 'tmesh', index: 248, hosts: 3, managers: 1 });
  hosts = lab.state.hosts.map((h) => h.addr);
});

test.after.always(async () => {
  await lab?.down();
});

const get = (host: string, port: number, timeoutMs = 2000) => httpGet(host, port, timeoutMs);

async function runningContainers(service: string): Promise<string[]> {
  return (await lab.tasks(service)).filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING).map((t) => t.status!.containerId.slice(0, 12));
}

test.serial('a published port answers on every host, also one with no replica, and spreads fairly over all replicas', async (t) => {
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '3', '--constraint', 'node.hostname!=h3', '--publish', 'published=8080,target=80', '--stop-grace-period', '1s', 'orch-test/httpd');
  const placement = await lab.placement('web');
  t.false('h3' in placement, 'no replica on h3');
  const replicas = await runningContainers('web');
  // Every host applies the service's rules once it hears of its running tasks: wait for that (bounded).
  const readyAt = Date.now();
  for (const addr of hosts) await lab.waitFor(async () => replicas.includes(await get(addr, 8080)), 5000, `port 8080 on ${addr}`);
  t.log(`all 3 hosts answered ${Date.now() - readyAt} ms after create returned`);

  const counts = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const who = await get(hosts[i % 3]!, 8080);
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  t.log(`300 requests: ${[...counts.values()].join(' / ')}`);
  t.deepEqual([...counts.keys()].sort(), [...replicas].sort(), 'every replica answered');
  // A fair share is 100 each; 60 is five standard deviations below it.
  for (const [who, n] of counts) t.true(n >= 60, `${who} got ${n} of 300`);
});

test.serial('a host with replicas killed under a client loop: the surviving hosts answer again within the recovery time', async (t) => {
  // 4 replicas, 2 on h1 and 2 on h2 (h3 runs none): h2 dies, h1 keeps serving at once.
  await lab.ok('service', 'scale', 'web=4', '--detach');
  await lab.ok('service', 'update', 'web', '--rebalance');
  t.deepEqual(await lab.placement('web'), { h1: 2, h2: 2 });
  const survivors = hosts.filter((_, i) => i !== 1); // h2 goes
  const loop = clientLoop(() => survivors, 8080);
  await new Promise((r) => setTimeout(r, 500));
  const killedAt = Date.now();
  await lab.kill('h2');
  await lab.waitFor(async () => (await runningContainers('web')).length === 4 && !(await lab.placement('web')).h2, 20_000, 'web running again without h2');
  const recovered = Date.now() - killedAt;
  await new Promise((r) => setTimeout(r, 3000));
  await loop.stop();
  const before = loop.samples.filter((s) => s.at < killedAt);
  t.log(`before the kill: ${before.length} requests, ${before.filter((s) => !s.ok).length} failed`);
  const after = loop.samples.filter((s) => s.at >= killedAt);
  const failed = after.filter((s) => !s.ok);
  const lastFailure = failed.length ? failed[failed.length - 1]!.at - killedAt : 0;
  t.log(`after the kill: ${after.length} requests, ${failed.length} failed, the last sent ${lastFailure} ms after it; all replicas ran again after ${recovered} ms (as polled through the CLI)`);
  const late = failed.filter((f) => f.at - killedAt > recovered);
  t.log(`failed after recovery: ${late.length} (${late.map((f) => `+${f.at - killedAt}ms ${f.host} ${f.err}`).join(', ')})`);
  // Until h2 is found dead (about 1 s), a request sent to its tasks fails; none is sent after recovery and fails.
  t.true(lastFailure <= recovered, `the last failure (+${lastFailure} ms) came within the recovery (${recovered} ms)`);
  t.deepEqual(late, [], 'no request failed after recovery');
  t.true(after.slice(-20).every((s) => s.ok), 'the last requests all succeed');
  await lab.restart('h2');
});

test.serial('by name, by VIP and tasks.<name> from another service on the same network', async (t) => {
  await lab.ok('network', 'create', 'app');
  await lab.ok('service', 'create', '--name', 'api', '--replicas', '3', '--network', 'app', 'orch-test/httpd');
  await lab.ok('service', 'create', '--name', 'client', '--network', 'app', 'orch-test/sleep');
  const api = (JSON.parse(await lab.ok('service', 'inspect', 'api')) as Array<{ vips: Array<{ addr: string }> }>)[0]!;
  const vip = api.vips[0]!.addr.split('/')[0]!;
  const taskIps = (await lab.tasks('api')).filter((x) => x.status?.state === TaskState.RUNNING).map((x) => x.networks[0]!.addr.split('/')[0]!).sort();
  const names = await lab.hostnames();
  const c = (await lab.tasks('client'))[0]!;
  const on = names.get(c.nodeId)!;
  const cid = c.status!.containerId;
  const replicas = await runningContainers('api');
  t.true(replicas.includes((await lab.exec(on, cid, 'wget -qO- http://api/')).trim()), 'by name');
  t.true(replicas.includes((await lab.exec(on, cid, `wget -qO- http://${vip}/`)).trim()), 'by VIP');
  t.regex(await lab.exec(on, cid, 'nslookup api'), new RegExp(`Address: ${vip.replace(/\./g, '\\.')}`));
  const listed = [...(await lab.exec(on, cid, 'nslookup tasks.api')).matchAll(/Address: (10\.[\d.]+)/g)].map((m) => m[1]).sort();
  t.deepEqual(listed, taskIps);
  // Through the VIP every replica is reached.
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) seen.add((await lab.exec(on, cid, 'wget -qO- http://api/')).trim());
  t.deepEqual([...seen].sort(), [...replicas].sort());
  // Removing them takes the network off every host: nothing else may be disturbed by that.
  await lab.ok('service', 'rm', 'api', 'client');
  await lab.waitFor(async () => (await lab.ok('network', 'inspect', 'app')).includes('"endpointsByHost": {}'), 15_000, 'app has no endpoints left');
  t.false((await lab.ok('node', 'ls')).includes('Down'), 'every node still up');
});

test.serial('scale 4 → 6 and 6 → 2 under a client loop: nothing fails once converged, and new replicas get traffic', async (t) => {
  const loop = clientLoop(() => hosts, 8080);
  await new Promise((r) => setTimeout(r, 500));
  await lab.ok('service', 'scale', 'web=6');
  const convergedUp = Date.now() + 500; // the CLI returned; give every host a moment to apply its rules
  await new Promise((r) => setTimeout(r, 2500));
  const six = await runningContainers('web');
  const downStart = Date.now();
  await lab.ok('service', 'scale', 'web=2');
  const convergedDown = Date.now() + 500;
  await new Promise((r) => setTimeout(r, 2500));
  const two = await runningContainers('web');
  await loop.stop();
  const { samples } = loop;
  const afterUp = samples.filter((s) => s.at >= convergedUp && s.at < downStart);
  const afterDown = samples.filter((s) => s.at >= convergedDown);
  t.log(`${samples.length} requests, ${samples.filter((s) => !s.ok).length} failed in all (during changes included)`);
  t.log(samples.filter((s) => !s.ok).map((f) => `${f.at - downStart}ms after scaling down began: ${f.host} ${f.err}`).join('\n'));
  t.true(afterUp.length > 20 && afterDown.length > 20, 'the loop kept going');
  t.deepEqual(afterUp.filter((s) => !s.ok), [], 'none failed after scaling up converged');
  t.deepEqual(afterDown.filter((s) => !s.ok), [], 'none failed after scaling down converged');
  t.is(six.length, 6);
  const answered = new Set(afterUp.map((s) => s.who));
  t.deepEqual(six.filter((c) => !answered.has(c)), [], `all 6 replicas, the new ones too, got traffic (${[...answered].length} answered)`);
  t.true(afterDown.every((s) => two.includes(s.who)), 'after scaling down only the 2 left answer');
});

test.serial('host mode publishes only where a task runs; a published port is unique in the cluster', async (t) => {
  await lab.ok('service', 'create', '--name', 'local', '--constraint', 'node.hostname==h3', '--publish', 'published=9090,target=80,mode=host', 'orch-test/httpd');
  const [c] = await runningContainers('local');
  t.is(await get(hosts[2]!, 9090), c);
  await t.throwsAsync(get(hosts[0]!, 9090, 1000), undefined, 'not on h1');
  const dup = await lab.orch('service', 'create', '--name', 'again', '-p', '9090:80', 'orch-test/httpd');
  t.is(dup.code, 1);
  t.regex(dup.stderr, /port 9090\/tcp is already published by another service/);
  const dup2 = await lab.orch('service', 'create', '--name', 'again', '-p', '8080:80', 'orch-test/httpd');
  t.regex(dup2.stderr, /port 8080\/tcp is already published/);
  t.false((await lab.ok('service', 'ls')).includes('again'), 'a refused create wrote nothing');
  // The port is free again once its service is gone.
  await lab.ok('service', 'rm', 'local');
  await lab.ok('service', 'create', '--name', 'again', '-d', '-p', '9090:80', 'orch-test/httpd');
  t.pass();
});
