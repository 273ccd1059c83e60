/**
 * The failover drill's observation loop, one step per poll (pure): record the
 * poll, check the stop conditions and the routing invariants, and say whether
 * the failover is complete.
 *
 * Stop conditions, checked on every observation (issue 11; AWS FIS stops an
 * experiment the same way, on a CloudWatch alarm):
 *  - `two-actives-routed`: two registered targets claim active (DESIGN §5.3)
 *    beyond the grace of two controller ticks (below);
 *  - `alarm`: a `stopOnAlarms` alarm is in ALARM;
 *  - `split-brain`: two nodes claim active for longer than `maxSplitBrainSeconds`
 *    (DynamoDB HA has a ~10 s window by construction, DESIGN §3.4, so a short
 *    overlap is expected during a storage partition);
 *  - `no-new-active`: no new active routed within maxRtoSeconds × 2.
 * A stopped drill restores what it can and reports `aborted` with the reason.
 *
 * Invariants counted over every poll (not only the recorded ones):
 *  - never two actives routed (DESIGN §5.3);
 *  - never an empty target group while an unsealed node is alive (§5.11);
 *  - a sealed node is never routed.
 * "Routed" for the first and the last allows two controller ticks: the
 * controller acts on what it sees at its tick, so between a change and its
 * next tick the load balancer still holds what was right before (a stale
 * leader cut from storage keeps claiming active ~25 s while a standby, already
 * registered under all-unsealed routing, takes the expired lock after ~15 s:
 * DESIGN §3.4; a freshly sealed node is removed at the next tick, §5.4), and
 * the drill's polls are not aligned with the ticks. Past that it is the
 * controller's failure, and the drill counts it (and stops on two actives).
 */
import type { ClientSample, ClientTally } from './drill-client.js';
import { clientsServed, tallyClient } from './drill-client.js';
import { MAX_RECORDED_POLLS, NO_NEW_ACTIVE_FACTOR, UNSEALED_CLASSES, type AlarmState, type DrillPoll, type ObserveBudget } from './drill.js';

export type StopCondition = 'alarm' | 'split-brain' | 'two-actives-routed' | 'no-new-active';

export interface StopVerdict {
  condition: StopCondition;
  reason: string;
  at: string;
}

export interface InvariantTally {
  /** Polls in which two or more registered targets had claimed active for longer than the grace. */
  twoActivesRouted: number;
  /** Since when two or more registered targets claim active without a break ('' when not). */
  twoActivesSince: string;
  /** Polls with no registered target while an unsealed node was alive. */
  emptyWhileUnsealed: number;
  /** Polls in which a sealed node was routed past the grace. */
  sealedRouted: number;
  /** Since when each sealed node has been seen registered and healthy (ISO). */
  sealedRoutedSince: Record<string, string>;
  /** The first few violations, in words. */
  examples: string[];
}

export function emptyInvariants(): InvariantTally {
  return { twoActivesRouted: 0, twoActivesSince: '', emptyWhileUnsealed: 0, sealedRouted: 0, sealedRoutedSince: {}, examples: [] };
}

const MAX_EXAMPLES = 10;

/** Registered (non-draining) targets whose node claims active. */
export function registeredClaimants(poll: DrillPoll): string[] {
  const claim = new Set(poll.claimants);
  return poll.registered.map((r) => r.instanceId).filter((id) => claim.has(id));
}

/** One poll's contribution to the invariant checks. `graceMs`: two controller ticks. */
export function checkInvariants(prev: InvariantTally | undefined, poll: DrillPoll, graceMs: number): InvariantTally {
  const t: InvariantTally = { ...(prev ?? emptyInvariants()), sealedRoutedSince: { ...(prev?.sealedRoutedSince ?? {}) }, examples: [...(prev?.examples ?? [])] };
  const note = (s: string): void => {
    if (t.examples.length < MAX_EXAMPLES) t.examples.push(`${poll.at}: ${s}`);
  };
  const nowMs = Date.parse(poll.at);
  const actives = registeredClaimants(poll);
  t.twoActivesSince = actives.length >= 2 ? t.twoActivesSince || poll.at : '';
  if (t.twoActivesSince !== '' && nowMs - Date.parse(t.twoActivesSince) > graceMs) {
    t.twoActivesRouted += 1;
    note(`two actives routed (${actives.join(', ')}) since ${t.twoActivesSince}`);
  }
  const unsealed = Object.entries(poll.classes).filter(([, c]) => UNSEALED_CLASSES.has(c)).map(([id]) => id);
  if (poll.registered.length === 0 && unsealed.length > 0) {
    t.emptyWhileUnsealed += 1;
    note(`no target registered while ${unsealed.join(', ')} ${unsealed.length === 1 ? 'is' : 'are'} unsealed`);
  }
  const sealedHealthy = poll.registered.filter((r) => r.state === 'healthy' && poll.classes[r.instanceId] === 'sealed').map((r) => r.instanceId);
  for (const id of Object.keys(t.sealedRoutedSince)) if (!sealedHealthy.includes(id)) delete t.sealedRoutedSince[id];
  let routedPastGrace = false;
  for (const id of sealedHealthy) {
    const since = t.sealedRoutedSince[id] ?? poll.at;
    t.sealedRoutedSince[id] = since;
    if (nowMs - Date.parse(since) > graceMs) {
      routedPastGrace = true;
      note(`sealed ${id} still routed (registered and healthy since ${since})`);
    }
  }
  if (routedPastGrace) t.sealedRouted += 1;
  return t;
}

export function invariantsHeld(t: InvariantTally | undefined): boolean {
  return !t || (t.twoActivesRouted === 0 && t.emptyWhileUnsealed === 0 && t.sealedRouted === 0);
}

/** The failover is complete when a legitimate active other than the old one is registered AND healthy in the load balancer. */
export function routedNewActive(poll: DrillPoll, oldInstanceId: string): string | undefined {
  const a = poll.legitimateActive;
  if (a === null || a === oldInstanceId) return undefined;
  return poll.registered.some((t) => t.instanceId === a && t.state === 'healthy') ? a : undefined;
}

export interface ObserveMark {
  at: string;
  n: number;
  /** Stop looping: failed over (and clients served), a stop condition, or the bound. */
  done: boolean;
  /** A stop condition fired: the ASL restores and the report says `aborted`. */
  stopped: boolean;
  outcome: 'observing' | 'failed-over' | 'stopped' | 'bound-reached';
  newActive: string;
  /** When the routed new active was first seen (ISO, '' until then). */
  routedAt: string;
  polls: DrillPoll[];
  /** Polls left out of `polls` to keep the payload bounded. */
  droppedPolls: number;
  /** Since when two nodes have claimed active without a break ('' when not). */
  splitSince: string;
  /** The longest continuous split-brain seen, seconds. */
  longestSplitSeconds: number;
  stop?: StopVerdict;
  client?: ClientTally;
  invariants: InvariantTally;
  /** The moments of the failover, from the polls (ISO, '' until seen). */
  detectedAt: string;
  electedAt: string;
}

export interface ObserveInput {
  poll: DrillPoll;
  nowMs: number;
  fault: { oldInstanceId: string; injectedAt: string };
  budget: ObserveBudget;
  maxSplitBrainSeconds: number;
  /** Stop-condition alarms as read this poll (empty when none configured). */
  alarms: readonly AlarmState[];
  /** Client probe requests sent during this observe task (none without a listener). */
  clientSamples?: readonly ClientSample[];
  /** Whether the drill measures clients (a listener is configured): then the failover is complete only once they are served. */
  measuresClients: boolean;
  /** Two controller ticks, ms (the grace of "never two actives routed" and "sealed never routed"). */
  sealedGraceMs: number;
}

/** One step of the observation loop. */
export function observeStep(prev: Partial<ObserveMark> & { at: string }, i: ObserveInput): ObserveMark {
  const { poll, fault, budget } = i;
  const n = (prev.n ?? 0) + 1;
  let polls = [...(prev.polls ?? []), poll];
  let dropped = prev.droppedPolls ?? 0;
  if (polls.length > MAX_RECORDED_POLLS) {
    // Keep the first polls (the fault's effect) and the latest; the middle is the least informative.
    const excess = polls.length - MAX_RECORDED_POLLS;
    polls = [...polls.slice(0, 10), ...polls.slice(10 + excess)];
    dropped += excess;
  }
  const client = i.measuresClients ? tallyClient(prev.client, i.clientSamples ?? []) : undefined;
  const invariants = checkInvariants(prev.invariants, poll, i.sealedGraceMs);

  const detectedAt = prev.detectedAt || (poll.legitimateActive !== fault.oldInstanceId ? poll.at : '');
  const electedAt = prev.electedAt || (poll.claimants.some((c) => c !== fault.oldInstanceId) ? poll.at : '');
  const split = poll.claimants.length >= 2;
  const splitSince = split ? prev.splitSince || poll.at : '';
  const splitSeconds = split ? (Date.parse(poll.at) - Date.parse(splitSince)) / 1000 : 0;
  const longestSplitSeconds = Math.max(prev.longestSplitSeconds ?? 0, splitSeconds);

  const routedBefore = prev.routedAt ? { at: prev.routedAt, id: prev.newActive as string } : undefined;
  const routedNow = routedNewActive(poll, fault.oldInstanceId);
  const routed = routedBefore ?? (routedNow !== undefined ? { at: poll.at, id: routedNow } : undefined);

  const base = {
    at: prev.at,
    n,
    polls,
    droppedPolls: dropped,
    splitSince,
    longestSplitSeconds,
    invariants,
    detectedAt,
    electedAt,
    newActive: routed?.id ?? '',
    routedAt: routed?.at ?? '',
    ...(client ? { client } : {}),
  };

  const stop = stopCondition(i, poll, invariants, splitSince, splitSeconds, routed !== undefined);
  if (stop) return { ...base, done: true, stopped: true, outcome: 'stopped', stop };

  // Not complete while two actives are routed: the controller's next tick resolves it (or the stop above fires).
  const complete = routed !== undefined && invariants.twoActivesSince === '' && (!i.measuresClients || clientsServed(client));
  if (complete) return { ...base, done: true, stopped: false, outcome: 'failed-over' };
  const elapsedMs = i.nowMs - Date.parse(fault.injectedAt);
  const bound = n >= budget.maxPolls || elapsedMs >= budget.boundSeconds * 1000;
  // Routed but clients still failing at the bound: the report says so (client-visible RTO not reached).
  return { ...base, done: bound, stopped: false, outcome: bound ? 'bound-reached' : 'observing' };
}

function stopCondition(i: ObserveInput, poll: DrillPoll, inv: InvariantTally, splitSince: string, splitSeconds: number, routed: boolean): StopVerdict | undefined {
  const at = poll.at;
  if (inv.twoActivesSince !== '' && Date.parse(poll.at) - Date.parse(inv.twoActivesSince) > i.sealedGraceMs) {
    const actives = registeredClaimants(poll);
    return {
      condition: 'two-actives-routed',
      at,
      reason: `two registered targets claim active since ${inv.twoActivesSince}, longer than two controller ticks (${i.sealedGraceMs / 1000} s): ${actives.join(' and ')} (never route to two actives, DESIGN §5.3)`,
    };
  }
  const firing = i.alarms.filter((a) => a.state === 'ALARM');
  if (firing.length > 0) {
    return { condition: 'alarm', at, reason: `stop-condition alarm ${firing.map((a) => `"${a.name}"${a.reason ? ` (${a.reason})` : ''}`).join(', ')} in ALARM` };
  }
  if (splitSince !== '' && splitSeconds > i.maxSplitBrainSeconds) {
    return { condition: 'split-brain', at, reason: `${poll.claimants.join(' and ')} have claimed active together since ${splitSince} (${splitSeconds} s > maxSplitBrainSeconds ${i.maxSplitBrainSeconds})` };
  }
  const elapsedMs = i.nowMs - Date.parse(i.fault.injectedAt);
  if (!routed && elapsedMs >= i.budget.boundSeconds * 1000) {
    return { condition: 'no-new-active', at, reason: `no new active was routed within ${i.budget.boundSeconds} s (maxRtoSeconds × ${NO_NEW_ACTIVE_FACTOR}) of the injection` };
  }
  return undefined;
}
