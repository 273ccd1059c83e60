/**
 * When the controller may tick with the EC2 members it read earlier instead of
 * calling DescribeInstances again (issue #9: one call per cluster per tick).
 *
 * Vault's own answers and the lock are read every tick; the instance inventory
 * changes only when someone launches, stops, terminates or retags an instance.
 * So the members are read again:
 *  - every FLEET_CACHE_INTERVALS intervals while every cluster is quiet (a new
 *    instance, which no probe can reveal, is seen within that bound);
 *  - at once after any tick that was not quiet (a verdict other than healthy,
 *    a plan, a mutation, a lock delete, a hold, an error, an instance that is
 *    not running): nothing is decided on an old inventory while anything moves;
 *  - in the tick itself, after the probes, when what the nodes answer differs
 *    from the previous tick (`observationChanged`): the decision of that tick
 *    is made on members read after the change, the instances new to it probed
 *    first (`membersToProbe`).
 * A tick on cached members can only see an instance as `running` (a quiet tick
 * saw every member running), which is the state that proves nothing: no lock
 * delete or deregistration ever rests on a cached state.
 *
 * Pure: the previous reports and the clock come from the caller.
 */
import type { Member } from './types.js';

/** Quiet ticks between two reads of the members: with the default 5 s interval, every 20 s. */
export const FLEET_CACHE_INTERVALS = 4;

/** What of a cluster's previous tick report decides whether it was quiet. */
export interface PreviousTick {
  verdict: { kind: string };
  nodes: ReadonlyArray<{ instanceId: string; class: string; instanceState: string }>;
  plan: { register: readonly string[]; deregister: readonly string[] };
  held: readonly unknown[];
  error?: string;
  skipped?: unknown;
  mutations?: unknown;
  takeover?: unknown;
  fencing?: unknown;
  autoReplace?: { started?: unknown };
}

/** A tick in which nothing moved: healthy, nothing planned, held or done, every instance running. */
export function tickWasQuiet(t: PreviousTick | undefined): boolean {
  if (t === undefined) return false;
  return (
    t.verdict.kind === 'healthy' &&
    t.error === undefined &&
    t.skipped === undefined &&
    t.mutations === undefined &&
    t.takeover === undefined &&
    t.fencing === undefined &&
    t.autoReplace?.started === undefined &&
    t.plan.register.length === 0 &&
    t.plan.deregister.length === 0 &&
    t.held.length === 0 &&
    t.nodes.length > 0 &&
    t.nodes.every((n) => n.instanceState === 'running')
  );
}

/**
 * Whether this tick may use the members read at `readAtMs`: a read exists for
 * every cluster, it is younger than FLEET_CACHE_INTERVALS intervals, and every
 * cluster's previous tick was quiet.
 */
export function fleetCacheUsable(args: {
  readAtMs: number | undefined;
  nowMs: number;
  intervalMs: number;
  clusters: ReadonlyArray<{ cached: boolean; previous: PreviousTick | undefined }>;
}): boolean {
  if (args.readAtMs === undefined || args.clusters.length === 0) return false;
  const age = args.nowMs - args.readAtMs;
  if (age < 0 || age >= FLEET_CACHE_INTERVALS * args.intervalMs) return false;
  return args.clusters.every((c) => c.cached && tickWasQuiet(c.previous));
}

/** Whether the nodes answer differently from the previous tick: a member came or went, or a class changed. */
export function observationChanged(previous: PreviousTick['nodes'], now: ReadonlyArray<{ instanceId: string; class: string }>): boolean {
  if (previous.length !== now.length) return true;
  const before = new Map(previous.map((n) => [n.instanceId, n.class]));
  return now.some((n) => before.get(n.instanceId) !== n.class);
}

/** The members of a fresh read that the probes of this tick did not reach (new, or at a new address). */
export function membersToProbe(probed: readonly Member[], fresh: readonly Member[]): Member[] {
  const seen = new Set(probed.map((m) => `${m.instanceId}\u0000${m.address ?? ''}`));
  return fresh.filter((m) => !seen.has(`${m.instanceId}\u0000${m.address ?? ''}`));
}
