// What one node is told about the overlay: the networks its tasks join, and
// those of every service that may be placed on it (standbyNetworks), and
// ingress, which every node serves once a service publishes through it;
// every endpoint on them, and the services on them (VIPs, ports). A pure
// function of the mirror; the dispatcher pushes it when it changes.
import { NodeAvailability, type Network, type NetworkState, type ServiceEndpoint } from '../../proto/generated/orch.js';
import { ingressEndpoints, ingressNetwork, joinsIngress, networkEndpoints, serviceNetworks } from '../networks.js';
import { meetsConstraints } from '../scheduler/filter.js';
import type { Cache, Snapshot } from '../store/index.js';

/**
 * The networks of every service whose tasks may be placed on the node (it is
 * active and meets their constraints): kept ready there before any task
 * comes, so that a task replacing one lost elsewhere starts without waiting
 * for its network (a Docker network takes one to three seconds to make on a
 * busy engine).
 */
export function standbyNetworks(cache: Snapshot, nodeId: string): Set<string> {
  const ids = new Set<string>();
  const node = cache.nodes.get(nodeId)?.value;
  if (!node || node.availability !== NodeAvailability.ACTIVE) return ids;
  for (const { value: svc } of cache.services.values()) {
    if (!meetsConstraints(node, svc.spec?.placement)) continue;
    for (const id of svc.spec?.networks ?? []) ids.add(id);
  }
  return ids;
}

/** The network state of `nodeId`, whose tasks join `networkIds` (generation 0: the dispatcher numbers its pushes). */
export function networkState(cache: Cache, nodeId: string, networkIds: ReadonlySet<string>): NetworkState {
  const ids = new Set(networkIds);
  const ingress = ingressNetwork(cache);
  if (ingress && [...cache.services.values()].some((v) => joinsIngress(v.value))) ids.add(ingress.id);
  const networks = [...ids].map((id) => cache.networks.get(id)?.value).filter((n): n is Network => !!n);
  const endpoints = networkEndpoints(cache, ids);
  if (ingress && ids.has(ingress.id)) endpoints.push(...ingressEndpoints(cache, ingress.id));
  const services: ServiceEndpoint[] = [];
  for (const { value: svc } of cache.services.values()) {
    for (const networkId of serviceNetworks(cache, svc)) {
      if (!ids.has(networkId)) continue;
      const vip = svc.vips.find((v) => v.networkId === networkId)?.addr ?? '';
      const aliases = (svc.spec?.aliases ?? []).filter((a) => a.network === networkId).flatMap((a) => a.names);
      services.push({ serviceId: svc.id, serviceName: svc.spec!.name, networkId, vip, ports: svc.spec?.endpoint?.ports ?? [], aliases });
    }
  }
  return { networks, endpoints, services, ingressNetworkId: ingress?.id ?? '', ingressAddr: cache.nodes.get(nodeId)?.value.ingressAddr ?? '', generation: 0n };
}
