// Labels orch puts on every container (and Docker network) it creates. The
// agent only ever touches objects carrying its own cluster and node labels.
export const LABEL = {
  cluster: 'orch.cluster',
  node: 'orch.node',
  task: 'orch.task',
  service: 'orch.service',
  serviceName: 'orch.service.name',
  slot: 'orch.slot',
  network: 'orch.network',
} as const;

/** Identity stamped on, and required of, every container this agent manages; `hostname` fills {{.Node.Hostname}}. */
export interface Owner {
  cluster: string;
  node: string;
  hostname: string;
}
