/**
 * What every failover-drill task shares: its dependencies, the task context
 * Validate builds (`$.ctx`), readers for the state the ASL passes back, and
 * the one snapshot of the cluster the drill takes (the controller's view plus
 * the load balancer's).
 */
import type { ClusterConfig } from '../../config/schema.js';
import { releaseLease } from '../../adapters/control-table.js';
import { loadBalancerView } from '../../adapters/load-balancer.js';
import type { ClientSample } from '../../core/drill-client.js';
import type { AlarmState, DrillRequest, DrillSnapshot, FaultPlan, ObserveBudget, PostCheckBudget, RestoreBudget, SteadyState } from '../../core/drill.js';
import type { RestorePlan } from '../../core/drill-restore.js';
import { InvalidInputError } from '../errors.js';
import type { TaskEvent } from '../lib/task-handler.js';
import { clusterOf, iso, observeNodes, OPERATION_LEASE_SCOPE, type ReplaceNodeDeps } from '../lib/workflow.js';

export { clusterOf, iso };

/** Same dependencies as replace-node's tasks (clients, probe, clock, env, logger), plus the drill's own. */
export interface FailoverDrillDeps extends Omit<ReplaceNodeDeps, 'compensationSettleMs'> {
  /** The current state of the named CloudWatch alarms (stop conditions). */
  alarms: (names: readonly string[]) => Promise<AlarmState[]>;
  /** One client request through the load balancer's listener. */
  listenerProbe: (url: string, cluster: ClusterConfig) => Promise<ClientSample>;
}

/** What Validate returns into `$.ctx`. Strings are '' rather than absent so Choice states can test them. */
export interface DrillTaskContext extends DrillRequest {
  executionName: string;
  startedAt: string;
  topicArn: string;
  /** The URL the observe task probes through the listener ('' without loadBalancer.listenerUrl). */
  clientProbeUrl: string;
  observe: ObserveBudget;
  postCheck: PostCheckBudget;
  restoreBudget: RestoreBudget;
  /** "Sealed never routed" tolerates a sealed node for this long (two controller ticks). */
  sealedGraceMs: number;
}

/** `$.pre`: what PreCheck found and decided. */
export interface PreCheckResult {
  plan: FaultPlan;
  steady: SteadyState;
  restore: RestorePlan;
  warnings: string[];
}

/** `$.inject`: when the fault went in (the RTO's zero) and what was done. */
export interface Injection {
  injectedAt: string;
  commandId: string;
  protected: string[];
}

export type Ev = TaskEvent;

export function ctxOf(event: Ev): DrillTaskContext {
  const ctx = event.ctx as DrillTaskContext | undefined;
  if (!ctx || typeof ctx.cluster !== 'string') throw new InvalidInputError(['ctx: missing task context (state machine and task code out of sync)']);
  return ctx;
}

export function preOf(event: Ev): PreCheckResult {
  const pre = event.pre as PreCheckResult | undefined;
  if (!pre || typeof pre.plan?.oldInstanceId !== 'string') throw new InvalidInputError(['pre: missing pre-check result (state machine and task code out of sync)']);
  return pre;
}

export function injectionOf(event: Ev): Injection {
  const inj = event.inject as Injection | undefined;
  if (!inj || typeof inj.injectedAt !== 'string') throw new InvalidInputError(['inject: missing injection record']);
  return inj;
}


/** The controller's view plus the load balancer's: one snapshot for pre-check, each poll, the restore and the post-check. */
export async function snapshot(deps: FailoverDrillDeps, cluster: ClusterConfig): Promise<DrillSnapshot & { instanceStates: Record<string, string> }> {
  const observing = observeNodes(deps, cluster);
  const lb = loadBalancerView(cluster, { elbv2: deps.clients().elbv2 });
  const [observed, targets] = await Promise.all([observing, lb.describe(observing.then((o) => o.members))]);
  const slotByInstance: Record<string, string> = {};
  const instanceStates: Record<string, string> = {};
  for (const m of observed.members) {
    if (m.slot !== undefined) slotByInstance[m.instanceId] = m.slot;
    instanceStates[m.instanceId] = m.state;
  }
  return {
    nodes: observed.nodes,
    verdict: {
      kind: observed.verdict.kind,
      reasons: observed.verdict.reasons,
      ...(observed.verdict.legitimateActive !== undefined ? { legitimateActive: observed.verdict.legitimateActive } : {}),
    },
    targets,
    slotByInstance,
    instanceStates,
  };
}

/** Releases the drill's operation lease (conditional on our owner: a no-op when we no longer hold it). */
export async function releaseOrWarn(deps: FailoverDrillDeps, table: string, ctx: DrillTaskContext, warnings: string[]): Promise<boolean> {
  try {
    await releaseLease(deps.clients().ddb, table, { cluster: ctx.cluster, scope: OPERATION_LEASE_SCOPE, owner: ctx.executionName });
    return true;
  } catch (e) {
    warnings.push(`lease not released (${(e as Error).name}); it expires by itself`);
    return false;
  }
}
