/**
 * Leadership assessment: who, if anyone, is the legitimate active (DESIGN
 * §3.2, §3.4, §4.3). Pure: every fact arrives as an argument.
 *
 * Evidence, strongest first:
 *  - DynamoDB HA: the lock item (HELD / EXPIRED / ABSENT). Its Value is the
 *    leader UUID, but the advertisement that maps that UUID to an address is
 *    encrypted by Vault's barrier, so the lock never names a node by itself.
 *  - The standbys' `leader_address`: standbys read the leader advertisement
 *    from storage every 2.5 s, so their majority names the current holder.
 *  - The claimants' own answers (200 / is_self).
 * A claim alone never makes a node legitimate when another view contradicts it.
 */
import { quoted } from './text.js';
import type { ClusterHistory, LockObservation, NodeHealth, SplitBrainVerdict, TickMemory, VerdictKind } from './types.js';

export interface AssessPolicy {
  breakLockAfterTicks: number;
  flappingChanges: number;
  flappingWindowTicks: number;
}

export interface AssessInput {
  nodes: NodeHealth[];
  lock: LockObservation;
  history: ClusterHistory;
  /** `haLock.type`: only `dynamodb` gives lock evidence; `raft` and `none` judge by the nodes' own views. */
  haType: 'dynamodb' | 'raft' | 'none';
  nowMs: number;
  policy: AssessPolicy;
}

/** Lowercase scheme and host, explicit port, no trailing slash: `HTTPS://Vault-A:8200/` → `https://vault-a:8200`. */
export function normaliseAddress(address: string): string {
  const trimmed = address.trim();
  try {
    const url = new URL(trimmed);
    const scheme = url.protocol.toLowerCase();
    const defaultPort = scheme === 'https:' ? '443' : scheme === 'http:' ? '80' : '';
    const port = url.port !== '' ? url.port : defaultPort;
    const path = url.pathname.replace(/\/+$/, '');
    return `${scheme}//${url.hostname.toLowerCase()}${port !== '' ? `:${port}` : ''}${path}`;
  } catch {
    return trimmed.toLowerCase().replace(/\/+$/, '');
  }
}

/**
 * Addresses under which a node may be named by a standby: the address we
 * probe, and — only while it claims active — the `leader_address` it reports
 * for itself (its api_addr, which may be a DNS name where we probe an IP).
 */
function namesOf(node: NodeHealth): Set<string> {
  const names = new Set<string>();
  if (node.address !== undefined && node.address !== '') names.add(normaliseAddress(node.address));
  if (node.claimsActive && node.leaderAddress !== undefined) names.add(normaliseAddress(node.leaderAddress));
  return names;
}

/** Members a (normalised) address names, sorted by instance id. */
export function nodesNamedBy(address: string, nodes: NodeHealth[]): NodeHealth[] {
  return nodes.filter((n) => namesOf(n).has(address)).sort(byId);
}

const VOTER_CLASSES: ReadonlySet<NodeHealth['class']> = new Set(['standby', 'perf-standby', 'ha-unhealthy']);

export interface StandbyVotes {
  /** Standbys that answered and report a leader address (claimants excluded: they would vote for themselves). */
  voters: NodeHealth[];
  /** Normalised address → voter instance ids. */
  tally: Map<string, string[]>;
  /** The address named by strictly more than half of the voters. */
  majority?: string;
}

export function standbyVotes(nodes: NodeHealth[]): StandbyVotes {
  const voters = nodes
    .filter((n) => n.answered && !n.claimsActive && VOTER_CLASSES.has(n.class) && n.leaderAddress !== undefined)
    .sort(byId);
  const tally = new Map<string, string[]>();
  for (const voter of voters) {
    const address = normaliseAddress(voter.leaderAddress ?? '');
    tally.set(address, [...(tally.get(address) ?? []), voter.instanceId]);
  }
  const votes: StandbyVotes = { voters, tally };
  for (const [address, ids] of tally) {
    if (ids.length * 2 > voters.length) votes.majority = address;
  }
  return votes;
}

function byId(a: { instanceId: string }, b: { instanceId: string }): number {
  return a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0;
}

function namedList(address: string, nodes: NodeHealth[]): string {
  const named = nodesNamedBy(address, nodes);
  return named.length > 0 ? named.map((n) => n.instanceId).join('/') : 'no member';
}

function describeVotes(votes: StandbyVotes, nodes: NodeHealth[]): string {
  if (votes.voters.length === 0) return 'no standby reports a leader address';
  if (votes.majority !== undefined) {
    const ids = votes.tally.get(votes.majority) ?? [];
    return `standbys' majority (${ids.length} of ${votes.voters.length}: ${ids.join(', ')}) names ${quoted(votes.majority)} (${namedList(votes.majority, nodes)})`;
  }
  const parts = [...votes.tally.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([address, ids]) => `${ids.join(', ')} → ${quoted(address)} (${namedList(address, nodes)})`);
  return `standbys split with no majority: ${parts.join('; ')}`;
}

function describeLock(lock: LockObservation): string {
  switch (lock.state) {
    case 'HELD':
      return `lock HELD by identity ${quoted(lock.identity ?? '?')} (${lock.remainingMs ?? '?'} ms left)`;
    case 'EXPIRED':
      return `lock EXPIRED (identity ${quoted(lock.identity ?? '?')}, ${-(lock.remainingMs ?? 0)} ms ago)`;
    case 'ABSENT':
      return 'lock item ABSENT';
    case 'UNREADABLE':
      return `lock UNREADABLE${lock.detail ? ` (${lock.detail})` : ''}`;
    case 'NOT_APPLICABLE':
      return 'no lock item (integrated storage)';
  }
}

function describeNode(node: NodeHealth): string {
  return node.statusCode !== undefined ? `${node.instanceId} (${node.class}, HTTP ${node.statusCode})` : `${node.instanceId} (${node.class})`;
}

/** Changes between consecutive defined values; gaps (ticks with no value) do not count as changes. */
function countChanges(values: (string | undefined)[]): number {
  let changes = 0;
  let last: string | undefined;
  for (const value of values) {
    if (value === undefined) continue;
    if (last !== undefined && value !== last) changes += 1;
    last = value;
  }
  return changes;
}

function compareNs(a: string, b: string): number | undefined {
  try {
    const x = BigInt(a);
    const y = BigInt(b);
    return x === y ? 0 : x > y ? 1 : -1;
  } catch {
    return undefined;
  }
}

export function assessLeadership(input: AssessInput): SplitBrainVerdict {
  const { nodes, lock, history, haType, policy } = input;
  const sorted = [...nodes].sort(byId);
  const claimants = sorted.filter((n) => n.claimsActive);
  const claimantIds = claimants.map((n) => n.instanceId);
  const votes = standbyVotes(sorted);
  const findings = sorted.flatMap((n) => n.findings.map((f) => `${n.instanceId}: ${f}`));

  const verdict = (kind: VerdictKind, reasons: string[], extra: Partial<SplitBrainVerdict> = {}): SplitBrainVerdict => {
    const v: SplitBrainVerdict = { kind, reasons: [...reasons, ...findings], claimants: claimantIds, lock, ...extra };
    if (votes.majority !== undefined) v.standbyLeaderAddress = votes.majority;
    return v;
  };

  // Probe blindness beats everything: when no running member answers at all,
  // the fault is far more likely in our own network path than in every node.
  const running = sorted.filter((n) => n.instanceState === 'running');
  if (running.length > 0 && !sorted.some((n) => n.answered)) {
    const why = running.map((n) => `${n.instanceId}${n.findings[0] ? ` (${n.findings[0]})` : ''}`).join(', ');
    return { kind: 'probe-blind', reasons: [`no running member answered the probe: ${why}`], claimants: [], lock };
  }

  const usesLock = haType === 'dynamodb';
  const lockReason = usesLock
    ? describeLock(lock)
    : haType === 'none'
      ? 'no readable HA lock (haLock "none"): judged by the nodes\' own views only'
      : 'integrated storage: judged by the nodes\' own views only';
  const votesReason = describeVotes(votes, sorted);
  const majorityNames = (node: NodeHealth): boolean => votes.majority !== undefined && namesOf(node).has(votes.majority);
  const lockUnusable = usesLock && (lock.state === 'UNREADABLE' || lock.state === 'NOT_APPLICABLE');

  if (claimants.length >= 2) {
    const reasons = [`${claimantIds.join(' and ')} claim active at the same time: ${claimants.map(describeNode).join(', ')}`, votesReason, lockReason];
    const named = claimants.filter(majorityNames);
    const candidate = named.length === 1 ? named[0] : undefined;
    if (candidate === undefined) {
      reasons.push('no legitimate active can be named: the standbys do not single out one claimant');
      return verdict('split-brain', reasons);
    }
    if (candidate.class !== 'active') {
      reasons.push(`no legitimate active: ${candidate.instanceId}, named by the standbys, answers health as ${candidate.class}`);
      return verdict('split-brain', reasons);
    }
    if (usesLock && lock.state !== 'HELD') {
      reasons.push(`no legitimate active: the standbys name ${candidate.instanceId} but the lock is ${lock.state}, so no claimant provably holds it`);
      return verdict('split-brain', reasons);
    }
    reasons.push(
      usesLock
        ? `${candidate.instanceId} is legitimate: named by the standbys while the lock is held; the other claimants are stale`
        : `${candidate.instanceId} is legitimate: named by the standbys' majority; the other claimants are stale`,
    );
    return verdict('split-brain', reasons, { legitimateActive: candidate.instanceId });
  }

  if (claimants.length === 1) {
    const claimant = claimants[0] as NodeHealth;
    const id = claimant.instanceId;
    const claimReason = `${id} is the only claimant: ${describeNode(claimant)}`;

    if (claimant.class !== 'active') {
      return verdict('leader-disagreement', [
        `${id} claims active through /v1/sys/leader but its health answer says ${claimant.class}`,
        votesReason,
        lockReason,
      ]);
    }
    if (usesLock && (lock.state === 'EXPIRED' || lock.state === 'ABSENT')) {
      return verdict('stale-leader', [
        `${id} claims active but the ${lockReason}: it no longer holds leadership and Vault will step it down`,
        claimReason,
        votesReason,
      ]);
    }
    if (votes.majority !== undefined && !majorityNames(claimant)) {
      // In DynamoDB mode the standbys read the leader advertisement that the
      // current lock holder wrote, so they outrank the claimant's own word. With
      // Raft the standbys' view is only as fresh as their last heartbeat, so it
      // contradicts the claim without settling it; with haLock "none" no lock
      // says whose advertisement is current, so it settles nothing either.
      const headline = `${id} claims active but the standbys name ${votes.majority} (${namedList(votes.majority, sorted)})`;
      return verdict(usesLock ? 'stale-leader' : 'leader-disagreement', [headline, claimReason, votesReason, lockReason]);
    }
    if (votes.voters.length > 0 && votes.majority === undefined) {
      return verdict('leader-disagreement', [`${id} claims active but the standbys are split`, claimReason, votesReason, lockReason]);
    }

    // From here: the standbys' majority names the claimant, or no standby votes.
    const healthyReasons = [claimReason, votesReason, lockReason];
    if (lockUnusable) {
      // An unreadable lock is not evidence either way. A single claimant that
      // the standbys (who read the same storage) confirm is what Vault's own HA
      // produced, and routing to the only claimant can never route to two
      // actives; refusing would de-route a working cluster because the
      // controller lost DynamoDB access. Without any standby confirmation we
      // only name it when no other member could be a hidden leader.
      const hidden = sorted.filter((n) => n.instanceId !== id && n.evidenceIsAbsence);
      if (votes.majority === undefined && hidden.length > 0) {
        return verdict('leader-disagreement', [
          `cannot confirm ${id}: the lock is unreadable, no standby names a leader, and ${hidden.map((n) => n.instanceId).join(', ')} did not answer`,
          ...healthyReasons,
        ]);
      }
      healthyReasons.push(
        votes.majority !== undefined
          ? `lock gives no evidence; ${id} is named on the standbys' confirmation alone`
          : `lock gives no evidence; ${id} is named because every other member answered definitively`,
      );
    }
    return withFlapping(verdict('healthy', healthyReasons, { legitimateActive: id }), history, lock, policy);
  }

  // Nobody claims active.
  if (usesLock && lock.state === 'HELD' && lock.identity !== undefined && lock.expiresAtNs !== undefined) {
    const previous = history.ticks[history.ticks.length - 1];
    const sameIdentity = previous?.lockIdentity === lock.identity;
    // Compare with every earlier tick of the current run in which nobody claimed
    // active under this same identity, not just the previous one: ticks may come
    // faster than Vault renews (every 5 s), so two neighbours can show the same
    // Expires while the holder keeps renewing. A holder that died renews nothing
    // after its death, so within such a run its Expires never moves.
    const leaderless = trailingLeaderlessRun(history, lock.identity);
    const advanced = leaderless.some((t) => t.lockExpiresAtNs !== undefined && compareNs(lock.expiresAtNs!, t.lockExpiresAtNs) === 1);
    const namedAnswering = [...votes.tally.keys()].flatMap((address) => nodesNamedBy(address, sorted)).filter((n) => n.answered);
    if (advanced && namedAnswering.length === 0) {
      return zombieVerdict(verdict, sorted, votes, lock, history, policy, [votesReason]);
    }
    const why = !sameIdentity
      ? previous?.lockIdentity === undefined
        ? 'first observation of this lock identity, cannot tell yet whether it is being renewed'
        : `lock identity changed since the previous tick (was ${quoted(previous.lockIdentity ?? '?')}): a new holder is taking over`
      : !advanced
        ? 'Expires has not advanced since the active disappeared: the holder stopped renewing (Vault waits out the 15 s TTL before another node takes over)'
        : `the standbys name ${namedAnswering.map((n) => n.instanceId).join(', ')}, which answer${namedAnswering.length === 1 ? 's' : ''} but do${namedAnswering.length === 1 ? 'es' : ''} not claim active`;
    return verdict('no-leader', [`no member claims active; ${lockReason}`, why, votesReason]);
  }

  const lockWhy = !usesLock
    ? lockReason
    : lock.state === 'UNREADABLE' || lock.state === 'NOT_APPLICABLE'
      ? `${lockReason}: not used to invent a leader`
      : lockReason;
  return verdict('no-leader', [`no member claims active; ${lockWhy}`, votesReason]);
}

/** The newest ticks, back to the first one that had a claimant or another lock identity. */
function trailingLeaderlessRun(history: ClusterHistory, identity: string): TickMemory[] {
  const run: TickMemory[] = [];
  for (let i = history.ticks.length - 1; i >= 0; i -= 1) {
    const t = history.ticks[i];
    if (t === undefined || t.lockIdentity !== identity || t.claimants.length > 0) break;
    run.push(t);
  }
  return run;
}

function zombieVerdict(
  verdict: (kind: VerdictKind, reasons: string[], extra?: Partial<SplitBrainVerdict>) => SplitBrainVerdict,
  nodes: NodeHealth[],
  votes: StandbyVotes,
  lock: LockObservation,
  history: ClusterHistory,
  policy: AssessPolicy,
  extraReasons: string[],
): SplitBrainVerdict {
  const identity = lock.identity as string;
  const expiresAtNs = lock.expiresAtNs as string;
  const zombie = votes.majority !== undefined ? nodesNamedBy(votes.majority, nodes).find((n) => !n.answered) : undefined;
  const holder = zombie !== undefined ? zombie.instanceId : votes.majority !== undefined ? `${votes.majority} (not a member)` : 'an unknown holder';

  // Consecutive zombie ticks with the same identity, newest backwards, plus this one.
  let streak = 1;
  for (let i = history.ticks.length - 1; i >= 0; i -= 1) {
    const tick = history.ticks[i];
    if (tick?.verdict !== 'zombie-leader' || tick.lockIdentity !== identity) break;
    streak += 1;
  }

  const reasons = [
    'no reachable member claims active',
    `lock HELD by identity ${quoted(identity)} and its Expires keeps advancing (now ${quoted(expiresAtNs)}): ${holder} keeps renewing it`,
    ...extraReasons,
    `zombie evidence for ${streak}/${policy.breakLockAfterTicks} consecutive ticks`,
  ];
  const extra: Partial<SplitBrainVerdict> = {};
  if (streak >= policy.breakLockAfterTicks) {
    extra.fencing = {
      action: 'break-lock',
      identity,
      expiresAtNs,
      reason: `lock identity ${quoted(identity)} renewed by unreachable ${holder} for ${streak} consecutive ticks`,
      ...(zombie !== undefined ? { zombieInstanceId: zombie.instanceId } : {}),
    };
    reasons.push(`fencing recommended: delete the lock item only if Identity=${quoted(identity)} and Expires=${quoted(expiresAtNs)}`);
  }
  return verdict('zombie-leader', reasons, extra);
}

/**
 * `flapping` overrides `healthy` only: the active is still named so routing
 * continues, but an operator hears that leadership keeps moving (lock Identity
 * churn is Vault issue #6636's symptom).
 */
function withFlapping(
  healthy: SplitBrainVerdict,
  history: ClusterHistory,
  lock: LockObservation,
  policy: AssessPolicy,
): SplitBrainVerdict {
  const window = Math.max(2, Math.floor(policy.flappingWindowTicks));
  const past = history.ticks.slice(-(window - 1));
  const actives = [...past.map((t) => t.activeInstanceId), healthy.legitimateActive];
  const identities = [...past.map((t) => t.lockIdentity), lock.identity];
  const activeChanges = countChanges(actives);
  const identityChanges = countChanges(identities);
  if (activeChanges < policy.flappingChanges && identityChanges < policy.flappingChanges) return healthy;

  const sequence = actives.filter((a): a is string => a !== undefined).join(' → ');
  const why =
    activeChanges >= policy.flappingChanges
      ? `the legitimate active changed ${activeChanges} times in the last ${actives.length} ticks (${sequence})`
      : `the lock identity changed ${identityChanges} times in the last ${identities.length} ticks`;
  return { ...healthy, kind: 'flapping', reasons: [`leadership is flapping: ${why}`, ...healthy.reasons] };
}
