// Objects are stored as protobuf JSON: readable with etcdctl, and the .proto
// file stays the one schema for wire and store.
import { Config, Network, Node, Secret, Service, Task, VolumeRemoval } from '../../proto/generated/orch.js';
import type { Kind } from './keys.js';

/** The TypeScript type stored under each kind. */
export interface KindType {
  nodes: Node;
  services: Service;
  tasks: Task;
  networks: Network;
  secrets: Secret;
  configs: Config;
  volumeRemovals: VolumeRemoval;
}

interface JsonCodec<T> {
  toJSON(value: T): unknown;
  fromJSON(object: unknown): T;
}

const CODECS: { [K in Kind]: JsonCodec<KindType[K]> } = { nodes: Node, services: Service, tasks: Task, networks: Network, secrets: Secret, configs: Config, volumeRemovals: VolumeRemoval };

/** The JSON text stored for a value. */
export function encode<K extends Kind>(kind: K, value: KindType[K]): string {
  return JSON.stringify(CODECS[kind].toJSON(value));
}

/** The value back from its stored JSON text. */
export function decode<K extends Kind>(kind: K, text: string): KindType[K] {
  return CODECS[kind].fromJSON(JSON.parse(text));
}
