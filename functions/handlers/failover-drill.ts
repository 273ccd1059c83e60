/**
 * Task code of the failover-drill state machine (statemachines/failover-drill.asl.yml):
 * ONE Lambda function, `failoverDrillTasks`, dispatching on `event.action`.
 *
 * Same shape as replace-node: each action reads the world through adapters,
 * asks the pure core (functions/core/drill.ts) what it means, applies at most
 * one fault, and returns small JSON (ids, names, timestamps; never a secret).
 * Waits live in the ASL (Wait → observe → Choice), bounded by a counter and by
 * the clock. The drill injects the fault and watches; routing the new active is
 * the controller's job, so the RTO measured here is the control plane's real one.
 */
import type { ClusterConfig, Config } from '../config/schema.js';
import { acquireLease, putReport, releaseLease } from '../adapters/control-table.js';
import { describeTargets } from '../adapters/target-group.js';
import {
  describeInstance,
  describeInterface,
  keepInterfaceOnTermination,
  keepVolumeOnTermination,
  stopInstance,
  terminateInstance,
} from '../adapters/ec2-replacement.js';
import { DOCUMENT_PARAMETERS, sendDocument } from '../adapters/ssm-run.js';
import { attachmentsToProtect, findCluster, taskErrorOf } from '../core/replacement.js';
import {
  checkDrillInput,
  drillLeaseTtlMs,
  drillPhases,
  drillTimeline,
  judgeDrill,
  observeBudget,
  observeStep,
  planFault,
  pollOf,
  postCheck,
  postCheckBudget,
  preCheck,
  type DrillMarks,
  type DrillReport,
  type DrillScenario,
  type DrillSnapshot,
  type FaultPlan,
  type ObserveBudget,
  type ObserveMark,
  type PostCheck,
  type PostCheckBudget,
} from '../core/drill.js';
import { documentName, observeNodes, OPERATION_LEASE_SCOPE, REPORT_TTL_SECONDS, sharedTaskDeps, stepDownTokenParameter, ENV, type ReplaceNodeDeps } from './replace-node.js';
import { InvalidInputError, RefusedError } from './errors.js';
import { taskHandler, type TaskEvent } from './lib/task-handler.js';

/* ------------------------------------------------------------------ deps */

/** Same dependencies as replace-node's tasks (clients, probe, clock, env, logger). */
export type FailoverDrillDeps = Omit<ReplaceNodeDeps, 'compensationSettleMs' | 'sleep'>;

const defaultDeps = (): FailoverDrillDeps => sharedTaskDeps('failover-drill');

/* ---------------------------------------------------------------- events */

/** What Validate returns into `$.ctx`. Strings are '' rather than absent so Choice states can test them. */
export interface DrillTaskContext {
  cluster: string;
  scenario: DrillScenario;
  dryRun: boolean;
  dryRunFromPolicy: boolean;
  maxRtoSeconds: number;
  executionName: string;
  startedAt: string;
  topicArn: string;
  observe: ObserveBudget;
  postCheck: PostCheckBudget;
}

/** `$.inject`: when the fault went in (the RTO's zero) and what was done. */
export interface Injection {
  injectedAt: string;
  commandId: string;
  protected: string[];
}

export interface PostCheckMark {
  at: string;
  n: number;
  done: boolean;
  check?: PostCheck;
}

type Ev = TaskEvent;

/* -------------------------------------------------------------- handler */

export function makeFailoverDrillHandler(overrides: Partial<FailoverDrillDeps> = {}) {
  const deps: FailoverDrillDeps = { ...defaultDeps(), ...overrides };
  return taskHandler(deps.logger, {
    validate: (e) => validate(deps, e),
    acquireLease: (e) => acquire(deps, e),
    preCheck: (e) => preCheckAction(deps, e),
    inject: (e) => inject(deps, e),
    observe: (e) => observe(deps, e),
    postCheck: (e) => postCheckAction(deps, e),
    finish: (e) => finish(deps, e),
    abort: (e) => abort(deps, e),
  });
}

export const handler = makeFailoverDrillHandler();

/* ---------------------------------------------------------------- helpers */

function ctxOf(event: Ev): DrillTaskContext {
  const ctx = event.ctx as DrillTaskContext | undefined;
  if (!ctx || typeof ctx.cluster !== 'string') throw new InvalidInputError(['ctx: missing task context (state machine and task code out of sync)']);
  return ctx;
}

function planOf(event: Ev): FaultPlan {
  const plan = event.plan as FaultPlan | undefined;
  if (!plan || typeof plan.oldInstanceId !== 'string') throw new InvalidInputError(['plan: missing fault plan (state machine and task code out of sync)']);
  return plan;
}

function injectionOf(event: Ev): Injection {
  const inj = event.inject as Injection | undefined;
  if (!inj || typeof inj.injectedAt !== 'string') throw new InvalidInputError(['inject: missing injection record']);
  return inj;
}

async function clusterOf(deps: FailoverDrillDeps, ctx: DrillTaskContext): Promise<{ config: Config; cluster: ClusterConfig }> {
  const config = await deps.loadConfig();
  return { config, cluster: findCluster(config, ctx.cluster) };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The controller's view plus the ALB's: one snapshot for pre-check, each poll and the post-check. */
async function snapshot(deps: FailoverDrillDeps, cluster: ClusterConfig): Promise<DrillSnapshot> {
  const [observed, targets] = await Promise.all([observeNodes(deps, cluster), describeTargets(deps.clients().elbv2, cluster.loadBalancer.targetGroupArn)]);
  const slotByInstance: Record<string, string> = {};
  for (const m of observed.members) if (m.slot !== undefined) slotByInstance[m.instanceId] = m.slot;
  return {
    nodes: observed.nodes,
    verdict: {
      kind: observed.verdict.kind,
      reasons: observed.verdict.reasons,
      ...(observed.verdict.legitimateActive !== undefined ? { legitimateActive: observed.verdict.legitimateActive } : {}),
    },
    targets,
    slotByInstance,
  };
}

/* ---------------------------------------------------------------- actions */

async function validate(deps: FailoverDrillDeps, event: Ev): Promise<DrillTaskContext> {
  const config = await deps.loadConfig();
  const request = checkDrillInput(event.input, config);
  const executionName = typeof event.executionName === 'string' && event.executionName !== '' ? event.executionName : `local-${deps.nowMs()}`;
  return {
    cluster: request.cluster,
    scenario: request.scenario,
    dryRun: request.dryRun,
    dryRunFromPolicy: request.dryRunFromPolicy,
    maxRtoSeconds: request.maxRtoSeconds,
    executionName,
    startedAt: typeof event.startedAt === 'string' ? event.startedAt : iso(deps.nowMs()),
    topicArn: config.notifications?.topicArn ?? deps.env[ENV.topicArn] ?? '',
    observe: observeBudget(request.maxRtoSeconds),
    postCheck: postCheckBudget(),
  };
}

async function acquire(deps: FailoverDrillDeps, event: Ev): Promise<{ owner: string; expiresAt: string }> {
  const ctx = ctxOf(event);
  const { config, cluster } = await clusterOf(deps, ctx);
  const ttlMs = drillLeaseTtlMs(ctx.observe, ctx.postCheck);
  const nowMs = deps.nowMs();
  // Same scope as replace-node: a drill must not start while a node is being replaced, nor the reverse.
  await acquireLease(deps.clients().ddb, config.controlTable, {
    cluster: cluster.name,
    scope: OPERATION_LEASE_SCOPE,
    owner: ctx.executionName,
    ttlMs,
    nowMs,
    purpose: `failover-drill ${ctx.scenario}`,
  });
  return { owner: ctx.executionName, expiresAt: iso(nowMs + ttlMs) };
}

async function preCheckAction(deps: FailoverDrillDeps, event: Ev): Promise<FaultPlan> {
  const ctx = ctxOf(event);
  const { cluster } = await clusterOf(deps, ctx);
  const s = await snapshot(deps, cluster);
  const decision = preCheck(s, ctx.scenario, cluster);
  if (decision.kind === 'refused') throw new RefusedError(cluster.name, '', decision.reasons, `run drill ${ctx.scenario}`);
  const slot = s.slotByInstance[decision.oldActive];
  const plan = planFault({ scenario: ctx.scenario, cluster, oldInstanceId: decision.oldActive, ...(slot !== undefined ? { slot } : {}), standbys: decision.standbys });
  deps.logger.log('info', 'drill plan', { cluster: cluster.name, fault: plan.description, dryRun: ctx.dryRun });
  return plan;
}

async function inject(deps: FailoverDrillDeps, event: Ev): Promise<Injection> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const { ec2, ssm } = deps.clients();
  const protectedItems: string[] = [];
  let commandId = '';
  if (plan.kind === 'vault-control') {
    const parameters: Record<string, string> =
      plan.controlAction === 'step-down'
        ? // A parameter NAME: the node reads the token itself (invariant 7 applies to tokens too).
          { Action: 'step-down', TokenParameterName: stepDownTokenParameter(deps, ctx.cluster) }
        : { Action: plan.controlAction };
    commandId = await sendDocument(ssm, {
      documentName: documentName(deps, 'vaultControl'),
      instanceId: plan.oldInstanceId,
      parameters,
      allowedParameters: DOCUMENT_PARAMETERS.vaultControl,
      executionTimeoutSeconds: 60,
      comment: `failover-drill ${ctx.executionName} ${plan.controlAction}`,
    });
  } else if (plan.kind === 'stop-instance') {
    await stopInstance(ec2, plan.oldInstanceId);
  } else {
    const old = await describeInstance(ec2, plan.oldInstanceId);
    if (old && old.state !== 'terminated') {
      // Order matters: DeleteOnTermination must be off BEFORE TerminateInstances, or EC2
      // deletes the slot's data volume / interface with the instance and replace-node has nothing to restore.
      const protect = attachmentsToProtect(old, { volumeId: plan.keepVolumeId, networkInterfaceId: plan.keepNetworkInterfaceId });
      if (protect.volumeDevice) {
        await keepVolumeOnTermination(ec2, old.instanceId, protect.volumeDevice);
        protectedItems.push(plan.keepVolumeId);
      }
      if (protect.interfaceAttachment) {
        const eni = await describeInterface(ec2, plan.keepNetworkInterfaceId);
        const attachmentId = eni?.attachment?.attachmentId;
        if (attachmentId) {
          await keepInterfaceOnTermination(ec2, plan.keepNetworkInterfaceId, attachmentId);
          protectedItems.push(plan.keepNetworkInterfaceId);
        }
      }
      await terminateInstance(ec2, old.instanceId);
    }
  }
  // The RTO's zero: the moment the fault request was accepted (an SSM command adds its delivery time to the RTO).
  const injectedAt = iso(deps.nowMs());
  deps.logger.log('info', 'fault injected', { cluster: ctx.cluster, fault: plan.description, commandId, injectedAt });
  return { injectedAt, commandId, protected: protectedItems };
}

async function observe(deps: FailoverDrillDeps, event: Ev): Promise<ObserveMark> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const injection = injectionOf(event);
  const prev = (event.loop ?? {}) as Partial<ObserveMark> & { at?: string };
  const { cluster } = await clusterOf(deps, ctx);
  const s = await snapshot(deps, cluster);
  const nowMs = deps.nowMs();
  return observeStep({ ...prev, at: prev.at ?? iso(nowMs) }, pollOf(s, nowMs), nowMs, { oldInstanceId: plan.oldInstanceId, injectedAt: injection.injectedAt }, ctx.observe);
}

async function postCheckAction(deps: FailoverDrillDeps, event: Ev): Promise<PostCheckMark> {
  const ctx = ctxOf(event);
  const plan = planOf(event);
  const observed = event.observe as Partial<ObserveMark> | undefined;
  const prev = (event.loop ?? {}) as Partial<PostCheckMark>;
  const n = (prev.n ?? 0) + 1;
  const { cluster } = await clusterOf(deps, ctx);
  const at = prev.at ?? iso(deps.nowMs());
  if (observed?.outcome !== 'failed-over') {
    // Nothing took over: there is no new state to check; the report says why the drill failed.
    return { at, n, done: true };
  }
  const s = await snapshot(deps, cluster);
  const check = postCheck(s, plan, observed.newActive ?? '', cluster.unseal.mode);
  return { at, n, done: check.ok || n >= ctx.postCheck.maxAttempts, check };
}

/* ------------------------------------------------------------- finishing */

interface FinishResult {
  report: DrillReport;
  subject: string;
  /** Drill ran but did not pass: the ASL fails the execution with `errorName` and the report as Cause. */
  failed: boolean;
  errorName: string;
  cause: string;
}

function causeOf(report: DrillReport): string {
  let cause = JSON.stringify(report);
  // Step Functions caps a Fail state's Cause at 32 KiB: drop the poll list first.
  if (cause.length > 32_000) cause = JSON.stringify({ ...report, verdicts: report.verdicts.slice(-10) }).slice(0, 32_000);
  return cause;
}

async function releaseOrWarn(deps: FailoverDrillDeps, table: string, ctx: DrillTaskContext, warnings: string[]): Promise<boolean> {
  try {
    // Conditional on our owner: a no-op when we never held it (failure before acquisition).
    await releaseLease(deps.clients().ddb, table, { cluster: ctx.cluster, scope: OPERATION_LEASE_SCOPE, owner: ctx.executionName });
    return true;
  } catch (e) {
    warnings.push(`lease not released (${(e as Error).name}); it expires by itself`);
    return false;
  }
}

/** Best effort: the execution output is the authoritative report; the table copy serves history queries. */
async function keepReport(deps: FailoverDrillDeps, table: string, report: DrillReport): Promise<void> {
  try {
    await putReport(deps.clients().ddb, table, report.cluster, 'drill', report.executionName, report, REPORT_TTL_SECONDS, deps.nowMs());
  } catch (e) {
    report.warnings.push(`report not stored in the control table (${(e as Error).name})`);
  }
}

/** Releases the lease, judges the drill and builds the report (passed, failed, dry run). */
async function finish(deps: FailoverDrillDeps, event: Ev): Promise<FinishResult> {
  const state = (event.state ?? {}) as Record<string, unknown>;
  const ctx = ctxOf(state);
  const plan = planOf(state);
  const { config, cluster } = await clusterOf(deps, ctx);
  const marks = (state.marks ?? {}) as DrillMarks & { observe?: ObserveMark; postCheck?: PostCheckMark };
  const warnings: string[] = [];
  if (ctx.dryRunFromPolicy) warnings.push(`dry run because policy.dryRun is set for cluster ${cluster.name}`);
  await releaseOrWarn(deps, config.controlTable, ctx, warnings);
  const finishedAt = iso(deps.nowMs());
  const phases = drillPhases(marks, finishedAt);
  const base = {
    kind: 'failover-drill' as const,
    cluster: ctx.cluster,
    scenario: ctx.scenario,
    executionName: ctx.executionName,
    oldActive: plan.oldInstanceId,
    maxRtoSeconds: ctx.maxRtoSeconds,
    startedAt: ctx.startedAt,
    finishedAt,
    phases,
    warnings,
  };
  if (ctx.dryRun) {
    const report: DrillReport = {
      ...base,
      result: 'dry-run',
      outcome: `dry run: would ${plan.description}; nothing was injected`,
      newActive: null,
      rtoSeconds: null,
      injected: null,
      plannedFault: plan.description,
      timeline: drillTimeline({ marks, polls: [], finishedAt }),
      verdicts: [],
    };
    await keepReport(deps, config.controlTable, report);
    return { report, subject: `[vault-ha] ${ctx.cluster}: failover-drill ${ctx.scenario} dry run`.slice(0, 100), failed: false, errorName: '', cause: '' };
  }
  const injection = injectionOf(state);
  const obs = marks.observe;
  if (!obs) throw new InvalidInputError(['marks.observe: missing observation (state machine and task code out of sync)']);
  const post = marks.postCheck?.check;
  const verdict = judgeDrill({ plan, observe: obs, injectedAt: injection.injectedAt, maxRtoSeconds: ctx.maxRtoSeconds, ...(post ? { post } : {}) });
  if (obs.droppedPolls > 0) warnings.push(`${obs.droppedPolls} polls left out of the report (payload bound)`);
  if (injection.protected.length) warnings.push(`kept on termination (DeleteOnTermination=false): ${injection.protected.join(', ')}`);
  const report: DrillReport = {
    ...base,
    result: verdict.result,
    outcome: verdict.outcome,
    newActive: obs.newActive !== '' ? obs.newActive : null,
    rtoSeconds: verdict.rtoSeconds,
    injected: plan.description,
    timeline: drillTimeline({
      marks,
      polls: obs.polls,
      plan,
      injectedAt: injection.injectedAt,
      ...(obs.routedAt !== '' ? { routedAt: obs.routedAt, newActive: obs.newActive } : {}),
      finishedAt,
      ...(post ? { extra: [{ at: marks.postCheck?.at ?? finishedAt, event: `post-check ${post.ok ? 'passed' : `failed: ${post.reasons.join('; ')}`}; old node ${post.oldNode.instanceId} is ${post.oldNode.class}; next: ${post.nextStep}` }] } : {}),
    }),
    verdicts: obs.polls,
    ...(post ? { postCheck: post } : {}),
  };
  await keepReport(deps, config.controlTable, report);
  deps.logger.log(verdict.result === 'passed' ? 'info' : 'warn', 'drill finished', { cluster: ctx.cluster, scenario: ctx.scenario, result: verdict.result, rtoSeconds: verdict.rtoSeconds });
  const subject = `[vault-ha] ${ctx.cluster}: failover-drill ${ctx.scenario} ${verdict.result.toUpperCase()}${verdict.rtoSeconds !== null ? ` (RTO ${verdict.rtoSeconds} s)` : ''}`.slice(0, 100);
  return { report, subject, failed: verdict.result === 'failed', errorName: verdict.failure ?? '', cause: verdict.result === 'failed' ? causeOf(report) : '' };
}

/** Any failure: release the lease and build a failure report saying whether the fault went in and where things stand. */
async function abort(deps: FailoverDrillDeps, event: Ev): Promise<{ report: DrillReport; subject: string; cause: string }> {
  const state = (event.state ?? {}) as Record<string, unknown>;
  const ctx = ctxOf(state);
  const plan = state.plan as FaultPlan | undefined;
  const injection = state.inject as Injection | undefined;
  const error = taskErrorOf(state.error as { Error?: unknown; Cause?: unknown } | undefined);
  const { config } = await clusterOf(deps, ctx);
  const marks = (state.marks ?? {}) as DrillMarks & { observe?: ObserveMark };
  const warnings: string[] = [];
  await releaseOrWarn(deps, config.controlTable, ctx, warnings);
  if (injection && plan) warnings.push(`the fault was injected (${plan.description}) before the failure: check the cluster (old active ${plan.oldInstanceId})`);
  else if (marks.inject && plan) warnings.push(`the injection step started (${plan.description}) and may have taken effect: check ${plan.oldInstanceId}`);
  const finishedAt = iso(deps.nowMs());
  const polls = marks.observe?.polls ?? [];
  const report: DrillReport = {
    kind: 'failover-drill',
    result: 'failed',
    outcome: `drill ${ctx.scenario} stopped by ${error.name}: ${error.message}`,
    cluster: ctx.cluster,
    scenario: ctx.scenario,
    executionName: ctx.executionName,
    oldActive: plan?.oldInstanceId ?? null,
    newActive: marks.observe?.newActive ? marks.observe.newActive : null,
    rtoSeconds: null,
    maxRtoSeconds: ctx.maxRtoSeconds,
    injected: injection && plan ? plan.description : null,
    startedAt: ctx.startedAt,
    finishedAt,
    timeline: drillTimeline({
      marks,
      polls,
      ...(plan ? { plan } : {}),
      ...(injection ? { injectedAt: injection.injectedAt } : {}),
      finishedAt,
      extra: [{ at: marks.abort?.at ?? finishedAt, event: `failed: ${error.name}` }],
    }),
    phases: drillPhases(marks, finishedAt),
    verdicts: polls,
    error,
    warnings,
  };
  await keepReport(deps, config.controlTable, report);
  deps.logger.log('warn', 'drill aborted', { cluster: ctx.cluster, scenario: ctx.scenario, error: error.name });
  return { report, subject: `[vault-ha] ${ctx.cluster}: failover-drill ${ctx.scenario} FAILED (${error.name})`.slice(0, 100), cause: causeOf(report) };
}
