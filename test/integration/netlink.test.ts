// The netlink client against the real kernel, in a throwaway network
// namespace: create bridge, vxlan and veth devices, addresses, routes,
// neighbours and FDB entries, dump them back (and cross-check with
// iproute2), then delete them. The test process itself never leaves its own
// namespace: the client's socket is opened inside the throwaway one.
import { closeSync, openSync, readlinkSync } from 'node:fs';
import test from 'ava';
import { Netlink, NetlinkError, isExists } from '../../agent/network/netlink/index.js';
import { sh } from '../../shared/sh.js';

const NS = `orch-nl-${process.pid}`;
const NS2 = `orch-nl2-${process.pid}`;
let nl: Netlink;

test.before(async () => {
  await sh('ip', ['netns', 'add', NS]);
  await sh('ip', ['netns', 'add', NS2]);
  nl = Netlink.open(`/var/run/netns/${NS}`);
});

test.after.always(async () => {
  nl?.close();
  await sh('ip', ['netns', 'del', NS]).catch(() => undefined);
  await sh('ip', ['netns', 'del', NS2]).catch(() => undefined);
});

const ipIn = (ns: string, ...args: string[]) => sh('ip', ['-n', ns, ...args]);

test.serial('the caller stays in its own namespace', (t) => {
  const before = readlinkSync('/proc/thread-self/ns/net');
  const other = Netlink.open(`/var/run/netns/${NS2}`);
  t.is(readlinkSync('/proc/thread-self/ns/net'), before);
  t.deepEqual(other.links().map((l) => l.name), ['lo'], 'a new namespace has only lo');
  other.close();
});

test.serial('links: bridge, vxlan (learning off, proxy on), veth; up, master, mtu; dumped back', async (t) => {
  nl.setLink('lo', { up: true });
  nl.addBridge('obrtest', { mtu: 1450 });
  nl.addVeth('uplink', 'uplink-p', { mtu: 1500 });
  nl.addAddress('uplink', '198.18.99.1/24');
  nl.setLink('uplink', { up: true });
  nl.addVxlan('ovxtest', { vni: 4242, local: '198.18.99.1', mtu: 1450 });
  nl.setLink('ovxtest', { master: 'obrtest', up: true });
  nl.setLink('obrtest', { up: true });

  const byName = new Map(nl.links().map((l) => [l.name, l]));
  const br = byName.get('obrtest')!;
  const vx = byName.get('ovxtest')!;
  t.is(br.kind, 'bridge');
  t.true(br.up);
  t.is(br.mtu, 1450);
  t.is(vx.kind, 'vxlan');
  t.is(vx.master, br.index);
  t.deepEqual(vx.vxlan, { id: 4242, local: '198.18.99.1', port: 4789, learning: false, proxy: true });
  t.is(byName.get('uplink-p')?.kind, 'veth');
  // iproute2 sees the same device.
  const shown = await ipIn(NS, '-d', 'link', 'show', 'ovxtest');
  t.regex(shown, /vxlan id 4242 local 198\.18\.99\.1 .*dstport 4789 .*nolearning .*proxy/s);
  t.regex(shown, /master obrtest/);

  const err = t.throws(() => nl.addBridge('obrtest'), { instanceOf: NetlinkError });
  t.true(isExists(err));
});

test.serial('a veth end created straight in another namespace', async (t) => {
  const fd = openSync(`/var/run/netns/${NS2}`, 'r');
  try {
    nl.addVeth('ovetest', 'eth9', { mtu: 1450, peerNetnsFd: fd });
  } finally {
    closeSync(fd);
  }
  t.truthy(nl.link('ovetest'));
  t.is(nl.link('eth9'), undefined);
  t.regex(await ipIn(NS2, 'link', 'show', 'eth9'), /eth9@if\d+: .*mtu 1450/);
});

test.serial('addresses and routes', async (t) => {
  nl.addAddress('obrtest', '10.77.0.1/24');
  const idx = nl.index('obrtest');
  t.deepEqual(nl.addresses(idx), [{ index: idx, address: '10.77.0.1', prefixlen: 24 }]);
  nl.replaceRoute({ dst: '10.88.0.0/16', gateway: '10.77.0.254' });
  nl.replaceRoute({ dst: '10.99.0.0/16', link: 'obrtest' });
  const routes = nl.routes();
  t.like(routes.find((r) => r.dst === '10.88.0.0/16'), { gateway: '10.77.0.254', oif: idx });
  t.like(routes.find((r) => r.dst === '10.99.0.0/16'), { gateway: undefined, oif: idx });
  t.regex(await ipIn(NS, 'route'), /10\.88\.0\.0\/16 via 10\.77\.0\.254 dev obrtest/);
  nl.deleteRoute('10.88.0.0/16');
  nl.deleteRoute('10.99.0.0/16');
  t.false(nl.routes().some((r) => r.dst === '10.88.0.0/16' || r.dst === '10.99.0.0/16'));
  nl.deleteAddress('obrtest', '10.77.0.1/24');
  t.deepEqual(nl.addresses(idx), []);
});

test.serial('permanent neighbours and FDB entries on the vxlan device; replace is idempotent', async (t) => {
  for (let i = 0; i < 2; i++) {
    nl.replaceNeighbour('ovxtest', '10.77.0.5', '02:42:0a:4d:00:05');
    nl.replaceFdb('ovxtest', '02:42:0a:4d:00:05', '198.18.99.12');
  }
  const neigh = nl.neighbours('ovxtest');
  t.is(neigh.length, 1);
  t.like(neigh[0], { dst: '10.77.0.5', mac: '02:42:0a:4d:00:05', state: 0x80 });
  const fdb = nl.fdb('ovxtest').filter((f) => f.mac === '02:42:0a:4d:00:05');
  t.is(fdb.length, 1);
  t.is(fdb[0]!.dst, '198.18.99.12');
  t.regex(await sh('bridge', ['-n', NS, 'fdb', 'show', 'dev', 'ovxtest']), /02:42:0a:4d:00:05 dst 198\.18\.99\.12 self permanent/);
  t.regex(await ipIn(NS, 'neigh', 'show', 'dev', 'ovxtest'), /10\.77\.0\.5 lladdr 02:42:0a:4d:00:05 PERMANENT/);

  nl.deleteNeighbour('ovxtest', '10.77.0.5');
  nl.deleteFdb('ovxtest', '02:42:0a:4d:00:05', '198.18.99.12');
  t.deepEqual(nl.neighbours('ovxtest'), []);
  t.deepEqual(nl.fdb('ovxtest').filter((f) => f.mac === '02:42:0a:4d:00:05'), []);
});

test.serial('delete links; deleting a missing one is ENODEV', (t) => {
  for (const name of ['ovxtest', 'obrtest', 'ovetest', 'uplink']) nl.deleteLink(name);
  t.deepEqual(nl.links().map((l) => l.name), ['lo']);
  const err = t.throws(() => nl.deleteLink('obrtest'), { instanceOf: NetlinkError });
  t.is(err?.code, 'ENODEV');
});
