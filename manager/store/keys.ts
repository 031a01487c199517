// The etcd key layout (DESIGN.md §3). Everything lives under one versioned prefix.
export const PREFIX = '/orch/v1/';

/** Kinds of objects, each a folder of JSON values keyed by id. */
export type Kind = 'nodes' | 'services' | 'tasks' | 'networks' | 'secrets' | 'configs' | 'volumeRemovals';

export const KINDS: readonly Kind[] = ['nodes', 'services', 'tasks', 'networks', 'secrets', 'configs', 'volumeRemovals'];

export const keys = {
  object: (kind: Kind, id: string) => `${PREFIX}${kind}/${id}`,
  kindPrefix: (kind: Kind) => `${PREFIX}${kind}/`,
  /** Name → id index that makes service names unique (created with Create == 0). */
  serviceName: (name: string) => `${PREFIX}names/services/${name}`,
  /** Name → id index that makes network names unique. */
  networkName: (name: string) => `${PREFIX}names/networks/${name}`,
  /** Name → id indexes of secrets and configs. */
  secretName: (name: string) => `${PREFIX}names/secrets/${name}`,
  configName: (name: string) => `${PREFIX}names/configs/${name}`,
  /** A secret's value, sealed under the cluster key (the object under secrets/ holds no value). */
  secretData: (id: string) => `${PREFIX}secret-data/${id}`,
  /** One address of a network, held by a task (created with Create == 0: never handed out twice). */
  ipam: (networkId: string, ip: string) => `${PREFIX}ipam/${networkId}/${ip}`,
  /**
   * Bumped by every network create and remove, and compared by each: the
   * checks that span all networks (subnets never overlap, VNIs unique) are
   * then made against a set nobody changed in between.
   */
  networksGuard: () => `${PREFIX}guards/networks`,
  /** A published port, held by one service cluster-wide (created with Create == 0). */
  port: (protocol: string, port: number) => `${PREFIX}ports/${protocol}/${port}`,
  /** The cluster's root certificate (public) and its identity; written once by `orch init`. */
  clusterCa: () => `${PREFIX}cluster/ca`,
  /** The CA key and the join tokens, sealed under the cluster key (never stored here in clear). */
  clusterSecrets: () => `${PREFIX}cluster/secrets`,
  /** What the cluster allows (ClusterSettings as JSON); absent: the defaults. */
  clusterSettings: () => `${PREFIX}cluster/settings`,
  /** A removed node: its certificate is refused from then on. */
  revoked: (nodeId: string) => `${PREFIX}revoked/${nodeId}`,
  revokedPrefix: () => `${PREFIX}revoked/`,
  /** Where a manager serves gRPC (written by each manager at start; handed to joiners). */
  managerAddr: (managerId: string) => `${PREFIX}managers/${managerId}`,
  managersPrefix: () => `${PREFIX}managers/`,
  /** One version of a service's spec (`service history`); the newest REVISIONS_KEPT are kept. */
  revision: (serviceId: string, version: bigint) => `${PREFIX}revisions/${serviceId}/${String(version).padStart(12, '0')}`,
  revisionsPrefix: (serviceId: string) => `${PREFIX}revisions/${serviceId}/`,
  /** The leader's last compaction of etcd's history: `{ revision, at }` (a new leader goes on from it). */
  compaction: () => `${PREFIX}upkeep/compaction`,
  /** The leader's key; its create revision is the fence of every leader write. */
  leader: () => `${PREFIX}election/leader`,
};

/** The id of a volume removal: one per node and volume name (volume names have no '/'; node ids no '.'). */
export function volumeRemovalId(nodeId: string, name: string): string {
  return `${nodeId}.${name}`;
}

const PROTOCOLS = ['tcp', 'udp'];

/** The key that holds a published port (a PortConfig's protocol and published number). */
export function portKey(p: { protocol: number; publishedPort: number }): string {
  return keys.port(PROTOCOLS[p.protocol]!, p.publishedPort);
}

/** Splits an object key into kind and id; undefined for keys that are not objects. */
export function parseObjectKey(key: string): { kind: Kind; id: string } | undefined {
  if (!key.startsWith(PREFIX)) return undefined;
  const [kind, id, ...rest] = key.slice(PREFIX.length).split('/');
  if (rest.length || !id || !KINDS.includes(kind as Kind)) return undefined;
  return { kind: kind as Kind, id };
}

/** The smallest key greater than every key with this prefix. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
