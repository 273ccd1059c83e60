/**
 * The failover drill in the sandbox: the REAL failover-drill definition and
 * task code in the local ASL interpreter, against the sandbox's endpoints,
 * while the sandbox's controller keeps reconciling (routing the new active is
 * its job, not the drill's). Shared by the drill scenarios
 * (sandbox/scenarios.ts) and the sandbox's Step Functions endpoint
 * (sandbox/operator-endpoints.ts), so a drill started either way behaves the
 * same.
 *
 * Clock: everything in the sandbox (the simulated nodes' lock expiry, the
 * controller, the ALB) runs on wall time with compressed durations, so the
 * drill does too. With `fast`, the input's real-world seconds (maxRtoSeconds,
 * maxSplitBrainSeconds) are compressed like every other duration (120 s →
 * 15 s at ×8), Wait states last their seconds / speed, and the budgets
 * Validate computed for full-length Waits are rescaled to cover the same
 * stretch of compressed time. RTOs in the report are therefore wall seconds;
 * × speed gives the real-world equivalent.
 *
 * Client-visible RTO: the drill's view of the config names the sandbox's
 * listener (`loadBalancer.listenerUrl`, the path the sandbox's clients use),
 * so the observe task probes through the sandbox's load balancer.
 *
 * terminate-active's restore starts replace-node as a nested execution: here
 * that is the REAL replace-node definition run by the same interpreter.
 */
import { fileURLToPath } from 'node:url';
import { describeAlarmStates } from '../functions/adapters/alarms.js';
import type { Config } from '../functions/config/schema.js';
import { failoverDrillInputSchema } from '../functions/config/schema.js';
import { observeBudget, postCheckBudget, type AlarmState, type DrillScenario } from '../functions/core/drill.js';
import { makeFailoverDrillHandler, type DrillTaskContext } from '../functions/handlers/failover-drill.js';
import { silentLogger } from '../functions/handlers/lib/logger.js';
import { CLUSTER_NAME, STEP_DOWN_TOKEN_PARAMETER, type Sandbox } from './environment.js';
import { sandboxClients, sandboxReplaceNodeHandler } from './workflow-wiring.js';

export { sandboxClients };
import { loadDefinition, runStateMachine, type AslDefinition, type NestedExecutionRequest, type RunStateMachineOptions, type RunStateMachineResult } from './stepfunctions/runner.js';

/** The path the sandbox's own clients read through the listener (a request the active serves, a standby forwards). */
export const SANDBOX_CLIENT_PATH = '/v1/secret/data/sandbox';

/** The contract's defaults (DESIGN §4.5), in real-world seconds. */
const DEFAULTS = failoverDrillInputSchema.parse({ cluster: 'x', scenario: 'step-down' });

const DEFINITIONS = {
  drill: new URL('../statemachines/failover-drill.asl.yml', import.meta.url),
  replace: new URL('../statemachines/replace-node.asl.yml', import.meta.url),
} as const;

// One parsed object per definition: the runner validates each object once (0.4–0.8 s of blocking work).
const parsed = new Map<keyof typeof DEFINITIONS, Promise<AslDefinition>>();
function definition(kind: keyof typeof DEFINITIONS): Promise<AslDefinition> {
  let d = parsed.get(kind);
  if (!d) {
    d = loadDefinition(fileURLToPath(DEFINITIONS[kind]));
    parsed.set(kind, d);
  }
  return d;
}

export interface SandboxDrillOptions {
  /** Probe clients through the sandbox's listener (default true). */
  listener?: boolean;
  /** Stop-condition alarms' states (default: the sandbox's CloudWatch endpoint, through the real adapter). */
  alarms?: (names: readonly string[]) => Promise<AlarmState[]>;
}

export interface LocalRun {
  input: unknown;
  executionName?: string;
  stateMachineName?: string;
  signal?: AbortSignal;
  onHistory?: RunStateMachineOptions['onHistory'];
}

type Clients = ReturnType<typeof sandboxClients>;

/** The ARN the drill's nested replace-node execution names (what serverless.yml's VAULT_HA_REPLACE_NODE_ARN would be). */
export function sandboxReplaceNodeArn(sb: Sandbox): string {
  return `arn:aws:states:${sb.aws.world.region}:${sb.aws.world.accountId}:stateMachine:replaceNode`;
}

/** The sandbox's config as the drill sees it: with the listener URL the sandbox's clients use. */
export function drillConfig(sb: Sandbox, listener: boolean): Config {
  if (!listener || sb.listenerUrl === '') return sb.config;
  const url = `${sb.listenerUrl.replace(/\/+$/, '')}${SANDBOX_CLIENT_PATH}`;
  return { ...sb.config, clusters: sb.config.clusters.map((c) => ({ ...c, loadBalancer: { ...c.loadBalancer, listenerUrl: url } })) };
}

/** The caller's input with its real-world seconds compressed by the sandbox's speed. */
export function compressDrillInput(sb: Sandbox, input: unknown): unknown {
  if (typeof input !== 'object' || input === null || sb.speed === 1) return input;
  const given = input as { maxRtoSeconds?: unknown; maxSplitBrainSeconds?: unknown };
  const real = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);
  return {
    ...(input as Record<string, unknown>),
    maxRtoSeconds: real(given.maxRtoSeconds, DEFAULTS.maxRtoSeconds) / sb.speed,
    maxSplitBrainSeconds: real(given.maxSplitBrainSeconds, DEFAULTS.maxSplitBrainSeconds) / sb.speed,
  };
}

/** Validate's budgets assume full-length Waits and real seconds; rescale them to the compressed ones. */
export function compressDrillContext(ctx: DrillTaskContext, speed: number): DrillTaskContext {
  if (speed === 1) return ctx;
  const o = ctx.observe;
  const stepSeconds = Math.max(o.intervalSeconds, o.probeWindowMs / 1000) / speed;
  return {
    ...ctx,
    observe: {
      ...o,
      probeWindowMs: Math.round(o.probeWindowMs / speed),
      probeEveryMs: Math.max(10, Math.round(o.probeEveryMs / speed)),
      maxPolls: Math.ceil(o.boundSeconds / stepSeconds) + 2,
    },
  };
}

/** Runs the real replace-node definition for a nested execution (terminate-active's restore). */
async function runNestedReplaceNode(sb: Sandbox, clients: Clients, req: NestedExecutionRequest, parent: Pick<LocalRun, 'signal'>): Promise<RunStateMachineResult> {
  const config = sb.config;
  const handler = sandboxReplaceNodeHandler(sb, clients, config);
  sb.record('controller', `replace-node ${req.name} started by the drill's restore (nested execution)`);
  const fast = sb.speed !== 1;
  const result = await runStateMachine(await definition('replace'), req.input, {
    lambdaHandlers: { replaceNodeTasks: handler },
    sdkClients: { ec2: clients.ec2, elasticloadbalancingv2: clients.elbv2, ssm: clients.ssm, sns: clients.sns, dynamodb: clients.ddb },
    ...(fast ? { waitTimeOverrides: () => Math.round(5_000 * sb.timeScale), retryIntervalOverrides: () => Math.round(2_000 * sb.timeScale) } : {}),
    stateMachineName: 'replaceNode',
    executionName: req.name,
    maxTransitions: 2_000,
    timeoutMs: Math.max(60_000, 1_800_000 * sb.timeScale),
    ...(parent.signal ? { signal: parent.signal } : {}),
  });
  sb.record('controller', `replace-node ${req.name}: ${result.status}${result.error ? ` (${result.error})` : ''} after ${result.transitions} transitions`);
  return result;
}

/** One failover-drill execution in the sandbox (the input as a console user would give it, in real-world seconds). */
export async function runLocalDrill(sb: Sandbox, run: LocalRun, opts: SandboxDrillOptions = {}): Promise<RunStateMachineResult> {
  const clients = sandboxClients(sb);
  const speed = sb.speed;
  try {
    const config = drillConfig(sb, opts.listener ?? true);
    const tasks = makeFailoverDrillHandler({
      loadConfig: async () => config,
      clients: () => clients,
      nowMs: () => Date.now(),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      env: {
        VAULT_HA_STEP_DOWN_TOKEN_PARAMETER: STEP_DOWN_TOKEN_PARAMETER,
        VAULT_HA_NOTIFY_TOPIC_ARN: config.notifications?.topicArn,
        VAULT_HA_REPLACE_NODE_ARN: sandboxReplaceNodeArn(sb),
      },
      logger: silentLogger,
      // The real adapter against the sandbox's CloudWatch endpoint (sandbox/aws/cloudwatch.ts).
      alarms: opts.alarms ?? ((names) => describeAlarmStates(clients.cloudwatch, names)),
    });
    const handler = async (event: { action?: unknown }, context: unknown): Promise<unknown> => {
      const out = await tasks(event as never, context as never);
      return event.action === 'validate' ? compressDrillContext(out as DrillTaskContext, speed) : out;
    };
    const input = compressDrillInput(sb, run.input);
    const maxRtoSeconds = (input as { maxRtoSeconds?: number }).maxRtoSeconds ?? DEFAULTS.maxRtoSeconds;
    const listener = config.clusters[0]?.loadBalancer.listenerUrl !== undefined;
    const observe = observeBudget(maxRtoSeconds, { clientProbe: listener });
    const observeMs = observe.intervalSeconds * 1000;
    const postMs = postCheckBudget().intervalSeconds * 1000;
    const restoreMs = 5_000;
    const waits: Record<string, number> = { WaitObserve: observeMs, WaitPostCheck: postMs, WaitRestore: restoreMs };
    return await runStateMachine(await definition('drill'), input, {
      lambdaHandlers: { failoverDrillTasks: handler },
      sdkClients: { ec2: clients.ec2, elasticloadbalancingv2: clients.elbv2, ssm: clients.ssm, sns: clients.sns, dynamodb: clients.ddb },
      ...(speed !== 1
        ? {
            waitTimeOverrides: (state: string) => Math.round((waits[state] ?? observeMs) / speed),
            retryIntervalOverrides: () => Math.round(2_000 / speed),
          }
        : {}),
      startExecution: (req) => runNestedReplaceNode(sb, clients, req, run),
      stateMachineName: run.stateMachineName ?? 'failoverDrill',
      ...(run.executionName ? { executionName: run.executionName } : {}),
      maxTransitions: 5_000,
      // Observation (maxRtoSeconds × 2), the restore (a nested replacement at most) and slack.
      timeoutMs: Math.max(120_000, ((maxRtoSeconds * 2 + 2_400) * 1000) / speed),
      ...(run.signal ? { signal: run.signal } : {}),
      ...(run.onHistory ? { onHistory: run.onHistory } : {}),
    });
  } finally {
    for (const c of Object.values(clients)) c.destroy();
  }
}

/** The sandbox's drill scenarios: one drill of `scenario` on the sandbox cluster. */
export async function runFailoverDrill(
  sb: Sandbox,
  scenario: DrillScenario,
  opts: { maxRtoSeconds?: number; dryRun?: boolean; restore?: boolean; stopOnAlarms?: string[]; maxSplitBrainSeconds?: number } & SandboxDrillOptions = {},
): Promise<RunStateMachineResult> {
  const input = {
    cluster: CLUSTER_NAME,
    scenario,
    ...(opts.maxRtoSeconds !== undefined ? { maxRtoSeconds: opts.maxRtoSeconds } : {}),
    ...(opts.dryRun ? { dryRun: true } : {}),
    ...(opts.restore === false ? { restore: false } : {}),
    ...(opts.stopOnAlarms ? { stopOnAlarms: opts.stopOnAlarms } : {}),
    ...(opts.maxSplitBrainSeconds !== undefined ? { maxSplitBrainSeconds: opts.maxSplitBrainSeconds } : {}),
  };
  sb.record('fault', `failover-drill ${scenario} (Step Functions definition, local interpreter)`);
  const result = await runLocalDrill(sb, { input }, opts);
  sb.record('controller', `failover-drill ${scenario}: ${result.status}${result.error ? ` (${result.error})` : ''} after ${result.transitions} transitions`);
  return result;
}
