/**
 * Domain types shared by the functional core, the adapters and the handlers.
 * Values only: no behaviour, no AWS or HTTP imports.
 */
import type { VaultHealthBody, VaultLeaderBody } from './vault-api.js';

export const NODE_CLASSES = [
  'active',
  'standby',
  'perf-standby',
  'dr-secondary',
  'ha-unhealthy',
  'sealed',
  'uninitialized',
  'removed',
  'unreachable',
  'unknown',
] as const;
export type NodeClass = (typeof NODE_CLASSES)[number];

export const VERDICT_KINDS = [
  'healthy',
  'no-leader',
  'split-brain',
  'stale-leader',
  'zombie-leader',
  'leader-disagreement',
  'flapping',
  'probe-blind',
] as const;
export type VerdictKind = (typeof VERDICT_KINDS)[number];

/** Why an HTTP exchange with a node produced no usable answer. */
export type ProbeFailureReason =
  | 'refused'
  | 'timeout'
  | 'tls'
  | 'bad-json'
  | 'oversized'
  | 'dns'
  | 'network'
  | 'no-address';

/** One HTTP exchange with a node: an answer (any status code) or a failure value. Never an exception. */
export type HttpAnswer<T> =
  | { ok: true; status: number; body: T | undefined; latencyMs: number }
  | { ok: false; reason: ProbeFailureReason; detail: string; latencyMs: number };

/** What the probe adapter returns for one node. */
export interface ProbeResult {
  /** Base URL probed, e.g. https://10.0.1.5:8200 */
  address: string;
  health: HttpAnswer<VaultHealthBody>;
  leader: HttpAnswer<VaultLeaderBody>;
}

/** EC2 instance states (DescribeInstances `State.Name`). */
export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** A cluster member found by tag. */
export interface Member {
  instanceId: string;
  state: InstanceState;
  /** Base URL of the node's Vault API, undefined when it cannot be derived (e.g. no private IP yet). */
  address: string | undefined;
  privateIp?: string;
  availabilityZone?: string;
  /** Value of the slot tag, when present. */
  slot?: string;
  launchTimeMs?: number;
}

/** ALB target health states (DescribeTargetHealth `TargetHealth.State`). */
export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable' | 'unhealthy.draining';

export interface TargetView {
  /** The member instance the target is (for `ip` targets: the member with that private IP; the IP itself when none has it). */
  instanceId: string;
  /** The balancer's own target id when it is not the instance id (the IP of an `ip` target). */
  targetId?: string;
  port?: number;
  state: TargetState;
  reason?: string;
  description?: string;
}

/** A member joined with its probe result. Input of classification. */
export interface NodeObservation {
  member: Member;
  /** Absent when the instance is not running (no probe was attempted). */
  probe?: ProbeResult;
}

/** Classified view of one node (output of `classifyHealth`). */
export interface NodeHealth {
  instanceId: string;
  address: string | undefined;
  instanceState: InstanceState;
  class: NodeClass;
  /** The node says it is the active (200 with standby=false, or /v1/sys/leader is_self=true). */
  claimsActive: boolean;
  /** `leader_address` as this node reports it (a standby's view of who leads; the active's own api_addr). */
  leaderAddress?: string;
  /** The node answered at least one probe request with HTTP. */
  answered: boolean;
  /** Evidence is absence (timeout, refused, unknown...) rather than a definitive answer. */
  evidenceIsAbsence: boolean;
  /** Both probe requests were refused (the host answered, nothing listens): proof the Vault process is down, unlike a timeout. */
  refused?: boolean;
  statusCode?: number;
  /** Inconsistencies found (code vs body disagreement, skew, ...), human readable. */
  findings: string[];
  healthLatencyMs?: number;
  version?: string;
}

/** Raw lock item as read from DynamoDB (adapter output). */
export type LockItemRead =
  | { type: 'raft' }
  /** `haLock.type` "none": the storage's HA lock (MySQL, PostgreSQL, Consul...) is not readable by the controller. */
  | { type: 'none' }
  | { type: 'dynamodb'; table: string; present: false }
  | {
      type: 'dynamodb';
      table: string;
      present: true;
      /** Identity attribute, decoded as UTF-8 (a UUID). */
      identity: string;
      /** Value attribute, decoded as UTF-8 (the leader UUID). */
      value: string;
      /** Expires attribute exactly as stored (decimal string, Unix ns). */
      expiresAtNs: string;
    }
  | { type: 'dynamodb'; table: string; error: string };

export type LockState = 'ABSENT' | 'HELD' | 'EXPIRED' | 'UNREADABLE' | 'NOT_APPLICABLE';

/** Lock item interpreted against `now` (output of `observeLock`). */
export interface LockObservation {
  state: LockState;
  identity?: string;
  value?: string;
  expiresAtNs?: string;
  /** expires - now, in ms (negative when expired). */
  remainingMs?: number;
  detail?: string;
}

/** Compact record of one past tick, kept in the control table for history-based verdicts. */
export interface TickMemory {
  atMs: number;
  verdict: VerdictKind;
  /** Legitimate active named that tick, if any. */
  activeInstanceId?: string;
  /** Instances that claimed active that tick. */
  claimants: string[];
  lockState?: LockState;
  lockIdentity?: string;
  lockValue?: string;
  lockExpiresAtNs?: string;
  /** The address the standbys' majority named as leader that tick. */
  standbyLeaderAddress?: string;
}

export interface ClusterHistory {
  /** Oldest first, bounded. */
  ticks: TickMemory[];
  /** Consecutive bad observations per instance (hysteresis). */
  failureCounts: Record<string, number>;
}

export interface SplitBrainVerdict {
  kind: VerdictKind;
  reasons: string[];
  /** The node that should receive traffic, when one can be named. */
  legitimateActive?: string;
  /** Nodes that claim active. */
  claimants: string[];
  /** Address named by the majority of standbys, if any. */
  standbyLeaderAddress?: string;
  lock: LockObservation;
  /** Fencing the assessor recommends (executed only if policy allows). */
  fencing?: FencingRecommendation;
}

export interface FencingRecommendation {
  action: 'break-lock';
  /** Exact attributes observed; the delete is conditional on them. */
  identity: string;
  expiresAtNs: string;
  /** The unreachable node the lock points at (through the standbys' views). */
  zombieInstanceId?: string;
  reason: string;
}

export type Routing = 'active-only' | 'all-unsealed';

export interface PlannedChange {
  instanceId: string;
  reason: string;
}

export interface RegistrationPlan {
  register: PlannedChange[];
  deregister: PlannedChange[];
  /** Targets the planner wanted to remove but a safety guard kept, with why. */
  held: PlannedChange[];
  /** One sentence saying what this tick does and why. */
  outcome: string;
  /** True when a guard forbids any mutation this tick (probe blindness, unnamed split brain...). */
  frozen: boolean;
  alarms: string[];
  /**
   * `register-first` unless a node that claims active leaves while another
   * registration stays: then `deregister-first`. Register first never lets the
   * group pass through empty (invariant 11); a new target is `initial` and gets
   * no traffic until it passes a health check (DESIGN §3.5), so registering the
   * legitimate active before the old claimant leaves routes one active only.
   */
  order: 'deregister-first' | 'register-first';
  /**
   * True when every removal is dead or proven non-routable: a failing
   * deregistration must then not stop the registrations (invariant 12). False
   * whenever a claimant leaves: registering its rival while it stays would
   * route two actives once the rival passes its check (invariant 3).
   */
  registerEvenIfDeregisterFails: boolean;
  /**
   * Register-first with a claimant leaving: when its deregistration fails, the
   * registrations this plan made are taken back, so the rival never turns
   * healthy beside it (invariant 3). The group keeps the claimant, as a plan
   * that had not run would have left it.
   */
  undoRegistrationIfDeregisterFails: boolean;
}

export interface PlannerPolicy {
  routing: Routing;
  unhealthyThreshold: number;
  dryRun: boolean;
  fencing: 'none' | 'deregister' | 'break-lock';
}

/* ---------------- dead-leader takeover (DESIGN §5.10) ---------------- */

/** How the lock holder was proven dead: EC2 says its instance is not running, or its Vault API refuses connections. */
export type HolderDeathProof = 'instance-not-running' | 'api-refused';

/** What a dead-leader takeover decision rests on; every field is an observation of this tick (or of the history that ties the lock to a member). */
export interface TakeoverEvidence {
  /** The member the lock is tied to. */
  holder: string;
  /** How the lock was tied to `holder`, in words. */
  holderTie: string;
  holderInstanceState: InstanceState;
  proof: HolderDeathProof;
  /** e.g. "instance is stopped" or "health and leader requests both refused: connect ECONNREFUSED ...". */
  proofDetail: string;
  /** Exact attributes observed; the delete is conditional on Identity and Expires. */
  identity: string;
  value: string;
  expiresAtNs: string;
  /** now − (Expires − TTL): how long ago the holder last wrote the item (holder's clock against ours). */
  msSinceLastRenewal: number;
  /** renew interval + skew tolerance: a holder alive renews before this. */
  renewalDeadlineMs: number;
  /** Expires − now: what waiting for the TTL would still cost (negative once expired). */
  lockRemainingMs: number;
  /** Unsealed standbys with a healthy HA connection that can take the lock. */
  standbys: string[];
}

export type TakeoverDecision =
  | {
      /** Every condition holds: delete (or, in dry run, report that it would). */
      action: 'delete' | 'dry-run';
      reason: string;
      evidence: TakeoverEvidence;
    }
  | {
      action: 'skip';
      /** False when the question does not arise (no lock item, a member claims active, no DynamoDB lock). */
      applicable: boolean;
      reason: string;
      /** What was established before the missing condition. */
      evidence?: Partial<TakeoverEvidence>;
    };
