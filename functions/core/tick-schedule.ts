/**
 * How soon the controller ticks again (DESIGN §3.5, issue "failover faster"):
 * every `probeIntervalSeconds` while every cluster is healthy, faster while
 * one is not — detection and the hysteresis of a failover then take seconds,
 * not intervals — but only for a bounded window, so a lasting split brain
 * (which needs a human) does not keep the loop at its fastest rate forever.
 * Pure: the loop passes in what it saw and the clock.
 */
import type { VerdictKind } from './types.js';

export interface TickSchedule {
  intervalMs: number;
  fastIntervalMs: number;
  fastWindowMs: number;
}

/** The longest wait, in intervals, after consecutive ticks AWS throttled. */
export const THROTTLE_BACKOFF_MAX = 4;

export interface NextTick {
  waitMs: number;
  /** Since when each cluster has been not healthy (carry into the next call). */
  unhealthySinceMs: Record<string, number>;
  fast: boolean;
}

/**
 * `verdicts`: each cluster's verdict on its last tick (undefined when the
 * tick produced none, e.g. the lease was busy); `tickMs`: how long the tick took.
 */
export function nextTick(
  schedule: TickSchedule,
  verdicts: Record<string, VerdictKind | undefined>,
  previous: Record<string, number>,
  nowMs: number,
  tickMs: number,
  /** Consecutive ticks, this one included, in which AWS throttled a call the tick needed (0: not this one). */
  throttledTicks = 0,
): NextTick {
  const unhealthySinceMs: Record<string, number> = {};
  for (const [cluster, kind] of Object.entries(verdicts)) {
    if (kind === undefined || kind === 'healthy') continue;
    unhealthySinceMs[cluster] = previous[cluster] ?? nowMs;
  }
  if (throttledTicks > 0) {
    const intervals = Math.min(THROTTLE_BACKOFF_MAX, 2 ** (throttledTicks - 1));
    return { waitMs: Math.max(0, intervals * schedule.intervalMs - tickMs), unhealthySinceMs, fast: false };
  }
  const fast = Object.values(unhealthySinceMs).some((since) => nowMs - since < schedule.fastWindowMs);
  const interval = fast ? Math.min(schedule.fastIntervalMs, schedule.intervalMs) : schedule.intervalMs;
  return { waitMs: Math.max(0, interval - tickMs), unhealthySinceMs, fast };
}
