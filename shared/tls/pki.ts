// The cluster's certificate authority: a self-signed ECDSA P-256 root made at
// `orch init`, and the certificates it issues. A certificate names its holder:
// CN = node id, OU = role (manager | worker | admin), O = cluster id. Manager
// certificates also carry the DNS name MANAGER_NAME, which every client
// verifies, so only a manager can serve the cluster's gRPC.
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type * as X509 from '@peculiar/x509';
import { InvalidArgumentError, UnauthenticatedError } from '../errors.js';

let library: Promise<typeof X509> | undefined;

/**
 * The X.509 library that makes certificates, loaded on first use: reading one
 * needs only node:crypto, so most CLI commands never load it (it is a third
 * of their start-up).
 */
function x509lib(): Promise<typeof X509> {
  library ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return library;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
/** A node certificate's lifetime unless the cluster says otherwise (`orch cluster update --cert-expiry`): 90 days, as Swarm's. */
export const DEFAULT_CERT_TTL_MS = 90 * DAY_MS;
/** The lifetime of etcd's member and client certificates. */
export const ETCD_CERT_TTL_MS = 365 * DAY_MS;
/** How far back a certificate's validity starts (clocks of hosts differ a little); at most a tenth of its lifetime. */
const BACKDATE_MS = 60_000;

export type Role = 'manager' | 'worker' | 'admin';
export const ROLES: readonly Role[] = ['manager', 'worker', 'admin'];

/** The DNS name in every manager certificate; clients check the server against it. */
export const MANAGER_NAME = 'orch-manager';

/** A private key and its certificate, both PEM. */
export interface KeyPair {
  keyPem: string;
  certPem: string;
}

/** Who a certificate says its holder is. */
export interface Identity {
  nodeId: string;
  role: Role;
  clusterId: string;
}

/** A new P-256 private key (PKCS#8 PEM) and its public key (SPKI PEM). */
export function newKey(): { keyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A new root CA for a cluster (`name`: its CN; etcd's CA is a root of its own). */
export async function newCa(clusterId: string, name = 'orch root CA'): Promise<KeyPair> {
  const x509 = await x509lib();
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}, O=${clusterId}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    // Path length 1: one CA may stand below it, the next root's cross-signed copy in a rotation.
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { keyPem: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: `${cert.toString('pem')}\n` };
}

/** Signs a certificate for `publicKeyPem` naming `who`, valid for `ttlMs` (default DEFAULT_CERT_TTL_MS); `ips` become IP names in it. */
export async function issueCert(ca: KeyPair, publicKeyPem: string, who: Identity, o: { ttlMs?: number; ips?: string[] } = {}): Promise<string> {
  if (!ROLES.includes(who.role)) throw new InvalidArgumentError(`role "${who.role}" is not one of ${ROLES.join(', ')}`);
  const names: X509.JsonGeneralNames = (o.ips ?? []).map((ip) => ({ type: 'ip', value: ip }));
  if (who.role === 'manager') names.push({ type: 'dns', value: MANAGER_NAME });
  return sign(ca, publicKeyPem, `CN=${who.nodeId}, OU=${who.role}, O=${who.clusterId}`, names, o.ttlMs ?? DEFAULT_CERT_TTL_MS);
}

/**
 * Signs a certificate of etcd's CA: a member's (server and peer, named by
 * `ips` and loopback) or a client's (a manager's, the operator's). OU=etcd:
 * it names no orch node, so it opens nothing but etcd.
 */
export function issueEtcdCert(etcdCa: KeyPair, publicKeyPem: string, cn: string, ips: string[] = []): Promise<string> {
  const names: X509.JsonGeneralNames = [...new Set(ips)].map((ip) => ({ type: 'ip', value: ip }));
  return sign(etcdCa, publicKeyPem, `CN=${cn}, OU=etcd`, names, ETCD_CERT_TTL_MS);
}

async function sign(ca: KeyPair, publicKeyPem: string, subject: string, names: X509.JsonGeneralNames, ttlMs: number): Promise<string> {
  const x509 = await x509lib();
  const caCert = new x509.X509Certificate(ca.certPem);
  const der = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  const spki = Buffer.from(publicKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const now = Date.now();
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: caCert.subject,
    notBefore: new Date(now - Math.min(BACKDATE_MS, ttlMs / 10)),
    notAfter: new Date(now + ttlMs),
    publicKey: await new x509.PublicKey(spki).export(ALG, ['verify']),
    signingKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return `${cert.toString('pem')}\n`;
}

/**
 * The new root's certificate signed by the old root: same subject, same key,
 * issuer the old root. Sent after a leaf of the new root, it lets a peer that
 * trusts only the old root accept that leaf (a CA rotation, as Swarm's).
 */
export async function crossSign(oldCa: KeyPair, newCa: KeyPair): Promise<string> {
  const x509 = await x509lib();
  const next = new x509.X509Certificate(newCa.certPem);
  const der = createPrivateKey(oldCa.keyPem).export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: next.subject,
    issuer: new x509.X509Certificate(oldCa.certPem).subject,
    notBefore: next.notBefore,
    notAfter: next.notAfter,
    publicKey: next.publicKey,
    signingKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(next.publicKey),
    ],
  });
  return `${cert.toString('pem')}\n`;
}

/** How many CAs a CA certificate lets stand below it (undefined: no limit). */
export async function pathLength(caPem: string): Promise<number | undefined> {
  const x509 = await x509lib();
  return new x509.X509Certificate(caPem).getExtension(x509.BasicConstraintsExtension)?.pathLength;
}

/** The certificates in a PEM bundle, each PEM (with its final newline). */
export function splitPems(bundle: string | Buffer): string[] {
  return String(bundle).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((p) => `${p}\n`) ?? [];
}

/** One PEM bundle of these certificates. */
export function bundle(...pems: string[]): string {
  return pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`)).join('');
}

/** The fingerprint of the root among `roots` whose key signed the certificate (a chain's first), if any. */
export function signedBy(cert: string | Buffer, roots: string[]): string | undefined {
  const leaf = new X509Certificate(splitPems(cert)[0] ?? cert);
  const root = roots.find((r) => leaf.verify(new X509Certificate(r).publicKey));
  return root && fingerprint(root);
}

/** When a certificate stops being valid, and when it started. */
export function validity(cert: string | Buffer): { notBefore: Date; notAfter: Date } {
  const c = new X509Certificate(cert);
  return { notBefore: new Date(c.validFrom), notAfter: new Date(c.validTo) };
}

/** The public key (SPKI PEM) a certificate certifies. */
export function publicKeyOfCert(cert: string | Buffer): string {
  return new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'pem' }).toString();
}

/** SHA-256 of a certificate's DER, in hex: what a join token pins. */
export function fingerprint(cert: string | Buffer): string {
  const der = typeof cert === 'string' ? Buffer.from(cert.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64') : cert;
  return createHash('sha256').update(der).digest('hex');
}

/** The identity a verified peer certificate names, or undefined if it names none. */
export function identityOf(peer: PeerCertificate | undefined): Identity | undefined {
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  return peer && identityFrom(one(peer.subject?.CN), one(peer.subject?.OU), one(peer.subject?.O));
}

/** The identity in a PEM (or DER) certificate's subject; refused if it names no orch node. */
export function certIdentity(cert: Buffer | string): Identity {
  const subject = new X509Certificate(cert).subject;
  const field = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(subject)?.[1];
  const who = identityFrom(field('CN'), field('OU'), field('O'));
  if (!who) throw new UnauthenticatedError(`the certificate's subject "${subject.replace(/\n/g, ', ')}" does not name an orch node`);
  return who;
}

/** The one rule for what names a node: an id, a known role, a cluster. */
function identityFrom(nodeId: string | undefined, role: string | undefined, clusterId: string | undefined): Identity | undefined {
  if (!nodeId || !role || !ROLES.includes(role as Role) || !clusterId) return undefined;
  return { nodeId, role: role as Role, clusterId };
}

function serial(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f; // a positive integer
  return b.toString('hex');
}
