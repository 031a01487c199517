// rtnetlink message layouts: the netlink header, the fixed header of each
// family (ifinfomsg, ifaddrmsg, rtmsg, ndmsg) and its attributes; encoders
// for requests and decoders for what the kernel answers.
import { decodeAttrs, encodeAttrs, read, type Attr } from './attrs.js';
import { IFA, IFF_UP, IFLA, IFLA_INFO, IFLA_VXLAN, NDA, RTA } from './constants.js';

/** struct nlmsghdr + payload. */
export function nlmsg(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(seq, 8);
  h.writeUInt32LE(0, 12); // the kernel fills in the port id
  return Buffer.concat([h, payload]);
}

/** struct ifinfomsg (16 bytes) and attributes. */
export function ifinfomsg(o: { family?: number; index?: number; flags?: number; change?: number }, attrs: Attr[] = []): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(o.family ?? 0, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt32LE(o.flags ?? 0, 8);
  b.writeUInt32LE(o.change ?? 0, 12);
  return Buffer.concat([b, encodeAttrs(attrs)]);
}

/** struct ifaddrmsg (8 bytes) and attributes. */
export function ifaddrmsg(o: { family: number; prefixlen?: number; scope?: number; index?: number }, attrs: Attr[] = []): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.prefixlen ?? 0, 1);
  b.writeUInt8(o.scope ?? 0, 3);
  b.writeUInt32LE(o.index ?? 0, 4);
  return Buffer.concat([b, encodeAttrs(attrs)]);
}

/** struct rtmsg (12 bytes) and attributes. */
export function rtmsg(o: { family: number; dstLen?: number; table?: number; protocol?: number; scope?: number; type?: number }, attrs: Attr[] = []): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.dstLen ?? 0, 1);
  b.writeUInt8(o.table ?? 0, 4);
  b.writeUInt8(o.protocol ?? 0, 5);
  b.writeUInt8(o.scope ?? 0, 6);
  b.writeUInt8(o.type ?? 0, 7);
  return Buffer.concat([b, encodeAttrs(attrs)]);
}

/** struct ndmsg (12 bytes) and attributes. */
export function ndmsg(o: { family: number; index?: number; state?: number; flags?: number }, attrs: Attr[] = []): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(o.family, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt16LE(o.state ?? 0, 8);
  b.writeUInt8(o.flags ?? 0, 10);
  return Buffer.concat([b, encodeAttrs(attrs)]);
}

export interface Link {
  index: number;
  name: string;
  up: boolean;
  mtu: number;
  mac: string | undefined;
  /** Index of the bridge it is enslaved to, if any. */
  master: number | undefined;
  kind: string | undefined;
  vxlan?: { id: number; local: string | undefined; port: number | undefined; learning: boolean; proxy: boolean };
}

export function decodeLink(p: Buffer): Link {
  const a = decodeAttrs(p.subarray(16));
  const info = a.get(IFLA.LINKINFO) ? decodeAttrs(a.get(IFLA.LINKINFO)!) : undefined;
  const kind = read.str(info?.get(IFLA_INFO.KIND));
  const link: Link = {
    index: p.readInt32LE(4),
    name: read.str(a.get(IFLA.IFNAME)) ?? '',
    up: (p.readUInt32LE(8) & IFF_UP) !== 0,
    mtu: read.u32(a.get(IFLA.MTU)) ?? 0,
    mac: read.mac(a.get(IFLA.ADDRESS)),
    master: read.u32(a.get(IFLA.MASTER)),
    kind,
  };
  if (kind === 'vxlan' && info?.get(IFLA_INFO.DATA)) {
    const d = decodeAttrs(info.get(IFLA_INFO.DATA)!);
    link.vxlan = {
      id: read.u32(d.get(IFLA_VXLAN.ID)) ?? 0,
      local: read.ip4(d.get(IFLA_VXLAN.LOCAL)),
      port: read.be16(d.get(IFLA_VXLAN.PORT)),
      learning: read.u8(d.get(IFLA_VXLAN.LEARNING)) === 1,
      proxy: read.u8(d.get(IFLA_VXLAN.PROXY)) === 1,
    };
  }
  return link;
}

export interface Addr {
  index: number;
  address: string;
  prefixlen: number;
}

export function decodeAddr(p: Buffer): Addr {
  const a = decodeAttrs(p.subarray(8));
  return { index: p.readUInt32LE(4), prefixlen: p.readUInt8(1), address: read.ip4(a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS)) ?? '' };
}

export interface Route {
  dst: string; // "0.0.0.0/0" for the default route
  gateway: string | undefined;
  oif: number | undefined;
  table: number;
  protocol: number;
  scope: number;
}

export function decodeRoute(p: Buffer): Route {
  const a = decodeAttrs(p.subarray(12));
  const dstLen = p.readUInt8(1);
  return {
    dst: `${read.ip4(a.get(RTA.DST)) ?? '0.0.0.0'}/${dstLen}`,
    gateway: read.ip4(a.get(RTA.GATEWAY)),
    oif: read.u32(a.get(RTA.OIF)),
    table: read.u32(a.get(RTA.TABLE)) ?? p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
  };
}

export interface Neigh {
  family: number;
  index: number;
  state: number;
  flags: number;
  /** IP (neighbours) or remote VTEP (FDB entries of a vxlan device). */
  dst: string | undefined;
  mac: string | undefined;
  master: number | undefined;
}

export function decodeNeigh(p: Buffer): Neigh {
  const a = decodeAttrs(p.subarray(12));
  return {
    family: p.readUInt8(0),
    index: p.readInt32LE(4),
    state: p.readUInt16LE(8),
    flags: p.readUInt8(10),
    dst: read.ip4(a.get(NDA.DST)),
    mac: read.mac(a.get(NDA.LLADDR)),
    master: read.u32(a.get(NDA.MASTER)),
  };
}
