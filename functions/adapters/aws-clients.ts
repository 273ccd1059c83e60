/**
 * The AWS SDK clients, built once per Lambda container (module scope survives
 * warm invocations, so connections and credentials are reused).
 *
 * Region, credentials and endpoints come only from the SDK's own standard
 * configuration (DESIGN §4.2): `AWS_REGION`, `AWS_ENDPOINT_URL`,
 * `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL_DYNAMODB`, ... The same build then
 * runs against AWS, the local sandbox or any AWS-compatible emulator, and no
 * project-specific endpoint variable exists to drift from the SDK's.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SFNClient } from '@aws-sdk/client-sfn';

export interface AwsClients {
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  ddb: DynamoDBClient;
  ssm: SSMClient;
  sns: SNSClient;
  sfn: SFNClient;
}

/**
 * Few attempts: the controller ticks every few seconds and a later tick is a
 * better retry than a long SDK backoff that eats the Lambda's time budget.
 */
export const DEFAULT_MAX_ATTEMPTS = 3;

let cached: AwsClients | undefined;

function clientConfig(): { maxAttempts?: number } {
  // An explicit maxAttempts would override the standard AWS_MAX_ATTEMPTS; honour it when set.
  return process.env['AWS_MAX_ATTEMPTS'] ? {} : { maxAttempts: DEFAULT_MAX_ATTEMPTS };
}

/** Fresh clients reading the environment now (the sandbox and tests change endpoints between runs). */
export function createClients(): AwsClients {
  const cfg = clientConfig();
  return {
    ec2: new EC2Client(cfg),
    elbv2: new ElasticLoadBalancingV2Client(cfg),
    ddb: new DynamoDBClient(cfg),
    ssm: new SSMClient(cfg),
    sns: new SNSClient(cfg),
    sfn: new SFNClient(cfg),
  };
}

/** The per-container clients used by the Lambda handlers. */
export function makeClients(): AwsClients {
  cached ??= createClients();
  return cached;
}

/** Closes every client's sockets (containers never need it; in-process runs do). */
export function destroyClients(clients: AwsClients): void {
  for (const c of Object.values(clients)) c.destroy();
}
