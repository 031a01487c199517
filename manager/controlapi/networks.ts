// Network requests: create (a unique name, a VNI and a subnet that overlaps
// no other network), list, inspect (endpoints by host) and remove (refused
// while a service uses the network or a task still holds one of its
// addresses). Checks that span all networks are made against a guard key
// that every create and remove compares and bumps, so two managers racing
// can never both succeed on the same view.
import { type Network, type NetworkInfo, type NetworkSpec, type Service } from '../../proto/generated/orch.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { contains, firstHost, formatCidr, intToIp, overlaps, parseCidr, size, type Cidr } from '../../shared/ipam.js';
import type { Logger } from '../../shared/log.js';
import { NAME_RE, NAME_RULE } from '../../shared/spec.js';
import { isIngress } from '../../shared/ingress.js';
import { networkEndpoints } from '../networks.js';
import { keys, type Cache, type Store } from '../store/index.js';
import { resolveNetwork } from './resolve.js';
import { retryConflicts } from '../store/index.js';

/** Where networks created without --subnet get a /24 from. */
export const DEFAULT_POOL = '10.10.0.0/16';
const DEFAULT_PREFIX = 24;
/** VNIs below this are left to other users of VXLAN on the hosts. */
export const FIRST_VNI = 4097;
const MAX_VNI = (1 << 24) - 1;
/** Network creates and removes all contend on the guard key: retry more, spread out. */
const GUARDED = { attempts: 40, jitterMs: 25 };

export async function createNetwork(store: Store, log: Logger, spec: NetworkSpec): Promise<Network> {
  validateNetworkSpec(spec);
  return retryConflicts(async () => {
    if (await store.getRaw(keys.networkName(spec.name))) throw exists(spec.name);
    const guard = await store.getRawVersioned(keys.networksGuard());
    const others = (await store.list('networks')).map((v) => v.value);
    const subnet = spec.subnet ? checkFree(parseCidr(spec.subnet), others) : freeDefaultSubnet(others);
    const used = new Set(others.map((n) => n.vni));
    let vni = FIRST_VNI;
    while (used.has(vni)) vni++;
    if (vni > MAX_VNI) throw new FailedPreconditionError('no VXLAN network identifier is free');
    const network: Network = {
      id: newId(),
      spec: { ...spec, driver: 'overlay' },
      vni,
      subnet: formatCidr(subnet),
      gateway: spec.gateway || firstHost(subnet),
      createdAt: new Date(),
    };
    await store
      .txn()
      .expectKey(keys.networksGuard(), guard.modRevision)
      .putKey(keys.networksGuard(), String(Number(guard.value ?? 0) + 1))
      .expectKey(keys.networkName(spec.name), 0)
      .putKey(keys.networkName(spec.name), network.id)
      .expect('networks', network.id, 0)
      .put('networks', network.id, network)
      .commit();
    log.info({ network: network.id, name: spec.name, vni, subnet: network.subnet }, 'network created');
    return network;
  }, GUARDED);
}

export async function removeNetwork(store: Store, cache: Cache, log: Logger, ref: string): Promise<{ id: string }> {
  return retryConflicts(async () => {
    const cur = await resolveNetwork(store, cache, ref);
    if (isIngress(cur.value)) throw new FailedPreconditionError('the ingress network is built in: published ports use it');
    const users = (await store.list('services')).map((v) => v.value).filter((s) => s.spec?.networks.includes(cur.value.id));
    if (users.length) {
      throw new FailedPreconditionError(`network "${cur.value.spec!.name}" is used by service${users.length === 1 ? '' : 's'} ${names(users)}; remove ${users.length === 1 ? 'it' : 'them'} or its --network first`);
    }
    const held = [...cache.tasks.values()].filter((t) => t.value.networks.some((a) => a.networkId === cur.value.id && a.addr)).length;
    if (held) throw new FailedPreconditionError(`network "${cur.value.spec!.name}" still has ${held} task address${held === 1 ? '' : 'es'} in use (tasks being removed); try again in a moment`);
    const guard = await store.getRawVersioned(keys.networksGuard());
    await store
      .txn()
      .expectKey(keys.networksGuard(), guard.modRevision)
      .putKey(keys.networksGuard(), String(Number(guard.value ?? 0) + 1))
      .expect('networks', cur.value.id, cur.modRevision)
      .delete('networks', cur.value.id)
      .deleteKey(keys.networkName(cur.value.spec!.name))
      .commit();
    log.info({ network: cur.value.id }, 'network removed');
    return { id: cur.value.id };
  }, GUARDED);
}

export async function networkInfo(store: Store, cache: Cache, ref: string): Promise<NetworkInfo> {
  const { value: network } = await resolveNetwork(store, cache, ref);
  const services = [...cache.services.values()].map((v) => v.value).filter((s) => s.spec?.networks.includes(network.id));
  const endpoints = networkEndpoints(cache, new Set([network.id])).sort((a, b) => a.hostAddr.localeCompare(b.hostAddr) || a.addr.localeCompare(b.addr));
  return { network, endpoints, services: services.map((s) => s.spec!.name).sort() };
}

function validateNetworkSpec(spec: NetworkSpec): void {
  if (!spec.name) throw new InvalidArgumentError('a network needs a name: orch network create [OPTIONS] NAME');
  if (!NAME_RE.test(spec.name)) throw new InvalidArgumentError(`invalid network name "${spec.name}": use ${NAME_RULE}`);
  if (spec.driver && spec.driver !== 'overlay') throw new InvalidArgumentError(`driver "${spec.driver}" is not supported; orch networks are overlay networks (-d overlay)`);
  if (spec.gateway && !spec.subnet) throw new InvalidArgumentError('--gateway needs --subnet');
  if (spec.subnet) {
    const c = parseCidr(spec.subnet);
    if (c.prefix > 29) throw new InvalidArgumentError(`subnet ${spec.subnet} is too small; give a /29 or larger`);
    if (c.prefix < 8) throw new InvalidArgumentError(`subnet ${spec.subnet} is too large; give a /8 or smaller`);
    if (spec.gateway) {
      const bounds = [intToIp(c.base), intToIp(c.base + size(c) - 1)];
      if (!contains(c, spec.gateway) || bounds.includes(spec.gateway)) throw new InvalidArgumentError(`gateway ${spec.gateway} is not a host address of ${spec.subnet}`);
    }
  }
  for (const k of Object.keys(spec.labels)) if (!k) throw new InvalidArgumentError('a label needs a key: --label KEY=VALUE');
}

function checkFree(subnet: Cidr, others: Network[]): Cidr {
  const clash = others.find((n) => overlaps(subnet, parseCidr(n.subnet)));
  if (clash) throw new FailedPreconditionError(`subnet ${formatCidr(subnet)} overlaps network "${clash.spec!.name}" (${clash.subnet}); pick another --subnet`);
  return subnet;
}

function freeDefaultSubnet(others: Network[]): Cidr {
  const pool = parseCidr(DEFAULT_POOL);
  const taken = others.map((n) => parseCidr(n.subnet));
  const step = 2 ** (32 - DEFAULT_PREFIX);
  for (let base = pool.base; base < pool.base + size(pool); base += step) {
    const c = { base, prefix: DEFAULT_PREFIX };
    if (!taken.some((t) => overlaps(c, t))) return c;
  }
  throw new FailedPreconditionError(`the default address pool ${DEFAULT_POOL} is exhausted; give --subnet`);
}

function exists(name: string): AlreadyExistsError {
  return new AlreadyExistsError(`network "${name}" already exists; pick another name or \`orch network rm ${name}\` first`);
}

function names(services: Service[]): string {
  return services.map((s) => s.spec!.name).sort().join(', ');
}
