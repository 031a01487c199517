// Overlay networks across the hosts of a real lab: containers of one network
// reach each other by their own addresses over VXLAN (ping and a TCP
// request), networks are isolated, a dead host's endpoints are dropped, an
// agent restart neither duplicates nor loses anything, and a removed network
// leaves nothing behind on any host.
import test from 'ava';
import { TaskState, type Task } from '../../proto/generated/orch.js';
import { LabCluster } from '../../lab/lab-cluster.js';
import { reportLogsOnFailure } from '../helpers/lab.js';
import { Netlink } from '../../agent/network/netlink/index.js';
import { netnsPath, listNetns } from '../../agent/network/netns.js';
import { hostKeyOfInode } from '../../agent/host.js';

let lab: LabCluster;
reportLogsOnFailure(test, () => lab);
let front = '';

test.before(async () => {
  lab = await LabCluster.up({ name: 'tnet', index: 254, hosts: 3, managers: 1 });
  front = (await lab.ok('network', 'create', 'front')).trim();
  await lab.ok('network', 'create', '--subnet', '10.30.0.0/24', 'back');
});

test.after.always(async () => {
  await lab?.down();
});

interface Replica {
  host: string;
  container: string;
  ip: string;
  task: Task;
}

/** Running replicas of a service with their host, container and address on `network`. */
async function replicas(service: string, networkId: string): Promise<Replica[]> {
  const names = await lab.hostnames();
  return (await lab.tasks(service))
    .filter((t) => t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING)
    .map((t) => ({ host: names.get(t.nodeId)!, container: t.status!.containerId, ip: t.networks.find((a) => a.networkId === networkId)!.addr.split('/')[0]!, task: t }));
}

/** The prefix of a host's network namespaces (ADR 0010: named by the host, not the node). */
const nsPrefix = (host: string) => `orchnet.${hostKeyOfInode(lab.host(host).netnsInode!)}.`;

/** What the kernel holds for a network on a host: the vxlan's neighbours and FDB entries. */
function kernelEntries(host: string, vni: number): { neigh: string[]; fdb: string[]; links: string[] } {
  const ns = `${nsPrefix(host)}${vni}`;
  const nl = Netlink.open(netnsPath(ns));
  try {
    return {
      neigh: nl.neighbours(`ovx${vni}`).map((n) => `${n.dst}=${n.mac}`).sort(),
      fdb: nl.fdb(`ovx${vni}`).filter((f) => f.dst).map((f) => `${f.mac}>${f.dst}`).sort(),
      links: nl.links().map((l) => l.name).sort(),
    };
  } finally {
    nl.close();
  }
}

async function vniOf(name: string): Promise<number> {
  return (JSON.parse(await lab.ok('network', 'inspect', name)) as Array<{ vni: number }>)[0]!.vni;
}

test.serial('replicas on different hosts reach each other by overlay address: ping and a TCP request', async (t) => {
  await lab.ok('service', 'create', '--name', 'web', '--replicas', '3', '--network', 'front', 'orch-test/httpd');
  const reps = await replicas('web', front);
  t.deepEqual(reps.map((r) => r.host).sort(), ['h1', 'h2', 'h3']);
  for (const r of reps) t.regex(r.ip, /^10\.10\.\d+\.\d+$/);
  for (const from of reps) {
    for (const to of reps) {
      if (from === to) continue;
      await lab.exec(from.host, from.container, `ping -c 1 -W 2 ${to.ip}`);
      // httpd answers with the container's hostname: the first 12 characters of its id.
      const page = await lab.exec(from.host, from.container, `wget -qO- http://${to.ip}/`);
      t.is(page.trim(), to.container.slice(0, 12), `${from.host} → ${to.host}`);
    }
  }
  // The container has its interface, address and route, with the overlay MTU.
  const r0 = reps[0]!;
  t.regex(await lab.exec(r0.host, r0.container, 'ip -o addr show eth0'), new RegExp(`inet ${r0.ip.replace(/\./g, '\\.')}/24`));
  t.regex(await lab.exec(r0.host, r0.container, 'ip link show eth0'), /mtu 1450/);
  // network inspect lists the endpoints by host.
  const info = JSON.parse(await lab.ok('network', 'inspect', 'front'))[0] as { endpointsByHost: Record<string, unknown[]>; services: string[] };
  t.deepEqual(Object.keys(info.endpointsByHost).sort(), ['h1', 'h2', 'h3']);
  t.deepEqual(info.services, ['web']);
});

test.serial('a container on one network cannot reach one on another', async (t) => {
  const backId = (JSON.parse(await lab.ok('network', 'inspect', 'back')) as Array<{ id: string }>)[0]!.id;
  await lab.ok('service', 'create', '--name', 'db', '--network', 'back', 'orch-test/httpd');
  const [db] = await replicas('db', backId);
  t.regex(db!.ip, /^10\.30\.0\.\d+$/);
  for (const w of await replicas('web', front)) {
    await t.throwsAsync(lab.exec(w.host, w.container, `ping -c 1 -W 1 ${db!.ip}`), undefined, `${w.host} must not reach back`);
    await t.throwsAsync(lab.exec(w.host, w.container, `echo | nc -w 1 ${db!.ip} 80`));
  }
  await lab.ok('service', 'rm', 'db');
});

test.serial('an agent restart neither duplicates nor loses devices and entries', async (t) => {
  const vni = await vniOf('front');
  const before = kernelEntries('h2', vni);
  t.is(before.neigh.length, 2, 'the two remote endpoints');
  t.is(before.fdb.length, 2);
  await lab.restartAgent('h2');
  await lab.waitFor(async () => (await lab.ok('node', 'inspect', 'h2')).includes('NODE_READY'), 15_000, 'h2 ready');
  await new Promise((r) => setTimeout(r, 1500)); // a network state push and a reconcile
  t.deepEqual(kernelEntries('h2', vni), before);
  t.deepEqual(listNetns(nsPrefix('h2')).length, 1, 'one namespace for the one network');
  const reps = await replicas('web', front);
  const onH2 = reps.find((r) => r.host === 'h2')!;
  for (const to of reps.filter((r) => r !== onH2)) t.is((await lab.exec('h2', onH2.container, `wget -qO- http://${to.ip}/`)).trim(), to.container.slice(0, 12));
});

test.serial('a killed host\'s endpoints are dropped by the others; its replacement is reachable', async (t) => {
  const vni = await vniOf('front');
  const dead = (await replicas('web', front)).find((r) => r.host === 'h3')!;
  await lab.kill('h3');
  await lab.waitFor(async () => {
    const reps = await replicas('web', front);
    return reps.length === 3 && !reps.some((r) => r.host === 'h3');
  }, 20_000, 'web replaced on h1/h2');
  const reps = await replicas('web', front);
  for (const host of ['h1', 'h2']) {
    await lab.waitFor(async () => !kernelEntries(host, vni).neigh.some((n) => n.startsWith(`${dead.ip}=`)), 10_000, `${host} dropped ${dead.ip}`);
    const { neigh } = kernelEntries(host, vni);
    t.false(neigh.some((n) => n.startsWith(`${dead.ip}=`)));
    for (const r of reps.filter((x) => x.host !== host)) t.true(neigh.some((n) => n.startsWith(`${r.ip}=`)), `${host} knows ${r.ip}`);
  }
  const a = reps.find((r) => r.host === 'h1')!;
  for (const b of reps.filter((r) => r.host === 'h2')) t.is((await lab.exec('h1', a.container, `wget -qO- http://${b.ip}/`)).trim(), b.container.slice(0, 12));
  await lab.restart('h3');
});

test.serial('removing the network leaves nothing of it on any host', async (t) => {
  const vni = await vniOf('front');
  const refused = await lab.orch('network', 'rm', 'front');
  t.is(refused.code, 1);
  t.regex(refused.stderr, /network "front" is used by service web/);
  await lab.ok('service', 'rm', 'web');
  await lab.waitFor(async () => (await lab.orch('network', 'rm', 'front')).code === 0, 20_000, 'network removed once its tasks are gone');
  for (const h of ['h1', 'h2', 'h3']) {
    await lab.waitFor(async () => listNetns(nsPrefix(h)).length === 0, 20_000, `${h}: network namespace gone`);
    t.notRegex(await lab.onHost(h, 'ip', ['-o', 'link', 'show']), new RegExp(`ovx${vni}|ovc|ove`), `${h}: no overlay devices left`);
    const dockerNets = await lab.engine(h).listNetworks({ filters: { label: ['orch.network'] } });
    t.deepEqual(dockerNets.map((n) => n.Name), [], `${h}: no docker network left`);
  }
});
