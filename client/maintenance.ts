// A connection to a manager's Maintenance service (admins): etcd's status,
// maintenance on demand and backups, with manager errors turned back into
// typed OrchErrors.
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { MaintenanceClient, type StoreStatus } from '../proto/generated/orch.js';
import { fromGrpcError, UnavailableError } from '../shared/errors.js';
import { CLIENT_CHANNEL_OPTIONS, clientCredentials, type TlsMaterial } from '../shared/tls/credentials.js';
import { managerTarget } from './control.js';

const STATUS_TIMEOUT_MS = 15_000;
/** Maintenance defragments every member in turn; a backup reads every key: both may take minutes. */
const LONG_TIMEOUT_MS = 30 * 60_000;

export interface Maintenance {
  status(): Promise<StoreStatus>;
  /** Runs the maintenance; `step` hears each part as it ends. Resolves to the store's status after it. */
  maintain(step: (message: string) => void): Promise<StoreStatus>;
  /** The backup file's bytes. */
  backup(): Promise<Buffer>;
  close(): void;
}

export function connectMaintenance(addr: string, tls: TlsMaterial): Maintenance {
  const client = new MaintenanceClient(managerTarget(addr), clientCredentials(tls), CLIENT_CHANNEL_OPTIONS);
  const typed = (err: ServiceError) => fromGrpcError(err, addr);
  return {
    status: () =>
      new Promise((resolve, reject) => {
        client.getStoreStatus({}, new Metadata(), { deadline: new Date(Date.now() + STATUS_TIMEOUT_MS) }, (err, res) => (err ? reject(typed(err)) : resolve(res)));
      }),
    maintain: (step) =>
      new Promise((resolve, reject) => {
        let last: StoreStatus | undefined;
        const call = client.maintain({}, { deadline: new Date(Date.now() + LONG_TIMEOUT_MS) });
        call.on('data', (s: { message: string; status?: StoreStatus }) => (s.status ? (last = s.status) : step(s.message)));
        call.on('error', (err: ServiceError) => reject(typed(err)));
        call.on('end', () => (last ? resolve(last) : reject(new UnavailableError(`the manager at ${addr} ended the maintenance without a result: see its log`))));
      }),
    backup: () =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        const call = client.backup({}, { deadline: new Date(Date.now() + LONG_TIMEOUT_MS) });
        call.on('data', (c: { data: Buffer }) => chunks.push(Buffer.from(c.data)));
        call.on('error', (err: ServiceError) => reject(typed(err)));
        call.on('end', () => resolve(Buffer.concat(chunks)));
      }),
    close: () => client.close(),
  };
}
