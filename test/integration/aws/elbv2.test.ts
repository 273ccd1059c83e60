/**
 * Contract tests of the local ELBv2 endpoint through the unmodified
 * `@aws-sdk/client-elastic-load-balancing-v2`: target group description,
 * Register/DeregisterTargets semantics and errors, and DescribeTargetHealth states
 * and reason codes as the data plane health-checks a tiny HTTP server standing in
 * for Vault.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, test } from '@jest/globals';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  type TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { LocalAws, ScaledClock } from '../../../sandbox/aws/index.js';
import type { HealthCheckSettings, SimInstance } from '../../../sandbox/aws/index.js';
import { fakeNode, keyPaths, pollUntil, type FakeNode } from '../../support/aws-contract.js';

const FIXTURES = new URL('../../fixtures/aws/', import.meta.url);
const SPEED = 25;
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

describe('local ELBv2 endpoint', () => {
  let aws: LocalAws;
  let elb: ElasticLoadBalancingV2Client;
  let nodes: FakeNode[];
  let tgArn: string;

  const healthCheck: Partial<HealthCheckSettings> = {
    path: '/v1/sys/health',
    intervalSeconds: 5,
    timeoutSeconds: 2,
    healthyThresholdCount: 2,
    unhealthyThresholdCount: 2,
    matcher: '200',
  };

  beforeEach(async () => {
    nodes = [];
    aws = new LocalAws({
      // One compressed clock for the whole world: EC2 transitions and health checks alike.
      worldOptions: { clock: new ScaledClock(SPEED), timings: { pendingMs: 2_000, stoppingMs: 2_000, shuttingDownMs: 2_000, statusInitializingMs: 0 } },
      alb: { registrationDelayMs: 1_000 },
    });
    aws.world.addSubnet({ subnetId: 'subnet-0a', availabilityZone: 'eu-west-1a' });
    tgArn = aws.targetGroups.addTargetGroup({ name: 'vault', port: 8200, healthCheck, deregistrationDelaySeconds: 10 }).arn;
    const endpoints = await aws.start();
    elb = new ElasticLoadBalancingV2Client({ region: 'eu-west-1', endpoint: endpoints.elbv2, credentials, maxAttempts: 1 });
  });

  afterEach(async () => {
    elb.destroy();
    await aws.stop();
    await Promise.all(nodes.map((n) => n.close()));
  });

  /** A running instance whose `vault-url` tag points at a fresh fake node. */
  async function member(status: number): Promise<{ inst: SimInstance; node: FakeNode }> {
    const node = await fakeNode(status);
    nodes.push(node);
    const inst = await aws.world.launchInitialInstance({ subnetId: 'subnet-0a', tags: { 'vault-url': node.url } });
    return { inst, node };
  }

  const health = async (id?: string): Promise<TargetHealthDescription[]> =>
    (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn, ...(id ? { Targets: [{ Id: id }] } : {}) }))).TargetHealthDescriptions ?? [];

  const stateOf = async (id: string) => (await health(id))[0]?.TargetHealth;

  describe('DescribeTargetGroups', () => {
    test('describes the configured health check, matcher and port', async () => {
      const out = await elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [tgArn] }));
      const tg = out.TargetGroups?.[0];
      assert.equal(tg?.TargetGroupArn, tgArn);
      assert.match(tgArn, /^arn:aws:elasticloadbalancing:eu-west-1:\d{12}:targetgroup\/vault\/[0-9a-f]{16}$/);
      assert.equal(tg?.Port, 8200);
      assert.equal(tg?.HealthCheckPath, '/v1/sys/health');
      assert.equal(tg?.HealthCheckIntervalSeconds, 5);
      assert.equal(tg?.HealthyThresholdCount, 2);
      assert.deepEqual(tg?.Matcher, { HttpCode: '200' });
    });

    test('an unknown target group is TargetGroupNotFound', async () => {
      const arn = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/nope/0123456789abcdef';
      await assert.rejects(elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] })), (e: Record<string, unknown>) => {
        assert.equal(e['name'], 'TargetGroupNotFoundException');
        assert.equal(e['Code'], 'TargetGroupNotFound');
        assert.equal((e['$metadata'] as { httpStatusCode: number }).httpStatusCode, 400);
        return true;
      });
    });

    test('DescribeTargetHealth on an unknown target group is TargetGroupNotFound', async () => {
      const arn = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/nope/0123456789abcdef';
      await assert.rejects(elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn })), { name: 'TargetGroupNotFoundException' });
    });
  });

  describe('RegisterTargets / DeregisterTargets', () => {
    test('an instance that does not exist is InvalidTarget', async () => {
      await assert.rejects(
        elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: 'i-0123456789abcdef0' }] })),
        (e: Record<string, unknown>) => e['name'] === 'InvalidTargetException' && e['Code'] === 'InvalidTarget',
      );
    });

    test('a stopped instance is InvalidTarget (not in a running state)', async () => {
      const { inst } = await member(200);
      aws.world.stopInstances([inst.instanceId]);
      await assert.rejects(
        elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] })),
        (e: Error & { Code?: string }) => e.Code === 'InvalidTarget' && e.message.includes('not in a running state'),
      );
      assert.deepEqual(await health(), []);
    });

    test('a malformed instance id is ValidationError', async () => {
      await assert.rejects(elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: '10.0.0.1' }] })), (e: Record<string, unknown>) => e['Code'] === 'ValidationError');
    });

    test('registering a registered target again is a no-op', async () => {
      const { inst } = await member(200);
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId, Port: 8200 }] }));
      const all = await health();
      assert.equal(all.length, 1);
      assert.deepEqual(all[0]?.Target, { Id: inst.instanceId, Port: 8200 });
    });

    test('deregistering a target that is not registered succeeds', async () => {
      const { inst } = await member(200);
      await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      assert.deepEqual(await health(), []);
    });

    test('a target asked about explicitly but not registered is unused / Target.NotRegistered', async () => {
      const { inst } = await member(200);
      const h = await stateOf(inst.instanceId);
      assert.equal(h?.State, 'unused');
      assert.equal(h?.Reason, 'Target.NotRegistered');
    });
  });

  describe('target health transitions', () => {
    // AWS "Health checks for Application Load Balancer target groups": a registered target
    // "must pass one health check to be considered healthy" (HealthyThresholdCount is for an
    // unhealthy target coming back).
    test('a new target is initial (registration, then initial checks) and turns healthy after one passing check', async () => {
      const { inst, node } = await member(200);
      node.hang = true; // the first check stays in flight, so Elb.InitialHealthChecking is observable
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      const first = await stateOf(inst.instanceId);
      assert.equal(first?.State, 'initial');
      assert.equal(first?.Reason, 'Elb.RegistrationInProgress');
      await pollUntil(() => stateOf(inst.instanceId), (h) => h?.State === 'initial' && h.Reason === 'Elb.InitialHealthChecking' && node.hits === 1, 'initial checks');
      const hitsBefore = node.hits;
      node.hang = false;
      await pollUntil(() => stateOf(inst.instanceId), (h) => h?.State === 'healthy', 'healthy');
      assert.equal(node.hits - hitsBefore, 1, 'one passing check, not HealthyThresholdCount=2');
    });

    test('a healthy target turns unhealthy with Target.ResponseCodeMismatch after the unhealthy threshold', async () => {
      const { inst, node } = await member(200);
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      await pollUntil(() => stateOf(inst.instanceId), (h) => h?.State === 'healthy', 'healthy');
      node.status = 503;
      const hitsAtFault = node.hits;
      const h = await pollUntil(() => stateOf(inst.instanceId), (x) => x?.State === 'unhealthy', 'unhealthy');
      assert.equal(h?.Reason, 'Target.ResponseCodeMismatch');
      assert.equal(h?.Description, 'Health checks failed with these codes: [503]');
      assert.ok(node.hits - hitsAtFault >= 2, 'needs UnhealthyThresholdCount=2 failing checks');
    });

    test('with matcher 200 a standby (429) never turns healthy; with matcher 200,429 it does', async () => {
      const { inst } = await member(429);
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      const h = await pollUntil(() => stateOf(inst.instanceId), (x) => x?.State === 'unhealthy', 'unhealthy with matcher 200');
      assert.equal(h?.Description, 'Health checks failed with these codes: [429]');

      const tg2 = aws.targetGroups.addTargetGroup({ name: 'vault-any', healthCheck: { ...healthCheck, matcher: '200,429' } }).arn;
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg2, Targets: [{ Id: inst.instanceId }] }));
      await pollUntil(
        async () => (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg2 }))).TargetHealthDescriptions?.[0]?.TargetHealth?.State,
        (s) => s === 'healthy',
        'healthy with matcher 200,429',
      );
    });

    test('a node that never answers fails with Target.Timeout', async () => {
      const { inst, node } = await member(200);
      node.hang = true;
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      const h = await pollUntil(() => stateOf(inst.instanceId), (x) => x?.State === 'unhealthy', 'unhealthy');
      assert.equal(h?.Reason, 'Target.Timeout');
    });

    test('a node that refuses connections fails with Target.FailedHealthChecks', async () => {
      const { inst, node } = await member(200);
      await node.close();
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      const h = await pollUntil(() => stateOf(inst.instanceId), (x) => x?.State === 'unhealthy', 'unhealthy');
      assert.equal(h?.Reason, 'Target.FailedHealthChecks');
    });

    test('a deregistered target drains for the deregistration delay, then is no longer registered', async () => {
      const { inst } = await member(200);
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      await pollUntil(() => stateOf(inst.instanceId), (h) => h?.State === 'healthy', 'healthy');
      const t0 = aws.world.clock.nowMs();
      await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      const draining = await stateOf(inst.instanceId);
      assert.equal(draining?.State, 'draining');
      assert.equal(draining?.Reason, 'Target.DeregistrationInProgress');
      await pollUntil(() => stateOf(inst.instanceId), (h) => h?.Reason === 'Target.NotRegistered', 'deregistered');
      assert.ok(aws.world.clock.nowMs() - t0 >= 10_000, 'drained for at least the 10 s deregistration delay');
      assert.deepEqual(await health(), []);
    });

    test('a registered instance that is stopped is unused / Target.InvalidState', async () => {
      const { inst } = await member(200);
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: inst.instanceId }] }));
      aws.world.stopInstances([inst.instanceId]);
      const h = await pollUntil(() => stateOf(inst.instanceId), (x) => x?.State === 'unused', 'unused');
      assert.equal(h?.Reason, 'Target.InvalidState');
      assert.equal(h?.Description, 'Target is in the stopped state');
    });

    test('DescribeTargetHealth answers with every field of the documented response example', async () => {
      const a = await member(200);
      const b = await member(503);
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: a.inst.instanceId }, { Id: b.inst.instanceId }] }));
      await pollUntil(() => health(), (all) => all.map((x) => x.TargetHealth?.State).sort().join() === 'healthy,unhealthy', 'both settled');
      const body = await readFile(new URL('describe-target-health.xml', FIXTURES), 'utf8');
      const server = http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(body);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const docClient = new ElasticLoadBalancingV2Client({ region: 'eu-west-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credentials, maxAttempts: 1 });
      try {
        const documented = await docClient.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));
        const ours = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));
        assert.ok(keyPaths(documented).size >= 8, 'the fixture parsed');
        assert.deepEqual([...keyPaths(documented)].filter((p) => !keyPaths(ours).has(p)), []);
      } finally {
        docClient.destroy();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  });
});
