/**
 * The maintenance pause as pure decisions (functions/core/pause.ts): when a
 * pause is in force, how a new one is validated, the sentence the controller
 * and the CLI share, and the durations `--for` / `--since` accept.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import {
  activePause,
  DEFAULT_PAUSE_MS,
  formatDuration,
  InvalidPauseError,
  MAX_PAUSE_MS,
  newPause,
  parseDuration,
  pausedOutcome,
  pauseSentence,
  type PauseRecord,
} from '../../functions/core/pause.js';

const T0 = Date.parse('2026-12-01T12:00:00.000Z');
const pauseUntil = (untilMs: number, reason?: string): PauseRecord => ({ cluster: 'prod', pausedBy: 'alice', pausedAtMs: T0, untilMs, ...(reason ? { reason } : {}) });

describe('activePause: a pause is in force strictly before its end', () => {
  const rows: Array<{ name: string; pause: PauseRecord | undefined; nowMs: number; inForce: boolean }> = [
    { name: 'no pause stored', pause: undefined, nowMs: T0, inForce: false },
    { name: 'a pause ending later', pause: pauseUntil(T0 + 60_000), nowMs: T0 + 59_999, inForce: true },
    { name: 'a pause at its very end (expired)', pause: pauseUntil(T0 + 60_000), nowMs: T0 + 60_000, inForce: false },
    { name: 'a pause long expired (TTL not yet run)', pause: pauseUntil(T0 + 60_000), nowMs: T0 + 86_400_000, inForce: false },
  ];
  for (const row of rows) {
    it(`${row.name} → ${row.inForce ? 'in force' : 'not in force'}`, () => {
      assert.equal(activePause(row.pause, row.nowMs) !== undefined, row.inForce);
    });
  }
});

describe('newPause: validated, always with an end', () => {
  it('starts now and ends after the given duration, keeping a trimmed reason', () => {
    const p = newPause({ cluster: 'prod', pausedBy: ' alice ', forMs: 2 * 3600_000, nowMs: T0, reason: '  kernel upgrade ' });
    assert.deepEqual(p, { cluster: 'prod', pausedBy: 'alice', pausedAtMs: T0, untilMs: T0 + 7_200_000, reason: 'kernel upgrade' });
  });
  it('an empty reason is no reason', () => {
    assert.equal('reason' in newPause({ cluster: 'prod', pausedBy: 'alice', forMs: 1000, nowMs: T0, reason: '   ' }), false);
  });
  const bad: Array<{ name: string; forMs: number; pausedBy?: string; reason?: string; field: string }> = [
    { name: 'zero duration', forMs: 0, field: 'for' },
    { name: 'negative duration', forMs: -5, field: 'for' },
    { name: 'not a number', forMs: Number.NaN, field: 'for' },
    { name: 'longer than the maximum', forMs: MAX_PAUSE_MS + 1, field: 'for' },
    { name: 'nobody paused', forMs: 1000, pausedBy: '  ', field: 'pausedBy' },
    { name: 'a reason over 256 characters', forMs: 1000, reason: 'x'.repeat(257), field: 'reason' },
  ];
  for (const row of bad) {
    it(`refuses ${row.name} (InvalidPauseError naming ${row.field})`, () => {
      assert.throws(
        () => newPause({ cluster: 'prod', pausedBy: row.pausedBy ?? 'alice', forMs: row.forMs, nowMs: T0, reason: row.reason }),
        (e: unknown) => e instanceof InvalidPauseError && e.field === row.field,
      );
    });
  }
  it('the maximum itself is accepted, and the default is an hour', () => {
    assert.equal(newPause({ cluster: 'prod', pausedBy: 'a', forMs: MAX_PAUSE_MS, nowMs: T0 }).untilMs, T0 + MAX_PAUSE_MS);
    assert.equal(DEFAULT_PAUSE_MS, 3_600_000);
  });
});

describe('the sentences the controller and the CLI share', () => {
  it('pauseSentence names who, until when (ISO) and why', () => {
    assert.equal(pauseSentence(pauseUntil(T0 + 3_600_000, 'kernel upgrade')), 'paused by alice until 2026-12-01T13:00:00.000Z (kernel upgrade)');
    assert.equal(pauseSentence(pauseUntil(T0 + 3_600_000)), 'paused by alice until 2026-12-01T13:00:00.000Z');
  });
  it('pausedOutcome starts with the pause, says nothing changed, and keeps what would have been done without its "dry run: "', () => {
    const o = pausedOutcome(pauseUntil(T0 + 60_000), 'dry run: would deregister i-0a (sealed)');
    assert.equal(o, 'paused by alice until 2026-12-01T12:01:00.000Z: observed only, nothing changed; otherwise: would deregister i-0a (sealed)');
  });
});

describe('durations', () => {
  const rows: Array<[string, number | undefined]> = [
    ['90s', 90_000],
    ['15m', 900_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    [' 2H ', 7_200_000],
    ['2', undefined],
    ['h', undefined],
    ['2 hours', undefined],
    ['-1h', undefined],
    ['0s', undefined],
    ['', undefined],
  ];
  for (const [text, ms] of rows) {
    it(`parseDuration(${JSON.stringify(text)}) → ${ms ?? 'undefined'}`, () => assert.equal(parseDuration(text), ms));
  }
  it('formatDuration writes the largest units first and drops zero parts', () => {
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(42_000), '42s');
    assert.equal(formatDuration(90_061_000), '1d1h1m1s');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(0), '0s');
  });
});
