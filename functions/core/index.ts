/** The functional core: pure decisions, no AWS, HTTP or node: imports. */
export * from './types.js';
export * from './vault-api.js';
export * from './ha-lock.js';
export { classifyHealth, CLOCK_SKEW_FINDING_MS, type ClassifyOptions } from './classify.js';
export { observeLock } from './lock.js';
export {
  assessLeadership,
  normaliseAddress,
  nodesNamedBy,
  standbyVotes,
  type AssessInput,
  type AssessPolicy,
  type StandbyVotes,
} from './assess.js';
export { planRegistrations, type PlanInput } from './plan.js';
export { updateFailureCounts, rememberTick, tickMemoryOf, DEFAULT_MAX_TICKS } from './history.js';
