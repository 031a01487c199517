// Who is calling: every gRPC handler asks the Gate first. The caller must show
// a certificate of this cluster's CA (the TLS layer verified the chain), of a
// role the handler allows, and not of a removed node. Each refusal is logged
// with the caller's address and answered with what was wrong.
import type { PeerCertificate } from 'node:tls';
import { PermissionDeniedError, UnauthenticatedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { identityOf, type Identity, type Role } from '../../shared/tls/pki.js';
import type { Cache } from '../store/index.js';

/** The parts of a gRPC server call the gate looks at. */
export interface Caller {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
  getPeer(): string;
}

export class Gate {
  constructor(
    private readonly clusterId: string,
    private readonly cache: Cache,
    private readonly log: Logger,
  ) {}

  /** The caller's identity if it may do `what`, which only `roles` may; throws otherwise. */
  check(call: Caller, roles: readonly Role[], what: string): Identity {
    const peer = call.getPeer();
    const who = identityOf(call.getAuthContext().sslPeerCertificate);
    let refusal: Error | undefined;
    if (!who || who.clusterId !== this.clusterId) {
      refusal = new UnauthenticatedError(`${what} needs a certificate of this cluster, and none was shown (the CLI uses the admin certificate \`orch init\` wrote; a node gets one from \`orch join\`)`);
    } else if (this.cache.revoked.has(who.nodeId)) {
      refusal = new PermissionDeniedError(`node ${who.nodeId} was removed from the cluster: its certificate is revoked; join again with a token`);
    } else if (!roles.includes(who.role)) {
      refusal = new PermissionDeniedError(`a ${who.role} certificate cannot call ${what} (it needs ${roles.join(' or ')})`);
    }
    if (refusal) {
      this.log.warn({ peer, node: who?.nodeId, role: who?.role, what, err: refusal.message }, 'caller refused');
      throw refusal;
    }
    return who!;
  }
}
