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
