// Changing the cluster's settings (what it allows, how long certificates
// last), and the one check that depends on them: a service asking for
// --privileged or --device is written only while the cluster allows it,
// compared in the same transaction.
import { ClusterSettings, type ServiceSpec, type UpdateClusterSettingsRequest } from '../../proto/generated/orch.js';
import { FailedPreconditionError, InvalidArgumentError } from '../../shared/errors.js';
import { formatDuration } from '../../shared/duration.js';
import type { Logger } from '../../shared/log.js';
import { keys, readSettings, type Store, type Txn } from '../store/index.js';
import { retryConflicts } from '../store/index.js';

/** The shortest certificate lifetime the cluster takes: a renewal must fit in well before expiry (Swarm's floor is an hour; orch allows drills down to a minute). */
export const MIN_CERT_EXPIRY_S = 60;
/** The longest: within the root CA's own ten years. */
export const MAX_CERT_EXPIRY_S = 5 * 365 * 86_400;

/** Changes the settings named in the request; the others stay. */
export function updateSettings(store: Store, log: Logger, req: UpdateClusterSettingsRequest): Promise<ClusterSettings> {
  return retryConflicts(async () => {
    if (req.certExpirySeconds !== undefined) checkCertExpiry(Number(req.certExpirySeconds));
    const cur = await readSettings(store);
    const next: ClusterSettings = {
      ...cur.settings,
      allowPrivileged: req.allowPrivileged ?? cur.settings.allowPrivileged,
      certExpirySeconds: req.certExpirySeconds ?? cur.settings.certExpirySeconds,
    };
    await store.txn().expectKey(keys.clusterSettings(), cur.modRevision).putKey(keys.clusterSettings(), JSON.stringify(ClusterSettings.toJSON(next))).commit();
    log.info({ allowPrivileged: next.allowPrivileged, certExpirySeconds: Number(next.certExpirySeconds) }, 'cluster settings updated');
    return next;
  });
}

/** Refuses a certificate lifetime outside [MIN_CERT_EXPIRY_S, MAX_CERT_EXPIRY_S]. */
function checkCertExpiry(seconds: number): void {
  if (seconds < MIN_CERT_EXPIRY_S || seconds > MAX_CERT_EXPIRY_S) {
    throw new InvalidArgumentError(`--cert-expiry ${formatDuration(seconds * 1000)}: give 1m to ${MAX_CERT_EXPIRY_S / 3600}h (nodes renew a certificate when 20 to 50% of its life is left; 2160h, 90 days, is the default)`);
  }
}

/** Refuses a privileged spec on a cluster that does not allow it; otherwise makes `txn` depend on the settings it read. */
export async function checkPrivileges(store: Store, spec: ServiceSpec, txn: Txn): Promise<void> {
  const c = spec.container;
  const asks = [c?.privileged ? '--privileged' : '', c?.devices.length ? '--device' : ''].filter(Boolean);
  if (asks.length === 0) return;
  const { settings, modRevision } = await readSettings(store);
  if (!settings.allowPrivileged) {
    throw new FailedPreconditionError(`service ${spec.name} asks for ${asks.join(' and ')}, which this cluster does not allow; an admin can allow it with \`orch cluster update --allow-privileged\``);
  }
  txn.expectKey(keys.clusterSettings(), modRevision);
}
