// Connecting to etcd: keepalives so that a connection to a member that went
// silent (its host died, froze or was cut off) ends within 2.5 s, with every
// call and stream on it, which then go on on another member; members asked
// every 250 ms, so that new calls pass over a silent one at once
// (member-health.ts); and a deadline on every unary call, so "etcd is down"
// becomes a prompt UnavailableError instead of a hang. etcd must allow pings
// that often (`--grpc-keepalive-min-time`, 5 s by default): the lab and
// docs/deploy.md set it to 500 ms.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { Etcd3, GRPCResourceExhastedError, isRecoverableError } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, noop, retry, type RetryPolicy } from 'cockatiel';
import { OutOfSpaceError, UnavailableError } from '../../shared/errors.js';
import { MemberHealth } from './member-health.js';
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
 * A failure worth retrying: etcd3's recoverable errors less "database space
 * exceeded", which etcd answers to every write while its NOSPACE alarm is
 * raised (retrying that is useless).
 */
const transient = (err: Error) => isRecoverableError(err) && !(err instanceof GRPCResourceExhastedError);

/**
 * etcd3's own retry, with `transient` in place of its recoverable errors,
 * long enough to outlast a raft election (about a second with pre-vote).
 * With one member, no retry begins once the call has taken
 * ETCD_CALL_TIMEOUT_MS: a member that accepts connections but never answers
 * (frozen) made each of 4 tries wait 3 s, and the caller 12–13 s for "etcd
 * unreachable" (past the CLI's 15 s under load). With several, a retry goes
 * to a member that answers.
 */
function callRetry(members: number): RetryPolicy {
  const policy = (budgetMs: number) => {
    const start = Date.now();
    return retry(handleWhen((err) => transient(err) && Date.now() - start < budgetMs), { maxAttempts: 4, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 800 }) });
  };
  if (members > 1) return policy(Infinity);
  // etcd3 only calls execute(): each call gets a policy whose budget starts with it.
  return Object.assign(Object.create(policy(Infinity)) as RetryPolicy, { execute: ((fn, signal) => policy(ETCD_CALL_TIMEOUT_MS).execute(fn, signal)) as RetryPolicy['execute'] });
}

/** How long a member's status may take before the health check counts it silent. */
const HEALTH_TIMEOUT_MS = 500;

/** gRPC options of every long-lived etcd connection: a member gone silent is found within 2.5 s. */
const KEEPALIVE = {
  'grpc.keepalive_time_ms': 1000,
  'grpc.keepalive_timeout_ms': 1500,
  'grpc.keepalive_permit_without_calls': 1,
};

/** A stream's own client (`EtcdClient.streamClient`) and the member it goes to (none: the shared client, all members). */
export interface StreamClient {
  etcd: Etcd3;
  endpoint: string | undefined;
  close(): void;
}

/** An etcd client over several members that passes over a silent one; its member health check ends with it. */
export class EtcdClient extends Etcd3 {
  health: MemberHealth | undefined;
  tls: EtcdTls | undefined;

  /**
   * A client for one long-lived stream (a watch), on one member that answers
   * now, so that when that member goes silent the stream can be moved at once
   * (`onSilent`): a stream on the shared client stays on whichever member it
   * was opened on until its connection's keepalive fails. `avoid`: a member
   * not to pick unless it is the only one answering (where the last stream
   * broke). A member on this host comes first: it dies with this process's
   * host, or alone, never with another host (a new leader whose watch was on
   * the dead leader's member saw its own writes 0.2 s late). With one member,
   * the shared client itself.
   */
  streamClient(avoid?: string): StreamClient {
    const all = this.health?.answering() ?? [];
    const others = all.filter((e) => e !== avoid);
    const answering = others.length ? others : all;
    if (!this.health || !answering.length) return { etcd: this, endpoint: undefined, close: () => undefined };
    const local = onThisHost(answering, hostAddresses());
    const pool = local.length ? local : answering;
    const endpoint = pool[Math.floor(Math.random() * pool.length)]!;
    const etcd = new Etcd3({ hosts: [endpoint], credentials: credentials(this.tls), dialTimeout: ETCD_CALL_TIMEOUT_MS, grpcOptions: KEEPALIVE });
    return { etcd, endpoint, close: () => etcd.close() };
  }

  /** Calls `fn` with the endpoint of each member that starts being passed over. */
  onSilent(fn: (endpoint: string) => void): void {
    this.health?.on('silent', fn);
  }

  override close(): void {
    this.health?.stop();
    super.close();
  }
}

/** The endpoints (URLs) whose host is one of `addresses` (this host's, as hostAddresses gives them). */
export function onThisHost(endpoints: readonly string[], addresses: ReadonlySet<string>): string[] {
  return endpoints.filter((e) => {
    try {
      return addresses.has(new URL(e).hostname.replace(/^\[|\]$/g, ''));
    } catch {
      return false;
    }
  });
}

/** This host's addresses, as its network namespace has them, loopback's and `localhost` included. */
function hostAddresses(): Set<string> {
  const out = new Set(['localhost']);
  for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) out.add(i.address);
  return out;
}

/** A client for the given endpoints (comma-separated or list), with a client certificate if given; with several members, it passes over a silent one. */
export function connectEtcd(endpoints: string | string[], tls?: EtcdTls): EtcdClient {
  const hosts = typeof endpoints === 'string' ? endpoints.split(',').map((s) => s.trim()).filter(Boolean) : endpoints;
  const health = hosts.length > 1 ? new MemberHealth((endpoint) => connectMember(endpoint, tls, HEALTH_TIMEOUT_MS)) : undefined;
  // etcd3's breaker per member, opened only by the health check (isolate):
  // failed calls alone do not open it. While etcd elects a raft leader every
  // member fails calls for a moment; breakers that opened on 3 failures then
  // closed off the members that answered too, for 5 s ("circuit breaker is
  // open" with 2 of 3 members up, in the chaos harness).
  const breaker = () => circuitBreaker(handleWhen(() => false), { halfOpenAfter: 5000, breaker: new ConsecutiveBreaker(3) });
  const client = new EtcdClient({
    hosts,
    credentials: credentials(tls),
    dialTimeout: ETCD_CALL_TIMEOUT_MS,
    grpcOptions: KEEPALIVE,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }),
    faultHandling: {
      host: (host) => (health ? health.watch(host, breaker()) : breaker()),
      global: callRetry(hosts.length),
    },
  });
  client.health = health;
  client.tls = tls;
  return client;
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

/**
 * A client of one member only, with a short deadline (status checks, raft
 * leadership moves). Each call is tried once: etcd3's own retry and breaker
 * would turn a 500 ms status check into 1.5 s, and after three failures (a
 * member still starting) refuse every check for 5 s, leaving the health
 * check blind.
 */
export function connectMember(endpoint: string, tls: EtcdTls | undefined, timeoutMs = 1000): Etcd3 {
  return new Etcd3({
    hosts: [endpoint],
    credentials: credentials(tls),
    defaultCallOptions: () => ({ deadline: Date.now() + timeoutMs }),
    faultHandling: { host: () => noop, global: noop },
  });
}
