/**
 * What the controller remembers between ticks: consecutive bad observations
 * per node (hysteresis, DESIGN §5.4) and a bounded record of past verdicts
 * (zombie and flapping detection need more than one snapshot).
 */
import type { ClusterHistory, NodeHealth, SplitBrainVerdict, TickMemory } from './types.js';

export const DEFAULT_MAX_TICKS = 50;

/**
 * Counts only absence of evidence (timeout, refused, unknown answer). Any
 * definitive observation — a Vault answer with a known class, or EC2 saying
 * the instance is not running — resets the count, because hysteresis exists to
 * ride out a lost packet, not to delay acting on a node that told us its state.
 * Only positive counts are kept; instances no longer present are dropped.
 */
export function updateFailureCounts(prev: Record<string, number>, nodes: NodeHealth[]): Record<string, number> {
  const next: Record<string, number> = {};
  for (const node of [...nodes].sort((a, b) => a.instanceId.localeCompare(b.instanceId))) {
    if (!node.evidenceIsAbsence) continue;
    const before = prev[node.instanceId];
    next[node.instanceId] = (typeof before === 'number' && before > 0 ? before : 0) + 1;
  }
  return next;
}

/** Appends `tick`, keeping the newest `maxTicks` (oldest first). Does not mutate `history`. */
export function rememberTick(history: ClusterHistory, tick: TickMemory, maxTicks = DEFAULT_MAX_TICKS): ClusterHistory {
  const keep = Math.max(1, Math.floor(maxTicks));
  return {
    ticks: [...history.ticks, tick].slice(-keep),
    failureCounts: { ...history.failureCounts },
  };
}

export function tickMemoryOf(verdict: SplitBrainVerdict, nowMs: number): TickMemory {
  const tick: TickMemory = {
    atMs: nowMs,
    verdict: verdict.kind,
    claimants: [...verdict.claimants],
    lockState: verdict.lock.state,
  };
  // Absent rather than undefined: the record is stored as a DynamoDB item.
  if (verdict.legitimateActive !== undefined) tick.activeInstanceId = verdict.legitimateActive;
  if (verdict.lock.identity !== undefined) tick.lockIdentity = verdict.lock.identity;
  if (verdict.lock.value !== undefined) tick.lockValue = verdict.lock.value;
  if (verdict.lock.expiresAtNs !== undefined) tick.lockExpiresAtNs = verdict.lock.expiresAtNs;
  if (verdict.standbyLeaderAddress !== undefined) tick.standbyLeaderAddress = verdict.standbyLeaderAddress;
  return tick;
}
