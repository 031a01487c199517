// `orch init`: makes a cluster out of an empty etcd. Creates the CA and the
// join tokens (sealed in etcd under a new cluster key), and gives this host
// its manager certificate and the operator an admin certificate. The cluster
// key is written only to the manager's state directory. Where `orch etcd
// certs` made etcd's CA in that directory, this manager reaches etcd with a
// client certificate of it, and the CA key moves into the sealed record.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import { issueCert, issueEtcdCert, newKey, type KeyPair, type Role } from '../../shared/tls/pki.js';
import { etcdClientTls, loadPendingEtcdCa, removePendingEtcdCa, saveClusterKey, saveEtcdClient, saveManagers, saveTls } from '../../shared/tls/credentials.js';
import { newClusterKey } from '../../shared/tls/sealed.js';
import { Store, type EtcdTls } from '../store/index.js';
import { initSecrets, newClusterCa } from './secrets.js';

export interface InitOptions {
  etcd: string;
  /** An etcd client certificate of the operator's own (instead of one from `orch etcd certs`). */
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
  tokens: Record<'worker' | 'manager', string>;
  /** How this manager reaches etcd: with orch's own etcd client certificate, the operator's, or none. */
  etcdAuth: 'orch' | 'operator' | 'none';
}

export async function initCluster(o: InitOptions): Promise<InitResult> {
  const etcdCa = loadPendingEtcdCa(o.stateDir);
  if (!o.etcdTls && !etcdCa && /https:/.test(o.etcd)) {
    throw new InvalidArgumentError(`etcd at ${o.etcd} is TLS, and ${o.stateDir} holds no etcd CA: run \`orch etcd certs --state-dir ${o.stateDir} NAME=IP...\` before etcd and init, or give --etcd-ca/--etcd-cert/--etcd-key`);
  }
  const { clusterId, ca } = await newClusterCa();
  const nodeId = newId();
  const node = newKey();
  const certPem = await issueCert(ca, node.publicKeyPem, { nodeId, role: 'manager', clusterId });
  // The node key is this manager's etcd key too. Until the cluster exists, the files live apart: a refused init changes nothing here.
  const etcdClient = !o.etcdTls && etcdCa ? { caPem: etcdCa.certPem, certPem: await issueEtcdCert(etcdCa, node.publicKeyPem, nodeId) } : undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'orch-init-'));
  let store: Store | undefined;
  try {
    if (etcdClient) {
      saveTls(scratch, { caPem: ca.certPem, keyPem: node.keyPem, certPem });
      saveEtcdClient(scratch, etcdClient);
    }
    store = new Store(o.etcd, o.etcdTls ?? etcdClientTls(scratch));
    const clusterKey = newClusterKey();
    const secrets = await initSecrets(store, clusterKey, { clusterId, ca, etcd: o.etcd, etcdCa });
    saveTls(o.stateDir, { caPem: ca.certPem, keyPem: node.keyPem, certPem });
    saveEtcdClient(o.stateDir, etcdClient);
    saveClusterKey(o.stateDir, clusterKey);
    saveManagers(o.stateDir, [o.advertise]);
    await writeIdentity(o.adminDir, ca, clusterId, `admin-${newId().slice(0, 12)}`, 'admin');
    removePendingEtcdCa(o.stateDir);
    return { clusterId, nodeId, tokens: secrets.tokens, etcdAuth: o.etcdTls ? 'operator' : etcdCa ? 'orch' : 'none' };
  } finally {
    store?.etcd.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function writeIdentity(dir: string, ca: KeyPair, clusterId: string, nodeId: string, role: Role): Promise<void> {
  const { keyPem, publicKeyPem } = newKey();
  const certPem = await issueCert(ca, publicKeyPem, { nodeId, role, clusterId });
  saveTls(dir, { caPem: ca.certPem, keyPem, certPem });
}
