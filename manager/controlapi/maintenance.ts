// The Maintenance service (admins only): how etcd is, its maintenance on
// demand, and backups. Each call reports failures as typed errors.
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { BackupChunk, BackupRequest, MaintainRequest, MaintainStep, MaintenanceServer } from '../../proto/generated/orch.js';
import { toGrpcError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Role } from '../../shared/tls/pki.js';
import type { Gate } from '../ca/auth.js';
import type { Store } from '../store/index.js';
import { takeBackup } from '../upkeep/backup.js';
import { maintainStore, storeStatus } from '../upkeep/maintain.js';

const ADMIN: readonly Role[] = ['admin'];
/** Backup chunk size: well under gRPC's 4 MiB message limit. */
const CHUNK = 1024 * 1024;

export function maintenanceServer(store: Store, log: Logger, gate: Gate, clusterId: string): MaintenanceServer {
  return {
    getStoreStatus: (call, callback) => {
      Promise.resolve()
        .then(() => gate.check(call, ADMIN, 'store maintenance'))
        .then(() => storeStatus(store))
        .then((s) => callback(null, s), (err: unknown) => callback(toGrpcError(err)));
    },
    maintain: (call: ServerWritableStream<MaintainRequest, MaintainStep>) =>
      stream(call, log, async () => {
        gate.check(call, ADMIN, 'store maintenance');
        log.info('store maintenance asked for');
        const status = await maintainStore(store, (message) => {
          log.info({ step: message }, 'store maintenance');
          call.write({ message, status: undefined });
        });
        call.write({ message: 'done', status });
      }),
    backup: (call: ServerWritableStream<BackupRequest, BackupChunk>) =>
      stream(call, log, async () => {
        gate.check(call, ADMIN, 'backups');
        const { file, header, keys } = await takeBackup(store, clusterId);
        log.info({ revision: header.revision, keys, bytes: file.length }, 'backup taken');
        for (let i = 0; i < file.length; i += CHUNK) call.write({ data: file.subarray(i, i + CHUNK) });
      }),
  };
}

/** Runs a server-streaming handler: ends the stream when it resolves, or with its error as a gRPC status. */
function stream<Req, Res>(call: ServerWritableStream<Req, Res>, log: Logger, body: () => Promise<void>): void {
  body().then(
    () => call.end(),
    (err: unknown) => {
      log.warn({ method: call.getPath(), err: String(err) }, 'request failed');
      call.emit('error', toGrpcError(err));
    },
  );
}
