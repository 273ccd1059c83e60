/**
 * Pure decisions of the failover-drill workflow (DESIGN §2, §4.4–4.5):
 * input check, steady-state pre-check, fault plan, the observation loop's
 * stop rule, the post-check, and the report (RTO, timeline, phases, verdicts).
 *
 * Nothing here talks to AWS or Vault: the task handler takes snapshots through
 * adapters and hands them in; time arrives as `nowMs` or ISO strings.
 */
import type { ClusterConfig, Config, FailoverDrillInput, SlotConfig } from '../config/schema.js';
import { DRILL_SCENARIOS, failoverDrillInputSchema } from '../config/schema.js';
import { formatIssues, InvalidInputError } from '../config/errors.js';
import type { InstanceState, NodeClass, NodeHealth, TargetState, TargetView, VerdictKind } from './types.js';

export type DrillScenario = (typeof DRILL_SCENARIOS)[number];

/* ------------------------------------------------------------------ input */

export interface DrillRequest {
  cluster: string;
  scenario: DrillScenario;
  dryRun: boolean;
  /** True when `dryRun` comes from the cluster's `policy.dryRun` rather than the input. */
  dryRunFromPolicy: boolean;
  maxRtoSeconds: number;
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
  return {
    cluster: cluster.name,
    scenario: input.scenario,
    dryRun: input.dryRun || cluster.policy.dryRun,
    dryRunFromPolicy: !input.dryRun && cluster.policy.dryRun,
    maxRtoSeconds: input.maxRtoSeconds,
  };
}

/* ------------------------------------------------------------------ budgets */

export interface ObserveBudget {
  /** Seconds between two observations (the Wait state's SecondsPath). */
  intervalSeconds: number;
  /** Observation stops this long after the injection: maxRtoSeconds plus a margin, so a slow failover is still measured. */
  boundSeconds: number;
  /** Hard cap on polls, whatever the clock says (every loop is bounded by a counter too). */
  maxPolls: number;
}

export interface PostCheckBudget {
  intervalSeconds: number;
  maxAttempts: number;
}

/** Extra observation time past maxRtoSeconds, so an over-budget failover reports its real RTO rather than "none". */
export const OBSERVE_MARGIN_SECONDS = 30;
/** Polls kept in the report (the execution payload is capped at 256 KiB by Step Functions). */
export const MAX_RECORDED_POLLS = 120;

export function observeBudget(maxRtoSeconds: number): ObserveBudget {
  const boundSeconds = Math.ceil(maxRtoSeconds) + OBSERVE_MARGIN_SECONDS;
  // A few seconds resolves RTO well against the ALB's own 5 s minimum check interval;
  // long bounds poll less often so the poll list stays small.
  const intervalSeconds = Math.max(3, Math.ceil(boundSeconds / 100));
  return { intervalSeconds, boundSeconds, maxPolls: Math.ceil(boundSeconds / intervalSeconds) + 2 };
}

/** The controller needs a tick or two to deregister the old node after the new one is routed. */
export function postCheckBudget(): PostCheckBudget {
  return { intervalSeconds: 5, maxAttempts: 8 };
}

/** Lease TTL: the whole drill's waits plus a generous margin; the lease is released explicitly anyway. */
export function drillLeaseTtlMs(observe: ObserveBudget, post: PostCheckBudget): number {
  return (observe.boundSeconds + observe.intervalSeconds * 2 + post.intervalSeconds * post.maxAttempts + 15 * 60) * 1000;
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
  /** Registered targets (draining ones excluded) with their ALB health. */
  registered: Array<{ instanceId: string; state: TargetState }>;
}

const UNSEALED_STANDBY: ReadonlySet<NodeClass> = new Set(['standby', 'perf-standby']);

export function pollOf(s: DrillSnapshot, atMs: number): DrillPoll {
  return {
    at: new Date(atMs).toISOString(),
    verdict: s.verdict.kind,
    legitimateActive: s.verdict.legitimateActive ?? null,
    claimants: s.nodes.filter((n) => n.claimsActive).map((n) => n.instanceId),
    registered: s.targets.filter((t) => !t.state.includes('draining')).map((t) => ({ instanceId: t.instanceId, state: t.state })),
  };
}

/* --------------------------------------------------------------- pre-check */

export type PreCheck = { kind: 'ok'; oldActive: string; standbys: string[] } | { kind: 'refused'; reasons: string[] };

/**
 * A drill only starts from a steady state: otherwise it would measure (or
 * cause) an outage rather than a failover. Steady = the controller's verdict is
 * healthy, its legitimate active is registered and healthy in the ALB, and at
 * least one unsealed standby can take over.
 */
export function preCheck(s: DrillSnapshot, scenario: DrillScenario, cluster: ClusterConfig): PreCheck {
  const reasons: string[] = [];
  if (s.verdict.kind !== 'healthy') reasons.push(`verdict is ${s.verdict.kind}, not healthy${s.verdict.reasons.length ? ` (${s.verdict.reasons.join('; ')})` : ''}`);
  const active = s.verdict.legitimateActive;
  if (active === undefined) reasons.push('no legitimate active can be named');
  else {
    const target = s.targets.find((t) => t.instanceId === active);
    if (!target) reasons.push(`the legitimate active ${active} is not registered in the target group`);
    else if (target.state !== 'healthy') reasons.push(`the legitimate active ${active} is ${target.state} in the target group, not healthy`);
  }
  const standbys = s.nodes.filter((n) => n.instanceId !== active && UNSEALED_STANDBY.has(n.class)).map((n) => n.instanceId);
  if (standbys.length === 0) reasons.push('no unsealed standby could take over');
  if (scenario === 'terminate-active' && active !== undefined && configuredSlot(cluster, s.slotByInstance[active]) === undefined) {
    // Terminating a node nobody can put back would turn a drill into a permanent loss of capacity.
    reasons.push(`terminate-active needs a configured replacement slot for ${active} (its ${cluster.discovery.slotTagKey} tag) so replace-node can restore it`);
  }
  if (reasons.length > 0 || active === undefined) return { kind: 'refused', reasons };
  return { kind: 'ok', oldActive: active, standbys };
}

/* -------------------------------------------------------------- fault plan */

export interface FaultPlan {
  scenario: DrillScenario;
  cluster: string;
  /** The legitimate active at pre-check: the node the fault hits. */
  oldInstanceId: string;
  /** Its slot name ('' when it carries no slot tag). */
  slot: string;
  kind: 'vault-control' | 'stop-instance' | 'terminate-instance';
  /** VaultHA-VaultControl Action ('' for the EC2 faults). */
  controlAction: '' | 'step-down' | 'kill';
  /** Terminate only: the slot's data volume / interface whose DeleteOnTermination is switched off first ('' when none). */
  keepVolumeId: string;
  keepNetworkInterfaceId: string;
  targetGroupArn: string;
  /** One sentence: what will be injected on which instance. */
  description: string;
  standbys: string[];
}

export function planFault(args: {
  scenario: DrillScenario;
  cluster: ClusterConfig;
  oldInstanceId: string;
  slot?: string;
  standbys: string[];
}): FaultPlan {
  const { scenario, cluster, oldInstanceId } = args;
  const slot = args.slot !== undefined ? cluster.replacement?.slots.find((s) => s.name === args.slot) : undefined;
  const base = {
    scenario,
    cluster: cluster.name,
    oldInstanceId,
    slot: args.slot ?? '',
    keepVolumeId: '',
    keepNetworkInterfaceId: '',
    targetGroupArn: cluster.loadBalancer.targetGroupArn,
    standbys: args.standbys,
  };
  switch (scenario) {
    case 'step-down':
      return { ...base, kind: 'vault-control', controlAction: 'step-down', description: `step down Vault on ${oldInstanceId} (VaultHA-VaultControl Action=step-down)` };
    case 'kill-active':
      return { ...base, kind: 'vault-control', controlAction: 'kill', description: `kill the Vault process on ${oldInstanceId} with SIGKILL (VaultHA-VaultControl Action=kill)` };
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

/* ------------------------------------------------------------- observation */

/** The failover is complete when a legitimate active other than the old one is registered AND healthy in the target group. */
export function routedNewActive(poll: DrillPoll, oldInstanceId: string): string | undefined {
  const a = poll.legitimateActive;
  if (a === null || a === oldInstanceId) return undefined;
  return poll.registered.some((t) => t.instanceId === a && t.state === 'healthy') ? a : undefined;
}

export interface ObserveMark {
  at: string;
  n: number;
  done: boolean;
  outcome: 'observing' | 'failed-over' | 'bound-reached';
  newActive: string;
  /** When the routed new active was first seen (ISO, '' until then). */
  routedAt: string;
  polls: DrillPoll[];
  /** Polls left out of `polls` to keep the payload bounded. */
  droppedPolls: number;
}

/** One step of the observation loop: record the poll, stop on failover or when the bound (time or count) is reached. */
export function observeStep(prev: Partial<ObserveMark> & { at: string }, poll: DrillPoll, nowMs: number, fault: { oldInstanceId: string; injectedAt: string }, budget: ObserveBudget): ObserveMark {
  const n = (prev.n ?? 0) + 1;
  let polls = [...(prev.polls ?? []), poll];
  let dropped = prev.droppedPolls ?? 0;
  if (polls.length > MAX_RECORDED_POLLS) {
    // Keep the first polls (the fault's effect) and the latest; the middle is the least informative.
    const excess = polls.length - MAX_RECORDED_POLLS;
    polls = [...polls.slice(0, 10), ...polls.slice(10 + excess)];
    dropped += excess;
  }
  const newActive = routedNewActive(poll, fault.oldInstanceId);
  if (newActive !== undefined) {
    return { at: prev.at, n, done: true, outcome: 'failed-over', newActive, routedAt: poll.at, polls, droppedPolls: dropped };
  }
  const elapsedMs = nowMs - Date.parse(fault.injectedAt);
  const bound = n >= budget.maxPolls || elapsedMs >= budget.boundSeconds * 1000;
  return { at: prev.at, n, done: bound, outcome: bound ? 'bound-reached' : 'observing', newActive: '', routedAt: '', polls, droppedPolls: dropped };
}

/** RTO in seconds (ms resolution) from injection to the poll that first saw the new active routed. */
export function rtoSeconds(injectedAt: string, routedAt: string): number {
  return Math.max(0, Date.parse(routedAt) - Date.parse(injectedAt)) / 1000;
}

/* -------------------------------------------------------------- post-check */

export interface PostCheck {
  ok: boolean;
  reasons: string[];
  verdict: VerdictKind;
  registeredActives: string[];
  oldNode: { instanceId: string; class: NodeClass | 'gone'; instanceState: InstanceState | 'gone' };
  nextStep: string;
}

/**
 * After the failover: the verdict must be healthy and exactly one registered
 * target may claim active (never two; invariant 3). The old node's state and
 * what an operator does next are reported; the drill never unseals a node
 * (shamir shares stay with the node's own unseal path, invariant 7).
 */
export function postCheck(s: DrillSnapshot, plan: FaultPlan, newActive: string, unsealMode: 'shamir' | 'auto'): PostCheck {
  const reasons: string[] = [];
  if (s.verdict.kind !== 'healthy') reasons.push(`verdict is ${s.verdict.kind}`);
  const registered = s.targets.filter((t) => !t.state.includes('draining')).map((t) => t.instanceId);
  const claimants = new Set(s.nodes.filter((n) => n.claimsActive).map((n) => n.instanceId));
  const registeredActives = registered.filter((id) => claimants.has(id));
  if (registeredActives.length !== 1) reasons.push(`${registeredActives.length} registered targets claim active (${registeredActives.join(', ') || 'none'})`);
  else if (newActive !== '' && registeredActives[0] !== newActive) reasons.push(`the registered active is ${registeredActives[0]}, not the new active ${newActive}`);
  const old = s.nodes.find((n) => n.instanceId === plan.oldInstanceId);
  const oldNode = { instanceId: plan.oldInstanceId, class: old?.class ?? ('gone' as const), instanceState: old?.instanceState ?? ('gone' as const) };
  return { ok: reasons.length === 0, reasons, verdict: s.verdict.kind, registeredActives, oldNode, nextStep: nextStepFor(plan, oldNode.class, unsealMode) };
}

function nextStepFor(plan: FaultPlan, oldClass: NodeClass | 'gone', unsealMode: 'shamir' | 'auto'): string {
  const id = plan.oldInstanceId;
  const unseal =
    unsealMode === 'shamir'
      ? 'it comes back sealed (shamir): unseal it with the operators\' key shares (the drill never unseals)'
      : 'auto-unseal brings it back as a standby';
  switch (plan.scenario) {
    case 'step-down':
      return UNSEALED_STANDBY.has(oldClass as NodeClass) ? `none: ${id} rejoined as an unsealed standby` : `${id} is ${oldClass} after stepping down: check its Vault log`;
    case 'kill-active':
      return `start Vault on ${id} (VaultHA-VaultControl Action=start); ${unseal}`;
    case 'stop-active-instance':
      return `start instance ${id} (StartInstances); ${unseal}`;
    case 'terminate-active':
      return plan.slot !== ''
        ? `run replace-node for slot ${plan.slot} ({"cluster":"${plan.cluster}","slot":"${plan.slot}"}): its data volume and interface were kept`
        : `launch a replacement for ${id}`;
  }
}

/* ------------------------------------------------------------------ report */

export interface DrillPhase {
  name: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
}

export interface DrillReport {
  kind: 'failover-drill';
  result: 'passed' | 'failed' | 'dry-run';
  /** One sentence: what happened and why. */
  outcome: string;
  cluster: string;
  scenario: DrillScenario;
  executionName: string;
  oldActive: string | null;
  newActive: string | null;
  rtoSeconds: number | null;
  maxRtoSeconds: number;
  injected: string | null;
  startedAt: string;
  finishedAt: string;
  timeline: Array<{ at: string; event: string }>;
  phases: DrillPhase[];
  verdicts: DrillPoll[];
  postCheck?: PostCheck;
  /** Dry run: what would be injected. */
  plannedFault?: string;
  error?: { name: string; message: string };
  warnings: string[];
}

/** Phase keys in execution order, as the state machine marks them (`$.marks.<key>.at`). */
export const DRILL_PHASES = [
  ['validate', 'validate'],
  ['lease', 'acquire-lease'],
  ['preCheck', 'pre-check'],
  ['inject', 'inject-fault'],
  ['observe', 'observe-failover'],
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

/** Timeline events: phase starts, the injection, and every change the polls saw (verdict, legitimate active, registrations). */
export function drillTimeline(args: { marks: DrillMarks; polls: DrillPoll[]; plan?: FaultPlan; injectedAt?: string; routedAt?: string; newActive?: string; finishedAt: string; extra?: Array<{ at: string; event: string }> }): Array<{ at: string; event: string }> {
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

/** Names the failed execution carries (its Fail state's Error) when the drill ran but did not pass. */
export const DRILL_FAILURES = {
  noNewActive: 'NoNewActiveError',
  rtoExceeded: 'RtoExceededError',
  postCheck: 'PostCheckFailedError',
} as const;
export type DrillFailureName = (typeof DRILL_FAILURES)[keyof typeof DRILL_FAILURES];

export interface DrillVerdict {
  result: 'passed' | 'failed';
  failure?: DrillFailureName;
  outcome: string;
  rtoSeconds: number | null;
}

/** passed: a new active routed within maxRtoSeconds and the post-check holds; failed otherwise (the first failure names the error). */
export function judgeDrill(args: { plan: FaultPlan; observe: Pick<ObserveMark, 'outcome' | 'newActive' | 'routedAt' | 'n'>; injectedAt: string; maxRtoSeconds: number; post?: PostCheck }): DrillVerdict {
  const { plan, observe, maxRtoSeconds, post } = args;
  if (observe.outcome !== 'failed-over' || observe.routedAt === '') {
    return {
      result: 'failed',
      failure: DRILL_FAILURES.noNewActive,
      rtoSeconds: null,
      outcome: `no new active was routed within the observation bound after ${plan.scenario} on ${plan.oldInstanceId} (${observe.n} polls)`,
    };
  }
  const rto = rtoSeconds(args.injectedAt, observe.routedAt);
  if (rto > maxRtoSeconds) {
    return { result: 'failed', failure: DRILL_FAILURES.rtoExceeded, rtoSeconds: rto, outcome: `${observe.newActive} took over after ${rto} s, over maxRtoSeconds ${maxRtoSeconds}` };
  }
  if (post && !post.ok) {
    return { result: 'failed', failure: DRILL_FAILURES.postCheck, rtoSeconds: rto, outcome: `${observe.newActive} took over after ${rto} s but the post-check failed: ${post.reasons.join('; ')}` };
  }
  return { result: 'passed', rtoSeconds: rto, outcome: `${plan.scenario} on ${plan.oldInstanceId}: ${observe.newActive} took over and was routed after ${rto} s (max ${maxRtoSeconds} s)` };
}
