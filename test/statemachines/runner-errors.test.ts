/**
 * The local runner reports service-integration errors exactly as Step
 * Functions does, no more leniently, so a Retry/Catch that could never match on
 * AWS cannot match here either:
 * - AWS SDK integrations: `<ServiceName>.<Exception>`, an `Exception` suffix
 *   always (AWS docs, "Learning to use AWS service SDK integrations in Step
 *   Functions"); an error the service's API model does not declare is the
 *   generic `<ServiceName>.<ServiceName>Exception` — every EC2 error, since
 *   EC2's model declares none; `Cause` is the message plus
 *   `(Service: <ServiceName>, Status Code: <n>, Request ID: <id>)`, without the
 *   error code (the AWS SDK for Java v2 message Step Functions reports);
 * - the optimized SNS integration: `SNS.<Code>Exception`, Cause with
 *   `(Service: AmazonSNS; Status Code: ...; Error Code: ...; ...)`.
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { AttachVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DeregisterTargetsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  integrationErrorNames,
  javaExceptionName,
  runStateMachine,
  type RunStateMachineResult,
  type SdkClientLike,
  type SdkServiceName,
} from '../../sandbox/stepfunctions/runner.js';
import { sdkError } from '../unit/replacement/fake-aws.js';

const creds = { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
const restores: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
});

/** A service error as SDK v3 raises it (name = code, `$metadata` with status and request id). */
function serviceError(code: string, message: string, status = 400): Error {
  return Object.assign(sdkError(code, message), { $metadata: { httpStatusCode: status, requestId: 'req-1' } });
}

/**
 * One Task calling `resource`, whose client throws `error`. It catches the
 * names in `catchNames` into `Caught` (and everything else into `Other`), so
 * the test sees which name matched and the Catch output's Cause.
 */
async function runFailing(
  service: SdkServiceName,
  resource: string,
  error: Error,
  catchNames: string[],
): Promise<{ result: RunStateMachineResult; caughtBy: string; cause: string; errorName: string }> {
  const clients: Record<SdkServiceName, () => { client: SdkClientLike; fail: () => void }> = {
    ec2: () => {
      const c = new EC2Client(creds);
      const m = mockClient(c);
      restores.push(() => m.restore());
      return { client: c, fail: () => m.on(AttachVolumeCommand).rejects(error) };
    },
    elasticloadbalancingv2: () => {
      const c = new ElasticLoadBalancingV2Client(creds);
      const m = mockClient(c);
      restores.push(() => m.restore());
      return { client: c, fail: () => m.on(DeregisterTargetsCommand).rejects(error) };
    },
    ssm: () => {
      const c = new SSMClient(creds);
      const m = mockClient(c);
      restores.push(() => m.restore());
      return { client: c, fail: () => m.on(SendCommandCommand).rejects(error) };
    },
    sns: () => {
      const c = new SNSClient(creds);
      const m = mockClient(c);
      restores.push(() => m.restore());
      return { client: c, fail: () => m.on(PublishCommand).rejects(error) };
    },
    elasticloadbalancing: () => assert.fail('not used (Classic ELB: replace-node-classic.test.ts)'),
    dynamodb: () => assert.fail('not used'),
    sfn: () => assert.fail('not used'),
  };
  const { client, fail } = clients[service]();
  fail();
  const def = {
    StartAt: 'Call',
    States: {
      Call: {
        Type: 'Task',
        Resource: resource,
        Parameters: {},
        Catch: [
          { ErrorEquals: catchNames, ResultPath: '$.error', Next: 'Caught' },
          { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Other' },
        ],
        End: true,
      },
      Caught: { Type: 'Pass', End: true },
      Other: { Type: 'Pass', End: true },
    },
  };
  const result = await runStateMachine(def as never, {}, { lambdaHandlers: {}, sdkClients: { [service]: client } });
  assert.equal(result.status, 'SUCCEEDED', `${result.error}: ${result.cause}`);
  const out = result.output as { error: { Error: string; Cause: string } };
  return { result, caughtBy: result.history.at(-1)!.state, cause: out.error.Cause, errorName: out.error.Error };
}

describe('runner: EC2 errors are Ec2.Ec2Exception, as Step Functions reports them', () => {
  it('VolumeInUse from aws-sdk:ec2:attachVolume is Ec2.Ec2Exception; a Catch on Ec2.VolumeInUseException never matches', async () => {
    const r = await runFailing('ec2', 'arn:aws:states:::aws-sdk:ec2:attachVolume', serviceError('VolumeInUse', 'vol-0b is already attached to an instance'), [
      'Ec2.VolumeInUseException',
    ]);
    assert.equal(r.caughtBy, 'Other');
    assert.equal(r.errorName, 'Ec2.Ec2Exception');
  });

  it('puts EC2\'s message, not its error code, in Cause, in the AWS SDK for Java v2 format', async () => {
    const r = await runFailing('ec2', 'arn:aws:states:::aws-sdk:ec2:attachVolume', serviceError('VolumeInUse', 'vol-0b is already attached to an instance'), [
      'Ec2.Ec2Exception',
    ]);
    assert.equal(r.caughtBy, 'Caught');
    assert.equal(r.cause, 'vol-0b is already attached to an instance (Service: Ec2, Status Code: 400, Request ID: req-1)');
    assert.doesNotMatch(r.cause, /VolumeInUse/);
  });

  const codes = ['RequestLimitExceeded', 'InvalidVolume.NotFound', 'UnauthorizedOperation', 'InternalError'];
  for (const code of codes) {
    it(`${code} is Ec2.Ec2Exception too (EC2's model declares no error shapes)`, async () => {
      const r = await runFailing('ec2', 'arn:aws:states:::aws-sdk:ec2:attachVolume', serviceError(code, 'm', code === 'InternalError' ? 500 : 400), [
        `Ec2.${code}Exception`,
        `Ec2.${code}`,
      ]);
      assert.equal(r.errorName, 'Ec2.Ec2Exception');
      assert.equal(r.caughtBy, 'Other');
    });
  }
});

describe('runner: errors of services whose model declares them', () => {
  const rows: Array<{ name: string; service: SdkServiceName; resource: string; error: Error; expected: string; cause?: RegExp }> = [
    {
      name: 'ELBv2 InvalidTarget (a modelled shape) is ElasticLoadBalancingV2.InvalidTargetException',
      service: 'elasticloadbalancingv2',
      resource: 'arn:aws:states:::aws-sdk:elasticloadbalancingv2:deregisterTargets',
      error: serviceError('InvalidTarget', 'The following targets are not in a running state'),
      expected: 'ElasticLoadBalancingV2.InvalidTargetException',
      cause: /\(Service: ElasticLoadBalancingV2, Status Code: 400, Request ID: req-1\)$/,
    },
    {
      name: 'ELBv2 Throttling (not in the model) is the generic ElasticLoadBalancingV2.ElasticLoadBalancingV2Exception',
      service: 'elasticloadbalancingv2',
      resource: 'arn:aws:states:::aws-sdk:elasticloadbalancingv2:deregisterTargets',
      error: serviceError('Throttling', 'Rate exceeded'),
      expected: 'ElasticLoadBalancingV2.ElasticLoadBalancingV2Exception',
    },
    {
      name: 'SSM InvalidInstanceId (a shape without the suffix) is Ssm.InvalidInstanceIdException',
      service: 'ssm',
      resource: 'arn:aws:states:::aws-sdk:ssm:sendCommand',
      error: serviceError('InvalidInstanceId', 'Instances [[i-0]] not in a valid state'),
      expected: 'Ssm.InvalidInstanceIdException',
    },
    {
      name: 'SSM UnrecognizedClientException (an auth error, not an SSM shape) is the generic Ssm.SsmException',
      service: 'ssm',
      resource: 'arn:aws:states:::aws-sdk:ssm:sendCommand',
      error: serviceError('UnrecognizedClientException', 'The security token included in the request is invalid.'),
      expected: 'Ssm.SsmException',
    },
    {
      name: 'the optimized sns:publish names NotFound SNS.NotFoundException, with a Java SDK v1 style Cause',
      service: 'sns',
      resource: 'arn:aws:states:::sns:publish',
      error: serviceError('NotFound', 'Topic does not exist'),
      expected: 'SNS.NotFoundException',
      cause: /^Topic does not exist \(Service: AmazonSNS; Status Code: 400; Error Code: NotFound; Request ID: req-1; Proxy: null\)$/,
    },
    {
      name: 'the aws-sdk:sns:publish integration names it Sns.NotFoundException',
      service: 'sns',
      resource: 'arn:aws:states:::aws-sdk:sns:publish',
      error: serviceError('NotFound', 'Topic does not exist'),
      expected: 'Sns.NotFoundException',
    },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      const r = await runFailing(row.service, row.resource, row.error, [row.expected]);
      assert.equal(r.errorName, row.expected);
      assert.equal(r.caughtBy, 'Caught');
      if (row.cause) assert.match(r.cause, row.cause);
    });
  }

  it('a non-service failure (no response from the service) is States.TaskFailed', async () => {
    const r = await runFailing('ec2', 'arn:aws:states:::aws-sdk:ec2:attachVolume', Object.assign(new Error('socket hang up'), { name: 'ECONNRESET' }), ['States.TaskFailed']);
    assert.equal(r.errorName, 'States.TaskFailed');
  });
});

describe('runner: Java exception names (the names Step Functions uses)', () => {
  const rows: Array<[string, string]> = [
    ['InvalidTargetException', 'InvalidTargetException'],
    ['InvalidInstanceId', 'InvalidInstanceIdException'],
    ['InternalServerError', 'InternalServerErrorException'],
    ['KMSThrottlingException', 'KmsThrottlingException'],
    ['DBInstanceNotFoundFault', 'DbInstanceNotFoundException'],
    ['ALPNPolicyNotSupportedException', 'AlpnPolicyNotSupportedException'],
  ];
  for (const [shape, name] of rows) {
    it(`${shape} -> ${name}`, () => assert.equal(javaExceptionName(shape), name));
  }

  it('EC2 can only ever report Ec2.Ec2Exception', async () => {
    assert.deepEqual([...(await integrationErrorNames('ec2', 'aws-sdk'))], ['Ec2.Ec2Exception']);
  });
});
