// Connecting to etcd with the settings DESIGN.md §9 asks for: keepalives so a
// frozen etcd is noticed, and a deadline on every unary call so "etcd is down"
// becomes a prompt UnavailableError instead of a hang.
import { readFileSync } from 'node:fs';
import { Etcd3, GRPCResourceExhastedError, isRecoverableError } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { OutOfSpaceError, UnavailableError } from '../../shared/errors.js';
import { memberStatuses, storeAlarms } from './members.js';
import type { EtcdTls } from '../../shared/tls/credentials.js';

export type { EtcdTls };

/** How long one etcd request may take before we call etcd unreachable. */
export const ETCD_CALL_TIMEOUT_MS = 3000;


/** TLS credentials for etcd3 from the files, if given. */
function credentials(tls: EtcdTls | undefined) {
  return tls && { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key) };
}

/**
 * A failure worth retrying, and counting against a member: etcd3's recoverable
 * errors less "database space exceeded", which etcd answers to every write
 * while its NOSPACE alarm is raised. Retrying that is useless, and counting it
 * would open the member's circuit breaker and fail the reads too.
 */
const transient = (err: Error) => isRecoverableError(err) && !(err instanceof GRPCResourceExhastedError);

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
      // etcd3's own defaults, with `transient` in place of its recoverable errors.
      host: () => circuitBreaker(handleWhen(transient), { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(transient), { maxAttempts: 2, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 500 }) }),
    },
  });
}

/**
 * Turns an etcd failure into a typed error that says what is wrong, after
 * asking each member how it is: out of space (a NOSPACE alarm refuses every
 * write), no member answers (unreachable), or fewer than a majority answer,
 * or none of those that answer knows a leader (no quorum; a leader that just
 * lost its peers still names itself for up to an election timeout, so the
 * count decides first). `sent` is true for a write that went out unanswered:
 * it may still be applied, so the error must not claim it failed; anything
 * else failed before changing a thing.
 */
export async function etcdFailure(err: unknown, endpoints: string, tls: EtcdTls | undefined, sent = false): Promise<UnavailableError | OutOfSpaceError> {
  const why = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  const members = await memberStatuses(endpoints, tls);
  const answering = members.filter((m) => m.answering);
  const outcome = sent && /deadline|timed out/i.test(why) ? 'the change may or may not have been applied: check before retrying' : 'nothing was changed';
  if (SPACE_EXCEEDED.test(why)) return outOfSpace(answering[0]?.endpoint, tls, outcome);
  if (answering.length === 0) return new UnavailableError(`etcd unreachable at ${endpoints}: no member answers (${why}; ${outcome})`);
  if (answering.length <= members.length / 2) {
    return new UnavailableError(`etcd has no quorum: only ${answering.length} of ${members.length} members answer; a majority must be up again (${outcome})`);
  }
  if (!answering.some((m) => m.hasLeader)) {
    return new UnavailableError(`etcd has no quorum: ${answering.length} of ${members.length} members answer and none has a leader; a majority must be up again (${outcome})`);
  }
  return new UnavailableError(`etcd at ${endpoints} failed the request: ${why} (${outcome})`);
}

/** What etcd answers a write while its NOSPACE alarm is raised. */
const SPACE_EXCEEDED = /database space exceeded/i;

/** The out-of-space error, naming the alarms (asked of one member that answers) and the way out. */
async function outOfSpace(endpoint: string | undefined, tls: EtcdTls | undefined, outcome: string): Promise<OutOfSpaceError> {
  let alarms: string[] = [];
  if (endpoint) {
    const client = connectMember(endpoint, tls);
    alarms = await storeAlarms(client).catch(() => []);
    client.close();
  }
  const nospace = alarms.filter((a) => a.startsWith('NOSPACE')).length;
  const on = nospace ? ` (alarm NOSPACE on ${nospace} member${nospace === 1 ? '' : 's'})` : '';
  return new OutOfSpaceError(`etcd is out of space${on}: run \`orch cluster maintain\` (compacts, defragments, disarms the alarm); if it fills again, raise etcd's --quota-backend-bytes (${outcome})`);
}

/** A client of one member only, with a short deadline (status checks, raft leadership moves). */
export function connectMember(endpoint: string, tls: EtcdTls | undefined, timeoutMs = 1000): Etcd3 {
  return new Etcd3({ hosts: [endpoint], credentials: credentials(tls), dialTimeout: timeoutMs, defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }) });
}
