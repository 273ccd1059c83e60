/**
 * What every command needs, resolved once and lazily: the config (the same
 * sources as the functions, functions/config/load.ts, or `--config FILE`), the
 * control table, the AWS clients (the SDK's own credential/region/endpoint
 * chain — DESIGN §4.2 — with short timeouts so no call hangs), the deployed
 * state machines, and who is calling.
 *
 * Which stack: `--stage S` names the deployed resources (table
 * `vault-ha-control-S`, state machines `vault-ha-control-plane-S-*`, and the
 * config parameter `/vault-ha/S/config` when no other config source is set).
 * Without `--stage` the table is the config's `controlTable` and the state
 * machines are found by name when exactly one stage is deployed.
 */
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { SSMClient } from '@aws-sdk/client-ssm';
import { CONFIG_ENV, loadConfig, parseConfigText } from '../../functions/config/load.js';
import { ConfigError } from '../../functions/config/errors.js';
import type { ClusterConfig, Config } from '../../functions/config/schema.js';
import { flag, stringOption, type ParsedArgs } from './args.js';
import { NotFoundError, UsageError } from './errors.js';
import { Output } from './output.js';
import { applySandboxConnection } from './sandbox-connection.js';
import { STAGE_PATTERN, stageTableName, stateMachineName, workflowOfStateMachineName, type WorkflowKind } from './stack.js';

export interface CliClients {
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  ddb: DynamoDBClient;
  ssm: SSMClient;
  sns: SNSClient;
  sfn: SFNClient;
}

/** Per-call bounds: a dead endpoint costs seconds, not minutes. */
export const CONNECTION_TIMEOUT_MS = 3_000;
export const REQUEST_TIMEOUT_MS = 15_000;
const MAX_STATE_MACHINE_PAGES = 20;

export interface ContextDeps {
  out: Output;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

export class CliContext {
  readonly out: Output;
  readonly stage: string | undefined;
  readonly now: () => number;
  private readonly env: NodeJS.ProcessEnv;
  private configPromise: Promise<Config> | undefined;
  private clientsValue: CliClients | undefined;
  private machines: Promise<Partial<Record<WorkflowKind, string>>> | undefined;
  private identity: Promise<{ arn: string; account: string } | undefined> | undefined;

  constructor(
    readonly args: ParsedArgs,
    deps: ContextDeps,
  ) {
    this.out = deps.out;
    this.env = deps.env ?? process.env;
    this.now = deps.now ?? Date.now;
    const stage = stringOption(args, 'stage');
    if (stage !== undefined && !STAGE_PATTERN.test(stage)) throw new UsageError(`--stage must be letters, digits and "-" (at most 32), not "${stage}"`);
    this.stage = stage;
    if (flag(args, 'sandbox')) applySandboxConnection(this.env);
    const profile = stringOption(args, 'profile');
    if (profile !== undefined) this.env.AWS_PROFILE = profile;
    const region = stringOption(args, 'region');
    if (region !== undefined) this.env.AWS_REGION = region;
  }

  /** The config, validated; `--config FILE` first, else the functions' sources, else (with --stage) the stage's default SSM parameter. */
  config(): Promise<Config> {
    this.configPromise ??= this.loadConfig();
    return this.configPromise;
  }

  /** Uses `config` from now on (config check --live checks the file it was given). */
  useConfig(config: Config): void {
    this.configPromise = Promise.resolve(config);
  }

  private async loadConfig(): Promise<Config> {
    const file = stringOption(this.args, 'config');
    if (file !== undefined) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw new NotFoundError(`cannot read config file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      return parseConfigText(text, `file ${file}`);
    }
    const env = { ...this.env };
    const anySource = [CONFIG_ENV.inline, CONFIG_ENV.file, CONFIG_ENV.parameter].some((k) => (env[k] ?? '').trim() !== '');
    // serverless.yml's default configParameter: /vault-ha/<stage>/config.
    if (!anySource && this.stage !== undefined) env[CONFIG_ENV.parameter] = `/vault-ha/${this.stage}/config`;
    try {
      return await loadConfig(env, async (name) => {
        const { GetParameterCommand } = await import('@aws-sdk/client-ssm');
        const out = await this.clients().ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
        const v = out.Parameter?.Value;
        if (v === undefined) throw new Error(`SSM parameter ${name} has no value`);
        return v;
      });
    } catch (err) {
      if (err instanceof ConfigError && err.source === 'environment') {
        throw new UsageError(
          'no configuration: pass --config FILE, or --stage STAGE (reads /vault-ha/STAGE/config), or set VAULT_HA_CONFIG_FILE / VAULT_HA_CONFIG_PARAMETER',
          'against a running sandbox: add --sandbox',
        );
      }
      throw err;
    }
  }

  /** The control table: --table, else the stage's deployed table, else the config's controlTable. */
  async table(): Promise<string> {
    const explicit = stringOption(this.args, 'table');
    if (explicit !== undefined) return explicit;
    if (this.stage !== undefined) return stageTableName(this.stage);
    return (await this.config()).controlTable;
  }

  /** The clusters a command acts on: all, or the one `--cluster` names. */
  async clusters(name: string | undefined): Promise<ClusterConfig[]> {
    const config = await this.config();
    if (name === undefined) return config.clusters;
    return [await this.cluster(name)];
  }

  async cluster(name: string): Promise<ClusterConfig> {
    const config = await this.config();
    const c = config.clusters.find((x) => x.name === name);
    if (!c) throw new NotFoundError(`no cluster named "${name}" in the config (known: ${config.clusters.map((x) => x.name).join(', ')})`);
    return c;
  }

  clients(): CliClients {
    if (!this.clientsValue) {
      const cfg = {
        maxAttempts: 3,
        requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
      };
      this.clientsValue = {
        ec2: new EC2Client(cfg),
        elbv2: new ElasticLoadBalancingV2Client(cfg),
        ddb: new DynamoDBClient(cfg),
        ssm: new SSMClient(cfg),
        sns: new SNSClient(cfg),
        sfn: new SFNClient(cfg),
      };
    }
    return this.clientsValue;
  }

  /** The deployed state machine of a workflow, by name (ListStateMachines; read-only). */
  async stateMachineArn(kind: WorkflowKind): Promise<string> {
    this.machines ??= this.findStateMachines();
    const arn = (await this.machines)[kind];
    if (!arn) {
      throw new NotFoundError(
        this.stage !== undefined ? `no state machine named ${stateMachineName(this.stage, kind)}` : `no deployed ${kind} state machine found`,
        this.stage !== undefined ? 'check --stage and the region (AWS_REGION / --region)' : 'pass --stage STAGE',
      );
    }
    return arn;
  }

  private async findStateMachines(): Promise<Partial<Record<WorkflowKind, string>>> {
    const found: Array<{ name: string; arn: string }> = [];
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_STATE_MACHINE_PAGES; page++) {
      const out = await this.clients().sfn.send(new ListStateMachinesCommand({ maxResults: 1000, ...(nextToken ? { nextToken } : {}) }));
      for (const m of out.stateMachines ?? []) if (m.name && m.stateMachineArn) found.push({ name: m.name, arn: m.stateMachineArn });
      nextToken = out.nextToken || undefined;
      if (!nextToken) break;
    }
    const result: Partial<Record<WorkflowKind, string>> = {};
    for (const kind of ['replace-node', 'failover-drill'] as const) {
      if (this.stage !== undefined) {
        const m = found.find((x) => x.name === stateMachineName(this.stage!, kind));
        if (m) result[kind] = m.arn;
        continue;
      }
      const candidates = found.filter((x) => workflowOfStateMachineName(x.name) === kind);
      if (candidates.length > 1) {
        throw new UsageError(`several ${kind} state machines are deployed (${candidates.map((c) => c.name).join(', ')}): pass --stage`);
      }
      if (candidates[0]) result[kind] = candidates[0].arn;
    }
    return result;
  }

  /**
   * The caller's identity from STS GetCallerIdentity, or undefined when AWS
   * does not answer within a few seconds (offline, no permission).
   * @aws-sdk/client-sts is loaded on demand: only pause, unlock and
   * `config check --live` need it.
   */
  async callerIdentity(): Promise<{ arn: string; account: string } | undefined> {
    this.identity ??= (async () => {
      try {
        const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
        const sts = new STSClient({ maxAttempts: 1, requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, requestTimeout: CONNECTION_TIMEOUT_MS } });
        try {
          const out = await sts.send(new GetCallerIdentityCommand({}));
          return out.Arn && out.Account ? { arn: out.Arn, account: out.Account } : undefined;
        } finally {
          sts.destroy();
        }
      } catch {
        return undefined;
      }
    })();
    return this.identity;
  }

  /** Who is acting, for pause/unlock records: the caller's ARN, else the local user name. */
  async whoAmI(): Promise<string> {
    const id = await this.callerIdentity();
    if (id) return id.arn;
    try {
      return this.env.USER || userInfo().username || 'unknown';
    } catch {
      return 'unknown';
    }
  }

  destroy(): void {
    if (this.clientsValue) for (const c of Object.values(this.clientsValue)) c.destroy();
    this.clientsValue = undefined;
  }
}
