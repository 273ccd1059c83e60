/**
 * What each fault should provoke, and what the drill saw: the controller's
 * verdicts (DESIGN §4.3) and actions, listed in the report as expected / seen
 * so an auditor can hold the drill against the hypothesis. Pure.
 *
 * "Seen" comes from the controller's own observations in the control table
 * (one per tick, with its verdict, mutations, fencing and takeover) since the
 * injection, and from the drill's polls (their verdicts, and the registrations
 * they saw change).
 */
import type { ClusterConfig } from '../config/schema.js';
import type { DrillPoll, DrillScenario, FaultPlan } from './drill.js';
import { NO_NEW_ACTIVE_FACTOR, storageKindOf } from './drill.js';
import type { VerdictKind } from './types.js';

export type DrillAction = 'register-new-active' | 'deregister-old' | 'break-lock' | 'dead-leader-takeover';

export interface Expectation<T extends string> {
  /** Any one of these should be seen. */
  anyOf: T[];
  why: string;
}

export interface ExpectedEffects {
  verdicts: Array<Expectation<VerdictKind>>;
  actions: Array<Expectation<DrillAction>>;
  /** Verdicts that may show up on the way without being a finding. */
  allowedVerdicts: VerdictKind[];
}

export function expectedEffects(scenario: DrillScenario, cluster: ClusterConfig): ExpectedEffects {
  const storage = storageKindOf(cluster);
  const activeOnly = cluster.loadBalancer.routing === 'active-only';
  const takeover = storage === 'dynamodb' && cluster.policy.deadLeaderTakeover;
  const breakLock = storage === 'dynamodb' && cluster.policy.fencing === 'break-lock';
  const register: Array<Expectation<DrillAction>> = activeOnly ? [{ anyOf: ['register-new-active'], why: 'active-only routing registers the new active' }] : [];
  const deregisterDead: Expectation<DrillAction> = { anyOf: ['deregister-old'], why: 'a dead node leaves the target group (invariant 1: the ALB would fail open to it)' };
  const verdicts: Array<Expectation<VerdictKind>> = [];
  const actions: Array<Expectation<DrillAction>> = [];
  const allowed: VerdictKind[] = ['healthy', 'no-leader'];
  switch (scenario) {
    case 'step-down':
      actions.push(...register);
      if (activeOnly) actions.push({ anyOf: ['deregister-old'], why: 'active-only routing removes the stepped-down node (a standby) once the new active is routed' });
      break;
    case 'kill-active':
    case 'stop-active-instance':
    case 'terminate-active':
      if (!takeover) verdicts.push({ anyOf: ['no-leader'], why: 'nobody claims active until the lock (TTL 15 s) or Raft election moves' });
      if (takeover) actions.push({ anyOf: ['dead-leader-takeover'], why: 'the holder is provably dead and missed a renewal: the controller deletes its lock item (DESIGN §5.10)' });
      actions.push(...register, deregisterDead);
      break;
    case 'seal-active':
      actions.push(...register, { anyOf: ['deregister-old'], why: 'a sealed node answers 503 and leaves the target group at once (invariant 4)' });
      break;
    case 'partition-clients':
      allowed.push('leader-disagreement', 'zombie-leader');
      if (storage === 'dynamodb') verdicts.push({ anyOf: ['zombie-leader'], why: 'the lock keeps being renewed while no reachable member claims active' });
      if (breakLock) actions.push({ anyOf: ['break-lock'], why: 'policy.fencing break-lock deletes the zombie\'s lock item so a standby takes over' }, ...register);
      actions.push({ anyOf: ['deregister-old'], why: 'the unreachable zombie leaves the target group after policy.unhealthyThreshold ticks' });
      break;
    case 'partition-storage':
      allowed.push('split-brain', 'stale-leader', 'leader-disagreement');
      verdicts.push(
        storage === 'dynamodb'
          ? { anyOf: ['stale-leader', 'split-brain'], why: 'the cut holder keeps claiming active ~25 s while a standby takes the expired lock after ~15 s (DESIGN §3.4)' }
          : { anyOf: ['leader-disagreement', 'split-brain', 'no-leader'], why: 'the cut leader claims active until it notices it lost its peers while they elect another' },
      );
      actions.push(...register, { anyOf: ['deregister-old'], why: 'the stale leader is never routed once the legitimate active is known' });
      break;
  }
  return { verdicts, actions, allowedVerdicts: [...new Set([...allowed, ...verdicts.flatMap((v) => v.anyOf)])] };
}

/** The drill's hypothesis, in words (the report's first line for an auditor). */
export function hypothesis(fault: FaultPlan, cluster: ClusterConfig, args: { maxRtoSeconds: number; measuresClients: boolean; restore: boolean }): string {
  const measure = args.measuresClients ? 'clients are served again through the load balancer' : 'a new active is registered and healthy in the load balancer';
  const restore = args.restore ? ` The restore brings ${fault.oldInstanceId} back as an unsealed standby.` : '';
  const zombie =
    fault.scenario === 'partition-clients' && storageKindOf(cluster) === 'dynamodb' && cluster.policy.fencing !== 'break-lock'
      ? ` (with policy.fencing "${cluster.policy.fencing}" no new active is expected: the drill stops after ${NO_NEW_ACTIVE_FACTOR} × maxRtoSeconds)`
      : '';
  return (
    `When the fault "${fault.description}" hits the active ${fault.oldInstanceId}, a standby takes over and ${measure} within ${args.maxRtoSeconds} s${zombie}; ` +
    'the load balancer never routes two actives, is never left empty while an unsealed node is alive, and never keeps routing a sealed node.' +
    restore
  );
}

/** One controller observation as the control table keeps it (functions/handlers/lib/reconcile.ts ClusterReport), the fields read here. */
export interface ObservedTick {
  atMs: number;
  verdict?: string;
  mutations?: { registered?: string[]; deregistered?: string[] };
  fencing?: { result?: string };
  takeover?: { result?: string };
}

export interface EffectsSeen {
  verdicts: VerdictKind[];
  actions: DrillAction[];
  /** Controller ticks read (0 when the control table held none: the drill then relies on its polls). */
  controllerTicks: number;
}

export function effectsSeen(args: {
  ticks: readonly ObservedTick[];
  polls: readonly DrillPoll[];
  /** What was registered at the steady state (the pre-check). */
  registeredBefore: readonly string[];
  oldInstanceId: string;
  newActive: string;
  injectedAtMs: number;
  knownVerdicts: readonly string[];
}): EffectsSeen {
  const verdicts: VerdictKind[] = [];
  const addVerdict = (v: string | undefined): void => {
    if (v !== undefined && args.knownVerdicts.includes(v) && !verdicts.includes(v as VerdictKind)) verdicts.push(v as VerdictKind);
  };
  const actions = new Set<DrillAction>();
  const ticks = args.ticks.filter((t) => t.atMs >= args.injectedAtMs).sort((a, b) => a.atMs - b.atMs);
  for (const t of ticks) {
    addVerdict(t.verdict);
    if (t.mutations?.deregistered?.includes(args.oldInstanceId)) actions.add('deregister-old');
    if (args.newActive !== '' && t.mutations?.registered?.includes(args.newActive)) actions.add('register-new-active');
    if (t.fencing?.result === 'deleted') actions.add('break-lock');
    if (t.takeover?.result === 'deleted') actions.add('dead-leader-takeover');
  }
  const polls = args.polls.filter((p) => Date.parse(p.at) >= args.injectedAtMs);
  for (const p of polls) addVerdict(p.verdict);
  // Registrations the polls saw change are the controller's doing too.
  const registeredAt = (p: DrillPoll, id: string): boolean => p.registered.some((r) => r.instanceId === id);
  const before = new Set(args.registeredBefore);
  if (before.has(args.oldInstanceId) && polls.some((p) => !registeredAt(p, args.oldInstanceId))) actions.add('deregister-old');
  if (args.newActive !== '' && !before.has(args.newActive) && polls.some((p) => registeredAt(p, args.newActive))) actions.add('register-new-active');
  return { verdicts, actions: [...actions], controllerTicks: ticks.length };
}

export interface ExpectationRow {
  kind: 'verdict' | 'action';
  expected: string;
  seen: boolean;
  why: string;
}

export interface ExpectationsReport {
  rows: ExpectationRow[];
  verdictsSeen: VerdictKind[];
  actionsSeen: DrillAction[];
  /** Verdicts seen that the fault should not provoke (findings worth a look). */
  unexpectedVerdicts: VerdictKind[];
  controllerTicks: number;
}

export function compareEffects(expected: ExpectedEffects, seen: EffectsSeen): ExpectationsReport {
  const rows: ExpectationRow[] = [
    ...expected.verdicts.map((e) => ({ kind: 'verdict' as const, expected: e.anyOf.join(' or '), seen: e.anyOf.some((v) => seen.verdicts.includes(v)), why: e.why })),
    ...expected.actions.map((e) => ({ kind: 'action' as const, expected: e.anyOf.join(' or '), seen: e.anyOf.some((a) => seen.actions.includes(a)), why: e.why })),
  ];
  return {
    rows,
    verdictsSeen: seen.verdicts,
    actionsSeen: seen.actions,
    unexpectedVerdicts: seen.verdicts.filter((v) => !expected.allowedVerdicts.includes(v)),
    controllerTicks: seen.controllerTicks,
  };
}
