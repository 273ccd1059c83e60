/**
 * Pure decisions of the replace-node workflow (DESIGN §4.4–4.5, §5 invariants 5–7).
 *
 * Everything here is a function of its arguments: the task handler reads the
 * world through adapters, hands the snapshot in, and applies what comes out.
 * Time arrives as ISO strings or `nowMs`; nothing here talks to AWS or Vault.
 */
import type { ClusterConfig, Config, ReplaceNodeInput, SlotConfig } from '../config/schema.js';
import { replaceNodeInputSchema } from '../config/schema.js';
import { formatIssues, InvalidInputError } from '../config/errors.js';
import type { InstanceState, NodeClass, NodeHealth, ProbeResult, VerdictKind } from './types.js';
import { HEALTH_STATUS } from './vault-api.js';

/* ------------------------------------------------------------------ input */

/** The execution input after validation against the config. */
export interface ReplaceRequest {
  cluster: string;
  /** Set when the input named the slot; resolved from the instance's slot tag otherwise. */
  slot?: string;
  instanceId?: string;
  reason?: string;
  dryRun: boolean;
  force: boolean;
  /** True when `dryRun` comes from the cluster's `policy.dryRun` rather than the input. */
  dryRunFromPolicy: boolean;
}

/**
 * Validates the execution input and checks it against the configuration.
 * Throws InvalidInputError naming each bad field; reads nothing else.
 */
export function checkReplaceInput(raw: unknown, config: Config): ReplaceRequest {
  const parsed = replaceNodeInputSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(formatIssues(parsed.error.issues));
  const input: ReplaceNodeInput = parsed.data;
  const cluster = config.clusters.find((c) => c.name === input.cluster);
  if (!cluster) {
    throw new InvalidInputError([`cluster: unknown cluster "${input.cluster}" (known: ${config.clusters.map((c) => c.name).join(', ')})`]);
  }
  if (!cluster.replacement) {
    throw new InvalidInputError([`cluster: cluster "${cluster.name}" has no replacement section (launch template and slots)`]);
  }
  if (input.slot !== undefined) findSlot(cluster, input.slot);
  const dryRunFromPolicy = !input.dryRun && cluster.policy.dryRun;
  return {
    cluster: cluster.name,
    ...(input.slot !== undefined ? { slot: input.slot } : {}),
    ...(input.instanceId !== undefined ? { instanceId: input.instanceId } : {}),
    ...(input.reason !== undefined ? { reason: input.reason } : {}),
    dryRun: input.dryRun || cluster.policy.dryRun,
    force: input.force,
    dryRunFromPolicy,
  };
}

export function findCluster(config: Config, name: string): ClusterConfig {
  const cluster = config.clusters.find((c) => c.name === name);
  if (!cluster) throw new InvalidInputError([`cluster: unknown cluster "${name}"`]);
  return cluster;
}

export function findSlot(cluster: ClusterConfig, slotName: string): SlotConfig {
  const slots = cluster.replacement?.slots ?? [];
  const slot = slots.find((s) => s.name === slotName);
  if (!slot) {
    throw new InvalidInputError([
      `slot: unknown slot "${slotName}" in cluster "${cluster.name}" (known: ${slots.map((s) => s.name).join(', ') || 'none'})`,
    ]);
  }
  return slot;
}

/**
 * Maps an `instanceId` input to its slot through the instance's tags. An
 * instance outside the cluster, or without a slot tag naming a configured
 * slot, is a bad input (nothing has been changed yet).
 */
export function slotOfInstance(cluster: ClusterConfig, instanceId: string, tags: Record<string, string> | undefined): SlotConfig {
  if (tags === undefined) throw new InvalidInputError([`instanceId: instance ${instanceId} does not exist`]);
  if (tags[cluster.discovery.tagKey] !== cluster.discovery.tagValue) {
    throw new InvalidInputError([
      `instanceId: instance ${instanceId} is not a member of cluster "${cluster.name}" (tag ${cluster.discovery.tagKey}=${cluster.discovery.tagValue} missing)`,
    ]);
  }
  const slotName = tags[cluster.discovery.slotTagKey];
  if (slotName === undefined) {
    throw new InvalidInputError([`instanceId: instance ${instanceId} has no ${cluster.discovery.slotTagKey} tag naming its slot`]);
  }
  const slot = cluster.replacement?.slots.find((s) => s.name === slotName);
  if (!slot) throw new InvalidInputError([`instanceId: instance ${instanceId} is tagged for slot "${slotName}", which is not configured`]);
  return slot;
}

/* ------------------------------------------------------------ idempotency */

/** FNV-1a 32-bit: a short, stable digest for tokens (no node:crypto in the core). */
export function fnv1a32(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * RunInstances ClientToken for one execution and slot: a retried Launch (task
 * retry, Lambda re-invocation) returns the same instance instead of a second
 * one. EC2 allows at most 64 ASCII characters.
 */
export function launchClientToken(executionName: string, slot: string): string {
  const base = `${slot}-${executionName}`.replace(/[^A-Za-z0-9_-]/g, '-');
  const digest = fnv1a32(`${executionName}\u0000${slot}`);
  return `${base.slice(0, 64 - digest.length - 1)}-${digest}`;
}

/* ------------------------------------------------------------------ waits */

export interface WaitBudget {
  intervalSeconds: number;
  maxAttempts: number;
}

export interface WaitBudgets {
  stepDown: WaitBudget;
  /** Until the data volume (and the slot's interface) are free; force-detach after this budget. */
  released: WaitBudget;
  /** Extra polls after a force-detach before the volume counts as stuck. */
  forceDetachGraceAttempts: number;
  running: WaitBudget;
  attached: WaitBudget;
  ssmOnline: WaitBudget;
  command: WaitBudget;
  standby: WaitBudget;
}

/** Poll intervals: short enough to keep phases tight, long enough to stay far below EC2/SSM API rate limits. */
export const POLL_INTERVAL_SECONDS = {
  stepDown: 5,
  released: 5,
  running: 5,
  attached: 3,
  ssmOnline: 10,
  command: 5,
  standby: 10,
} as const;

/** Fixed bounds for waits the config does not set. */
export const FIXED_WAIT_SECONDS = {
  stepDown: 60,
  running: 300,
  attached: 120,
  ssmOnline: 600,
  /** PrepareNode's own executionTimeout is below this. */
  command: 900,
  forceDetachGrace: 60,
} as const;

/** The SSM executionTimeout given to PrepareNode (seconds). */
export const PREPARE_EXECUTION_TIMEOUT_SECONDS = 600;

const attempts = (totalSeconds: number, intervalSeconds: number): number => Math.max(1, Math.ceil(totalSeconds / intervalSeconds));

export function waitBudgets(replacement: NonNullable<ClusterConfig['replacement']>): WaitBudgets {
  const I = POLL_INTERVAL_SECONDS;
  return {
    stepDown: { intervalSeconds: I.stepDown, maxAttempts: attempts(FIXED_WAIT_SECONDS.stepDown, I.stepDown) },
    released: { intervalSeconds: I.released, maxAttempts: attempts(replacement.volumeDetachTimeoutSeconds, I.released) },
    forceDetachGraceAttempts: attempts(FIXED_WAIT_SECONDS.forceDetachGrace, I.released),
    running: { intervalSeconds: I.running, maxAttempts: attempts(FIXED_WAIT_SECONDS.running, I.running) },
    attached: { intervalSeconds: I.attached, maxAttempts: attempts(FIXED_WAIT_SECONDS.attached, I.attached) },
    ssmOnline: { intervalSeconds: I.ssmOnline, maxAttempts: attempts(FIXED_WAIT_SECONDS.ssmOnline, I.ssmOnline) },
    command: { intervalSeconds: I.command, maxAttempts: attempts(FIXED_WAIT_SECONDS.command, I.command) },
    standby: { intervalSeconds: I.standby, maxAttempts: attempts(replacement.standbyTimeoutSeconds, I.standby) },
  };
}

/** Upper bound of the whole workflow's waits, in seconds (task run time excluded). */
export function totalWaitSeconds(b: WaitBudgets): number {
  const w = (x: WaitBudget): number => x.intervalSeconds * x.maxAttempts;
  return (
    w(b.stepDown) +
    w(b.released) +
    b.forceDetachGraceAttempts * b.released.intervalSeconds +
    w(b.running) +
    w(b.attached) +
    w(b.ssmOnline) +
    w(b.command) +
    w(b.standby)
  );
}

/**
 * The operation lease outlives every bounded wait plus task time, so a live
 * execution never loses it; an execution that dies without releasing it
 * (aborted, or compensation itself failed) frees the cluster when it expires.
 */
export function operationLeaseTtlMs(b: WaitBudgets): number {
  return (totalWaitSeconds(b) + 15 * 60) * 1000;
}

/* -------------------------------------------------------------- inspection */

export interface InstanceView {
  instanceId: string;
  state: InstanceState;
  availabilityZone?: string;
  subnetId?: string;
  privateIp?: string;
  tags: Record<string, string>;
  blockDevices: Array<{ device: string; volumeId: string; deleteOnTermination: boolean }>;
  interfaces: Array<{ networkInterfaceId: string; deviceIndex: number; deleteOnTermination: boolean }>;
}

export interface VolumeView {
  volumeId: string;
  /** creating | available | in-use | deleting | deleted | error */
  state: string;
  availabilityZone: string;
  attachments: Array<{ instanceId: string; state: string; device?: string; deleteOnTermination?: boolean }>;
}

export interface InterfaceView {
  networkInterfaceId: string;
  /** available | in-use | attaching | detaching | associated */
  status: string;
  availabilityZone?: string;
  subnetId?: string;
  attachment?: { instanceId?: string; attachmentId?: string; deviceIndex?: number; status?: string; deleteOnTermination?: boolean };
}

/** Snapshot Inspect takes before deciding anything. */
export interface SlotInspection {
  /** Non-terminated instances carrying the cluster tag and this slot's tag. */
  slotInstances: InstanceView[];
  /** The instance the input named, when it did. */
  namedInstance?: InstanceView;
  volume?: VolumeView;
  networkInterface?: InterfaceView;
  /** Every cluster member, classified. */
  nodes: NodeHealth[];
  verdict: { kind: VerdictKind; legitimateActive?: string; reasons: string[] };
  /** Instance ids currently registered in the target group (any health state but draining). */
  registeredTargets: string[];
  /** The balancer's own target id of a registered instance when it is not the instance id (the IP of an `ip` target). */
  registeredTargetIds?: Record<string, string>;
}

export interface ReplacementPlan {
  cluster: string;
  slot: string;
  availabilityZone: string;
  subnetId: string;
  /** Empty string when the slot keeps no interface (Step Functions Choice states cannot test undefined cheaply). */
  networkInterfaceId: string;
  hasInterface: boolean;
  volumeId: string;
  device: string;
  mountPoint: string;
  hasVolume: boolean;
  oldInstanceId: string;
  oldInstanceState: InstanceState | 'none';
  oldClass: NodeClass | 'none';
  /** Old instance is registered with the balancer (target group or Classic) and must leave it first. */
  deregisterOld: boolean;
  oldAction: 'stop' | 'terminate' | 'none';
  stepDownFirst: boolean;
  /** Which DeregisterOld state runs: ELBv2 DeregisterTargets, or Classic DeregisterInstancesFromLoadBalancer. */
  loadBalancerType: 'target-group' | 'classic';
  /** '' for a Classic Load Balancer. */
  targetGroupArn: string;
  /** The Classic Load Balancer's name; '' for a target group. */
  loadBalancerName: string;
  targetPort: number;
  /** The target id DeregisterOld sends: the old instance id, or its IP in an `ip` target group. */
  deregisterTargetId: string;
  launchTemplateId: string;
  launchTemplateVersion: string;
  clientToken: string;
  unsealMode: 'shamir' | 'auto';
  sharesParameterPrefix: string;
  haType: 'dynamodb' | 'raft' | 'none';
  verdict: VerdictKind;
  legitimateActive: string;
  waits: WaitBudgets;
  /** What the execution will do, in order, one sentence each (the dry-run report). */
  steps: string[];
  warnings: string[];
}

export type PlanDecision = { kind: 'plan'; plan: ReplacementPlan } | { kind: 'refused'; plan: ReplacementPlan; reasons: string[] };

const UNSEALED_STANDBY: ReadonlySet<NodeClass> = new Set(['standby', 'perf-standby']);
const SERVING: ReadonlySet<NodeClass> = new Set(['active', 'standby', 'perf-standby']);

export interface PlanContext {
  cluster: ClusterConfig;
  slot: SlotConfig;
  request: Pick<ReplaceRequest, 'force' | 'instanceId' | 'dryRun'>;
  executionName: string;
}

/**
 * Turns the snapshot into the plan, or into refusals. Refusals protect
 * invariants: a data volume stays in its AZ and on at most one instance (6),
 * the legitimate active is not pulled without `force`, and a healthy cluster is
 * not left without an unsealed standby without `force`.
 */
export function planReplacement(inspection: SlotInspection, ctx: PlanContext): PlanDecision {
  const { cluster, slot } = ctx;
  const replacement = cluster.replacement;
  if (!replacement) throw new InvalidInputError([`cluster: cluster "${cluster.name}" has no replacement section`]);
  const refusals: string[] = [];
  const warnings: string[] = [];

  const live = inspection.slotInstances.filter((i) => i.state !== 'terminated');
  let old: InstanceView | undefined;
  if (ctx.request.instanceId !== undefined) {
    old = inspection.namedInstance ?? live.find((i) => i.instanceId === ctx.request.instanceId);
    const others = live.filter((i) => i.instanceId !== ctx.request.instanceId);
    if (others.length > 0) refusals.push(`slot ${slot.name} also holds ${others.map((i) => i.instanceId).join(', ')}: resolve the duplicate first`);
  } else if (live.length > 1) {
    refusals.push(`slot ${slot.name} holds ${live.length} instances (${live.map((i) => i.instanceId).join(', ')}): resolve the duplicate first`);
  } else {
    old = live[0];
  }
  if (old && old.availabilityZone !== undefined && old.availabilityZone !== slot.availabilityZone) {
    warnings.push(`old instance ${old.instanceId} runs in ${old.availabilityZone}, the slot is in ${slot.availabilityZone}`);
  }

  const oldHealth = old ? inspection.nodes.find((n) => n.instanceId === old.instanceId) : undefined;
  const oldClass: NodeClass | 'none' = old ? (oldHealth?.class ?? 'unknown') : 'none';
  const oldState: InstanceState | 'none' = old ? old.state : 'none';

  // Volume placement (invariant 6).
  const vol = inspection.volume;
  if (slot.dataVolume) {
    if (!vol) refusals.push(`data volume ${slot.dataVolume.volumeId} does not exist`);
    else {
      if (vol.availabilityZone !== slot.availabilityZone) {
        refusals.push(`data volume ${vol.volumeId} is in ${vol.availabilityZone}, the slot is in ${slot.availabilityZone}`);
      }
      if (!['available', 'in-use'].includes(vol.state)) refusals.push(`data volume ${vol.volumeId} is ${vol.state}`);
      for (const a of vol.attachments) {
        if (!old || a.instanceId !== old.instanceId) {
          refusals.push(`data volume ${vol.volumeId} is attached to ${a.instanceId}, which is not the slot's instance`);
        }
      }
    }
  }

  // Interface placement: a primary interface (device index 0) can only be freed
  // by terminating its instance, so `oldInstance: stop` cannot hand it over.
  const eni = inspection.networkInterface;
  if (slot.networkInterfaceId) {
    if (!eni) refusals.push(`network interface ${slot.networkInterfaceId} does not exist`);
    else {
      if (eni.subnetId !== undefined && eni.subnetId !== slot.subnetId) {
        refusals.push(`network interface ${eni.networkInterfaceId} is in ${eni.subnetId}, the slot's subnet is ${slot.subnetId}`);
      }
      const holder = eni.attachment?.instanceId;
      if (holder !== undefined && (!old || holder !== old.instanceId)) {
        refusals.push(`network interface ${eni.networkInterfaceId} is attached to ${holder}, which is not the slot's instance`);
      }
      if (
        holder !== undefined &&
        old &&
        holder === old.instanceId &&
        (eni.attachment?.deviceIndex ?? 0) === 0 &&
        replacement.oldInstance === 'stop' &&
        old.state !== 'terminated' &&
        old.state !== 'shutting-down'
      ) {
        refusals.push(
          `network interface ${eni.networkInterfaceId} is the primary interface of ${old.instanceId}; it is freed only by termination, but replacement.oldInstance is "stop"`,
        );
      }
    }
  }

  // Leadership.
  const isLegitimateActive = old !== undefined && inspection.verdict.legitimateActive === old.instanceId;
  const claimsActive = oldHealth?.claimsActive === true;
  const others = inspection.nodes.filter((n) => !old || n.instanceId !== old.instanceId);
  const otherStandbys = others.filter((n) => UNSEALED_STANDBY.has(n.class));
  let stepDownFirst = false;
  if (isLegitimateActive || (claimsActive && oldState === 'running')) {
    if (!ctx.request.force) {
      refusals.push(`${old?.instanceId} is the ${isLegitimateActive ? 'legitimate ' : ''}active node: set "force": true to step it down and replace it`);
    } else {
      stepDownFirst = oldState === 'running';
      warnings.push(`force: ${old?.instanceId} is the active node and is stepped down first`);
    }
  }
  if (old && SERVING.has(oldClass as NodeClass) && otherStandbys.length === 0) {
    const why = `replacing ${old.instanceId} (${oldClass}) leaves no unsealed standby in cluster ${cluster.name}`;
    if (!ctx.request.force) refusals.push(`${why}: set "force": true to proceed anyway`);
    else warnings.push(`force: ${why}`);
  }
  if (inspection.verdict.kind !== 'healthy') warnings.push(`cluster verdict is ${inspection.verdict.kind}: ${inspection.verdict.reasons.join('; ')}`);

  const oldAction: ReplacementPlan['oldAction'] =
    !old || old.state === 'terminated' || old.state === 'shutting-down'
      ? 'none'
      : replacement.oldInstance === 'stop' && (old.state === 'stopped' || old.state === 'stopping')
        ? 'none'
        : replacement.oldInstance;

  const lb = cluster.loadBalancer;
  // Deregister first on either balancer (DeregisterOld / DeregisterOldClassic):
  // the balancer stops sending new requests to the node before it stops. A
  // Classic Load Balancer would not fail open to a dead last instance, but it
  // keeps routing to a stopping one until UnhealthyThreshold checks fail, and a
  // registered terminated instance lingers until the controller's next tick.
  const deregisterOld = old !== undefined && inspection.registeredTargets.includes(old.instanceId);
  const plan: ReplacementPlan = {
    cluster: cluster.name,
    slot: slot.name,
    availabilityZone: slot.availabilityZone,
    subnetId: slot.subnetId,
    networkInterfaceId: slot.networkInterfaceId ?? '',
    hasInterface: slot.networkInterfaceId !== undefined,
    volumeId: slot.dataVolume?.volumeId ?? '',
    device: slot.dataVolume?.device ?? '',
    mountPoint: slot.dataVolume?.mountPoint ?? '',
    hasVolume: slot.dataVolume !== undefined,
    oldInstanceId: old?.instanceId ?? '',
    oldInstanceState: oldState,
    oldClass,
    deregisterOld,
    oldAction,
    stepDownFirst,
    loadBalancerType: lb.type,
    targetGroupArn: lb.type === 'target-group' ? lb.targetGroupArn : '',
    loadBalancerName: lb.type === 'classic' ? lb.loadBalancerName : '',
    targetPort: (lb.type === 'target-group' ? lb.targetPort : undefined) ?? cluster.vault.port,
    deregisterTargetId: old !== undefined ? (inspection.registeredTargetIds?.[old.instanceId] ?? old.instanceId) : '',
    launchTemplateId: replacement.launchTemplate.id,
    launchTemplateVersion: replacement.launchTemplate.version,
    clientToken: launchClientToken(ctx.executionName, slot.name),
    unsealMode: cluster.unseal.mode,
    sharesParameterPrefix: cluster.unseal.mode === 'shamir' ? cluster.unseal.sharesParameterPrefix : '',
    haType: cluster.haLock.type,
    verdict: inspection.verdict.kind,
    legitimateActive: inspection.verdict.legitimateActive ?? '',
    waits: waitBudgets(replacement),
    steps: [],
    warnings,
  };
  plan.steps = describeSteps(plan, replacement.volumeDetachTimeoutSeconds, replacement.standbyTimeoutSeconds);
  return refusals.length > 0 ? { kind: 'refused', plan, reasons: refusals } : { kind: 'plan', plan };
}

function describeSteps(p: ReplacementPlan, detachTimeoutSeconds: number, standbyTimeoutSeconds: number): string[] {
  const steps: string[] = [];
  if (p.stepDownFirst) steps.push(`step down the active node ${p.oldInstanceId} (VaultHA-VaultControl step-down)`);
  if (p.deregisterOld && p.loadBalancerType === 'classic') {
    steps.push(`deregister ${p.oldInstanceId} from Classic Load Balancer ${p.loadBalancerName}`);
  } else if (p.deregisterOld) {
    const target = p.deregisterTargetId !== p.oldInstanceId ? ` (target ${p.deregisterTargetId})` : '';
    steps.push(`deregister ${p.oldInstanceId}${target} from ${p.targetGroupArn} port ${p.targetPort}`);
  }
  if (p.oldAction !== 'none') steps.push(`${p.oldAction} ${p.oldInstanceId} (${p.oldInstanceState})`);
  else if (p.oldInstanceId !== '') steps.push(`leave ${p.oldInstanceId} as it is (${p.oldInstanceState})`);
  else steps.push(`slot ${p.slot} has no instance: nothing to retire`);
  if (p.hasVolume) {
    steps.push(`wait up to ${detachTimeoutSeconds}s for ${p.volumeId} to become available (force-detach only after that)`);
  }
  if (p.hasInterface) steps.push(`wait for ${p.networkInterfaceId} to become available`);
  steps.push(
    `launch from ${p.launchTemplateId} (${p.launchTemplateVersion}) in ${p.availabilityZone}/${p.subnetId}` +
      (p.hasInterface ? ` with ${p.networkInterfaceId} as primary interface` : '') +
      ` (client token ${p.clientToken})`,
  );
  if (p.hasVolume) steps.push(`attach ${p.volumeId} at ${p.device} and wait until attached`);
  steps.push(
    `wait for the SSM agent, then run VaultHA-PrepareNode (mount ${p.mountPoint || '(no volume)'}, start Vault, ${
      p.unsealMode === 'shamir' ? `unseal from ${p.sharesParameterPrefix} on the node` : 'verify auto-unseal'
    })`,
  );
  steps.push(`wait up to ${standbyTimeoutSeconds}s for /v1/sys/health to report an unsealed standby`);
  steps.push('release the lease, notify, report');
  return steps;
}

/* ----------------------------------------------------- retire and release */

/**
 * Before terminating the old instance, attachments that would be deleted with
 * it must be flipped: a data volume or the slot's interface with
 * DeleteOnTermination=true would vanish with the instance (invariant 6).
 */
export function attachmentsToProtect(
  old: InstanceView,
  plan: Pick<ReplacementPlan, 'volumeId' | 'networkInterfaceId'>,
): { volumeDevice?: string; interfaceAttachment?: boolean } {
  const out: { volumeDevice?: string; interfaceAttachment?: boolean } = {};
  const bd = old.blockDevices.find((b) => b.volumeId === plan.volumeId);
  if (plan.volumeId !== '' && bd && bd.deleteOnTermination) out.volumeDevice = bd.device;
  const ni = old.interfaces.find((i) => i.networkInterfaceId === plan.networkInterfaceId);
  if (plan.networkInterfaceId !== '' && ni && ni.deleteOnTermination) out.interfaceAttachment = true;
  return out;
}

export type ReleaseStep =
  | { kind: 'done' }
  | { kind: 'wait'; why: string }
  | { kind: 'detach'; instanceId: string; why: string }
  | { kind: 'force-detach'; instanceId: string; why: string }
  | { kind: 'stuck'; why: string };

/**
 * One poll of "wait until the data volume is available". A volume attached to
 * a stopped old instance is detached normally (stop does not detach EBS); one
 * that stays attached past the budget is force-detached once — the last
 * resort, since it can lose unflushed writes — and reported; past the grace
 * period after that it is stuck.
 */
export function decideVolumeRelease(args: {
  volume: VolumeView;
  oldInstanceId: string;
  oldInstanceState: InstanceState | 'none';
  attempt: number;
  budget: WaitBudget;
  graceAttempts: number;
  forced: boolean;
}): ReleaseStep {
  const { volume } = args;
  if (volume.state === 'available' && volume.attachments.length === 0) return { kind: 'done' };
  const att = volume.attachments[0];
  if (args.attempt >= args.budget.maxAttempts + args.graceAttempts) {
    return { kind: 'stuck', why: `${volume.volumeId} is still ${att?.state ?? volume.state}${att ? ` on ${att.instanceId}` : ''} after force-detach` };
  }
  if (!att) return { kind: 'wait', why: `${volume.volumeId} is ${volume.state}` };
  if (args.attempt >= args.budget.maxAttempts && !args.forced) {
    return {
      kind: 'force-detach',
      instanceId: att.instanceId,
      why: `${volume.volumeId} still ${att.state} on ${att.instanceId} after ${args.budget.maxAttempts * args.budget.intervalSeconds}s`,
    };
  }
  if (
    att.instanceId === args.oldInstanceId &&
    att.state === 'attached' &&
    (args.oldInstanceState === 'stopped' || args.oldInstanceState === 'terminated')
  ) {
    return { kind: 'detach', instanceId: att.instanceId, why: `${volume.volumeId} stays attached to the stopped ${att.instanceId}` };
  }
  return { kind: 'wait', why: `${volume.volumeId} is ${att.state} on ${att.instanceId}` };
}

export type InterfaceStep = { kind: 'done' } | { kind: 'wait'; why: string } | { kind: 'detach'; attachmentHolder: string; why: string };

/** The slot's interface is free once `available`; a secondary interface on a stopped instance must be detached. */
export function decideInterfaceRelease(eni: InterfaceView, oldInstanceState: InstanceState | 'none'): InterfaceStep {
  if (eni.status === 'available') return { kind: 'done' };
  const a = eni.attachment;
  if (a?.instanceId && (a.deviceIndex ?? 0) > 0 && a.status === 'attached' && oldInstanceState === 'stopped') {
    return { kind: 'detach', attachmentHolder: a.instanceId, why: `${eni.networkInterfaceId} is a secondary interface of the stopped ${a.instanceId}` };
  }
  return { kind: 'wait', why: `${eni.networkInterfaceId} is ${eni.status}${a?.instanceId ? ` on ${a.instanceId}` : ''}` };
}

/* ------------------------------------------------------- command and node */

export type CommandOutcome = 'pending' | 'success' | 'failed';

/** SSM GetCommandInvocation `Status` → what the workflow does next. */
export function commandOutcome(status: string | undefined): CommandOutcome {
  switch (status) {
    case 'Success':
      return 'success';
    case 'Failed':
    case 'Cancelled':
    case 'Cancelling':
    case 'TimedOut':
    case 'Undeliverable':
    case 'Terminated':
    case 'InvalidPlatform':
    case 'AccessDenied':
      return 'failed';
    default:
      return 'pending';
  }
}

export interface StandbyReadiness {
  ready: boolean;
  /** What the node is, in one phrase. */
  detail: string;
  statusCode?: number;
  warning?: string;
}

/**
 * Is the new node an initialized, unsealed standby (DESIGN §3.1)? 429/473 with
 * a body that agrees, `ha_connection_healthy` not false where reported (1.19+),
 * and for Raft a leader it can name (a Raft node that cannot see the leader is
 * not part of the cluster yet). A 200 means the node became the active — only
 * possible when no other active existed — and counts as ready with a warning.
 */
export function standbyReadiness(probe: ProbeResult, haType: 'dynamodb' | 'raft' | 'none'): StandbyReadiness {
  const h = probe.health;
  if (!h.ok) return { ready: false, detail: `health probe failed: ${h.reason}` };
  const body = h.body ?? {};
  const code = h.status;
  const base = { statusCode: code };
  if (body.initialized === false || code === HEALTH_STATUS.notInitialized) return { ...base, ready: false, detail: 'not initialized' };
  if (body.sealed === true || code === HEALTH_STATUS.sealed) return { ...base, ready: false, detail: 'sealed' };
  if (code === HEALTH_STATUS.haUnhealthy || body.ha_connection_healthy === false) {
    return { ...base, ready: false, detail: 'standby without a healthy HA connection to the active' };
  }
  if (code === HEALTH_STATUS.active) {
    return { ...base, ready: true, detail: 'active', warning: 'the replacement came back as the active node (no other active existed)' };
  }
  if (code !== HEALTH_STATUS.standby && code !== HEALTH_STATUS.performanceStandby) {
    return { ...base, ready: false, detail: `unexpected /v1/sys/health status ${code}` };
  }
  const leader = probe.leader;
  const leaderAddress = leader.ok ? leader.body?.leader_address : undefined;
  if (haType === 'raft' && (leaderAddress === undefined || leaderAddress === '')) {
    return { ...base, ready: false, detail: 'unsealed standby that does not see a Raft leader yet' };
  }
  return { ...base, ready: true, detail: code === HEALTH_STATUS.performanceStandby ? 'performance standby' : 'standby' };
}

/* ---------------------------------------------------------- compensation */

export type CompensationAction =
  | { kind: 'detach-volume'; volumeId: string; instanceId: string }
  | { kind: 'terminate-instance'; instanceId: string }
  | { kind: 'tag-instance'; instanceId: string };

export interface CompensationInput {
  onFailure: 'terminate' | 'keep-tagged';
  /** The replacement instance, if one was launched (found by id or client token). */
  newInstance?: { instanceId: string; state: InstanceState };
  volume?: VolumeView;
}

/**
 * What to undo after a failure. The volume must end on exactly one instance or
 * `available` (invariant 6): a half-launched replacement that is terminated has
 * the volume detached first, so it is never deleted with it nor left attaching.
 * With `keep-tagged` the replacement stays (tagged) with the volume on it, for
 * inspection.
 */
export function planCompensation(input: CompensationInput): CompensationAction[] {
  const actions: CompensationAction[] = [];
  const ni = input.newInstance;
  if (!ni || ni.state === 'terminated') return actions;
  if (input.onFailure === 'keep-tagged') {
    actions.push({ kind: 'tag-instance', instanceId: ni.instanceId });
    return actions;
  }
  const att = input.volume?.attachments.find((a) => a.instanceId === ni.instanceId);
  if (input.volume && att && att.state !== 'detached' && att.state !== 'detaching') {
    actions.push({ kind: 'detach-volume', volumeId: input.volume.volumeId, instanceId: ni.instanceId });
  }
  if (ni.state !== 'shutting-down') actions.push({ kind: 'terminate-instance', instanceId: ni.instanceId });
  return actions;
}

/** Where the data volume is, in one phrase an operator can act on. */
export function volumeLocation(volume: VolumeView | undefined, roles: { oldInstanceId?: string; newInstanceId?: string }): string {
  if (!volume) return 'unknown (volume could not be described)';
  const att = volume.attachments[0];
  if (!att) return `${volume.state} in ${volume.availabilityZone}`;
  const role =
    att.instanceId === roles.newInstanceId ? ' (the replacement)' : att.instanceId === roles.oldInstanceId ? ' (the old instance)' : '';
  return `${att.state} to ${att.instanceId}${role}${att.device ? ` at ${att.device}` : ''}`;
}

/* ----------------------------------------------------------------- report */

/** Phase keys in execution order, as the state machine marks them (`$.marks.<key>.at`). */
export const PHASES = [
  ['validate', 'validate'],
  ['lease', 'acquire-lease'],
  ['inspect', 'inspect'],
  ['stepDown', 'step-down-active'],
  ['retireOld', 'retire-old-instance'],
  ['detachVolume', 'wait-volume-available'],
  ['launch', 'launch'],
  ['waitRunning', 'wait-running'],
  ['attachVolume', 'attach-volume'],
  ['waitSsm', 'wait-ssm-online'],
  ['prepareNode', 'prepare-node'],
  ['waitStandby', 'wait-standby'],
  ['release', 'release-lease'],
  ['compensate', 'compensate'],
] as const;

export interface PhaseTiming {
  name: string;
  start: string;
  end: string;
  durationMs: number;
}

export type PhaseMarks = Partial<Record<string, { at?: string } | undefined>>;

/**
 * Phases from the marks the state machine records as each phase starts: a
 * phase ends where the next recorded one starts, the last one at `endIso`.
 */
export function phaseTimeline(marks: PhaseMarks, endIso: string): PhaseTiming[] {
  const present: Array<{ name: string; startMs: number; start: string }> = [];
  for (const [key, name] of PHASES) {
    const at = marks[key]?.at;
    if (at === undefined) continue;
    const ms = Date.parse(at);
    if (Number.isNaN(ms)) continue;
    present.push({ name, startMs: ms, start: new Date(ms).toISOString() });
  }
  present.sort((a, b) => a.startMs - b.startMs);
  const endMs = Date.parse(endIso);
  return present.map((p, i) => {
    const next = present[i + 1];
    const e = next ? next.startMs : Math.max(endMs, p.startMs);
    return { name: p.name, start: p.start, end: new Date(e).toISOString(), durationMs: e - p.startMs };
  });
}

export interface ReplacementReport {
  kind: 'replace-node';
  result: 'replaced' | 'dry-run' | 'failed';
  /** One sentence: what happened and why. */
  outcome: string;
  cluster: string;
  slot?: string;
  executionName: string;
  reason?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  oldInstance?: { instanceId: string; stateBefore: string; classBefore: string; action: string };
  newInstance?: { instanceId: string; state?: string };
  volume?: { volumeId: string; device: string; location: string };
  networkInterface?: { networkInterfaceId: string; reused: boolean };
  phases: PhaseTiming[];
  /** Dry run: what would be done. */
  plan?: string[];
  warnings: string[];
  error?: { name: string; message: string };
  compensation?: string[];
  nextSteps?: string[];
}

export interface SuccessReportInput {
  plan: ReplacementPlan;
  executionName: string;
  reason?: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  marks: PhaseMarks;
  newInstanceId?: string;
  volumeLocation?: string;
  warnings: string[];
}

export function buildSuccessReport(i: SuccessReportInput): ReplacementReport {
  const p = i.plan;
  const phases = phaseTimeline(i.marks, i.finishedAt);
  const durationMs = Math.max(0, Date.parse(i.finishedAt) - Date.parse(i.startedAt));
  const warnings = [...p.warnings, ...i.warnings];
  const common = {
    kind: 'replace-node' as const,
    cluster: p.cluster,
    slot: p.slot,
    executionName: i.executionName,
    ...(i.reason !== undefined ? { reason: i.reason } : {}),
    startedAt: i.startedAt,
    finishedAt: i.finishedAt,
    durationMs,
    ...(p.oldInstanceId !== ''
      ? { oldInstance: { instanceId: p.oldInstanceId, stateBefore: p.oldInstanceState, classBefore: p.oldClass, action: i.dryRun ? 'none (dry run)' : p.oldAction } }
      : {}),
    ...(p.hasInterface ? { networkInterface: { networkInterfaceId: p.networkInterfaceId, reused: !i.dryRun } } : {}),
    phases,
    warnings,
  };
  if (i.dryRun) {
    return {
      ...common,
      result: 'dry-run',
      outcome: `dry run: would replace ${p.oldInstanceId || 'the empty slot'} in slot ${p.slot} of ${p.cluster} in ${p.steps.length} steps; nothing was changed`,
      ...(p.hasVolume ? { volume: { volumeId: p.volumeId, device: p.device, location: i.volumeLocation ?? 'unchanged' } } : {}),
      plan: p.steps,
    };
  }
  return {
    ...common,
    result: 'replaced',
    outcome: `slot ${p.slot} of ${p.cluster} now runs ${i.newInstanceId ?? '(unknown)'} as an unsealed standby${
      p.oldInstanceId ? `, replacing ${p.oldInstanceId}` : ''
    }`,
    ...(i.newInstanceId !== undefined ? { newInstance: { instanceId: i.newInstanceId, state: 'running' } } : {}),
    ...(p.hasVolume ? { volume: { volumeId: p.volumeId, device: p.device, location: i.volumeLocation ?? `attached to ${i.newInstanceId}` } } : {}),
  };
}

export interface FailureReportInput {
  cluster: string;
  slot?: string;
  executionName: string;
  reason?: string;
  startedAt: string;
  finishedAt: string;
  marks: PhaseMarks;
  plan?: ReplacementPlan;
  error: { name: string; message: string };
  newInstance?: { instanceId: string; state: string };
  volume?: VolumeView;
  oldInstance?: { instanceId: string; state: string };
  compensation: string[];
  warnings: string[];
  onFailure: 'terminate' | 'keep-tagged';
  leaseReleased: boolean;
}

/** The failure report: where everything is and what an operator does next. */
export function buildFailureReport(i: FailureReportInput): ReplacementReport {
  const p = i.plan;
  const phases = phaseTimeline(i.marks, i.finishedAt);
  const location = p?.hasVolume
    ? volumeLocation(i.volume, {
        ...(i.oldInstance ? { oldInstanceId: i.oldInstance.instanceId } : {}),
        ...(i.newInstance ? { newInstanceId: i.newInstance.instanceId } : {}),
      })
    : undefined;
  const next: string[] = [];
  const refused = i.error.name === 'RefusedError';
  if (refused) next.push('nothing was changed; address the refusal (or set "force": true) and start a new execution');
  else if (i.error.name === 'LeaseBusyError') next.push('another replacement or drill holds the cluster lease; wait for it to finish');
  else {
    if (i.newInstance && i.newInstance.state !== 'terminated' && i.onFailure === 'keep-tagged') {
      next.push(`inspect ${i.newInstance.instanceId} (tagged vault-ha:failed-replacement), then terminate it before retrying`);
    }
    if (p?.hasVolume && i.volume) {
      const att = i.volume.attachments[0];
      if (!att) next.push(`${p.volumeId} is free: a new execution will pick it up`);
      else if (i.oldInstance && att.instanceId === i.oldInstance.instanceId) {
        next.push(`${p.volumeId} is still on the old instance ${i.oldInstance.instanceId}; start it to roll back, or retry the replacement`);
      } else if (att.state === 'detaching') next.push(`${p.volumeId} is detaching from ${att.instanceId}; check it becomes available`);
    }
    if (i.oldInstance && i.oldInstance.state === 'stopped') next.push(`the old instance ${i.oldInstance.instanceId} is stopped and can be started to roll back`);
    next.push('read the error below, fix its cause, and start a new execution with the same input');
  }
  const slotEmpty =
    !refused &&
    i.error.name !== 'LeaseBusyError' &&
    i.oldInstance !== undefined &&
    ['terminated', 'shutting-down'].includes(i.oldInstance.state) &&
    (i.newInstance === undefined || ['terminated', 'shutting-down'].includes(i.newInstance.state));
  if (slotEmpty) {
    next.unshift(`slot ${i.slot ?? '?'} has no instance now: the cluster is one node short until a replacement succeeds`);
  }
  if (!i.leaseReleased) next.push('the operation lease could not be released; it expires by itself (see the control table)');
  return {
    kind: 'replace-node',
    result: 'failed',
    outcome: refused
      ? `refused to replace slot ${i.slot ?? '?'} of ${i.cluster}: ${i.error.message}`
      : `replacement of slot ${i.slot ?? '?'} of ${i.cluster} failed (${i.error.name})${location ? `; volume ${p?.volumeId} is ${location}` : ''}`,
    cluster: i.cluster,
    ...(i.slot !== undefined ? { slot: i.slot } : {}),
    executionName: i.executionName,
    ...(i.reason !== undefined ? { reason: i.reason } : {}),
    startedAt: i.startedAt,
    finishedAt: i.finishedAt,
    durationMs: Math.max(0, Date.parse(i.finishedAt) - Date.parse(i.startedAt)),
    ...(i.oldInstance && p
      ? { oldInstance: { instanceId: i.oldInstance.instanceId, stateBefore: p.oldInstanceState, classBefore: p.oldClass, action: `now ${i.oldInstance.state}` } }
      : {}),
    ...(i.newInstance ? { newInstance: i.newInstance } : {}),
    ...(p?.hasVolume && location !== undefined ? { volume: { volumeId: p.volumeId, device: p.device, location } } : {}),
    ...(p?.hasInterface ? { networkInterface: { networkInterfaceId: p.networkInterfaceId, reused: i.newInstance !== undefined } } : {}),
    phases,
    warnings: [...(p?.warnings ?? []), ...i.warnings],
    error: i.error,
    compensation: i.compensation,
    nextSteps: next,
  };
}

/**
 * The task error as Step Functions hands it to a Catch: `Cause` is the
 * function's error JSON on AWS (`{"errorType","errorMessage",...}`), a plain
 * message in local interpreters.
 */
export function taskErrorOf(error: { Error?: unknown; Cause?: unknown } | undefined): { name: string; message: string } {
  const name = typeof error?.Error === 'string' ? error.Error : 'UnknownError';
  const cause = typeof error?.Cause === 'string' ? error.Cause : '';
  if (cause.startsWith('{')) {
    try {
      const parsed = JSON.parse(cause) as { errorMessage?: unknown };
      if (typeof parsed.errorMessage === 'string') return { name, message: parsed.errorMessage };
    } catch {
      // not JSON after all: keep the raw text
    }
  }
  return { name, message: cause };
}
