// Secrets at rest in etcd (the CA key, the join tokens) are sealed with
// AES-256-GCM under the cluster key, a 32-byte key kept in a file on each
// manager host and never written to etcd. Whoever reads etcd alone learns
// nothing from them and cannot forge them.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { UnauthenticatedError } from '../errors.js';

const VERSION = 'v1';

/** A new cluster key. */
export function newClusterKey(): Buffer {
  return randomBytes(32);
}

/** Encrypts and authenticates `plain`; the result is text safe to store. */
export function seal(key: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `${VERSION}:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
}

/** Decrypts what `seal` made; a wrong key or a changed text is refused. */
export function unseal(key: Buffer, sealed: string): string {
  const [version, data] = sealed.split(':');
  if (version !== VERSION || !data) throw new UnauthenticatedError('the sealed cluster secrets are not in a format this orch knows');
  const raw = Buffer.from(data, 'base64');
  try {
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    throw new UnauthenticatedError("cannot open the cluster secrets: this manager's cluster key is not the cluster's (copy it from a manager of this cluster)");
  }
}
