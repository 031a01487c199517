// Orchestration: services → tasks (replicated), restart policy, task reaping.
export { HISTORY_PER_SLOT, orchestratePass } from './replicated.js';
export { reapPass } from './reaper.js';
export { DEFAULT_RESTART, restartDecision, type RestartDecision } from './restart.js';
