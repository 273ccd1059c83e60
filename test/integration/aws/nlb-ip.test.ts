/**
 * Contract tests of the local ELBv2 endpoint for a Network Load Balancer target
 * group of target type `ip` through the unmodified
 * `@aws-sdk/client-elastic-load-balancing-v2`: IP targets of the VPC, NLB-style
 * TCP and HTTP health checks against whatever instance holds the IP, NLB's
 * fail-open, and the project's load-balancer port mapping IPs back to members.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, beforeEach, describe, test } from '@jest/globals';
import {
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { LocalAws, ScaledClock, type HealthCheckSettings, type SimInstance } from '../../../sandbox/aws/index.js';
import { loadBalancerPort } from '../../../functions/adapters/load-balancer.js';
import type { Member } from '../../../functions/core/types.js';
import { fakeNode as fakeHealthNode, pollUntil, type FakeNode } from '../../support/aws-contract.js';

/** An NLB check reads the status only. */
const fakeNode = (status: number): Promise<FakeNode> => fakeHealthNode(status, { body: () => '{}' });

const SPEED = 25;
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

describe('local ELBv2 endpoint: NLB target group of ip targets', () => {
  let aws: LocalAws;
  let elb: ElasticLoadBalancingV2Client;
  let nodes: FakeNode[];

  beforeEach(async () => {
    nodes = [];
    aws = new LocalAws({
      worldOptions: { clock: new ScaledClock(SPEED), timings: { pendingMs: 2_000, stoppingMs: 2_000, shuttingDownMs: 2_000, statusInitializingMs: 0 } },
      alb: { registrationDelayMs: 1_000 },
    });
    aws.world.addSubnet({ subnetId: 'subnet-0a', availabilityZone: 'eu-west-1a', cidrBlock: '10.0.1.0/24' });
    const endpoints = await aws.start();
    elb = new ElasticLoadBalancingV2Client({ region: 'eu-west-1', endpoint: endpoints.elbv2, credentials, maxAttempts: 1 });
  });

  afterEach(async () => {
    elb.destroy();
    await aws.stop();
    await Promise.all(nodes.map((n) => n.close()));
  });

  const group = (healthCheck: Partial<HealthCheckSettings>) =>
    aws.targetGroups.addTargetGroup({
      name: 'vault-nlb',
      port: 8200,
      loadBalancerType: 'network',
      targetType: 'ip',
      healthCheck: { intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2, unhealthyThresholdCount: 2, ...healthCheck },
      deregistrationDelaySeconds: 10,
    }).arn;

  async function member(status: number): Promise<{ inst: SimInstance; node: FakeNode }> {
    const node = await fakeNode(status);
    nodes.push(node);
    const inst = await aws.world.launchInitialInstance({ subnetId: 'subnet-0a', tags: { 'vault-url': node.url } });
    return { inst, node };
  }

  const stateOf = async (arn: string, ip: string) =>
    (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn, Targets: [{ Id: ip }] }))).TargetHealthDescriptions?.[0];

  test('DescribeTargetGroups reports target type ip and a TCP group', async () => {
    const arn = group({ protocol: 'TCP' });
    const tg = (await elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] }))).TargetGroups?.[0];
    assert.equal(tg?.TargetType, 'ip');
    assert.equal(tg?.Protocol, 'TCP');
    assert.equal(tg?.HealthCheckProtocol, 'TCP');
    assert.match(tg?.LoadBalancerArns?.[0] ?? '', /:loadbalancer\/net\//);
  });

  test('registers IPs of the VPC; an IP outside every subnet is InvalidTarget, an instance id a ValidationError', async () => {
    const arn = group({ protocol: 'TCP' });
    const { inst } = await member(200);
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: inst.privateIpAddress, Port: 8200 }] }));
    assert.equal((await stateOf(arn, inst.privateIpAddress))?.Target?.Id, inst.privateIpAddress);
    await assert.rejects(
      elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '192.168.7.7', Port: 8200 }] })),
      (e: Record<string, unknown>) => e['Code'] === 'InvalidTarget',
    );
    await assert.rejects(
      elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: inst.instanceId, Port: 8200 }] })),
      (e: Record<string, unknown>) => e['Code'] === 'ValidationError',
    );
  });

  test('a TCP health check passes whatever Vault answers (a sealed node passes too); an HTTP one applies the matcher', async () => {
    const tcp = group({ protocol: 'TCP' });
    const http200 = aws.targetGroups.addTargetGroup({
      name: 'vault-nlb-http',
      loadBalancerType: 'network',
      targetType: 'ip',
      healthCheck: { protocol: 'HTTP', path: '/v1/sys/health', matcher: '200', intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2, unhealthyThresholdCount: 2 },
    }).arn;
    const { inst } = await member(503);
    const ip = inst.privateIpAddress;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tcp, Targets: [{ Id: ip }] }));
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: http200, Targets: [{ Id: ip }] }));
    await pollUntil(() => stateOf(tcp, ip), (d) => d?.TargetHealth?.State === 'healthy', 'TCP check passes');
    const failed = await pollUntil(() => stateOf(http200, ip), (d) => d?.TargetHealth?.State === 'unhealthy', 'HTTP check fails');
    assert.equal(failed?.TargetHealth?.Reason, 'Target.ResponseCodeMismatch');
  });

  test('the check follows the IP: no running instance there is a timeout, and the target goes unhealthy', async () => {
    const arn = group({ protocol: 'TCP' });
    const { inst } = await member(200);
    const ip = inst.privateIpAddress;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: ip }] }));
    await pollUntil(() => stateOf(arn, ip), (d) => d?.TargetHealth?.State === 'healthy', 'healthy');
    aws.world.stopInstances([inst.instanceId]);
    const d = await pollUntil(() => stateOf(arn, ip), (x) => x?.TargetHealth?.State === 'unhealthy', 'unhealthy');
    // An ip target knows nothing of instances: never `unused` / Target.InvalidState.
    assert.equal(d?.TargetHealth?.Reason, 'Target.Timeout');
  });

  test('the listener sends clients to the instance behind the IP, and fails open like an ALB when all are unhealthy', async () => {
    const arn = group({ protocol: 'HTTP', path: '/v1/sys/health', matcher: '200' });
    const listener = await aws.alb.addListener(arn);
    const { inst, node } = await member(200);
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: inst.privateIpAddress }] }));
    await pollUntil(() => stateOf(arn, inst.privateIpAddress), (d) => d?.TargetHealth?.State === 'healthy', 'healthy');
    const hits = node.hits;
    const status = await new Promise<number>((resolve, reject) => http.get(`${listener.url}/x`, { agent: false }, (r) => (r.resume(), resolve(r.statusCode ?? 0))).on('error', reject));
    assert.equal(status, 200);
    assert.ok(node.hits > hits);
    node.status = 503;
    await pollUntil(() => stateOf(arn, inst.privateIpAddress), (d) => d?.TargetHealth?.State === 'unhealthy', 'unhealthy');
    assert.equal(aws.alb.routableTargets(arn).failOpen, true);
  });

  test('the project\'s load-balancer port maps the IP targets back to the members and registers by IP', async () => {
    const arn = group({ protocol: 'HTTP', path: '/v1/sys/health', matcher: '200' });
    const a = await member(200);
    const b = await member(200);
    const members: Member[] = [a, b].map(({ inst }) => ({ instanceId: inst.instanceId, state: 'running', address: inst.tags['vault-url'], privateIp: inst.privateIpAddress }));
    const cluster = { loadBalancer: { type: 'target-group' as const, targetGroupArn: arn, routing: 'active-only' as const }, vault: { port: 8200 } };
    const lb = loadBalancerPort(cluster, { elbv2: elb });
    await lb.apply({ register: [a.inst.instanceId, b.inst.instanceId], deregister: [] }, members);
    const views = await pollUntil(() => loadBalancerPort(cluster, { elbv2: elb }).describe(members), (v) => v.every((t) => t.state === 'healthy') && v.length === 2, 'both healthy');
    assert.deepEqual(
      views.map((v) => [v.instanceId, v.targetId]),
      [[a.inst.instanceId, a.inst.privateIpAddress], [b.inst.instanceId, b.inst.privateIpAddress]].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
    );
    const again = loadBalancerPort(cluster, { elbv2: elb });
    await again.describe(members);
    assert.deepEqual(await again.apply({ register: [], deregister: [a.inst.instanceId] }, members), { registered: [], deregistered: [a.inst.instanceId] });
    const left = await loadBalancerPort(cluster, { elbv2: elb }).describe(members);
    assert.deepEqual(left.filter((t) => t.state !== 'draining').map((t) => t.instanceId), [b.inst.instanceId]);
  });
});
