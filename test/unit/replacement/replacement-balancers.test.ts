/**
 * replace-node's plan per balancer type: a target group of `ip` targets is
 * deregistered by the old node's IP (DeregisterTargets takes the target's own
 * id); a Classic Load Balancer by instance id through its own API
 * (DeregisterOldClassic, DeregisterInstancesFromLoadBalancer).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { planReplacement, type PlanContext } from '../../../functions/core/replacement.js';
import { parseConfig } from '../../../functions/config/load.js';
import { node } from '../core/factories.js';
import { configDoc, iface, inspection, instance, volume } from './fixtures.js';

function clusterWith(loadBalancer: Record<string, unknown>) {
  const doc = configDoc() as { clusters: Array<Record<string, unknown>> };
  doc.clusters[0]!.loadBalancer = loadBalancer;
  return parseConfig(doc, 'test').clusters[0]!;
}

const oldB = instance('i-0b', { volume: { id: 'vol-0b', device: '/dev/sdf' }, eni: { id: 'eni-0b' } });
const registeredStandby = (targetIds?: Record<string, string>) =>
  inspection({
    slotInstances: [oldB],
    volume: volume('vol-0b', { attachedTo: 'i-0b' }),
    networkInterface: iface('eni-0b', { attachedTo: 'i-0b' }),
    nodes: [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')],
    verdict: { kind: 'healthy', legitimateActive: 'i-0a', reasons: [] },
    registeredTargets: ['i-0a', 'i-0b'],
    ...(targetIds ? { registeredTargetIds: targetIds } : {}),
  });
const ctxOf = (cluster: ReturnType<typeof clusterWith>): PlanContext => ({
  cluster,
  slot: cluster.replacement!.slots[1]!,
  request: { force: false, dryRun: false },
  executionName: 'exec-1',
});

describe('planReplacement per balancer', () => {
  it('instance target group: DeregisterOld sends the instance id', () => {
    const cluster = clusterWith({ targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef' });
    const d = planReplacement(registeredStandby(), ctxOf(cluster));
    assert.equal(d.plan.deregisterOld, true);
    assert.equal(d.plan.deregisterTargetId, 'i-0b');
  });

  it('ip target group: DeregisterOld sends the IP the balancer has registered, and the plan says so', () => {
    const cluster = clusterWith({ targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef' });
    const d = planReplacement(registeredStandby({ 'i-0a': '10.0.1.10', 'i-0b': '10.0.2.10' }), ctxOf(cluster));
    assert.equal(d.plan.deregisterOld, true);
    assert.equal(d.plan.deregisterTargetId, '10.0.2.10');
    assert.ok(d.plan.steps.some((s) => /deregister i-0b \(target 10\.0\.2\.10\) from arn:.*targetgroup\/vault/.test(s)), d.plan.steps.join('\n'));
  });

  it('classic: DeregisterOldClassic deregisters the instance id from the named balancer, and the plan says so (no "stays registered" warning)', () => {
    const cluster = clusterWith({ type: 'classic', loadBalancerName: 'vault-prod' });
    const d = planReplacement(registeredStandby(), ctxOf(cluster));
    assert.equal(d.kind, 'plan');
    assert.equal(d.plan.deregisterOld, true);
    assert.equal(d.plan.loadBalancerType, 'classic');
    assert.equal(d.plan.loadBalancerName, 'vault-prod');
    assert.equal(d.plan.targetGroupArn, '');
    assert.ok(d.plan.steps.includes('deregister i-0b from Classic Load Balancer vault-prod'), d.plan.steps.join('\n'));
    assert.ok(!d.plan.steps.some((s) => /targetgroup|port/.test(s) && /^deregister/.test(s)), d.plan.steps.join('\n'));
    assert.ok(!d.plan.warnings.some((w) => /stays registered/.test(w)), d.plan.warnings.join('\n'));
  });

  it('classic, old instance not registered: nothing to deregister', () => {
    const cluster = clusterWith({ type: 'classic', loadBalancerName: 'vault-prod' });
    const d = planReplacement({ ...registeredStandby(), registeredTargets: ['i-0a'] }, ctxOf(cluster));
    assert.equal(d.plan.deregisterOld, false);
    assert.ok(!d.plan.steps.some((s) => /^deregister/.test(s)), d.plan.steps.join('\n'));
  });

  it('target group: the plan carries the type the state machine chooses on, and no Classic name', () => {
    const cluster = clusterWith({ targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef' });
    const d = planReplacement(registeredStandby(), ctxOf(cluster));
    assert.equal(d.plan.loadBalancerType, 'target-group');
    assert.equal(d.plan.loadBalancerName, '');
  });
});
