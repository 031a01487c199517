// Allocation of task addresses on overlay networks.
export { allocatePass } from './allocator.js';
