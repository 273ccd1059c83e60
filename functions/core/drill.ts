/**
 * Pure decisions of the failover-drill workflow (DESIGN §2, §4.4–4.5), part 1:
 * the input, the budgets, the snapshot the drill takes of the cluster, the
 * steady-state pre-check and the fault plan. The observation loop and its stop
 * conditions live in drill-observe.ts, client-visible measurement in
 * drill-client.ts, the restore in drill-restore.ts, the verdicts a fault should
 * provoke in drill-expect.ts and the report in drill-report.ts.
 *
 * Nothing here talks to AWS or Vault: the task handlers take snapshots through
 * adapters and hand them in; time arrives as `nowMs` or ISO strings.
 */
import type { ClusterConfig, Config, FailoverDrillInput, SlotConfig } from '../config/schema.js';
import { DRILL_SCENARIOS, failoverDrillInputSchema } from '../config/schema.js';
import { formatIssues, InvalidInputError } from '../config/errors.js';
import type { NodeClass, NodeHealth, TargetState, TargetView, VerdictKind } from './types.js';

export type DrillScenario = (typeof DRILL_SCENARIOS)[number];
export { DRILL_SCENARIOS };

/** The scenarios whose fault is an SSM VaultControl action on the node. */
export const VAULT_CONTROL_SCENARIOS: ReadonlySet<DrillScenario> = new Set(['step-down', 'kill-active', 'partition-clients', 'partition-storage', 'seal-active']);

/* ------------------------------------------------------------------ input */

export interface DrillRequest {
  cluster: string;
  scenario: DrillScenario;
  dryRun: boolean;
  /** True when `dryRun` comes from the cluster's `policy.dryRun` rather than the input. */
  dryRunFromPolicy: boolean;
  maxRtoSeconds: number;
  stopOnAlarms: string[];
  restore: boolean;
  maxSplitBrainSeconds: number;
}

/** Validates the execution input against the schema and the configuration; throws InvalidInputError naming each bad field. */
export function checkDrillInput(raw: unknown, config: Config): DrillRequest {
  const parsed = failoverDrillInputSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(formatIssues(parsed.error.issues));
  const input: FailoverDrillInput = parsed.data;
  const cluster = config.clusters.find((c) => c.name === input.cluster);
  if (!cluster) {
    throw new InvalidInputError([`cluster: unknown cluster "${input.cluster}" (known: ${config.clusters.map((c) => c.name).join(', ')})`]);
  }
  if (input.scenario === 'partition-storage' && storageKindOf(cluster) === undefined) {
    throw new InvalidInputError([
      `scenario: partition-storage needs haLock "dynamodb" or "raft"; cluster ${cluster.name} has haLock "${cluster.haLock.type}", whose storage endpoint the drill cannot cut`,
    ]);
  }
  const alarms = [...new Set(input.stopOnAlarms)];
  return {
    cluster: cluster.name,
    scenario: input.scenario,
    dryRun: input.dryRun || cluster.policy.dryRun,
    dryRunFromPolicy: !input.dryRun && cluster.policy.dryRun,
    maxRtoSeconds: input.maxRtoSeconds,
    stopOnAlarms: alarms,
    restore: input.restore,
    maxSplitBrainSeconds: input.maxSplitBrainSeconds,
  };
}

/** What a storage partition cuts: the DynamoDB backend, or the Raft peers; undefined when the storage is not known. */
export function storageKindOf(cluster: ClusterConfig): 'dynamodb' | 'raft' | undefined {
  const t = cluster.haLock.type;
  return t === 'dynamodb' || t === 'raft' ? t : undefined;
}

/* ------------------------------------------------------------------ budgets */

export interface ObserveBudget {
  /** Seconds between two observations (the Wait state's SecondsPath; 0 when the observe task probes clients itself for probeWindowMs). */
  intervalSeconds: number;
  /** The stop condition "no new active within maxRtoSeconds × 2": observation ends this long after the injection. */
  boundSeconds: number;
  /** Hard cap on polls, whatever the clock says (every loop is bounded by a counter too). */
  maxPolls: number;
  /** How long each observe task sends probe requests through the listener (0: no listener configured). */
  probeWindowMs: number;
  /** Pause between two probe requests. */
  probeEveryMs: number;
  /** At most this many probe requests per observe task. */
  maxProbesPerPoll: number;
}

export interface PostCheckBudget {
  intervalSeconds: number;
  maxAttempts: number;
}

export interface RestoreBudget {
  intervalSeconds: number;
  maxAttempts: number;
}

/** "No new active within maxRtoSeconds × this" is a stop condition (issue 11). */
export const NO_NEW_ACTIVE_FACTOR = 2;
/** Polls kept in the report (the execution payload is capped at 256 KiB by Step Functions). */
export const MAX_RECORDED_POLLS = 120;
/** Probe requests through the listener: one every 250 ms, as the sandbox's and the benchmark's clients do. */
export const PROBE_EVERY_MS = 250;
/** Longest probing window of one observe task: well inside the task function's 60 s timeout. */
export const MAX_PROBE_WINDOW_SECONDS = 20;

export function observeBudget(maxRtoSeconds: number, opts: { clientProbe?: boolean } = {}): ObserveBudget {
  const boundSeconds = Math.ceil(maxRtoSeconds * NO_NEW_ACTIVE_FACTOR);
  // A few seconds resolves RTO well against the ALB's own 5 s minimum check interval;
  // long bounds poll less often so the poll list stays small.
  const stepSeconds = Math.max(3, Math.ceil(boundSeconds / 100));
  const maxPolls = Math.ceil(boundSeconds / stepSeconds) + 2;
  if (!opts.clientProbe) return { intervalSeconds: stepSeconds, boundSeconds, maxPolls, probeWindowMs: 0, probeEveryMs: PROBE_EVERY_MS, maxProbesPerPoll: 0 };
  // With a listener the observe task itself spends the step probing clients, so
  // the Wait between two observations is 0: client requests cover the whole window.
  const probeWindowMs = Math.min(stepSeconds, MAX_PROBE_WINDOW_SECONDS) * 1000;
  return { intervalSeconds: 0, boundSeconds, maxPolls, probeWindowMs, probeEveryMs: PROBE_EVERY_MS, maxProbesPerPoll: Math.ceil(probeWindowMs / PROBE_EVERY_MS) + 1 };
}

/** The controller needs a tick or two to deregister the old node after the new one is routed. */
export function postCheckBudget(): PostCheckBudget {
  return { intervalSeconds: 5, maxAttempts: 8 };
}

/** Restore: an instance start (minutes), Vault's start and unseal (the PrepareNode document allows 600 s), then the node joining as a standby. */
export function restoreBudget(cluster: Pick<ClusterConfig, 'replacement'>): RestoreBudget {
  const seconds = 300 + 600 + (cluster.replacement?.standbyTimeoutSeconds ?? 600);
  return { intervalSeconds: 5, maxAttempts: Math.ceil(seconds / 5) };
}

/** Lease TTL: the whole drill's waits plus a generous margin; the lease is released explicitly anyway. */
export function drillLeaseTtlMs(observe: ObserveBudget, post: PostCheckBudget, restore?: RestoreBudget): number {
  const observeSeconds = observe.boundSeconds + Math.max(observe.intervalSeconds, observe.probeWindowMs / 1000) * 2;
  const restoreSeconds = restore ? restore.intervalSeconds * restore.maxAttempts : 0;
  return (observeSeconds + restoreSeconds + post.intervalSeconds * post.maxAttempts + 15 * 60) * 1000;
}

/* --------------------------------------------------------------- snapshot */

/** One look at the cluster the way the controller sees it. */
export interface DrillSnapshot {
  nodes: NodeHealth[];
  verdict: { kind: VerdictKind; reasons: string[]; legitimateActive?: string };
  targets: TargetView[];
  /** Slot tag value per member instance (from discovery). */
  slotByInstance: Record<string, string>;
}

/** One observation as recorded in the report. */
export interface DrillPoll {
  at: string;
  verdict: VerdictKind;
  legitimateActive: string | null;
  claimants: string[];
  /** Registered targets (draining ones excluded) with their load balancer health. */
  registered: Array<{ instanceId: string; state: TargetState }>;
  /** Each member's node class at this poll (what the invariant checks read). */
  classes: Record<string, NodeClass>;
}

/** Classes of a node whose Vault is unsealed and alive (it serves or forwards). */
export const UNSEALED_CLASSES: ReadonlySet<NodeClass> = new Set(['active', 'standby', 'perf-standby', 'ha-unhealthy', 'dr-secondary']);
export const UNSEALED_STANDBY: ReadonlySet<NodeClass> = new Set(['standby', 'perf-standby']);

export function pollOf(s: DrillSnapshot, atMs: number): DrillPoll {
  return {
    at: new Date(atMs).toISOString(),
    verdict: s.verdict.kind,
    legitimateActive: s.verdict.legitimateActive ?? null,
    claimants: s.nodes.filter((n) => n.claimsActive).map((n) => n.instanceId),
    registered: s.targets.filter((t) => !t.state.includes('draining')).map((t) => ({ instanceId: t.instanceId, state: t.state })),
    classes: Object.fromEntries(s.nodes.map((n) => [n.instanceId, n.class])),
  };
}

/* --------------------------------------------------------------- pre-check */

/** A stop-condition alarm as CloudWatch DescribeAlarms reports it. */
export interface AlarmState {
  name: string;
  state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  reason?: string;
}

/** The steady state the drill starts from, for the report. */
export interface SteadyState {
  at: string;
  verdict: VerdictKind;
  active: string;
  standbys: string[];
  registered: Array<{ instanceId: string; state: TargetState }>;
  alarms: AlarmState[];
}

export type PreCheck = { kind: 'ok'; oldActive: string; standbys: string[]; steady: SteadyState; warnings: string[] } | { kind: 'refused'; reasons: string[] };

/**
 * A drill only starts from a steady state: otherwise it would measure (or
 * cause) an outage rather than a failover. Steady = the controller's verdict is
 * healthy, its legitimate active is registered and healthy in the load
 * balancer, at least one unsealed standby can take over, and no stop-condition
 * alarm is in ALARM or missing (AWS FIS likewise refuses to start an
 * experiment whose stop-condition alarm is already in ALARM: "Stop conditions
 * for AWS FIS").
 */
export function preCheck(s: DrillSnapshot, scenario: DrillScenario, cluster: ClusterConfig, opts: { nowMs: number; stopOnAlarms?: string[]; alarms?: AlarmState[] } = { nowMs: 0 }): PreCheck {
  const reasons: string[] = [];
  const warnings: string[] = [];
  if (s.verdict.kind !== 'healthy') reasons.push(`verdict is ${s.verdict.kind}, not healthy${s.verdict.reasons.length ? ` (${s.verdict.reasons.join('; ')})` : ''}`);
  const active = s.verdict.legitimateActive;
  if (active === undefined) reasons.push('no legitimate active can be named');
  else {
    const target = s.targets.find((t) => t.instanceId === active);
    if (!target) reasons.push(`the legitimate active ${active} is not registered in the load balancer`);
    else if (target.state !== 'healthy') reasons.push(`the legitimate active ${active} is ${target.state} in the load balancer, not healthy`);
  }
  const standbys = s.nodes.filter((n) => n.instanceId !== active && UNSEALED_STANDBY.has(n.class)).map((n) => n.instanceId);
  if (standbys.length === 0) reasons.push('no unsealed standby could take over');
  if (scenario === 'terminate-active' && active !== undefined && configuredSlot(cluster, s.slotByInstance[active]) === undefined) {
    // Terminating a node nobody can put back would turn a drill into a permanent loss of capacity.
    reasons.push(`terminate-active needs a configured replacement slot for ${active} (its ${cluster.discovery.slotTagKey} tag) so replace-node can restore it`);
  }
  const alarms = opts.alarms ?? [];
  for (const name of opts.stopOnAlarms ?? []) {
    const a = alarms.find((x) => x.name === name);
    if (!a) reasons.push(`stop-condition alarm "${name}" does not exist (a misspelt alarm would never stop the drill)`);
    else if (a.state === 'ALARM') reasons.push(`stop-condition alarm "${name}" is already in ALARM${a.reason ? ` (${a.reason})` : ''}`);
  }
  if (scenario === 'partition-clients' && storageKindOf(cluster) === 'dynamodb' && cluster.policy.fencing !== 'break-lock') {
    // Vault never gives up a lock it keeps renewing (DESIGN §3.4; hashicorp/vault#26580): without
    // break-lock nothing moves leadership off the zombie, so no new active is expected.
    warnings.push(`policy.fencing is "${cluster.policy.fencing}": a zombie leader keeps renewing its lock and only "break-lock" moves leadership off it, so expect no new active (the drill stops at maxRtoSeconds × ${NO_NEW_ACTIVE_FACTOR})`);
  }
  if (reasons.length > 0 || active === undefined) return { kind: 'refused', reasons };
  const steady: SteadyState = {
    at: new Date(opts.nowMs).toISOString(),
    verdict: s.verdict.kind,
    active,
    standbys,
    registered: s.targets.filter((t) => !t.state.includes('draining')).map((t) => ({ instanceId: t.instanceId, state: t.state })),
    alarms: alarms.filter((a) => (opts.stopOnAlarms ?? []).includes(a.name)),
  };
  return { kind: 'ok', oldActive: active, standbys, steady, warnings };
}

/* -------------------------------------------------------------- fault plan */

export type ControlAction = '' | 'step-down' | 'kill' | 'seal' | 'partition-clients' | 'partition-storage';

export interface FaultPlan {
  scenario: DrillScenario;
  cluster: string;
  /** The legitimate active at pre-check: the node the fault hits. */
  oldInstanceId: string;
  /** Its slot name ('' when it carries no slot tag). */
  slot: string;
  kind: 'vault-control' | 'stop-instance' | 'terminate-instance';
  /** VaultHA-VaultControl Action ('' for the EC2 faults). */
  controlAction: ControlAction;
  /** Terminate only: the slot's data volume / interface whose DeleteOnTermination is switched off first ('' when none). */
  keepVolumeId: string;
  keepNetworkInterfaceId: string;
  /** The slot's data volume and its mount point, for the restore's PrepareNode ('' when none). */
  volumeId: string;
  mountPoint: string;
  /** The load balancer (target group ARN or Classic name), for messages. */
  loadBalancer: string;
  /** Network faults: the API port clients use, the cluster port (Raft and request forwarding), what "storage" means. */
  apiPort: number;
  clusterPort: number;
  storage: 'dynamodb' | 'raft' | '';
  /** Network faults heal themselves after this long on the node (a dead man's switch should the restore never run). */
  faultDurationSeconds: number;
  /** One sentence: what will be injected on which instance. */
  description: string;
  standbys: string[];
}

/** Vault's cluster address defaults to the API port + 1 (the `cluster_address` listener default, 8201 for 8200). */
export const CLUSTER_PORT_OFFSET = 1;

export function planFault(args: {
  scenario: DrillScenario;
  cluster: ClusterConfig;
  oldInstanceId: string;
  slot?: string;
  standbys: string[];
  maxRtoSeconds?: number;
}): FaultPlan {
  const { scenario, cluster, oldInstanceId } = args;
  const slot = configuredSlot(cluster, args.slot);
  const lb = cluster.loadBalancer;
  const storage = storageKindOf(cluster) ?? '';
  const apiPort = cluster.vault.port;
  const clusterPort = apiPort + CLUSTER_PORT_OFFSET;
  // Long enough for the whole observation plus the restore to heal it first.
  const faultDurationSeconds = Math.min(86_400, Math.ceil((args.maxRtoSeconds ?? 120) * NO_NEW_ACTIVE_FACTOR) + 900);
  const base = {
    scenario,
    cluster: cluster.name,
    oldInstanceId,
    slot: args.slot ?? '',
    keepVolumeId: '',
    keepNetworkInterfaceId: '',
    volumeId: slot?.dataVolume?.volumeId ?? '',
    mountPoint: slot?.dataVolume?.mountPoint ?? '',
    loadBalancer: lb.type === 'classic' ? lb.loadBalancerName : lb.targetGroupArn,
    apiPort,
    clusterPort,
    storage,
    faultDurationSeconds,
    standbys: args.standbys,
  } as const;
  const control = (controlAction: ControlAction, what: string): FaultPlan => ({
    ...base,
    kind: 'vault-control',
    controlAction,
    description: `${what} on ${oldInstanceId} (VaultHA-VaultControl Action=${controlAction})`,
  });
  switch (scenario) {
    case 'step-down':
      return control('step-down', 'step down Vault');
    case 'kill-active':
      return control('kill', 'kill the Vault process with SIGKILL');
    case 'seal-active':
      return control('seal', 'seal Vault (sys/seal)');
    case 'partition-clients':
      return control('partition-clients', `cut client traffic to the API port ${apiPort} (iptables REJECT; storage and cluster port ${clusterPort} stay reachable: a zombie leader)`);
    case 'partition-storage':
      return control(
        'partition-storage',
        storage === 'raft'
          ? `cut the Raft cluster port ${clusterPort} in both directions (iptables DROP: a leader cut from its peers)`
          : 'cut the Vault process from DynamoDB (iptables DROP of its outbound HTTPS: a stale leader)',
      );
    case 'stop-active-instance':
      return { ...base, kind: 'stop-instance', controlAction: '', description: `stop EC2 instance ${oldInstanceId} (StopInstances)` };
    case 'terminate-active': {
      const keepVolumeId = slot?.dataVolume?.volumeId ?? '';
      const keepNetworkInterfaceId = slot?.networkInterfaceId ?? '';
      const kept = [keepVolumeId, keepNetworkInterfaceId].filter((x) => x !== '');
      return {
        ...base,
        kind: 'terminate-instance',
        controlAction: '',
        keepVolumeId,
        keepNetworkInterfaceId,
        description: `terminate EC2 instance ${oldInstanceId} (TerminateInstances)${kept.length ? `, keeping ${kept.join(' and ')} (DeleteOnTermination=false first)` : ''}`,
      };
    }
  }
}

/** The slot named by a member's slot tag, if it is configured. */
export function configuredSlot(cluster: ClusterConfig, slotName: string | undefined): SlotConfig | undefined {
  return slotName === undefined ? undefined : cluster.replacement?.slots.find((s) => s.name === slotName);
}

/* ------------------------------------------------------------------ phases */

export interface DrillPhase {
  name: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
}

/** Phase keys in execution order, as the state machine marks them (`$.marks.<key>.at`, state `Mark<Key>`). */
export const DRILL_PHASES = [
  ['validate', 'validate'],
  ['lease', 'acquire-lease'],
  ['preCheck', 'pre-check'],
  ['inject', 'inject-fault'],
  ['observe', 'observe-failover'],
  ['restore', 'restore'],
  ['postCheck', 'post-check'],
  ['release', 'release-lease'],
  ['abort', 'abort'],
] as const;

export type DrillMarks = Partial<Record<string, { at?: string } | undefined>>;

/** Phases from the marks: a phase ends where the next recorded one starts, the last one at `endIso`. */
export function drillPhases(marks: DrillMarks, endIso: string): DrillPhase[] {
  const present: Array<{ name: string; startMs: number }> = [];
  for (const [key, name] of DRILL_PHASES) {
    const ms = Date.parse(marks[key]?.at ?? '');
    if (!Number.isNaN(ms)) present.push({ name, startMs: ms });
  }
  present.sort((a, b) => a.startMs - b.startMs);
  const endMs = Date.parse(endIso);
  return present.map((p, i) => {
    const e = present[i + 1]?.startMs ?? Math.max(endMs, p.startMs);
    return { name: p.name, startedAt: new Date(p.startMs).toISOString(), endedAt: new Date(e).toISOString(), durationMs: e - p.startMs };
  });
}

/** RTO in seconds (ms resolution) from the injection to `atIso`. */
export function secondsSince(injectedAt: string, atIso: string): number {
  return Math.max(0, Date.parse(atIso) - Date.parse(injectedAt)) / 1000;
}
