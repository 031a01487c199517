// Connecting to etcd with the settings DESIGN.md §9 asks for: keepalives so a
// frozen etcd is noticed, and a deadline on every unary call so "etcd is down"
// becomes a prompt UnavailableError instead of a hang.
import { readFileSync } from 'node:fs';
import { Etcd3, isRecoverableError } from 'etcd3';
import { handleWhen, retry, ExponentialBackoff } from 'cockatiel';
import { UnavailableError } from '../../shared/errors.js';

/** How long one etcd request may take before we call etcd unreachable. */
export const ETCD_CALL_TIMEOUT_MS = 3000;

/** Files of a client certificate for an etcd that demands one (PEM). */
export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
}

/** TLS credentials for etcd3 from the files, if given. */
function credentials(tls: EtcdTls | undefined) {
  return tls && { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key) };
}

/** A client for the given endpoints (comma-separated or list), with a client certificate if given. */
export function connectEtcd(endpoints: string | string[], tls?: EtcdTls): Etcd3 {
  const hosts = typeof endpoints === 'string' ? endpoints.split(',').map((s) => s.trim()).filter(Boolean) : endpoints;
  return new Etcd3({
    hosts,
    credentials: credentials(tls),
    dialTimeout: ETCD_CALL_TIMEOUT_MS,
    grpcOptions: {
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': 3000,
      'grpc.keepalive_permit_without_calls': 1,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
    faultHandling: {
      global: retry(handleWhen(isRecoverableError), { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 500 }) }),
    },
  });
}

/** How long asking one member for its status may take when diagnosing a failure. */
const STATUS_TIMEOUT_MS = 1000;

/**
 * Turns an etcd failure into a typed error that says what is wrong, after
 * asking each member how it is: no member answers (unreachable), or fewer
 * than a majority answer, or none of those that answer knows a leader (no
 * quorum; a leader that just lost its peers still names itself for up to an
 * election timeout, so the count decides first). `sent` is true for a write that
 * went out unanswered: it may still be applied, so the error must not claim
 * it failed; anything else failed before changing a thing.
 */
export async function etcdFailure(err: unknown, endpoints: string, tls: EtcdTls | undefined, sent = false): Promise<UnavailableError> {
  const why = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  const members = await Promise.all(endpoints.split(',').filter(Boolean).map((e) => memberStatus(e, tls)));
  const answering = members.filter((m) => m !== 'down').length;
  const outcome = sent && /deadline|timed out/i.test(why) ? 'the change may or may not have been applied: check before retrying' : 'nothing was changed';
  if (answering === 0) return new UnavailableError(`etcd unreachable at ${endpoints}: no member answers (${why}; ${outcome})`);
  if (answering <= members.length / 2) {
    return new UnavailableError(`etcd has no quorum: only ${answering} of ${members.length} members answer; a majority must be up again (${outcome})`);
  }
  if (!members.includes('leader')) {
    return new UnavailableError(`etcd has no quorum: ${answering} of ${members.length} members answer and none has a leader; a majority must be up again (${outcome})`);
  }
  return new UnavailableError(`etcd at ${endpoints} failed the request: ${why} (${outcome})`);
}

/** A client of one member only, with a short deadline (status checks, raft leadership moves). */
export function connectMember(endpoint: string, tls: EtcdTls | undefined, timeoutMs = STATUS_TIMEOUT_MS): Etcd3 {
  return new Etcd3({ hosts: [endpoint], credentials: credentials(tls), dialTimeout: timeoutMs, defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }) });
}

/** One member's view: down (no answer), or whether it knows a leader. */
async function memberStatus(endpoint: string, tls: EtcdTls | undefined): Promise<'down' | 'leader' | 'no-leader'> {
  const client = connectMember(endpoint, tls);
  try {
    const s = await client.maintenance.status();
    return s.leader && s.leader !== '0' ? 'leader' : 'no-leader';
  } catch {
    return 'down';
  } finally {
    client.close();
  }
}
