// The scheduler: a pure placement function and the loop that commits its plans.
export { schedulePass } from './commit.js';
export { pendingTasks, placementSnapshot } from './snapshot.js';
export { FILTERS, meetsConstraints, type Filter, type NodeLoad } from './filter.js';
export { schedule, type Placement, type Plan, type Snapshot, type Unplaced } from './scheduler.js';
export { mountsVolume, volumeAge } from './volumes.js';
