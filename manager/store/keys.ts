// The etcd key layout (DESIGN.md §3). Everything lives under one versioned prefix.
export const PREFIX = '/orch/v1/';

/** Kinds of objects, each a folder of JSON values keyed by id. */
export type Kind = 'nodes' | 'services' | 'tasks';

export const keys = {
  object: (kind: Kind, id: string) => `${PREFIX}${kind}/${id}`,
  kindPrefix: (kind: Kind) => `${PREFIX}${kind}/`,
  /** Name → id index that makes service names unique (created with Create == 0). */
  serviceName: (name: string) => `${PREFIX}names/services/${name}`,
  /** The leader's key; its create revision is the fence of every leader write. */
  leader: () => `${PREFIX}election/leader`,
};

/** Splits an object key into kind and id; undefined for keys that are not objects. */
export function parseObjectKey(key: string): { kind: Kind; id: string } | undefined {
  if (!key.startsWith(PREFIX)) return undefined;
  const [kind, id, ...rest] = key.slice(PREFIX.length).split('/');
  if (rest.length || !id || (kind !== 'nodes' && kind !== 'services' && kind !== 'tasks')) return undefined;
  return { kind, id };
}
