// The allocator (leader, between orchestrator and scheduler): addresses on
// overlay networks for
//  - every new task: one on each network it joins;
//  - every service in VIP mode: a virtual IP on each of those networks;
//  - every node: its own address on the ingress network (published ports'
//    replies come back to it).
// An address is taken with a compare-and-put on `ipam/<network>/<ip>`
// (Create == 0) in the same transaction that records it in its holder, so it
// is never handed out twice, even by two leaders racing. Tasks' addresses go
// with the task (reaper), a service's VIPs with the service (or when it
// leaves a network), a node's with the node. A task that cannot get an
// address stays pending and says why.
import { TaskState, type Network, type Node, type Service, type Task, type VirtualIP } from '../../proto/generated/orch.js';
import { addrIp, hostsAfter, intToIp, ipToInt, parseCidr } from '../../shared/ipam.js';
import { needsAddresses } from '../cluster.js';
import { ingressNetwork, vipNetworks } from '../networks.js';
import { commitChanges, keys, put, type Change, type Snapshot, type Store, type Versioned } from '../store/index.js';

/** One allocation pass: plans, then commits. */
export async function allocatePass(cache: Snapshot, store: Store): Promise<void> {
  await commitChanges(store, planAllocation(cache), 16);
}

/** The addresses to hand out now, each change taking its own (pure). */
export function planAllocation(cache: Snapshot): Change[] {
  const pools = new Pools(cache);
  const changes: Change[] = [];
  for (const s of cache.services.values()) allocateVips(cache, s, pools, changes);
  const ingress = ingressNetwork(cache);
  if (ingress) for (const n of cache.nodes.values()) allocateIngressAddr(ingress, n, pools, changes);
  for (const t of cache.tasks.values()) {
    if (t.value.desiredState === TaskState.RUNNING && t.value.status?.state === TaskState.PENDING && needsAddresses(t.value)) allocateTask(cache, t, pools, changes);
  }
  return changes;
}

function allocateTask(cache: Snapshot, { value: t, modRevision }: Versioned<Task>, pools: Pools, changes: Change[]): void {
  const taken: Array<{ networkId: string; ip: string }> = [];
  let problem = '';
  const networks = t.networks.map((a) => {
    if (a.addr || problem) return a;
    const network = cache.networks.get(a.networkId)?.value;
    if (!network) {
      problem = `network ${a.networkId} no longer exists`;
      return a;
    }
    const ip = pools.take(network);
    if (!ip) {
      problem = exhausted(network);
      return a;
    }
    taken.push({ networkId: a.networkId, ip });
    return { ...a, addr: withPrefix(network, ip) };
  });
  if (problem) {
    for (const x of taken) pools.giveBack(x.networkId, x.ip);
    if (t.status?.err !== problem) changes.push(put('tasks', t.id, modRevision, { ...t, status: { ...t.status!, err: problem, timestamp: new Date() } }));
    return;
  }
  const claim = Object.fromEntries(taken.map((x) => [keys.ipam(x.networkId, x.ip), t.id]));
  changes.push(put('tasks', t.id, modRevision, { ...t, networks, status: { ...t.status!, err: '' } }, { claim }));
}

/** A VIP on each network the service needs one on; VIPs on networks it left are freed. */
function allocateVips(cache: Snapshot, { value: s, modRevision }: Versioned<Service>, pools: Pools, changes: Change[]): void {
  const want = vipNetworks(cache, s);
  const keep = s.vips.filter((v) => want.includes(v.networkId));
  const freed = s.vips.filter((v) => !want.includes(v.networkId));
  const added: VirtualIP[] = [];
  for (const networkId of want) {
    if (keep.some((v) => v.networkId === networkId)) continue;
    const network = cache.networks.get(networkId)?.value;
    const ip = network && pools.take(network);
    if (network && ip) added.push({ networkId, addr: withPrefix(network, ip) });
  }
  if (added.length === 0 && freed.length === 0) return;
  const claim = Object.fromEntries(added.map((v) => [keys.ipam(v.networkId, addrIp(v.addr)), `vip:${s.id}`]));
  const release = freed.map((v) => keys.ipam(v.networkId, addrIp(v.addr)));
  changes.push(put('services', s.id, modRevision, { ...s, vips: [...keep, ...added] }, { claim, release }));
}

function allocateIngressAddr(ingress: Network, { value: n, modRevision }: Versioned<Node>, pools: Pools, changes: Change[]): void {
  if (n.ingressAddr) return;
  const ip = pools.take(ingress);
  if (!ip) return;
  changes.push(put('nodes', n.id, modRevision, { ...n, ingressAddr: withPrefix(ingress, ip) }, { claim: { [keys.ipam(ingress.id, ip)]: `node:${n.id}` } }));
}

/** The highest address in the set (0.0.0.0 when empty). */
function highest(ips: Set<string>): string {
  let best = 0;
  for (const ip of ips) best = Math.max(best, ipToInt(ip));
  return intToIp(best);
}

const withPrefix = (n: Network, ip: string) => `${ip}/${parseCidr(n.subnet).prefix}`;
const exhausted = (n: Network) => `no free address in network "${n.spec!.name}" (${n.subnet} is exhausted)`;

/**
 * Free addresses per network during a pass, never the gateway or one held (as
 * the mirror knows). Addresses are handed out in turn after the highest one
 * held, wrapping around, as libnetwork does: an address just freed is the last
 * to come back, so stale neighbour entries and connections tracked to its
 * previous holder have time to go.
 */
class Pools {
  private readonly used = new Map<string, Set<string>>();
  private readonly cursors = new Map<string, Generator<string>>();
  private readonly returned = new Map<string, string[]>();

  constructor(cache: Snapshot) {
    const mark = (networkId: string, addr: string) => {
      if (!addr) return;
      let set = this.used.get(networkId);
      if (!set) this.used.set(networkId, (set = new Set()));
      set.add(addrIp(addr));
    };
    for (const { value: t } of cache.tasks.values()) for (const a of t.networks) mark(a.networkId, a.addr);
    for (const { value: s } of cache.services.values()) for (const v of s.vips) mark(v.networkId, v.addr);
    const ingress = ingressNetwork(cache);
    if (ingress) for (const { value: n } of cache.nodes.values()) mark(ingress.id, n.ingressAddr);
  }

  take(network: Network): string | undefined {
    const back = this.returned.get(network.id)?.pop();
    if (back) return back;
    let used = this.used.get(network.id);
    if (!used) this.used.set(network.id, (used = new Set()));
    used.add(network.gateway);
    let cursor = this.cursors.get(network.id);
    if (!cursor) this.cursors.set(network.id, (cursor = hostsAfter(parseCidr(network.subnet), highest(used))));
    for (let r = cursor.next(); !r.done; r = cursor.next()) {
      if (!used.has(r.value)) {
        used.add(r.value);
        return r.value;
      }
    }
    return undefined;
  }

  giveBack(networkId: string, ip: string): void {
    const list = this.returned.get(networkId) ?? [];
    list.push(ip);
    this.returned.set(networkId, list);
  }
}
