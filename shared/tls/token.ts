// Join tokens, as Swarm has them: ORCH-1-<CA fingerprint>-<secret>. The
// fingerprint lets a joiner check the manager's CA before it sends anything;
// the secret says which role the joiner gets (worker and manager differ).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';

const TOKEN = /^ORCH-1-([0-9a-f]{64})-([0-9a-z]{32})$/;

export interface ParsedToken {
  caFingerprint: string;
  secret: string;
}

/** A new token for a CA with this fingerprint. */
export function newToken(caFingerprint: string): string {
  return `ORCH-1-${caFingerprint}-${randomBytes(16).toString('hex')}`;
}

/** Splits a token; a malformed one is refused with the expected shape. */
export function parseToken(token: string): ParsedToken {
  const m = TOKEN.exec(token.trim());
  if (!m) throw new InvalidArgumentError('that is not an orch join token (expected ORCH-1-<64 hex>-<32 hex>); `orch join-token worker` on a manager prints one');
  return { caFingerprint: m[1]!, secret: m[2]! };
}

/** Compares two tokens in constant time. */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
