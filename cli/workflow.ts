/**
 * `vault-ha drill --cluster C --scenario S` and `vault-ha replace --cluster C
 * --slot S [--force] [--dry-run]`: start the deployed state machine with the
 * documented input (DESIGN §4.5), follow it phase by phase (bounded by
 * --timeout), print its report. `--no-wait` only starts it.
 *
 * Refused before starting (exit 4, nothing started): another execution holds
 * the cluster's operation lease; a drill while the cluster is paused (the
 * controller would not route the new active, so the drill could only fail).
 */
import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { core as zodCore } from 'zod/mini';
import { formatIssues } from '../functions/config/errors.js';
import { DRILL_SCENARIOS, failoverDrillInputSchema, replaceNodeInputSchema } from '../functions/config/schema.js';
import { LEASE_SCOPES, readLease } from '../functions/adapters/control-table.js';
import { readPause } from '../functions/adapters/pause.js';
import { activePause, formatDuration, parseDuration, pauseSentence } from '../functions/core/pause.js';
import { flag, requireOption, stringOption, type OptionsSpec } from './lib/args.js';
import type { CliContext } from './lib/context.js';
import { EXIT, NotFoundError, RefusedError, UsageError, type ExitCode } from './lib/errors.js';
import { executionNameFor, followExecution, reportOfExecution, startExecution } from './lib/executions.js';
import type { WorkflowKind } from './lib/stack.js';

const WAIT_OPTIONS: OptionsSpec = {
  cluster: { type: 'string', valueName: 'CLUSTER' },
  'no-wait': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  timeout: { type: 'string', valueName: 'DURATION' },
  poll: { type: 'string', valueName: 'DURATION' },
};
export const DRILL_OPTIONS: OptionsSpec = { ...WAIT_OPTIONS, scenario: { type: 'string', valueName: 'SCENARIO' }, 'max-rto': { type: 'string', valueName: 'SECONDS' } };
export const REPLACE_OPTIONS: OptionsSpec = {
  ...WAIT_OPTIONS,
  slot: { type: 'string', valueName: 'SLOT' },
  force: { type: 'boolean' },
  reason: { type: 'string', valueName: 'TEXT' },
};

/** Longest waits the CLI follows by default: the replacement's own budgets sum to about this; a drill is bounded by maxRtoSeconds. */
export const DEFAULT_TIMEOUT_MS: Record<WorkflowKind, number> = { 'replace-node': 60 * 60_000, 'failover-drill': 30 * 60_000 };
export const DEFAULT_POLL_MS = 2_000;
/** Bounds for --timeout / --poll. */
const MAX_TIMEOUT_MS = 6 * 3600_000;
const MIN_POLL_MS = 100;

export async function drillCommand(ctx: CliContext): Promise<ExitCode> {
  const cluster = requireOption(ctx.args, 'cluster', 'the cluster to drill');
  const scenario = requireOption(ctx.args, 'scenario', `one of ${DRILL_SCENARIOS.join(', ')}`);
  const maxRto = stringOption(ctx.args, 'max-rto');
  const input = validate(() =>
    failoverDrillInputSchema.parse({
      cluster,
      scenario,
      ...(flag(ctx.args, 'dry-run') ? { dryRun: true } : {}),
      ...(maxRto !== undefined ? { maxRtoSeconds: Number(maxRto) } : {}),
    }),
  );
  // Only what the operator gave: defaults are the state machine's to apply.
  const sent: Record<string, unknown> = { cluster: input.cluster, scenario: input.scenario, ...(input.dryRun ? { dryRun: true } : {}), ...(maxRto !== undefined ? { maxRtoSeconds: input.maxRtoSeconds } : {}) };
  return runWorkflow(ctx, 'failover-drill', input.cluster, input.scenario, sent);
}

export async function replaceCommand(ctx: CliContext): Promise<ExitCode> {
  const cluster = requireOption(ctx.args, 'cluster', 'the cluster');
  const slot = requireOption(ctx.args, 'slot', 'the replacement slot to fill');
  const reason = stringOption(ctx.args, 'reason');
  const input = validate(() =>
    replaceNodeInputSchema.parse({ cluster, slot, ...(reason ? { reason } : {}), ...(flag(ctx.args, 'dry-run') ? { dryRun: true } : {}), ...(flag(ctx.args, 'force') ? { force: true } : {}) }),
  );
  const c = await ctx.cluster(input.cluster);
  const slots = c.replacement?.slots.map((s) => s.name) ?? [];
  if (!slots.includes(slot)) {
    throw new NotFoundError(c.replacement ? `cluster ${c.name} has no slot "${slot}" (slots: ${slots.join(', ')})` : `cluster ${c.name} has no replacement section: nothing to replace`);
  }
  const sent: Record<string, unknown> = {
    cluster: input.cluster,
    slot,
    reason: input.reason ?? `vault-ha replace by ${await ctx.whoAmI()}`,
    ...(input.dryRun ? { dryRun: true } : {}),
    ...(input.force ? { force: true } : {}),
  };
  return runWorkflow(ctx, 'replace-node', input.cluster, slot, sent);
}

function validate<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof zodCore.$ZodError) throw new UsageError(`invalid input: ${formatIssues(err.issues).join('; ')}`);
    throw err;
  }
}

function durationOption(ctx: CliContext, name: string, fallback: number, min: number, max: number): number {
  const text = stringOption(ctx.args, name);
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms < min || ms > max) throw new UsageError(`--${name} must be a duration between ${formatDuration(min)} and ${formatDuration(max)} (such as 90s, 20m, 1h), not "${text}"`);
  return ms;
}

async function runWorkflow(ctx: CliContext, kind: WorkflowKind, clusterName: string, subject: string, input: Record<string, unknown>): Promise<ExitCode> {
  const timeoutMs = durationOption(ctx, 'timeout', DEFAULT_TIMEOUT_MS[kind], 1000, MAX_TIMEOUT_MS);
  const pollMs = durationOption(ctx, 'poll', DEFAULT_POLL_MS, MIN_POLL_MS, 60_000);
  const cluster = await ctx.cluster(clusterName);
  const table = await ctx.table();
  const { ddb } = ctx.clients();
  const nowMs = ctx.now();
  const [lease, pause] = await Promise.all([readLease(ddb, table, { cluster: cluster.name, scope: LEASE_SCOPES.operation }), readPause(ddb, table, cluster.name)]);
  if (lease && lease.expiresAtMs >= nowMs) {
    throw new RefusedError(
      `${lease.owner}${lease.purpose ? ` (${lease.purpose})` : ''} holds the operation lease of ${cluster.name} until ${new Date(lease.expiresAtMs).toISOString()}: one replacement or drill at a time`,
      'wait for it (vault-ha status), or if that execution was stopped: vault-ha unlock --cluster ' + cluster.name + ' --scope operation',
    );
  }
  const paused = activePause(pause, nowMs);
  if (paused && kind === 'failover-drill' && input['dryRun'] !== true) {
    throw new RefusedError(`${cluster.name} is ${pauseSentence(paused)}: the controller would not route the new active, so a drill can only fail`, `vault-ha resume --cluster ${cluster.name} first`);
  }
  if (paused) ctx.out.note(`warning: ${cluster.name} is ${pauseSentence(paused)}: the controller will not change its routing while the replacement runs`);

  const stateMachineArn = await ctx.stateMachineArn(kind);
  const name = executionNameFor(kind, cluster.name, subject, nowMs);
  const executionArn = await startExecution(ctx.clients().sfn, stateMachineArn, name, input);
  ctx.out.note(`started ${kind} ${name} with ${JSON.stringify(input)}`);
  if (flag(ctx.args, 'no-wait')) {
    ctx.out.result({ started: true, kind, executionArn, name, input });
    ctx.out.line(executionArn);
    return EXIT.ok;
  }

  const progress = ctx.out.progress(`${kind} ${subject}`);
  let desc: DescribeExecutionCommandOutput;
  try {
    desc = await followExecution(ctx, kind, executionArn, { timeoutMs, pollMs, progress });
  } catch (err) {
    progress.done();
    throw err;
  }
  const report = reportOfExecution(desc);
  const status = desc.status ?? 'UNKNOWN';
  ctx.out.result({ kind, executionArn, name, status, ...(desc.error ? { error: desc.error } : {}), ...(report ? { report } : { cause: desc.cause ?? null }) });
  renderReport(ctx, kind, executionArn, status, desc, report);
  if (status === 'SUCCEEDED') return EXIT.ok;
  if (desc.error === 'LeaseBusyError') return EXIT.refused;
  if (desc.error === 'InvalidInputError' || desc.error === 'ConfigError') return EXIT.usage;
  return EXIT.failed;
}

function renderReport(ctx: CliContext, kind: WorkflowKind, arn: string, status: string, desc: DescribeExecutionCommandOutput, r: Record<string, unknown> | undefined): void {
  const out = ctx.out;
  const good = status === 'SUCCEEDED';
  out.line(`${kind} ${out.status(status, good, !good)}  ${arn}`);
  if (!r) {
    if (desc.error || desc.cause) out.line(`  ${desc.error ?? ''}: ${desc.cause ?? ''}`);
    return;
  }
  out.line(`  result:  ${String(r['result'] ?? '?')}`);
  if (typeof r['outcome'] === 'string') out.line(`  outcome: ${r['outcome']}`);
  if (kind === 'replace-node') {
    const oldI = r['oldInstance'] as { instanceId?: string; action?: string } | undefined;
    const newI = r['newInstance'] as { instanceId?: string } | undefined;
    const vol = r['volume'] as { volumeId?: string; location?: string } | undefined;
    if (oldI) out.line(`  old instance: ${oldI.instanceId} (${oldI.action ?? ''})`);
    if (newI) out.line(`  new instance: ${newI.instanceId}`);
    if (vol) out.line(`  data volume:  ${vol.volumeId} ${vol.location ?? ''}`);
    for (const p of asStrings(r['plan'])) out.line(`  would: ${p}`);
  } else {
    out.line(`  active:  ${String(r['oldActive'] ?? '-')} → ${String(r['newActive'] ?? '-')}; RTO ${r['rtoSeconds'] ?? '-'} s (max ${String(r['maxRtoSeconds'] ?? '-')} s)`);
    const next = (r['postCheck'] as { nextStep?: unknown } | undefined)?.nextStep;
    if (typeof next === 'string') out.line(`  next step: ${next}`);
    if (typeof r['plannedFault'] === 'string') out.line(`  would inject: ${r['plannedFault']}`);
  }
  const phases = Array.isArray(r['phases']) ? (r['phases'] as Array<{ name?: unknown; durationMs?: unknown }>) : [];
  if (phases.length > 0) {
    out.line('  phases:');
    for (const p of phases) out.line(`    ${String(p.name).padEnd(22)} ${formatDuration(Number(p.durationMs))}`);
  }
  const error = r['error'] as { name?: unknown; message?: unknown } | undefined;
  if (error) out.line(`  error: ${String(error.name)}: ${String(error.message)}`);
  for (const c of asStrings(r['compensation'])) out.line(`  compensated: ${c}`);
  for (const n of asStrings(r['nextSteps'])) out.line(`  next: ${n}`);
  for (const w of asStrings(r['warnings'])) out.line(`  warning: ${w}`);
}

function asStrings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
