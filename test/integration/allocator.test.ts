// Address and network allocation against a real etcd, under concurrency:
// two allocators that both believe they lead (the worst case a fence can
// fail to stop) never hand out one address twice; concurrent network creates
// never share a subnet or a VNI; a network in use cannot be removed.
import test from 'ava';
import { ServiceSpec, Task, TaskState } from '../../proto/generated/orch.js';
import { allocatePass } from '../../manager/allocator/index.js';
import { Cache, keys, PREFIX, Store } from '../../manager/store/index.js';
import { newId } from '../../shared/ids.js';
import { overlaps, parseCidr } from '../../shared/ipam.js';
import { logger } from '../../shared/log.js';
import { connect } from '../../client/control.js';
import { tempEtcd } from '../../lab/etcd.js';
import { initManager, managerOnTempEtcd } from '../helpers/manager.js';

const log = logger('test');

test('two allocators racing over 300 tasks and a /24: every address handed out once, the rest say the pool is exhausted', async (t) => {
  const etcd = await tempEtcd();
  const { m, admin } = await initManager(t, etcd);
  const stores: Store[] = [];
  const caches: Cache[] = [];
  t.teardown(async () => {
    for (const c of caches) await c.stop();
    for (const s of stores) s.etcd.close();
    await m.stop();
    await etcd.destroy();
  });
  await m.start();
  await new Promise((r) => setTimeout(r, 100));
  const ctl = connect(m.addr, admin);
  const net = await ctl.createNetwork({ name: 'small', driver: 'overlay', subnet: '10.20.0.0/24', gateway: '', labels: {} });
  ctl.close();
  await m.stop(); // only our two allocators write from here on

  // 300 pending tasks wanting an address on a /24 (253 free: 254 hosts less the gateway).
  const seed = new Store(etcd.endpoint);
  stores.push(seed);
  const ids: string[] = [];
  for (let i = 0; i < 300; i += 50) {
    const txn = seed.txn();
    for (let j = i; j < i + 50; j++) {
      const id = newId();
      ids.push(id);
      txn.put('tasks', id, Task.fromPartial({ id, serviceId: 's', serviceName: 's', slot: j + 1, desiredState: TaskState.RUNNING, status: { state: TaskState.PENDING }, networks: [{ networkId: net.id, addr: '' }] }));
    }
    await txn.commit();
  }

  // Two "leaders" with the same fence, each with its own mirror.
  const leader = await seed.etcd.put(keys.leader()).value('x').exec();
  const fence = { createRevision: Number(leader.header.revision) };
  for (let i = 0; i < 2; i++) {
    const s = new Store(etcd.endpoint);
    s.fence = fence;
    const c = new Cache(s, log);
    await c.start();
    stores.push(s);
    caches.push(c);
  }
  for (let round = 0; round < 6; round++) {
    await Promise.all(caches.map((c, i) => allocatePass(c, stores[i + 1]!)));
    await Promise.all(caches.map((c, i) => c.waitFor(stores[i + 1]!.lastRevision)));
  }

  const tasks = (await seed.list('tasks')).map((v) => v.value);
  const addrs = tasks.flatMap((x) => x.networks.map((a) => a.addr)).filter(Boolean);
  t.is(new Set(addrs).size, addrs.length, 'no address held by two tasks');
  t.is(addrs.length, 253, 'the whole pool is used');
  t.false(addrs.includes('10.20.0.1/24'), 'never the gateway');
  const ipam = await seed.etcd.getAll().prefix(`${PREFIX}ipam/${net.id}/`).strings();
  t.is(Object.keys(ipam).length, 253, 'one ipam key per address');
  for (const x of tasks.filter((x) => x.networks[0]!.addr)) t.is(ipam[keys.ipam(net.id, x.networks[0]!.addr.split('/')[0]!)], x.id, 'the key names its task');
  const waiting = tasks.filter((x) => !x.networks[0]!.addr);
  t.is(waiting.length, 47);
  t.true(waiting.every((x) => x.status?.err === 'no free address in network "small" (10.20.0.0/24 is exhausted)'));
});

test('20 concurrent network creates: distinct subnets and VNIs; a network in use cannot be removed', async (t) => {
  const { m, admin } = await managerOnTempEtcd(t);
  const ctl = connect(m.addr, admin);
  t.teardown(() => ctl.close());
  const made = await Promise.all(Array.from({ length: 20 }, (_, i) => ctl.createNetwork({ name: `n${i}`, driver: '', subnet: '', gateway: '', labels: {} })));
  t.is(new Set(made.map((n) => n.vni)).size, 20);
  const subnets = made.map((n) => parseCidr(n.subnet));
  for (let i = 0; i < subnets.length; i++) for (let j = i + 1; j < subnets.length; j++) t.false(overlaps(subnets[i]!, subnets[j]!), `${made[i]!.subnet} vs ${made[j]!.subnet}`);

  await t.throwsAsync(ctl.createNetwork({ name: 'clash', driver: '', subnet: '10.10.0.0/16', gateway: '', labels: {} }), { message: /overlaps network "n\d+"/ });
  await t.throwsAsync(ctl.createNetwork({ name: 'n1', driver: '', subnet: '', gateway: '', labels: {} }), { message: /network "n1" already exists/ });
  await t.throwsAsync(ctl.createNetwork({ name: 'gw', driver: '', subnet: '10.99.0.0/24', gateway: '10.98.0.1', labels: {} }), { message: /gateway 10\.98\.0\.1 is not a host address of 10\.99\.0\.0\/24/ });

  await ctl.createService(ServiceSpec.fromPartial({ name: 'web', replicas: 0, container: { image: 'orch-test/sleep:latest' }, networks: ['n1', 'n2'] }));
  const svc = await ctl.getService({ ref: 'web' });
  t.deepEqual(svc.spec!.networks, [made[1]!.id, made[2]!.id], 'names are stored as ids');
  await t.throwsAsync(ctl.removeNetwork({ ref: 'n1' }), { message: /network "n1" is used by service web/ });
  await t.throwsAsync(ctl.createService(ServiceSpec.fromPartial({ name: 'api', container: { image: 'orch-test/sleep:latest' }, networks: ['nope'] })), { message: /network "nope" not found/ });
  t.is((await ctl.listServices({})).services.length, 1, 'a refused create wrote nothing');
  await ctl.removeService({ ref: 'web' });
  await ctl.removeNetwork({ ref: 'n1' });
  t.deepEqual((await ctl.listNetworks({})).networks.map((n) => n.spec!.name).filter((n) => n.startsWith('n')).length, 19);
  await t.throwsAsync(ctl.removeNetwork({ ref: 'ingress' }), { message: /the ingress network is built in/ });
});
