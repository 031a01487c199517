// Backups of the cluster: every orch key at one etcd revision (one consistent
// read, paged at that revision), written as gzipped JSON lines: a header, one
// line per key, and a trailer with the count and a SHA-256 of the key lines,
// so a cut or altered file is refused. Keys bound to a lease (the leader's)
// and the record of the old etcd's last compaction are left out: they mean
// nothing in another etcd. The cluster key is never in etcd, so never here.
//
// A restore writes the keys into an etcd that holds no cluster, in
// transactions that each require the cluster secrets to be absent; the
// secrets go last, so a restore cut short is not yet a cluster and may be
// run again.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { CompareResult, CompareTarget, type Etcd3, type ICompare, type IRequestOp } from 'etcd3';
import { AlreadyExistsError, InvalidArgumentError } from '../../shared/errors.js';
import { keys, MAX_TXN_OPS, PREFIX, type Store } from '../store/index.js';
import { prefixEnd } from '../store/keys.js';

/** What a backup says of itself. */
export interface BackupHeader {
  orchBackup: 1;
  clusterId: string;
  /** The etcd revision every key was read at. */
  revision: number;
  takenAt: string;
  prefix: string;
}

export interface BackupKey {
  key: string;
  value: Buffer;
}

const PAGE = 500;
/** Keys that belong to the etcd they were read from, not to the cluster. */
const LOCAL_KEYS = new Set([keys.compaction()]);

/** Reads every orch key at one revision and returns the backup file's bytes. */
export async function takeBackup(store: Store, clusterId: string): Promise<{ file: Buffer; header: BackupHeader; keys: number }> {
  const out: BackupKey[] = [];
  let revision = 0;
  let from = PREFIX;
  for (;;) {
    const res = await store.call(() =>
      store.etcd.kv.range({ key: Buffer.from(from), range_end: Buffer.from(prefixEnd(PREFIX)), limit: PAGE, revision: revision ? String(revision) : undefined }),
    );
    if (!revision) revision = Number(res.header.revision);
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      if (kv.lease !== '0' || LOCAL_KEYS.has(key)) continue;
      out.push({ key, value: kv.value });
    }
    if (!res.more || res.kvs.length === 0) break;
    from = `${res.kvs[res.kvs.length - 1]!.key.toString()}\0`;
  }
  const header: BackupHeader = { orchBackup: 1, clusterId, revision, takenAt: new Date().toISOString(), prefix: PREFIX };
  const lines = out.map((k) => JSON.stringify({ k: k.key, v: k.value.toString('base64') }));
  const body = lines.map((l) => `${l}\n`).join('');
  const trailer = { end: true, keys: out.length, sha256: sha256(body) };
  const text = `${JSON.stringify(header)}\n${body}${JSON.stringify(trailer)}\n`;
  return { file: gzipSync(text), header, keys: out.length };
}

/** Parses and checks a backup file; a file that is cut, altered or not a backup is refused with why. */
export function readBackup(file: Buffer, name: string): { header: BackupHeader; keys: BackupKey[] } {
  let text: string;
  try {
    text = gunzipSync(file).toString('utf8');
  } catch {
    throw new InvalidArgumentError(`${name} is not an orch backup (not gzip data, or cut short): give the file \`orch cluster backup\` wrote`);
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const parse = (l: string | undefined) => {
    try {
      return l === undefined ? undefined : (JSON.parse(l) as Record<string, unknown>);
    } catch {
      return undefined;
    }
  };
  const header = parse(lines[0]);
  if (header?.orchBackup !== 1 || typeof header.revision !== 'number') throw new InvalidArgumentError(`${name} is not an orch backup (its first line is no backup header)`);
  const trailer = parse(lines.at(-1));
  const keyLines = lines.slice(1, -1);
  if (trailer?.end !== true) throw new InvalidArgumentError(`${name} is cut short (no trailer): take the backup again`);
  if (trailer.keys !== keyLines.length || trailer.sha256 !== sha256(keyLines.map((l) => `${l}\n`).join(''))) {
    throw new InvalidArgumentError(`${name} is damaged (its keys do not match its checksum): take the backup again`);
  }
  const out = keyLines.map((l) => {
    const { k, v } = JSON.parse(l) as { k: string; v: string };
    return { key: k, value: Buffer.from(v, 'base64') };
  });
  return { header: header as unknown as BackupHeader, keys: out };
}

/** Writes a backup's keys into an etcd that holds no cluster; `progress` is called after each transaction. */
export async function restoreBackup(etcd: Etcd3, backup: { keys: BackupKey[] }, progress: (done: number, total: number) => void): Promise<void> {
  const secrets = keys.clusterSecrets();
  const present = await etcd.kv.range({ key: Buffer.from(secrets) });
  if (present.kvs.length) throw new AlreadyExistsError('this etcd already holds an orch cluster: restore only into an empty etcd (a new one, or one whose data was removed)');
  const absent: ICompare = { key: Buffer.from(secrets), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: '0' };
  // Leftovers of a restore cut short go first.
  await txnOrRefuse(etcd, absent, [{ request_delete_range: { key: Buffer.from(PREFIX), range_end: Buffer.from(prefixEnd(PREFIX)) } }]);
  const ordered = [...backup.keys.filter((k) => k.key !== secrets), ...backup.keys.filter((k) => k.key === secrets)];
  for (let i = 0; i < ordered.length; i += MAX_TXN_OPS) {
    const batch = ordered.slice(i, i + MAX_TXN_OPS);
    await txnOrRefuse(etcd, absent, batch.map((k) => ({ request_put: { key: Buffer.from(k.key), value: k.value } })));
    progress(Math.min(i + MAX_TXN_OPS, ordered.length), ordered.length);
  }
}

async function txnOrRefuse(etcd: Etcd3, absent: ICompare, success: IRequestOp[]): Promise<void> {
  const res = await etcd.kv.txn({ compare: [absent], success });
  if (!res.succeeded) throw new AlreadyExistsError('another restore or `orch init` wrote a cluster into this etcd meanwhile: nothing more was written');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
