/**
 * The drill's last tasks: PostCheck (bounded loop), Finish (release the
 * lease, judge, build the report, keep it in the control table, emit the
 * DrillRtoSeconds metric) and Abort (a failure before or during the injection:
 * release, and a failure report saying whether the fault went in).
 */
import { listObservations } from '../../adapters/control-history.js';
import { putReport } from '../../adapters/control-table.js';
import { formatDrillMetric } from '../../adapters/drill-metrics.js';
import { clientEvents, clientReport, causeOf, drillTimeline, invariantReport, judgeDrill, postCheck, type DrillReport, type PostCheck } from '../../core/drill-report.js';
import { compareEffects, effectsSeen, expectedEffects, hypothesis, type ObservedTick } from '../../core/drill-expect.js';
import type { ObserveMark } from '../../core/drill-observe.js';
import type { RestoreMark, RestoreReport } from '../../core/drill-restore.js';
import { drillPhases, NO_NEW_ACTIVE_FACTOR, type DrillMarks } from '../../core/drill.js';
import { taskErrorOf } from '../../core/replacement.js';
import { VERDICT_KINDS } from '../../core/types.js';
import type { ClusterConfig } from '../../config/schema.js';
import { InvalidInputError } from '../errors.js';
import { REPORT_TTL_SECONDS } from '../lib/workflow.js';
import { clusterOf, ctxOf, injectionOf, iso, preOf, releaseOrWarn, snapshot, type DrillTaskContext, type Ev, type FailoverDrillDeps, type Injection, type PreCheckResult } from './context.js';

export interface PostCheckMark {
  at: string;
  n: number;
  done: boolean;
  check?: PostCheck;
}

/** SNS takes messages up to 256 KB: the polls go first when a report is larger. */
function messageOf(report: DrillReport): string {
  const text = JSON.stringify(report);
  return text.length <= 250_000 ? text : JSON.stringify({ ...report, verdicts: report.verdicts.slice(-10) });
}

/** Controller observations read for "seen" (a tick every 5 s over the longest drill is well below this). */
const MAX_OBSERVATIONS = 3_000;

export async function postCheckAction(deps: FailoverDrillDeps, event: Ev): Promise<PostCheckMark> {
  const ctx = ctxOf(event);
  const pre = preOf(event);
  const observed = event.observe as Partial<ObserveMark> | undefined;
  const prev = (event.loop ?? {}) as Partial<PostCheckMark>;
  const n = (prev.n ?? 0) + 1;
  const { cluster } = await clusterOf(deps, ctx);
  const at = prev.at ?? iso(deps.nowMs());
  const s = await snapshot(deps, cluster);
  const check = postCheck(s, pre.plan, observed?.newActive ?? '', pre.restore.nextStep);
  // Without a routed new active there is nothing to wait for: one look says where things stand.
  const settled = check.ok || observed?.routedAt === '' || observed?.routedAt === undefined;
  return { at, n, done: settled || n >= ctx.postCheck.maxAttempts, check };
}

interface FinishResult {
  report: DrillReport;
  subject: string;
  /** The SNS message: the report as JSON (SNS takes up to 256 KB). */
  message: string;
  /** Drill ran but did not pass (or was stopped): the ASL fails the execution with `errorName` and the report as Cause. */
  failed: boolean;
  errorName: string;
  cause: string;
}

/** Best effort: the execution output is the authoritative report; the table copy serves history queries. */
async function keepReport(deps: FailoverDrillDeps, table: string, report: DrillReport): Promise<void> {
  try {
    await putReport(deps.clients().ddb, table, report.cluster, 'drill', report.executionName, report, REPORT_TTL_SECONDS, deps.nowMs());
  } catch (e) {
    report.warnings.push(`report not stored in the control table (${(e as Error).name})`);
  }
}

function stopConditionsOf(ctx: DrillTaskContext): DrillReport['stopConditions'] {
  return { alarms: ctx.stopOnAlarms, maxSplitBrainSeconds: ctx.maxSplitBrainSeconds, twoActivesRouted: true, noNewActiveAfterSeconds: ctx.maxRtoSeconds * NO_NEW_ACTIVE_FACTOR };
}

/** The controller's ticks since the injection, for "seen" (its own verdicts with history, its actions). */
async function controllerTicks(deps: FailoverDrillDeps, table: string, cluster: string, sinceMs: number, warnings: string[]): Promise<ObservedTick[]> {
  try {
    const obs = await listObservations(deps.clients().ddb, table, cluster, { sinceMs, limit: MAX_OBSERVATIONS, newestFirst: false });
    return obs.map((o) => {
      const r = o.report as { verdict?: { kind?: string }; mutations?: ObservedTick['mutations']; fencing?: ObservedTick['fencing']; takeover?: ObservedTick['takeover'] };
      return { atMs: o.atMs, ...(r.verdict?.kind ? { verdict: r.verdict.kind } : {}), ...(r.mutations ? { mutations: r.mutations } : {}), ...(r.fencing ? { fencing: r.fencing } : {}), ...(r.takeover ? { takeover: r.takeover } : {}) };
    });
  } catch (e) {
    warnings.push(`controller observations not read (${(e as Error).name}): "seen" relies on the drill's own polls`);
    return [];
  }
}

function restoreReportOf(pre: PreCheckResult, mark: RestoreMark | undefined, restoreError: { Error?: unknown; Cause?: unknown } | undefined): RestoreReport {
  const plan = pre.restore;
  if (plan.skipped) {
    return { status: 'skipped', description: plan.description, instanceId: plan.instanceId, actions: [], startedAt: null, finishedAt: null, durationSeconds: null, detail: plan.reason, nextStep: plan.nextStep };
  }
  const startedAt = mark?.at ?? null;
  const error = restoreError ? nestedError(taskErrorOf(restoreError)) : undefined;
  const done = mark?.done === true && !error;
  const finishedAt = done ? (mark?.readyAt ?? null) : null;
  const nested = mark?.nestedName;
  return {
    status: done ? 'restored' : 'failed',
    description: plan.description,
    instanceId: mark?.instanceId ?? plan.instanceId,
    actions: mark?.log ?? [],
    startedAt,
    finishedAt,
    durationSeconds: startedAt && finishedAt ? (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 : null,
    detail: error ? `${error.name}: ${error.message}` : (mark?.detail ?? 'the restore never ran'),
    nextStep: done ? null : plan.nextStep,
    ...(nested ? { nestedExecution: { name: nested, status: error ? 'FAILED' : mark?.phase === 'nested' ? 'RUNNING' : 'SUCCEEDED', ...(done && mark?.instanceId !== plan.instanceId ? { newInstanceId: mark!.instanceId } : {}) } } : {}),
    ...(error ? { error } : {}),
  };
}

/** A failed `startExecution.sync:2` reports States.TaskFailed with the child's DescribeExecution as Cause: name the child's own error. */
function nestedError(e: { name: string; message: string }): { name: string; message: string } {
  if (e.name !== 'States.TaskFailed' || !e.message.startsWith('{')) return e;
  try {
    const d = JSON.parse(e.message) as { Error?: unknown; Cause?: unknown; Status?: unknown; Name?: unknown };
    const child = typeof d.Error === 'string' ? d.Error : String(d.Status ?? 'FAILED');
    let why = typeof d.Cause === 'string' ? d.Cause : '';
    try {
      const report = JSON.parse(why) as { outcome?: unknown };
      if (typeof report.outcome === 'string') why = report.outcome;
    } catch {
      // the child's Cause is prose
    }
    return { name: child, message: `nested replace-node ${String(d.Name ?? '')} failed: ${why.slice(0, 500)}` };
  } catch {
    return e;
  }
}

/** Releases the lease, judges the drill and builds the report (passed, failed, aborted, dry run). */
export async function finish(deps: FailoverDrillDeps, event: Ev): Promise<FinishResult> {
  const state = (event.state ?? {}) as Record<string, unknown>;
  const ctx = ctxOf(state);
  const pre = preOf(state);
  const plan = pre.plan;
  const { config, cluster } = await clusterOf(deps, ctx);
  const marks = (state.marks ?? {}) as DrillMarks & { observe?: ObserveMark; postCheck?: PostCheckMark; restore?: RestoreMark };
  const warnings: string[] = [...pre.warnings];
  if (ctx.dryRunFromPolicy) warnings.push(`dry run because policy.dryRun is set for cluster ${cluster.name}`);
  const restoreMark = marks.restore;
  const handedOver = restoreMark?.nestedName ? restoreMark.nestedName : '';
  await releaseOrWarn(deps, config.controlTable, ctx, warnings);
  if (handedOver) warnings.push(`the operation lease was handed to the nested replace-node execution ${handedOver}, which releases it`);
  const finishedAt = iso(deps.nowMs());
  const phases = drillPhases(marks, finishedAt);
  const measuresClients = ctx.clientProbeUrl !== '';
  const base = {
    kind: 'failover-drill' as const,
    cluster: ctx.cluster,
    scenario: ctx.scenario,
    executionName: ctx.executionName,
    hypothesis: hypothesis(plan, cluster, { maxRtoSeconds: ctx.maxRtoSeconds, measuresClients, restore: ctx.restore }),
    steadyState: pre.steady,
    oldActive: plan.oldInstanceId,
    maxRtoSeconds: ctx.maxRtoSeconds,
    rtoMeasure: measuresClients ? ('client-visible' as const) : ('routed' as const),
    stopConditions: stopConditionsOf(ctx),
    startedAt: ctx.startedAt,
    finishedAt,
    phases,
    warnings,
  };
  if (!measuresClients) warnings.push('no loadBalancer.listenerUrl configured: the RTO is "routed" (a new active registered and healthy), not what clients saw');

  if (ctx.dryRun) {
    const report: DrillReport = {
      ...base,
      result: 'dry-run',
      passed: null,
      outcome: `dry run: would ${plan.description}, then restore: ${pre.restore.description}; nothing was injected`,
      newActive: null,
      rtoSeconds: null,
      routedRtoSeconds: null,
      clientRtoSeconds: null,
      failedRequests: null,
      clientProbe: null,
      times: null,
      injected: null,
      stop: null,
      invariants: null,
      expectations: compareEffects(expectedEffects(ctx.scenario, cluster), { verdicts: [], actions: [], controllerTicks: 0 }),
      restore: { status: 'skipped', description: pre.restore.description, instanceId: plan.oldInstanceId, actions: [], startedAt: null, finishedAt: null, durationSeconds: null, detail: 'dry run', nextStep: null },
      restored: null,
      plannedFault: plan.description,
      plannedRestore: pre.restore.description,
      timeline: drillTimeline({ marks, polls: [], finishedAt }),
      verdicts: [],
    };
    await keepReport(deps, config.controlTable, report);
    return { report, subject: `[vault-ha] ${ctx.cluster}: failover-drill ${ctx.scenario} dry run`.slice(0, 100), message: messageOf(report), failed: false, errorName: '', cause: '' };
  }

  const injection = injectionOf(state);
  const obs = marks.observe;
  if (!obs || obs.n === undefined || obs.n === 0) {
    if (!state.error) throw new InvalidInputError(['marks.observe: missing observation (state machine and task code out of sync)']);
  }
  const observeError = state.error as { Error?: unknown; Cause?: unknown } | undefined;
  const restore = restoreReportOf(pre, restoreMark, state.restoreError as { Error?: unknown; Cause?: unknown } | undefined);
  const post = marks.postCheck?.check;
  const postError = state.postCheckError as { Error?: unknown; Cause?: unknown } | undefined;
  if (postError) warnings.push(`post-check failed to run (${taskErrorOf(postError).name}): ${taskErrorOf(postError).message}`);
  const polls = obs?.polls ?? [];
  const newActive = obs?.newActive ? obs.newActive : '';
  const injectedAtMs = Date.parse(injection.injectedAt);
  const ticks = await controllerTicks(deps, config.controlTable, cluster.name, injectedAtMs, warnings);
  const expectations = compareEffects(
    expectedEffects(ctx.scenario, cluster),
    effectsSeen({ ticks, polls, registeredBefore: pre.steady.registered.map((r) => r.instanceId), oldInstanceId: plan.oldInstanceId, newActive, injectedAtMs, knownVerdicts: VERDICT_KINDS }),
  );
  for (const row of expectations.rows) if (!row.seen) warnings.push(`expected ${row.kind} ${row.expected} was not seen (${row.why})`);
  if (expectations.unexpectedVerdicts.length > 0) warnings.push(`verdicts the fault should not provoke were seen: ${expectations.unexpectedVerdicts.join(', ')}`);
  if ((obs?.droppedPolls ?? 0) > 0) warnings.push(`${obs?.droppedPolls} polls left out of the report (payload bound)`);
  if (injection.protected.length) warnings.push(`kept on termination (DeleteOnTermination=false): ${injection.protected.join(', ')}`);

  const judged = obs
    ? judgeDrill({
        plan,
        observe: obs,
        injectedAt: injection.injectedAt,
        maxRtoSeconds: ctx.maxRtoSeconds,
        measuresClients,
        ...(post ? { post } : {}),
        restore,
      })
    : undefined;
  const error = observeError ? taskErrorOf(observeError) : undefined;
  const result: DrillReport['result'] = error ? 'failed' : (judged?.result ?? 'failed');
  const outcome = error ? `drill ${ctx.scenario} failed while observing (${error.name}: ${error.message}); restore: ${restore.status}` : (judged?.outcome ?? 'no observation');
  const errorName = error ? error.name : (judged?.failure ?? '');
  const client = obs?.client;
  const report: DrillReport = {
    ...base,
    result,
    passed: error ? null : (judged?.passed ?? null),
    outcome,
    newActive: newActive !== '' ? newActive : null,
    rtoSeconds: judged?.rtoSeconds ?? null,
    routedRtoSeconds: judged?.routedRtoSeconds ?? null,
    clientRtoSeconds: judged?.clientRtoSeconds ?? null,
    failedRequests: client ? client.failed : null,
    clientProbe: clientReport(ctx.clientProbeUrl, client),
    times: judged?.times ?? null,
    injected: plan.description,
    stop: obs?.stop ?? null,
    invariants: obs ? invariantReport(obs.invariants, obs.n) : null,
    expectations,
    restore,
    restored: restore.status === 'restored' ? true : restore.status === 'failed' ? false : null,
    timeline: drillTimeline({
      marks,
      polls,
      plan,
      injectedAt: injection.injectedAt,
      ...(obs?.routedAt ? { routedAt: obs.routedAt, newActive: obs.newActive } : {}),
      finishedAt,
      extra: [
        ...clientEvents(client),
        ...(obs?.stop ? [{ at: obs.stop.at, event: `stopped: ${obs.stop.condition}: ${obs.stop.reason}` }] : []),
        ...(restore.finishedAt ? [{ at: restore.finishedAt, event: `restored: ${restore.detail}` }] : restore.status === 'failed' ? [{ at: finishedAt, event: `restore failed: ${restore.detail}` }] : []),
        ...(post ? [{ at: marks.postCheck?.at ?? finishedAt, event: `post-check ${post.ok ? 'passed' : `failed: ${post.reasons.join('; ')}`}; old node ${post.oldNode.instanceId} is ${post.oldNode.class}; next: ${post.nextStep}` }] : []),
      ],
    }),
    verdicts: polls,
    ...(post ? { postCheck: post } : {}),
    ...(error ? { error } : judged?.failure ? { error: { name: judged.failure, message: judged.outcome } } : {}),
  };
  await keepReport(deps, config.controlTable, report);
  emitMetric(deps, cluster, report);
  deps.logger.log(result === 'passed' ? 'info' : 'warn', 'drill finished', { cluster: ctx.cluster, scenario: ctx.scenario, result, rtoSeconds: report.rtoSeconds, restored: report.restored });
  const rto = report.rtoSeconds !== null ? ` (RTO ${report.rtoSeconds} s)` : '';
  const subject = `[vault-ha] ${ctx.cluster}: failover-drill ${ctx.scenario} ${result.toUpperCase()}${rto}`.slice(0, 100);
  const failed = result !== 'passed';
  return { report, subject, message: messageOf(report), failed, errorName: failed ? errorName || 'DrillFailedError' : '', cause: failed ? causeOf(report) : '' };
}

/** DrillRtoSeconds per scenario (EMF): only a measured RTO is a data point. */
function emitMetric(deps: FailoverDrillDeps, cluster: ClusterConfig, report: DrillReport): void {
  if (report.rtoSeconds === null) return;
  deps.logger.raw(
    formatDrillMetric({
      cluster: cluster.name,
      scenario: report.scenario,
      ...(deps.env['VAULT_HA_STAGE'] ? { stage: deps.env['VAULT_HA_STAGE'] } : {}),
      rtoSeconds: report.rtoSeconds,
      rtoMeasure: report.rtoMeasure,
      routedRtoSeconds: report.routedRtoSeconds,
      clientRtoSeconds: report.clientRtoSeconds,
      failedRequests: report.failedRequests,
      result: report.result,
      executionName: report.executionName,
      timestampMs: deps.nowMs(),
    }),
  );
}

/** A failure before the observation: release the lease and build a failure report saying whether the fault went in and where things stand. */
export async function abort(deps: FailoverDrillDeps, event: Ev): Promise<{ report: DrillReport; subject: string; message: string; cause: string }> {
  const state = (event.state ?? {}) as Record<string, unknown>;
  const ctx = ctxOf(state);
  const pre = state.pre as PreCheckResult | undefined;
  const plan = pre?.plan;
  const injection = state.inject as Injection | undefined;
  const error = taskErrorOf(state.error as { Error?: unknown; Cause?: unknown } | undefined);
  const { config, cluster } = await clusterOf(deps, ctx);
  const marks = (state.marks ?? {}) as DrillMarks & { observe?: ObserveMark };
  const warnings: string[] = [...(pre?.warnings ?? [])];
  await releaseOrWarn(deps, config.controlTable, ctx, warnings);
  if (injection && plan) warnings.push(`the fault was injected (${plan.description}) before the failure: check the cluster (old active ${plan.oldInstanceId})`);
  else if (marks.inject && plan) warnings.push(`the injection step started (${plan.description}) and may have taken effect: check ${plan.oldInstanceId}`);
  const finishedAt = iso(deps.nowMs());
  const polls = marks.observe?.polls ?? [];
  const maybeInjected = Boolean(injection || marks.inject);
  const report: DrillReport = {
    kind: 'failover-drill',
    result: 'failed',
    passed: null,
    outcome: `drill ${ctx.scenario} stopped by ${error.name}: ${error.message}`,
    cluster: ctx.cluster,
    scenario: ctx.scenario,
    executionName: ctx.executionName,
    hypothesis: plan ? hypothesis(plan, cluster, { maxRtoSeconds: ctx.maxRtoSeconds, measuresClients: ctx.clientProbeUrl !== '', restore: ctx.restore }) : '',
    steadyState: pre?.steady ?? null,
    oldActive: plan?.oldInstanceId ?? null,
    newActive: marks.observe?.newActive ? marks.observe.newActive : null,
    rtoSeconds: null,
    rtoMeasure: ctx.clientProbeUrl !== '' ? 'client-visible' : 'routed',
    routedRtoSeconds: null,
    clientRtoSeconds: null,
    failedRequests: null,
    clientProbe: null,
    maxRtoSeconds: ctx.maxRtoSeconds,
    times: null,
    injected: injection && plan ? plan.description : null,
    stopConditions: stopConditionsOf(ctx),
    stop: null,
    invariants: null,
    expectations: null,
    restore: {
      status: 'not-attempted',
      description: pre?.restore.description ?? 'nothing was injected',
      instanceId: plan?.oldInstanceId ?? '',
      actions: [],
      startedAt: null,
      finishedAt: null,
      durationSeconds: null,
      detail: maybeInjected ? 'the drill failed during the injection; restore by hand' : 'nothing was injected',
      nextStep: maybeInjected ? (pre?.restore.nextStep ?? null) : null,
    },
    restored: null,
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
  return { report, subject: `[vault-ha] ${ctx.cluster}: failover-drill ${ctx.scenario} FAILED (${error.name})`.slice(0, 100), message: messageOf(report), cause: causeOf(report) };
}
