// `orch join`, the joiner's side. Nothing is sent before the manager is
// proven to be of the cluster the token names: its TLS chain must hold a CA
// whose SHA-256 is the token's fingerprint. Then, over TLS checked against
// that CA, the token and a public key made here go to Ca.Join; the key
// itself never leaves this host.
import { connect as tlsConnect, type DetailedPeerCertificate } from 'node:tls';
import { ChannelCredentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { CaClient, type JoinResponse } from '../../proto/generated/orch.js';
import { fromGrpcError, UnauthenticatedError, UnavailableError } from '../errors.js';
import { CLIENT_CHANNEL_OPTIONS, saveClusterKey, saveEtcdClient, saveManagers, saveTls } from './credentials.js';
import { fingerprint, newKey } from './pki.js';
import { parseToken } from './token.js';

const CALL_TIMEOUT_MS = 10_000;

export interface JoinOptions {
  token: string;
  /** host:port of a manager. */
  manager: string;
  stateDir: string;
  hostname: string;
}

/** Joins; on success the state directory holds the node's certificate (and, for a manager, the cluster key and an etcd client certificate). */
export async function joinCluster(o: JoinOptions): Promise<JoinResponse> {
  const { caFingerprint } = parseToken(o.token);
  const caPem = await fetchCa(o.manager, caFingerprint);
  const { keyPem, publicKeyPem } = newKey();
  const client = new CaClient(o.manager, ChannelCredentials.createSsl(Buffer.from(caPem)), CLIENT_CHANNEL_OPTIONS);
  try {
    const res = await new Promise<JoinResponse>((resolve, reject) =>
      client.join({ token: o.token.trim(), publicKeyPem, hostname: o.hostname }, new Metadata(), { deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }, (err: ServiceError | null, r) =>
        err ? reject(fromGrpcError(err, o.manager)) : resolve(r),
      ),
    );
    saveTls(o.stateDir, { caPem: res.caPem, keyPem, certPem: res.certPem });
    saveManagers(o.stateDir, res.managers.length ? res.managers : [o.manager]);
    if (res.clusterKey) saveClusterKey(o.stateDir, Buffer.from(res.clusterKey, 'base64'));
    if (res.etcdCertPem) saveEtcdClient(o.stateDir, { caPem: res.etcdCaPem, certPem: res.etcdCertPem });
    return res;
  } finally {
    client.close();
  }
}

/** The CA certificate in the manager's TLS chain whose fingerprint is `want`; refused if there is none. */
function fetchCa(manager: string, want: string): Promise<string> {
  const m = /^(.*):(\d+)$/.exec(manager);
  if (!m) return Promise.reject(new UnauthenticatedError(`"${manager}" is not host:port`));
  return new Promise((resolve, reject) => {
    // Unverified on purpose: the fingerprint check below is the verification.
    const socket = tlsConnect({ host: m[1], port: Number(m[2]), rejectUnauthorized: false, ALPNProtocols: ['h2'], timeout: CALL_TIMEOUT_MS });
    const done = (err: Error | undefined, pem?: string) => {
      socket.destroy();
      if (err) reject(err);
      else resolve(pem!);
    };
    socket.once('secureConnect', () => {
      const seen: string[] = [];
      for (let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); c?.raw; c = c.issuerCertificate === c ? undefined : c.issuerCertificate) {
        const fp = fingerprint(c.raw);
        if (fp === want) return done(undefined, `-----BEGIN CERTIFICATE-----\n${c.raw.toString('base64').replace(/(.{64})/g, '$1\n').trim()}\n-----END CERTIFICATE-----\n`);
        seen.push(fp.slice(0, 12));
      }
      done(new UnauthenticatedError(`the manager at ${manager} is not of the cluster the token names (its CA is ${seen.at(-1) ?? 'missing'}…, the token's ${want.slice(0, 12)}…): nothing was sent`));
    });
    socket.once('timeout', () => done(new UnavailableError(`no TLS answer from the manager at ${manager} within ${CALL_TIMEOUT_MS / 1000}s`)));
    socket.once('error', (err) => done(new UnavailableError(`cannot reach the manager at ${manager} (${err.message})`)));
  });
}
