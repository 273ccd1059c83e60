/**
 * When the controller writes (issue #9 "Fewer calls"): its run lease is
 * renewed only as its expiry needs, a cluster's state item only when what the
 * next run would decide from has changed (and at the end of an invocation),
 * and an observation item only on a change of verdict, plan, classes or
 * actions, plus a bounded heartbeat. Pure: the shell passes what it last wrote
 * and the clock.
 *
 * Why skipping writes keeps the safety invariants (DESIGN §5): a run killed
 * before it wrote loses only ticks whose decision inputs equal the last
 * written ones (same verdict, counts, lock identity, claimants). The next run
 * then sees a shorter history: hysteresis counts, zombie streaks and
 * auto-replace clocks restart lower, which only delays actions; nothing that
 * justifies an action (a claimant tied to a lock identity, a verdict) is ever
 * missing from what was written.
 */
import type { ClusterHistory, NodeHealth, TickMemory, VerdictKind } from './types.js';

/** An observation is written at least this often while nothing changes (inside `vault-ha status`'s 5-minute window). */
export const OBSERVATION_HEARTBEAT_MS = 240_000;

/* ------------------------------------------------------------------ lease */

export interface LeaseClock {
  /** The run lease expires then (ms). */
  expiresAtMs: number;
  nowMs: number;
  /** The longest wait between two ticks. */
  intervalMs: number;
  /** What one tick may take (slowest probe and slack): the lease must outlive it. */
  tickBudgetMs: number;
}

/**
 * Renew now when the lease would not cover this tick and the next one: after
 * at most `intervalMs` the next tick starts and must still find a whole tick
 * budget left. Renewing later than that could leave a tick acting on an
 * expired lease; earlier is a wasted write.
 */
export function leaseRenewalDue(c: LeaseClock): boolean {
  return c.expiresAtMs - c.nowMs < c.intervalMs + c.tickBudgetMs;
}

/** The run may act this tick only if its lease outlives the tick. */
export function leaseCoversTick(c: Pick<LeaseClock, 'expiresAtMs' | 'nowMs' | 'tickBudgetMs'>): boolean {
  return c.expiresAtMs - c.nowMs >= c.tickBudgetMs;
}

/* ------------------------------------------------------------------ state */

/** The persisted controller state (control-table.ts ClusterState). */
export interface StateForWrite {
  history: ClusterHistory;
  lastVerdict?: VerdictKind;
  lastVerdictSinceMs?: number;
  lastNotifiedVerdict?: VerdictKind;
  /** Since when each instance has been seen gone (stopped/terminated/unreachable), for auto-replace. */
  goneSinceMs: Record<string, number>;
  /** The last observation item written: what it said and when. */
  observed?: { signature: string; atMs: number };
}

/**
 * Failure counts matter only up to the unhealthy threshold (the planner
 * compares `count < policy.unhealthyThreshold`, at most 10 by the config
 * schema): a node that keeps hanging past it changes no decision, so its
 * growing count alone is no reason to write the state every tick.
 */
export const DECISIVE_FAILURE_COUNT = 10;

function decisiveCounts(r: Record<string, number>): Array<[string, number]> {
  return sortedEntries(r).map(([k, v]) => [k, Math.min(v, DECISIVE_FAILURE_COUNT)]);
}

/** A tick as the next run's decisions use it: everything but when it was taken and the lock's running Expires. */
function decisionTick(t: TickMemory | undefined): Omit<TickMemory, 'atMs' | 'lockExpiresAtNs'> | null {
  if (t === undefined) return null;
  const { atMs: _at, lockExpiresAtNs: _exp, ...rest } = t;
  return rest;
}

/**
 * What the next run would decide from, as a string to compare: counts,
 * clocks, verdicts and the newest tick without its time stamps. Equal
 * fingerprints mean a run killed now loses nothing it needs by not writing.
 */
export function stateFingerprint(s: StateForWrite): string {
  return JSON.stringify([
    s.lastVerdict ?? null,
    s.lastVerdictSinceMs ?? null,
    s.lastNotifiedVerdict ?? null,
    decisiveCounts(s.history.failureCounts),
    sortedEntries(s.goneSinceMs),
    decisionTick(s.history.ticks[s.history.ticks.length - 1]),
  ]);
}

/** The whole stored state as a string to compare, fields in a fixed order (end of a run: write if anything differs). */
export function stateText(s: StateForWrite): string {
  return JSON.stringify([
    s.history.ticks,
    sortedEntries(s.history.failureCounts),
    s.lastVerdict ?? null,
    s.lastVerdictSinceMs ?? null,
    s.lastNotifiedVerdict ?? null,
    sortedEntries(s.goneSinceMs),
    s.observed ?? null,
  ]);
}

export type StateWrite = 'changed' | 'end-of-run' | 'none';

/**
 * `last`: what the table holds (as last read or written by this run);
 * `endOfRun`: the invocation is about to stop (or hand over).
 */
export function stateWriteDue(last: { fingerprint: string; text: string } | undefined, next: StateForWrite, endOfRun: boolean): StateWrite {
  if (last === undefined || last.fingerprint !== stateFingerprint(next)) return 'changed';
  if (endOfRun && last.text !== stateText(next)) return 'end-of-run';
  return 'none';
}

/* ------------------------------------------------------------ observations */

/** The parts of a tick's report whose change is worth an observation item. */
export interface ObservedTick {
  verdict: VerdictKind;
  plan: { register: string[]; deregister: string[] };
  nodes: Array<{ instanceId: string; class: NodeHealth['class']; instanceState: string }>;
  applied: boolean;
  /** What the tick mutated, failed at, or was stopped by: always recorded. */
  mutations?: { registered: string[]; deregistered: string[] };
  error?: string;
  paused?: unknown;
  fencing?: { result: string };
  takeover?: { result: string };
  autoReplace?: { started?: { result: string } };
}

export function observationSignature(t: ObservedTick): string {
  return JSON.stringify([
    t.verdict,
    [...t.plan.register].sort(),
    [...t.plan.deregister].sort(),
    t.nodes.map((n) => [n.instanceId, n.class, n.instanceState]).sort(),
    t.paused !== undefined,
    t.fencing?.result ?? null,
    t.takeover?.result ?? null,
  ]);
}

export interface LastObservation {
  signature: string;
  atMs: number;
}

/**
 * Write an observation when the verdict, plan, classes (or pause, fencing,
 * takeover) differ from the last one written, when the tick changed
 * something or failed (those ticks are what `vault-ha history` and the drill
 * report read), or when the last one is `heartbeatMs` old.
 */
export function observationDue(last: LastObservation | undefined, tick: ObservedTick, nowMs: number, heartbeatMs = OBSERVATION_HEARTBEAT_MS): boolean {
  if (last === undefined) return true;
  if (tick.applied || tick.error !== undefined || (tick.autoReplace?.started !== undefined)) return true;
  if ((tick.mutations?.registered.length ?? 0) + (tick.mutations?.deregistered.length ?? 0) > 0) return true;
  if (last.signature !== observationSignature(tick)) return true;
  return nowMs - last.atMs >= heartbeatMs || nowMs < last.atMs;
}

function sortedEntries(r: Record<string, number>): Array<[string, number]> {
  return Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
