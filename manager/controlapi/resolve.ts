// Resolving what a user typed (a name, an id, or a unique id prefix) to an object.
import type { Config, Network, Node, Secret, Service } from '../../proto/generated/orch.js';
import { InvalidArgumentError, NotFoundError } from '../../shared/errors.js';
import { keys, type Cache, type Store, type Versioned } from '../store/index.js';

/** Finds a service by name, id or unique id prefix, reading etcd (fresh, for writes). */
export async function resolveService(store: Store, cache: Cache, ref: string): Promise<Versioned<Service>> {
  if (!ref) throw new InvalidArgumentError('name the service: a name, an id or an id prefix');
  const byName = await store.getRaw(keys.serviceName(ref));
  const id = byName ?? uniquePrefix(ref, [...cache.services.keys()], 'service');
  const found = id ? await store.get('services', id) : undefined;
  if (!found) throw new NotFoundError(`service "${ref}" not found; \`orch service ls\` lists the services`);
  return found;
}

/** Finds a network by name, id or unique id prefix, reading etcd (fresh, for writes). */
export async function resolveNetwork(store: Store, cache: Cache, ref: string): Promise<Versioned<Network>> {
  if (!ref) throw new InvalidArgumentError('name the network: a name, an id or an id prefix');
  const id = (await store.getRaw(keys.networkName(ref))) ?? uniquePrefix(ref, [...cache.networks.keys()], 'network');
  const found = id ? await store.get('networks', id) : undefined;
  if (!found) throw new NotFoundError(`network "${ref}" not found; \`orch network ls\` lists the networks`);
  return found;
}

/** Finds a secret or a config by name, id or unique id prefix, reading etcd (fresh, for writes). */
export async function resolveFile<K extends 'secrets' | 'configs'>(store: Store, cache: Cache, kind: K, ref: string): Promise<Versioned<K extends 'secrets' ? Secret : Config>> {
  const what = kind === 'secrets' ? 'secret' : 'config';
  if (!ref) throw new InvalidArgumentError(`name the ${what}: a name, an id or an id prefix`);
  const id = (await store.getRaw(kind === 'secrets' ? keys.secretName(ref) : keys.configName(ref))) ?? uniquePrefix(ref, [...cache[kind].keys()], what);
  const found = id ? await store.get(kind, id) : undefined;
  if (!found) throw new NotFoundError(`${what} "${ref}" not found; \`orch ${what} ls\` lists them, \`orch ${what} create\` makes one`);
  return found as Versioned<K extends 'secrets' ? Secret : Config>;
}

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
