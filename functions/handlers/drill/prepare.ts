/**
 * The drill's first three tasks: Validate (input against the config, budgets),
 * AcquireLease (one replacement or drill per cluster), PreCheck (steady state,
 * stop-condition alarms, the fault and restore plans). None changes anything
 * but the lease.
 */
import { clientProbeTarget } from '../../core/drill-client.js';
import { planRestore } from '../../core/drill-restore.js';
import { checkDrillInput, drillLeaseTtlMs, observeBudget, planFault, postCheckBudget, preCheck, restoreBudget } from '../../core/drill.js';
import { findCluster } from '../../core/replacement.js';
import { RefusedError } from '../errors.js';
import { acquireOperationLease, ENV } from '../lib/workflow.js';
import { clusterOf, ctxOf, iso, snapshot, type DrillTaskContext, type Ev, type FailoverDrillDeps, type PreCheckResult } from './context.js';

export async function validate(deps: FailoverDrillDeps, event: Ev): Promise<DrillTaskContext> {
  const config = await deps.loadConfig();
  const request = checkDrillInput(event.input, config);
  const cluster = findCluster(config, request.cluster);
  const executionName = typeof event.executionName === 'string' && event.executionName !== '' ? event.executionName : `local-${deps.nowMs()}`;
  const listener = cluster.loadBalancer.listenerUrl;
  const clientProbeUrl = listener ? clientProbeTarget(listener).url : '';
  return {
    cluster: request.cluster,
    scenario: request.scenario,
    dryRun: request.dryRun,
    dryRunFromPolicy: request.dryRunFromPolicy,
    maxRtoSeconds: request.maxRtoSeconds,
    stopOnAlarms: request.stopOnAlarms,
    restore: request.restore,
    maxSplitBrainSeconds: request.maxSplitBrainSeconds,
    executionName,
    startedAt: typeof event.startedAt === 'string' ? event.startedAt : iso(deps.nowMs()),
    topicArn: config.notifications?.topicArn ?? deps.env[ENV.topicArn] ?? '',
    clientProbeUrl,
    observe: observeBudget(request.maxRtoSeconds, { clientProbe: clientProbeUrl !== '' }),
    postCheck: postCheckBudget(),
    restoreBudget: restoreBudget(cluster),
    sealedGraceMs: Math.round(cluster.policy.probeIntervalSeconds * 2 * 1000),
  };
}

export async function acquire(deps: FailoverDrillDeps, event: Ev): Promise<{ owner: string; expiresAt: string }> {
  const ctx = ctxOf(event);
  const { config, cluster } = await clusterOf(deps, ctx);
  // Same lease as replace-node: a drill must not start while a node is being replaced, nor the reverse.
  return acquireOperationLease(deps, config.controlTable, {
    cluster: cluster.name,
    owner: ctx.executionName,
    ttlMs: drillLeaseTtlMs(ctx.observe, ctx.postCheck, ctx.restoreBudget),
    purpose: `failover-drill ${ctx.scenario}`,
  });
}

export async function preCheckAction(deps: FailoverDrillDeps, event: Ev): Promise<PreCheckResult> {
  const ctx = ctxOf(event);
  const { cluster } = await clusterOf(deps, ctx);
  const [s, alarms] = await Promise.all([snapshot(deps, cluster), ctx.stopOnAlarms.length > 0 ? deps.alarms(ctx.stopOnAlarms) : Promise.resolve([])]);
  const decision = preCheck(s, ctx.scenario, cluster, { nowMs: deps.nowMs(), stopOnAlarms: ctx.stopOnAlarms, alarms });
  if (decision.kind === 'refused') throw new RefusedError(cluster.name, '', decision.reasons, `run drill ${ctx.scenario}`);
  const slot = s.slotByInstance[decision.oldActive];
  const plan = planFault({
    scenario: ctx.scenario,
    cluster,
    oldInstanceId: decision.oldActive,
    ...(slot !== undefined ? { slot } : {}),
    standbys: decision.standbys,
    maxRtoSeconds: ctx.maxRtoSeconds,
  });
  const restore = planRestore(plan, { restore: ctx.restore, unsealMode: cluster.unseal.mode });
  deps.logger.log('info', 'drill plan', { cluster: cluster.name, fault: plan.description, restore: restore.description, dryRun: ctx.dryRun });
  return { plan, steady: decision.steady, restore, warnings: decision.warnings };
}
