// IPv4 address arithmetic for networks: CIDRs, overlap, host addresses, and
// the MAC an endpoint gets (derived from its address, as Docker does, so any
// host can compute a remote endpoint's MAC from its IP alone).
import { InvalidArgumentError } from './errors.js';

export interface Cidr {
  /** The network address as an unsigned 32-bit integer. */
  base: number;
  prefix: number;
}

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new InvalidArgumentError(`"${ip}" is not an IPv4 address`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** Parses "10.10.1.0/24"; the address must be the network's own (no host bits). */
export function parseCidr(text: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text.trim());
  if (!m || Number(m[2]) > 32) throw new InvalidArgumentError(`"${text}" is not an IPv4 CIDR like 10.10.1.0/24`);
  const prefix = Number(m[2]);
  const addr = ipToInt(m[1]!);
  const base = (addr & mask(prefix)) >>> 0;
  if (base !== addr) throw new InvalidArgumentError(`"${text}" has host bits set; did you mean ${intToIp(base)}/${prefix}?`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

/** Number of addresses in the block. */
export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function contains(c: Cidr, ip: string): boolean {
  return ((ipToInt(ip) & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(p)) >>> 0) === ((b.base & mask(p)) >>> 0);
}

/** The first usable address (network + 1). */
export function firstHost(c: Cidr): string {
  return intToIp(c.base + 1);
}

/** Usable host addresses (not the network or broadcast address), starting after `after` and wrapping around. */
export function* hostsAfter(c: Cidr, after: string): Generator<string> {
  const n = size(c);
  const offset = ipToInt(after) - c.base;
  const start = offset >= 1 && offset < n - 1 ? offset : 0;
  for (let k = 1; k < n - 1; k++) yield intToIp(c.base + ((start + k - 1) % (n - 2)) + 1);
}

/** The MAC of an endpoint: 02:42 and the four bytes of its IPv4 address. */
export function macFor(ip: string): string {
  const n = ipToInt(ip);
  return ['02', '42', ...[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** "10.10.1.5/24" → "10.10.1.5". */
export function addrIp(addr: string): string {
  return addr.split('/')[0]!;
}
