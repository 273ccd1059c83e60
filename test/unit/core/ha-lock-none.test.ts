/**
 * `haLock: { "type": "none" }`: storage whose HA lock the controller cannot
 * read (MySQL, PostgreSQL, Consul...). Leadership comes from the nodes' own
 * views only, as with Raft: no lock evidence, so never `stale-leader` or
 * `zombie-leader`, never fencing, never dead-leader takeover.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { assessLeadership } from '../../../functions/core/assess.js';
import { observeLock } from '../../../functions/core/lock.js';
import { assessSnapshot } from '../../../functions/core/snapshot.js';
import { readClusterLock } from '../../../functions/adapters/lock-reader.js';
import { parseConfig } from '../../../functions/config/load.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { NodeHealth, SplitBrainVerdict } from '../../../functions/core/types.js';
import { expiresNs, historyOf, NOW_MS, node, tick } from './factories.js';

const POLICY = { breakLockAfterTicks: 2, flappingChanges: 3, flappingWindowTicks: 12 };
const NONE = observeLock({ type: 'none' }, NOW_MS, 0);

function judge(nodes: NodeHealth[], history = historyOf()): SplitBrainVerdict {
  return assessLeadership({ nodes, lock: NONE, history, haType: 'none', nowMs: NOW_MS, policy: POLICY });
}

describe('haLock none: the lock observation', () => {
  it('is NOT_APPLICABLE and says why', () => {
    assert.equal(NONE.state, 'NOT_APPLICABLE');
    assert.match(NONE.detail ?? '', /haLock "none"/);
  });

  it('readClusterLock makes no DynamoDB call', async () => {
    const ddb = { send: () => assert.fail('no lock table to read') } as unknown as DynamoDBClient;
    assert.deepEqual(await readClusterLock(ddb, { type: 'none' }), { type: 'none' });
  });
});

describe('haLock none: verdicts from the nodes\' own views', () => {
  it('a sole claimant the standbys name is healthy, and the reason says no lock was read', () => {
    const v = judge([node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')]);
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, 'i-0a');
    assert.ok(v.reasons.some((r) => /no readable HA lock \(haLock "none"\)/.test(r)), v.reasons.join(' | '));
  });

  it('a claimant the standbys contradict is leader-disagreement, never stale-leader (no lock settles it)', () => {
    const v = judge([node.active('i-0a'), node.standby('i-0b', 'i-0c'), node.standby('i-0d', 'i-0c')]);
    assert.equal(v.kind, 'leader-disagreement');
  });

  it('an unreachable holder the standbys keep naming is no-leader, never zombie-leader, and recommends no fencing', () => {
    const nodes = [node.unreachable('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')];
    // Even with a history that, under DynamoDB HA, would show a lock being renewed.
    const history = historyOf(tick({ verdict: 'no-leader', lockState: 'HELD', lockIdentity: 'x', lockExpiresAtNs: expiresNs(NOW_MS) }));
    const v = judge(nodes, history);
    assert.equal(v.kind, 'no-leader');
    assert.equal(v.fencing, undefined);
  });

  it('two claimants: the one the standbys\' majority names is the legitimate active of the split brain', () => {
    const v = judge([node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0a')]);
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, 'i-0a');
  });

  it('two claimants the standbys do not single out: split brain with no legitimate active (routing frozen)', () => {
    const v = judge([node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0a'), node.standby('i-0d', 'i-0b')]);
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, undefined);
  });
});

describe('haLock none: configuration and snapshot', () => {
  const cluster = (haLock: unknown) => ({
    name: 'prod',
    discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
    loadBalancer: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef' },
    haLock,
  });

  it('parses { "type": "none" } and refuses extra fields', () => {
    assert.deepEqual(parseConfig({ clusters: [cluster({ type: 'none' })] }).clusters[0]!.haLock, { type: 'none' });
    assert.throws(() => parseConfig({ clusters: [cluster({ type: 'none', table: 'vault-data' })] }), /haLock: unknown field\(s\) "table"/);
  });

  it('assessSnapshot judges a haLock none cluster by the nodes\' views', () => {
    const c = parseConfig({ clusters: [cluster({ type: 'none' })] }).clusters[0]!;
    const { lock, verdict } = assessSnapshot({ cluster: c, members: [], probes: new Map(), lockRead: { type: 'none' }, history: historyOf(), nowMs: NOW_MS });
    assert.equal(lock.state, 'NOT_APPLICABLE');
    assert.equal(verdict.kind, 'no-leader');
    assert.match(verdict.reasons.join(' '), /haLock "none"/);
  });
});
