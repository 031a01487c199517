// The dispatcher's part in certificates: each node's, as its session showed
// it and as the leader has since sent it. After a promote or demote the node
// gets one for its new role; when its own comes due, the agent asks and gets
// it renewed (ca/issue.ts); one that outlives the cluster's lifetime (just
// shortened), or is not of the root and trust a CA rotation asks for
// (ca/rotation.ts), is renewed unasked. The node record keeps when each
// node's certificate expires, its root and the roots it trusts.
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Node, NodeCertificate } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import { fingerprint, publicKeyOfCert, signedBy, splitPems, validity, type Role } from '../../shared/tls/pki.js';
import type { CertPolicy, Issue } from '../ca/issue.js';
import { retryConflicts, type Cache, type Store } from '../store/index.js';

/** How long to wait before issuing a certificate for a new role again after a failure (etcd away). */
const REISSUE_RETRY_MS = 1000;

/** One node's certificate, as its session showed it and as the leader has sent it since. */
export interface NodeCert {
  nodeId: string;
  /** The role of the certificate it connected with, and that certificate's public key and PEM. */
  role: string;
  publicKeyPem: string;
  leafPem: string;
  /** When its certificate ends (ms; 0: unknown). */
  notAfter: number;
  /** The root it comes from ('': none known now; undefined: not worked out yet). */
  root: string | undefined;
  /** The roots it trusts (empty: an agent that does not say). */
  trusted: string[];
  /** A certificate for another role is on its way (after a promote or demote). */
  reissued: boolean;
  /** A renewal is being issued. */
  renewing: boolean;
  /** Sends it a certificate if its session is still the current one; false otherwise. */
  send(c: NodeCertificate): boolean;
  /** Its session is still the current one. */
  current(): boolean;
}

/** What a new session's TLS peer certificate says. */
export function nodeCert(nodeId: string, role: string, peer: PeerCertificate | undefined, trusted: string[], session: Pick<NodeCert, 'send' | 'current'>): NodeCert {
  const raw = peer?.raw;
  return {
    nodeId,
    role,
    publicKeyPem: raw ? publicKeyOfCert(raw) : '',
    leafPem: raw ? new X509Certificate(raw).toString() : '',
    notAfter: raw ? validity(raw).notAfter.getTime() : 0,
    root: undefined,
    trusted,
    reissued: false,
    renewing: false,
    ...session,
  };
}

export class Certificates {
  constructor(
    private readonly cache: Cache,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly issue: Issue,
    private readonly policy: () => Promise<CertPolicy>,
  ) {}

  /** After a promote or demote: sends the node a certificate for its new role, once per session. */
  pushRoleChange(c: NodeCert): void {
    const want = this.cache.nodes.get(c.nodeId)?.value.desiredRole;
    if (!want || want === c.role || c.reissued || !c.publicKeyPem) return;
    c.reissued = true;
    this.issue(c.nodeId, c.publicKeyPem, want as Role).then(
      (certificate) => {
        if (c.send(certificate)) this.log.info({ node: c.nodeId, from: c.role, to: want }, 'certificate for a new role sent');
      },
      (err) => {
        this.log.warn({ node: c.nodeId, err: String(err) }, 'issuing a certificate for the new role failed; will retry');
        setTimeout(() => {
          c.reissued = false;
          if (c.current()) this.pushRoleChange(c);
        }, REISSUE_RETRY_MS).unref();
      },
    );
  }

  /** A renewal, asked for or not: a certificate for the same key and role, as the cluster issues now. */
  async renew(c: NodeCert): Promise<void> {
    const want = this.cache.nodes.get(c.nodeId)?.value.desiredRole;
    // A certificate for its new role is on its way and renews it as well.
    if (c.renewing || !c.publicKeyPem || (want && want !== c.role)) return;
    c.renewing = true;
    try {
      const certificate = await this.issue(c.nodeId, c.publicKeyPem, c.role as Role);
      if (!c.send(certificate)) return;
      const trust = splitPems(certificate.caPem);
      c.notAfter = validity(certificate.certPem).notAfter.getTime();
      c.root = signedBy(certificate.certPem, trust) ?? '';
      c.trusted = trust.map((p) => fingerprint(p));
      this.log.info({ node: c.nodeId, notAfter: new Date(c.notAfter).toISOString(), root: c.root.slice(0, 12) }, 'certificate renewed');
      await this.record(c);
    } catch (err) {
      this.log.warn({ node: c.nodeId, err: String(err) }, 'renewing a certificate failed; the agent asks again');
    } finally {
      c.renewing = false;
    }
  }

  /**
   * Renews, unasked, every certificate that is not what the cluster asks
   * now: it outlives the lifetime (shortened since), it is not of the root a
   * CA rotation issues under, or its holder does not trust the roots it
   * should. Records what the others hold.
   */
  async check(holders: Iterable<NodeCert>): Promise<void> {
    let policy: CertPolicy;
    try {
      policy = await this.policy();
    } catch {
      return; // etcd away: the next check
    }
    const now = Date.now();
    const { root, trustRoots, known } = policy.issuing;
    for (const c of holders) {
      c.root ??= signedBy(c.leafPem, known) ?? '';
      // An agent that reports no roots (one older than rotation) is not renewed over and over for it.
      const trusted = c.trusted.length === 0 || (c.trusted.length === trustRoots.length && trustRoots.every((r) => c.trusted.includes(r)));
      if (c.notAfter - now > policy.ttlMs || c.root !== root || !trusted) void this.renew(c);
      else void this.record(c);
    }
  }

  /** Writes what the node holds (expiry, root, trusted roots) to its record, if the record says otherwise. */
  private async record(c: NodeCert): Promise<void> {
    const same = (n: Node) => n.certRoot === c.root && n.trustedRoots.join() === c.trusted.join() && n.certExpiresAt?.getTime() === c.notAfter;
    const known = this.cache.nodes.get(c.nodeId)?.value;
    if (!known || same(known)) return;
    await retryConflicts(async () => {
      const cur = await this.store.get('nodes', c.nodeId);
      if (!cur || same(cur.value)) return;
      const next: Node = { ...cur.value, certRoot: c.root ?? '', trustedRoots: c.trusted, certExpiresAt: c.notAfter ? new Date(c.notAfter) : undefined };
      await this.store.txn({ fenced: true }).expect('nodes', c.nodeId, cur.modRevision).put('nodes', c.nodeId, next).commit();
    }).catch((err) => this.log.warn({ node: c.nodeId, err: String(err) }, "recording a node's certificate failed; will retry"));
  }
}
