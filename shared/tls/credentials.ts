// A node's TLS material on disk and the gRPC credentials made from it. Every
// holder (manager, agent, the CLI's admin) keeps the same three files in one
// directory: ca.crt (the cluster root), node.key and node.crt (its own).
// Managers also keep cluster.key there (see sealed.ts) and, where orch issues
// etcd's certificates, etcd-ca.crt and etcd-client.crt (for node.key). Before
// `orch init`, `orch etcd certs` keeps etcd's new CA key in etcd-ca.key; init
// seals it into etcd and deletes the file.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChannelCredentials, experimental, type ServerCredentials } from '@grpc/grpc-js';
import { UnauthenticatedError } from '../errors.js';
import { certIdentity, MANAGER_NAME, type Identity } from './pki.js';

/** What a TLS directory holds, read. */
export interface TlsMaterial {
  dir: string;
  ca: Buffer;
  key: Buffer;
  cert: Buffer;
  identity: Identity;
}

const FILES = {
  ca: 'ca.crt',
  key: 'node.key',
  cert: 'node.crt',
  clusterKey: 'cluster.key',
  managers: 'managers',
  etcdCa: 'etcd-ca.crt',
  etcdCaKey: 'etcd-ca.key',
  etcdCert: 'etcd-client.crt',
} as const;

/** Files of a client certificate for an etcd that demands one (PEM paths). */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
}

/**
 * gRPC channel options every client of a manager uses: the server must prove
 * it is a manager; and a manager whose host died or was cut off (silent: it
 * closes nothing) is found by keepalive within 2.5 s, so that calls go on to
 * another manager of the list instead of waiting out their deadline.
 */
export const CLIENT_CHANNEL_OPTIONS = {
  'grpc.ssl_target_name_override': MANAGER_NAME,
  'grpc.default_authority': MANAGER_NAME,
  'grpc.keepalive_time_ms': 1000,
  'grpc.keepalive_timeout_ms': 1500,
  'grpc.keepalive_permit_without_calls': 1,
};

/** Reads a TLS directory; says how to get one when it is missing. */
export function loadTls(dir: string): TlsMaterial {
  if (!existsSync(join(dir, FILES.cert))) {
    throw new UnauthenticatedError(`no certificate in ${dir}: run \`orch init\` (first manager) or \`orch join --token TOKEN MANAGER\` first`);
  }
  const cert = readFileSync(join(dir, FILES.cert));
  return { dir, ca: readFileSync(join(dir, FILES.ca)), key: readFileSync(join(dir, FILES.key)), cert, identity: certIdentity(cert) };
}

/** True when the directory holds a certificate. */
export function hasTls(dir: string): boolean {
  return existsSync(join(dir, FILES.cert));
}

/** Writes a TLS directory (private files 0600), replacing what was there. */
export function saveTls(dir: string, m: { caPem: string; keyPem: string; certPem: string }): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writePrivate(join(dir, FILES.ca), m.caPem);
  writePrivate(join(dir, FILES.key), m.keyPem);
  writePrivate(join(dir, FILES.cert), m.certPem);
}

/** Replaces the roots this node trusts (its ca.crt), in one rename (a CA rotation). */
export function saveTrust(dir: string, caPem: string): void {
  writePrivate(join(dir, FILES.ca), caPem);
}

/** Replaces only the certificate (a renewal: same key), in one rename. */
export function saveCert(dir: string, certPem: string): void {
  writePrivate(join(dir, FILES.cert), certPem);
}

/** The etcd client certificate a manager's directory holds (for its node key), if any. */
export function etcdClientTls(dir: string): EtcdTls | undefined {
  const files = { ca: join(dir, FILES.etcdCa), cert: join(dir, FILES.etcdCert), key: join(dir, FILES.key) };
  return existsSync(files.cert) && existsSync(files.ca) ? files : undefined;
}

/** Saves a manager's etcd client certificate, or removes it (demoted: `undefined`). */
export function saveEtcdClient(dir: string, m: { caPem: string; certPem: string } | undefined): void {
  if (!m) {
    for (const f of [FILES.etcdCa, FILES.etcdCert]) rmSync(join(dir, f), { force: true });
    return;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writePrivate(join(dir, FILES.etcdCa), m.caPem);
  writePrivate(join(dir, FILES.etcdCert), m.certPem);
}

/** etcd's CA as `orch etcd certs` made it before `orch init` (key and certificate), if this directory holds it. */
export function loadPendingEtcdCa(dir: string): { keyPem: string; certPem: string } | undefined {
  const key = join(dir, FILES.etcdCaKey);
  return existsSync(key) ? { keyPem: readFileSync(key, 'utf8'), certPem: readFileSync(join(dir, FILES.etcdCa), 'utf8') } : undefined;
}

export function savePendingEtcdCa(dir: string, ca: { keyPem: string; certPem: string }): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writePrivate(join(dir, FILES.etcdCa), ca.certPem);
  writePrivate(join(dir, FILES.etcdCaKey), ca.keyPem);
}

/** Deletes etcd's CA key once it is sealed in etcd. */
export function removePendingEtcdCa(dir: string): void {
  rmSync(join(dir, FILES.etcdCaKey), { force: true });
}

/** True when the directory holds a cluster key (a manager's). */
export function hasClusterKey(dir: string): boolean {
  return existsSync(join(dir, FILES.clusterKey));
}

/** Reads the manager's cluster key. */
export function loadClusterKey(dir: string): Buffer {
  const file = join(dir, FILES.clusterKey);
  if (!existsSync(file)) throw new UnauthenticatedError(`no cluster key in ${dir}: a manager gets it from \`orch init\` or \`orch join\` with a manager token`);
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
}

export function saveClusterKey(dir: string, key: Buffer): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writePrivate(join(dir, FILES.clusterKey), `${key.toString('base64')}\n`);
}

/** Deletes the cluster key (a demoted manager must not keep it). */
export function removeClusterKey(dir: string): void {
  rmSync(join(dir, FILES.clusterKey), { force: true });
}

/** The manager addresses `orch join` recorded (none: empty). */
export function loadManagers(dir: string): string[] {
  const file = join(dir, FILES.managers);
  return existsSync(file) ? readFileSync(file, 'utf8').split(/\s+/).filter(Boolean) : [];
}

export function saveManagers(dir: string, managers: string[]): void {
  writePrivate(join(dir, FILES.managers), `${managers.join('\n')}\n`);
}

/** The node id in a directory's certificate, if it holds one. */
export function nodeIdIn(dir: string): string | undefined {
  return hasTls(dir) ? certIdentity(readFileSync(join(dir, FILES.cert))).nodeId : undefined;
}

/** Mutual TLS to a manager: we show our certificate and accept only a manager of our CA. */
export function clientCredentials(m: TlsMaterial): ChannelCredentials {
  return ChannelCredentials.createSsl(m.ca, m.key, m.cert);
}

/** A server's credentials whose certificate can be replaced while it serves (a renewal). */
export interface ServingCredentials {
  credentials: ServerCredentials;
  /** From now on, new connections are served with `m`. */
  update(m: TlsMaterial): void;
}

/**
 * The manager's server side: it presents its certificate with the CA behind
 * it (a joiner checks the CA against its token), and asks every client for a
 * certificate without demanding one at the handshake, so that a request
 * without one gets a clear answer and a log line instead of a dropped
 * connection. Each handler then checks the caller (manager/auth.ts).
 */
export function serverCredentials(first: TlsMaterial): ServingCredentials {
  let m = first;
  const caListeners = new Set<experimental.CaCertificateUpdateListener>();
  const idListeners = new Set<experimental.IdentityCertificateUpdateListener>();
  const identity = () => ({ certificate: Buffer.concat([m.cert, Buffer.from('\n'), m.ca]), privateKey: m.key });
  // Listeners are called on the next tick: grpc-js registers the server's
  // watcher only after adding them, and would miss a synchronous update.
  const provider: experimental.CertificateProvider = {
    addCaCertificateListener: (l) => {
      caListeners.add(l);
      setImmediate(() => l({ caCertificate: m.ca }));
    },
    removeCaCertificateListener: (l) => void caListeners.delete(l),
    addIdentityCertificateListener: (l) => {
      idListeners.add(l);
      setImmediate(() => l(identity()));
    },
    removeIdentityCertificateListener: (l) => void idListeners.delete(l),
  };
  return {
    credentials: experimental.createCertificateProviderServerCredentials(provider, provider, false),
    update(next) {
      m = next;
      for (const l of caListeners) l({ caCertificate: m.ca });
      for (const l of idListeners) l(identity());
    },
  };
}

/** Writes a private file (0600) in one rename: a reader sees the old or the new text, never half. */
export function writePrivate(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  chmodSync(`${file}.tmp`, 0o600);
  renameSync(`${file}.tmp`, file);
}
