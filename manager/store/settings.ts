// The cluster's settings (ClusterSettings, changed only by `orch cluster
// update`), read with the mod revision that a write depending on them compares.
import { ClusterSettings } from '../../proto/generated/orch.js';
import { DEFAULT_CERT_TTL_MS } from '../../shared/tls/pki.js';
import { keys } from './keys.js';
import type { Store } from './store.js';

/** The settings and the mod revision of their key (0: never set, the defaults). */
export async function readSettings(store: Store): Promise<{ settings: ClusterSettings; modRevision: number }> {
  const raw = await store.getRawVersioned(keys.clusterSettings());
  return { settings: raw.value ? ClusterSettings.fromJSON(JSON.parse(raw.value)) : ClusterSettings.fromPartial({}), modRevision: raw.modRevision };
}

/** The lifetime of the node and admin certificates issued now. */
export function certTtlMs(settings: ClusterSettings): number {
  return settings.certExpirySeconds ? Number(settings.certExpirySeconds) * 1000 : DEFAULT_CERT_TTL_MS;
}
