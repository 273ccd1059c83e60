/**
 * Registration planning: desired ALB targets from the verdict, diffed against
 * what the target group reports, under the safety invariants of DESIGN §5.
 * Pure: returns a plan with a reason per change; the handler applies it.
 */
import { quoted } from './text.js';
import type {
  NodeClass,
  NodeHealth,
  PlannedChange,
  PlannerPolicy,
  RegistrationPlan,
  SplitBrainVerdict,
  TargetState,
  TargetView,
  VerdictKind,
} from './types.js';

export interface PlanInput {
  nodes: NodeHealth[];
  verdict: SplitBrainVerdict;
  targets: TargetView[];
  /** Consecutive absence-evidence ticks per instance, INCLUDING this tick (see `updateFailureCounts`). */
  failureCounts: Record<string, number>;
  policy: PlannerPolicy;
}

/** A draining target is already on its way out: it counts as not registered. */
const DRAINING: ReadonlySet<TargetState> = new Set<TargetState>(['draining', 'unhealthy.draining']);

/** Classes that leave the target group at once: the node told us it cannot serve clients. */
const DEFINITIVELY_UNROUTABLE: ReadonlySet<NodeClass> = new Set<NodeClass>([
  'sealed',
  'uninitialized',
  'removed',
  'dr-secondary',
  'ha-unhealthy',
]);

/**
 * Invariant 1's list of probe answers that prove a node cannot serve as the
 * active, so it may be removed even when it is the ALB's only healthy target.
 * (ha-unhealthy and dr-secondary are not on it: they are removed at once
 * normally, but not when that would take away the last healthy target.)
 */
const PROVEN_NON_ROUTABLE: ReadonlySet<NodeClass> = new Set<NodeClass>([
  'sealed',
  'standby',
  'perf-standby',
  'uninitialized',
  'removed',
]);

/** Verdicts under which new registrations are allowed. */
const ROUTING_VERDICTS: ReadonlySet<VerdictKind> = new Set<VerdictKind>(['healthy', 'flapping', 'split-brain']);

type Removal = PlannedChange & {
  /** Why invariant 1 does not protect this target: it is gone, or the probe proves it non-routable. */
  proof?: 'gone' | 'non-routable' | 'replaced';
};

function byId(a: { instanceId: string }, b: { instanceId: string }): number {
  return a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0;
}

export function planRegistrations(input: PlanInput): RegistrationPlan {
  const { nodes, verdict, targets, failureCounts, policy } = input;
  const nodeById = new Map(nodes.map((n) => [n.instanceId, n]));

  // One entry per instance: a non-draining registration wins over a draining one.
  const registered = new Map<string, TargetView>();
  for (const target of targets) {
    if (DRAINING.has(target.state)) continue;
    if (!registered.has(target.instanceId)) registered.set(target.instanceId, target);
  }

  const alarms: string[] = [];
  if (verdict.kind !== 'healthy') alarms.push(`${verdict.kind}: ${verdict.reasons[0] ?? 'no reason given'}`);

  const frozenWhy = frozenReason(verdict);
  if (frozenWhy !== undefined) {
    alarms.push(`frozen: ${frozenWhy}; registrations left unchanged`);
    return finish(
      {
        register: [],
        deregister: [],
        held: [],
        frozen: true,
        alarms,
        order: 'deregister-first',
        registerEvenIfDeregisterFails: false,
        undoRegistrationIfDeregisterFails: false,
      },
      verdict,
      policy,
      frozenWhy,
    );
  }

  const legitNode = verdict.legitimateActive !== undefined ? nodeById.get(verdict.legitimateActive) : undefined;
  const legit =
    legitNode !== undefined && legitNode.class === 'active' && legitNode.answered && legitNode.instanceState === 'running'
      ? legitNode.instanceId
      : undefined;
  const mayRegister = ROUTING_VERDICTS.has(verdict.kind) && legit !== undefined;

  const desired = new Map<string, string>();
  if (legit !== undefined) desired.set(legit, 'legitimate active');
  if (policy.routing === 'all-unsealed') {
    for (const node of nodes) {
      if (
        node.instanceState === 'running' &&
        node.answered &&
        !node.claimsActive &&
        (node.class === 'standby' || node.class === 'perf-standby')
      ) {
        desired.set(node.instanceId, `unsealed ${node.class}`);
      }
    }
  }

  const register: PlannedChange[] = [];
  if (mayRegister) {
    for (const [instanceId, reason] of desired) {
      if (!registered.has(instanceId)) register.push({ instanceId, reason });
    }
  }

  const removals: Removal[] = [];
  const held: PlannedChange[] = [];
  for (const [instanceId, target] of registered) {
    if (desired.has(instanceId)) continue;
    const node = nodeById.get(instanceId);
    if (node === undefined) {
      // Not a cluster member (tag removed, foreign instance): the ALB's word
      // is all we have, so a target it still finds healthy is not touched.
      if (target.state === 'healthy') {
        held.push({ instanceId, reason: 'not a cluster member but the ALB reports it healthy' });
        alarms.push(`${instanceId} is registered and healthy but is not a member of the cluster`);
      } else {
        removals.push({ instanceId, reason: `not a cluster member (target ${target.state})`, proof: 'gone' });
      }
      continue;
    }
    const legitTargetState = legit !== undefined ? registered.get(legit)?.state : undefined;
    const othersAlive = nodes.some((n) => n.instanceId !== instanceId && liveUnsealed(n));
    const decision = removalOf(node, target, legit, legitTargetState, verdict, failureCounts, policy, othersAlive);
    if ('hold' in decision) held.push({ instanceId, reason: decision.hold });
    else removals.push(decision);
  }

  // Invariant 1: the ALB's healthy targets must not all disappear on evidence
  // that does not prove them unusable. Judged on the set, so two removals in
  // one plan cannot together strip the last healthy target.
  const legitCovered = legit !== undefined && (registered.has(legit) || register.some((c) => c.instanceId === legit));
  const removedIds = new Set(removals.map((r) => r.instanceId));
  const healthyRegistered = [...registered.values()].filter((t) => t.state === 'healthy');
  const healthyLeft = healthyRegistered.filter((t) => !removedIds.has(t.instanceId));
  const deregister: PlannedChange[] = [];
  for (const removal of removals) {
    const target = registered.get(removal.instanceId);
    const protectedTarget =
      target?.state === 'healthy' &&
      healthyRegistered.length > 0 &&
      healthyLeft.length === 0 &&
      !legitCovered &&
      removal.proof === undefined;
    if (protectedTarget) {
      held.push({
        instanceId: removal.instanceId,
        reason: `last ALB-healthy target; ${removal.reason} does not prove it unusable`,
      });
      alarms.push(`kept ${removal.instanceId}, the only target the ALB reports healthy, despite: ${removal.reason}`);
    } else {
      deregister.push({ instanceId: removal.instanceId, reason: removal.reason });
    }
  }

  // Invariant 11: never leave the target group empty while an unsealed node is
  // alive. A live standby forwards to whoever becomes active (DESIGN §3.3a); an
  // empty group answers every client with the ALB's own 503.
  const keepAlive = keepSomethingRoutable(nodes, registered, register, deregister, legit);
  if (keepAlive !== undefined) {
    if (keepAlive.kind === 'keep') {
      const i = deregister.findIndex((c) => c.instanceId === keepAlive.instanceId);
      const [dropped] = deregister.splice(i, 1);
      held.push({ instanceId: keepAlive.instanceId, reason: `${keepAlive.reason}; not removed: ${dropped?.reason ?? ''}` });
    } else {
      register.push({ instanceId: keepAlive.instanceId, reason: keepAlive.reason });
    }
  }

  if (verdict.fencing !== undefined) {
    alarms.push(
      policy.fencing === 'break-lock'
        ? `fencing: break-lock recommended for lock identity ${quoted(verdict.fencing.identity)} (${verdict.fencing.reason})`
        : `fencing: break-lock recommended for lock identity ${quoted(verdict.fencing.identity)} but policy.fencing is ${policy.fencing}`,
    );
  }

  return finish(
    { register, deregister, held, frozen: false, alarms, ...orderOfChanges(registered, register, deregister, removals, nodeById) },
    verdict,
    policy,
    undefined,
  );
}

/**
 * The order the changes are applied in, and what a failed deregistration
 * means for the registrations (invariants 3, 11 and 12).
 *
 * Register first, so the group never passes through empty. The exception is a
 * node that claims active leaving while another registration stays: then it
 * leaves first, and nothing of the group is emptied by that. When the claimant
 * is the only registration (a split-brain swap behind `active-only`), the
 * legitimate active is registered first: a new target is `initial` and gets no
 * traffic until it passes a health check (DESIGN §3.5), so for the one round
 * trip until the claimant leaves only the claimant is routed, as before the
 * tick. Should its deregistration fail, the registration is undone: left in,
 * the rival would turn healthy beside a live claimant.
 */
function orderOfChanges(
  registered: Map<string, TargetView>,
  register: PlannedChange[],
  deregister: PlannedChange[],
  removals: Removal[],
  nodeById: Map<string, NodeHealth>,
): Pick<RegistrationPlan, 'order' | 'registerEvenIfDeregisterFails' | 'undoRegistrationIfDeregisterFails'> {
  const leaving = new Set(deregister.map((c) => c.instanceId));
  const removesClaimant = deregister.some((c) => nodeById.get(c.instanceId)?.claimsActive === true);
  const othersStay = [...registered.keys()].some((id) => !leaving.has(id));
  // Invariant 12's exception covers removals that are dead or proven non-routable;
  // a claimant that a legitimate active replaces is neither.
  const everyRemovalDeadOrNonRoutable = deregister.every((c) => {
    const proof = removals.find((x) => x.instanceId === c.instanceId)?.proof;
    return proof === 'gone' || proof === 'non-routable';
  });
  if (removesClaimant && othersStay) {
    return { order: 'deregister-first', registerEvenIfDeregisterFails: false, undoRegistrationIfDeregisterFails: false };
  }
  return {
    order: 'register-first',
    registerEvenIfDeregisterFails: everyRemovalDeadOrNonRoutable,
    undoRegistrationIfDeregisterFails: removesClaimant && register.length > 0,
  };
}

/** A node that can take client requests now or forward them: unsealed, answering, on a running instance. */
function liveUnsealed(node: NodeHealth): boolean {
  return (
    node.instanceState === 'running' &&
    node.answered &&
    (node.class === 'active' || node.class === 'standby' || node.class === 'perf-standby' || node.class === 'ha-unhealthy')
  );
}

/**
 * Who may be kept or brought in to keep the group non-empty: a live node that
 * does not claim active (a claimant is only ever routed as the legitimate
 * active, invariant 3), or the legitimate active itself.
 */
function keepCandidate(node: NodeHealth, legit: string | undefined, soleClaimant: string | undefined): boolean {
  return liveUnsealed(node) && (!node.claimsActive || node.instanceId === legit || node.instanceId === soleClaimant);
}

/** Lower is better: who stays (or comes in) when only one can. A lone claimant is the last resort. */
function keepRank(node: NodeHealth, legit: string | undefined): number {
  if (node.instanceId === legit) return 0;
  // A 474 standby cannot forward until its HA connection heals: it only keeps the
  // place (already past the ALB's checks) for when it does.
  if (node.class === 'ha-unhealthy') return 3;
  return node.claimsActive ? 2 : 1;
}

function keepSomethingRoutable(
  nodes: NodeHealth[],
  registered: Map<string, TargetView>,
  register: PlannedChange[],
  deregister: PlannedChange[],
  legit: string | undefined,
): { kind: 'keep' | 'register'; instanceId: string; reason: string } | undefined {
  const removed = new Set(deregister.map((c) => c.instanceId));
  const remaining = [...registered.keys()].filter((id) => !removed.has(id));
  if (remaining.length > 0 || register.length > 0) return undefined;
  // Only while an unsealed node is alive at all; the candidates are a subset.
  if (!nodes.some(liveUnsealed)) return undefined;
  // A node that claims active is a candidate only as the single claimant of the
  // cluster: routing to it can never route to two actives (invariant 3).
  const claimants = nodes.filter((n) => n.claimsActive);
  const soleClaimant = claimants.length === 1 ? claimants[0]!.instanceId : undefined;
  const alive = nodes.filter((n) => keepCandidate(n, legit, soleClaimant)).sort((a, b) => keepRank(a, legit) - keepRank(b, legit) || byId(a, b));
  if (alive.length === 0) return undefined;
  // Prefer keeping a registration (it is already past the ALB's checks) over a new one.
  const kept = alive.find((n) => removed.has(n.instanceId));
  if (kept !== undefined) {
    return { kind: 'keep', instanceId: kept.instanceId, reason: `${kept.class} kept: the target group would be empty while it is alive` };
  }
  const chosen = alive[0]!;
  return { kind: 'register', instanceId: chosen.instanceId, reason: `${chosen.class}: the target group is empty while it is alive` };
}

function frozenReason(verdict: SplitBrainVerdict): string | undefined {
  if (verdict.kind === 'probe-blind') return 'probe blind, no member answered';
  if (verdict.kind === 'split-brain' && verdict.legitimateActive === undefined) {
    return `split brain between ${verdict.claimants.join(' and ')} with no legitimate active`;
  }
  return undefined;
}

function removalOf(
  node: NodeHealth,
  target: TargetView,
  legit: string | undefined,
  legitTargetState: TargetView['state'] | undefined,
  verdict: SplitBrainVerdict,
  failureCounts: Record<string, number>,
  policy: PlannerPolicy,
  othersAlive: boolean,
): Removal | { hold: string } {
  const instanceId = node.instanceId;
  if (node.instanceState !== 'running') {
    return { instanceId, reason: `instance ${node.instanceState}`, proof: 'gone' };
  }
  if (node.claimsActive) {
    if (legit !== undefined && legit !== instanceId) {
      return { instanceId, reason: `claims active but ${legit} is the legitimate active`, proof: 'replaced' };
    }
    // A claimant with no named rival stays: pulling it would leave clients
    // nowhere to go, and Vault steps a stale leader down on its own.
    return { hold: `claims active; kept while leadership is unsettled (${verdict.kind})` };
  }
  if (DEFINITIVELY_UNROUTABLE.has(node.class)) {
    return withProof({ instanceId, reason: node.class }, node.class);
  }
  if (node.class === 'standby' || node.class === 'perf-standby') {
    // Only reached in active-only routing (all-unsealed desires answering standbys).
    // Make before break: a standby whose HA connection is healthy forwards
    // client requests to the active (DESIGN §3.3a), while a newly registered
    // target takes registration time plus `healthy threshold × interval` before
    // the ALB sends it anything. Removing the old node first (a step-down) would
    // leave clients with 503s for that whole window.
    // The same holds while no legitimate active is known at all (a tick in the
    // first second of an election sees `no-leader`): the stepped-down node will
    // forward to whoever wins, a node removed now leaves nothing to route to.
    if (legit === undefined) {
      return { hold: `${node.class} kept while no legitimate active is routed (${verdict.kind}); it forwards requests to whoever wins` };
    }
    if (legitTargetState !== 'healthy') {
      return {
        hold: `${node.class} kept until ${legit} passes the ALB health check (target ${legitTargetState ?? 'not yet registered'}); it forwards requests to the active meanwhile`,
      };
    }
    return withProof({ instanceId, reason: `${node.class} (active-only routing)` }, node.class);
  }
  if (node.evidenceIsAbsence) {
    const count = failureCounts[instanceId] ?? 0;
    const tally = `${node.class} ${count}/${policy.unhealthyThreshold} ticks`;
    if (count < policy.unhealthyThreshold) return { hold: tally };
    // Unreachable by the probe AND failing the ALB's own checks: gone, so the
    // fail-open ALB must not keep it even as its last target.
    const aLbAgrees = target.state === 'unhealthy' || target.state === 'unused' || target.state === 'unavailable';
    // A node that refused every connection for N ticks has no Vault process; the
    // ALB would only learn that after `unhealthy threshold × interval` (60 s at
    // AWS defaults) and meanwhile sends it a share of the clients. A timeout is
    // not enough: it may be our own network path, not the clients'.
    // Only while another node is alive to take the clients: it stays registered or
    // comes in (invariant 11) and forwards to the active, whoever that is, so even
    // a refusal seen only by us cannot cut clients off.
    if (node.refused === true && othersAlive) return { instanceId, reason: `${tally}, connection refused`, proof: 'gone' };
    return aLbAgrees ? { instanceId, reason: tally, proof: 'gone' } : { instanceId, reason: tally };
  }
  return withProof({ instanceId, reason: node.class }, node.class);
}

function withProof(removal: Removal, cls: NodeClass): Removal {
  return PROVEN_NON_ROUTABLE.has(cls) ? { ...removal, proof: 'non-routable' } : removal;
}

function finish(
  parts: Pick<
    RegistrationPlan,
    'register' | 'deregister' | 'held' | 'frozen' | 'alarms' | 'order' | 'registerEvenIfDeregisterFails' | 'undoRegistrationIfDeregisterFails'
  >,
  verdict: SplitBrainVerdict,
  policy: PlannerPolicy,
  frozenWhy: string | undefined,
): RegistrationPlan {
  const register = [...parts.register].sort(byId);
  const deregister = [...parts.deregister].sort(byId);
  const held = [...parts.held].sort(byId);
  const dry = policy.dryRun;
  const list = (changes: PlannedChange[]): string => changes.map((c) => `${c.instanceId} (${c.reason})`).join(', ');

  let sentence: string;
  if (frozenWhy !== undefined) {
    sentence = `frozen: ${frozenWhy}; nothing ${dry ? 'would change' : 'changed'}`;
  } else {
    const clauses: string[] = [];
    if (register.length > 0) clauses.push(`${dry ? 'would register' : 'registered'} ${list(register)}`);
    if (deregister.length > 0) clauses.push(`${dry ? 'would deregister' : 'deregistered'} ${list(deregister)}`);
    if (clauses.length === 0) clauses.push(`no action: ${summary(verdict)}`);
    if (held.length > 0) clauses.push(`${dry ? 'would keep' : 'kept'} ${list(held)}`);
    sentence = clauses.join('; ');
  }
  return {
    register,
    deregister,
    held,
    outcome: dry ? `dry run: ${sentence}` : sentence,
    frozen: parts.frozen,
    alarms: parts.alarms,
    order: parts.order,
    registerEvenIfDeregisterFails: parts.registerEvenIfDeregisterFails,
    undoRegistrationIfDeregisterFails: parts.undoRegistrationIfDeregisterFails,
  };
}

function summary(verdict: SplitBrainVerdict): string {
  const active = verdict.legitimateActive;
  switch (verdict.kind) {
    case 'healthy':
      return verdict.lock.state === 'HELD' ? `${active} is the active with the lock` : `${active} is the active`;
    case 'flapping':
      return `${active} is the active but leadership is flapping`;
    case 'split-brain':
      return `${active} is the legitimate active of a split brain`;
    case 'stale-leader':
      return `${verdict.claimants.join(', ')} claims active but no longer holds leadership; waiting for Vault to step it down`;
    case 'leader-disagreement':
      return 'the nodes disagree on the leader; registrations kept';
    case 'zombie-leader':
      return 'an unreachable zombie keeps the lock; nothing to register';
    case 'no-leader':
      return 'no member is active; nothing to register';
    case 'probe-blind':
      return 'probe blind';
  }
}
