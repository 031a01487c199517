// A service's spec history: every version of its spec is kept under its own
// key, written in the same transaction as the service itself, and the
// oldest beyond REVISIONS_KEPT is deleted by that same transaction
// (Kubernetes keeps 10 revisions; Swarm only the previous spec).
import { ServiceRevision, type Service } from '../../proto/generated/orch.js';
import type { ChangeOf, Store } from '../store/index.js';
import { keys } from '../store/keys.js';
import { prefixEnd } from '../store/keys.js';

/** Versions of a spec kept per service. */
export const REVISIONS_KEPT = 10;

/** The keys a new version of `service` writes (its revision, created only if new) and frees (the one that falls out). */
export function revisionKeys(service: Service, now: number): Pick<ChangeOf<'services'>, 'claim' | 'release'> {
  const revision: ServiceRevision = { version: service.version, spec: service.spec, createdAt: new Date(now) };
  const old = service.version - BigInt(REVISIONS_KEPT);
  return {
    claim: { [keys.revision(service.id, service.version)]: JSON.stringify(ServiceRevision.toJSON(revision)) },
    release: old > 0n ? [keys.revision(service.id, old)] : [],
  };
}

/** A service's kept versions, newest first. */
export async function readHistory(store: Store, serviceId: string): Promise<ServiceRevision[]> {
  const prefix = keys.revisionsPrefix(serviceId);
  const res = await store.call(() => store.etcd.kv.range({ key: Buffer.from(prefix), range_end: Buffer.from(prefixEnd(prefix)) }));
  return res.kvs.map((kv) => ServiceRevision.fromJSON(JSON.parse(kv.value.toString()))).sort((a, b) => Number(b.version - a.version));
}
