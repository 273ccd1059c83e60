/**
 * The sandbox's wiring of the workflows' task code: SDK clients on its local
 * endpoints, and the replace-node task handler over them. The replace-node
 * scenarios, the drill's nested replacement, the operator endpoints and the
 * chaos harness all run this one.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SNSClient } from '@aws-sdk/client-sns';
import { DeleteParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Config } from '../functions/config/schema.js';
import { silentLogger } from '../functions/handlers/lib/logger.js';
import { makeReplaceNodeHandler, type ReplaceNodeClients } from '../functions/handlers/replace-node.js';
import { SHARES_PREFIX, STEP_DOWN_TOKEN_PARAMETER, type Sandbox } from './environment.js';

/** SDK clients pointed at the sandbox's local endpoints (destroy them when done). */
export function sandboxClients(sb: Pick<Sandbox, 'aws' | 'ssm' | 'dynamo'>) {
  const awsCfg = { region: sb.aws.world.region, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 2 };
  const env = sb.aws.endpointEnv();
  return {
    ec2: new EC2Client({ ...awsCfg, endpoint: env.AWS_ENDPOINT_URL_EC2 }),
    elbv2: new ElasticLoadBalancingV2Client({ ...awsCfg, endpoint: env.AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2 }),
    ssm: new SSMClient({ ...awsCfg, endpoint: sb.ssm.endpoint }),
    ddb: new DynamoDBClient({ ...awsCfg, endpoint: sb.dynamo.endpoint }),
    sns: new SNSClient({ ...awsCfg, endpoint: env.AWS_ENDPOINT_URL_SNS }),
    cloudwatch: new CloudWatchClient({ ...awsCfg, endpoint: env.AWS_ENDPOINT_URL_CLOUDWATCH }),
  };
}

/**
 * replace-node's task handler as the sandbox deploys it: the given clients and
 * config (default the sandbox's), waits compressed by the sandbox's time scale.
 */
export function sandboxReplaceNodeHandler(sb: Pick<Sandbox, 'config' | 'timeScale'>, clients: ReplaceNodeClients, config: Config = sb.config) {
  return makeReplaceNodeHandler({
    loadConfig: async () => config,
    clients: () => clients,
    nowMs: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.round(ms * sb.timeScale))),
    env: { VAULT_HA_STEP_DOWN_TOKEN_PARAMETER: STEP_DOWN_TOKEN_PARAMETER, VAULT_HA_NOTIFY_TOPIC_ARN: config.notifications?.topicArn },
    logger: silentLogger,
    compensationSettleMs: Math.round(30_000 * sb.timeScale),
  });
}

/**
 * Deletes the unseal share SecureStrings (`<prefix>1`, `<prefix>2`, ...) through the local SSM
 * API, so PrepareNode can mount and start Vault but not unseal it; returns how many were there.
 */
export async function deleteShareParameters(sb: Pick<Sandbox, 'aws' | 'ssm'>): Promise<number> {
  const ssm = new SSMClient({ region: sb.aws.world.region, endpoint: sb.ssm.endpoint, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 1 });
  let removed = 0;
  try {
    for (let i = 1; i <= 16; i++) {
      try {
        await ssm.send(new DeleteParameterCommand({ Name: `${SHARES_PREFIX}${i}` }));
        removed++;
      } catch (err) {
        if ((err as { name?: string }).name === 'ParameterNotFound') break;
        throw err;
      }
    }
  } finally {
    ssm.destroy();
  }
  return removed;
}
