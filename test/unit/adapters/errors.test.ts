import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  ConditionalCheckFailedException,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2ServiceException, TargetGroupNotFoundException } from '@aws-sdk/client-elastic-load-balancing-v2';
import { AccessPointNotFoundException } from '@aws-sdk/client-elastic-load-balancing';
import {
  ADAPTER_ERROR_NAMES,
  AwsAccessDeniedError,
  AwsCallError,
  AwsTransientError,
  LeaseBusyError,
  LoadBalancerNotFoundError,
  TableNotFoundError,
  TargetGroupNotFoundError,
  isThrottling,
  toAdapterError,
} from '../../../functions/adapters/errors.js';

const meta = (httpStatusCode: number) => ({ httpStatusCode, attempts: 3, totalRetryDelay: 0 });

/** EC2 and ELBv2 (query protocols) surface unmodelled errors as the service's base exception named by the code. */
function ec2Error(name: string, httpStatusCode: number): EC2ServiceException {
  return new EC2ServiceException({ name, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: meta(httpStatusCode), message: `${name} happened` });
}
function elbError(name: string, httpStatusCode: number): ElasticLoadBalancingV2ServiceException {
  return new ElasticLoadBalancingV2ServiceException({ name, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: meta(httpStatusCode), message: `${name} happened` });
}

const RESOURCE = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';

describe('toAdapterError', () => {
  const rows: Array<{ behaviour: string; err: unknown; expected: new (...a: never[]) => Error; code: string }> = [
    { behaviour: 'ThrottlingException is transient', err: elbError('ThrottlingException', 400), expected: AwsTransientError, code: 'ThrottlingException' },
    { behaviour: 'ELBv2 Throttling is transient', err: elbError('Throttling', 400), expected: AwsTransientError, code: 'Throttling' },
    { behaviour: 'EC2 RequestLimitExceeded is transient', err: ec2Error('RequestLimitExceeded', 503), expected: AwsTransientError, code: 'RequestLimitExceeded' },
    { behaviour: 'TooManyRequestsException is transient', err: elbError('TooManyRequestsException', 429), expected: AwsTransientError, code: 'TooManyRequestsException' },
    {
      behaviour: 'DynamoDB ProvisionedThroughputExceededException is transient',
      err: new ProvisionedThroughputExceededException({ $metadata: meta(400), message: 'slow down' }),
      expected: AwsTransientError,
      code: 'ProvisionedThroughputExceededException',
    },
    { behaviour: 'an unknown 5xx is transient', err: ec2Error('InternalError', 500), expected: AwsTransientError, code: 'InternalError' },
    { behaviour: 'EC2 UnauthorizedOperation is access denied', err: ec2Error('UnauthorizedOperation', 403), expected: AwsAccessDeniedError, code: 'UnauthorizedOperation' },
    { behaviour: 'AccessDenied is access denied', err: elbError('AccessDenied', 403), expected: AwsAccessDeniedError, code: 'AccessDenied' },
    { behaviour: 'AccessDeniedException is access denied', err: elbError('AccessDeniedException', 400), expected: AwsAccessDeniedError, code: 'AccessDeniedException' },
    {
      behaviour: 'TargetGroupNotFoundException is target group not found',
      err: new TargetGroupNotFoundException({ $metadata: meta(400), message: 'One or more target groups not found' }),
      expected: TargetGroupNotFoundError,
      code: 'TargetGroupNotFoundException',
    },
    { behaviour: 'query-protocol code TargetGroupNotFound is target group not found', err: elbError('TargetGroupNotFound', 400), expected: TargetGroupNotFoundError, code: 'TargetGroupNotFound' },
    {
      behaviour: 'Classic ELB AccessPointNotFoundException is load balancer not found',
      err: new AccessPointNotFoundException({ $metadata: meta(400), message: "There is no ACTIVE Load Balancer named 'vault'" }),
      expected: LoadBalancerNotFoundError,
      code: 'AccessPointNotFoundException',
    },
    { behaviour: 'query-protocol code LoadBalancerNotFound is load balancer not found', err: elbError('LoadBalancerNotFound', 400), expected: LoadBalancerNotFoundError, code: 'LoadBalancerNotFound' },
    {
      behaviour: 'DynamoDB ResourceNotFoundException is table not found',
      err: new ResourceNotFoundException({ $metadata: meta(400), message: 'Requested resource not found' }),
      expected: TableNotFoundError,
      code: 'ResourceNotFoundException',
    },
    { behaviour: 'a validation error is a plain call error', err: ec2Error('InvalidParameterValue', 400), expected: AwsCallError, code: 'InvalidParameterValue' },
    {
      behaviour: 'an unexpected conditional failure is a plain call error',
      err: new ConditionalCheckFailedException({ $metadata: meta(400), message: 'The conditional request failed' }),
      expected: AwsCallError,
      code: 'ConditionalCheckFailedException',
    },
  ];

  for (const row of rows) {
    test(row.behaviour, () => {
      const mapped = toAdapterError(row.err, RESOURCE) as Error & { resource: string; code: string };
      assert.ok(mapped instanceof row.expected, `got ${mapped.name}`);
      assert.equal(mapped.name, row.expected.name);
      assert.equal(mapped.resource, RESOURCE);
      assert.equal(mapped.code, row.code);
      assert.equal(mapped.cause, row.err);
      assert.match(mapped.message, new RegExp(row.code));
    });
  }

  test('a non-AWS error becomes a call error that keeps it as cause', () => {
    const original = new TypeError('boom');
    const mapped = toAdapterError(original, 'tbl');
    assert.ok(mapped instanceof AwsCallError);
    assert.equal(mapped.cause, original);
  });

  test('an adapter error passes through unchanged', () => {
    const first = toAdapterError(ec2Error('RequestLimitExceeded', 503), 'ec2');
    assert.equal(toAdapterError(first, 'other'), first);
  });
});

describe('ADAPTER_ERROR_NAMES', () => {
  test('names every error class the adapters throw, by its runtime name', () => {
    const holder = { cluster: 'prod', scope: 'controller', owner: 'run-1', acquiredAtMs: 0, expiresAtMs: 1 };
    const instances = [
      toAdapterError(ec2Error('Throttling', 400), 'r'),
      toAdapterError(ec2Error('UnauthorizedOperation', 403), 'r'),
      toAdapterError(elbError('TargetGroupNotFound', 400), 'r'),
      toAdapterError(elbError('LoadBalancerNotFound', 400), 'r'),
      toAdapterError(new ResourceNotFoundException({ $metadata: meta(400), message: 'x' }), 'r'),
      toAdapterError(ec2Error('InvalidParameterValue', 400), 'r'),
      new LeaseBusyError(holder),
    ];
    for (const e of instances) assert.ok((ADAPTER_ERROR_NAMES as readonly string[]).includes(e.name), e.name);
    assert.equal(new Set(ADAPTER_ERROR_NAMES).size, ADAPTER_ERROR_NAMES.length);
    for (const n of ADAPTER_ERROR_NAMES) assert.match(n, /Error$/);
  });
});

describe('LeaseBusyError', () => {
  test('carries the holder and names the lease', () => {
    const holder = { cluster: 'prod', scope: 'operation', owner: 'exec-42', acquiredAtMs: 1_000, expiresAtMs: 61_000, purpose: 'replace vault-a' };
    const err = new LeaseBusyError(holder);
    assert.equal(err.name, 'LeaseBusyError');
    assert.deepEqual(err.holder, holder);
    assert.match(err.message, /exec-42/);
    assert.equal(err.resource, 'lease:prod/operation');
  });
});

describe('isThrottling', () => {
  const throttled = new ElasticLoadBalancingV2ServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' });

  test('an SDK throttling error, the adapter error wrapping it, and an error whose cause it is', () => {
    assert.equal(isThrottling(throttled), true);
    assert.equal(isThrottling(new ProvisionedThroughputExceededException({ $metadata: {}, message: 'slow down' })), true);
    const wrapped = toAdapterError(throttled, 'tg');
    assert.ok(wrapped instanceof AwsTransientError);
    assert.equal(isThrottling(wrapped), true);
    assert.equal(isThrottling(new Error('the members could not be read', { cause: wrapped })), true);
  });

  test('other transient failures, other errors and non-errors are not throttling', () => {
    const fiveHundred = new EC2ServiceException({ name: 'InternalError', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: 'oops' });
    assert.equal(isThrottling(toAdapterError(fiveHundred, 'ec2')), false);
    assert.equal(isThrottling(new ResourceNotFoundException({ $metadata: {}, message: 'no table' })), false);
    assert.equal(isThrottling(undefined), false);
    assert.equal(isThrottling('ThrottlingException'), false);
  });
});
