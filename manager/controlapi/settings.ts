// The cluster's settings (what it allows), and the one check that depends on
// them: a service asking for --privileged or --device is written only while
// the cluster allows it, compared in the same transaction.
import { ClusterSettings, type ServiceSpec, type UpdateClusterSettingsRequest } from '../../proto/generated/orch.js';
import { FailedPreconditionError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { keys, type Store, type Txn } from '../store/index.js';
import { retryConflicts } from '../store/index.js';

/** The settings and the mod revision of their key (0: never set, the defaults). */
export async function readSettings(store: Store): Promise<{ settings: ClusterSettings; modRevision: number }> {
  const raw = await store.getRawVersioned(keys.clusterSettings());
  return { settings: raw.value ? ClusterSettings.fromJSON(JSON.parse(raw.value)) : ClusterSettings.fromPartial({}), modRevision: raw.modRevision };
}

/** Changes the settings named in the request; the others stay. */
export function updateSettings(store: Store, log: Logger, req: UpdateClusterSettingsRequest): Promise<ClusterSettings> {
  return retryConflicts(async () => {
    const cur = await readSettings(store);
    const next: ClusterSettings = { ...cur.settings, allowPrivileged: req.allowPrivileged ?? cur.settings.allowPrivileged };
    await store.txn().expectKey(keys.clusterSettings(), cur.modRevision).putKey(keys.clusterSettings(), JSON.stringify(ClusterSettings.toJSON(next))).commit();
    log.info({ allowPrivileged: next.allowPrivileged }, 'cluster settings updated');
    return next;
  });
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
