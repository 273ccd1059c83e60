/**
 * What an operator's `vault-ha` CLI needs from a running sandbox beyond the
 * endpoints the controller uses: a Step Functions endpoint whose two state
 * machines run the REAL definitions and task code (sandbox/aws/sfn.ts), an STS
 * endpoint for "who am I", the config as a file, and one environment block
 * (the SDK's standard variables only, DESIGN §4.2) that points the CLI at all
 * of it. `npm start` prints that block and writes it where `vault-ha --sandbox`
 * finds it (cli/lib/sandbox-connection.ts).
 *
 * The state machines are wired like Sandbox.replaceNode and the drill
 * scenarios (sandbox/scenarios.ts runFailoverDrill): same task deps, same
 * compression of Wait states, retries and the drill's RTO bound, so an
 * execution started over the API behaves as the sandbox's own. They differ in
 * what the API needs: the caller's input and execution name pass through, the
 * run reports its history as it goes, and StopExecution aborts it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SANDBOX_STAGE, stateMachineName } from '../cli/lib/stack.js';
import { SfnEndpoint, type LocalExecutionRequest, type LocalStateMachine } from './aws/sfn.js';
import { StsEndpoint } from './aws/sts.js';
import type { Sandbox } from './environment.js';
import { runLocalDrill } from './drill.js';
import { sandboxClients, sandboxReplaceNodeHandler } from './workflow-wiring.js';
import { loadDefinition, runStateMachine, type AslDefinition, type RunStateMachineResult } from './stepfunctions/runner.js';

export interface OperatorEndpoints {
  sfn: SfnEndpoint;
  sts: StsEndpoint;
  /** Everything `vault-ha` needs in its environment to talk to this sandbox. */
  cliEnv: Record<string, string>;
  configFile: string;
  stop(): Promise<void>;
}

const DEFINITIONS = {
  'replace-node': new URL('../statemachines/replace-node.asl.yml', import.meta.url),
  'failover-drill': new URL('../statemachines/failover-drill.asl.yml', import.meta.url),
} as const;

/** Starts the SFN and STS endpoints for `sb` (started) and writes its config where the CLI reads it. */
export async function startOperatorEndpoints(sb: Sandbox): Promise<OperatorEndpoints> {
  const definitions = new Map<string, Promise<AslDefinition>>();
  // One parsed object per definition: the runner validates each object once (0.4–0.8 s of blocking work).
  const definition = (kind: keyof typeof DEFINITIONS): Promise<AslDefinition> => {
    let d = definitions.get(kind);
    if (!d) {
      d = loadDefinition(fileURLToPath(DEFINITIONS[kind]));
      definitions.set(kind, d);
    }
    return d;
  };
  const world = sb.aws.world;
  const sfn = new SfnEndpoint({
    region: world.region,
    accountId: world.accountId,
    machines: [replaceNodeMachine(sb, () => definition('replace-node')), failoverDrillMachine(sb)],
  });
  const sts = new StsEndpoint({ accountId: world.accountId, roleName: 'sandbox-operator', sessionName: localUser() });
  const dir = await mkdtemp(path.join(tmpdir(), 'vault-ha-sandbox-'));
  const configFile = path.join(dir, 'config.json');
  try {
    await Promise.all([sfn.start(), sts.start(), writeFile(configFile, `${JSON.stringify(sb.config, null, 2)}\n`, { mode: 0o600 })]);
  } catch (err) {
    await Promise.allSettled([sfn.stop(), sts.stop(), rm(dir, { recursive: true, force: true })]);
    throw err;
  }
  const endpoints = sb.aws.endpointEnv();
  const cliEnv: Record<string, string> = {
    AWS_REGION: world.region,
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...endpoints,
    AWS_ENDPOINT_URL_SSM: sb.ssm.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: sb.dynamo.endpoint,
    AWS_ENDPOINT_URL_SFN: sfn.url,
    AWS_ENDPOINT_URL_STS: sts.url,
    VAULT_HA_CONFIG_FILE: configFile,
  };
  return {
    sfn,
    sts,
    cliEnv,
    configFile,
    stop: async () => {
      await Promise.allSettled([sfn.stop(), sts.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function localUser(): string {
  try {
    return (process.env.USER ?? userInfo().username) || 'operator';
  } catch {
    return 'operator';
  }
}


function replaceNodeMachine(sb: Sandbox, definition: () => Promise<AslDefinition>): LocalStateMachine {
  const name = stateMachineName(SANDBOX_STAGE, 'replace-node');
  return {
    name,
    run: async (req: LocalExecutionRequest): Promise<RunStateMachineResult> => {
      const clients = sandboxClients(sb);
      try {
        const config = sb.config;
        const handler = sandboxReplaceNodeHandler(sb, clients, config);
        const slot = (req.input as { slot?: unknown }).slot;
        sb.record('fault', `replace-node ${typeof slot === 'string' ? slot : '?'} started over the Step Functions API (${req.executionName})`);
        const fast = sb.speed !== 1;
        const result = await runStateMachine(await definition(), req.input, {
          lambdaHandlers: { replaceNodeTasks: handler },
          sdkClients: { ec2: clients.ec2, elasticloadbalancingv2: clients.elbv2, ssm: clients.ssm, sns: clients.sns, dynamodb: clients.ddb },
          ...(fast ? { waitTimeOverrides: () => Math.round(5_000 * sb.timeScale), retryIntervalOverrides: () => Math.round(2_000 * sb.timeScale) } : {}),
          stateMachineName: name,
          executionName: req.executionName,
          maxTransitions: 2_000,
          timeoutMs: Math.max(60_000, 1_800_000 * sb.timeScale),
          signal: req.signal,
          onHistory: req.onHistory,
        });
        sb.record('controller', `replace-node ${req.executionName}: ${result.status}${result.error ? ` (${result.error})` : ''} after ${result.transitions} transitions`);
        return result;
      } finally {
        for (const c of Object.values(clients)) c.destroy();
      }
    },
  };
}

/**
 * As the drill scenarios (sandbox/drill.ts runLocalDrill, the same wiring): the
 * input's real-world seconds are compressed like every other duration, the
 * drill probes clients through the sandbox's listener, and terminate-active's
 * restore runs replace-node as a nested execution.
 */
function failoverDrillMachine(sb: Sandbox): LocalStateMachine {
  const name = stateMachineName(SANDBOX_STAGE, 'failover-drill');
  return {
    name,
    run: async (req: LocalExecutionRequest): Promise<RunStateMachineResult> => {
      const given = req.input as { scenario?: unknown };
      sb.record('fault', `failover-drill ${typeof given.scenario === 'string' ? given.scenario : '?'} started over the Step Functions API (${req.executionName})`);
      const result = await runLocalDrill(sb, { input: req.input, executionName: req.executionName, stateMachineName: name, signal: req.signal, onHistory: req.onHistory });
      sb.record('controller', `failover-drill ${req.executionName}: ${result.status}${result.error ? ` (${result.error})` : ''} after ${result.transitions} transitions`);
      return result;
    },
  };
}
