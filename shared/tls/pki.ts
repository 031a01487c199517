// The cluster's certificate authority: a self-signed ECDSA P-256 root made at
// `orch init`, and the certificates it issues. A certificate names its holder:
// CN = node id, OU = role (manager | worker | admin), O = cluster id. Manager
// certificates also carry the DNS name MANAGER_NAME, which every client
// verifies, so only a manager can serve the cluster's gRPC.
import 'reflect-metadata';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { InvalidArgumentError, UnauthenticatedError } from '../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
const CA_DAYS = 3650;
const CERT_DAYS = 365;

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

/** A new root CA for a cluster. */
export async function newCa(clusterId: string): Promise<KeyPair> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=orch root CA, O=${clusterId}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_DAYS * DAY_MS),
    keys,
    signingAlgorithm: ALG,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { keyPem: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: cert.toString('pem') };
}

/** Signs a certificate for `publicKeyPem` naming `who`; `ips` become IP names in it (a server reached by address, such as etcd). */
export async function issueCert(ca: KeyPair, publicKeyPem: string, who: Identity, o: { days?: number; ips?: string[] } = {}): Promise<string> {
  if (!ROLES.includes(who.role)) throw new InvalidArgumentError(`role "${who.role}" is not one of ${ROLES.join(', ')}`);
  const caCert = new x509.X509Certificate(ca.certPem);
  const der = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  const spki = Buffer.from(publicKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
  ];
  const names: x509.JsonGeneralNames = (o.ips ?? []).map((ip) => ({ type: 'ip', value: ip }));
  if (who.role === 'manager') names.push({ type: 'dns', value: MANAGER_NAME });
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${who.nodeId}, OU=${who.role}, O=${who.clusterId}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (o.days ?? CERT_DAYS) * DAY_MS),
    publicKey: await new x509.PublicKey(spki).export(ALG, ['verify']),
    signingKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return cert.toString('pem');
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
