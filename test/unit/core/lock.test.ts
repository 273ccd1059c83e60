import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { observeLock } from '../../../functions/core/lock.js';
import type { LockItemRead } from '../../../functions/core/types.js';
import { NOW_MS, expiresNs } from './factories.js';

const IDENTITY = '5b8f1c3e-7d2a-4f6b-9c0e-1a2b3c4d5e6f';
const VALUE = '9e8d7c6b-5a49-4837-a625-1b0c9d8e7f60';

function item(expiresAtNs: string): LockItemRead {
  return { type: 'dynamodb', table: 'vault-data', present: true, identity: IDENTITY, value: VALUE, expiresAtNs };
}

describe('observeLock', () => {
  it('integrated storage has no lock: NOT_APPLICABLE', () => {
    assert.equal(observeLock({ type: 'raft' }, NOW_MS, 1_000).state, 'NOT_APPLICABLE');
  });

  it('a read error is UNREADABLE and keeps the error text', () => {
    const obs = observeLock({ type: 'dynamodb', table: 'vault-data', error: 'ResourceNotFoundException' }, NOW_MS, 1_000);
    assert.equal(obs.state, 'UNREADABLE');
    assert.match(obs.detail ?? '', /ResourceNotFoundException/);
  });

  it('no item is ABSENT', () => {
    assert.equal(observeLock({ type: 'dynamodb', table: 'vault-data', present: false }, NOW_MS, 1_000).state, 'ABSENT');
  });

  it('an item expiring in the future is HELD with the remaining time and the exact attributes', () => {
    const obs = observeLock(item(expiresNs(NOW_MS + 12_000)), NOW_MS, 1_000);
    assert.equal(obs.state, 'HELD');
    assert.equal(obs.remainingMs, 12_000);
    assert.equal(obs.identity, IDENTITY);
    assert.equal(obs.value, VALUE);
    assert.equal(obs.expiresAtNs, expiresNs(NOW_MS + 12_000));
  });

  it('an item expired beyond the skew tolerance is EXPIRED with negative remaining time', () => {
    const obs = observeLock(item(expiresNs(NOW_MS - 3_000)), NOW_MS, 1_000);
    assert.equal(obs.state, 'EXPIRED');
    assert.equal(obs.remainingMs, -3_000);
  });

  it('an item expired within the skew tolerance is still HELD (the writer clock may be behind ours)', () => {
    const obs = observeLock(item(expiresNs(NOW_MS - 800)), NOW_MS, 1_000);
    assert.equal(obs.state, 'HELD');
    assert.equal(obs.remainingMs, -800);
  });

  it('Expires + tolerance exactly equal to now is HELD', () => {
    assert.equal(observeLock(item(expiresNs(NOW_MS - 1_000)), NOW_MS, 1_000).state, 'HELD');
  });

  it('compares at nanosecond precision, beyond what a double can hold', () => {
    const nowNs = BigInt(NOW_MS) * 1_000_000n;
    // 1.76e18 ± 1 ns collapse to the same double; only a bigint comparison tells them apart.
    assert.equal(Number((nowNs - 1n).toString()), Number(nowNs.toString()));
    assert.equal(observeLock(item((nowNs - 1n).toString()), NOW_MS, 0).state, 'EXPIRED');
    assert.equal(observeLock(item(nowNs.toString()), NOW_MS, 0).state, 'HELD');
  });

  it('a non-integer Expires is UNREADABLE, not a guess', () => {
    for (const bad of ['', 'abc', '1.5e18', '17638016000000000x']) {
      assert.equal(observeLock(item(bad), NOW_MS, 1_000).state, 'UNREADABLE', bad);
    }
  });

  it('property: HELD exactly when Expires + tolerance >= now', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -60_000_000_000n, max: 60_000_000_000n }),
        fc.integer({ min: 0, max: 60_000 }),
        (offsetNs, toleranceMs) => {
          const nowNs = BigInt(NOW_MS) * 1_000_000n;
          const expires = nowNs + offsetNs;
          const obs = observeLock(item(expires.toString()), NOW_MS, toleranceMs);
          const expectHeld = expires + BigInt(toleranceMs) * 1_000_000n >= nowNs;
          assert.equal(obs.state, expectHeld ? 'HELD' : 'EXPIRED');
        },
      ),
    );
  });
});
