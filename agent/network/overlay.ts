// The overlay data plane of one host, built through rtnetlink (netlink/).
//
// Per network, on every host where one of its tasks runs (Docker's topology):
//
//   host namespace                    network namespace orchnet.<host>.<vni>
//   ─────────────                     ───────────────────────────────────────
//   (vxlan made here, so its UDP  →   ovx<vni>  vxlan: VNI, local = underlay,
//    socket stays on the underlay)              learning off, proxy ARP on, MTU 1450
//                                     obr<vni>  bridge with the gateway address
//   ovc<id> ── container's eth, ───   ove<id>   the container's veth, on the bridge
//              moved in by Docker
//
// Flannel's control style: no learning, no gossip. For every endpoint on
// another host the vxlan device gets a permanent neighbour (IP → MAC) and a
// permanent FDB entry (MAC → that host's underlay address), taken from the
// manager's network state. Each apply dumps what is there and diffs, so an
// agent restart, a missed update or a host that came back converges to the
// same state; namespaces of networks no longer wanted here are removed.
// Namespaces are named by the host (host.ts), not the node: an agent that
// starts on this host with a new identity adopts its predecessor's, so a
// VNI is never held twice by the same host's kernel.
// Networks are isolated by construction: each lives in its own namespace,
// with no route to any other.
//
// Services (lb.ts): each VIP is an address of the bridge in every host's
// network namespace, and nftables there spreads connections to it over the
// service's serving tasks. The ingress network's namespace also has a link
// to the host (ovi<vni> ↔ ovinp, 169.254.77.0/30) and this node's ingress
// address on its bridge: published ports are DNATed in the host namespace
// to a task's ingress address, and SNATed on their way into the ingress
// network, so replies come back through this node. Connections from the
// host's loopback take the same path: the host link may route 127/8 sources
// (route_localnet, on that link alone) and the host SNATs them to its end
// of the link, as nothing beyond it could answer 127.0.0.1.
import { agentMetrics } from '../metrics.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { PortConfig_Protocol, PortConfig_PublishMode, PortConfig_TrafficPolicy, type Endpoint, type Network, type NetworkState, type ServiceEndpoint } from '../../proto/generated/orch.js';
import { addrIp, macFor, parseCidr } from '../../shared/ipam.js';
import { sh } from '../../shared/sh.js';
import { dnsRecords, ServiceDns, sourceRecords } from './dns.js';
import { goneTable, INGRESS_TABLE, ingressHostTable, ingressNsTable, vipTable, type DirectBackend, type PortRule } from './lb.js';
import { RuleSync } from './rule-sync.js';
import type { Logger } from '../../shared/log.js';
import { Netlink } from './netlink/index.js';
import { NUD_PERMANENT } from './netlink/constants.js';
import { NetlinkError } from './netlink/errors.js';
import { createNetns, deleteNetns, listNetns, netnsExists, netnsPath, setSysctlIn, withNetnsFd } from './netns.js';

/** VXLAN adds 50 bytes to every frame: 1500 on the underlay leaves 1450. */
export const OVERLAY_MTU = 1450;
/** The link between the host and the ingress network's namespace. */
export const INGRESS_LINK = { host: '169.254.77.1', inside: '169.254.77.2', prefix: 30, insideName: 'ovinp' };
/** How long the address of an endpoint that left is refused (goneTable): longer than an agent takes to come back. */
const TOMBSTONE_MS = 30_000;
/** Namespaces of the naming before host keys: orchnet-<node id>-<vni>. */
const OLD_PREFIX = 'orchnet-';

export class Overlay {
  private readonly host: Netlink;
  private readonly clients = new Map<string, Netlink>();
  /** Namespaces prepared in this lifetime (see prepare()). */
  private readonly prepared = new Set<string>();
  private networks = new Map<string, Network>();
  private endpoints: Endpoint[] = [];
  private services: ServiceEndpoint[] = [];
  private ingressId = '';
  private ingressAddr = '';
  private readonly rules: RuleSync;
  private readonly dns: ServiceDns;
  /** Per network: addresses of this host's endpoints that left, and until when they are refused. */
  private readonly tombstones = new Map<string, Map<string, number>>();
  /** Namespaces of this host's networks start with this. */
  readonly prefix: string;

  constructor(
    private readonly nodeId: string,
    hostKey: string,
    private readonly underlay: string,
    private readonly log: Logger,
  ) {
    this.host = Netlink.open();
    this.prefix = `orchnet.${hostKey}.`;
    this.rules = new RuleSync(log);
    this.dns = new ServiceDns(log);
  }

  /** The network as last pushed by the manager, if this host takes part in it. */
  network(id: string): Network | undefined {
    return this.networks.get(id);
  }

  /** Takes a complete network state from the manager and makes the host match it. */
  apply(state: NetworkState): void {
    this.networks = new Map(state.networks.map((n) => [n.id, n]));
    this.endpoints = state.endpoints;
    this.services = state.services;
    this.ingressId = state.ingressNetworkId;
    this.ingressAddr = state.ingressAddr;
    this.reconcile();
  }

  /** Makes the host match the last state (also run periodically: the kernel is the truth, not our memory). */
  reconcile(): void {
    const timer = agentMetrics.netlinkSync.startTimer();
    for (const n of this.networks.values()) {
      try {
        this.ensure(n);
        this.syncEntries(n);
        this.syncServices(n);
        this.syncGone(n);
      } catch (err) {
        agentMetrics.netlinkErrors.inc();
        this.log.warn({ network: n.spec?.name, vni: n.vni, err: String(err) }, 'programming the overlay failed; will retry');
      }
    }
    timer();
    this.dns.sync(
      [...this.networks.values()].map((n) => ({
        id: n.id,
        netnsPath: netnsPath(this.nsName(n.vni)),
        gateway: n.gateway,
        records: dnsRecords(n.id, this.services, this.endpoints),
        bySource: sourceRecords(n.id, this.services, this.endpoints),
      })),
    );
    const wanted = new Set([...this.networks.values()].map((n) => this.nsName(n.vni)));
    for (const ns of listNetns(this.prefix)) {
      if (wanted.has(ns)) continue;
      try {
        this.removeNamespace(ns);
        this.log.info({ netns: ns }, 'network no longer used here: removed');
      } catch (err) {
        this.log.warn({ netns: ns, err: String(err) }, 'removing a network namespace failed; will retry');
      }
    }
    // Ingress left this host (nothing publishes any more): its rules in the host's namespace go with it.
    if (this.forwarded && !this.networks.has(this.ingressId)) {
      void this.rules.remove('', INGRESS_TABLE);
      void this.dropForwarding();
    }
  }

  /**
   * Gives a container an interface on a network (the Docker plugin's Join):
   * a veth pair whose inner end is already on the network's bridge; Docker
   * moves the other end into the container and configures it.
   */
  attach(networkId: string, endpointId: string, mac: string, ip: string): { srcName: string; gateway: string } {
    const n = this.networks.get(networkId);
    if (!n) throw new Error(`network ${networkId} is not known on this host`);
    const nl = this.ensure(n);
    if (this.tombstones.get(networkId)?.delete(ip)) this.syncGone(n);
    const { inside, outside } = vethNames(endpointId);
    if (this.host.link(outside)) this.host.deleteLink(outside); // left by an interrupted join
    withNetnsFd(this.nsName(n.vni), (fd) => this.host.addVeth(outside, inside, { mtu: OVERLAY_MTU, peerNetnsFd: fd }));
    this.host.setLink(outside, { mac });
    nl.setLink(inside, { master: `obr${n.vni}`, up: true });
    return { srcName: outside, gateway: n.gateway };
  }

  /**
   * Removes a container's veth (the Docker plugin's DeleteEndpoint); gone
   * already is fine. Its address is refused for a while (see goneTable):
   * buried already if the agent stopped it, buried now if it died.
   */
  detach(networkId: string, endpointId: string, ip: string | undefined): void {
    const { inside, outside } = vethNames(endpointId);
    const n = this.networks.get(networkId);
    const nl = n ? this.clients.get(this.nsName(n.vni)) : undefined;
    if (nl?.link(inside)) nl.deleteLink(inside);
    if (this.host.link(outside)) this.host.deleteLink(outside);
    if (ip) void this.bury(networkId, ip);
  }

  /** Refuses an address of this host's on a network for a while (see goneTable); resolves once the kernel does. */
  bury(networkId: string, ip: string): Promise<void> {
    const n = this.networks.get(networkId);
    if (!n) return Promise.resolve();
    let graves = this.tombstones.get(networkId);
    if (!graves) this.tombstones.set(networkId, (graves = new Map()));
    graves.set(ip, Date.now() + TOMBSTONE_MS);
    this.syncGone(n);
    return this.rules.settled();
  }

  /** The tombstones of a network in its namespace, the expired ones dropped. */
  private syncGone(n: Network): void {
    const graves = this.tombstones.get(n.id) ?? new Map<string, number>();
    const now = Date.now();
    for (const [ip, until] of graves) if (until <= now) graves.delete(ip);
    void this.rules.apply(netnsPath(this.nsName(n.vni)), goneTable(`ovx${n.vni}`, [...graves.keys()].sort()));
  }

  /**
   * Removes namespaces left under the naming before host keys (no live agent
   * uses it): those whose VXLAN device has this host's underlay address hold
   * VNIs this host's kernel would refuse to us; those with none hold nothing.
   */
  removeOldLeftovers(): void {
    for (const ns of listNetns(OLD_PREFIX)) {
      let ours: boolean;
      try {
        const nl = Netlink.open(netnsPath(ns));
        const vxlans = nl.links().filter((l) => l.vxlan);
        ours = vxlans.length === 0 || vxlans.some((l) => l.vxlan!.local === this.underlay);
        nl.close();
      } catch {
        // Not a namespace: a stale file goes; a mount hidden under a later one of /run/netns no path reaches (freeVni frees its VNI).
        ours = !netnsExists(ns);
      }
      if (!ours) continue;
      try {
        deleteNetns(ns);
        const vni = Number(ns.slice(ns.lastIndexOf('-') + 1));
        if (this.host.link(`ovi${vni}`)) this.host.deleteLink(`ovi${vni}`);
        this.log.info({ netns: ns }, 'removed a network namespace an earlier agent of this host left');
      } catch (err) {
        // Its mount hidden under a later mount of /run/netns: no path reaches it (its VNI is freed when claimed, see freeVni).
        this.log.warn({ netns: ns, err: String(err) }, 'a network namespace an earlier agent left cannot be unmounted; it goes at reboot');
      }
    }
  }

  /**
   * Deletes the VXLAN devices made from this host for `vni` that stand in
   * other namespaces, reached by namespace id (so even a namespace whose name
   * is lost, or whose mount is hidden under a later mount of /run/netns, gives
   * its VNI back). Whether one was found.
   */
  private freeVni(vni: number): boolean {
    let freed = false;
    for (const nsid of this.host.peerNamespaces()) {
      for (const l of this.host.linksIn(nsid)) {
        if (l.vxlan?.id !== vni || l.vxlan.local !== this.underlay) continue;
        this.host.deleteLinkIn(nsid, l.index);
        this.log.warn({ vni, nsid, link: l.name }, 'VNI held by a device an earlier agent of this host left: deleted');
        freed = true;
      }
    }
    return freed;
  }

  /** Removes everything this host's networks have in the kernel (a clean leave): namespaces, host links, the host's rules. */
  async teardown(): Promise<void> {
    await this.rules.settled();
    for (const ns of listNetns(this.prefix)) this.removeNamespace(ns);
    await this.rules.remove('', INGRESS_TABLE);
    await this.dropForwarding();
    this.log.info({ prefix: this.prefix }, 'networks of this host removed');
  }

  /**
   * Removes one of this host's network namespaces (its devices go with it),
   * what this agent keeps for it, and the host-side devices that name its
   * VNI: a vxlan left by an interrupted move, the ingress link's host end.
   */
  private removeNamespace(ns: string): void {
    this.clients.get(ns)?.close();
    this.clients.delete(ns);
    this.prepared.delete(ns);
    this.rules.forget(netnsPath(ns));
    deleteNetns(ns);
    const vni = ns.slice(this.prefix.length);
    for (const link of [`ovx${vni}`, `ovi${vni}`]) if (this.host.link(link)) this.host.deleteLink(link);
  }

  /** Resolves once every rule update queued so far has been applied. */
  rulesApplied(): Promise<void> {
    return this.rules.settled();
  }

  async close(): Promise<void> {
    await this.dns.stop();
    await this.rules.close();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.host.close();
  }

  private nsName(vni: number): string {
    return `${this.prefix}${vni}`;
  }

  private client(ns: string): Netlink {
    let c = this.clients.get(ns);
    if (!c) this.clients.set(ns, (c = Netlink.open(netnsPath(ns))));
    return c;
  }

  /**
   * The namespace itself, made (or found, after a restart) once per agent
   * lifetime: loopback up, forwarding on. What is inside it is checked on
   * every pass; this is not.
   */
  private prepare(ns: string, ingress: boolean): Netlink {
    if (!this.prepared.has(ns)) {
      createNetns(ns);
      const nl = this.client(ns);
      if (!nl.link('lo')?.up) nl.setLink('lo', { up: true });
      setSysctlIn(ns, 'net/ipv4/ip_forward', '1');
      // On ingress nothing bridged needs netfilter: published connections are NATed where they are routed
      // (host link → bridge), and no name resolves to a VIP there. Bridged frames skip its hooks and conntrack.
      if (ingress) {
        try {
          setSysctlIn(ns, 'net/bridge/bridge-nf-call-iptables', '0');
        } catch {
          // br_netfilter not loaded: bridged frames skip netfilter already
        }
      }
      this.prepared.add(ns);
    }
    return this.client(ns);
  }

  /** The network's namespace, bridge (with the gateway) and vxlan device, made or fixed. */
  private ensure(n: Network): Netlink {
    const ns = this.nsName(n.vni);
    const ingress = n.id === this.ingressId && this.ingressAddr !== '';
    const nl = this.prepare(ns, ingress);
    const br = `obr${n.vni}`;
    const vx = `ovx${n.vni}`;

    if (!nl.link(br)) nl.addBridge(br, { mtu: OVERLAY_MTU });
    let bridge = nl.link(br)!;
    // On ingress the bridge answers for this node's ingress address, under the MAC other hosts expect for it.
    if (ingress && bridge.mac !== macFor(addrIp(this.ingressAddr))) nl.setLink(br, { mac: macFor(addrIp(this.ingressAddr)) });
    // The gateway, the VIPs of the services on the network, and on ingress this node's address.
    const want = new Set([`${n.gateway}/${parseCidr(n.subnet).prefix}`]);
    for (const svc of this.services) if (svc.networkId === n.id && svc.vip) want.add(`${addrIp(svc.vip)}/32`);
    if (ingress) want.add(`${addrIp(this.ingressAddr)}/32`);
    const have = new Set(nl.addresses(bridge.index).map((a) => `${a.address}/${a.prefixlen}`));
    for (const a of have) if (!want.has(a)) nl.deleteAddress(br, a);
    for (const a of want) if (!have.has(a)) nl.addAddress(br, a);
    bridge = nl.link(br)!;
    if (!bridge.up) nl.setLink(br, { up: true });
    if (ingress) this.ensureIngressLink(n, nl);

    const cur = nl.link(vx);
    const right = cur?.vxlan && cur.vxlan.id === n.vni && cur.vxlan.local === this.underlay && !cur.vxlan.learning && cur.vxlan.proxy;
    if (cur && !right) nl.deleteLink(vx);
    if (!right) {
      if (this.host.link(vx)) this.host.deleteLink(vx); // left by an interrupted move
      const vxlan = { vni: n.vni, local: this.underlay, mtu: OVERLAY_MTU };
      try {
        this.host.addVxlan(vx, vxlan);
      } catch (err) {
        // This host's kernel has the VNI on a device elsewhere: a leftover's; free it and try once more.
        if (!(err instanceof NetlinkError && err.code === 'EEXIST') || !this.freeVni(n.vni)) throw err;
        this.host.addVxlan(vx, vxlan);
      }
      withNetnsFd(ns, (fd) => this.host.setLink(vx, { netnsFd: fd }));
      // A table hooked to the device it replaced is gone with it: every table here is applied afresh.
      this.rules.forget(netnsPath(ns));
      this.log.info({ network: n.spec?.name, vni: n.vni, netns: ns }, 'overlay network set up');
    }
    const v = nl.link(vx)!;
    if (v.master !== bridge.index || !v.up) nl.setLink(vx, { master: br, up: true });
    return nl;
  }

  /** The link between the host and the ingress network's namespace, its addresses and routes, and forwarding through it. */
  private ensureIngressLink(n: Network, nl: Netlink): void {
    const hostEnd = `ovi${n.vni}`;
    if (!this.host.link(hostEnd) || !nl.link(INGRESS_LINK.insideName)) {
      if (this.host.link(hostEnd)) this.host.deleteLink(hostEnd);
      withNetnsFd(this.nsName(n.vni), (fd) => this.host.addVeth(hostEnd, INGRESS_LINK.insideName, { peerNetnsFd: fd }));
      this.host.addAddress(hostEnd, `${INGRESS_LINK.host}/${INGRESS_LINK.prefix}`);
      nl.addAddress(INGRESS_LINK.insideName, `${INGRESS_LINK.inside}/${INGRESS_LINK.prefix}`);
      this.host.setLink(hostEnd, { up: true });
      nl.setLink(INGRESS_LINK.insideName, { up: true });
      this.log.info({ link: hostEnd }, 'ingress link set up');
    }
    // Connections from the host's loopback leave through this link (SNATed by the host's table); only it may route 127/8 sources.
    const localnet = `/proc/sys/net/ipv4/conf/${hostEnd}/route_localnet`;
    if (readFileSync(localnet, 'utf8').trim() !== '1') writeFileSync(localnet, '1');
    nl.replaceRoute({ dst: '0.0.0.0/0', gateway: INGRESS_LINK.host });
    this.host.replaceRoute({ dst: n.subnet, gateway: INGRESS_LINK.inside });
  }

  /** The nftables of a network: its VIPs; on ingress also the published ports (host) and the SNAT (namespace). */
  private syncServices(n: Network): void {
    const ns = netnsPath(this.nsName(n.vni));
    const vips = this.services.filter((s) => s.networkId === n.id && s.vip).map((s) => ({ vip: addrIp(s.vip), backends: servingOn(this.endpoints, s.serviceId, n.id) }));
    const reachable = (ip: string) => this.endpoints.some((e) => e.networkId === n.id && addrIp(e.addr) === ip);
    void this.rules.apply(ns, vipTable(vips), vips.flatMap((v) => v.backends), reachable);
    if (n.id !== this.ingressId || !this.ingressAddr) return;
    const ports: PortRule[] = [];
    const direct: DirectBackend[] = [];
    for (const s of this.services.filter((x) => x.networkId === n.id)) {
      for (const p of s.ports) {
        const protocol = p.protocol === PortConfig_Protocol.UDP ? ('udp' as const) : ('tcp' as const);
        const host = p.publishMode === PortConfig_PublishMode.HOST;
        const local = host || p.trafficPolicy === PortConfig_TrafficPolicy.LOCAL;
        const backends = servingOn(this.endpoints, s.serviceId, n.id, local ? this.nodeId : undefined);
        ports.push({ protocol, published: p.publishedPort, target: p.targetPort, backends, refuseEmpty: !host });
        if (local) direct.push(...backends.map((addr) => ({ protocol, addr, port: p.targetPort })));
      }
    }
    const link = `ovi${n.vni}`;
    void this.rules.apply(ns, ingressNsTable(INGRESS_LINK.insideName, `obr${n.vni}`, addrIp(this.ingressAddr), direct));
    void this.rules.apply('', ingressHostTable(link, INGRESS_LINK.host, ports), ports.flatMap((p) => p.backends), reachable);
    void this.acceptForwarding(link);
  }

  /** The ingress link let through in DOCKER-USER, if any; changes to it run one after another. */
  private forwarded: string | undefined;
  private forwarding: Promise<void> = Promise.resolve();

  /**
   * Docker sets the host's FORWARD policy to DROP; published ports cross the
   * host into the ingress link, so that link is let through in DOCKER-USER,
   * the chain Docker keeps for its users' rules (where it exists).
   */
  private acceptForwarding(link: string): Promise<void> {
    if (this.forwarded === link) return this.forwarding;
    this.forwarded = link;
    return (this.forwarding = this.forwarding.then(async () => {
      for (const rule of forwardRules(link)) {
        const present = await sh('iptables', ['-C', ...rule]).then(() => true, () => false);
        if (!present) await sh('iptables', ['-I', ...rule]).catch((err) => this.log.warn({ err: String(err) }, 'no DOCKER-USER chain: forwarding left as it is'));
      }
    }));
  }

  /** Takes the DOCKER-USER rules of every ingress link this host had out again. */
  private dropForwarding(): Promise<void> {
    this.forwarded = undefined;
    return (this.forwarding = this.forwarding.then(async () => {
      const listed = await sh('iptables', ['-S', 'DOCKER-USER']).catch(() => '');
      for (const link of new Set([...listed.matchAll(/ -[io] (ovi\d+) -j ACCEPT/g)].map((m) => m[1]!))) {
        for (const rule of forwardRules(link)) while (await sh('iptables', ['-D', ...rule]).then(() => true, () => false));
      }
    }));
  }

  /** Permanent neighbour and FDB entries for every endpoint on other hosts; nothing else. */
  private syncEntries(n: Network): void {
    const nl = this.client(this.nsName(n.vni));
    const vx = `ovx${n.vni}`;
    const remote = this.endpoints.filter((e) => e.networkId === n.id && e.nodeId !== this.nodeId && e.hostAddr);
    const wantNeigh = new Map(remote.map((e) => [addrIp(e.addr), e.mac]));
    const wantFdb = new Map(remote.map((e) => [e.mac, e.hostAddr]));

    const haveNeigh = nl.neighbours(vx).filter((x) => x.state & NUD_PERMANENT && x.dst);
    for (const x of haveNeigh) if (wantNeigh.get(x.dst!) !== x.mac) nl.deleteNeighbour(vx, x.dst!);
    for (const [ip, mac] of wantNeigh) if (!haveNeigh.some((x) => x.dst === ip && x.mac === mac)) nl.replaceNeighbour(vx, ip, mac);

    const haveFdb = nl.fdb(vx).filter((f) => f.dst && f.mac);
    for (const f of haveFdb) if (wantFdb.get(f.mac!) !== f.dst) nl.deleteFdb(vx, f.mac!, f.dst!);
    for (const [mac, dst] of wantFdb) if (!haveFdb.some((f) => f.mac === mac && f.dst === dst)) nl.replaceFdb(vx, mac, dst);
  }
}

/** A service's serving task addresses on a network (only those on `nodeId`, if given). */
function servingOn(endpoints: Endpoint[], serviceId: string, networkId: string, nodeId?: string): string[] {
  return endpoints
    .filter((e) => e.serviceId === serviceId && e.networkId === networkId && e.serving && (!nodeId || e.nodeId === nodeId))
    .map((e) => addrIp(e.addr))
    .sort();
}

/** The DOCKER-USER rules that let an ingress link through, both ways. */
function forwardRules(link: string): string[][] {
  return ['-i', '-o'].map((dir) => ['DOCKER-USER', dir, link, '-j', 'ACCEPT']);
}

/** A container's veth ends: `ovc…` (given to Docker) and `ove…` (on the bridge); 14 characters each. */
function vethNames(endpointId: string): { inside: string; outside: string } {
  const id = endpointId.slice(0, 11);
  return { inside: `ove${id}`, outside: `ovc${id}` };
}
