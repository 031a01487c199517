// `orch etcd certs`: etcd's certificates, from a CA of etcd's own. Run on the
// first manager host before etcd starts, it makes that CA (kept in the state
// directory until `orch init` seals it into etcd) and issues each member a
// certificate for serving clients and peers; run on a manager of a cluster
// that exists, it issues with the CA sealed in etcd (a new member, or renewed
// certificates: etcd reads its files again at each new connection).
import { mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../../shared/errors.js';
import { etcdClientTls, hasClusterKey, loadClusterKey, loadPendingEtcdCa, savePendingEtcdCa, writePrivate } from '../../shared/tls/credentials.js';
import { issueEtcdCert, newCa, newKey, type KeyPair } from '../../shared/tls/pki.js';
import { Store } from '../store/index.js';
import { loadSecrets } from './secrets.js';

/** An etcd member: its name (etcd's --name) and the addresses clients and peers reach it at. */
export interface EtcdMember {
  name: string;
  ips: string[];
}

export interface EtcdCertsOptions {
  stateDir: string;
  /** Where each member's files go (out/NAME/) and the operator's client certificate (out/client/). */
  out: string;
  members: EtcdMember[];
  /** etcd's endpoints, for a cluster that exists (its etcd CA is sealed there). */
  etcd?: string;
}

/** Parses NAME=IP[,IP...]. */
export function parseMember(arg: string): EtcdMember {
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)=(.+)$/.exec(arg);
  if (!m) throw new InvalidArgumentError(`member "${arg}": write it NAME=IP (etcd's --name, then the address it listens on), e.g. m1=10.0.0.1`);
  const ips = m[2]!.split(',').map((s) => s.trim());
  const bad = ips.find((ip) => !isIP(ip));
  if (bad !== undefined) throw new InvalidArgumentError(`member "${arg}": "${bad}" is not an IP address`);
  return { name: m[1]!, ips };
}

/** Issues the certificates; says whether the CA was made now. */
export async function etcdCerts(o: EtcdCertsOptions): Promise<{ created: boolean }> {
  if (o.members.length === 0) throw new InvalidArgumentError('name at least one member: NAME=IP');
  const names = o.members.map((m) => m.name);
  if (new Set(names).size !== names.length || names.includes('client')) throw new InvalidArgumentError(`member names must differ from each other and from "client": ${names.join(', ')}`);
  const known = await existingCa(o);
  const ca = known ?? (await newCa('orch', 'orch etcd CA'));
  for (const m of o.members) await writeCert(join(o.out, m.name), 'server', ca, m.name, [...m.ips, '127.0.0.1']);
  await writeCert(join(o.out, 'client'), 'client', ca, 'operator');
  if (!known) savePendingEtcdCa(o.stateDir, ca);
  return { created: !known };
}

/** The CA to issue with: the one made earlier here, or (on a manager of a cluster that exists) the one sealed in etcd. */
async function existingCa(o: EtcdCertsOptions): Promise<KeyPair | undefined> {
  const pending = loadPendingEtcdCa(o.stateDir);
  if (pending) return pending;
  if (!hasClusterKey(o.stateDir)) return undefined;
  if (!o.etcd) throw new InvalidArgumentError(`${o.stateDir} belongs to a manager of a cluster that exists: its etcd CA is sealed in etcd; give --etcd URLS to issue with it`);
  const store = new Store(o.etcd, etcdClientTls(o.stateDir));
  try {
    const { secrets } = await loadSecrets(store, loadClusterKey(o.stateDir));
    if (!secrets.etcdCa) throw new FailedPreconditionError("this cluster's etcd certificates are not orch's (it was initialised on an etcd of the operator's own, or a plain one)");
    return secrets.etcdCa;
  } finally {
    store.etcd.close();
  }
}

async function writeCert(dir: string, base: string, ca: KeyPair, cn: string, ips: string[] = []): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { keyPem, publicKeyPem } = newKey();
  writePrivate(join(dir, 'ca.crt'), ca.certPem);
  writePrivate(join(dir, `${base}.key`), keyPem);
  writePrivate(join(dir, `${base}.crt`), await issueEtcdCert(ca, publicKeyPem, cn, ips));
}
