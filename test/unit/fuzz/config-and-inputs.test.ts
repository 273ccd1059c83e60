/**
 * Hostile configuration documents and state-machine inputs (property-based):
 * random JSON, and the shipped example with one field (anywhere in it)
 * replaced by a random JSON value of any type or size. Each is accepted, or
 * rejected with ConfigError / InvalidInputError whose every line names a
 * field path, says what was expected (never "Required" for a field that is
 * there), and is bounded however large the value (DESIGN §4.1, §4.5).
 * Generators and checkers: sandbox/chaos/hostile-inputs.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { configDocArb, configProblems, inputProblems, stateMachineInputArb } from '../../../sandbox/chaos/hostile-inputs.js';

const RUNS = { config: 400, inputs: 800 } as const;

describe('hostile configuration documents', () => {
  it(`accepted, or rejected naming the field around the bad value, bounded (${RUNS.config} cases)`, () => {
    fc.assert(
      fc.property(configDocArb(), (m) => {
        assert.deepEqual(configProblems(m), []);
      }),
      { numRuns: RUNS.config },
    );
  });

  it('a 5 MB string in place of the port is named as such, in a short message', () => {
    assert.deepEqual(configProblems({ doc: { clusters: [{ vault: { port: 'x'.repeat(5_000_000) } }] }, path: ['clusters', 0, 'vault', 'port'] }), []);
  });
});

describe('hostile state-machine inputs (replace-node, failover-drill)', () => {
  it(`accepted, or rejected with InvalidInputError naming each bad field, bounded (${RUNS.inputs} cases)`, () => {
    fc.assert(
      fc.property(stateMachineInputArb(), (c) => {
        assert.deepEqual(inputProblems(c), []);
      }),
      { numRuns: RUNS.inputs },
    );
  });
});
