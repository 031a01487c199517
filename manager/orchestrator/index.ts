// Orchestration: services → tasks (replicated and global modes, restart
// policy, rebalancing), and task reaping.
export { orchestratePass } from './orchestrator.js';
export { planMoves } from './rebalance.js';
export { HISTORY_PER_SLOT } from './slot.js';
export { reapPass } from './reaper.js';
export { DEFAULT_RESTART, restartDecision, type RestartDecision } from './restart.js';
