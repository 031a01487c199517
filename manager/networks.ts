// Who is where on the overlay networks, as the mirror knows it: the
// endpoints (task addresses), which the dispatcher pushes to agents and
// `network inspect` shows; the built-in ingress network; the networks a
// service's tasks join.
//
// A node that is down keeps its endpoints as neighbours (other hosts still
// route replies to its addresses) but none of them serves: a host whose
// agent is frozen or restarting keeps answering on its published ports with
// the rules it has, and the backends it reaches answer back (ADR 0010).
import { EndpointSpec_Mode, PortConfig_PublishMode, PortConfig_TrafficPolicy, TaskState, type Endpoint, type Network, type Service } from '../proto/generated/orch.js';
import { addrIp, macFor } from '../shared/ipam.js';
import { isIngress } from '../shared/ingress.js';
import { isTerminal, servesTraffic } from '../shared/states.js';
import { nodeStanding } from './cluster.js';
import type { Snapshot } from './store/index.js';

/**
 * Endpoints on the given networks: every task with an address there that
 * has been handed to a node which still exists, and has not ended; it
 * serves only while its node is up.
 */
export function networkEndpoints(cache: Snapshot, networkIds: ReadonlySet<string>): Endpoint[] {
  const out: Endpoint[] = [];
  for (const { value: t } of cache.tasks.values()) {
    if (!t.nodeId || !t.status || t.status.state < TaskState.ASSIGNED || isTerminal(t.status.state)) continue;
    const standing = nodeStanding(cache, t.nodeId);
    if (standing === 'gone') continue;
    const hostAddr = cache.nodes.get(t.nodeId)?.value.description?.addr ?? '';
    for (const a of t.networks) {
      if (!a.addr || !networkIds.has(a.networkId)) continue;
      const serving = standing !== 'down' && servesTraffic(t);
      out.push({ networkId: a.networkId, taskId: t.id, addr: a.addr, mac: macFor(addrIp(a.addr)), nodeId: t.nodeId, hostAddr, serviceName: t.serviceName, serviceId: t.serviceId, serving });
    }
  }
  return out;
}

/** The ingress network (published ports in ingress mode), once the leader made it. */
export function ingressNetwork(cache: Snapshot): Network | undefined {
  for (const { value: n } of cache.networks.values()) if (isIngress(n)) return n;
  return undefined;
}

/** Whether a service publishes a port in ingress mode (every node answers its ports). */
export function publishesIngress(s: Service): boolean {
  return (s.spec?.endpoint?.ports ?? []).some((p) => p.publishMode === PortConfig_PublishMode.INGRESS);
}

/**
 * Whether a service's tasks join the ingress network: to publish in ingress
 * mode, or in host mode from orch networks (Docker maps host-mode ports only
 * for containers on its own bridge, so there the node DNATs them itself).
 */
export function joinsIngress(s: Service): boolean {
  const ports = s.spec?.endpoint?.ports ?? [];
  return publishesIngress(s) || (ports.length > 0 && (s.spec?.networks.length ?? 0) > 0);
}

/** Whether a service's tasks answer some published port's clients directly, not through a SNAT (traffic=local, host mode). */
function answersDirectly(s: Service): boolean {
  return (s.spec?.endpoint?.ports ?? []).some((p) => p.publishMode === PortConfig_PublishMode.HOST || p.trafficPolicy === PortConfig_TrafficPolicy.LOCAL);
}

/**
 * The networks a service's tasks join, in order (the first gives the default
 * route): its own, and ingress if it joins that; ingress first when its tasks
 * answer clients directly, since those replies leave through ingress.
 */
export function serviceNetworks(cache: Snapshot, s: Service): string[] {
  const ids = [...(s.spec?.networks ?? [])];
  const ingress = ingressNetwork(cache);
  if (!ingress || !joinsIngress(s) || ids.includes(ingress.id)) return ids;
  return answersDirectly(s) ? [ingress.id, ...ids] : [...ids, ingress.id];
}

/**
 * The networks a service needs a virtual IP on: its own (none in DNS
 * round-robin mode). Not ingress: published ports go to task addresses, and
 * no name resolves there.
 */
export function vipNetworks(cache: Snapshot, s: Service): string[] {
  if (s.spec?.endpoint?.mode === EndpointSpec_Mode.DNSRR) return [];
  const ingress = ingressNetwork(cache);
  return serviceNetworks(cache, s).filter((id) => id !== ingress?.id);
}

/** Every node's own address on the ingress network, as endpoints (no task), down or not: the replies to its SNATed connections come back to it. */
export function ingressEndpoints(cache: Snapshot, ingressId: string): Endpoint[] {
  const out: Endpoint[] = [];
  for (const { value: n } of cache.nodes.values()) {
    if (!n.ingressAddr) continue;
    out.push({ networkId: ingressId, taskId: '', addr: n.ingressAddr, mac: macFor(addrIp(n.ingressAddr)), nodeId: n.id, hostAddr: n.description?.addr ?? '', serviceName: '', serviceId: '', serving: false });
  }
  return out;
}
