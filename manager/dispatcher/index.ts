// The dispatcher: agent sessions, liveness, assignments and task status.
export { Dispatcher } from './dispatcher.js';
export { standbyNetworks } from './network-state.js';
export { DEFAULT_LIVENESS, ELECTION_GRACE, Liveness, type LivenessOptions, type Verdict } from './liveness.js';
