/**
 * `vault-ha unlock --cluster C --scope operation [--force]`: releases the
 * operation lease an execution left behind (StopExecution, or a crash, skips
 * the workflow's own release), after showing who holds it.
 *
 * The holder is an execution: replace-node and failover-drill take the lease
 * with owner = their execution name (`$$.Execution.Name`) and purpose
 * `replace-node <slot>` / `failover-drill <scenario>`. Refused (exit 4) while
 * DescribeExecution says that execution is RUNNING, or when no such execution
 * can be found (unless --force). The delete is conditional on the owner shown,
 * so a lease taken by someone else meanwhile is never released.
 */
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { LEASE_SCOPES, readLease, releaseLease } from '../functions/adapters/control-table.js';
import { recordOperatorEvent } from '../functions/adapters/control-history.js';
import { flag, requireOption, stringOption, type OptionsSpec } from './lib/args.js';
import type { CliContext } from './lib/context.js';
import { EXIT, NotFoundError, RefusedError, UsageError, type ExitCode } from './lib/errors.js';
import { executionProgress } from './lib/executions.js';
import { relative } from './lib/output.js';
import { executionArnOf, WORKFLOW_KINDS, type WorkflowKind } from './lib/stack.js';

export const UNLOCK_OPTIONS: OptionsSpec = {
  cluster: { type: 'string', valueName: 'CLUSTER' },
  scope: { type: 'string', valueName: 'SCOPE' },
  force: { type: 'boolean' },
};

interface HolderExecution {
  kind: WorkflowKind;
  executionArn: string;
  status: string;
  startedAt?: string;
  stoppedAt?: string;
}

export async function unlockCommand(ctx: CliContext): Promise<ExitCode> {
  const cluster = await ctx.cluster(requireOption(ctx.args, 'cluster', 'the cluster whose lease to release'));
  const scope = stringOption(ctx.args, 'scope') ?? LEASE_SCOPES.operation;
  if (scope === LEASE_SCOPES.controller) {
    throw new UsageError('the controller lease is not released by hand: a run\'s claim ends with its run lease (four probe intervals plus the probe timeout and 5 s without renewal) and passes to the next run by itself');
  }
  if (scope !== LEASE_SCOPES.operation) throw new UsageError(`--scope must be "operation", not "${scope}"`);
  const table = await ctx.table();
  const { ddb } = ctx.clients();
  const lease = await readLease(ddb, table, { cluster: cluster.name, scope });
  if (!lease) throw new NotFoundError(`${cluster.name} has no ${scope} lease: nothing to unlock`);
  const nowMs = ctx.now();
  const expired = lease.expiresAtMs < nowMs;
  ctx.out.line(`${cluster.name} ${scope} lease: held by ${lease.owner}${lease.purpose ? ` (${lease.purpose})` : ''}`);
  ctx.out.line(`  acquired ${new Date(lease.acquiredAtMs).toISOString()}, ${expired ? 'expired' : 'expires'} ${new Date(lease.expiresAtMs).toISOString()} (${relative(lease.expiresAtMs, nowMs)})`);

  const holder = await findHolderExecution(ctx, lease.owner, lease.purpose);
  const shown = { owner: lease.owner, purpose: lease.purpose ?? null, acquiredAt: new Date(lease.acquiredAtMs).toISOString(), expiresAt: new Date(lease.expiresAtMs).toISOString(), expired };
  if (holder?.status === 'RUNNING') {
    const p = await executionProgress(ctx.clients().sfn, holder.kind, holder.executionArn).catch(() => undefined);
    ctx.out.result({ cluster: cluster.name, scope, released: false, lease: shown, execution: { ...holder, ...(p ? { phase: p.phase } : {}) } });
    throw new RefusedError(
      `execution ${holder.executionArn} still runs (since ${holder.startedAt ?? '?'}${p ? `, phase ${p.phase}` : ''}): its lease is not left behind`,
      `wait for it, or stop it first: aws stepfunctions stop-execution --execution-arn ${holder.executionArn}`,
    );
  }
  if (!holder && !flag(ctx.args, 'force')) {
    ctx.out.result({ cluster: cluster.name, scope, released: false, lease: shown, execution: null });
    throw new RefusedError(
      `no replace-node or failover-drill execution named ${lease.owner} was found, so it cannot be shown to have ended`,
      'if you know the holder is gone, add --force',
    );
  }
  ctx.out.line(holder ? `  execution ${holder.executionArn}: ${holder.status}${holder.stoppedAt ? ` at ${holder.stoppedAt}` : ''}` : '  no execution found; releasing because of --force');

  const released = await releaseLease(ddb, table, { cluster: cluster.name, scope, owner: lease.owner });
  ctx.out.result({ cluster: cluster.name, scope, released, lease: shown, execution: holder ?? null });
  if (!released) throw new RefusedError(`the lease changed hands since it was read (no longer held by ${lease.owner}); nothing released`, 'run vault-ha status to see the new holder');
  await recordOperatorEvent(ddb, table, cluster.name, {
    atMs: ctx.now(),
    kind: 'unlock',
    by: await ctx.whoAmI(),
    detail: `released the ${scope} lease of ${lease.owner}${holder ? ` (execution ${holder.status})` : ' (--force, no execution found)'}`,
  });
  ctx.out.line(`released the ${scope} lease of ${lease.owner}`);
  return EXIT.ok;
}

/** The execution that owns the lease: the workflow its purpose names first, then the other. Undefined when neither has it. */
async function findHolderExecution(ctx: CliContext, owner: string, purpose: string | undefined): Promise<HolderExecution | undefined> {
  const first = WORKFLOW_KINDS.find((k) => purpose?.startsWith(k));
  const order = first ? [first, ...WORKFLOW_KINDS.filter((k) => k !== first)] : [...WORKFLOW_KINDS];
  for (const kind of order) {
    const executionArn = executionArnOf(await ctx.stateMachineArn(kind), owner);
    try {
      const d = await ctx.clients().sfn.send(new DescribeExecutionCommand({ executionArn }));
      return {
        kind,
        executionArn,
        status: d.status ?? 'UNKNOWN',
        ...(d.startDate ? { startedAt: d.startDate.toISOString() } : {}),
        ...(d.stopDate ? { stoppedAt: d.stopDate.toISOString() } : {}),
      };
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'ExecutionDoesNotExist' || name === 'InvalidArn') continue;
      throw err;
    }
  }
  return undefined;
}
