// The built-in ingress network (published ports), as manager and agent both
// know it: by a label, never by name or id.
import type { Network } from '../proto/generated/orch.js';

/** The label that marks the built-in ingress network. */
export const INGRESS_LABEL = 'orch.ingress';
export const INGRESS_NAME = 'ingress';
/** Swarm's ingress is 10.0.0.0/24; ours is larger and out of the default pool. */
export const INGRESS_SUBNET = '10.255.0.0/16';

/** Whether a network is the ingress network. */
export function isIngress(n: Network): boolean {
  return n.spec?.labels[INGRESS_LABEL] === 'true';
}
