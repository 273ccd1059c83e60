/**
 * The load-balancer port (functions/adapters/load-balancer.ts): one interface
 * over target groups of target type `instance` and `ip` and Classic Load
 * Balancers, with SDK clients mocked by aws-sdk-client-mock. The planner works
 * on instance ids, so `ip` targets (the members' private IPs) are mapped back
 * and forth here.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  ElasticLoadBalancingClient,
  RegisterInstancesWithLoadBalancerCommand,
} from '@aws-sdk/client-elastic-load-balancing';
import { loadBalancerPort, loadBalancerResource } from '../../../functions/adapters/load-balancer.js';
import { PartialApplyError } from '../../../functions/adapters/plan-apply.js';
import { AwsCallError, TargetGroupNotFoundError } from '../../../functions/adapters/errors.js';
import type { Member } from '../../../functions/core/types.js';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';
const v2Mock = mockClient(ElasticLoadBalancingV2Client);
const classicMock = mockClient(ElasticLoadBalancingClient);
let elbv2: ElasticLoadBalancingV2Client;
let classic: ElasticLoadBalancingClient;
const creds = { region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };

beforeEach(() => {
  v2Mock.reset();
  classicMock.reset();
  // A new client per test: the target type is cached per client.
  elbv2 = new ElasticLoadBalancingV2Client(creds);
  classic = new ElasticLoadBalancingClient(creds);
});
afterEach(() => {
  elbv2.destroy();
  classic.destroy();
});

const member = (instanceId: string, privateIp: string | undefined, state: Member['state'] = 'running', launchTimeMs = 0): Member => ({
  instanceId,
  state,
  address: privateIp ? `https://${privateIp}:8200` : undefined,
  ...(privateIp ? { privateIp } : {}),
  launchTimeMs,
});
const MEMBERS = [member('i-0a', '10.0.1.10'), member('i-0b', '10.0.2.10'), member('i-0c', '10.0.3.10')];
const vault = { port: 8200 };
const tgCluster = (targetPort?: number) => ({ loadBalancer: { type: 'target-group' as const, targetGroupArn: TG, routing: 'active-only' as const, ...(targetPort ? { targetPort } : {}) }, vault });
const inputsOf = <I extends object>(mock: typeof v2Mock | typeof classicMock, command: new (input: I) => unknown): I[] =>
  mock.commandCalls(command as never).map((c) => (c.args[0] as { input: I }).input);

function targetType(type: string, port = 8200): void {
  v2Mock.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: TG, TargetType: type as 'ip', Port: port }] });
}

describe('target group of instance targets', () => {
  test('describes once per client for the target type, then reads target health; ids are instance ids', async () => {
    targetType('instance');
    v2Mock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [{ Target: { Id: 'i-0a', Port: 8200 }, TargetHealth: { State: 'healthy' } }] });
    const lb = loadBalancerPort(tgCluster(), { elbv2 });
    assert.deepEqual(await lb.describe(MEMBERS), [{ instanceId: 'i-0a', port: 8200, state: 'healthy' }]);
    await loadBalancerPort(tgCluster(), { elbv2 }).describe(MEMBERS);
    expect(v2Mock).toHaveReceivedCommandTimes(DescribeTargetGroupsCommand, 1);
    expect(inputsOf(v2Mock, DescribeTargetGroupsCommand)).toStrictEqual([{ TargetGroupArns: [TG] }]);
    expect(v2Mock).toHaveReceivedCommandTimes(DescribeTargetHealthCommand, 2);
  });

  test('registers instance ids on loadBalancer.targetPort, else vault.port', async () => {
    targetType('instance', 80);
    v2Mock.on(RegisterTargetsCommand).resolves({});
    v2Mock.on(DeregisterTargetsCommand).resolves({});
    await loadBalancerPort(tgCluster(), { elbv2 }).apply({ register: ['i-0a'], deregister: [] }, MEMBERS);
    await loadBalancerPort(tgCluster(9200), { elbv2 }).apply({ register: ['i-0b'], deregister: [] }, MEMBERS);
    expect(inputsOf(v2Mock, RegisterTargetsCommand)).toStrictEqual([
      { TargetGroupArn: TG, Targets: [{ Id: 'i-0a', Port: 8200 }] },
      { TargetGroupArn: TG, Targets: [{ Id: 'i-0b', Port: 9200 }] },
    ]);
  });

  test('the fleet read is not needed, and its failure is not an unhandled rejection here', async () => {
    targetType('instance');
    v2Mock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    const failed = Promise.reject(new Error('DescribeInstances failed'));
    assert.deepEqual(await loadBalancerPort(tgCluster(), { elbv2 }).describe(failed), []);
    await assert.rejects(failed, /DescribeInstances failed/);
  });

  test('a missing target group is TargetGroupNotFoundError', async () => {
    v2Mock.on(DescribeTargetGroupsCommand).rejects(new TargetGroupNotFoundException({ $metadata: { httpStatusCode: 400 }, message: 'One or more target groups not found' }));
    v2Mock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    await assert.rejects(loadBalancerPort(tgCluster(), { elbv2 }).describe(MEMBERS), (e: unknown) => e instanceof TargetGroupNotFoundError && e.resource === TG);
  });

  test('a lambda or alb target group cannot hold Vault nodes: AwsCallError naming the target type', async () => {
    targetType('lambda');
    v2Mock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    await assert.rejects(loadBalancerPort(tgCluster(), { elbv2 }).describe(MEMBERS), (e: unknown) => e instanceof AwsCallError && /target type "lambda"/.test(e.message));
  });
});

describe('target group of ip targets', () => {
  beforeEach(() => targetType('ip'));

  test('maps each IP target to the member with that private IP, keeping the IP as targetId', async () => {
    v2Mock.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: '10.0.2.10', Port: 8200 }, TargetHealth: { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch' } },
        { Target: { Id: '10.0.1.10', Port: 8200 }, TargetHealth: { State: 'healthy' } },
      ],
    });
    const views = await loadBalancerPort(tgCluster(), { elbv2 }).describe(Promise.resolve(MEMBERS));
    assert.deepEqual(views, [
      { instanceId: 'i-0a', targetId: '10.0.1.10', port: 8200, state: 'healthy' },
      { instanceId: 'i-0b', targetId: '10.0.2.10', port: 8200, state: 'unhealthy', reason: 'Target.ResponseCodeMismatch' },
    ]);
  });

  test('an IP no member has stays keyed by its IP (the planner sees a non-member)', async () => {
    v2Mock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [{ Target: { Id: '10.0.9.9', Port: 8200 }, TargetHealth: { State: 'unhealthy' } }] });
    const [view] = await loadBalancerPort(tgCluster(), { elbv2 }).describe(MEMBERS);
    assert.equal(view?.instanceId, '10.0.9.9');
  });

  test('a replacement that kept its slot\'s interface (same IP) is the one the IP maps to, not the terminated old instance', async () => {
    v2Mock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [{ Target: { Id: '10.0.1.10', Port: 8200 }, TargetHealth: { State: 'initial' } }] });
    const members = [member('i-0old', '10.0.1.10', 'terminated', 1), member('i-0new', '10.0.1.10', 'running', 2)];
    const [view] = await loadBalancerPort(tgCluster(), { elbv2 }).describe(members);
    assert.equal(view?.instanceId, 'i-0new');
  });

  test('registers the member\'s private IP; deregisters the IP and port the balancer reported', async () => {
    v2Mock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [{ Target: { Id: '10.0.2.10', Port: 8300 }, TargetHealth: { State: 'healthy' } }] });
    v2Mock.on(RegisterTargetsCommand).resolves({});
    v2Mock.on(DeregisterTargetsCommand).resolves({});
    const lb = loadBalancerPort(tgCluster(), { elbv2 });
    await lb.describe(MEMBERS);
    const out = await lb.apply({ register: ['i-0a'], deregister: ['i-0b'] }, MEMBERS);
    expect(inputsOf(v2Mock, RegisterTargetsCommand)).toStrictEqual([{ TargetGroupArn: TG, Targets: [{ Id: '10.0.1.10', Port: 8200 }] }]);
    expect(inputsOf(v2Mock, DeregisterTargetsCommand)).toStrictEqual([{ TargetGroupArn: TG, Targets: [{ Id: '10.0.2.10', Port: 8300 }] }]);
    // The result speaks the planner's language: instance ids.
    assert.deepEqual(out, { registered: ['i-0a'], deregistered: ['i-0b'] });
  });

  test('a non-member registered by IP is deregistered by that IP', async () => {
    v2Mock.on(DeregisterTargetsCommand).resolves({});
    await loadBalancerPort(tgCluster(), { elbv2 }).apply({ register: [], deregister: ['10.0.9.9'] }, MEMBERS);
    expect(inputsOf(v2Mock, DeregisterTargetsCommand)).toStrictEqual([{ TargetGroupArn: TG, Targets: [{ Id: '10.0.9.9', Port: 8200 }] }]);
  });

  test('a member without a private IP cannot be registered: the plan fails for it, naming it', async () => {
    await assert.rejects(
      loadBalancerPort(tgCluster(), { elbv2 }).apply({ register: ['i-0x'], deregister: [] }, [member('i-0x', undefined)]),
      (e: unknown) => e instanceof PartialApplyError && e.failures[0]?.error instanceof AwsCallError && /i-0x has no private IP/.test(e.message),
    );
    expect(v2Mock).not.toHaveReceivedCommand(RegisterTargetsCommand);
  });
});

describe('classic load balancer', () => {
  const classicCluster = { loadBalancer: { type: 'classic' as const, loadBalancerName: 'vault-prod', routing: 'active-only' as const }, vault };

  test('describes and applies through the Classic ELB API with the given client, never the ELBv2 one', async () => {
    classicMock.on(DescribeInstanceHealthCommand).resolves({ InstanceStates: [{ InstanceId: 'i-0a', State: 'InService', ReasonCode: 'N/A', Description: 'N/A' }] });
    classicMock.on(RegisterInstancesWithLoadBalancerCommand).resolves({});
    classicMock.on(DeregisterInstancesFromLoadBalancerCommand).resolves({});
    const lb = loadBalancerPort(classicCluster, { elbv2, classicElb: classic });
    assert.equal(lb.type, 'classic');
    assert.equal(lb.resource, 'vault-prod');
    assert.deepEqual(await lb.describe(MEMBERS), [{ instanceId: 'i-0a', state: 'healthy' }]);
    assert.deepEqual(await lb.apply({ register: ['i-0b'], deregister: ['i-0a'] }, MEMBERS), { registered: ['i-0b'], deregistered: ['i-0a'] });
    expect(inputsOf(classicMock, RegisterInstancesWithLoadBalancerCommand)).toStrictEqual([{ LoadBalancerName: 'vault-prod', Instances: [{ InstanceId: 'i-0b' }] }]);
    expect(v2Mock).not.toHaveReceivedAnyCommand();
  });

  test('loadBalancerResource names the ARN or the name', () => {
    assert.equal(loadBalancerResource(classicCluster.loadBalancer), 'vault-prod');
    assert.equal(loadBalancerResource(tgCluster().loadBalancer), TG);
  });
});
