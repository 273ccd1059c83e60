import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ElasticLoadBalancingV2ServiceException,
  InvalidTargetException,
  RegisterTargetsCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { applyPlan, describeTargets, PartialApplyError } from '../../../functions/adapters/target-group.js';
import { AwsTransientError, TargetGroupNotFoundError } from '../../../functions/adapters/errors.js';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';
const PORT = 8200;

const elbMock = mockClient(ElasticLoadBalancingV2Client);
let elb: ElasticLoadBalancingV2Client;

beforeEach(() => {
  elbMock.reset();
  elb = new ElasticLoadBalancingV2Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterEach(() => elb.destroy());

/** The inputs sent with `command`, in order (for exact comparisons: no field more, none less). */
const inputsOf = <I extends object>(command: new (input: I) => unknown): I[] =>
  elbMock.commandCalls(command as never).map((c) => (c.args[0] as { input: I }).input);

const ids = (n: number, prefix = 'i-0'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(16, '0')}`);
const meta = { httpStatusCode: 400 };

describe('describeTargets', () => {
  test('maps each target health description to a target view', async () => {
    elbMock.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: 'i-0b', Port: PORT }, HealthCheckPort: '8200', TargetHealth: { State: 'unhealthy', Reason: 'Target.ResponseCodeMismatch', Description: 'Health checks failed with these codes: [429]' } },
        { Target: { Id: 'i-0a', Port: PORT }, HealthCheckPort: '8200', TargetHealth: { State: 'healthy' } },
        { Target: { Id: 'i-0c', Port: PORT }, HealthCheckPort: '8200', TargetHealth: { State: 'draining', Reason: 'Target.DeregistrationInProgress', Description: 'Target deregistration is in progress' } },
      ],
    });
    const views = await describeTargets(elb, TG);
    expect(elbMock).toHaveReceivedCommandTimes(DescribeTargetHealthCommand, 1);
    expect(elbMock).toHaveReceivedCommandWith(DescribeTargetHealthCommand, { TargetGroupArn: TG });
    // The whole group: no Targets filter.
    expect(inputsOf(DescribeTargetHealthCommand)).toStrictEqual([{ TargetGroupArn: TG }]);
    assert.deepEqual(views, [
      { instanceId: 'i-0a', port: PORT, state: 'healthy' },
      { instanceId: 'i-0b', port: PORT, state: 'unhealthy', reason: 'Target.ResponseCodeMismatch', description: 'Health checks failed with these codes: [429]' },
      { instanceId: 'i-0c', port: PORT, state: 'draining', reason: 'Target.DeregistrationInProgress', description: 'Target deregistration is in progress' },
    ]);
  });

  test('a target without a health record is unavailable, never healthy', async () => {
    elbMock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [{ Target: { Id: 'i-0a', Port: PORT } }] });
    const [view] = await describeTargets(elb, TG);
    assert.equal(view?.state, 'unavailable');
  });

  test('an empty target group gives no views', async () => {
    elbMock.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    assert.deepEqual(await describeTargets(elb, TG), []);
  });

  test('a missing target group is TargetGroupNotFoundError', async () => {
    elbMock.on(DescribeTargetHealthCommand).rejects(new TargetGroupNotFoundException({ $metadata: meta, message: 'One or more target groups not found' }));
    await assert.rejects(describeTargets(elb, TG), (e: unknown) => e instanceof TargetGroupNotFoundError && e.resource === TG);
  });
});

describe('applyPlan', () => {
  test('an empty plan makes no call', async () => {
    const out = await applyPlan(elb, TG, PORT, { register: [], deregister: [] });
    expect(elbMock).not.toHaveReceivedAnyCommand();
    assert.deepEqual(out, { registered: [], deregistered: [] });
  });

  test('deregisters before it registers', async () => {
    const order: string[] = [];
    elbMock.on(DeregisterTargetsCommand).callsFake(() => (order.push('deregister'), {}));
    elbMock.on(RegisterTargetsCommand).callsFake(() => (order.push('register'), {}));
    await applyPlan(elb, TG, PORT, { register: ['i-0new'], deregister: ['i-0old'] });
    assert.deepEqual(order, ['deregister', 'register']);
  });

  test('sends instance targets with the given port to the given target group', async () => {
    elbMock.on(DeregisterTargetsCommand).resolves({});
    elbMock.on(RegisterTargetsCommand).resolves({});
    const out = await applyPlan(elb, TG, PORT, { register: ['i-0new'], deregister: ['i-0old'] });
    expect(elbMock).toHaveReceivedCommandWith(RegisterTargetsCommand, { TargetGroupArn: TG, Targets: [{ Id: 'i-0new', Port: PORT }] });
    expect(elbMock).toHaveReceivedCommandWith(DeregisterTargetsCommand, { TargetGroupArn: TG, Targets: [{ Id: 'i-0old', Port: PORT }] });
    // Exactly one call each, with nothing else in the input.
    expect(inputsOf(RegisterTargetsCommand)).toStrictEqual([{ TargetGroupArn: TG, Targets: [{ Id: 'i-0new', Port: PORT }] }]);
    expect(inputsOf(DeregisterTargetsCommand)).toStrictEqual([{ TargetGroupArn: TG, Targets: [{ Id: 'i-0old', Port: PORT }] }]);
    assert.deepEqual(out, { registered: ['i-0new'], deregistered: ['i-0old'] });
  });

  test('deregister-first: a failed deregister leaves registration untouched and says nothing changed', async () => {
    elbMock.on(DeregisterTargetsCommand).rejects(new ElasticLoadBalancingV2ServiceException({ name: 'Throttling', $fault: 'client', $metadata: meta, message: 'Rate exceeded' }));
    elbMock.on(RegisterTargetsCommand).resolves({});
    await assert.rejects(applyPlan(elb, TG, PORT, { register: ['i-0new'], deregister: ['i-0old'] }), (e: unknown) => {
      assert.ok(e instanceof PartialApplyError);
      assert.ok(e.failures[0]?.error instanceof AwsTransientError);
      assert.deepEqual(e.applied, { registered: [], deregistered: [] });
      return true;
    });
    expect(elbMock).not.toHaveReceivedCommand(RegisterTargetsCommand);
  });

  test('invariant 12: when every removal is dead or non-routable, a failed deregister does not keep the new active out, and the report says so', async () => {
    elbMock.on(DeregisterTargetsCommand).rejects(new ElasticLoadBalancingV2ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: meta, message: 'not authorized' }));
    elbMock.on(RegisterTargetsCommand).resolves({});
    await assert.rejects(
      applyPlan(elb, TG, PORT, { register: ['i-0new'], deregister: ['i-0dead'], order: 'deregister-first', registerEvenIfDeregisterFails: true }),
      (e: unknown) => {
        assert.ok(e instanceof PartialApplyError);
        assert.deepEqual(e.applied, { registered: ['i-0new'], deregistered: [] });
        assert.equal(e.failures[0]?.step, 'deregister');
        return true;
      },
    );
    expect(elbMock).toHaveReceivedCommandTimes(RegisterTargetsCommand, 1);
    expect(elbMock).toHaveReceivedCommandWith(RegisterTargetsCommand, { Targets: [{ Id: 'i-0new', Port: PORT }] });
    assert.deepEqual(elbMock.commandCalls(RegisterTargetsCommand).map((c) => c.args[0].input.Targets), [[{ Id: 'i-0new', Port: PORT }]]);
  });

  test('register-first: registers before deregistering, so the group never passes through empty', async () => {
    const order: string[] = [];
    elbMock.on(RegisterTargetsCommand).callsFake(() => (order.push('register'), {}));
    elbMock.on(DeregisterTargetsCommand).callsFake(() => (order.push('deregister'), {}));
    const out = await applyPlan(elb, TG, PORT, { register: ['i-0b'], deregister: ['i-0a'], order: 'register-first' });
    assert.deepEqual(order, ['register', 'deregister']);
    assert.deepEqual(out, { registered: ['i-0b'], deregistered: ['i-0a'] });
  });

  test('register-first: a failed register removes nothing', async () => {
    elbMock.on(RegisterTargetsCommand).rejects(new ElasticLoadBalancingV2ServiceException({ name: 'Throttling', $fault: 'client', $metadata: meta, message: 'Rate exceeded' }));
    elbMock.on(DeregisterTargetsCommand).resolves({});
    await assert.rejects(applyPlan(elb, TG, PORT, { register: ['i-0b'], deregister: ['i-0a'], order: 'register-first' }), PartialApplyError);
    expect(elbMock).not.toHaveReceivedCommand(DeregisterTargetsCommand);
  });

  test('register-first swap: a failed deregistration of the old claimant takes the new registration back (never two actives routed)', async () => {
    const calls: string[] = [];
    elbMock.on(RegisterTargetsCommand).callsFake((input: { Targets: Array<{ Id: string }> }) => (calls.push(`register ${input.Targets.map((t) => t.Id).join()}`), {}));
    elbMock.on(DeregisterTargetsCommand).callsFake((input: { Targets: Array<{ Id: string }> }) => {
      const ids = input.Targets.map((t) => t.Id).join();
      calls.push(`deregister ${ids}`);
      if (ids === 'i-0old') throw new ElasticLoadBalancingV2ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: meta, message: 'not authorized' });
      return {};
    });
    await assert.rejects(
      applyPlan(elb, TG, PORT, { register: ['i-0new'], deregister: ['i-0old'], order: 'register-first', undoRegistrationIfDeregisterFails: true }),
      (e: unknown) => {
        assert.ok(e instanceof PartialApplyError);
        assert.deepEqual(e.applied, { registered: ['i-0new'], deregistered: ['i-0new'] });
        assert.deepEqual(e.failures.map((f) => f.step), ['deregister']);
        return true;
      },
    );
    assert.deepEqual(calls, ['register i-0new', 'deregister i-0old', 'deregister i-0new']);
  });

  test('register-first swap: when the undo fails too, both failures are reported and the registration stays reported', async () => {
    elbMock.on(RegisterTargetsCommand).resolves({});
    elbMock.on(DeregisterTargetsCommand).rejects(new ElasticLoadBalancingV2ServiceException({ name: 'Throttling', $fault: 'client', $metadata: meta, message: 'Rate exceeded' }));
    await assert.rejects(
      applyPlan(elb, TG, PORT, { register: ['i-0new'], deregister: ['i-0old'], order: 'register-first', undoRegistrationIfDeregisterFails: true }),
      (e: unknown) => {
        assert.ok(e instanceof PartialApplyError);
        assert.deepEqual(e.applied, { registered: ['i-0new'], deregistered: [] });
        assert.deepEqual(e.failures.map((f) => f.step), ['deregister', 'undo']);
        return true;
      },
    );
  });

  test('register-first without the undo flag leaves a registration in place when the deregistration fails', async () => {
    elbMock.on(RegisterTargetsCommand).resolves({});
    elbMock.on(DeregisterTargetsCommand).rejects(new ElasticLoadBalancingV2ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: meta, message: 'not authorized' }));
    await assert.rejects(applyPlan(elb, TG, PORT, { register: ['i-0b'], deregister: ['i-0a'], order: 'register-first' }), (e: unknown) => {
      assert.ok(e instanceof PartialApplyError);
      assert.deepEqual(e.applied, { registered: ['i-0b'], deregistered: [] });
      return true;
    });
    expect(elbMock).toHaveReceivedCommandTimes(DeregisterTargetsCommand, 1);
  });

  const chunkRows = [
    { behaviour: 'registers 450 targets in 3 calls of at most 200', command: RegisterTargetsCommand, plan: { register: ids(450), deregister: [] } },
    { behaviour: 'deregisters 450 targets in 3 calls of at most 200', command: DeregisterTargetsCommand, plan: { register: [], deregister: ids(450) } },
  ] as const;
  for (const row of chunkRows) {
    test(row.behaviour, async () => {
      elbMock.on(RegisterTargetsCommand).resolves({});
      elbMock.on(DeregisterTargetsCommand).resolves({});
      const out = await applyPlan(elb, TG, PORT, { register: [...row.plan.register], deregister: [...row.plan.deregister] });
      const calls = elbMock.commandCalls(row.command as typeof RegisterTargetsCommand);
      const sizes = calls.map((c) => c.args[0].input.Targets?.length ?? 0);
      assert.equal(calls.length, 3);
      assert.ok(sizes.every((s) => s <= 200), `sizes ${sizes.join(',')}`);
      const sent = calls.flatMap((c) => (c.args[0].input.Targets ?? []).map((t) => t.Id));
      const expected = [...row.plan.register, ...row.plan.deregister];
      assert.deepEqual(sent, expected, 'every target sent exactly once, in order');
      assert.deepEqual([...out.registered, ...out.deregistered], expected);
    });
  }

  test('deregistering a target whose instance is gone (InvalidTarget) counts as done', async () => {
    elbMock.on(DeregisterTargetsCommand).rejects(new InvalidTargetException({ $metadata: meta, message: 'Target i-0gone is not a valid instance' }));
    const out = await applyPlan(elb, TG, PORT, { register: [], deregister: ['i-0gone'] });
    assert.deepEqual(out.deregistered, ['i-0gone']);
    expect(elbMock).toHaveReceivedCommandTimes(DeregisterTargetsCommand, 1);
  });

  test('InvalidTarget in a batch retries one by one so live targets are still removed', async () => {
    elbMock.on(DeregisterTargetsCommand).callsFake((input: { Targets?: Array<{ Id?: string }> }) => {
      if (input.Targets?.some((t) => t.Id === 'i-0gone')) {
        throw new InvalidTargetException({ $metadata: meta, message: 'Target i-0gone is not a valid instance' });
      }
      return {};
    });
    const out = await applyPlan(elb, TG, PORT, { register: [], deregister: ['i-0live', 'i-0gone'] });
    const single = elbMock.commandCalls(DeregisterTargetsCommand).slice(1).map((c) => c.args[0].input.Targets?.map((t) => t.Id));
    assert.deepEqual(single, [['i-0live'], ['i-0gone']]);
    expect(elbMock).toHaveReceivedCommandTimes(DeregisterTargetsCommand, 3);
    expect(elbMock).toHaveReceivedNthSpecificCommandWith(1, DeregisterTargetsCommand, { TargetGroupArn: TG, Targets: [{ Id: 'i-0live', Port: PORT }, { Id: 'i-0gone', Port: PORT }] });
    assert.deepEqual(out.deregistered, ['i-0live', 'i-0gone']);
  });

  test('a missing target group on register is TargetGroupNotFoundError', async () => {
    elbMock.on(RegisterTargetsCommand).rejects(new TargetGroupNotFoundException({ $metadata: meta, message: 'One or more target groups not found' }));
    await assert.rejects(
      applyPlan(elb, TG, PORT, { register: ['i-0a'], deregister: [] }),
      (e: unknown) => e instanceof PartialApplyError && e.failures[0]?.error instanceof TargetGroupNotFoundError,
    );
  });
});
