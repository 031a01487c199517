// Issuing a node's (or an admin's) certificate for a key it already holds:
// after a join, a promote or demote, at every renewal, and during a CA
// rotation. The lifetime is the cluster's (`orch cluster update
// --cert-expiry`); the root is the one rotation.ts says, and the roots to
// trust come along. A manager's comes with the cluster key and, where orch
// issued etcd's certificates, an etcd client certificate for the same key.
import type { NodeCertificate } from '../../proto/generated/orch.js';
import { bundle, issueCert, issueEtcdCert, type Role } from '../../shared/tls/pki.js';
import { certTtlMs, readSettings, type Store } from '../store/index.js';
import { issuing, type Issuing } from './rotation.js';
import { loadSecrets, type ClusterSecrets } from './secrets.js';

/** Signs `publicKeyPem` into a certificate naming `nodeId` in `role`. */
export type Issue = (nodeId: string, publicKeyPem: string, role: Role) => Promise<NodeCertificate>;

export function issuer(store: Store, clusterKey: Buffer): Issue {
  return async (nodeId, publicKeyPem, role) => {
    const { secrets, ttlMs, issuing: now } = await readPolicy(store, clusterKey);
    const leaf = await issueCert(now.signer, publicKeyPem, { nodeId, role, clusterId: secrets.clusterId }, { ttlMs });
    const manager = role === 'manager';
    const etcd = manager && secrets.etcdCa ? { etcdCaPem: secrets.etcdCa.certPem, etcdCertPem: await issueEtcdCert(secrets.etcdCa, publicKeyPem, nodeId) } : { etcdCaPem: '', etcdCertPem: '' };
    return { certPem: now.chain ? bundle(leaf, now.chain) : leaf, role, clusterKey: manager ? clusterKey.toString('base64') : '', caPem: now.trust, ...etcd };
  };
}

/** What a node's certificate should be now: its lifetime, the root it comes from, the roots it trusts. */
export interface CertPolicy {
  ttlMs: number;
  issuing: Issuing;
}

export function certPolicy(store: Store, clusterKey: Buffer): () => Promise<CertPolicy> {
  return () => readPolicy(store, clusterKey);
}

/** The sealed record and the settings, read together, as the policy they make. */
async function readPolicy(store: Store, clusterKey: Buffer): Promise<CertPolicy & { secrets: ClusterSecrets }> {
  const [{ secrets }, { settings }] = await Promise.all([loadSecrets(store, clusterKey), readSettings(store)]);
  return { secrets, ttlMs: certTtlMs(settings), issuing: issuing(secrets) };
}
