// Labels orch puts on every container it creates. The agent only ever touches
// containers carrying its own cluster and node labels.
export const LABEL = {
  cluster: 'orch.cluster',
  node: 'orch.node',
  task: 'orch.task',
  service: 'orch.service',
  serviceName: 'orch.service.name',
  slot: 'orch.slot',
} as const;
