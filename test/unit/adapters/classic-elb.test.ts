/**
 * The Classic Load Balancer adapter against aws-sdk-client-mock: the exact
 * commands it sends, the InstanceState → target view mapping (API reference
 * "InstanceState"), the planner's order, chunking, idempotent deregistration
 * (InvalidInstance, boto/boto#2274) and errors through adapters/errors.ts.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  AccessPointNotFoundException,
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  ElasticLoadBalancingClient,
  ElasticLoadBalancingServiceException,
  InvalidEndPointException,
  RegisterInstancesWithLoadBalancerCommand,
  type InstanceState,
} from '@aws-sdk/client-elastic-load-balancing';
import { applyClassicPlan, classicElbClient, classicTargetState, describeInstanceHealth, INSTANCES_PER_CALL } from '../../../functions/adapters/classic-elb.js';
import { PartialApplyError } from '../../../functions/adapters/plan-apply.js';
import { AwsAccessDeniedError, AwsTransientError, LoadBalancerNotFoundError } from '../../../functions/adapters/errors.js';
import type { TargetState } from '../../../functions/core/types.js';

const LB = 'vault-prod';
const elbMock = mockClient(ElasticLoadBalancingClient);
let elb: ElasticLoadBalancingClient;

beforeEach(() => {
  elbMock.reset();
  elb = new ElasticLoadBalancingClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterEach(() => elb.destroy());

const inputsOf = <I extends object>(command: new (input: I) => unknown): I[] =>
  elbMock.commandCalls(command as never).map((c) => (c.args[0] as { input: I }).input);
const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `i-0${String(i).padStart(16, '0')}`);
const meta = { httpStatusCode: 400 };
const invalidInstance = (id: string) => new InvalidEndPointException({ $metadata: meta, message: `Could not find EC2 instance ${id}.` });

describe('classicTargetState: InstanceState → the planner\'s target state', () => {
  // One row per documented State / Description (API reference "InstanceState").
  const rows: Array<{ behaviour: string; s: Pick<InstanceState, 'State' | 'ReasonCode' | 'Description'>; expected: TargetState }> = [
    { behaviour: 'InService is healthy', s: { State: 'InService', ReasonCode: 'N/A', Description: 'N/A' }, expected: 'healthy' },
    { behaviour: 'registration in progress is initial', s: { State: 'OutOfService', ReasonCode: 'ELB', Description: 'Instance registration is still in progress.' }, expected: 'initial' },
    {
      behaviour: 'not yet past HealthyThreshold is initial (no traffic yet)',
      s: { State: 'OutOfService', ReasonCode: 'Instance', Description: 'Instance has not passed the configured HealthyThreshold number of health checks consecutively.' },
      expected: 'initial',
    },
    {
      behaviour: 'failed UnhealthyThreshold checks is unhealthy',
      s: { State: 'OutOfService', ReasonCode: 'Instance', Description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.' },
      expected: 'unhealthy',
    },
    { behaviour: 'a stopped instance is unused', s: { State: 'OutOfService', ReasonCode: 'Instance', Description: 'Instance is in stopped state.' }, expected: 'unused' },
    { behaviour: 'a pending instance is unused', s: { State: 'OutOfService', ReasonCode: 'Instance', Description: 'Instance is in pending state.' }, expected: 'unused' },
    {
      behaviour: 'an AZ the balancer does not serve is unused',
      s: { State: 'OutOfService', ReasonCode: 'ELB', Description: 'Instance is in the EC2 Availability Zone for which LoadBalancer is not configured to route traffic to.' },
      expected: 'unused',
    },
    { behaviour: 'not registered is unused', s: { State: 'OutOfService', ReasonCode: 'ELB', Description: 'Instance is not currently registered with the LoadBalancer.' }, expected: 'unused' },
    { behaviour: 'deregistration in progress is draining', s: { State: 'OutOfService', ReasonCode: 'ELB', Description: 'Instance deregistration currently in progress.' }, expected: 'draining' },
    { behaviour: 'a transient ELB error is unavailable, never healthy', s: { State: 'OutOfService', ReasonCode: 'ELB', Description: 'A transient error occurred. Please try again later.' }, expected: 'unavailable' },
    { behaviour: 'Unknown is unavailable, never healthy', s: { State: 'Unknown', ReasonCode: 'ELB', Description: 'A transient error occurred. Please try again later.' }, expected: 'unavailable' },
    { behaviour: 'no state at all is unavailable', s: {}, expected: 'unavailable' },
    { behaviour: 'an OutOfService the instance caused, with an unlisted description, is unhealthy', s: { State: 'OutOfService', ReasonCode: 'Instance', Description: 'something new' }, expected: 'unhealthy' },
  ];
  for (const r of rows) {
    test(r.behaviour, () => assert.equal(classicTargetState(r.s), r.expected));
  }
});

describe('describeInstanceHealth', () => {
  test('sends DescribeInstanceHealth with the load balancer name only (every registered instance), once: the API has no pages', async () => {
    elbMock.on(DescribeInstanceHealthCommand).resolves({
      InstanceStates: [
        { InstanceId: 'i-0b', State: 'OutOfService', ReasonCode: 'Instance', Description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.' },
        { InstanceId: 'i-0a', State: 'InService', ReasonCode: 'N/A', Description: 'N/A' },
      ],
    });
    const views = await describeInstanceHealth(elb, LB);
    expect(elbMock).toHaveReceivedCommandTimes(DescribeInstanceHealthCommand, 1);
    expect(inputsOf(DescribeInstanceHealthCommand)).toStrictEqual([{ LoadBalancerName: LB }]);
    assert.deepEqual(views, [
      { instanceId: 'i-0a', state: 'healthy' },
      {
        instanceId: 'i-0b',
        state: 'unhealthy',
        reason: 'Instance',
        description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.',
      },
    ]);
  });

  test('an entry without an instance id is skipped; an empty balancer gives no views', async () => {
    elbMock.on(DescribeInstanceHealthCommand).resolves({ InstanceStates: [{ State: 'InService' }] });
    assert.deepEqual(await describeInstanceHealth(elb, LB), []);
    elbMock.on(DescribeInstanceHealthCommand).resolves({});
    assert.deepEqual(await describeInstanceHealth(elb, LB), []);
  });

  test('a missing load balancer is LoadBalancerNotFoundError naming it', async () => {
    elbMock.on(DescribeInstanceHealthCommand).rejects(new AccessPointNotFoundException({ $metadata: meta, message: "There is no ACTIVE Load Balancer named 'vault-prod'" }));
    await assert.rejects(describeInstanceHealth(elb, LB), (e: unknown) => e instanceof LoadBalancerNotFoundError && e.resource === LB && e.code === 'AccessPointNotFoundException');
  });

  test('throttling is AwsTransientError', async () => {
    elbMock.on(DescribeInstanceHealthCommand).rejects(new ElasticLoadBalancingServiceException({ name: 'Throttling', $fault: 'client', $metadata: meta, message: 'Rate exceeded' }));
    await assert.rejects(describeInstanceHealth(elb, LB), AwsTransientError);
  });

  test('access denied is AwsAccessDeniedError', async () => {
    elbMock.on(DescribeInstanceHealthCommand).rejects(new ElasticLoadBalancingServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'not authorized' }));
    await assert.rejects(describeInstanceHealth(elb, LB), AwsAccessDeniedError);
  });
});

describe('applyClassicPlan', () => {
  test('an empty plan makes no call', async () => {
    assert.deepEqual(await applyClassicPlan(elb, LB, { register: [], deregister: [] }), { registered: [], deregistered: [] });
    expect(elbMock).not.toHaveReceivedAnyCommand();
  });

  test('sends exactly the planned instances to the named balancer, deregister first by default', async () => {
    const order: string[] = [];
    elbMock.on(DeregisterInstancesFromLoadBalancerCommand).callsFake(() => (order.push('deregister'), { Instances: [] }));
    elbMock.on(RegisterInstancesWithLoadBalancerCommand).callsFake(() => (order.push('register'), { Instances: [{ InstanceId: 'i-0new' }] }));
    const out = await applyClassicPlan(elb, LB, { register: ['i-0new', 'i-0new'], deregister: ['i-0old'] });
    assert.deepEqual(order, ['deregister', 'register']);
    expect(inputsOf(RegisterInstancesWithLoadBalancerCommand)).toStrictEqual([{ LoadBalancerName: LB, Instances: [{ InstanceId: 'i-0new' }] }]);
    expect(inputsOf(DeregisterInstancesFromLoadBalancerCommand)).toStrictEqual([{ LoadBalancerName: LB, Instances: [{ InstanceId: 'i-0old' }] }]);
    assert.deepEqual(out, { registered: ['i-0new'], deregistered: ['i-0old'] });
  });

  test('register-first when the planner says so', async () => {
    const order: string[] = [];
    elbMock.on(DeregisterInstancesFromLoadBalancerCommand).callsFake(() => (order.push('deregister'), {}));
    elbMock.on(RegisterInstancesWithLoadBalancerCommand).callsFake(() => (order.push('register'), {}));
    await applyClassicPlan(elb, LB, { register: ['i-0new'], deregister: ['i-0old'], order: 'register-first' });
    assert.deepEqual(order, ['register', 'deregister']);
  });

  test(`chunks large plans into calls of at most ${INSTANCES_PER_CALL} instances`, async () => {
    elbMock.on(RegisterInstancesWithLoadBalancerCommand).resolves({});
    const all = ids(INSTANCES_PER_CALL * 2 + 5);
    const out = await applyClassicPlan(elb, LB, { register: all, deregister: [] });
    const sizes = inputsOf(RegisterInstancesWithLoadBalancerCommand).map((i) => i.Instances?.length);
    assert.deepEqual(sizes, [INSTANCES_PER_CALL, INSTANCES_PER_CALL, 5]);
    assert.deepEqual(out.registered, all);
  });

  test('idempotent deregistration: InvalidInstance for one instance of a batch retries one by one, and the one that is not registered counts as done', async () => {
    elbMock
      .on(DeregisterInstancesFromLoadBalancerCommand)
      .callsFake((input: { Instances?: Array<{ InstanceId?: string }> }) => {
        if ((input.Instances ?? []).some((i) => i.InstanceId === 'i-0gone')) throw invalidInstance('i-0gone');
        return { Instances: [] };
      });
    const out = await applyClassicPlan(elb, LB, { register: [], deregister: ['i-0live', 'i-0gone'] });
    assert.deepEqual(
      inputsOf(DeregisterInstancesFromLoadBalancerCommand).map((i) => i.Instances?.map((x) => x.InstanceId)),
      [['i-0live', 'i-0gone'], ['i-0live'], ['i-0gone']],
    );
    assert.deepEqual(out, { registered: [], deregistered: ['i-0live', 'i-0gone'] });
  });

  test('deregistering a lone instance that is not registered succeeds without a retry', async () => {
    elbMock.on(DeregisterInstancesFromLoadBalancerCommand).rejects(invalidInstance('i-0gone'));
    assert.deepEqual(await applyClassicPlan(elb, LB, { register: [], deregister: ['i-0gone'] }), { registered: [], deregistered: ['i-0gone'] });
    expect(elbMock).toHaveReceivedCommandTimes(DeregisterInstancesFromLoadBalancerCommand, 1);
  });

  test('InvalidInstance on register is a failure (the instance cannot be routed), reported with what changed', async () => {
    elbMock.on(DeregisterInstancesFromLoadBalancerCommand).resolves({});
    elbMock.on(RegisterInstancesWithLoadBalancerCommand).rejects(invalidInstance('i-0new'));
    await assert.rejects(applyClassicPlan(elb, LB, { register: ['i-0new'], deregister: ['i-0old'] }), (e: unknown) => {
      assert.ok(e instanceof PartialApplyError);
      assert.deepEqual(e.applied, { registered: [], deregistered: ['i-0old'] });
      assert.equal(e.failures[0]?.step, 'register');
      assert.equal(e.failures[0]?.error.name, 'AwsCallError');
      return true;
    });
  });

  test('deregister-first: a failed deregister stops the plan unless every removal is dead (invariant 12)', async () => {
    const throttled = () => new ElasticLoadBalancingServiceException({ name: 'Throttling', $fault: 'client', $metadata: meta, message: 'Rate exceeded' });
    elbMock.on(DeregisterInstancesFromLoadBalancerCommand).rejects(throttled());
    elbMock.on(RegisterInstancesWithLoadBalancerCommand).resolves({});
    await assert.rejects(applyClassicPlan(elb, LB, { register: ['i-0new'], deregister: ['i-0old'] }), (e: unknown) => {
      assert.ok(e instanceof PartialApplyError);
      assert.ok(e.failures[0]?.error instanceof AwsTransientError);
      assert.deepEqual(e.applied, { registered: [], deregistered: [] });
      return true;
    });
    expect(elbMock).not.toHaveReceivedCommand(RegisterInstancesWithLoadBalancerCommand);

    await assert.rejects(
      applyClassicPlan(elb, LB, { register: ['i-0new'], deregister: ['i-0dead'], registerEvenIfDeregisterFails: true }),
      (e: unknown) => e instanceof PartialApplyError && e.applied.registered[0] === 'i-0new' && e.applied.deregistered.length === 0,
    );
  });

  test('a missing load balancer on register is LoadBalancerNotFoundError', async () => {
    elbMock.on(RegisterInstancesWithLoadBalancerCommand).rejects(new AccessPointNotFoundException({ $metadata: meta, message: 'There is no ACTIVE Load Balancer named vault-prod' }));
    await assert.rejects(
      applyClassicPlan(elb, LB, { register: ['i-0new'], deregister: [] }),
      (e: unknown) => e instanceof PartialApplyError && e.failures[0]?.error instanceof LoadBalancerNotFoundError,
    );
  });
});

describe('classicElbClient', () => {
  test('one client per container, a new one when the standard endpoint settings change', () => {
    const saved = process.env['AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING'];
    try {
      process.env['AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING'] = 'http://127.0.0.1:1';
      const a = classicElbClient();
      assert.equal(classicElbClient(), a);
      process.env['AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING'] = 'http://127.0.0.1:2';
      assert.notEqual(classicElbClient(), a);
    } finally {
      if (saved === undefined) delete process.env['AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING'];
      else process.env['AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING'] = saved;
    }
  });
});
