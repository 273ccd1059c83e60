/**
 * Contract tests of the local Classic Load Balancer endpoint (sandbox/aws/classic-elb.ts)
 * through the unmodified `@aws-sdk/client-elastic-load-balancing`: the calls the
 * control plane makes (DescribeInstanceHealth, Register/DeregisterInstances),
 * their errors, the Classic health-check rules (200 only, HealthyThreshold passes
 * for a new instance, InService / OutOfService with the documented descriptions),
 * a listener that never fails open, and the project's own adapter against it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, test } from '@jest/globals';
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingClient,
  RegisterInstancesWithLoadBalancerCommand,
  type InstanceState,
} from '@aws-sdk/client-elastic-load-balancing';
import { LocalAws, ScaledClock, type SimInstance } from '../../../sandbox/aws/index.js';
import { CLASSIC_DESCRIPTIONS, parseClassicTarget } from '../../../sandbox/aws/classic-elb.js';
import { applyClassicPlan, describeInstanceHealth } from '../../../functions/adapters/classic-elb.js';
import { LoadBalancerNotFoundError } from '../../../functions/adapters/errors.js';
import { fakeNode as fakeHealthNode, keyPaths, pollUntil, type FakeNode } from '../../support/aws-contract.js';

/** The Classic checks read the status only; the body says standby for 429. */
const fakeNode = (status: number): Promise<FakeNode> => fakeHealthNode(status, { body: (s) => JSON.stringify({ standby: s === 429 }) });

const FIXTURES = new URL('../../fixtures/aws/', import.meta.url);
const SPEED = 25;
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };
const LB = 'vault-classic';

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
  });
}

describe('local Classic ELB endpoint', () => {
  let aws: LocalAws;
  let elb: ElasticLoadBalancingClient;
  let nodes: FakeNode[];

  beforeEach(async () => {
    nodes = [];
    aws = new LocalAws({
      worldOptions: { clock: new ScaledClock(SPEED), timings: { pendingMs: 2_000, stoppingMs: 2_000, shuttingDownMs: 2_000, statusInitializingMs: 0 } },
      alb: { registrationDelayMs: 1_000 },
    });
    aws.world.addSubnet({ subnetId: 'subnet-0a', availabilityZone: 'eu-west-1a' });
    // HealthyThreshold 3: a new instance must pass three checks, not one as on an ALB.
    aws.classic.add({ name: LB, instancePort: 8200, healthCheck: { target: 'HTTP:8200/v1/sys/health', intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 3, unhealthyThreshold: 2 } });
    const endpoints = await aws.start();
    elb = new ElasticLoadBalancingClient({ region: 'eu-west-1', endpoint: endpoints.elb, credentials, maxAttempts: 1 });
  });

  afterEach(async () => {
    elb.destroy();
    await aws.stop();
    await Promise.all(nodes.map((n) => n.close()));
  });

  async function member(status: number): Promise<{ inst: SimInstance; node: FakeNode }> {
    const node = await fakeNode(status);
    nodes.push(node);
    const inst = await aws.world.launchInitialInstance({ subnetId: 'subnet-0a', tags: { 'vault-url': node.url } });
    return { inst, node };
  }

  const health = async (ids?: string[]): Promise<InstanceState[]> =>
    (await elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB, ...(ids ? { Instances: ids.map((InstanceId) => ({ InstanceId })) } : {}) }))).InstanceStates ?? [];
  const stateOf = async (id: string) => (await health([id]))[0];
  const register = (...ids: string[]) => elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: LB, Instances: ids.map((InstanceId) => ({ InstanceId })) }));
  const deregister = (...ids: string[]) => elb.send(new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: LB, Instances: ids.map((InstanceId) => ({ InstanceId })) }));

  describe('RegisterInstancesWithLoadBalancer', () => {
    test('registers, answers with the registered instances, and registering again changes nothing', async () => {
      const a = await member(200);
      const b = await member(200);
      const first = await register(a.inst.instanceId);
      assert.deepEqual(first.Instances, [{ InstanceId: a.inst.instanceId }]);
      const again = await register(a.inst.instanceId, b.inst.instanceId);
      assert.deepEqual(again.Instances?.map((i) => i.InstanceId), [a.inst.instanceId, b.inst.instanceId].sort());
      assert.equal((await health()).length, 2);
    });

    test('an instance that does not run is InvalidInstance and nothing is registered', async () => {
      const a = await member(200);
      const b = await member(200);
      aws.world.stopInstances([b.inst.instanceId]);
      await assert.rejects(register(a.inst.instanceId, b.inst.instanceId), (e: Record<string, unknown>) => {
        assert.equal(e['name'], 'InvalidEndPointException');
        assert.equal(e['Code'], 'InvalidInstance');
        return true;
      });
      assert.deepEqual(await health(), []);
    });

    test('an unknown load balancer is LoadBalancerNotFound (AccessPointNotFoundException)', async () => {
      const a = await member(200);
      await assert.rejects(
        elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: 'nope', Instances: [{ InstanceId: a.inst.instanceId }] })),
        (e: Record<string, unknown>) => e['name'] === 'AccessPointNotFoundException' && e['Code'] === 'LoadBalancerNotFound',
      );
    });
  });

  describe('DeregisterInstancesFromLoadBalancer', () => {
    test('an instance that is not registered fails the whole call with InvalidInstance and nothing changes', async () => {
      const a = await member(200);
      const b = await member(200);
      await register(a.inst.instanceId);
      await assert.rejects(deregister(a.inst.instanceId, b.inst.instanceId), (e: Record<string, unknown>) => e['Code'] === 'InvalidInstance');
      assert.deepEqual((await health()).map((s) => s.InstanceId), [a.inst.instanceId]);
    });

    test('a deregistered instance leaves the list at once and the answer lists what is left', async () => {
      const a = await member(200);
      const b = await member(200);
      await register(a.inst.instanceId, b.inst.instanceId);
      const out = await deregister(a.inst.instanceId);
      assert.deepEqual(out.Instances, [{ InstanceId: b.inst.instanceId }]);
      assert.deepEqual((await health()).map((s) => s.InstanceId), [b.inst.instanceId]);
      assert.deepEqual(await stateOf(a.inst.instanceId), { InstanceId: a.inst.instanceId, State: 'OutOfService', ReasonCode: 'ELB', Description: CLASSIC_DESCRIPTIONS.notRegistered });
    });
  });

  describe('DescribeInstanceHealth and the health checks', () => {
    test('a new instance is OutOfService until HealthyThreshold checks passed in a row, then InService', async () => {
      const { inst } = await member(200);
      await register(inst.instanceId);
      assert.deepEqual(await stateOf(inst.instanceId), { InstanceId: inst.instanceId, State: 'OutOfService', ReasonCode: 'ELB', Description: CLASSIC_DESCRIPTIONS.registering });
      const below = await pollUntil(() => stateOf(inst.instanceId), (s) => s?.Description === CLASSIC_DESCRIPTIONS.belowHealthy, 'past the first check');
      assert.equal(below?.State, 'OutOfService');
      const rec = [...aws.targetGroups.requireTargetGroup(aws.classic.arnOf(LB)).targets.values()][0]!;
      assert.ok(rec.consecutivePasses >= 1 && rec.consecutivePasses < 3, `one pass is not enough (passes: ${rec.consecutivePasses})`);
      const up = await pollUntil(() => stateOf(inst.instanceId), (s) => s?.State === 'InService', 'InService', 10_000);
      assert.deepEqual(up, { InstanceId: inst.instanceId, State: 'InService', ReasonCode: 'N/A', Description: 'N/A' });
      assert.ok(rec.consecutivePasses >= 3);
    });

    test('only 200 passes: a standby answering 429 goes OutOfService after UnhealthyThreshold failures', async () => {
      const { inst } = await member(429);
      await register(inst.instanceId);
      const s = await pollUntil(() => stateOf(inst.instanceId), (x) => x?.Description === CLASSIC_DESCRIPTIONS.failed, 'failed');
      assert.deepEqual(s, { InstanceId: inst.instanceId, State: 'OutOfService', ReasonCode: 'Instance', Description: CLASSIC_DESCRIPTIONS.failed });
    });

    test('a registered instance that is stopped is OutOfService: "Instance is in stopped state."', async () => {
      const { inst } = await member(200);
      await register(inst.instanceId);
      aws.world.stopInstances([inst.instanceId]);
      const s = await pollUntil(() => stateOf(inst.instanceId), (x) => x?.Description === 'Instance is in stopped state.', 'stopped');
      assert.equal(s?.State, 'OutOfService');
    });

    test('answers with every field of the documented response example', async () => {
      const a = await member(200);
      const b = await member(503);
      await register(a.inst.instanceId, b.inst.instanceId);
      await pollUntil(() => health(), (all) => all.map((x) => x.State).sort().join() === 'InService,OutOfService' && all.every((x) => x.ReasonCode !== 'ELB'), 'both settled', 10_000);
      const body = await readFile(new URL('describe-instance-health.xml', FIXTURES), 'utf8');
      const server = http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const docClient = new ElasticLoadBalancingClient({ region: 'eu-west-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credentials, maxAttempts: 1 });
      try {
        const documented = await docClient.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB }));
        const ours = await elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: LB }));
        assert.ok(keyPaths(documented).size >= 5, 'the fixture parsed');
        assert.deepEqual([...keyPaths(documented)].filter((p) => !keyPaths(ours).has(p)), []);
      } finally {
        docClient.destroy();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    });

    test('DescribeLoadBalancers reports the health check as its Target string', async () => {
      const out = await elb.send(new DescribeLoadBalancersCommand({ LoadBalancerNames: [LB] }));
      assert.deepEqual(out.LoadBalancerDescriptions?.[0]?.HealthCheck, { Target: 'HTTP:8200/v1/sys/health', Interval: 5, Timeout: 2, UnhealthyThreshold: 2, HealthyThreshold: 3 });
    });
  });

  describe('the listener', () => {
    test('never fails open: every registered instance OutOfService means the balancer\'s own 503; an InService one gets the traffic', async () => {
      const listener = await aws.alb.addListener(aws.classic.arnOf(LB));
      const a = await member(429);
      await register(a.inst.instanceId);
      await pollUntil(() => stateOf(a.inst.instanceId), (x) => x?.Description === CLASSIC_DESCRIPTIONS.failed, 'failed');
      const before = a.node.hits;
      assert.equal(await get(`${listener.url}/v1/sys/health`), 503);
      assert.equal(a.node.hits, before, 'the OutOfService instance got no client request');
      a.node.status = 200;
      await pollUntil(() => stateOf(a.inst.instanceId), (x) => x?.State === 'InService', 'InService', 10_000);
      assert.equal(await get(`${listener.url}/v1/sys/health`), 200);
    });
  });

  describe('the project\'s adapter against the endpoint', () => {
    test('describeInstanceHealth and applyClassicPlan speak the same API as the endpoint', async () => {
      const a = await member(200);
      const b = await member(200);
      await applyClassicPlan(elb, LB, { register: [a.inst.instanceId, b.inst.instanceId], deregister: [] });
      // Deregistering one that is registered and one that is not: InvalidInstance, then one by one.
      const other = await member(200);
      const out = await applyClassicPlan(elb, LB, { register: [], deregister: [b.inst.instanceId, other.inst.instanceId] });
      assert.deepEqual(out.deregistered, [b.inst.instanceId, other.inst.instanceId]);
      const views = await pollUntil(() => describeInstanceHealth(elb, LB), (v) => v[0]?.state === 'healthy', 'healthy', 10_000);
      assert.deepEqual(views.map((v) => [v.instanceId, v.state]), [[a.inst.instanceId, 'healthy']]);
      await assert.rejects(describeInstanceHealth(elb, 'nope'), LoadBalancerNotFoundError);
    });
  });

  test('health-check targets are validated as the API does', () => {
    assert.deepEqual(parseClassicTarget('HTTP:8200/v1/sys/health?standbyok=true'), { protocol: 'HTTP', port: '8200', path: '/v1/sys/health?standbyok=true' });
    assert.deepEqual(parseClassicTarget('TCP:8200'), { protocol: 'TCP', port: '8200', path: '/' });
    assert.throws(() => parseClassicTarget('HTTP:8200'), /needs a ping path/);
    assert.throws(() => parseClassicTarget('UDP:53'), /Invalid health check target/);
  });
});
