/**
 * From one read of the world (members, their probes, the lock item) to the
 * classified nodes, the interpreted lock and the verdict. Shared by the
 * controller's tick and the workflows' inspections so they judge alike.
 */
import type { ClusterConfig } from '../config/schema.js';
import { assessLeadership } from './assess.js';
import { classifyHealth } from './classify.js';
import { observeLock } from './lock.js';
import type { ClusterHistory, LockItemRead, LockObservation, Member, NodeHealth, ProbeResult, SplitBrainVerdict } from './types.js';

export interface ClusterSnapshot {
  cluster: ClusterConfig;
  members: Member[];
  probes: ReadonlyMap<string, ProbeResult>;
  lockRead: LockItemRead;
  history: ClusterHistory;
  nowMs: number;
}

export function assessSnapshot(s: ClusterSnapshot): { nodes: NodeHealth[]; lock: LockObservation; verdict: SplitBrainVerdict } {
  const { cluster, nowMs } = s;
  const nodes = s.members.map((member) => {
    const probe = s.probes.get(member.instanceId);
    return classifyHealth(probe ? { member, probe } : { member });
  });
  const lock = observeLock(s.lockRead, nowMs, cluster.haLock.type === 'dynamodb' ? cluster.haLock.skewToleranceMs : 0);
  const verdict = assessLeadership({
    nodes,
    lock,
    history: s.history,
    haType: cluster.haLock.type,
    nowMs,
    policy: {
      breakLockAfterTicks: cluster.policy.breakLockAfterTicks,
      flappingChanges: cluster.policy.flappingChanges,
      flappingWindowTicks: cluster.policy.flappingWindowTicks,
    },
  });
  return { nodes, lock, verdict };
}
