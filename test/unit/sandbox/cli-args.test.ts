/**
 * `npm start` arguments for the balancer and the HA model: `--lb alb|nlb-ip|classic`
 * and `--ha dynamodb|raft|none`, each refused with a message naming the argument.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { CliUsageError, parseArgs, USAGE } from '../../../sandbox/cli.js';

describe('sandbox CLI: --lb and --ha', () => {
  it('defaults to an ALB target group and DynamoDB HA', () => {
    const a = parseArgs([]);
    assert.equal(a.lb, 'alb');
    assert.equal(a.ha, 'dynamodb');
  });

  it('takes --lb classic, --lb nlb-ip and --ha none', () => {
    assert.equal(parseArgs(['--lb', 'classic']).lb, 'classic');
    assert.equal(parseArgs(['--lb', 'nlb-ip', '--scenario', 'kill-active']).lb, 'nlb-ip');
    assert.equal(parseArgs(['--ha', 'none']).ha, 'none');
  });

  it('refuses an unknown balancer or HA model, naming the argument', () => {
    assert.throws(() => parseArgs(['--lb', 'gwlb']), (e: unknown) => e instanceof CliUsageError && e.argument === '--lb' && /alb, nlb-ip, classic/.test(e.message));
    assert.throws(() => parseArgs(['--ha', 'mysql']), (e: unknown) => e instanceof CliUsageError && e.argument === '--ha' && /dynamodb, raft or none/.test(e.message));
    assert.throws(() => parseArgs(['--lb']), CliUsageError);
  });

  it('documents both in the usage text', () => {
    assert.match(USAGE, /--ha dynamodb\|raft\|none/);
    assert.match(USAGE, /--lb alb\|nlb-ip\|classic/);
  });
});
