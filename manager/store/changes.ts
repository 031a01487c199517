// What the leader's passes plan, as data: each change puts or deletes one
// object if it is still at the revision it was read at, and may take raw
// keys with it (an address, created only if free) or free some. The passes
// are pure functions that return changes; commitChanges is the one place
// they are written, so a test can record and inspect a plan instead.
import { ConflictError } from '../../shared/errors.js';
import type { KindType } from './codec.js';
import type { Kind } from './keys.js';
import type { Store, Txn } from './store.js';

/** One object's change. */
export type Change = { [K in Kind]: ChangeOf<K> }[Kind];

export interface ChangeOf<K extends Kind> {
  kind: K;
  id: string;
  /** The revision it was read at; 0: it must not exist yet. */
  modRevision: number;
  /** The new value; undefined deletes it. */
  value: KindType[K] | undefined;
  /** Raw keys taken with it, each only if nobody holds it yet (key → holder). */
  claim?: Record<string, string>;
  /** Raw keys freed with it. */
  release?: string[];
}

/** A put of `value` over the version read at `modRevision` (0: a create). */
export function put<K extends Kind>(kind: K, id: string, modRevision: number, value: KindType[K], extra: Pick<ChangeOf<K>, 'claim' | 'release'> = {}): ChangeOf<K> {
  return { kind, id, modRevision, value, ...extra };
}

/** Adds one change's compares and writes to a transaction. */
function addTo(txn: Txn, c: Change): void {
  txn.expect(c.kind, c.id, c.modRevision);
  if (c.value === undefined) txn.delete(c.kind, c.id);
  else (txn.put as (kind: Kind, id: string, value: unknown) => Txn)(c.kind, c.id, c.value);
  for (const [key, holder] of Object.entries(c.claim ?? {})) txn.expectKey(key, 0).putKey(key, holder);
  for (const key of c.release ?? []) txn.deleteKey(key);
}

/**
 * Commits independent changes in fenced batches of `perTxn`. A batch that
 * loses a compare is retried one change per transaction, so one stale object
 * cannot hold back the others; those still conflicting wait for the next pass.
 */
export async function commitChanges(store: Store, changes: readonly Change[], perTxn: number): Promise<void> {
  for (let i = 0; i < changes.length; i += perTxn) {
    const batch = changes.slice(i, i + perTxn);
    const txn = store.txn({ fenced: true });
    for (const c of batch) addTo(txn, c);
    try {
      await txn.commit();
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      for (const c of batch) {
        const one = store.txn({ fenced: true });
        addTo(one, c);
        await one.commit().catch((e) => {
          if (!(e instanceof ConflictError)) throw e;
        });
      }
    }
  }
}
