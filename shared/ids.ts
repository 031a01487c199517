// Identifiers: random, lower-case base36, 25 characters like Swarm's.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A new random id (about 129 bits). */
export function newId(): string {
  const bytes = randomBytes(25);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % 36];
  return out;
}

/** The short form used in tables, as Docker shows 12 characters. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
