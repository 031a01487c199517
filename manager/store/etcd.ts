// Connecting to etcd with the settings DESIGN.md §9 asks for: keepalives so a
// frozen etcd is noticed, and a deadline on every unary call so "etcd is down"
// becomes a prompt UnavailableError instead of a hang.
import { Etcd3, isRecoverableError } from 'etcd3';
import { handleWhen, retry, ExponentialBackoff } from 'cockatiel';
import { UnavailableError } from '../../shared/errors.js';

/** How long one etcd request may take before we call etcd unreachable. */
export const ETCD_CALL_TIMEOUT_MS = 3000;

/** A client for the given endpoints (comma-separated or list). */
export function connectEtcd(endpoints: string | string[]): Etcd3 {
  const hosts = typeof endpoints === 'string' ? endpoints.split(',').map((s) => s.trim()).filter(Boolean) : endpoints;
  return new Etcd3({
    hosts,
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

/** Wraps an etcd failure into a typed, user-readable error naming the endpoints. */
export function etcdUnavailable(err: unknown, endpoints: string): UnavailableError {
  const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new UnavailableError(`etcd unreachable at ${endpoints}: ${why}`);
}

/**
 * For a write that was sent but not answered in time: it may still be applied
 * (etcd can commit it after we gave up), so the error must not claim it failed.
 */
export function etcdWriteUnconfirmed(err: unknown, endpoints: string): UnavailableError {
  const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
  if (!/deadline/i.test(why)) return etcdUnavailable(err, endpoints);
  return new UnavailableError(`etcd at ${endpoints} did not confirm the change in time (${why}); it may or may not have been applied: check before retrying`);
}
