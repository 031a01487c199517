// Resolving what a user typed (a name, an id, or a unique id prefix) to an object.
import type { Network, Node, Service } from '../../proto/generated/orch.js';
import type { KindType } from '../store/codec.js';
import { InvalidArgumentError, NotFoundError } from '../../shared/errors.js';
import { keys, type Cache, type Store, type Versioned } from '../store/index.js';

/** What is named by a name index and listed by `orch WHAT ls`. */
const NAMED = {
  services: { what: 'service', nameKey: keys.serviceName, hint: '`orch service ls` lists the services' },
  networks: { what: 'network', nameKey: keys.networkName, hint: '`orch network ls` lists the networks' },
  secrets: { what: 'secret', nameKey: keys.secretName, hint: '`orch secret ls` lists them, `orch secret create` makes one' },
  configs: { what: 'config', nameKey: keys.configName, hint: '`orch config ls` lists them, `orch config create` makes one' },
} as const;
type Named = keyof typeof NAMED;

/** Finds an object by name, id or unique id prefix, reading etcd (fresh, for writes). */
async function resolveNamed<K extends Named>(store: Store, cache: Cache, kind: K, ref: string): Promise<Versioned<KindType[K]>> {
  const { what, nameKey, hint } = NAMED[kind];
  if (!ref) throw new InvalidArgumentError(`name the ${what}: a name, an id or an id prefix`);
  const id = (await store.getRaw(nameKey(ref))) ?? uniquePrefix(ref, [...cache[kind].keys()], what);
  const found = id ? await store.get(kind, id) : undefined;
  if (!found) throw new NotFoundError(`${what} "${ref}" not found; ${hint}`);
  return found;
}

export const resolveService = (store: Store, cache: Cache, ref: string): Promise<Versioned<Service>> => resolveNamed(store, cache, 'services', ref);
export const resolveNetwork = (store: Store, cache: Cache, ref: string): Promise<Versioned<Network>> => resolveNamed(store, cache, 'networks', ref);
/** A secret or a config. */
export const resolveFile = <K extends 'secrets' | 'configs'>(store: Store, cache: Cache, kind: K, ref: string): Promise<Versioned<KindType[K]>> => resolveNamed(store, cache, kind, ref);

/** Finds a node by id, unique id prefix or hostname, in the mirror. */
export function resolveNode(cache: Cache, ref: string): Node {
  const nodes = [...cache.nodes.values()].map((v) => v.value);
  const byHost = nodes.filter((n) => n.description?.hostname === ref);
  if (byHost.length === 1) return byHost[0]!;
  const id = uniquePrefix(ref, nodes.map((n) => n.id), 'node');
  const node = id ? cache.nodes.get(id)?.value : undefined;
  if (!node) throw new NotFoundError(`node "${ref}" not found; \`orch node ls\` lists the nodes`);
  return node;
}

function uniquePrefix(ref: string, ids: string[], what: string): string | undefined {
  const matches = ids.filter((id) => id.startsWith(ref));
  if (matches.length > 1) throw new InvalidArgumentError(`"${ref}" matches ${matches.length} ${what}s; give more of the id`);
  return matches[0];
}
