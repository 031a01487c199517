// What must hold after a chaos run (and what a person reads when it does not):
// every service back at its desired count, no address held twice, no slot
// running twice on the engines, nothing in etcd pointing at what is gone,
// every spec as it was made, every rolling update ended (completed or rolled
// back) with every task on its service's spec, each host's kernel overlay
// state as etcd says, and the published port answering everywhere.
import { isDeepStrictEqual } from 'node:util';
import { ContainerSpec, NodeState, ServiceSpec_Mode, TaskState, UpdateStatus_State, type Network, type Node, type Service, type Task } from '../proto/generated/orch.js';
import type { Control } from '../client/control.js';
import type { LabCluster } from '../lab/lab-cluster.js';
import type { HostState } from '../lab/state.js';
import { addrIp, macFor } from '../shared/ipam.js';
import { Netlink } from '../agent/network/netlink/index.js';
import { sh, systemTool } from '../shared/sh.js';
import { rollingOut, servesTraffic } from '../shared/states.js';
import { listNetns, netnsPath } from '../agent/network/netns.js';
import { hostKeyOfInode } from '../agent/host.js';
import { isIngress } from '../shared/ingress.js';
import { SERVICES } from './workload.js';
import type { ServiceCount } from './report.js';

export interface Violation {
  invariant: string;
  detail: string;
}

/**
 * Per service: tasks running on nodes that are up (a dead node's tasks do not
 * count), what it wants, whether a rollout is under way, and since when it
 * has been whole: when the task that brought it to its count began to run
 * (the count-th earliest status time of its running tasks).
 */
export async function convergence(ctl: Control): Promise<Array<ServiceCount & { rollingOut: boolean }>> {
  const [{ services }, { tasks }, { nodes }] = await Promise.all([ctl.listServices({}), ctl.listTasks({ service: '' }), ctl.listNodes({})]);
  const up = new Set(nodes.filter((n) => n.state === NodeState.NODE_READY).map((n) => n.id));
  return services.map((s) => {
    const running = tasks.filter((t) => t.serviceId === s.service!.id && t.desiredState === TaskState.RUNNING && t.status?.state === TaskState.RUNNING && up.has(t.nodeId));
    const starts = running.map((t) => t.status!.timestamp?.getTime() ?? 0).sort((a, b) => a - b);
    return {
      name: s.service!.spec!.name,
      global: s.service!.spec!.mode === ServiceSpec_Mode.GLOBAL,
      running: running.length,
      desired: s.desired,
      rollingOut: rollingOut(s.service!.updateStatus),
      wholeSince: running.length < s.desired ? null : s.desired === 0 ? 0 : starts[s.desired - 1]!,
    };
  });
}

export async function checkAll(lab: LabCluster, ctl: Control, expectedReplicas: Map<string, number>): Promise<Violation[]> {
  const v: Violation[] = [];
  const { services } = await ctl.listServices({});
  const { tasks } = await ctl.listTasks({ service: '' });
  const { nodes } = await ctl.listNodes({});
  const { networks } = await ctl.listNetworks({});

  for (const s of await convergence(ctl)) if (s.running !== s.desired) v.push({ invariant: 'converged', detail: `${s.name}: ${s.running} of ${s.desired} running` });

  // Specs intact: every service still there, with the mode and replicas it was last given.
  for (const want of SERVICES) {
    const s = services.find((x) => x.service!.spec!.name === want.name)?.service;
    if (!s) v.push({ invariant: 'specs intact', detail: `service ${want.name} is gone` });
    else if (s.spec!.mode !== ServiceSpec_Mode.GLOBAL && s.spec!.replicas !== expectedReplicas.get(want.name)) {
      v.push({ invariant: 'specs intact', detail: `${want.name} wants ${s.spec!.replicas}, expected ${expectedReplicas.get(want.name)}` });
    }
  }

  v.push(...updatesEnded(tasks, services.map((s) => s.service!)));
  v.push(...addressesOnce(tasks, services.map((s) => s.service!), nodes));
  v.push(...references(tasks, services.map((s) => s.service!), nodes, networks.map((n) => n.id)));
  v.push(...(await slotsOnce(lab, services.map((s) => s.service!))));
  v.push(...kernelMatches(lab, tasks, nodes, networks));
  v.push(...(await vipRulesMatch(lab, tasks, services.map((s) => s.service!), nodes, networks)));
  return v;
}

/** Every network namespace the agents of up hosts made, with the network etcd has for its VNI (if any). */
function networkNamespaces(lab: LabCluster, nodes: Node[], networks: Network[]): Array<{ h: HostState; nodeId: string; ns: string; network: Network | undefined }> {
  const up = new Set(nodes.filter((n) => n.state === NodeState.NODE_READY).map((n) => n.id));
  const out = [];
  for (const h of lab.state.hosts) {
    const nodeId = lab.nodeId(h.name);
    if (!nodeId || !up.has(nodeId)) continue;
    const prefix = `orchnet.${hostKeyOfInode(h.netnsInode!)}.`;
    for (const ns of listNetns(prefix)) out.push({ h, nodeId, ns, network: networks.find((n) => n.vni === Number(ns.slice(prefix.length))) });
  }
  return out;
}

/**
 * Each host's load balancing, as nftables holds it, matches etcd: in every
 * network namespace, each VIP is DNATed to exactly the serving tasks of its
 * service (none: no rule).
 */
async function vipRulesMatch(lab: LabCluster, tasks: Task[], services: Service[], nodes: Node[], networks: Network[]): Promise<Violation[]> {
  const v: Violation[] = [];
  const up = new Set(nodes.filter((n) => n.state === NodeState.NODE_READY).map((n) => n.id));
  for (const { h, ns, network } of networkNamespaces(lab, nodes, networks)) {
    if (!network) continue; // reported by kernelMatches
    const want = new Map<string, string>();
    for (const s of services) {
      const vip = s.vips.find((x) => x.networkId === network.id)?.addr;
      if (!vip) continue;
      const backends = tasks
        .filter((t) => t.serviceId === s.id && up.has(t.nodeId) && servesTraffic(t))
        .flatMap((t) => t.networks.filter((a) => a.networkId === network.id && a.addr).map((a) => addrIp(a.addr)));
      if (backends.length) want.set(addrIp(vip), backends.sort().join(' '));
    }
    const have = new Map<string, string>();
    let text: string;
    try {
      text = await sh('nsenter', [`--net=${netnsPath(ns)}`, systemTool('nft'), 'list', 'table', 'ip', 'orch-lb']);
    } catch (err) {
      if (!/No such file or directory/.test(String(err))) v.push({ invariant: 'kernel matches etcd', detail: `${h.name} network ${network.spec!.name}: cannot read its nft rules (${String(err).split('\n')[0]})` });
      text = ''; // no table: no rules
    }
    for (const line of text.split('\n')) {
      const m = /ip daddr (\d+\.\d+\.\d+\.\d+) .*dnat (?:ip )?to (.*)$/.exec(line);
      if (m) have.set(m[1]!, [...m[2]!.matchAll(/\d+\.\d+\.\d+\.\d+/g)].map((x) => x[0]).sort().join(' '));
    }
    for (const vip of new Set([...want.keys(), ...have.keys()])) {
      if (want.get(vip) !== have.get(vip)) {
        v.push({ invariant: 'kernel matches etcd', detail: `${h.name} network ${network.spec!.name}: VIP ${vip} goes to [${have.get(vip) ?? 'nothing'}], etcd says [${want.get(vip) ?? 'nothing'}]` });
      }
    }
  }
  return v;
}

/**
 * Each host's overlay, as the kernel holds it, matches etcd: on every network
 * namespace the agent made, the vxlan device has a permanent neighbour and
 * FDB entry for exactly the endpoints on the other hosts that are up.
 */
function kernelMatches(lab: LabCluster, tasks: Task[], nodes: Node[], networks: Network[]): Violation[] {
  const v: Violation[] = [];
  // Every node that exists, up or down: a down node's endpoints stay neighbours (ADR 0010).
  const known = new Map(nodes.map((n) => [n.id, n]));
  for (const { h, nodeId, ns, network } of networkNamespaces(lab, nodes, networks)) {
    if (!network) {
      v.push({ invariant: 'kernel matches etcd', detail: `${h.name} keeps namespace ${ns} of a network etcd does not have` });
      continue;
    }
    const vni = network.vni;
    const want = new Map<string, string>(); // ip → host address of its node
    for (const t of tasks) {
      const s = t.status?.state ?? TaskState.NEW;
      if (!t.nodeId || t.nodeId === nodeId || !known.has(t.nodeId) || s < TaskState.ASSIGNED || s >= TaskState.COMPLETE) continue;
      for (const a of t.networks) if (a.networkId === network.id && a.addr) want.set(addrIp(a.addr), known.get(t.nodeId)!.description!.addr);
    }
    if (isIngress(network)) {
      for (const n of known.values()) if (n.id !== nodeId && n.ingressAddr) want.set(addrIp(n.ingressAddr), n.description!.addr);
    }
    const nl = Netlink.open(netnsPath(ns));
    try {
      const have = new Map(nl.neighbours(`ovx${vni}`).filter((n) => n.dst).map((n) => [n.dst!, n.mac]));
      const fdb = new Map(nl.fdb(`ovx${vni}`).filter((f) => f.dst && f.mac).map((f) => [f.mac!, f.dst!]));
      const missing = [...want.keys()].filter((ip) => !have.has(ip) || fdb.get(macFor(ip)) !== want.get(ip));
      const extra = [...have.keys()].filter((ip) => !want.has(ip));
      if (missing.length || extra.length) {
        v.push({ invariant: 'kernel matches etcd', detail: `${h.name} network ${network.spec!.name}: missing ${missing.join(', ') || 'none'}; extra ${extra.join(', ') || 'none'}` });
      }
    } finally {
      nl.close();
    }
  }
  return v;
}

/** Every rollout ended, completed or rolled back (not under way, not paused), and every task wanted running is made from its service's spec. */
function updatesEnded(tasks: Task[], services: Service[]): Violation[] {
  const v: Violation[] = [];
  const ended = [UpdateStatus_State.NONE, UpdateStatus_State.COMPLETED, UpdateStatus_State.ROLLBACK_COMPLETED];
  for (const s of services) {
    const u = s.updateStatus;
    if (u && !ended.includes(u.state)) v.push({ invariant: 'updates end', detail: `${s.spec!.name}: update ${UpdateStatus_State[u.state]?.toLowerCase()} (${u.message || 'no message'})` });
    const want = ContainerSpec.toJSON(s.spec!.container!);
    const stale = tasks.filter((t) => t.serviceId === s.id && t.desiredState === TaskState.RUNNING && !isDeepStrictEqual(ContainerSpec.toJSON(t.spec!), want));
    if (stale.length) v.push({ invariant: 'updates end', detail: `${s.spec!.name}: ${stale.length} task(s) wanted running are not on the service's spec (${[...new Set(stale.map((t) => t.spec?.image))].join(', ')})` });
  }
  return v;
}

function addressesOnce(tasks: Task[], services: Service[], nodes: Node[]): Violation[] {
  const holders = new Map<string, string[]>();
  const hold = (networkId: string, addr: string, who: string) => {
    if (!addr) return;
    const k = `${networkId}/${addrIp(addr)}`;
    holders.set(k, [...(holders.get(k) ?? []), who]);
  };
  for (const t of tasks) for (const a of t.networks) hold(a.networkId, a.addr, `task ${t.id}`);
  for (const s of services) for (const vip of s.vips) hold(vip.networkId, vip.addr, `vip of ${s.spec!.name}`);
  for (const n of nodes) if (n.ingressAddr) hold('ingress', n.ingressAddr, `node ${n.description?.hostname}`);
  return [...holders].filter(([, who]) => who.length > 1).map(([k, who]) => ({ invariant: 'no address twice', detail: `${k} held by ${who.join(', ')}` }));
}

function references(tasks: Task[], services: Service[], nodes: Node[], networkIds: string[]): Violation[] {
  const v: Violation[] = [];
  const serviceIds = new Set(services.map((s) => s.id));
  const nodeIds = new Set(nodes.map((n) => n.id));
  for (const t of tasks) {
    if (t.desiredState === TaskState.REMOVE) continue; // on its way out
    if (!serviceIds.has(t.serviceId)) v.push({ invariant: 'references', detail: `task ${t.id} of missing service ${t.serviceId}` });
    if (t.nodeId && !nodeIds.has(t.nodeId)) v.push({ invariant: 'references', detail: `task ${t.id} on missing node ${t.nodeId}` });
    for (const a of t.networks) if (!networkIds.includes(a.networkId)) v.push({ invariant: 'references', detail: `task ${t.id} on missing network ${a.networkId}` });
  }
  for (const s of services) for (const n of s.spec!.networks) if (!networkIds.includes(n)) v.push({ invariant: 'references', detail: `service ${s.spec!.name} joins missing network ${n}` });
  return v;
}

/** Per service, each slot (replicated) or node (global) runs at most one container, across every live engine. */
async function slotsOnce(lab: LabCluster, services: Service[]): Promise<Violation[]> {
  const v: Violation[] = [];
  for (const s of services) {
    const seen = new Map<string, string[]>();
    for (const [host, list] of Object.entries(await lab.running(s.spec!.name))) {
      for (const c of list) {
        const key = s.spec!.mode === ServiceSpec_Mode.GLOBAL ? host : c.Labels['orch.slot']!;
        seen.set(key, [...(seen.get(key) ?? []), host]);
      }
    }
    for (const [slot, hosts] of seen) if (hosts.length > 1) v.push({ invariant: 'no slot twice', detail: `${s.spec!.name} slot ${slot} runs on ${hosts.join(', ')}` });
  }
  return v;
}
