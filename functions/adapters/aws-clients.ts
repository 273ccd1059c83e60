/**
 * The AWS SDK clients, built once per Lambda container (module scope survives
 * warm invocations, so connections and credentials are reused).
 *
 * Region, credentials and endpoints come only from the SDK's own standard
 * configuration (DESIGN §4.2): `AWS_REGION`, `AWS_ENDPOINT_URL`,
 * `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL_DYNAMODB`, ... The same build then
 * runs against AWS, the local sandbox or any AWS-compatible emulator, and no
 * project-specific endpoint variable exists to drift from the SDK's.
 *
 * Footprint: one factory per client (`ec2Client()`, `ddbClient()`, ...), each
 * built on first call. A handler that imports only the factories it calls gets
 * only those clients in its bundle (the SDK packages are side-effect free, so
 * esbuild drops the others); `makeClients()` references all six and therefore
 * bundles all six. A client that only one path needs is better reached through
 * `import()` of the adapter that uses it (scripts/build.mjs splits it into a
 * chunk loaded on that path only).
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

function clientConfig(): { maxAttempts?: number } {
  // An explicit maxAttempts would override the standard AWS_MAX_ATTEMPTS; honour it when set.
  return process.env['AWS_MAX_ATTEMPTS'] ? {} : { maxAttempts: DEFAULT_MAX_ATTEMPTS };
}

/** The per-container clients, each created by its factory's first call. */
const perContainer: Partial<AwsClients> = {};

export const ec2Client = (): EC2Client => (perContainer.ec2 ??= new EC2Client(clientConfig()));
export const elbv2Client = (): ElasticLoadBalancingV2Client => (perContainer.elbv2 ??= new ElasticLoadBalancingV2Client(clientConfig()));
export const ddbClient = (): DynamoDBClient => (perContainer.ddb ??= new DynamoDBClient(clientConfig()));
export const ssmClient = (): SSMClient => (perContainer.ssm ??= new SSMClient(clientConfig()));
export const snsClient = (): SNSClient => (perContainer.sns ??= new SNSClient(clientConfig()));
export const sfnClient = (): SFNClient => (perContainer.sfn ??= new SFNClient(clientConfig()));

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

/**
 * Every per-container client behind one object; a client is created when its
 * property is first read (reading one does not build the others). Bundles all
 * six clients: prefer the factories above in a handler.
 */
const allClients: AwsClients = {
  get ec2() {
    return ec2Client();
  },
  get elbv2() {
    return elbv2Client();
  },
  get ddb() {
    return ddbClient();
  },
  get ssm() {
    return ssmClient();
  },
  get sns() {
    return snsClient();
  },
  get sfn() {
    return sfnClient();
  },
};

/** The per-container clients used by the Lambda handlers (see allClients). */
export function makeClients(): AwsClients {
  return allClients;
}

/** Closes every client's sockets (containers never need it; in-process runs do). */
export function destroyClients(clients: AwsClients): void {
  for (const c of Object.values(clients)) c.destroy();
}
