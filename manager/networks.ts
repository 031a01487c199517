// Who is where on the overlay networks, as the mirror knows it: the
// endpoints (task addresses) on nodes that are up, which the dispatcher
// pushes to agents and `network inspect` shows; the built-in ingress
// network; the networks a service's tasks join.
import { EndpointSpec_Mode, PortConfig_PublishMode, TaskState, type Endpoint, type Network, type Service } from '../proto/generated/orch.js';
import { addrIp, macFor } from '../shared/ipam.js';
import { isTerminal, servesTraffic } from '../shared/states.js';
import { nodeStanding } from './cluster.js';
import type { Cache } from './store/index.js';

/**
 * Endpoints on the given networks: every task with an address there that
 * has been handed to a node which is up, and has not ended.
 */
export function networkEndpoints(cache: Cache, networkIds: ReadonlySet<string>): Endpoint[] {
  const out: Endpoint[] = [];
  for (const { value: t } of cache.tasks.values()) {
    if (!t.nodeId || !t.status || t.status.state < TaskState.ASSIGNED || isTerminal(t.status.state)) continue;
    const standing = nodeStanding(cache, t.nodeId);
    if (standing !== 'ready' && standing !== 'draining') continue;
    const hostAddr = cache.nodes.get(t.nodeId)?.value.description?.addr ?? '';
    for (const a of t.networks) {
      if (!a.addr || !networkIds.has(a.networkId)) continue;
      const serving = servesTraffic(t);
      out.push({ networkId: a.networkId, taskId: t.id, addr: a.addr, mac: macFor(addrIp(a.addr)), nodeId: t.nodeId, hostAddr, serviceName: t.serviceName, serviceId: t.serviceId, serving });
    }
  }
  return out;
}

/** The label that marks the built-in ingress network. */
export const INGRESS_LABEL = 'orch.ingress';
export const INGRESS_NAME = 'ingress';
/** Swarm's ingress is 10.0.0.0/24; ours is larger and out of the default pool. */
export const INGRESS_SUBNET = '10.255.0.0/16';

/** The ingress network (published ports in ingress mode), once the leader made it. */
export function ingressNetwork(cache: Cache): Network | undefined {
  for (const { value: n } of cache.networks.values()) if (n.spec?.labels[INGRESS_LABEL] === 'true') return n;
  return undefined;
}

/** Whether a service publishes a port in ingress mode (so its tasks join the ingress network). */
export function publishesIngress(s: Service): boolean {
  return (s.spec?.endpoint?.ports ?? []).some((p) => p.publishMode === PortConfig_PublishMode.INGRESS);
}

/** The networks a service's tasks join: its own, and ingress if it publishes there. */
export function serviceNetworks(cache: Cache, s: Service): string[] {
  const ids = [...(s.spec?.networks ?? [])];
  const ingress = ingressNetwork(cache);
  if (ingress && publishesIngress(s) && !ids.includes(ingress.id)) ids.push(ingress.id);
  return ids;
}

/** The networks a service needs a virtual IP on (none in DNS round-robin mode). */
export function vipNetworks(cache: Cache, s: Service): string[] {
  return s.spec?.endpoint?.mode === EndpointSpec_Mode.DNSRR ? [] : serviceNetworks(cache, s);
}

/** Every node's own address on the ingress network, as endpoints (no task), for nodes that are up. */
export function ingressEndpoints(cache: Cache, ingressId: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const { value: n } of cache.nodes.values()) {
    if (!n.ingressAddr || nodeStanding(cache, n.id) === 'down') continue;
    out.push({ networkId: ingressId, taskId: '', addr: n.ingressAddr, mac: macFor(addrIp(n.ingressAddr)), nodeId: n.id, hostAddr: n.description?.addr ?? '', serviceName: '', serviceId: '', serving: false });
  }
  return out;
}
