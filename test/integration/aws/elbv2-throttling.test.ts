/**
 * ELB's API request throttling as the local ELBv2 endpoint models it when asked
 * (LocalAwsOptions.elbv2DescribeRate; the scale bench does): a token bucket for
 * the Describe* actions, refilled on the world's clock, answering
 * `ThrottlingException` "Rate exceeded" through the unmodified SDK client, which
 * the adapters treat as transient. Mutating actions are not in that bucket.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from '@jest/globals';
import { DescribeTargetGroupsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LocalAws, ScaledClock, TokenBucket } from '../../../sandbox/aws/index.js';
import { AwsTransientError, toAdapterError } from '../../../functions/adapters/errors.js';

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

/** A clock that moves only when told (the bucket refills on the world's clock). */
class ManualClock extends ScaledClock {
  private offsetMs = 0;
  constructor() {
    super(1);
  }
  override nowMs(): number {
    return super.nowMs() - (Date.now() - this.frozenAt) + this.offsetMs;
  }
  private readonly frozenAt = Date.now();
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

describe('local ELBv2 endpoint with ELB API throttling', () => {
  let aws: LocalAws;
  let elb: ElasticLoadBalancingV2Client;
  let clock: ManualClock;
  let tgArn: string;

  beforeEach(async () => {
    clock = new ManualClock();
    aws = new LocalAws({ worldOptions: { region: 'eu-west-1', clock }, elbv2DescribeRate: { capacity: 3, refillPerSecond: 2 } });
    tgArn = aws.targetGroups.addTargetGroup({ name: 'vault', port: 8200, healthCheck: { enabled: false } }).arn;
    const endpoints = await aws.start();
    elb = new ElasticLoadBalancingV2Client({ region: 'eu-west-1', endpoint: endpoints.elbv2, credentials, maxAttempts: 1 });
  });
  afterEach(async () => {
    elb.destroy();
    await aws.stop();
  });

  const describeOnce = () => elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }));

  test('a burst past the bucket is refused with ThrottlingException "Rate exceeded", a transient error to the adapters', async () => {
    await describeOnce();
    await elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [tgArn] }));
    await describeOnce();
    const err = await describeOnce().then(
      () => assert.fail('the fourth Describe in the same instant passed'),
      (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } },
    );
    assert.equal(err.name, 'ThrottlingException');
    assert.match(err.message, /Rate exceeded/);
    assert.equal(err.$metadata?.httpStatusCode, 400);
    assert.ok(toAdapterError(err, tgArn) instanceof AwsTransientError);
    assert.equal(aws.elbv2.describeBucket?.throttled, 1);
  });

  test('the bucket refills at its rate on the world clock; registrations do not draw from it', async () => {
    for (let i = 0; i < 3; i++) await describeOnce();
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: 'i-0123456789abcdef0' }] })).catch((e: Error) => {
      assert.notEqual(e.name, 'ThrottlingException');
    });
    await assert.rejects(describeOnce(), { name: 'ThrottlingException' });
    clock.advance(500); // one token at 2 a second
    await describeOnce();
    await assert.rejects(describeOnce(), { name: 'ThrottlingException' });
    clock.advance(60_000); // refilled to its capacity, no more
    for (let i = 0; i < 3; i++) await describeOnce();
    await assert.rejects(describeOnce(), { name: 'ThrottlingException' });
  });
});

describe('TokenBucket', () => {
  test('refuses an empty or negative configuration', () => {
    assert.throws(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }, () => 0), RangeError);
    assert.throws(() => new TokenBucket({ capacity: 1, refillPerSecond: 0 }, () => 0), RangeError);
  });

  test('a clock that goes back refills nothing', () => {
    let now = 10_000;
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 }, () => now);
    assert.equal(b.take(), true);
    now = 5_000;
    assert.equal(b.take(), false);
  });
});
