/**
 * Named factories for core tests. Bodies follow the JSON Vault 1.19 returns on
 * /v1/sys/health and /v1/sys/leader (http/sys_health.go, http/sys_leader.go);
 * OpenBao bodies omit the 1.16+/1.19+ fields. Nodes are built by running the
 * real `classifyHealth` over realistic probe answers, so assess/plan tests see
 * exactly what production would.
 */
import { assessLeadership, type AssessPolicy } from '../../../functions/core/assess.js';
import { classifyHealth } from '../../../functions/core/classify.js';
import { observeLock } from '../../../functions/core/lock.js';
import { planRegistrations } from '../../../functions/core/plan.js';
import type {
  ClusterHistory,
  HttpAnswer,
  InstanceState,
  LockObservation,
  NodeHealth,
  PlannerPolicy,
  ProbeFailureReason,
  ProbeResult,
  RegistrationPlan,
  SplitBrainVerdict,
  TargetState,
  TargetView,
  TickMemory,
} from '../../../functions/core/types.js';
import type { VaultHealthBody, VaultLeaderBody } from '../../../functions/core/vault-api.js';

/** 2025-11-22T08:53:20Z, a fixed "now" for every test. */
export const NOW_MS = 1_763_801_600_000;
export const LOCK_TTL_MS = 15_000;

export function addressOf(instanceId: string): string {
  return `https://${instanceId}.vault.internal:8200`;
}

/** The api_addr a node advertises (what /v1/sys/leader reports as leader_address). */
export function apiAddrOf(instanceId: string): string {
  return `https://${instanceId}.vault.internal:8200`;
}

// ---------------------------------------------------------------- health bodies

const common = {
  replication_performance_mode: 'disabled',
  replication_dr_mode: 'disabled',
  server_time_utc: Math.floor(NOW_MS / 1000),
  version: '1.19.0',
  cluster_name: 'vault-cluster-8c1f0d2e',
  cluster_id: '6f1a0c2b-5a2e-4d0a-9f51-0c6b6b7c2f11',
  clock_skew_ms: 0,
  echo_duration_ms: 1,
  ha_connection_healthy: true,
  last_request_forwarding_heartbeat_ms: 0,
  removed_from_cluster: false,
};

export const bodies = {
  active: (): VaultHealthBody => ({ initialized: true, sealed: false, standby: false, performance_standby: false, ...common }),
  standby: (): VaultHealthBody => ({
    initialized: true,
    sealed: false,
    standby: true,
    performance_standby: false,
    ...common,
    last_request_forwarding_heartbeat_ms: 412,
  }),
  perfStandby: (): VaultHealthBody => ({
    initialized: true,
    sealed: false,
    standby: true,
    performance_standby: true,
    ...common,
    last_request_forwarding_heartbeat_ms: 388,
  }),
  drSecondary: (): VaultHealthBody => ({
    initialized: true,
    sealed: false,
    standby: false,
    performance_standby: false,
    ...common,
    replication_dr_mode: 'secondary',
  }),
  haUnhealthy: (): VaultHealthBody => ({
    initialized: true,
    sealed: false,
    standby: true,
    performance_standby: false,
    ...common,
    ha_connection_healthy: false,
    last_request_forwarding_heartbeat_ms: 12_480,
  }),
  /** Sealed: Vault omits cluster_name/cluster_id (and the HA fields carry their zero values). */
  sealed: (): VaultHealthBody => ({
    initialized: true,
    sealed: true,
    standby: true,
    performance_standby: false,
    replication_performance_mode: 'unknown',
    replication_dr_mode: 'unknown',
    server_time_utc: Math.floor(NOW_MS / 1000),
    version: '1.19.0',
    clock_skew_ms: 0,
    echo_duration_ms: 0,
    removed_from_cluster: false,
  }),
  uninitialized: (): VaultHealthBody => ({
    initialized: false,
    sealed: true,
    standby: true,
    performance_standby: false,
    replication_performance_mode: 'unknown',
    replication_dr_mode: 'unknown',
    server_time_utc: Math.floor(NOW_MS / 1000),
    version: '1.19.0',
  }),
  removed: (): VaultHealthBody => ({
    initialized: true,
    sealed: false,
    standby: true,
    performance_standby: false,
    ...common,
    removed_from_cluster: true,
  }),
  /** OpenBao 2.x: no clock_skew_ms, echo_duration_ms, ha_connection_healthy, removed_from_cluster. */
  openBao: (kind: 'active' | 'standby' | 'sealed' | 'uninitialized'): VaultHealthBody => ({
    initialized: kind !== 'uninitialized',
    sealed: kind === 'sealed' || kind === 'uninitialized',
    standby: kind !== 'active',
    performance_standby: false,
    replication_performance_mode: 'disabled',
    replication_dr_mode: 'disabled',
    server_time_utc: Math.floor(NOW_MS / 1000),
    version: '2.2.0',
    ...(kind === 'active' || kind === 'standby' ? { cluster_name: 'bao-cluster', cluster_id: 'c0ffee00-0000-4000-8000-000000000001' } : {}),
  }),
};

export function leaderBody(opts: { isSelf: boolean; leaderAddress?: string; perfStandby?: boolean }): VaultLeaderBody {
  return {
    ha_enabled: true,
    is_self: opts.isSelf,
    active_time: opts.isSelf ? '2025-11-22T08:40:11.123456789Z' : '0001-01-01T00:00:00Z',
    leader_address: opts.leaderAddress ?? '',
    leader_cluster_address: opts.leaderAddress ? opts.leaderAddress.replace(':8200', ':8201') : '',
    performance_standby: opts.perfStandby ?? false,
    performance_standby_last_remote_wal: 0,
  };
}

// ---------------------------------------------------------------- probe answers

export function answer<T>(status: number, body: T | undefined): HttpAnswer<T> {
  return { ok: true, status, body, latencyMs: 4 };
}

export function failure<T>(reason: ProbeFailureReason, detail = ''): HttpAnswer<T> {
  return { ok: false, reason, detail, latencyMs: reason === 'timeout' ? 2000 : 1 };
}

/** Vault's answer to /v1/sys/leader on a sealed node. */
export const sealedLeaderAnswer = (): HttpAnswer<VaultLeaderBody> => answer<VaultLeaderBody>(503, undefined);

/**
 * A probe result. `status` alone picks the matching realistic health body and
 * a matching leader answer; override either to build disagreements.
 */
export function probe(opts: {
  status?: number;
  body?: VaultHealthBody | undefined;
  leader?: HttpAnswer<VaultLeaderBody>;
  health?: HttpAnswer<VaultHealthBody>;
  address?: string;
  leaderAddress?: string;
}): ProbeResult {
  const address = opts.address ?? addressOf('i-0node');
  const status = opts.status ?? 200;
  const defaultBody = ((): VaultHealthBody | undefined => {
    switch (status) {
      case 200:
        return bodies.active();
      case 429:
        return bodies.standby();
      case 473:
        return bodies.perfStandby();
      case 472:
        return bodies.drSecondary();
      case 474:
        return bodies.haUnhealthy();
      case 501:
        return bodies.uninitialized();
      case 503:
        return bodies.sealed();
      case 530:
        return bodies.removed();
      default:
        return undefined;
    }
  })();
  const body = 'body' in opts ? opts.body : defaultBody;
  const health = opts.health ?? answer(status, body);
  const leader =
    opts.leader ??
    (status === 503 || status === 501
      ? sealedLeaderAnswer()
      : answer(
          200,
          leaderBody({
            isSelf: status === 200,
            leaderAddress: opts.leaderAddress ?? (status === 200 ? address : undefined),
            perfStandby: status === 473,
          }),
        ));
  return { address, health, leader };
}

// ---------------------------------------------------------------- nodes

function observed(instanceId: string, p: ProbeResult | undefined, state: InstanceState = 'running'): NodeHealth {
  return classifyHealth({
    member: { instanceId, state, address: addressOf(instanceId), privateIp: '10.0.1.10' },
    ...(p !== undefined ? { probe: p } : {}),
  });
}

/** Classified nodes, built through the real classifier. `leader` is the instance id a standby names. */
export const node = {
  active: (id: string): NodeHealth => observed(id, probe({ status: 200, address: addressOf(id), leaderAddress: apiAddrOf(id) })),
  standby: (id: string, leader?: string): NodeHealth =>
    observed(id, probe({ status: 429, address: addressOf(id), ...(leader ? { leaderAddress: apiAddrOf(leader) } : {}) })),
  perfStandby: (id: string, leader?: string): NodeHealth =>
    observed(id, probe({ status: 473, address: addressOf(id), ...(leader ? { leaderAddress: apiAddrOf(leader) } : {}) })),
  haUnhealthy: (id: string, leader?: string): NodeHealth =>
    observed(id, probe({ status: 474, address: addressOf(id), ...(leader ? { leaderAddress: apiAddrOf(leader) } : {}) })),
  drSecondary: (id: string): NodeHealth => observed(id, probe({ status: 472, address: addressOf(id) })),
  sealed: (id: string): NodeHealth => observed(id, probe({ status: 503, address: addressOf(id) })),
  uninitialized: (id: string): NodeHealth => observed(id, probe({ status: 501, address: addressOf(id) })),
  removed: (id: string): NodeHealth => observed(id, probe({ status: 530, address: addressOf(id) })),
  unreachable: (id: string, reason: ProbeFailureReason = 'timeout'): NodeHealth =>
    observed(id, { address: addressOf(id), health: failure(reason, 'after 2000 ms'), leader: failure(reason, 'after 2000 ms') }),
  /** Answered with a status Vault never sends by default (e.g. a proxy's 502). */
  unknown: (id: string): NodeHealth =>
    observed(id, { address: addressOf(id), health: answer(502, undefined), leader: failure('refused') }),
  stopped: (id: string, state: InstanceState = 'stopped'): NodeHealth => observed(id, undefined, state),
};

// ---------------------------------------------------------------- lock

export function expiresNs(atMs: number): string {
  return (BigInt(atMs) * 1_000_000n).toString();
}

export const lock = {
  held: (identity = 'd0c1a7e4-1111-4e5b-8a2e-6c1f3b0e9a01', expiresInMs = LOCK_TTL_MS - 2_000, nowMs = NOW_MS): LockObservation =>
    observeLock(
      { type: 'dynamodb', table: 'vault-data', present: true, identity, value: 'c0a8f3e2-2222-4f0b-9d6e-7a2b4c5d6e01', expiresAtNs: expiresNs(nowMs + expiresInMs) },
      nowMs,
      1_000,
    ),
  expired: (identity = 'd0c1a7e4-1111-4e5b-8a2e-6c1f3b0e9a01', agoMs = 20_000): LockObservation =>
    observeLock(
      { type: 'dynamodb', table: 'vault-data', present: true, identity, value: 'c0a8f3e2-2222-4f0b-9d6e-7a2b4c5d6e01', expiresAtNs: expiresNs(NOW_MS - agoMs) },
      NOW_MS,
      1_000,
    ),
  absent: (): LockObservation => observeLock({ type: 'dynamodb', table: 'vault-data', present: false }, NOW_MS, 1_000),
  unreadable: (): LockObservation =>
    observeLock({ type: 'dynamodb', table: 'vault-data', error: 'AccessDeniedException: not authorized to perform dynamodb:GetItem' }, NOW_MS, 1_000),
  raft: (): LockObservation => observeLock({ type: 'raft' }, NOW_MS, 1_000),
};

// ---------------------------------------------------------------- history, targets, policies

export const emptyHistory = (): ClusterHistory => ({ ticks: [], failureCounts: {} });

export function tick(overrides: Partial<TickMemory> = {}): TickMemory {
  return { atMs: NOW_MS - 5_000, verdict: 'healthy', claimants: [], ...overrides };
}

export function historyOf(...ticks: TickMemory[]): ClusterHistory {
  return { ticks, failureCounts: {} };
}

export function target(instanceId: string, state: TargetState = 'healthy'): TargetView {
  return { instanceId, port: 8200, state };
}

export const assessPolicy = (overrides: Partial<AssessPolicy> = {}): AssessPolicy => ({
  breakLockAfterTicks: 3,
  flappingChanges: 3,
  flappingWindowTicks: 12,
  ...overrides,
});

export const plannerPolicy = (overrides: Partial<PlannerPolicy> = {}): PlannerPolicy => ({
  routing: 'active-only',
  unhealthyThreshold: 2,
  dryRun: false,
  fencing: 'deregister',
  ...overrides,
});

export function assess(
  nodes: NodeHealth[],
  lockObs: LockObservation,
  opts: { history?: ClusterHistory; haType?: 'dynamodb' | 'raft'; policy?: Partial<AssessPolicy> } = {},
): SplitBrainVerdict {
  return assessLeadership({
    nodes,
    lock: lockObs,
    history: opts.history ?? emptyHistory(),
    haType: opts.haType ?? (lockObs.state === 'NOT_APPLICABLE' ? 'raft' : 'dynamodb'),
    nowMs: NOW_MS,
    policy: assessPolicy(opts.policy),
  });
}

// ---------------------------------------------------------------- whole clusters

export interface World {
  nodes: NodeHealth[];
  lock: LockObservation;
  targets: TargetView[];
  failureCounts: Record<string, number>;
  history: ClusterHistory;
}

/** Three nodes, i-0a active holding the lock, both standbys naming it, i-0a the only target. */
export function clusterWithActiveLeader(): World {
  return {
    nodes: [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')],
    lock: lock.held(),
    targets: [target('i-0a', 'healthy')],
    failureCounts: {},
    history: emptyHistory(),
  };
}

/** i-0a (the registered active) died; i-0b took the lock and both remaining nodes know it. */
export function clusterAfterFailover(failuresOfOldActive: number): World {
  return {
    nodes: [node.unreachable('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b')],
    lock: lock.held('a1b2c3d4-3333-4c4c-8d8d-0e0e0e0e0e02'),
    targets: [target('i-0a', 'healthy')],
    failureCounts: failuresOfOldActive > 0 ? { 'i-0a': failuresOfOldActive } : {},
    history: emptyHistory(),
  };
}

export function planFor(world: World, policy: Partial<PlannerPolicy> = {}, verdict?: SplitBrainVerdict): RegistrationPlan {
  return planRegistrations({
    nodes: world.nodes,
    verdict: verdict ?? assess(world.nodes, world.lock, { history: world.history }),
    targets: world.targets,
    failureCounts: world.failureCounts,
    policy: plannerPolicy(policy),
  });
}

/** The target view after the ALB applied `register`/`deregister` (new targets start `initial`, removed ones drain). */
export function applyPlan(
  targets: TargetView[],
  plan: Pick<RegistrationPlan, 'register' | 'deregister'>,
): TargetView[] {
  const gone = new Set(plan.deregister.map((c) => c.instanceId));
  const next = targets.map((t) => (gone.has(t.instanceId) && t.state !== 'draining' ? { ...t, state: 'draining' as const } : t));
  for (const change of plan.register) {
    const i = next.findIndex((t) => t.instanceId === change.instanceId);
    if (i >= 0) next[i] = { ...target(change.instanceId, 'initial') };
    else next.push(target(change.instanceId, 'initial'));
  }
  return next;
}

export function registeredIds(targets: TargetView[]): string[] {
  return targets
    .filter((t) => t.state !== 'draining' && t.state !== 'unhealthy.draining')
    .map((t) => t.instanceId)
    .sort();
}

export const ids = (changes: { instanceId: string }[]): string[] => changes.map((c) => c.instanceId);
