/**
 * Interpretation of Vault's DynamoDB HA lock item against the controller's
 * clock (DESIGN §3.4). Pure: the adapter reads the item, this decides what it means.
 */
import { NS_PER_MS } from './ha-lock.js';
import { quoted } from './text.js';
import type { LockItemRead, LockObservation } from './types.js';

const DECIMAL_INTEGER = /^-?\d+$/;

/**
 * `Expires` is Unix time in nanoseconds written with the HOLDER's clock
 * (~1.7e18, beyond Number.MAX_SAFE_INTEGER), so it is compared as a bigint.
 * `skewToleranceMs` widens HELD: a lock that looks a little expired to us may
 * still be valid to a contender whose clock is behind ours, and calling it
 * EXPIRED too early would make a live leader look stale.
 */
export function observeLock(read: LockItemRead, nowMs: number, skewToleranceMs: number): LockObservation {
  if (read.type === 'raft') {
    return { state: 'NOT_APPLICABLE', detail: 'integrated storage (raft) has no lock item' };
  }
  if (read.type === 'none') {
    return { state: 'NOT_APPLICABLE', detail: 'haLock "none": the storage\'s HA lock is not readable by the controller' };
  }
  if ('error' in read) {
    return { state: 'UNREADABLE', detail: `lock item in ${read.table} unreadable: ${read.error}` };
  }
  if (!read.present) {
    return { state: 'ABSENT', detail: `no lock item in ${read.table}` };
  }

  const observed = { identity: read.identity, value: read.value, expiresAtNs: read.expiresAtNs };
  const raw = read.expiresAtNs.trim();
  if (!DECIMAL_INTEGER.test(raw)) {
    return {
      state: 'UNREADABLE',
      ...observed,
      detail: `lock item in ${read.table} has a non-integer Expires "${quoted(read.expiresAtNs)}"`,
    };
  }

  const expiresNs = BigInt(raw);
  const nowNs = BigInt(Math.floor(nowMs)) * NS_PER_MS;
  const toleranceNs = BigInt(Math.max(0, Math.floor(skewToleranceMs))) * NS_PER_MS;
  const remainingMs = Number((expiresNs - nowNs) / NS_PER_MS);
  const held = expiresNs + toleranceNs >= nowNs;
  return {
    state: held ? 'HELD' : 'EXPIRED',
    ...observed,
    remainingMs,
    detail: held
      ? `lock held by identity ${quoted(read.identity)}, ${remainingMs} ms left`
      : `lock of identity ${quoted(read.identity)} expired ${-remainingMs} ms ago`,
  };
}
