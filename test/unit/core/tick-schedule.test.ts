import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { nextTick, THROTTLE_BACKOFF_MAX, type TickSchedule } from '../../../functions/core/tick-schedule.js';

const S: TickSchedule = { intervalMs: 5_000, fastIntervalMs: 1_000, fastWindowMs: 120_000 };
const NOW = 1_000_000;

describe('nextTick', () => {
  it('ticks every interval, less the tick, while every cluster is healthy', () => {
    const n = nextTick(S, { prod: 'healthy', dev: 'healthy' }, {}, NOW, 300);
    assert.deepEqual(n, { waitMs: 4_700, unhealthySinceMs: {}, fast: false });
  });

  for (const kind of ['no-leader', 'zombie-leader', 'split-brain', 'stale-leader', 'probe-blind'] as const) {
    it(`ticks fast as soon as one cluster is ${kind}, and remembers since when`, () => {
      const n = nextTick(S, { prod: 'healthy', dev: kind }, {}, NOW, 200);
      assert.deepEqual(n, { waitMs: 800, unhealthySinceMs: { dev: NOW }, fast: true });
    });
  }

  it('keeps the first moment a cluster turned unhealthy across ticks', () => {
    const n = nextTick(S, { prod: 'no-leader' }, { prod: NOW - 30_000 }, NOW, 0);
    assert.deepEqual(n.unhealthySinceMs, { prod: NOW - 30_000 });
    assert.equal(n.fast, true);
  });

  it('goes back to the normal interval after the fast window, even if the cluster stays unhealthy', () => {
    const n = nextTick(S, { prod: 'split-brain' }, { prod: NOW - 120_000 }, NOW, 0);
    assert.equal(n.fast, false);
    assert.equal(n.waitMs, 5_000);
  });

  it('forgets a cluster once it is healthy again, so the next fault gets a new window', () => {
    const healed = nextTick(S, { prod: 'healthy' }, { prod: NOW - 500_000 }, NOW, 0);
    assert.deepEqual(healed.unhealthySinceMs, {});
    const again = nextTick(S, { prod: 'no-leader' }, healed.unhealthySinceMs, NOW + 10, 0);
    assert.equal(again.fast, true);
  });

  it('a cluster without a verdict this tick (lease busy elsewhere) does not speed the loop up', () => {
    assert.equal(nextTick(S, { prod: undefined }, {}, NOW, 0).fast, false);
  });

  it('never waits longer than the normal interval, nor a negative time after a slow tick', () => {
    assert.equal(nextTick({ ...S, fastIntervalMs: 9_000 }, { prod: 'no-leader' }, {}, NOW, 0).waitMs, 5_000);
    assert.equal(nextTick(S, { prod: 'healthy' }, {}, NOW, 7_000).waitMs, 0);
  });

  it('a throttled tick never ticks fast, even with a cluster unhealthy; consecutive ones back off to THROTTLE_BACKOFF_MAX intervals', () => {
    const waits = [1, 2, 3, 4, 10].map((n) => nextTick(S, { prod: 'probe-blind' }, {}, NOW, 100, n));
    assert.deepEqual(
      waits.map((w) => [w.waitMs, w.fast]),
      [
        [4_900, false],
        [9_900, false],
        [4 * 5_000 - 100, false],
        [THROTTLE_BACKOFF_MAX * 5_000 - 100, false],
        [THROTTLE_BACKOFF_MAX * 5_000 - 100, false],
      ],
    );
    assert.deepEqual(waits[0]!.unhealthySinceMs, { prod: NOW }, 'still remembers since when the cluster is unhealthy');
    // Not throttled any more: the fast window applies again.
    assert.equal(nextTick(S, { prod: 'probe-blind' }, { prod: NOW }, NOW, 100, 0).fast, true);
  });
});
