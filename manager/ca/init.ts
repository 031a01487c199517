// `orch init`: makes a cluster out of an empty etcd. Creates the CA and the
// join tokens (sealed in etcd under a new cluster key), and gives this host
// its manager certificate and the operator an admin certificate. The cluster
// key is written only to the manager's state directory.
import { newId } from '../../shared/ids.js';
import { issueCert, newKey, type Role } from '../../shared/tls/pki.js';
import { saveClusterKey, saveManagers, saveTls } from '../../shared/tls/credentials.js';
import { newClusterKey } from '../../shared/tls/sealed.js';
import { Store, type EtcdTls } from '../store/index.js';
import { initSecrets, type ClusterSecrets } from './secrets.js';

export interface InitOptions {
  etcd: string;
  etcdTls?: EtcdTls;
  /** This manager's state directory: its certificate and the cluster key. */
  stateDir: string;
  /** Where the admin certificate for the CLI goes. */
  adminDir: string;
  /** host:port this manager will serve at: recorded for this host's agent. */
  advertise: string;
}

export interface InitResult {
  clusterId: string;
  nodeId: string;
  tokens: ClusterSecrets['tokens'];
}

export async function initCluster(o: InitOptions): Promise<InitResult> {
  const store = new Store(o.etcd, o.etcdTls);
  try {
    const clusterKey = newClusterKey();
    const secrets = await initSecrets(store, clusterKey, o.etcd);
    const nodeId = newId();
    await writeIdentity(o.stateDir, secrets, nodeId, 'manager');
    saveClusterKey(o.stateDir, clusterKey);
    saveManagers(o.stateDir, [o.advertise]);
    await writeIdentity(o.adminDir, secrets, `admin-${newId().slice(0, 12)}`, 'admin');
    return { clusterId: secrets.clusterId, nodeId, tokens: secrets.tokens };
  } finally {
    store.etcd.close();
  }
}

async function writeIdentity(dir: string, secrets: ClusterSecrets, nodeId: string, role: Role): Promise<void> {
  const { keyPem, publicKeyPem } = newKey();
  const certPem = await issueCert(secrets.ca, publicKeyPem, { nodeId, role, clusterId: secrets.clusterId });
  saveTls(dir, { caPem: secrets.ca.certPem, keyPem, certPem });
}
