/**
 * The drill's RestoreStep task: one step of the restore (functions/core/drill-restore.ts
 * says what and why), called in a Wait → RestoreStep → Choice loop bounded by
 * the restore budget. Every step is idempotent: a repeated StartInstances is a
 * no-op, PrepareNode only mounts what is not mounted and unseals what is
 * sealed, heal removes only the drill's own rules, and the lease handover to
 * the nested replace-node execution is owner-conditional.
 */
import { acquireLease, releaseLease } from '../../adapters/control-table.js';
import { startInstance } from '../../adapters/drill-ec2.js';
import { describeInstance } from '../../adapters/ec2-instances.js';
import { agentPingStatus, commandInvocation, DOCUMENT_PARAMETERS, sendDocument, type SendDocumentRequest } from '../../adapters/ssm-run.js';
import { initialRestoreMark, nestedExecutionName, restoredReadiness, restoreExhausted, type RestoreMark } from '../../core/drill-restore.js';
import { commandOutcome, operationLeaseTtlMs, PREPARE_EXECUTION_TIMEOUT_SECONDS, waitBudgets } from '../../core/replacement.js';
import type { ClusterConfig } from '../../config/schema.js';
import { RestoreFailedError } from '../errors.js';
import { documentName, observeNodes, OPERATION_LEASE_SCOPE } from '../lib/workflow.js';
import { clusterOf, ctxOf, iso, preOf, type DrillTaskContext, type Ev, type FailoverDrillDeps, type PreCheckResult } from './context.js';

/** The environment variable naming the replace-node state machine (serverless.yml sets it for every function). */
export const REPLACE_NODE_ARN_ENV = 'VAULT_HA_REPLACE_NODE_ARN';

const MAX_LOG = 20;

/** The nested replace-node execution's result as `startExecution.sync:2` hands it back (DescribeExecution, Output parsed). */
interface NestedResult {
  status?: string;
  output?: { newInstance?: { instanceId?: string } } | null;
}

export async function restoreStep(deps: FailoverDrillDeps, event: Ev): Promise<RestoreMark> {
  const ctx = ctxOf(event);
  const pre = preOf(event);
  const { config, cluster } = await clusterOf(deps, ctx);
  const given = event.loop as Partial<RestoreMark> | undefined;
  const at = given?.at ?? iso(deps.nowMs());
  const mark: RestoreMark = given?.phase !== undefined ? ({ ...initialRestoreMark(at, pre.restore), ...given } as RestoreMark) : initialRestoreMark(at, pre.restore);
  mark.n += 1;
  mark.runNested = false;
  const log = (s: string): void => {
    mark.log = [...mark.log, s].slice(-MAX_LOG);
  };
  const fail = (step: string, detail: string): never => {
    throw new RestoreFailedError(mark.instanceId, step, detail);
  };
  if (pre.restore.skipped) return { ...mark, done: true, detail: pre.restore.reason };
  if (restoreExhausted(mark, ctx.restoreBudget)) {
    fail(mark.phase, `not done after ${ctx.restoreBudget.maxAttempts} attempts (${ctx.restoreBudget.maxAttempts * ctx.restoreBudget.intervalSeconds} s): ${mark.detail || 'no progress'}`);
  }
  const { ec2, ssm } = deps.clients();
  const action = pre.restore.actions[mark.step];
  const next = (): void => {
    mark.step += 1;
    mark.commandId = '';
    mark.phase = mark.step < pre.restore.actions.length ? 'act' : 'wait-ready';
  };

  switch (mark.phase) {
    case 'act': {
      if (action === 'start-instance') {
        const inst = await describeInstance(ec2, mark.instanceId);
        if (!inst || inst.state === 'terminated' || inst.state === 'shutting-down') fail('start-instance', `${mark.instanceId} is ${inst?.state ?? 'gone'}`);
        // StartInstances refuses an instance still stopping (IncorrectInstanceState): wait for `stopped`.
        if (inst?.state === 'stopping') {
          mark.detail = `${mark.instanceId} is still stopping`;
          return mark;
        }
        if (inst?.state === 'stopped') {
          await startInstance(ec2, mark.instanceId);
          log(`started instance ${mark.instanceId} (StartInstances)`);
        }
        mark.phase = 'wait-boot';
        mark.detail = 'instance starting';
        return mark;
      }
      if (action === 'prepare-node' || action === 'heal-network') {
        mark.commandId = await sendDocument(ssm, commandFor(action, deps, ctx, cluster, pre, mark.instanceId));
        log(action === 'prepare-node' ? `sent VaultHA-PrepareNode to ${mark.instanceId} (start and unseal Vault)` : `sent VaultHA-VaultControl Action=heal to ${mark.instanceId}`);
        mark.phase = 'wait-command';
        mark.detail = `command ${mark.commandId} sent`;
        return mark;
      }
      if (action === 'replace-node') return handOver(deps, ctx, config.controlTable, cluster, pre, mark, log);
      next();
      return mark;
    }
    case 'wait-boot': {
      const inst = await describeInstance(ec2, mark.instanceId);
      if (inst?.state !== 'running') {
        mark.detail = `${mark.instanceId} is ${inst?.state ?? 'gone'}`;
        return mark;
      }
      const ping = await agentPingStatus(ssm, mark.instanceId);
      if (ping !== 'Online') {
        mark.detail = `${mark.instanceId} runs; SSM agent ${ping ?? 'not registered yet'}`;
        return mark;
      }
      log(`${mark.instanceId} is running with its SSM agent online`);
      next();
      return mark;
    }
    case 'wait-command': {
      const inv = await commandInvocation(ssm, mark.commandId, mark.instanceId);
      if (!inv) {
        mark.detail = `command ${mark.commandId} not visible yet`;
        return mark;
      }
      const outcome = commandOutcome(inv.status);
      if (outcome === 'failed') fail(action ?? 'command', `command ${mark.commandId} ended ${inv.status}: ${inv.outputTail || inv.statusDetails}`);
      if (outcome !== 'success') {
        mark.detail = `command ${mark.commandId} ${inv.status}`;
        return mark;
      }
      log(`command ${mark.commandId} succeeded${inv.outputTail ? ` (${lastLine(inv.outputTail)})` : ''}`);
      next();
      return mark;
    }
    case 'nested': {
      const nested = event.nested as NestedResult | undefined;
      if (nested?.status !== 'SUCCEEDED') fail('replace-node', `nested execution ${mark.nestedName} ended ${nested?.status ?? 'without a result'}`);
      const newId = nested?.output?.newInstance?.instanceId;
      if (!newId) fail('replace-node', `nested execution ${mark.nestedName} reported no new instance`);
      log(`nested replace-node ${mark.nestedName} succeeded: slot ${pre.restore.slot} now runs ${newId}`);
      mark.instanceId = newId!;
      next();
      return mark;
    }
    case 'wait-ready': {
      const observed = await observeNodes(deps, cluster);
      const member = observed.members.find((m) => m.instanceId === mark.instanceId);
      const node = observed.nodes.find((n) => n.instanceId === mark.instanceId);
      const r = restoredReadiness({
        instanceId: mark.instanceId,
        instanceState: member?.state ?? 'gone',
        nodeClass: node?.class,
        otherClaimants: observed.nodes.filter((n) => n.claimsActive && n.instanceId !== mark.instanceId).map((n) => n.instanceId),
      });
      mark.detail = r.detail;
      if (r.ready) {
        mark.done = true;
        mark.readyAt = iso(deps.nowMs());
        log(r.detail);
      }
      return mark;
    }
  }
  return mark;
}

function commandFor(action: 'prepare-node' | 'heal-network', deps: FailoverDrillDeps, ctx: DrillTaskContext, cluster: ClusterConfig, pre: PreCheckResult, instanceId: string): SendDocumentRequest {
  if (action === 'heal-network') {
    return {
      documentName: documentName(deps, 'vaultControl'),
      instanceId,
      parameters: { Action: 'heal' },
      allowedParameters: DOCUMENT_PARAMETERS.vaultControl,
      executionTimeoutSeconds: 60,
      comment: `failover-drill ${ctx.executionName} heal`,
    };
  }
  const plan = pre.plan;
  return {
    documentName: documentName(deps, 'prepareNode'),
    instanceId,
    // Names and paths only: the shares stay in Parameter Store until the node reads them (invariant 7).
    parameters: {
      VolumeId: plan.volumeId,
      ...(plan.mountPoint !== '' ? { MountPoint: plan.mountPoint } : {}),
      UnsealMode: cluster.unseal.mode,
      SharesParameterPrefix: cluster.unseal.mode === 'shamir' ? cluster.unseal.sharesParameterPrefix : '',
      VaultAddr: `${cluster.vault.scheme}://127.0.0.1:${cluster.vault.port}`,
      // The slot's volume holds this node's data: never formatted.
      AllowFormat: 'false',
    },
    allowedParameters: DOCUMENT_PARAMETERS.prepareNode,
    executionTimeoutSeconds: PREPARE_EXECUTION_TIMEOUT_SECONDS,
    comment: `failover-drill ${ctx.executionName} restore`,
  };
}

/**
 * terminate-active: the slot is refilled by a nested replace-node execution,
 * which takes the cluster's operation lease itself. The drill hands its lease
 * over: release (owner-conditional) and take it at once in the child's name,
 * so the child's own acquisition (same owner) goes through and nothing else
 * can slip in between two executions of ours except in that instant, which a
 * LeaseBusyError then reports. The child releases it when it ends.
 */
async function handOver(
  deps: FailoverDrillDeps,
  ctx: DrillTaskContext,
  table: string,
  cluster: ClusterConfig,
  pre: PreCheckResult,
  mark: RestoreMark,
  log: (s: string) => void,
): Promise<RestoreMark> {
  const arn = deps.env[REPLACE_NODE_ARN_ENV];
  if (!arn) throw new RestoreFailedError(mark.instanceId, 'replace-node', `${REPLACE_NODE_ARN_ENV} is not set: the replace-node state machine is unknown`);
  if (!cluster.replacement) throw new RestoreFailedError(mark.instanceId, 'replace-node', `cluster ${cluster.name} has no replacement section`);
  const name = nestedExecutionName(ctx.executionName);
  const ddb = deps.clients().ddb;
  await releaseLease(ddb, table, { cluster: cluster.name, scope: OPERATION_LEASE_SCOPE, owner: ctx.executionName });
  try {
    await acquireLease(ddb, table, {
      cluster: cluster.name,
      scope: OPERATION_LEASE_SCOPE,
      owner: name,
      ttlMs: operationLeaseTtlMs(waitBudgets(cluster.replacement)),
      nowMs: deps.nowMs(),
      purpose: `replace-node ${pre.restore.slot} (restore of failover-drill ${ctx.executionName})`,
    });
  } catch (e) {
    throw new RestoreFailedError(mark.instanceId, 'replace-node', `could not hand the operation lease to ${name}: ${(e as Error).message}`);
  }
  log(`handed the operation lease to the nested replace-node execution ${name}`);
  return {
    ...mark,
    phase: 'nested',
    runNested: true,
    nestedName: name,
    nestedArn: arn,
    nestedInput: { cluster: cluster.name, slot: pre.restore.slot, reason: `restore after failover-drill ${ctx.executionName} (terminate-active)` },
    detail: `starting replace-node ${name} for slot ${pre.restore.slot}`,
  };
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return (lines[lines.length - 1] ?? '').slice(0, 120);
}
