// Sizes and CPU amounts in Docker's spelling: `--reserve-memory 512m`,
// `--limit-cpu 0.5`.
import { InvalidArgumentError } from './errors.js';

const BYTES: Record<string, bigint> = { '': 1n, b: 1n, k: 1n << 10n, m: 1n << 20n, g: 1n << 30n, t: 1n << 40n };

/** "512m", "1g", "1.5g", "1048576" → bytes. */
export function parseBytes(text: string, flag: string): bigint {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new InvalidArgumentError(`${flag}: "${text}" is not a size; write it like 512m, 1g or 1048576 (bytes)`);
  const [whole, frac = ''] = m[1]!.split('.');
  const unit = BYTES[m[2]!.toLowerCase()]!;
  const scale = 10n ** BigInt(frac.length);
  return (BigInt(whole!) * scale + BigInt(frac || '0')) * unit / scale;
}

/** "0.5", "2" (CPUs) → nano CPUs, as Docker's NanoCpus. */
export function parseCpus(text: string, flag: string): bigint {
  const m = /^\s*(\d+)(?:\.(\d{1,9}))?\s*$/.exec(text);
  if (!m) throw new InvalidArgumentError(`${flag}: "${text}" is not a number of CPUs; write it like 0.5 or 2`);
  return BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** A whole number of things (0 and up), e.g. a revision count. */
export function parseCount(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim())) throw new InvalidArgumentError(`${flag}: "${text}" is not a whole number; write it like 10000`);
  return Number(text.trim());
}

/** Bytes for people: "512 B", "52.0 KiB", "12.5 MiB", "1.2 GiB". */
export function formatBytes(bytes: number | bigint): string {
  let n = Number(bytes);
  for (const unit of ['B', 'KiB', 'MiB']) {
    if (n < 1024) return unit === 'B' ? `${n} B` : `${n.toFixed(1)} ${unit}`;
    n /= 1024;
  }
  return `${n.toFixed(1)} GiB`;
}
