import { describe, expect, it } from '@jest/globals';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { clustersOfShard, shardOf, stableHash } from '../../../functions/core/shard.js';
import { InvalidControllerEventError, shardOfEvent } from '../../../functions/handlers/controller.js';

describe('controller shards', () => {
  it('the hash is stable (a fixed value, not process-dependent)', () => {
    // FNV-1a 32-bit reference values.
    assert.equal(stableHash(''), 0x811c9dc5);
    assert.equal(stableHash('a'), 0xe40c292c);
    assert.equal(stableHash('prod'), stableHash('prod'));
  });

  it('every cluster falls in exactly one shard, whatever the number of shards', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/), { maxLength: 60 }), fc.integer({ min: 1, max: 40 }), (names, of) => {
        const clusters = names.map((name) => ({ name }));
        const seen = new Map<string, number>();
        for (let shard = 0; shard < of; shard++) {
          for (const c of clustersOfShard(clusters, { shard, of })) seen.set(c.name, (seen.get(c.name) ?? 0) + 1);
        }
        assert.deepEqual([...seen.keys()].sort(), [...names].sort());
        assert.ok([...seen.values()].every((n) => n === 1));
      }),
    );
  });

  it("a cluster's shard does not depend on the other clusters", () => {
    const alone = clustersOfShard([{ name: 'prod' }], { shard: shardOf('prod', 7), of: 7 });
    const crowd = clustersOfShard([{ name: 'dev' }, { name: 'prod' }, { name: 'stage' }], { shard: shardOf('prod', 7), of: 7 });
    assert.deepEqual(alone, [{ name: 'prod' }]);
    assert.ok(crowd.some((c) => c.name === 'prod'));
  });

  it('1,000 clusters spread over 10 shards within ±30 % of even', () => {
    const clusters = Array.from({ length: 1000 }, (_, i) => ({ name: `cluster-${i}` }));
    for (let shard = 0; shard < 10; shard++) {
      const n = clustersOfShard(clusters, { shard, of: 10 }).length;
      assert.ok(n > 70 && n < 130, `shard ${shard}: ${n}`);
    }
  });

  it('no shard in the event (EventBridge scheduled event, manual {}) means every cluster', () => {
    expect(shardOfEvent({ 'detail-type': 'Scheduled Event', source: 'aws.events' })).toBeUndefined();
    expect(shardOfEvent({})).toBeUndefined();
    expect(shardOfEvent(null)).toBeUndefined();
    expect(shardOfEvent({ shard: 2, of: 4 })).toEqual({ shard: 2, of: 4 });
  });

  it('a malformed shard event fails naming the field and the expected type', () => {
    assert.throws(() => shardOfEvent({ shard: '1', of: 4 }), (e: unknown) => e instanceof InvalidControllerEventError && /shard: expected number, got string/.test(e.message));
    assert.throws(() => shardOfEvent({ shard: 4, of: 4 }), (e: unknown) => e instanceof InvalidControllerEventError && /shard must be below of/.test(e.message));
    assert.throws(() => shardOfEvent({ shard: 0 }), (e: unknown) => e instanceof InvalidControllerEventError && /of: Required/.test(e.message));
  });
});
