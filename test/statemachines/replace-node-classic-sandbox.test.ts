/**
 * replace-node's DeregisterOldClassic for real: the sandbox behind a Classic
 * Load Balancer (`lb: 'classic'`, all-unsealed routing, so the standby being
 * replaced is registered), the real definition and task code in the local
 * interpreter, and the state's AWS SDK integration sending the unmodified
 * `@aws-sdk/client-elastic-load-balancing` call to the local Classic ELB
 * endpoint (sandbox/aws/classic-elb.ts) over HTTP. One AccessDenied answer
 * (as while a freshly deployed role policy propagates) is injected into that
 * endpoint, so the error name the ASL retries on is the one the real SDK error
 * gets, not a mock's. (Throttling would be absorbed by the SDK client's own
 * retries before the state saw it; AccessDenied is not retried by the SDK.)
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { Sandbox } from '../../sandbox/environment.js';
import { REPLACE_NODE_MAX_SPEED } from '../../sandbox/scenarios.js';

let sb: Sandbox;

beforeAll(async () => {
  sb = new Sandbox({
    ha: 'dynamodb',
    lb: 'classic',
    routing: 'all-unsealed',
    initialTargets: 'unsealed',
    healthCheck: { path: '/v1/sys/health?standbyok=true' },
    fast: true,
    speed: REPLACE_NODE_MAX_SPEED,
    // Nothing else changes the registrations while the execution runs.
    startController: false,
    clientProbe: false,
  });
  await sb.start();
});

afterAll(async () => {
  await sb?.stop();
});

describe('sandbox replace-node behind a Classic Load Balancer', () => {
  it('deregisters the old standby through the Classic ELB endpoint (refused once, retried by the state) before it is terminated', async () => {
    const slot = sb.slots.find((s) => !s.node.isActive());
    assert.ok(slot, 'a standby slot');
    const oldId = sb.instanceOf(slot.name)!;
    const lb = sb.aws.classic.require(sb.loadBalancerName);
    assert.ok(sb.aws.classic.registered(lb).includes(oldId), 'the standby is registered before the replacement');

    let registeredWhenRetired: boolean | undefined;
    const off = sb.aws.world.on((e) => {
      if (e.type === 'instance-state' && e.instanceId === oldId && (e.to === 'shutting-down' || e.to === 'stopping') && registeredWhenRetired === undefined) {
        registeredWhenRetired = sb.aws.classic.registered(lb).includes(oldId);
      }
    });
    sb.aws.world.injectFault({ service: 'elb', action: 'DeregisterInstancesFromLoadBalancer', code: 'AccessDenied', message: 'User: arn:aws:sts::111122223333:assumed-role/replaceNode/x is not authorized to perform: elasticloadbalancing:DeregisterInstancesFromLoadBalancer', httpStatus: 403, times: 1 });
    try {
      const r = await sb.replaceNode(slot.name);
      assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
      const visits = r.history.filter((h) => h.state === 'DeregisterOldClassic');
      assert.equal(visits.length, 1);
      assert.equal(visits[0]?.retries, 1, 'the AccessDenied answer was retried (ElasticLoadBalancing.ElasticLoadBalancingException)');
      assert.equal(r.history.some((h) => h.state === 'Compensate'), false);
      assert.equal(r.history.some((h) => h.state === 'DeregisterOld'), false);
      assert.equal(registeredWhenRetired, false, 'the old instance had left the Classic Load Balancer when it was terminated');
      assert.equal(sb.aws.classic.registered(lb).includes(oldId), false);
      assert.notEqual(sb.instanceOf(slot.name), oldId, 'a new instance runs in the slot');
    } finally {
      off();
    }
  });
});
