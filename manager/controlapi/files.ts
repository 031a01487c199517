// Secrets and configs (Docker's model): named, immutable files a service's
// tasks get mounted. A secret's value is sealed with the cluster key under its
// own key and never returned; a config's is stored in clear with it. Removal
// is refused while a service uses one; a service write resolves each
// reference and compares the object, so a removal and a use cannot both win.
import { Config, Secret, type ConfigSpec, type ServiceSpec, type SecretSpec } from '../../proto/generated/orch.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { Logger } from '../../shared/log.js';
import { fileTargetPath } from '../../shared/container.js';
import { seal, unseal } from '../../shared/tls/sealed.js';
import { keys, type Cache, type Store } from '../store/index.js';
import { resolveFile } from './resolve.js';
import { retryConflicts } from '../store/index.js';

/** Docker's limit on a secret's or a config's value. */
export const MAX_FILE_BYTES = 500 * 1024;
const NAME_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62})$/;

type FileKind = 'secrets' | 'configs';
const WHAT = { secrets: 'secret', configs: 'config' } as const;

function checkSpec(kind: FileKind, spec: { name: string; data: Uint8Array }): void {
  const what = WHAT[kind];
  if (!NAME_RE.test(spec.name)) throw new InvalidArgumentError(`invalid ${what} name "${spec.name}": use 1 to 64 letters, digits, '_', '.' and '-', starting with a letter or digit`);
  if (spec.data.length === 0) throw new InvalidArgumentError(`${what} ${spec.name} is empty: give a file or standard input with its value`);
  if (spec.data.length > MAX_FILE_BYTES) throw new InvalidArgumentError(`${what} ${spec.name} is ${spec.data.length} bytes; the most is ${MAX_FILE_BYTES}`);
}

/** Creates a secret: metadata under secrets/, the value sealed under secret-data/, the name claimed, in one transaction. */
export async function createSecret(store: Store, log: Logger, clusterKey: Buffer, spec: SecretSpec): Promise<Secret> {
  checkSpec('secrets', spec);
  const secret: Secret = { id: newId(), spec: { name: spec.name, labels: spec.labels, data: new Uint8Array() }, createdAt: new Date(), size: BigInt(spec.data.length) };
  const name = keys.secretName(spec.name);
  if (await store.getRaw(name)) throw new AlreadyExistsError(`secret ${spec.name} already exists; secrets cannot change: create one under a new name and roll it out with \`service update --secret-rm/--secret-add\``);
  await store
    .txn()
    .expectKey(name, 0)
    .putKey(name, secret.id)
    .put('secrets', secret.id, secret)
    .putKey(keys.secretData(secret.id), seal(clusterKey, Buffer.from(spec.data).toString('base64')))
    .commit();
  log.info({ secret: secret.id, name: spec.name }, 'secret created');
  return secret;
}

/** Creates a config (its value in the object, in clear). */
export async function createConfig(store: Store, log: Logger, spec: ConfigSpec): Promise<Config> {
  checkSpec('configs', spec);
  const config: Config = { id: newId(), spec, createdAt: new Date() };
  const name = keys.configName(spec.name);
  if (await store.getRaw(name)) throw new AlreadyExistsError(`config ${spec.name} already exists; configs cannot change: create one under a new name and roll it out with \`service update --config-rm/--config-add\``);
  await store.txn().expectKey(name, 0).putKey(name, config.id).put('configs', config.id, config).commit();
  log.info({ config: config.id, name: spec.name }, 'config created');
  return config;
}

/** A secret's value, read from etcd and unsealed (for the dispatcher, which sends it to the nodes that need it). */
export async function secretValue(store: Store, clusterKey: Buffer, id: string): Promise<Uint8Array> {
  const sealed = await store.getRaw(keys.secretData(id));
  if (sealed === undefined) throw new NotFoundError(`the value of secret ${id} is not in etcd`);
  return Buffer.from(unseal(clusterKey, sealed), 'base64');
}

/** Removes a secret or config no service uses (the services are named when one does). */
export function removeFile(store: Store, cache: Cache, log: Logger, kind: FileKind, ref: string): Promise<{ id: string }> {
  return retryConflicts(async () => {
    const cur = await resolveFile(store, cache, kind, ref);
    const { id, spec } = cur.value;
    const users = [...cache.services.values()].map((v) => v.value).filter((s) => referencedIds(s.spec, kind).includes(id));
    if (users.length) {
      const names = users.map((s) => s.spec!.name).join(', ');
      throw new FailedPreconditionError(`${WHAT[kind]} ${spec!.name} is used by service${users.length > 1 ? 's' : ''} ${names}; remove it from them first (\`service update --${WHAT[kind]}-rm ${spec!.name}\`)`);
    }
    const txn = store.txn().expect(kind, id, cur.modRevision).delete(kind, id).deleteKey(kind === 'secrets' ? keys.secretName(spec!.name) : keys.configName(spec!.name));
    if (kind === 'secrets') txn.deleteKey(keys.secretData(id));
    await txn.commit();
    log.info({ [WHAT[kind]]: id }, `${WHAT[kind]} removed`);
    return { id };
  });
}

/** The ids of the secrets or configs a spec mounts. */
export function referencedIds(spec: ServiceSpec | undefined, kind: FileKind): string[] {
  const c = spec?.container;
  return kind === 'secrets' ? (c?.secrets ?? []).map((r) => r.secretId) : (c?.configs ?? []).map((r) => r.configId);
}

/** An object a write read, to compare in its transaction. */
export interface ReadObject {
  kind: FileKind;
  id: string;
  modRevision: number;
}

/**
 * Resolves a spec's secret and config references (by name or id) to the
 * objects, in place, with Docker's defaults filled in (/run/secrets/NAME,
 * /NAME for a config; mode 0444); returns what it read, for the write to
 * compare.
 */
export async function resolveFiles(store: Store, cache: Cache, spec: ServiceSpec): Promise<ReadObject[]> {
  const read: ReadObject[] = [];
  const c = spec.container;
  if (!c) return read;
  const targets = new Set(c.mounts.map((m) => m.target));
  const claim = (target: string, what: string) => {
    if (targets.has(target)) throw new InvalidArgumentError(`${what}: the target ${target} is also used by another mount, secret or config`);
    targets.add(target);
  };
  for (const r of c.secrets) {
    const s = await resolveFile(store, cache, 'secrets', r.secretId || r.secretName);
    r.secretId = s.value.id;
    r.secretName = s.value.spec!.name;
    r.file = { name: fileTargetPath('secret', r.file?.name || r.secretName), uid: r.file?.uid ?? 0, gid: r.file?.gid ?? 0, mode: r.file?.mode || 0o444 };
    claim(r.file.name, `--secret ${r.secretName}`);
    read.push({ kind: 'secrets', id: s.value.id, modRevision: s.modRevision });
  }
  for (const r of c.configs) {
    const s = await resolveFile(store, cache, 'configs', r.configId || r.configName);
    r.configId = s.value.id;
    r.configName = s.value.spec!.name;
    r.file = { name: fileTargetPath('config', r.file?.name || r.configName), uid: r.file?.uid ?? 0, gid: r.file?.gid ?? 0, mode: r.file?.mode || 0o444 };
    claim(r.file.name, `--config ${r.configName}`);
    read.push({ kind: 'configs', id: s.value.id, modRevision: s.modRevision });
  }
  return read;
}
