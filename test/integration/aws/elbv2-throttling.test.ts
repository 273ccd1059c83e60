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
import { LocalAws, TokenBucket } from '../../../sandbox/aws/index.js';
import { AwsTransientError, toAdapterError } from '../../../functions/adapters/errors.js';

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

describe('local ELBv2 endpoint with ELB API throttling', () => {
  let aws: LocalAws;
  let elb: ElasticLoadBalancingV2Client;
  let tgArn: string;

  beforeEach(async () => {
    // Refilled at 1 token an hour: within the test the bucket holds what is left of its 3.
    aws = new LocalAws({ worldOptions: { region: 'eu-west-1' }, elbv2DescribeRate: { capacity: 3, refillPerSecond: 1 / 3600 } });
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

  test('registrations do not draw from the Describe* bucket', async () => {
    for (let i = 0; i < 3; i++) await describeOnce();
    await assert.rejects(describeOnce(), { name: 'ThrottlingException' });
    // An unknown instance is refused, but for what it is, not for the rate.
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: 'i-0123456789abcdef0' }] })).catch((e: Error) => {
      assert.notEqual(e.name, 'ThrottlingException');
    });
    assert.equal(aws.elbv2.describeBucket?.throttled, 1);
  });
});

describe('TokenBucket', () => {
  test('refuses an empty or negative configuration', () => {
    assert.throws(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 }, () => 0), RangeError);
    assert.throws(() => new TokenBucket({ capacity: 1, refillPerSecond: 0 }, () => 0), RangeError);
  });

  test('refills at its rate on its clock, never past its capacity', () => {
    let now = 0;
    const b = new TokenBucket({ capacity: 3, refillPerSecond: 2 }, () => now);
    assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
    now += 500; // one token at 2 a second
    assert.deepEqual([b.take(), b.take()], [true, false]);
    now += 60_000; // full again, no more
    assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [true, true, true, false]);
    assert.equal(b.throttled, 3);
  });

  test('a clock that goes back refills nothing', () => {
    let now = 10_000;
    const b = new TokenBucket({ capacity: 1, refillPerSecond: 1 }, () => now);
    assert.equal(b.take(), true);
    now = 5_000;
    assert.equal(b.take(), false);
  });
});
