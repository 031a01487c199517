// A task's template: what it was made from (container spec, placement,
// networks, host ports, the force counter). A task whose template differs
// from its service's is out of date: the one rule for rollouts.
import { isDeepStrictEqual } from 'node:util';
import { ContainerSpec, Placement, PortConfig, PortConfig_PublishMode, type Service, type Task } from '../../proto/generated/orch.js';
import { serviceNetworks } from '../networks.js';
import type { Snapshot } from '../store/index.js';

/** The part of a service every task is made from: a task that differs is out of date. */
export interface TaskTemplate {
  container: unknown;
  placement: unknown;
  networks: string[];
  hostPorts: unknown[];
  forceUpdate: string;
}

/** The template a new task of `service` gets. */
export function serviceTemplate(cache: Snapshot, service: Service): TaskTemplate {
  const spec = service.spec!;
  return {
    container: ContainerSpec.toJSON(spec.container ?? ContainerSpec.fromPartial({})),
    placement: Placement.toJSON(spec.placement ?? Placement.fromPartial({})),
    networks: serviceNetworks(cache, service),
    hostPorts: hostPorts(service).map((p) => PortConfig.toJSON(p)),
    forceUpdate: String(spec.forceUpdate),
  };
}

/** The template a task was made from. */
export function taskTemplate(t: Task): TaskTemplate {
  return {
    container: ContainerSpec.toJSON(t.spec ?? ContainerSpec.fromPartial({})),
    placement: Placement.toJSON(t.placement ?? Placement.fromPartial({})),
    networks: t.networks.map((a) => a.networkId),
    hostPorts: t.hostPorts.map((p) => PortConfig.toJSON(p)),
    forceUpdate: String(t.forceUpdate),
  };
}

/** Whether two templates make the same tasks (the one rule for "out of date"). */
export function sameTemplate(a: TaskTemplate, b: TaskTemplate): boolean {
  return isDeepStrictEqual(a, b);
}


/** The ports a service publishes in host mode: each of its tasks maps them itself. */
export function hostPorts(service: Service): PortConfig[] {
  return (service.spec!.endpoint?.ports ?? []).filter((p) => p.publishMode === PortConfig_PublishMode.HOST);
}
