// A small typed rtnetlink client: links (bridge, vxlan, veth), addresses,
// routes, neighbours and FDB entries: create, change, delete and dump.
// Every call is one synchronous request on one socket; the socket belongs to
// the namespace it was opened in (see socket.ts), so a client opened on
// /var/run/netns/x works there without the caller ever switching.
import { attr, decodeAttrs, ip4, mac, read, type Attr } from './attrs.js';
import {
  AF_BRIDGE,
  AF_INET,
  AF_UNSPEC,
  IFF_UP,
  IFLA,
  IFLA_INFO,
  IFLA_VXLAN,
  IFA,
  NDA,
  NETNSA,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NTF_SELF,
  NUD_NOARP,
  NUD_PERMANENT,
  RT_SCOPE_LINK,
  RT_SCOPE_NOWHERE,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA,
  RTM,
  RTN_UNICAST,
  RTPROT_STATIC,
  VETH_INFO_PEER,
} from './constants.js';
import { NetlinkError } from './errors.js';
import { decodeAddr, decodeLink, decodeNeigh, decodeRoute, ifaddrmsg, ifinfomsg, ndmsg, rtmsg, type Addr, type Link, type Neigh, type Route } from './messages.js';
import { NetlinkSocket } from './socket.js';

/** Interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL). */
export const IFNAMSIZ = 15;

export interface VxlanOptions {
  vni: number;
  /** Underlay address the tunnel's UDP socket binds to. */
  local: string;
  port?: number; // default 4789
  mtu?: number;
  learning?: boolean; // default off: entries are static
  proxy?: boolean; // default on: answer ARP from the neighbour table
}

export class Netlink {
  private constructor(private readonly sock: NetlinkSocket) {}

  /** A client for this namespace, or for the one at `netnsPath`. */
  static open(netnsPath?: string): Netlink {
    return new Netlink(NetlinkSocket.open(netnsPath));
  }

  close(): void {
    this.sock.close();
  }

  // ---------------------------------------------------------------- links --

  links(): Link[] {
    return this.sock.dump(RTM.GETLINK, ifinfomsg({ family: AF_UNSPEC }), 'dump links').map(decodeLink);
  }

  /** The link named `name`, or undefined (one GET by name, not a dump). */
  link(name: string): Link | undefined {
    try {
      const [p] = this.sock.request(RTM.GETLINK, 0, ifinfomsg({ family: AF_UNSPEC }, [attr.str(IFLA.IFNAME, checkName(name))]), `get link ${name}`);
      return p ? decodeLink(p) : undefined;
    } catch (err) {
      if (err instanceof NetlinkError && (err.code === 'ENODEV' || err.code === 'ENOENT')) return undefined;
      throw err;
    }
  }

  /**
   * The ids this namespace gave its peer namespaces (one holding a device
   * moved from here, say), named or not: a namespace whose name is lost can
   * still be reached through them.
   */
  peerNamespaces(): number[] {
    const rtgenmsg = Buffer.alloc(4); // family AF_UNSPEC, padded to 4
    return this.sock
      .dump(RTM.GETNSID, rtgenmsg, 'dump namespace ids')
      .map((p) => read.u32(decodeAttrs(p.subarray(4)).get(NETNSA.NSID)))
      .filter((id): id is number => id !== undefined && id >= 0 && id < 0x80000000);
  }

  /** The links of the peer namespace `nsid` (see peerNamespaces). */
  linksIn(nsid: number): Link[] {
    return this.sock.dump(RTM.GETLINK, ifinfomsg({ family: AF_UNSPEC }, [attr.u32(IFLA.TARGET_NETNSID, nsid)]), `dump links of namespace ${nsid}`).map(decodeLink);
  }

  /** Deletes a link of the peer namespace `nsid` by index. */
  deleteLinkIn(nsid: number, index: number): void {
    this.sock.request(RTM.DELLINK, 0, ifinfomsg({ family: AF_UNSPEC, index }, [attr.u32(IFLA.TARGET_NETNSID, nsid)]), `delete link ${index} of namespace ${nsid}`);
  }

  /** The index of `name`; throws ENODEV if there is none. */
  index(name: string): number {
    const l = this.link(name);
    if (!l) throw new NetlinkError(19, `find link ${name}`);
    return l.index;
  }

  addBridge(name: string, o: { mtu?: number } = {}): void {
    this.newLink(name, 'bridge', [], o.mtu);
  }

  addVxlan(name: string, o: VxlanOptions): void {
    this.newLink(name, 'vxlan', [
      attr.u32(IFLA_VXLAN.ID, o.vni),
      attr.bytes(IFLA_VXLAN.LOCAL, ip4(o.local)),
      attr.be16(IFLA_VXLAN.PORT, o.port ?? 4789),
      attr.u8(IFLA_VXLAN.LEARNING, o.learning ? 1 : 0),
      attr.u8(IFLA_VXLAN.PROXY, o.proxy === false ? 0 : 1),
    ], o.mtu);
  }

  /** A veth pair; the peer can be created straight in another namespace (an open fd of it). */
  addVeth(name: string, peer: string, o: { mtu?: number; peerNetnsFd?: number } = {}): void {
    const peerAttrs: Attr[] = [attr.str(IFLA.IFNAME, checkName(peer))];
    if (o.mtu) peerAttrs.push(attr.u32(IFLA.MTU, o.mtu));
    if (o.peerNetnsFd !== undefined) peerAttrs.push(attr.u32(IFLA.NET_NS_FD, o.peerNetnsFd));
    const peerMsg = ifinfomsg({ family: AF_UNSPEC }, peerAttrs);
    this.newLink(name, 'veth', [attr.bytes(VETH_INFO_PEER, peerMsg)], o.mtu);
  }

  /** Changes a link: up/down, master (0 = none), MTU, MAC, name, or namespace (an open fd of it). */
  setLink(name: string, o: { up?: boolean; master?: string | 0; mtu?: number; mac?: string; rename?: string; netnsFd?: number }): void {
    const index = this.index(name);
    const attrs: Attr[] = [];
    if (o.master !== undefined) attrs.push(attr.u32(IFLA.MASTER, o.master === 0 ? 0 : this.index(o.master)));
    if (o.mtu !== undefined) attrs.push(attr.u32(IFLA.MTU, o.mtu));
    if (o.mac !== undefined) attrs.push(attr.bytes(IFLA.ADDRESS, mac(o.mac)));
    if (o.rename !== undefined) attrs.push(attr.str(IFLA.IFNAME, checkName(o.rename)));
    if (o.netnsFd !== undefined) attrs.push(attr.u32(IFLA.NET_NS_FD, o.netnsFd));
    const flags = o.up === undefined ? {} : { flags: o.up ? IFF_UP : 0, change: IFF_UP };
    this.sock.request(RTM.NEWLINK, 0, ifinfomsg({ family: AF_UNSPEC, index, ...flags }, attrs), `set link ${name}`);
  }

  deleteLink(name: string): void {
    this.sock.request(RTM.DELLINK, 0, ifinfomsg({ family: AF_UNSPEC }, [attr.str(IFLA.IFNAME, checkName(name))]), `delete link ${name}`);
  }

  private newLink(name: string, kind: string, data: Attr[], mtu: number | undefined): void {
    const info: Attr[] = [attr.str(IFLA_INFO.KIND, kind)];
    if (data.length) info.push(attr.nested(IFLA_INFO.DATA, data));
    const attrs: Attr[] = [attr.str(IFLA.IFNAME, checkName(name)), attr.nested(IFLA.LINKINFO, info)];
    if (mtu) attrs.push(attr.u32(IFLA.MTU, mtu));
    this.sock.request(RTM.NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg({ family: AF_UNSPEC }, attrs), `create ${kind} ${name}`);
  }

  // ------------------------------------------------------------ addresses --

  addresses(index?: number): Addr[] {
    const all = this.sock.dump(RTM.GETADDR, ifaddrmsg({ family: AF_INET }), 'dump addresses').map(decodeAddr);
    return index === undefined ? all : all.filter((a) => a.index === index);
  }

  /** Adds "10.0.0.1/24" to a link. */
  addAddress(link: string, cidr: string): void {
    const [address, len] = splitCidr(cidr);
    this.sock.request(RTM.NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifaddrmsg({ family: AF_INET, prefixlen: len, index: this.index(link) }, [attr.bytes(IFA.LOCAL, ip4(address)), attr.bytes(IFA.ADDRESS, ip4(address))]), `add address ${cidr} to ${link}`);
  }

  deleteAddress(link: string, cidr: string): void {
    const [address, len] = splitCidr(cidr);
    this.sock.request(RTM.DELADDR, 0, ifaddrmsg({ family: AF_INET, prefixlen: len, index: this.index(link) }, [attr.bytes(IFA.LOCAL, ip4(address))]), `delete address ${cidr} from ${link}`);
  }

  // --------------------------------------------------------------- routes --

  /** Routes of the main table. */
  routes(): Route[] {
    return this.sock.dump(RTM.GETROUTE, rtmsg({ family: AF_INET }), 'dump routes').map(decodeRoute).filter((r) => r.table === RT_TABLE_MAIN);
  }

  /** Adds or replaces a route: `dst` "10.1.0.0/16" (or "0.0.0.0/0"), through a gateway or straight out of a link. */
  replaceRoute(r: { dst: string; gateway?: string; link?: string }): void {
    const [dst, len] = splitCidr(r.dst);
    const attrs: Attr[] = [attr.u32(RTA.TABLE, RT_TABLE_MAIN)];
    if (len > 0) attrs.push(attr.bytes(RTA.DST, ip4(dst)));
    if (r.gateway) attrs.push(attr.bytes(RTA.GATEWAY, ip4(r.gateway)));
    if (r.link) attrs.push(attr.u32(RTA.OIF, this.index(r.link)));
    const scope = r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    this.sock.request(RTM.NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, rtmsg({ family: AF_INET, dstLen: len, table: RT_TABLE_MAIN, protocol: RTPROT_STATIC, scope, type: RTN_UNICAST }, attrs), `route ${r.dst}`);
  }

  deleteRoute(dstCidr: string): void {
    const [dst, len] = splitCidr(dstCidr);
    const attrs: Attr[] = len > 0 ? [attr.bytes(RTA.DST, ip4(dst))] : [];
    // Scope "nowhere" matches a route of any scope.
    this.sock.request(RTM.DELROUTE, 0, rtmsg({ family: AF_INET, dstLen: len, table: RT_TABLE_MAIN, scope: RT_SCOPE_NOWHERE }, attrs), `delete route ${dstCidr}`);
  }

  // ------------------------------------------------- neighbours and FDB --

  /** IPv4 neighbours, of one link or all. */
  neighbours(link?: string): Neigh[] {
    const index = link === undefined ? undefined : this.index(link);
    return this.sock.dump(RTM.GETNEIGH, ndmsg({ family: AF_INET }), 'dump neighbours').map(decodeNeigh).filter((n) => index === undefined || n.index === index);
  }

  /** A permanent neighbour: `ip` is at `lladdr` on `link`. */
  replaceNeighbour(link: string, ip: string, lladdr: string): void {
    this.sock.request(RTM.NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, ndmsg({ family: AF_INET, index: this.index(link), state: NUD_PERMANENT }, [attr.bytes(NDA.DST, ip4(ip)), attr.bytes(NDA.LLADDR, mac(lladdr))]), `neighbour ${ip} on ${link}`);
  }

  deleteNeighbour(link: string, ip: string): void {
    this.sock.request(RTM.DELNEIGH, 0, ndmsg({ family: AF_INET, index: this.index(link) }, [attr.bytes(NDA.DST, ip4(ip))]), `delete neighbour ${ip} on ${link}`);
  }

  /** Forwarding entries of a link (a vxlan device's: MAC → remote VTEP). */
  fdb(link: string): Neigh[] {
    const index = this.index(link);
    return this.sock.dump(RTM.GETNEIGH, ndmsg({ family: AF_BRIDGE }), 'dump fdb').map(decodeNeigh).filter((n) => n.index === index);
  }

  /** A permanent FDB entry on a vxlan device: frames for `lladdr` go to the VTEP at `dst`. */
  replaceFdb(link: string, lladdr: string, dst: string): void {
    this.sock.request(RTM.NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, ndmsg({ family: AF_BRIDGE, index: this.index(link), state: NUD_PERMANENT | NUD_NOARP, flags: NTF_SELF }, [attr.bytes(NDA.LLADDR, mac(lladdr)), attr.bytes(NDA.DST, ip4(dst))]), `fdb ${lladdr} on ${link}`);
  }

  deleteFdb(link: string, lladdr: string, dst: string): void {
    this.sock.request(RTM.DELNEIGH, 0, ndmsg({ family: AF_BRIDGE, index: this.index(link), flags: NTF_SELF }, [attr.bytes(NDA.LLADDR, mac(lladdr)), attr.bytes(NDA.DST, ip4(dst))]), `delete fdb ${lladdr} on ${link}`);
  }
}

function checkName(name: string): string {
  if (!name || Buffer.byteLength(name) > IFNAMSIZ) throw new TypeError(`interface name "${name}": 1 to ${IFNAMSIZ} bytes`);
  return name;
}

function splitCidr(cidr: string): [string, number] {
  const [a, l] = cidr.split('/');
  const len = Number(l ?? 32);
  if (!a || !Number.isInteger(len) || len < 0 || len > 32) throw new TypeError(`not an IPv4 CIDR: "${cidr}"`);
  return [a, len];
}
