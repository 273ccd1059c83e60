/**
 * Hostile lock items (property-based): whatever sits at Path "core", Key
 * "_lock" of the Vault table (any attribute types, a foreign writer's bytes,
 * a failed read), reading and judging it never throws, only an integer
 * Expires is read, and dead-leader takeover (DESIGN §5.10) only ever decides a
 * delete conditional on exactly the Identity and Expires observed — never
 * while probe-blind, never in dry run. Generators and checkers:
 * sandbox/chaos/hostile-inputs.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { lockItemArb, lockProblems } from '../../../sandbox/chaos/hostile-inputs.js';

const RUNS = 600;

describe('hostile lock items → readLock, observeLock, decideTakeover', () => {
  it(`never throw; HELD/EXPIRED only with an integer Expires; a delete only on the observed attributes, never blind or in dry run (${RUNS} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(lockItemArb({ hugeAttributes: false }), fc.boolean(), fc.boolean(), async (item, dryRun, blind) => {
        assert.deepEqual(await lockProblems(item, { dryRun, blind }), []);
      }),
      { numRuns: RUNS },
    );
  });

  it('an Expires that is not an integer ("1e18", " 42", hex) makes the lock UNREADABLE, never HELD', async () => {
    for (const N of ['1e18', '0x1f', '4.2', '']) {
      const item = { Path: { S: 'core' }, Key: { S: '_lock' }, Identity: { B: new TextEncoder().encode('id') }, Value: { B: new TextEncoder().encode('v') }, Expires: { N } };
      assert.deepEqual(await lockProblems({ item }, { dryRun: false, blind: false }), [], N);
    }
  });

  // KNOWN DEFECT F1 (reported): a 100 KB Identity is copied whole into the lock detail.
  it('F1 (fixed): a 100 KB Identity keeps the lock detail bounded', async () => {
    const item = { Path: { S: 'core' }, Key: { S: '_lock' }, Identity: { B: new Uint8Array(100_000).fill(0x41) }, Value: { B: new Uint8Array(4) }, Expires: { N: '1' } };
    assert.deepEqual(await lockProblems({ item }, { dryRun: false, blind: false }), []);
  });
});
