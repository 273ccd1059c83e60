/**
 * The failover drill's post-check, judgement and report (pure).
 *
 * The report is what an auditor reads: the hypothesis, the steady state it
 * started from, what was injected and when (ISO timestamps), the moments of
 * the failover (detection, election, routed, client-visible), the routed and
 * the client-visible RTO with the failed-request count, the invariant checks,
 * the verdicts and actions expected and seen, the stop condition if one fired,
 * the restore, and `passed` against maxRtoSeconds.
 */
import type { ClientTally } from './drill-client.js';
import { clientRtoSeconds } from './drill-client.js';
import type { ExpectationsReport } from './drill-expect.js';
import type { InvariantTally, ObserveMark, StopVerdict } from './drill-observe.js';
import { invariantsHeld } from './drill-observe.js';
import type { RestoreReport } from './drill-restore.js';
import type { DrillPhase, DrillPoll, DrillScenario, DrillSnapshot, FaultPlan, SteadyState } from './drill.js';
import { DRILL_PHASES, secondsSince, UNSEALED_STANDBY, type DrillMarks } from './drill.js';
import type { InstanceState, NodeClass, VerdictKind } from './types.js';

/* -------------------------------------------------------------- post-check */

export interface PostCheck {
  ok: boolean;
  reasons: string[];
  verdict: VerdictKind;
  registeredActives: string[];
  oldNode: { instanceId: string; class: NodeClass | 'gone'; instanceState: InstanceState | 'gone' };
  /** What an operator does next ('none' when the node is back). */
  nextStep: string;
}

/**
 * After the failover (and the restore): the verdict must be healthy and exactly
 * one registered target may claim active (never two; invariant 3). The old
 * node's state is reported with the next step an operator takes.
 */
export function postCheck(s: DrillSnapshot, plan: FaultPlan, newActive: string, restoreNextStep: string): PostCheck {
  const reasons: string[] = [];
  if (s.verdict.kind !== 'healthy') reasons.push(`verdict is ${s.verdict.kind}`);
  const registered = s.targets.filter((t) => !t.state.includes('draining')).map((t) => t.instanceId);
  const claimants = new Set(s.nodes.filter((n) => n.claimsActive).map((n) => n.instanceId));
  const registeredActives = registered.filter((id) => claimants.has(id));
  if (registeredActives.length !== 1) reasons.push(`${registeredActives.length} registered targets claim active (${registeredActives.join(', ') || 'none'})`);
  else if (newActive !== '' && registeredActives[0] !== newActive) reasons.push(`the registered active is ${registeredActives[0]}, not the new active ${newActive}`);
  const old = s.nodes.find((n) => n.instanceId === plan.oldInstanceId);
  const oldNode = { instanceId: plan.oldInstanceId, class: old?.class ?? ('gone' as const), instanceState: old?.instanceState ?? ('gone' as const) };
  const back = oldNode.class !== 'gone' && UNSEALED_STANDBY.has(oldNode.class);
  return { ok: reasons.length === 0, reasons, verdict: s.verdict.kind, registeredActives, oldNode, nextStep: back ? `none: ${plan.oldInstanceId} is an unsealed ${oldNode.class}` : restoreNextStep };
}

/* ---------------------------------------------------------------- timeline */

/** Timeline events: phase starts, the injection, and every change the polls saw (verdict, legitimate active, registrations). */
export function drillTimeline(args: {
  marks: DrillMarks;
  polls: DrillPoll[];
  plan?: FaultPlan;
  injectedAt?: string;
  routedAt?: string;
  newActive?: string;
  finishedAt: string;
  extra?: Array<{ at: string; event: string }>;
}): Array<{ at: string; event: string }> {
  const out: Array<{ at: string; event: string }> = [];
  for (const [key, name] of DRILL_PHASES) {
    const at = args.marks[key]?.at;
    if (at !== undefined && key !== 'inject') out.push({ at, event: `phase ${name} started` });
  }
  if (args.injectedAt && args.plan) out.push({ at: args.injectedAt, event: `fault injected: ${args.plan.description}` });
  let prev: DrillPoll | undefined;
  for (const p of args.polls) {
    const reg = p.registered.map((r) => `${r.instanceId}:${r.state}`).join(',') || 'none';
    const prevReg = prev?.registered.map((r) => `${r.instanceId}:${r.state}`).join(',') || 'none';
    if (!prev || prev.verdict !== p.verdict) out.push({ at: p.at, event: `verdict ${p.verdict}` });
    if (!prev || prev.legitimateActive !== p.legitimateActive) out.push({ at: p.at, event: `legitimate active ${p.legitimateActive ?? 'none'}` });
    if (!prev || prevReg !== reg) out.push({ at: p.at, event: `registered targets ${reg}` });
    prev = p;
  }
  if (args.routedAt && args.newActive) out.push({ at: args.routedAt, event: `new active ${args.newActive} registered and healthy in the target group` });
  for (const e of args.extra ?? []) out.push(e);
  out.push({ at: args.finishedAt, event: 'report built' });
  // Stable sort: events at the same instant keep their causal order above.
  return out.map((e, i) => ({ e, i })).sort((a, b) => Date.parse(a.e.at) - Date.parse(b.e.at) || a.i - b.i).map((x) => x.e);
}

/** Client-probe transitions and the stop, as timeline events. */
export function clientEvents(t: ClientTally | undefined): Array<{ at: string; event: string }> {
  if (!t) return [];
  return t.transitions.map((x) => ({ at: x.at, event: x.ok ? `client requests succeed again (${x.detail})` : `client requests fail (${x.detail})` }));
}

/* ------------------------------------------------------------------ judging */

/** Names the failed execution carries (its Fail state's Error) when the drill ran but did not pass. */
export const DRILL_FAILURES = {
  aborted: 'DrillAbortedError',
  noNewActive: 'NoNewActiveError',
  rtoExceeded: 'RtoExceededError',
  invariant: 'InvariantViolatedError',
  postCheck: 'PostCheckFailedError',
  restore: 'RestoreFailedError',
} as const;
export type DrillFailureName = (typeof DRILL_FAILURES)[keyof typeof DRILL_FAILURES];

export type RtoMeasure = 'client-visible' | 'routed';

export interface DrillTimes {
  injectedAt: string;
  detectedAt: string | null;
  electedAt: string | null;
  routedAt: string | null;
  clientRecoveredAt: string | null;
  /** Seconds from the injection. */
  detectionSeconds: number | null;
  electionSeconds: number | null;
  routedSeconds: number | null;
  clientVisibleSeconds: number | null;
}

export interface DrillJudgement {
  result: 'passed' | 'failed' | 'aborted';
  /** The failover itself met the hypothesis (RTO within maxRtoSeconds, invariants held, post-check ok); null when a stop condition ended it. */
  passed: boolean | null;
  failure?: DrillFailureName;
  outcome: string;
  rtoMeasure: RtoMeasure;
  rtoSeconds: number | null;
  routedRtoSeconds: number | null;
  clientRtoSeconds: number | null;
  times: DrillTimes;
}

export function drillTimes(obs: Pick<ObserveMark, 'detectedAt' | 'electedAt' | 'routedAt' | 'client'>, injectedAt: string): DrillTimes {
  const clientRto = clientRtoSeconds(injectedAt, obs.client);
  // A positive client RTO always comes with its recovery moment.
  const recovered = clientRto === null ? null : clientRto === 0 ? injectedAt : obs.client!.recoveredAt;
  const since = (at: string | null | undefined): number | null => (at ? secondsSince(injectedAt, at) : null);
  return {
    injectedAt,
    detectedAt: obs.detectedAt || null,
    electedAt: obs.electedAt || null,
    routedAt: obs.routedAt || null,
    clientRecoveredAt: recovered,
    detectionSeconds: since(obs.detectedAt),
    electionSeconds: since(obs.electedAt),
    routedSeconds: since(obs.routedAt),
    clientVisibleSeconds: clientRto,
  };
}

/**
 * Judges the drill. A stop condition → `aborted`. Otherwise `passed` needs the
 * RTO within maxRtoSeconds (client-visible when a listener is configured, else
 * routed), the invariants held and the post-check ok; a failed restore makes
 * the result `failed` even when the failover passed (the cluster is left
 * degraded, and the execution must say so).
 */
export function judgeDrill(args: {
  plan: FaultPlan;
  observe: Pick<ObserveMark, 'outcome' | 'newActive' | 'routedAt' | 'n' | 'stop' | 'client' | 'invariants' | 'detectedAt' | 'electedAt'>;
  injectedAt: string;
  maxRtoSeconds: number;
  measuresClients: boolean;
  post?: PostCheck;
  restore?: Pick<RestoreReport, 'status' | 'detail'>;
}): DrillJudgement {
  const { plan, observe, maxRtoSeconds, post } = args;
  const times = drillTimes(observe, args.injectedAt);
  const routedRto = times.routedSeconds;
  const clientRto = args.measuresClients ? times.clientVisibleSeconds : null;
  const rtoMeasure: RtoMeasure = args.measuresClients ? 'client-visible' : 'routed';
  const rto = args.measuresClients ? clientRto : routedRto;
  const base = { rtoMeasure, rtoSeconds: rto, routedRtoSeconds: routedRto, clientRtoSeconds: clientRto, times };
  const restoreFailed = args.restore?.status === 'failed';
  const restoreNote = restoreFailed ? `; the restore failed: ${args.restore!.detail}` : '';

  if (observe.stop) {
    return { ...base, result: 'aborted', passed: null, failure: DRILL_FAILURES.aborted, outcome: `${plan.scenario} on ${plan.oldInstanceId} stopped by ${observe.stop.condition}: ${observe.stop.reason}${restoreNote}` };
  }
  const fail = (failure: DrillFailureName, outcome: string): DrillJudgement => ({ ...base, result: 'failed', passed: false, failure, outcome: `${outcome}${restoreNote}` });
  if (observe.routedAt === '') return fail(DRILL_FAILURES.noNewActive, `no new active was routed within the observation bound after ${plan.scenario} on ${plan.oldInstanceId} (${observe.n} polls)`);
  if (rto === null) {
    return fail(DRILL_FAILURES.rtoExceeded, `${observe.newActive} was routed after ${routedRto} s but client requests through the listener still failed at the end of the observation`);
  }
  const measured = args.measuresClients ? `clients were served again after ${rto} s (routed after ${routedRto} s)` : `routed after ${rto} s`;
  if (rto > maxRtoSeconds) return fail(DRILL_FAILURES.rtoExceeded, `${observe.newActive} took over: ${measured}, over maxRtoSeconds ${maxRtoSeconds}`);
  if (!invariantsHeld(observe.invariants)) {
    return fail(DRILL_FAILURES.invariant, `${observe.newActive} took over (${measured}) but a routing invariant was violated: ${describeViolations(observe.invariants)}`);
  }
  if (post && !post.ok) return fail(DRILL_FAILURES.postCheck, `${observe.newActive} took over (${measured}) but the post-check failed: ${post.reasons.join('; ')}`);
  const outcome = `${plan.scenario} on ${plan.oldInstanceId}: ${observe.newActive} took over, ${measured} (max ${maxRtoSeconds} s)`;
  if (restoreFailed) return { ...base, result: 'failed', passed: true, failure: DRILL_FAILURES.restore, outcome: `${outcome}${restoreNote}` };
  return { ...base, result: 'passed', passed: true, outcome };
}

function describeViolations(t: InvariantTally): string {
  const parts = [
    t.twoActivesRouted ? `two actives routed in ${t.twoActivesRouted} polls` : '',
    t.emptyWhileUnsealed ? `empty target group while an unsealed node was alive in ${t.emptyWhileUnsealed} polls` : '',
    t.sealedRouted ? `a sealed node routed in ${t.sealedRouted} polls` : '',
  ].filter((s) => s !== '');
  return parts.join('; ');
}

/* ------------------------------------------------------------------ report */

export interface InvariantReport {
  held: boolean;
  neverTwoActivesRouted: boolean;
  neverEmptyWhileUnsealed: boolean;
  sealedNeverRouted: boolean;
  /** Polls counted (all of them, recorded or not). */
  polls: number;
  violations: string[];
}

export function invariantReport(t: InvariantTally | undefined, polls: number): InvariantReport {
  return {
    held: invariantsHeld(t),
    neverTwoActivesRouted: (t?.twoActivesRouted ?? 0) === 0,
    neverEmptyWhileUnsealed: (t?.emptyWhileUnsealed ?? 0) === 0,
    sealedNeverRouted: (t?.sealedRouted ?? 0) === 0,
    polls,
    violations: t?.examples ?? [],
  };
}

export interface ClientReport {
  /** The URL probed through the listener. */
  url: string;
  requests: number;
  failedRequests: number;
  firstFailedAt: string | null;
  lastFailedAt: string | null;
  recoveredAt: string | null;
}

export interface DrillReport {
  kind: 'failover-drill';
  result: 'passed' | 'failed' | 'aborted' | 'dry-run';
  /** The failover met the hypothesis; null for a dry run, a stopped drill or one that failed before the fault went in. */
  passed: boolean | null;
  /** One sentence: what happened and why. */
  outcome: string;
  cluster: string;
  scenario: DrillScenario;
  executionName: string;
  hypothesis: string;
  steadyState: SteadyState | null;
  oldActive: string | null;
  newActive: string | null;
  /** The RTO judged against maxRtoSeconds: client-visible when loadBalancer.listenerUrl is configured, else routed. */
  rtoSeconds: number | null;
  rtoMeasure: RtoMeasure;
  /** Injection → a new active registered and healthy in the load balancer. */
  routedRtoSeconds: number | null;
  /** Injection → client requests through the listener succeed again (null without a listener). */
  clientRtoSeconds: number | null;
  failedRequests: number | null;
  clientProbe: ClientReport | null;
  maxRtoSeconds: number;
  times: DrillTimes | null;
  injected: string | null;
  stopConditions: { alarms: string[]; maxSplitBrainSeconds: number; twoActivesRouted: true; noNewActiveAfterSeconds: number };
  stop: StopVerdict | null;
  invariants: InvariantReport | null;
  expectations: ExpectationsReport | null;
  restore: RestoreReport;
  /** The faulted node is back as an unsealed standby (null: the restore was skipped or never started). */
  restored: boolean | null;
  startedAt: string;
  finishedAt: string;
  timeline: Array<{ at: string; event: string }>;
  phases: DrillPhase[];
  /** The drill's polls (verdict, legitimate active, claimants, registrations, node classes). */
  verdicts: DrillPoll[];
  postCheck?: PostCheck;
  /** Dry run: what would be injected, and how it would be restored. */
  plannedFault?: string;
  plannedRestore?: string;
  error?: { name: string; message: string };
  warnings: string[];
}

export function clientReport(url: string, t: ClientTally | undefined): ClientReport | null {
  if (!t) return null;
  return {
    url,
    requests: t.sent,
    failedRequests: t.failed,
    firstFailedAt: t.firstFailedAt || null,
    lastFailedAt: t.lastFailedAt || null,
    recoveredAt: t.recoveredAt || null,
  };
}

/** Step Functions caps a Fail state's Cause at 32 KiB: drop the poll list first, then the timeline. */
export function causeOf(report: DrillReport): string {
  let cause = JSON.stringify(report);
  if (cause.length > 32_000) cause = JSON.stringify({ ...report, verdicts: report.verdicts.slice(-10) });
  if (cause.length > 32_000) cause = JSON.stringify({ ...report, verdicts: report.verdicts.slice(-5), timeline: report.timeline.slice(-40) });
  return cause.slice(0, 32_000);
}
