/**
 * The sandbox's model of EventBridge + Lambda for the controller (scheduled
 * mode of sandbox/controller-loop.ts), on a manual clock: the settings read from
 * serverless.yml, the schedule phase, contexts counting down from the timeout,
 * overlap up to the reserved concurrency, throttling with Lambda's backoff and
 * maximum event age, timeouts that free the concurrency and discard the
 * environment, retries after a function error. Rules: AWS Lambda "How Lambda
 * handles errors and retries with asynchronous invocation".
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import {
  DeploymentSettingError,
  LambdaScheduler,
  controllerDeploymentFrom,
  parseRateExpression,
  readControllerDeployment,
  type InvocationContext,
  type LambdaDeployment,
  type LambdaEventRecord,
  type SchedulerClock,
} from '../../sandbox/controller-loop.js';

/** A clock that only moves when told to; timers fire in due order. */
class ManualClock implements SchedulerClock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Moves to `until`, firing every timer due on the way (and letting promise callbacks run after each). */
  async advanceTo(until: number): Promise<void> {
    await flush();
    for (let guard = 0; guard < 10_000; guard++) {
      const next = [...this.timers.entries()].sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (next === undefined || next[1].at > until) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await flush();
    }
    this.t = until;
    await flush();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const deployment = (over: Partial<LambdaDeployment> = {}): LambdaDeployment => ({
  functionName: 'controller',
  schedulePeriodSeconds: 60,
  timeoutSeconds: 55,
  reservedConcurrency: 1,
  maximumEventAgeSeconds: 60,
  maximumRetryAttempts: 0,
  ...over,
});

/** An invocation the test finishes by hand (or never). */
interface Held {
  ctx: InvocationContext;
  remainingAtStart: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

function harness(d: LambdaDeployment, phase: number) {
  const clock = new ManualClock();
  const held: Held[] = [];
  const timedOut: number[] = [];
  const scheduler = new LambdaScheduler({
    deployment: d,
    timeScale: 1,
    phase,
    clock,
    invoke: (ctx) =>
      new Promise<void>((resolve, reject) => {
        held.push({ ctx, remainingAtStart: ctx.getRemainingTimeInMillis(), resolve, reject });
      }),
    onTimeout: (c) => timedOut.push(c),
  });
  const events = (kinds?: LambdaEventRecord['kind'][]): string[] =>
    scheduler.events.filter((e) => !kinds || kinds.includes(e.kind)).map((e) => `${e.atMs / 1000}s ${e.kind} #${e.eventId}${e.container ? ` c${e.container}` : ''}`);
  return { clock, held, timedOut, scheduler, events };
}

describe('serverless.yml settings', () => {
  const yml = `
service: x
provider:
  environment:
    A: !Sub 'arn:\${AWS::Partition}:states:\${AWS::Region}'
    B: !Ref Topic
  vpc:
    subnetIds: !Split [',', '\${param:subnetIds}']
functions:
  controller:
    handler: functions/handlers/controller.handler
    timeout: 90
    reservedConcurrency: 2
    maximumRetryAttempts: 0
    maximumEventAge: 120
    events:
      - schedule:
          rate: rate(1 minute)
          enabled: true
  other:
    handler: x.handler
    events:
      - schedule: rate(5 minutes)
resources:
  Resources:
    R: { Type: AWS::IAM::Role, Properties: { Arn: !GetAtt Role.Arn, Roles: !If [Cond, [a], [b]] } }
`;

  test('reads schedule, timeout, reserved concurrency and async settings through CloudFormation short tags', () => {
    assert.deepEqual(controllerDeploymentFrom(yml), {
      functionName: 'controller',
      schedulePeriodSeconds: 60,
      timeoutSeconds: 90,
      reservedConcurrency: 2,
      maximumEventAgeSeconds: 120,
      maximumRetryAttempts: 0,
    });
  });

  test("Lambda's defaults where the function leaves a setting out (timeout 3 s, no reservation, 6 h, 2 retries)", () => {
    assert.deepEqual(controllerDeploymentFrom(yml, 'other'), {
      functionName: 'other',
      schedulePeriodSeconds: 300,
      timeoutSeconds: 3,
      reservedConcurrency: Number.POSITIVE_INFINITY,
      maximumEventAgeSeconds: 21_600,
      maximumRetryAttempts: 2,
    });
  });

  test('errors name the setting', () => {
    assert.throws(() => controllerDeploymentFrom(yml, 'missing'), (e: unknown) => e instanceof DeploymentSettingError && e.field === 'functions.missing');
    assert.throws(
      () => controllerDeploymentFrom(yml.replace('timeout: 90', "timeout: '\${param:t}'")),
      (e: unknown) => e instanceof DeploymentSettingError && e.field === 'functions.controller.timeout',
    );
    assert.throws(
      () => controllerDeploymentFrom(yml.replace('rate(1 minute)', 'cron(0/5 * * * ? *)')),
      (e: unknown) => e instanceof DeploymentSettingError && /rate\(<value> <unit>\)/.test(e.message),
    );
  });

  test('EventBridge rate expressions', () => {
    assert.equal(parseRateExpression('rate(1 minute)'), 60);
    assert.equal(parseRateExpression('rate(10 minutes)'), 600);
    assert.equal(parseRateExpression('rate(2 hours)'), 7_200);
    assert.equal(parseRateExpression('rate(1 day)'), 86_400);
    assert.throws(() => parseRateExpression('rate(1 fortnight)'), DeploymentSettingError);
    assert.throws(() => parseRateExpression('rate(0 minutes)'), DeploymentSettingError);
  });

  test("the repository's serverless.yml deploys the controller on a one-minute schedule", () => {
    const d = readControllerDeployment();
    assert.equal(d.functionName, 'controller');
    assert.equal(d.schedulePeriodSeconds, 60, 'EventBridge schedules cannot fire more often than once a minute');
    assert.ok(d.timeoutSeconds > 0 && d.timeoutSeconds <= 900, `timeout ${d.timeoutSeconds}`);
    assert.ok(d.reservedConcurrency >= 1, `reservedConcurrency ${d.reservedConcurrency}`);
  });

  test('rules generated from params.controllerShards: one shard is simulated, with its own rule and its two instances', () => {
    const yml = (shards: string) =>
      `params:\n  default:\n    controllerShards: ${shards}\nfunctions:\n  controller:\n    timeout: 90\n` +
      '    reservedConcurrency: ${file(./scripts/controller-schedules.cjs):reservedConcurrency}\n' +
      '    events: ${file(./scripts/controller-schedules.cjs):events}\n';
    for (const n of ['1', '4']) {
      const d = controllerDeploymentFrom(yml(n));
      assert.equal(d.schedulePeriodSeconds, 60, `${n} shard(s)`);
      assert.equal(d.reservedConcurrency, 2, `${n} shard(s): one shard's run and its successor`);
    }
    assert.throws(() => controllerDeploymentFrom(yml('0')), (e: unknown) => e instanceof DeploymentSettingError && e.field === 'params.default.controllerShards');
  });
});

describe('EventBridge + Lambda scheduling', () => {
  test('starts inside the period at the given phase: the running invocation has that much less time left', async () => {
    const h = harness(deployment(), 0.25);
    h.scheduler.start();
    await h.clock.advanceTo(0);
    assert.equal(h.held.length, 1);
    assert.equal(h.held[0]!.remainingAtStart, 40_000, 'fired 15 s ago with a 55 s timeout');
    await h.clock.advanceTo(10_000);
    assert.equal(h.held[0]!.ctx.getRemainingTimeInMillis(), 30_000, 'the clock runs down');
    h.held[0]!.resolve();
    await h.clock.advanceTo(44_999);
    assert.equal(h.held.length, 1);
    await h.clock.advanceTo(45_000);
    assert.equal(h.held.length, 2, 'the next firing is at the next period boundary');
    assert.equal(h.held[1]!.remainingAtStart, 55_000);
    assert.equal(h.held[1]!.ctx.container, 1, 'a free environment is reused (warm start)');
    await h.clock.advanceTo(105_000);
    assert.equal(h.held.length, 3, 'every period, without drift');
    h.scheduler.stop();
  });

  test('no invocation is running at a phase past the timeout', async () => {
    const h = harness(deployment({ timeoutSeconds: 55 }), 0.95);
    h.scheduler.start();
    await h.clock.advanceTo(0);
    assert.equal(h.held.length, 0);
    await h.clock.advanceTo(3_000);
    assert.equal(h.held.length, 1);
    h.scheduler.stop();
  });

  test('invocations overlap up to the reserved concurrency, each in its own environment', async () => {
    const h = harness(deployment({ timeoutSeconds: 90, reservedConcurrency: 2 }), 0);
    h.scheduler.start();
    await h.clock.advanceTo(60_000);
    assert.equal(h.held.length, 2);
    assert.equal(h.scheduler.running, 2);
    assert.deepEqual(
      h.held.map((x) => x.ctx.container),
      [1, 2],
    );
    assert.equal(h.held[0]!.ctx.getRemainingTimeInMillis(), 30_000);
    assert.equal(h.held[1]!.ctx.getRemainingTimeInMillis(), 90_000);
    h.held[0]!.resolve();
    await h.clock.advanceTo(61_000);
    assert.equal(h.scheduler.running, 1);
    h.scheduler.stop();
  });

  test('beyond the reserved concurrency an event is throttled and retried after 1, 2, 4, 8... s', async () => {
    const h = harness(deployment({ timeoutSeconds: 90, reservedConcurrency: 1, maximumEventAgeSeconds: 3_600 }), 0);
    h.scheduler.start();
    await h.clock.advanceTo(95_000);
    // #1 runs from 0 to its 90 s timeout; #2 fires at 60 s and waits for the concurrency.
    assert.deepEqual(h.events(['invoked', 'throttled', 'timed-out']), [
      '0s invoked #1 c1',
      '60s throttled #2',
      '61s throttled #2',
      '63s throttled #2',
      '67s throttled #2',
      '75s throttled #2',
      '90s timed-out #1 c1',
      '91s invoked #2 c2',
    ]);
    assert.deepEqual(h.timedOut, [1], 'the timed-out environment is frozen and never reused');
    assert.equal(h.held[1]!.remainingAtStart, 90_000);
    h.scheduler.stop();
  });

  test('a throttled event older than maximumEventAge is dropped', async () => {
    const h = harness(deployment({ timeoutSeconds: 90, reservedConcurrency: 1, maximumEventAgeSeconds: 10 }), 0);
    h.scheduler.start();
    await h.clock.advanceTo(80_000);
    assert.deepEqual(h.events(['throttled', 'dropped']), ['60s throttled #2', '61s throttled #2', '63s throttled #2', '67s throttled #2', '75s dropped #2']);
    h.scheduler.stop();
  });

  test('a late answer from a timed-out invocation changes nothing', async () => {
    const h = harness(deployment({ timeoutSeconds: 55 }), 0);
    h.scheduler.start();
    await h.clock.advanceTo(56_000);
    h.held[0]!.resolve();
    await h.clock.advanceTo(57_000);
    assert.deepEqual(h.events(['succeeded', 'timed-out']), ['55s timed-out #1 c1']);
    await h.clock.advanceTo(60_000);
    assert.equal(h.held[1]!.ctx.container, 2, 'a new environment (cold start)');
    h.scheduler.stop();
  });

  test('a function error is retried maximumRetryAttempts times, one minute then two later', async () => {
    const h = harness(deployment({ schedulePeriodSeconds: 3_600, timeoutSeconds: 55, maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600 }), 0);
    h.scheduler.start();
    await h.clock.advanceTo(1_000);
    h.held[0]!.reject(new Error('boom'));
    await h.clock.advanceTo(61_000);
    assert.equal(h.held.length, 2);
    h.held[1]!.reject(new Error('boom'));
    await h.clock.advanceTo(182_000);
    assert.equal(h.held.length, 3);
    h.held[2]!.reject(new Error('boom'));
    await h.clock.advanceTo(600_000);
    assert.equal(h.held.length, 3, 'no third retry');
    assert.deepEqual(h.events(['invoked', 'failed']), ['0s invoked #1 c1', '1s failed #1 c1', '61s invoked #1 c1', '61s failed #1 c1', '181s invoked #1 c1', '182s failed #1 c1']);
    h.scheduler.stop();
  });

  test('time compression scales the period, the timeout and the backoff alike', async () => {
    const clock = new ManualClock();
    const started: number[] = [];
    const scheduler = new LambdaScheduler({
      deployment: deployment({ timeoutSeconds: 90 }),
      timeScale: 0.1,
      phase: 0,
      clock,
      invoke: () => {
        started.push(clock.now());
        return new Promise<void>(() => undefined);
      },
    });
    scheduler.start();
    await clock.advanceTo(9_200);
    assert.deepEqual(started, [0, 9_100], 'period 6 s, timeout 9 s, first throttle retries at 6.1, 6.3, 6.7, 7.5 s, then 9.1 s');
    scheduler.stop();
  });
});
