// The Ca service: `orch join`'s one call. The joiner has already checked our
// CA against the fingerprint in its token (so it talks to this cluster); here
// the token's secret is checked against the sealed tokens, read fresh from
// etcd so that a rotation counts at once on every manager, and the joiner's
// public key is signed into a certificate naming a new node id and the role
// the token grants. Joining managers also get the etcd endpoints and the
// cluster key.
import { createPublicKey } from 'node:crypto';
import type { CaServer, JoinRequest, JoinResponse, NodeCertificate } from '../../proto/generated/orch.js';
import { InvalidArgumentError, toGrpcError, UnauthenticatedError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/log.js';
import { fingerprint, issueCert } from '../../shared/tls/pki.js';
import { parseToken, sameToken } from '../../shared/tls/token.js';
import { keys, type Store } from '../store/index.js';
import { loadSecrets, type JoinRole } from './secrets.js';

export function caServer(store: Store, clusterKey: Buffer, log: Logger): CaServer {
  return {
    join: (call, callback) => {
      join(store, clusterKey, call.request).then(
        (res) => {
          log.info({ peer: call.getPeer(), node: res.nodeId, role: res.role, hostname: call.request.hostname }, 'node joined');
          callback(null, res);
        },
        (err: unknown) => {
          log.warn({ peer: call.getPeer(), hostname: call.request.hostname, err: String(err) }, 'join refused');
          callback(toGrpcError(err));
        },
      );
    },
  };
}

async function join(store: Store, clusterKey: Buffer, req: JoinRequest): Promise<JoinResponse> {
  const token = parseToken(req.token);
  const { secrets } = await loadSecrets(store, clusterKey);
  if (token.caFingerprint !== fingerprint(secrets.ca.certPem)) {
    throw new UnauthenticatedError("the join token names another CA than this cluster's: it was made for another cluster");
  }
  const role: JoinRole | undefined = sameToken(req.token, secrets.tokens.manager) ? 'manager' : sameToken(req.token, secrets.tokens.worker) ? 'worker' : undefined;
  if (!role) throw new UnauthenticatedError('invalid join token (wrong, or rotated since): `orch join-token worker` on a manager prints the current one');
  try {
    createPublicKey(req.publicKeyPem);
  } catch {
    throw new InvalidArgumentError('public_key_pem is not a PEM public key');
  }
  const nodeId = newId();
  const certPem = await issueCert(secrets.ca, req.publicKeyPem, { nodeId, role, clusterId: secrets.clusterId });
  const manager = role === 'manager';
  return {
    nodeId,
    role,
    certPem,
    caPem: secrets.ca.certPem,
    managers: await managerAddrs(store),
    etcd: manager ? secrets.etcd : '',
    clusterKey: manager ? clusterKey.toString('base64') : '',
  };
}

/** Signs a node's existing key into a certificate for a new role (promote, demote); a manager's comes with the cluster key. */
export type Reissue = (nodeId: string, publicKeyPem: string, role: JoinRole) => Promise<NodeCertificate>;

export function reissuer(store: Store, clusterKey: Buffer): Reissue {
  return async (nodeId, publicKeyPem, role) => {
    const { secrets } = await loadSecrets(store, clusterKey);
    const certPem = await issueCert(secrets.ca, publicKeyPem, { nodeId, role, clusterId: secrets.clusterId });
    return { certPem, role, clusterKey: role === 'manager' ? clusterKey.toString('base64') : '' };
  };
}

/** Where the managers serve gRPC, as each recorded at start. */
export async function managerAddrs(store: Store): Promise<string[]> {
  const all = await store.call(() => store.etcd.getAll().prefix(keys.managersPrefix()).strings());
  return [...new Set(Object.values(all))].sort();
}
