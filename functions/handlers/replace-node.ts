/**
 * Task code of the replace-node state machine (statemachines/replace-node.asl.yml):
 * ONE Lambda function, `replaceNodeTasks`, dispatching on `event.action`.
 *
 * Each action is short and idempotent (Step Functions may run it again after a
 * retry or a lost response): it reads the world through adapters, asks the pure
 * core (functions/core/replacement.ts) what to do, applies it, and returns a
 * small JSON value with ids and names only — never a secret (invariant 7).
 * Waits are NOT done here: the ASL loops Wait → poll action → Choice, and the
 * poll actions count attempts and throw a named error when a wait runs out.
 */
import { putReport, releaseLease } from '../adapters/control-table.js';
import { discoverMembers } from '../adapters/ec2-fleet.js';
import { loadBalancerView } from '../adapters/load-balancer.js';
import {
  attachVolume,
  describeInstance,
  describeInterface,
  describeSlotInstances,
  describeVolume,
  detachInterface,
  detachVolume,
  errorCode,
  FAILED_REPLACEMENT_TAG,
  findInstancesByClientToken,
  isTransientAwsError,
  keepInterfaceOnTermination,
  keepVolumeOnTermination,
  launchReplacement,
  REPLACED_BY_TAG,
  stopInstance,
  tagInstance,
  terminateInstance,
} from '../adapters/ec2-replacement.js';
import { commandInvocation, DOCUMENT_PARAMETERS, sendDocument } from '../adapters/ssm-run.js';
import {
  attachmentsToProtect,
  buildFailureReport,
  buildSuccessReport,
  checkReplaceInput,
  commandOutcome,
  decideInterfaceRelease,
  decideVolumeRelease,
  findCluster,
  findSlot,
  operationLeaseTtlMs,
  planCompensation,
  planReplacement,
  PREPARE_EXECUTION_TIMEOUT_SECONDS,
  slotOfInstance,
  standbyReadiness,
  taskErrorOf,
  volumeLocation,
  waitBudgets,
  type InstanceView,
  type PhaseMarks,
  type ReplacementPlan,
  type ReplacementReport,
  type VolumeView,
} from '../core/replacement.js';
import {
  AttachFailedError,
  InvalidInputError,
  LaunchFailedError,
  NotReadyError,
  RefusedError,
  StandbyTimeoutError,
  StepDownFailedError,
  UnsealFailedError,
  VolumeStuckError,
  InterfaceBusyError,
  WaitTimeoutError,
} from './errors.js';
import { taskHandler, type TaskEvent } from './lib/task-handler.js';
import {
  acquireOperationLease,
  clusterOf,
  documentName,
  ENV,
  iso,
  observeNodes,
  OPERATION_LEASE_SCOPE,
  REPORT_TTL_SECONDS,
  sharedTaskDeps,
  stepDownTokenParameter,
  type ReplaceNodeClients,
  type ReplaceNodeDeps,
} from './lib/workflow.js';

export { documentName, ENV, observeNodes, OPERATION_LEASE_SCOPE, REPORT_TTL_SECONDS, sharedTaskDeps, stepDownTokenParameter };
export type { ReplaceNodeClients, ReplaceNodeDeps };

/* ------------------------------------------------------------------ deps */

const defaultDeps = (): ReplaceNodeDeps => ({
  ...sharedTaskDeps('replace-node'),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  compensationSettleMs: 30_000,
});

/* ---------------------------------------------------------------- events */

/** What Validate returns into `$.ctx`; every later task receives it. Strings are '' rather than absent so Choice states can test them. */
export interface TaskContext {
  cluster: string;
  slot: string;
  instanceId: string;
  reason: string;
  dryRun: boolean;
  dryRunFromPolicy: boolean;
  force: boolean;
  executionName: string;
  startedAt: string;
  topicArn: string;
}

/** Per-phase state the ASL keeps in `$.marks.<phase>`: when the phase started, and for waits the attempt count. */
export interface PhaseMark {
  at: string;
  n?: number;
  done?: boolean;
  forced?: boolean;
  detail?: string;
  warning?: string;
}

type Ev = TaskEvent;

/* -------------------------------------------------------------- handler */

export function makeReplaceNodeHandler(overrides: Partial<ReplaceNodeDeps> = {}) {
  const deps: ReplaceNodeDeps = { ...defaultDeps(), ...overrides };
  return taskHandler(deps.logger, {
    validate: (e) => validate(deps, e),
    acquireLease: (e) => acquire(deps, e),
    inspect: (e) => inspect(deps, e),
    stepDown: (e) => stepDown(deps, e),
    checkStepDown: (e) => checkStepDown(deps, e),
    retireOld: (e) => retireOld(deps, e),
    pollReleased: (e) => pollReleased(deps, e),
    launch: (e) => launch(deps, e),
    attachVolume: (e) => attachDataVolume(deps, e),
    sendPrepare: (e) => sendPrepare(deps, e),
    checkPrepare: (e) => checkPrepare(deps, e),
    checkStandby: (e) => checkStandby(deps, e),
    finish: (e) => finish(deps, e),
    compensate: (e) => compensate(deps, e),
  });
}

export const handler = makeReplaceNodeHandler();

/* ---------------------------------------------------------------- helpers */

function ctxOf(event: Ev): TaskContext {
  const ctx = event.ctx as TaskContext | undefined;
  if (!ctx || typeof ctx.cluster !== 'string') throw new InvalidInputError(['ctx: missing task context (state machine and task code out of sync)']);
  return ctx;
}

function planOf(event: Ev): ReplacementPlan {
  const plan = event.plan as ReplacementPlan | undefined;
  if (!plan || typeof plan.slot !== 'string') throw new InvalidInputError(['plan: missing replacement plan (state machine and task code out of sync)']);
  return plan;
}

function markOf(event: Ev, key = 'loop'): PhaseMark {
  const m = event[key] as PhaseMark | undefined;
  return { at: m?.at ?? new Date(0).toISOString(), n: m?.n ?? 0, ...(m?.forced !== undefined ? { forced: m.forced } : {}) };
}

function newInstanceIdOf(event: Ev): string {
  const launch = event.launch as { instanceId?: string } | undefined;
  if (!launch?.instanceId) throw new InvalidInputError(['launch: missing replacement instance id']);
  return launch.instanceId;
}


/* ---------------------------------------------------------------- actions */

async function validate(deps: ReplaceNodeDeps, event: Ev): Promise<TaskContext> {
  const config = await deps.loadConfig();
  const request = checkReplaceInput(event.input, config);
  let slot = request.slot;
  if (slot === undefined && request.instanceId !== undefined) {
    // Read-only: resolve the slot through the instance's tags so a bad id fails here, at the first state.
    const cluster = findCluster(config, request.cluster);
    const inst = await describeInstance(deps.clients().ec2, request.instanceId);
    slot = slotOfInstance(cluster, request.instanceId, inst?.tags).name;
  }
  const executionName = typeof event.executionName === 'string' && event.executionName !== '' ? event.executionName : `local-${deps.nowMs()}`;
  return {
    cluster: request.cluster,
    slot: slot ?? '',
    instanceId: request.instanceId ?? '',
    reason: request.reason ?? '',
    dryRun: request.dryRun,
    dryRunFromPolicy: request.dryRunFromPolicy,
    force: request.force,
    executionName,
    startedAt: typeof event.startedAt === 'string' ? event.startedAt : iso(deps.nowMs()),
    topicArn: config.notifications?.topicArn ?? deps.env[ENV.topicArn] ?? '',
  };
}

async function acquire(deps: ReplaceNodeDeps, event: Ev): Promise<{ owner: string; expiresAt: string }> {
  const ctx = ctxOf(event);
  const { config, cluster } = await clusterOf(deps, ctx);
  const replacement = cluster.replacement;
  if (!replacement) throw new InvalidInputError([`cluster: cluster "${cluster.name}" has no replacement section`]);
  return acquireOperationLease(deps, config.controlTable, {
    cluster: cluster.name,
    owner: ctx.executionName,
    ttlMs: operationLeaseTtlMs(waitBudgets(replacement)),
    purpose: `replace-node ${ctx.slot}`,
  });
}

async function inspect(deps: ReplaceNodeDeps, event: Ev): Promise<ReplacementPlan> {
  const ctx = ctxOf(event);
  const { cluster } = await clusterOf(deps, ctx);
  const slot = findSlot(cluster, ctx.slot);
  const { ec2, elbv2 } = deps.clients();
  const observing = observeNodes(deps, cluster);
  const [slotInstances, named, volume, networkInterface, targets, observed] = await Promise.all([
    describeSlotInstances(ec2, cluster.discovery, slot.name),
    ctx.instanceId !== '' ? describeInstance(ec2, ctx.instanceId) : Promise.resolve(undefined),
    slot.dataVolume ? describeVolume(ec2, slot.dataVolume.volumeId) : Promise.resolve(undefined),
    slot.networkInterfaceId ? describeInterface(ec2, slot.networkInterfaceId) : Promise.resolve(undefined),
    loadBalancerView(cluster, { elbv2 }).describe(observing.then((o) => o.members)),
    observing,
  ]);
  const decision = planReplacement(
    {
      slotInstances,
      ...(named ? { namedInstance: named } : {}),
      ...(volume ? { volume } : {}),
      ...(networkInterface ? { networkInterface } : {}),
      nodes: observed.nodes,
      verdict: {
        kind: observed.verdict.kind,
        reasons: observed.verdict.reasons,
        ...(observed.verdict.legitimateActive !== undefined ? { legitimateActive: observed.verdict.legitimateActive } : {}),
      },
      registeredTargets: targets.filter((t) => t.state !== 'draining').map((t) => t.instanceId),
      registeredTargetIds: Object.fromEntries(targets.filter((t) => t.state !== 'draining' && t.targetId !== undefined).map((t) => [t.instanceId, t.targetId!])),
    },
    { cluster, slot, request: { force: ctx.force, dryRun: ctx.dryRun, ...(ctx.instanceId !== '' ? { instanceId: ctx.instanceId } : {}) }, executionName: ctx.executionName },
  );
  if (ctx.dryRunFromPolicy) decision.plan.warnings.push(`dry run because policy.dryRun is set for cluster ${cluster.name}`);
  if (decision.kind === 'refused') throw new RefusedError(cluster.name, slot.name, decision.reasons);
  deps.logger.log('info', 'plan', { cluster: cluster.name, slot: slot.name, steps: decision.plan.steps });
  return decision.plan;
}

async function stepDown(deps: ReplaceNodeDeps, event: Ev): Promise<{ commandId: string; instanceId: string }> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const tokenParameter = stepDownTokenParameter(deps, ctx.cluster);
  const commandId = await sendDocument(deps.clients().ssm, {
    documentName: documentName(deps, 'vaultControl'),
    instanceId: plan.oldInstanceId,
    // A parameter NAME: the node reads the token itself (invariant 7 applies to tokens as well).
    parameters: { Action: 'step-down', TokenParameterName: tokenParameter },
    allowedParameters: DOCUMENT_PARAMETERS.vaultControl,
    executionTimeoutSeconds: 60,
    comment: `replace-node ${ctx.executionName} step-down`,
  });
  return { commandId, instanceId: plan.oldInstanceId };
}

async function checkStepDown(deps: ReplaceNodeDeps, event: Ev): Promise<PhaseMark> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const mark = markOf(event);
  const n = (mark.n ?? 0) + 1;
  const cmd = event.stepDown as { commandId?: string } | undefined;
  if (!cmd?.commandId) throw new InvalidInputError(['stepDown: missing command id']);
  const inv = await commandInvocation(deps.clients().ssm, cmd.commandId, plan.oldInstanceId);
  if (!inv) throw new NotReadyError(`command ${cmd.commandId}`, 'invocation not visible yet');
  const outcome = commandOutcome(inv.status);
  if (outcome === 'failed') throw new StepDownFailedError(plan.oldInstanceId, `VaultControl step-down ended ${inv.status}: ${inv.outputTail}`);
  if (outcome === 'success') {
    const { cluster } = await clusterOf(deps, ctx);
    const observed = await observeNodes(deps, cluster);
    const old = observed.nodes.find((x) => x.instanceId === plan.oldInstanceId);
    if (!old?.claimsActive) return { at: mark.at, n, done: true, detail: `${plan.oldInstanceId} is ${old?.class ?? 'gone'}` };
  }
  if (n >= plan.waits.stepDown.maxAttempts) {
    throw new WaitTimeoutError('step-down', `${plan.oldInstanceId} still claims active after ${n} checks`);
  }
  return { at: mark.at, n, done: false, detail: `command ${inv.status}` };
}

async function retireOld(deps: ReplaceNodeDeps, event: Ev): Promise<{ action: string; instanceId: string; protected: string[] }> {
  const plan = planOf(event);
  const { ec2 } = deps.clients();
  const old = await describeInstance(ec2, plan.oldInstanceId);
  if (!old || old.state === 'terminated') return { action: 'none', instanceId: plan.oldInstanceId, protected: [] };
  const protectedItems: string[] = [];
  if (plan.oldAction === 'terminate') {
    // Order matters: flip DeleteOnTermination BEFORE terminating, or EC2 deletes the data volume / the slot's interface with the instance.
    const protect = attachmentsToProtect(old, plan);
    if (protect.volumeDevice) {
      await keepVolumeOnTermination(ec2, old.instanceId, protect.volumeDevice);
      protectedItems.push(plan.volumeId);
    }
    if (protect.interfaceAttachment) {
      const eni = await describeInterface(ec2, plan.networkInterfaceId);
      const attachmentId = eni?.attachment?.attachmentId;
      if (attachmentId) {
        await keepInterfaceOnTermination(ec2, plan.networkInterfaceId, attachmentId);
        protectedItems.push(plan.networkInterfaceId);
      }
    }
    await terminateInstance(ec2, old.instanceId);
  } else if (plan.oldAction === 'stop') {
    await stopInstance(ec2, old.instanceId);
  }
  return { action: plan.oldAction, instanceId: old.instanceId, protected: protectedItems };
}

async function pollReleased(deps: ReplaceNodeDeps, event: Ev): Promise<PhaseMark> {
  const plan = planOf(event);
  const mark = markOf(event);
  const n = (mark.n ?? 0) + 1;
  let forced = mark.forced === true;
  // The force-detach warning must survive later polls: it ends up in the report.
  let warning = (event.loop as PhaseMark | undefined)?.warning;
  const { ec2 } = deps.clients();
  const old = plan.oldInstanceId !== '' ? await describeInstance(ec2, plan.oldInstanceId) : undefined;
  const oldState = old?.state ?? (plan.oldInstanceId !== '' ? 'terminated' : 'none');
  const details: string[] = [];
  let volumeDone = true;
  if (plan.hasVolume) {
    const volume = await describeVolume(ec2, plan.volumeId);
    if (!volume) throw new VolumeStuckError(plan.volumeId, 'the volume no longer exists');
    const step = decideVolumeRelease({
      volume,
      oldInstanceId: plan.oldInstanceId,
      oldInstanceState: oldState,
      attempt: n,
      budget: plan.waits.released,
      graceAttempts: plan.waits.forceDetachGraceAttempts,
      forced,
    });
    volumeDone = step.kind === 'done';
    if (step.kind === 'stuck') throw new VolumeStuckError(plan.volumeId, step.why);
    if (step.kind === 'detach') await detachVolume(ec2, plan.volumeId, step.instanceId, false);
    if (step.kind === 'force-detach') {
      await detachVolume(ec2, plan.volumeId, step.instanceId, true);
      forced = true;
      warning = `force-detached ${plan.volumeId} from ${step.instanceId}: ${step.why}`;
      deps.logger.log('warn', 'force detach', { volumeId: plan.volumeId, instanceId: step.instanceId });
    }
    details.push(step.kind === 'done' ? `${plan.volumeId} available` : step.why);
  }
  let eniDone = true;
  if (plan.hasInterface) {
    const eni = await describeInterface(ec2, plan.networkInterfaceId);
    if (!eni) throw new InterfaceBusyError(plan.networkInterfaceId, 'the interface no longer exists');
    const step = decideInterfaceRelease(eni, oldState);
    eniDone = step.kind === 'done';
    if (step.kind === 'detach' && eni.attachment?.attachmentId) await detachInterface(ec2, eni.attachment.attachmentId);
    if (!eniDone && n >= plan.waits.released.maxAttempts + plan.waits.forceDetachGraceAttempts) {
      throw new InterfaceBusyError(plan.networkInterfaceId, step.kind === 'done' ? '' : step.why);
    }
    details.push(step.kind === 'done' ? `${plan.networkInterfaceId} available` : step.why);
  }
  return {
    at: mark.at,
    n,
    forced,
    done: volumeDone && eniDone,
    detail: details.join('; '),
    ...(warning ? { warning } : {}),
  };
}


async function launch(deps: ReplaceNodeDeps, event: Ev): Promise<{ instanceId: string; clientToken: string }> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const { cluster } = await clusterOf(deps, ctx);
  try {
    const res = await launchReplacement(deps.clients().ec2, {
      launchTemplateId: plan.launchTemplateId,
      launchTemplateVersion: plan.launchTemplateVersion,
      availabilityZone: plan.availabilityZone,
      subnetId: plan.subnetId,
      ...(plan.hasInterface ? { networkInterfaceId: plan.networkInterfaceId } : {}),
      clientToken: plan.clientToken,
      tags: {
        [cluster.discovery.tagKey]: cluster.discovery.tagValue,
        [cluster.discovery.slotTagKey]: plan.slot,
        [REPLACED_BY_TAG]: ctx.executionName,
        Name: `${cluster.name}-${plan.slot}`,
      },
    });
    return { instanceId: res.instanceId, clientToken: plan.clientToken };
  } catch (e) {
    if (isTransientAwsError(e)) throw e;
    const code = errorCode(e);
    throw new LaunchFailedError(plan.slot, `${code || 'Error'}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * AttachVolume runs here rather than as a Step Functions SDK integration: EC2's
 * API model declares no errors, so the integration reports every failure as
 * `Ec2.Ec2Exception` with only EC2's message in `Cause`, and the ASL could not
 * tell VolumeInUse from a throttle or UnauthorizedOperation. Here the code is
 * known: throttling/5xx → AwsTransientError (bounded ASL retry); VolumeInUse
 * with the volume on OUR instance → done (a retried attach whose first call
 * went through); anything else → AttachFailedError (compensation, no retry).
 */
async function attachDataVolume(deps: ReplaceNodeDeps, event: Ev): Promise<{ volumeId: string; instanceId: string; repeated: boolean }> {
  const plan = planOf(event);
  const instanceId = newInstanceIdOf(event);
  const { ec2 } = deps.clients();
  try {
    await attachVolume(ec2, plan.volumeId, instanceId, plan.device);
    return { volumeId: plan.volumeId, instanceId, repeated: false };
  } catch (e) {
    if (isTransientAwsError(e)) throw e;
    const code = errorCode(e);
    if (code === 'VolumeInUse') {
      const volume = await describeVolume(ec2, plan.volumeId);
      const ours = volume?.attachments.find((a) => a.instanceId === instanceId && (a.state === 'attaching' || a.state === 'attached'));
      if (ours) return { volumeId: plan.volumeId, instanceId, repeated: true };
      const where = volume?.attachments.map((a) => `${a.state} to ${a.instanceId}`).join(', ') || 'not visible';
      throw new AttachFailedError(plan.volumeId, instanceId, code, `the volume is ${where}`, { cause: e });
    }
    throw new AttachFailedError(plan.volumeId, instanceId, code || 'Error', (e as Error).message, { cause: e });
  }
}

async function sendPrepare(deps: ReplaceNodeDeps, event: Ev): Promise<{ commandId: string }> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const instanceId = newInstanceIdOf(event);
  const { cluster } = await clusterOf(deps, ctx);
  const commandId = await sendDocument(deps.clients().ssm, {
    documentName: documentName(deps, 'prepareNode'),
    instanceId,
    // Names and paths only: the shares stay in Parameter Store until the node reads them (invariant 7).
    parameters: {
      VolumeId: plan.volumeId,
      MountPoint: plan.mountPoint,
      UnsealMode: plan.unsealMode,
      SharesParameterPrefix: plan.sharesParameterPrefix,
      VaultAddr: `${cluster.vault.scheme}://127.0.0.1:${cluster.vault.port}`,
      // The slot's data volume is reattached, never new: it holds Vault's data and must never be formatted.
      AllowFormat: 'false',
    },
    allowedParameters: DOCUMENT_PARAMETERS.prepareNode,
    executionTimeoutSeconds: PREPARE_EXECUTION_TIMEOUT_SECONDS,
    comment: `replace-node ${ctx.executionName} prepare`,
  });
  return { commandId };
}

async function checkPrepare(deps: ReplaceNodeDeps, event: Ev): Promise<PhaseMark> {
  const plan = planOf(event);
  const instanceId = newInstanceIdOf(event);
  const mark = markOf(event);
  const prepare = event.prepare as { commandId?: string } | undefined;
  if (!prepare?.commandId) throw new InvalidInputError(['prepare: missing command id']);
  const inv = await commandInvocation(deps.clients().ssm, prepare.commandId, instanceId);
  // Not counted as an attempt: SSM has not made the invocation visible yet; the ASL retries with backoff.
  if (!inv) throw new NotReadyError(`command ${prepare.commandId}`, 'invocation not visible yet');
  const n = (mark.n ?? 0) + 1;
  const outcome = commandOutcome(inv.status);
  if (outcome === 'failed') throw new UnsealFailedError(instanceId, prepare.commandId, inv.status, inv.outputTail || inv.statusDetails);
  if (outcome === 'success') return { at: mark.at, n, done: true, detail: 'prepared' };
  if (n >= plan.waits.command.maxAttempts) {
    throw new UnsealFailedError(instanceId, prepare.commandId, 'TimedOut', `still ${inv.status} after ${n * plan.waits.command.intervalSeconds}s`);
  }
  return { at: mark.at, n, done: false, detail: inv.status };
}

async function checkStandby(deps: ReplaceNodeDeps, event: Ev): Promise<PhaseMark> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const instanceId = newInstanceIdOf(event);
  const mark = markOf(event);
  const n = (mark.n ?? 0) + 1;
  const { cluster } = await clusterOf(deps, ctx);
  const members = await discoverMembers(deps.clients().ec2, cluster);
  const member = members.find((m) => m.instanceId === instanceId);
  let detail = 'no address yet';
  let warning: string | undefined;
  if (member?.address) {
    const probe = await deps.probe(member.address, cluster);
    const r = standbyReadiness(probe, plan.haType);
    detail = r.detail;
    warning = r.warning;
    if (r.ready) return { at: mark.at, n, done: true, detail, ...(warning ? { warning } : {}) };
  } else if (!member) detail = 'not discovered by its tags';
  if (n >= plan.waits.standby.maxAttempts) {
    throw new StandbyTimeoutError(instanceId, detail, plan.waits.standby.maxAttempts * plan.waits.standby.intervalSeconds);
  }
  return { at: mark.at, n, done: false, detail };
}

/* ------------------------------------------------------------ finishing */

interface FinishResult {
  report: ReplacementReport;
  subject: string;
}

/** Releases the lease and builds the report (success and dry run). A release failure is a warning: the lease expires by itself. */
async function finish(deps: ReplaceNodeDeps, event: Ev): Promise<FinishResult> {
  const state = (event.state ?? {}) as Record<string, unknown>;
  const ctx = ctxOf(state);
  const plan = planOf(state);
  const { config } = await clusterOf(deps, ctx);
  const warnings: string[] = [];
  const marks = (state.marks ?? {}) as Record<string, PhaseMark | undefined>;
  for (const m of Object.values(marks)) if (m?.warning) warnings.push(m.warning);
  try {
    await releaseLease(deps.clients().ddb, config.controlTable, { cluster: ctx.cluster, scope: OPERATION_LEASE_SCOPE, owner: ctx.executionName });
  } catch (e) {
    warnings.push(`lease not released (${(e as Error).name}); it expires by itself`);
  }
  const launchId = (state.launch as { instanceId?: string } | undefined)?.instanceId;
  let location: string | undefined;
  if (plan.hasVolume) {
    const vol = await describeVolume(deps.clients().ec2, plan.volumeId).catch(() => undefined);
    location = volumeLocation(vol, { oldInstanceId: plan.oldInstanceId, ...(launchId ? { newInstanceId: launchId } : {}) });
  }
  const report = buildSuccessReport({
    plan,
    executionName: ctx.executionName,
    ...(ctx.reason !== '' ? { reason: ctx.reason } : {}),
    dryRun: ctx.dryRun,
    startedAt: ctx.startedAt,
    finishedAt: iso(deps.nowMs()),
    marks: marks as PhaseMarks,
    ...(launchId ? { newInstanceId: launchId } : {}),
    ...(location !== undefined ? { volumeLocation: location } : {}),
    warnings,
  });
  await keepReport(deps, config.controlTable, report);
  const subject = `[vault-ha] ${ctx.cluster}/${ctx.slot}: ${ctx.dryRun ? 'replace-node dry run' : 'node replaced'}`;
  return { report, subject: subject.slice(0, 100) };
}

/** Best effort: the execution output is the authoritative report; the table copy serves history queries. */
async function keepReport(deps: ReplaceNodeDeps, table: string, report: ReplacementReport): Promise<void> {
  try {
    await putReport(deps.clients().ddb, table, report.cluster, 'replace', report.executionName, report, REPORT_TTL_SECONDS, deps.nowMs());
  } catch (e) {
    report.warnings.push(`report not stored in the control table (${(e as Error).name})`);
  }
}

interface CompensateResult extends FinishResult {
  /** The report as text, for the Fail state's CausePath (Step Functions caps Cause at 32 KiB). */
  cause: string;
}

/**
 * Puts things where the failure report can say they are: the volume on
 * exactly one instance or `available`, a half-launched replacement terminated
 * or tagged, the lease released. Reads the world rather than trusting the
 * state (a lost RunInstances response still left an instance: found by its
 * client token).
 */
async function compensate(deps: ReplaceNodeDeps, event: Ev): Promise<CompensateResult> {
  const state = (event.state ?? {}) as Record<string, unknown>;
  const ctx = ctxOf(state);
  const plan = state.plan as ReplacementPlan | undefined;
  const error = taskErrorOf(state.error as { Error?: unknown; Cause?: unknown } | undefined);
  const { config, cluster } = await clusterOf(deps, ctx);
  const onFailure = cluster.replacement?.onFailure ?? 'terminate';
  const { ec2, ddb } = deps.clients();
  const marks = (state.marks ?? {}) as Record<string, PhaseMark | undefined>;
  const warnings: string[] = [];
  for (const m of Object.values(marks)) if (m?.warning) warnings.push(m.warning);
  const done: string[] = [];

  let newInstance: InstanceView | undefined;
  const launchedId = (state.launch as { instanceId?: string } | undefined)?.instanceId;
  if (launchedId) newInstance = await describeInstance(ec2, launchedId);
  else if (plan && marks.launch) {
    const found = await findInstancesByClientToken(ec2, plan.clientToken);
    newInstance = found.find((i) => i.state !== 'terminated') ?? found[0];
    if (newInstance) done.push(`found replacement ${newInstance.instanceId} by its client token`);
  }

  let volume: VolumeView | undefined = plan?.hasVolume ? await describeVolume(ec2, plan.volumeId) : undefined;
  const actions = planCompensation({
    onFailure,
    ...(newInstance ? { newInstance: { instanceId: newInstance.instanceId, state: newInstance.state } } : {}),
    ...(volume ? { volume } : {}),
  });
  for (const a of actions) {
    if (a.kind === 'detach-volume') {
      await detachVolume(ec2, a.volumeId, a.instanceId, false);
      done.push(`detached ${a.volumeId} from ${a.instanceId}`);
    } else if (a.kind === 'terminate-instance') {
      await terminateInstance(ec2, a.instanceId);
      done.push(`terminated replacement ${a.instanceId}`);
    } else {
      await tagInstance(ec2, a.instanceId, { [FAILED_REPLACEMENT_TAG]: ctx.executionName });
      done.push(`tagged replacement ${a.instanceId} ${FAILED_REPLACEMENT_TAG}=${ctx.executionName} and left it for inspection`);
    }
  }

  // Let a detach we just issued settle (bounded) so the report names a final place, not "detaching".
  if (plan?.hasVolume && actions.some((a) => a.kind === 'detach-volume')) {
    const deadline = deps.nowMs() + deps.compensationSettleMs;
    for (let i = 0; i < 30; i += 1) {
      volume = await describeVolume(ec2, plan.volumeId);
      if (!volume || volume.attachments.length === 0 || deps.nowMs() >= deadline) break;
      await deps.sleep(2_000);
    }
  }
  if (newInstance) newInstance = (await describeInstance(ec2, newInstance.instanceId)) ?? newInstance;
  const oldNow = plan && plan.oldInstanceId !== '' ? await describeInstance(ec2, plan.oldInstanceId) : undefined;

  let leaseReleased = false;
  try {
    // Conditional on our owner: answers false when we never held it (failure before acquisition), which is fine.
    await releaseLease(ddb, config.controlTable, { cluster: ctx.cluster, scope: OPERATION_LEASE_SCOPE, owner: ctx.executionName });
    leaseReleased = true;
  } catch (e) {
    warnings.push(`lease not released (${(e as Error).name}); it expires by itself`);
  }

  const report = buildFailureReport({
    cluster: ctx.cluster,
    ...(ctx.slot !== '' ? { slot: ctx.slot } : {}),
    executionName: ctx.executionName,
    ...(ctx.reason !== '' ? { reason: ctx.reason } : {}),
    startedAt: ctx.startedAt,
    finishedAt: iso(deps.nowMs()),
    marks: marks as PhaseMarks,
    ...(plan ? { plan } : {}),
    error,
    ...(newInstance ? { newInstance: { instanceId: newInstance.instanceId, state: newInstance.state } } : {}),
    ...(volume ? { volume } : {}),
    ...(oldNow ? { oldInstance: { instanceId: oldNow.instanceId, state: oldNow.state } } : plan && plan.oldInstanceId !== '' ? { oldInstance: { instanceId: plan.oldInstanceId, state: 'terminated' } } : {}),
    compensation: done,
    warnings,
    onFailure,
    leaseReleased,
  });
  await keepReport(deps, config.controlTable, report);
  deps.logger.log('warn', 'replacement failed', { cluster: ctx.cluster, slot: ctx.slot, error: error.name, volume: report.volume?.location });
  const subject = `[vault-ha] ${ctx.cluster}/${ctx.slot}: replace-node FAILED (${error.name})`.slice(0, 100);
  let cause = JSON.stringify(report);
  if (cause.length > 32_000) cause = JSON.stringify({ ...report, phases: [], warnings: report.warnings.slice(0, 5) }).slice(0, 32_000);
  return { report, subject, cause };
}
