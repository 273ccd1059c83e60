import { REAL_LOCK_TIMINGS, type LockTimings } from '../../functions/core/ha-lock.js';

/**
 * Vault's DynamoDB lock timings multiplied by `factor` (e.g. 0.02 → 300 ms TTL,
 * 100 ms renewals, 20 ms retries). The failure count stays Vault's: only time
 * is compressed, so every ratio (TTL vs renew, watch window vs TTL) is kept.
 */
export function scaledTimings(factor: number): LockTimings {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`scaledTimings: factor must be a positive number, got ${factor}`);
  const scale = (ms: number): number => Math.max(1, Math.round(ms * factor));
  return {
    ttlMs: scale(REAL_LOCK_TIMINGS.ttlMs),
    renewIntervalMs: scale(REAL_LOCK_TIMINGS.renewIntervalMs),
    retryIntervalMs: scale(REAL_LOCK_TIMINGS.retryIntervalMs),
    watchRetryIntervalMs: scale(REAL_LOCK_TIMINGS.watchRetryIntervalMs),
    watchMaxFailures: REAL_LOCK_TIMINGS.watchMaxFailures,
    standbyLeaderRefreshMs: scale(REAL_LOCK_TIMINGS.standbyLeaderRefreshMs),
    stepDownBackoffMs: scale(REAL_LOCK_TIMINGS.stepDownBackoffMs),
  };
}
