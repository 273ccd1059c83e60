/**
 * `npm start -- --speed N`: honoured on its own (it used to be ignored without
 * --fast, so the sandbox ran at Vault's real timings while the user asked ×N).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { CliUsageError, parseArgs, USAGE } from '../../../sandbox/cli.js';

describe('sandbox CLI: --speed', () => {
  it('--speed alone compresses the timings by that factor', () => {
    const a = parseArgs(['--speed', '8']);
    assert.equal(a.fast, true);
    assert.equal(a.speed, 8);
  });
  it('--fast alone keeps its default factor; --speed 1 means real timings', () => {
    assert.deepEqual([parseArgs(['--fast']).fast, parseArgs(['--fast']).speed], [true, undefined]);
    assert.equal(parseArgs(['--speed', '1']).speed, 1);
  });
  it('an out-of-range speed is refused, naming the argument; the usage documents it', () => {
    assert.throws(() => parseArgs(['--speed', '0']), (e: unknown) => e instanceof CliUsageError && e.argument === '--speed');
    assert.match(USAGE, /--speed <n> +the compression factor, 1-100; implies --fast/);
  });
});
