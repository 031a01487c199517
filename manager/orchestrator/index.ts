// Orchestration: services → tasks (replicated and global modes, restart
// policy, rebalancing), and task reaping.
export { orchestratePass, planOrchestration, type OrchestrationPlan } from './orchestrator.js';
export { planMoves } from './rebalance.js';
export { HISTORY_PER_SLOT } from './slot.js';
export { planReaping, reapPass } from './reaper.js';
export { restartDecision, type RestartDecision } from './restart.js';
export { readHistory, REVISIONS_KEPT, revisionKeys } from './history.js';
export { sameTemplate, serviceTemplate } from './template.js';
