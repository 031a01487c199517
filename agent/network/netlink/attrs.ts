// Netlink attributes (struct rtattr / nlattr): a 2-byte length, a 2-byte type,
// the payload, padding to 4. Everything in host byte order (little-endian
// here) except what the kernel documents as network order (IFLA_VXLAN_PORT).

export type Attr = { type: number; data: Buffer };

const align4 = (n: number) => (n + 3) & ~3;

export const attr = {
  bytes: (type: number, data: Buffer): Attr => ({ type, data }),
  u8: (type: number, v: number): Attr => ({ type, data: Buffer.from([v]) }),
  u16: (type: number, v: number): Attr => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return { type, data: b };
  },
  be16: (type: number, v: number): Attr => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return { type, data: b };
  },
  u32: (type: number, v: number): Attr => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return { type, data: b };
  },
  /** A NUL-terminated string (interface names, kinds). */
  str: (type: number, s: string): Attr => ({ type, data: Buffer.concat([Buffer.from(s), Buffer.from([0])]) }),
  nested: (type: number, children: Attr[]): Attr => ({ type, data: encodeAttrs(children) }),
};

/** Encodes attributes back to back, each padded to 4 bytes. */
export function encodeAttrs(attrs: Attr[]): Buffer {
  const parts: Buffer[] = [];
  for (const a of attrs) {
    const len = 4 + a.data.length;
    const b = Buffer.alloc(align4(len));
    b.writeUInt16LE(len, 0);
    b.writeUInt16LE(a.type, 2);
    a.data.copy(b, 4);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Decodes attributes into type → payload (the last one wins; the nested flag bit is masked off). */
export function decodeAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & 0x3fff, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export const read = {
  str: (b: Buffer | undefined): string | undefined => (b ? b.toString('utf8', 0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)) : undefined),
  u32: (b: Buffer | undefined): number | undefined => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined),
  u8: (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b.readUInt8(0) : undefined),
  be16: (b: Buffer | undefined): number | undefined => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined),
  ip4: (b: Buffer | undefined): string | undefined => (b && b.length === 4 ? [...b].join('.') : undefined),
  mac: (b: Buffer | undefined): string | undefined => (b && b.length === 6 ? [...b].map((x) => x.toString(16).padStart(2, '0')).join(':') : undefined),
};

/** "10.0.0.1" → 4 bytes. */
export function ip4(addr: string): Buffer {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new TypeError(`not an IPv4 address: "${addr}"`);
  return Buffer.from(parts);
}

/** "02:42:0a:00:00:02" → 6 bytes. */
export function mac(addr: string): Buffer {
  const parts = addr.split(':').map((p) => parseInt(p, 16));
  if (parts.length !== 6 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new TypeError(`not a MAC address: "${addr}"`);
  return Buffer.from(parts);
}
