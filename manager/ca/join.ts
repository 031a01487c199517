// The Ca service: `orch join`'s one call. The joiner has already checked our
// CA against the fingerprint in its token (so it talks to this cluster); here
// the token's secret is checked against the sealed tokens, read fresh from
// etcd so that a rotation counts at once on every manager, and the joiner's
// public key is signed into a certificate naming a new node id and the role
// the token grants (issue.ts). Joining managers also get the etcd endpoints,
// the cluster key and an etcd client certificate.
import { createPublicKey } from 'node:crypto';
import type { CaServer, JoinRequest, JoinResponse } from '../../proto/generated/orch.js';
import { InvalidArgumentError, toGrpcError, UnauthenticatedError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/log.js';
import { fingerprint } from '../../shared/tls/pki.js';
import { parseToken, sameToken } from '../../shared/tls/token.js';
import { keys, type Store } from '../store/index.js';
import type { Issue } from './issue.js';
import { loadSecrets, type JoinRole } from './secrets.js';

export function caServer(store: Store, clusterKey: Buffer, issue: Issue, log: Logger): CaServer {
  return {
    join: (call, callback) => {
      join(store, clusterKey, issue, call.request).then(
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

async function join(store: Store, clusterKey: Buffer, issue: Issue, req: JoinRequest): Promise<JoinResponse> {
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
  const cert = await issue(nodeId, req.publicKeyPem, role);
  return {
    nodeId,
    role,
    certPem: cert.certPem,
    caPem: cert.caPem,
    managers: await managerAddrs(store),
    etcd: role === 'manager' ? secrets.etcd : '',
    clusterKey: cert.clusterKey,
    etcdCaPem: cert.etcdCaPem,
    etcdCertPem: cert.etcdCertPem,
  };
}

/** Where the managers serve gRPC, as each recorded at start. */
export async function managerAddrs(store: Store): Promise<string[]> {
  const all = await store.call(() => store.etcd.getAll().prefix(keys.managersPrefix()).strings());
  return [...new Set(Object.values(all))].sort();
}
