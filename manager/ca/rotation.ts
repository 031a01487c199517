// Rotating the cluster's root CA without taking a node down, as Swarm's
// `docker swarm ca --rotate`. Three compare-and-put steps on the sealed record:
//
//   start   a new root, and a copy of it cross-signed by the old root. From
//           now on certificates come from the new root, sent with that copy,
//           so a peer that trusts only the old root still accepts them; the
//           roots to trust are both. The leader renews every node's
//           certificate unasked (dispatcher), the admin's CLI its own.
//   retire  once every node holds a certificate of the new root: the new
//           root becomes the cluster's (cluster/ca), the join tokens are made
//           anew to pin it (old tokens stop working), and nodes are told to
//           trust it alone.
//   finish  once every node trusts the new root alone.
//
// A node that is down holds the rotation at its step until it returns or is
// removed (`orch ca` names it).
import { X509Certificate } from 'node:crypto';
import type { CaNodeProgress, CaRoot, CaStatus, Node } from '../../proto/generated/orch.js';
import { NodeState } from '../../proto/generated/orch.js';
import { FailedPreconditionError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { bundle, crossSign, fingerprint, newCa, pathLength, validity, type KeyPair } from '../../shared/tls/pki.js';
import { seal } from '../../shared/tls/sealed.js';
import { newToken } from '../../shared/tls/token.js';
import { keys, type Cache, type Store } from '../store/index.js';
import { loadSecrets, type ClusterSecrets } from './secrets.js';

/** A rotation under way, in the sealed record. */
export interface Rotation {
  /** The new root (in "trust", the cluster's root already). */
  ca: KeyPair;
  /** The new root cross-signed by the old one (sent after each new leaf while the old root is trusted). */
  crossSignedPem: string;
  phase: 'reissue' | 'trust';
  startedAt: string;
}

/** What certificates are issued under now, and which roots a node should trust. */
export interface Issuing {
  signer: KeyPair;
  /** Sent after the leaf: the cross-signed copy during "reissue", else nothing. */
  chain: string;
  /** The roots to trust, as a PEM bundle (a node's ca.crt). */
  trust: string;
  /** Fingerprint of the root the issued certificates chain to. */
  root: string;
  /** Fingerprints of the roots in `trust`. */
  trustRoots: string[];
  /** Every root a node's certificate may come from now (PEM). */
  known: string[];
}

export function issuing(s: ClusterSecrets): Issuing {
  const r = s.rotation;
  if (r?.phase === 'reissue') {
    return { signer: r.ca, chain: r.crossSignedPem, trust: bundle(s.ca.certPem, r.ca.certPem), root: fingerprint(r.ca.certPem), trustRoots: [fingerprint(s.ca.certPem), fingerprint(r.ca.certPem)], known: [s.ca.certPem, r.ca.certPem] };
  }
  return { signer: s.ca, chain: '', trust: s.ca.certPem, root: fingerprint(s.ca.certPem), trustRoots: [fingerprint(s.ca.certPem)], known: [s.ca.certPem] };
}

/** The next step of a rotation, given every node's record: the one rule of when it moves on. */
export function rotationStep(r: Rotation | undefined, nodes: Node[]): 'retire' | 'finish' | undefined {
  if (!r) return undefined;
  const root = fingerprint(r.ca.certPem);
  if (r.phase === 'reissue') return nodes.every((n) => n.certRoot === root) ? 'retire' : undefined;
  return nodes.every((n) => n.trustedRoots.length === 1 && n.trustedRoots[0] === root) ? 'finish' : undefined;
}

/** Starts a rotation; refused, changing nothing, while one is under way. */
export async function startRotation(store: Store, clusterKey: Buffer, log: Logger): Promise<void> {
  const { secrets, modRevision } = await loadSecrets(store, clusterKey);
  if (secrets.rotation) {
    throw new FailedPreconditionError(`a CA rotation is under way (phase ${secrets.rotation.phase}, since ${secrets.rotation.startedAt}): \`orch ca\` shows who it waits on; start another once it is done`);
  }
  if ((await pathLength(secrets.ca.certPem)) === 0) {
    throw new FailedPreconditionError("this cluster's root CA allows no CA below it (it was made before orch could rotate its CA), so nodes cannot trust a new root through it: a new cluster is the way to a new root");
  }
  const ca = await newCa(secrets.clusterId, `orch root CA ${Date.now().toString(36)}`);
  const rotation: Rotation = { ca, crossSignedPem: await crossSign(secrets.ca, ca), phase: 'reissue', startedAt: new Date().toISOString() };
  await store.txn().expectKey(keys.clusterSecrets(), modRevision).putKey(keys.clusterSecrets(), seal(clusterKey, JSON.stringify({ ...secrets, rotation }))).commit();
  log.info({ root: fingerprint(ca.certPem) }, 'CA rotation started');
}

/** The leader's part: moves a rotation on when every node is there (rotationStep), every second. */
export class CaRotation {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly store: Store,
    private readonly cache: Cache,
    private readonly clusterKey: Buffer,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { secrets, modRevision } = await loadSecrets(this.store, this.clusterKey);
      const step = rotationStep(secrets.rotation, [...this.cache.nodes.values()].map((v) => v.value));
      if (!step) return;
      const r = secrets.rotation!;
      const txn = this.store.txn({ fenced: true }).expectKey(keys.clusterSecrets(), modRevision);
      if (step === 'retire') {
        const fp = fingerprint(r.ca.certPem);
        const next: ClusterSecrets = { ...secrets, ca: r.ca, tokens: { worker: newToken(fp), manager: newToken(fp) }, rotation: { ...r, phase: 'trust' } };
        await txn.putKey(keys.clusterSecrets(), seal(this.clusterKey, JSON.stringify(next))).putKey(keys.clusterCa(), r.ca.certPem).commit();
        this.log.info({ root: fp }, 'CA rotation: every node holds a certificate of the new root; the old root is retired and the join tokens pin the new one');
      } else {
        const { rotation: _done, ...next } = secrets;
        await txn.putKey(keys.clusterSecrets(), seal(this.clusterKey, JSON.stringify(next))).commit();
        this.log.info('CA rotation finished: every node trusts the new root alone');
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'CA rotation step failed; trying again');
    } finally {
      this.busy = false;
    }
  }
}

/** The root, any rotation and every node's progress in it (`orch ca`). */
export async function caStatus(store: Store, cache: Cache, clusterKey: Buffer): Promise<CaStatus> {
  const { secrets } = await loadSecrets(store, clusterKey);
  const r = secrets.rotation;
  const newRoot = r && fingerprint(r.ca.certPem);
  const nodes: CaNodeProgress[] = [...cache.nodes.values()]
    .map(({ value: n }) => ({
      nodeId: n.id,
      hostname: n.description?.hostname ?? '',
      ready: n.state === NodeState.NODE_READY,
      reissued: !!newRoot && n.certRoot === newRoot,
      trustsNewOnly: !!newRoot && n.trustedRoots.length === 1 && n.trustedRoots[0] === newRoot,
    }))
    .sort((a, b) => a.hostname.localeCompare(b.hostname));
  return {
    // After "retire" the cluster's root is the new one already.
    root: describeRoot(secrets.ca.certPem),
    next: r?.phase === 'reissue' ? describeRoot(r.ca.certPem) : undefined,
    phase: r?.phase ?? '',
    startedAt: r ? new Date(r.startedAt) : undefined,
    nodes: r ? nodes : [],
  };
}

function describeRoot(pem: string): CaRoot {
  return { fingerprint: fingerprint(pem), subject: new X509Certificate(pem).subject.replace(/\n/g, ', '), notAfter: validity(pem).notAfter };
}
