// Issuing a node's (or an admin's) certificate for a key it already holds:
// after a join, a promote or demote, and at every renewal. The lifetime is
// the cluster's (`orch cluster update --cert-expiry`). A manager's comes with
// the cluster key and, where orch issued etcd's certificates, an etcd client
// certificate for the same key.
import type { NodeCertificate } from '../../proto/generated/orch.js';
import { issueCert, issueEtcdCert, type Role } from '../../shared/tls/pki.js';
import { certTtlMs, readSettings, type Store } from '../store/index.js';
import { loadSecrets } from './secrets.js';

/** Signs `publicKeyPem` into a certificate naming `nodeId` in `role`. */
export type Issue = (nodeId: string, publicKeyPem: string, role: Role) => Promise<NodeCertificate>;

export function issuer(store: Store, clusterKey: Buffer): Issue {
  return async (nodeId, publicKeyPem, role) => {
    const [{ secrets }, { settings }] = await Promise.all([loadSecrets(store, clusterKey), readSettings(store)]);
    const certPem = await issueCert(secrets.ca, publicKeyPem, { nodeId, role, clusterId: secrets.clusterId }, { ttlMs: certTtlMs(settings) });
    const manager = role === 'manager';
    const etcd = manager && secrets.etcdCa ? { etcdCaPem: secrets.etcdCa.certPem, etcdCertPem: await issueEtcdCert(secrets.etcdCa, publicKeyPem, nodeId) } : { etcdCaPem: '', etcdCertPem: '' };
    return { certPem, role, clusterKey: manager ? clusterKey.toString('base64') : '', ...etcd };
  };
}
