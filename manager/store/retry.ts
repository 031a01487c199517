// Read-compare-write with retries: the shape of every control API write.
import { ConflictError } from '../../shared/errors.js';

/**
 * Runs a read-compare-write, again on a conflict (someone wrote in between),
 * `attempts` times at most; with `jitterMs`, waits a random moment before a
 * retry, so that writers contending on one key (the networks guard) spread out.
 */
export async function retryConflicts<T>(fn: () => Promise<T>, o: { attempts?: number; jitterMs?: number } = {}): Promise<T> {
  const attempts = o.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= attempts) throw err;
      if (o.jitterMs) await new Promise((r) => setTimeout(r, Math.random() * o.jitterMs!));
    }
  }
}
