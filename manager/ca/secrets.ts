// The cluster's CA and join tokens in etcd. The root certificate is stored in
// clear (everyone may read it); the CA key and both tokens are one sealed
// record (shared/tls/sealed.ts) that only a holder of the cluster key opens.
// Both are created together by `orch init`, once: the transaction requires
// that neither exists. The record also holds etcd's CA when orch issued
// etcd's certificates (`orch etcd certs`): a root apart from the nodes' CA, so
// that no node certificate, a worker's least of all, opens etcd.
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { fingerprint, newCa, type KeyPair } from '../../shared/tls/pki.js';
import { seal, unseal } from '../../shared/tls/sealed.js';
import { newToken } from '../../shared/tls/token.js';
import { keys, type Store } from '../store/index.js';
import type { Rotation } from './rotation.js';

export type JoinRole = 'worker' | 'manager';

/** What the sealed record holds. */
export interface ClusterSecrets {
  clusterId: string;
  ca: KeyPair;
  tokens: Record<JoinRole, string>;
  /** The etcd endpoints managers use (handed to joining managers). */
  etcd: string;
  /** etcd's CA, where orch issues etcd's certificates (absent: the operator's own, or a plain etcd). */
  etcdCa?: KeyPair;
  /** A rotation of the root CA under way (rotation.ts). */
  rotation?: Rotation;
}

/** A new cluster's id and root CA. */
export async function newClusterCa(): Promise<{ clusterId: string; ca: KeyPair }> {
  const clusterId = newId().slice(0, 16);
  return { clusterId, ca: await newCa(clusterId) };
}

/** Stores the cluster's CA and new tokens; refused if this etcd already holds a cluster. */
export async function initSecrets(store: Store, clusterKey: Buffer, o: { clusterId: string; ca: KeyPair; etcd: string; etcdCa?: KeyPair }): Promise<ClusterSecrets> {
  const { clusterId, ca } = o;
  const fp = fingerprint(ca.certPem);
  const secrets: ClusterSecrets = { clusterId, ca, tokens: { worker: newToken(fp), manager: newToken(fp) }, etcd: o.etcd, ...(o.etcdCa && { etcdCa: o.etcdCa }) };
  try {
    await store
      .txn()
      .expectKey(keys.clusterCa(), 0)
      .expectKey(keys.clusterSecrets(), 0)
      .putKey(keys.clusterCa(), ca.certPem)
      .putKey(keys.clusterSecrets(), seal(clusterKey, JSON.stringify(secrets)))
      .commit();
  } catch (err) {
    if ((await store.getRaw(keys.clusterCa())) !== undefined) {
      throw new AlreadyExistsError('this etcd already holds an orch cluster: join it with `orch join --token TOKEN MANAGER` instead of `orch init`');
    }
    throw err;
  }
  return secrets;
}

/** Reads and opens the sealed record, with its mod revision (for compare-and-put). */
export async function loadSecrets(store: Store, clusterKey: Buffer): Promise<{ secrets: ClusterSecrets; modRevision: number }> {
  const { value, modRevision } = await store.getRawVersioned(keys.clusterSecrets());
  if (value === undefined) throw new FailedPreconditionError('this etcd holds no orch cluster yet: run `orch init` on the first manager');
  return { secrets: JSON.parse(unseal(clusterKey, value)) as ClusterSecrets, modRevision };
}

/** Replaces a role's token in one compare-and-put; the old token stops working at once. */
export async function rotateToken(store: Store, clusterKey: Buffer, role: JoinRole): Promise<ClusterSecrets> {
  const { secrets, modRevision } = await loadSecrets(store, clusterKey);
  const next: ClusterSecrets = { ...secrets, tokens: { ...secrets.tokens, [role]: newToken(fingerprint(secrets.ca.certPem)) } };
  await store.txn().expectKey(keys.clusterSecrets(), modRevision).putKey(keys.clusterSecrets(), seal(clusterKey, JSON.stringify(next))).commit();
  return next;
}

/** Checks a role name from a request. */
export function joinRole(role: string): JoinRole {
  if (role !== 'worker' && role !== 'manager') throw new InvalidArgumentError(`"${role}" is not worker or manager`);
  return role;
}
