// The manager: control API, dispatcher, orchestrator, scheduler, election, store.
export { Manager, type ManagerOptions } from './manager.js';
