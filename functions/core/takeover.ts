/**
 * Dead-leader takeover (DESIGN §3.4, §5.10): whether the controller may delete
 * Vault's DynamoDB lock item so that a standby takes it at its next 1 s retry
 * instead of waiting out the 15 s TTL. Pure: the tick's observations and the
 * history come in, a decision with its evidence goes out; the shell performs
 * the conditional delete (adapters/lock-reader.ts `breakLock`).
 *
 * Every condition must hold, and the evidence is never weaker than the TTL's:
 *  - the holder is tied to one member through what the controller itself saw
 *    (that member claimed active while the lock had this same Identity and
 *    Value; Value is the leader UUID, new on every acquisition);
 *  - that member is proven dead: EC2 says its instance is not `running`, or
 *    both of its Vault API requests were refused. A timeout is never proof: a
 *    client-partitioned or wedged holder times out while it keeps renewing
 *    (hashicorp/vault #26580), and so does a TLS or garbage answer;
 *  - the item shows a missed renewal: Expires − TTL is when the holder last
 *    wrote it (its clock), so Expires − TTL + renew interval + skew tolerance
 *    in the past means a renewal that a live holder would have made is missing
 *    — exactly what expiry itself assumes, only sooner;
 *  - an unsealed standby whose HA connection is healthy (not 474, not sealed)
 *    is there to take the lock.
 * Never while probe-blind, never in dry run (reported as `dry-run`), never
 * when `policy.deadLeaderTakeover` is false. A `zombie-leader` verdict is not
 * excluded as such: it says the holder renewed while unreachable at some point
 * of the leaderless run, whereas the missed-renewal condition says it is not
 * renewing now (a wedged holder that kept renewing and whose instance then
 * stopped is dead). A zombie that still renews fails that condition; the
 * shell never runs break-lock fencing in a tick whose takeover deleted.
 */
import { quoted } from './text.js';
import { nodesNamedBy, standbyVotes } from './assess.js';
import { NS_PER_MS, type LockTimings } from './ha-lock.js';
import type {
  ClusterHistory,
  HolderDeathProof,
  HttpAnswer,
  LockObservation,
  NodeHealth,
  ProbeResult,
  SplitBrainVerdict,
  TakeoverDecision,
  TakeoverEvidence,
  TickMemory,
} from './types.js';

export interface TakeoverPolicy {
  /** `policy.deadLeaderTakeover`. */
  enabled: boolean;
  dryRun: boolean;
}

export interface TakeoverInput {
  /** `haLock.type` of the cluster: only `dynamodb` has a lock item to delete. */
  haType: string;
  nodes: NodeHealth[];
  /** This tick's raw probe answers, by instance id: a refusal is read from them, not from the class. */
  probes: ReadonlyMap<string, ProbeResult>;
  verdict: SplitBrainVerdict;
  lock: LockObservation;
  /** The history before this tick. */
  history: ClusterHistory;
  nowMs: number;
  /**
   * When the lock item was read (the read's start: the item is at least that fresh). The
   * missed renewal is judged at this time, not at `nowMs`: the read may precede the probes by
   * a fleet read and a probe timeout, and a holder that renewed meanwhile is not dead. Absent:
   * `nowMs`.
   */
  lockReadAtMs?: number;
  /** Vault's lock timings as the nodes run them. */
  timings: Pick<LockTimings, 'ttlMs' | 'renewIntervalMs'>;
  /** `haLock.skewToleranceMs`. */
  skewToleranceMs: number;
  policy: TakeoverPolicy;
}

/** Classes in which a node competes for the lock with a healthy HA connection. */
const TAKEOVER_CLASSES: ReadonlySet<NodeHealth['class']> = new Set(['standby', 'perf-standby']);

export function decideTakeover(input: TakeoverInput): TakeoverDecision {
  const { lock, verdict, policy } = input;
  const notApplicable = (reason: string): TakeoverDecision => ({ action: 'skip', applicable: false, reason });

  if (input.haType !== 'dynamodb') return notApplicable(`no DynamoDB lock item (haLock type "${input.haType}")`);
  if ((lock.state !== 'HELD' && lock.state !== 'EXPIRED') || lock.identity === undefined || lock.expiresAtNs === undefined) {
    return notApplicable(`nothing to take over: lock ${lock.state}`);
  }
  if (verdict.claimants.length > 0) return notApplicable(`${verdict.claimants.join(', ')} claim${verdict.claimants.length === 1 ? 's' : ''} active`);

  const identity = lock.identity;
  const value = lock.value ?? '';
  const expiresAtNs = lock.expiresAtNs;
  const evidence: Partial<TakeoverEvidence> = { identity, value, expiresAtNs };
  const skip = (reason: string): TakeoverDecision => ({ action: 'skip', applicable: true, reason, evidence: { ...evidence } });

  if (!policy.enabled) return skip('policy.deadLeaderTakeover is false');
  if (verdict.kind === 'probe-blind') return skip('probe-blind: no member answered, so nothing can be proven about the holder');

  // --- who holds it ---
  const tie = tieLockToMember(input.history, identity, value, input.nowMs);
  if ('reason' in tie) return skip(tie.reason);
  const holder = input.nodes.find((n) => n.instanceId === tie.holder);
  if (holder === undefined) return skip(`the lock is tied to ${tie.holder}, which is no longer a member: nothing proves it dead`);
  evidence.holder = holder.instanceId;
  evidence.holderTie = tie.how;
  evidence.holderInstanceState = holder.instanceState;
  const votes = standbyVotes(input.nodes);
  if (votes.majority !== undefined) {
    const named = nodesNamedBy(votes.majority, input.nodes);
    if (named.length > 0 && !named.some((n) => n.instanceId === holder.instanceId)) {
      return skip(
        `the standbys' majority names ${votes.majority} (${named.map((n) => n.instanceId).join('/')}), not ${holder.instanceId}: the lock cannot be tied to one member`,
      );
    }
  }

  // --- when the holder last renewed: measured before the checks so that every report shows it ---
  let expiresNs: bigint;
  try {
    expiresNs = BigInt(expiresAtNs.trim());
  } catch {
    return skip(`lock Expires "${expiresAtNs}" is not an integer`);
  }
  const nowNs = BigInt(Math.floor(Math.min(input.nowMs, input.lockReadAtMs ?? input.nowMs))) * NS_PER_MS;
  const ttlNs = BigInt(Math.floor(input.timings.ttlMs)) * NS_PER_MS;
  const renewalDeadlineMs = Math.floor(input.timings.renewIntervalMs) + Math.max(0, Math.floor(input.skewToleranceMs));
  const lastRenewalNs = expiresNs - ttlNs;
  const msSinceLastRenewal = Number((nowNs - lastRenewalNs) / NS_PER_MS);
  evidence.msSinceLastRenewal = msSinceLastRenewal;
  evidence.renewalDeadlineMs = renewalDeadlineMs;
  evidence.lockRemainingMs = Number((expiresNs - nowNs) / NS_PER_MS);

  // --- (a) proven dead ---
  const proof = deathProof(holder, input.probes.get(holder.instanceId));
  if ('reason' in proof) return skip(proof.reason);
  evidence.proof = proof.proof;
  evidence.proofDetail = proof.detail;

  // --- (b) missed at least one renewal. Exact, in nanoseconds: Expires − TTL + renew interval + skew tolerance < now ---
  if (!(lastRenewalNs + BigInt(renewalDeadlineMs) * NS_PER_MS < nowNs)) {
    return skip(
      `${holder.instanceId} last renewed the lock ${msSinceLastRenewal} ms ago, within the renew interval plus skew tolerance (${renewalDeadlineMs} ms): no renewal is provably missed`,
    );
  }

  // --- (c) someone to take over ---
  const standbys = input.nodes
    .filter((n) => n.instanceId !== holder.instanceId && n.instanceState === 'running' && n.answered && !n.claimsActive && TAKEOVER_CLASSES.has(n.class))
    .map((n) => n.instanceId)
    .sort();
  evidence.standbys = standbys;
  if (standbys.length === 0) {
    return skip('no unsealed standby with a healthy HA connection to take the lock (ha-unhealthy, sealed and unreachable nodes cannot)');
  }

  const full = evidence as TakeoverEvidence;
  const why =
    `${holder.instanceId} holds the lock (${tie.how}) and is dead (${proof.detail}); ` +
    `it last renewed ${msSinceLastRenewal} ms ago (> ${renewalDeadlineMs} ms) and ${standbys.join(', ')} can take over ` +
    `(${full.lockRemainingMs} ms before the TTL would let ${standbys.length === 1 ? 'it' : 'them'})`;
  if (policy.dryRun) return { action: 'dry-run', reason: `dry run: would delete the lock item: ${why}`, evidence: full };
  return { action: 'delete', reason: why, evidence: full };
}

/** Whoever a tick named active: the legitimate active, or its only claimant. */
function namedActive(t: TickMemory): string | undefined {
  if (t.activeInstanceId !== undefined) return t.activeInstanceId;
  return t.claimants.length === 1 ? t.claimants[0] : undefined;
}

/**
 * The lock's holder as the controller itself saw it: the member named active
 * in the newest tick that had a claimant, provided that tick saw this very
 * lock (same Identity and Value). If the lock changed hands after that tick,
 * its new holder was never seen, and nothing ties it to a member.
 */
export function tieLockToMember(
  history: ClusterHistory,
  identity: string,
  value: string,
  nowMs: number,
): { holder: string; how: string } | { reason: string } {
  const ticks = history.ticks;
  let newest: TickMemory | undefined;
  for (let i = ticks.length - 1; i >= 0; i -= 1) {
    const t = ticks[i];
    if (t !== undefined && t.claimants.length > 0) {
      newest = t;
      break;
    }
  }
  if (newest === undefined) {
    return { reason: `no remembered tick saw a member claim active, so the lock (Identity ${quoted(identity)}) cannot be tied to a member` };
  }
  const holder = namedActive(newest);
  if (newest.lockIdentity !== identity || newest.lockValue !== value) {
    return {
      reason: `the lock (Identity ${quoted(identity)}) was taken after ${holder ?? newest.claimants.join('/')} was last seen active under ${newest.lockIdentity === undefined ? 'no readable lock' : `Identity ${quoted(newest.lockIdentity)}`}: its holder was never observed`,
    };
  }
  if (holder === undefined) {
    return { reason: `the last tick with a claimant saw ${newest.claimants.join(' and ')} claim active and named none legitimate` };
  }
  const others = new Set(
    ticks
      .filter((t) => t.lockIdentity === identity && t.lockValue === value)
      .map(namedActive)
      .filter((id): id is string => id !== undefined && id !== holder),
  );
  if (others.size > 0) {
    return { reason: `ticks under this lock named both ${holder} and ${[...others].sort().join(', ')} active: the holder is ambiguous` };
  }
  return { holder, how: `seen active under this Identity and Value ${Math.max(0, nowMs - newest.atMs)} ms ago` };
}

function deathProof(holder: NodeHealth, probe: ProbeResult | undefined): { proof: HolderDeathProof; detail: string } | { reason: string } {
  if (holder.instanceState !== 'running') {
    return { proof: 'instance-not-running', detail: `instance is ${holder.instanceState}` };
  }
  if (probe === undefined) return { reason: `${holder.instanceId} is running and was not probed: not proven dead` };
  const refused = (a: HttpAnswer<unknown>): boolean => !a.ok && a.reason === 'refused';
  if (refused(probe.health) && refused(probe.leader)) {
    const detail = !probe.health.ok && probe.health.detail ? `: ${probe.health.detail}` : '';
    return { proof: 'api-refused', detail: `health and leader requests both refused${detail}` };
  }
  const outcome = (what: string, a: HttpAnswer<unknown>): string => (a.ok ? `${what} answered HTTP ${a.status}` : `${what} ${a.reason}`);
  return {
    reason: `${holder.instanceId} is running and not proven dead (${outcome('health', probe.health)}, ${outcome('leader', probe.leader)}): only a refusal or a stopped instance is proof, never a timeout`,
  };
}
