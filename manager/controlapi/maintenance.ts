// The Maintenance service (admins only): how etcd is, its maintenance on
// demand, and backups.
import type { BackupChunk, BackupRequest, MaintainRequest, MaintainStep, MaintenanceServer, StoreStatus, StoreStatusRequest } from '../../proto/generated/orch.js';
import type { Logger } from '../../shared/log.js';
import type { Role } from '../../shared/tls/pki.js';
import type { Caller, Gate } from '../ca/auth.js';
import type { Store } from '../store/index.js';
import { takeBackup } from '../upkeep/backup.js';
import { maintainStore, storeStatus } from '../upkeep/maintain.js';
import { handler, streamHandler } from './handler.js';

const ADMIN: readonly Role[] = ['admin'];
/** Backup chunk size: well under gRPC's 4 MiB message limit. */
const CHUNK = 1024 * 1024;

export function maintenanceServer(store: Store, log: Logger, gate: Gate, clusterId: string): MaintenanceServer {
  const authorize = (call: Caller) => gate.check(call, ADMIN, 'store maintenance');
  const unary = handler(log, authorize, async () => undefined);
  const stream = streamHandler(log, authorize);
  return {
    getStoreStatus: unary<StoreStatusRequest, StoreStatus>(() => storeStatus(store)),
    maintain: stream<MaintainRequest, MaintainStep>(async (call) => {
      log.info('store maintenance asked for');
      const status = await maintainStore(store, (message) => {
        log.info({ step: message }, 'store maintenance');
        call.write({ message, status: undefined });
      });
      call.write({ message: 'done', status });
    }),
    backup: stream<BackupRequest, BackupChunk>(async (call) => {
      const { file, header, keys } = await takeBackup(store, clusterId);
      log.info({ revision: header.revision, keys, bytes: file.length }, 'backup taken');
      for (let i = 0; i < file.length; i += CHUNK) call.write({ data: file.subarray(i, i + CHUNK) });
    }),
  };
}
