/**
 * `vault-ha drill --cluster C --scenario S [...]` and `vault-ha replace --cluster C
 * --slot S [--force] [--dry-run]`: start the deployed state machine with the
 * documented input (DESIGN §4.5; the drill's fields as
 * functions/config/schema.ts failoverDrillInputSchema accepts them, one flag
 * each: DRILL_INPUT_FLAGS), follow it phase by phase (bounded by --timeout),
 * print its report. `--no-wait` only starts it. A bad value is a usage error
 * naming the input field, its flag and the expected type, before any AWS call.
 *
 * Refused before starting (exit 4, nothing started): another execution holds
 * the cluster's operation lease; a drill while the cluster is paused (the
 * controller would not route the new active, so the drill could only fail).
 */
import type { DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import { core as zodCore } from 'zod/mini';
import { formatIssues } from '../functions/config/errors.js';
import { DRILL_SCENARIOS, failoverDrillInputSchema, replaceNodeInputSchema, type FailoverDrillInput } from '../functions/config/schema.js';
import { LEASE_SCOPES, readLease } from '../functions/adapters/control-table.js';
import { readPause } from '../functions/adapters/pause.js';
import { activePause, formatDuration, parseDuration, pauseSentence } from '../functions/core/pause.js';
import { flag, listOption, requireOption, stringOption, type OptionsSpec } from './lib/args.js';
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

/**
 * Every optional field of the failover-drill input and the flag that sets it
 * (`cluster` and `scenario` are --cluster and --scenario). One list for the
 * parser, the usage text and the error messages; a test checks it covers
 * every field failoverDrillInputSchema accepts.
 */
export const DRILL_INPUT_FLAGS = [
  { field: 'maxRtoSeconds', flag: 'max-rto', kind: 'number', valueName: 'SECONDS' },
  { field: 'maxSplitBrainSeconds', flag: 'max-split-brain', kind: 'number', valueName: 'SECONDS' },
  { field: 'stopOnAlarms', flag: 'stop-on-alarm', kind: 'list', valueName: 'ALARM[,ALARM...]' },
  { field: 'restore', flag: 'no-restore', kind: 'false' },
  { field: 'dryRun', flag: 'dry-run', kind: 'true' },
] as const satisfies ReadonlyArray<{ field: keyof FailoverDrillInput; flag: string; kind: 'number' | 'list' | 'true' | 'false'; valueName?: string }>;

export const DRILL_OPTIONS: OptionsSpec = {
  ...WAIT_OPTIONS,
  scenario: { type: 'string', valueName: 'SCENARIO' },
  'max-rto': { type: 'string', valueName: 'SECONDS' },
  'max-split-brain': { type: 'string', valueName: 'SECONDS' },
  'stop-on-alarm': { type: 'string', valueName: 'ALARM[,ALARM...]', repeatable: true },
  restore: { type: 'boolean' },
  'no-restore': { type: 'boolean' },
};

/** `vault-ha drill`'s usage line: every scenario from DRILL_SCENARIOS, every input flag from DRILL_INPUT_FLAGS. */
export const DRILL_USAGE = [
  `drill --cluster C --scenario ${DRILL_SCENARIOS.join('|')}`,
  ...DRILL_INPUT_FLAGS.map((f) => (f.kind === 'list' ? `[--${f.flag} ${f.valueName}]...` : f.kind === 'number' ? `[--${f.flag} ${f.valueName}]` : `[--${f.flag}]`)),
  '[--no-wait] [--timeout 30m] [--poll 2s]',
].join(' ');
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
  if (flag(ctx.args, 'restore') && flag(ctx.args, 'no-restore')) throw new UsageError('--restore and --no-restore together: give one');
  // Only what the operator gave: defaults are the state machine's to apply.
  const given: Record<string, unknown> = { cluster, scenario };
  for (const f of DRILL_INPUT_FLAGS) {
    if (f.kind === 'number') {
      const text = stringOption(ctx.args, f.flag);
      // A number only when it reads as one ("1e3" and "0x10" do not): anything else reaches the
      // schema as text, so the error says the field wants a number.
      if (text !== undefined) given[f.field] = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : text;
    } else if (f.kind === 'list') {
      const values = listOption(ctx.args, f.flag).flatMap((v) => v.split(',').map((x) => x.trim()));
      if (values.length > 0) given[f.field] = values;
    } else if (f.kind === 'true') {
      if (flag(ctx.args, f.flag)) given[f.field] = true;
    } else if (flag(ctx.args, f.flag)) given[f.field] = false;
  }
  if (flag(ctx.args, 'restore')) given['restore'] = true;
  const input = validateDrill(given);
  const sent: Record<string, unknown> = {};
  for (const k of Object.keys(given)) sent[k] = input[k as keyof FailoverDrillInput];
  return runWorkflow(ctx, 'failover-drill', input.cluster, input.scenario, sent);
}

/** The drill input against the state machine's own schema; each problem names the field, its flag and what it expects. */
function validateDrill(given: Record<string, unknown>): FailoverDrillInput {
  const r = failoverDrillInputSchema.safeParse(given);
  if (r.success) return r.data;
  const problems = r.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '');
    const f = DRILL_INPUT_FLAGS.find((x) => x.field === field);
    const flagName = field === 'cluster' || field === 'scenario' ? field : f?.flag;
    const line = formatIssues([issue])[0] ?? issue.message;
    if (flagName === undefined) return line;
    const shown = f?.kind === 'number' && typeof given[field] === 'string' ? `, given "${String(given[field]).slice(0, 40)}"` : '';
    return line.replace(/^([^:]+):/, `$1 (--${flagName}${shown}):`);
  });
  throw new UsageError(`invalid input: ${problems.join('; ')}`);
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
    const stop = r['stop'] as { condition?: unknown; reason?: unknown } | null | undefined;
    if (stop && typeof stop.reason === 'string') out.line(`  stopped: ${String(stop.condition)}: ${stop.reason}`);
    const restore = r['restore'] as { status?: unknown; durationSeconds?: unknown; detail?: unknown } | undefined;
    if (restore && typeof restore.status === 'string') {
      out.line(`  restore: ${restore.status}${typeof restore.durationSeconds === 'number' ? ` in ${restore.durationSeconds} s` : ''}${typeof restore.detail === 'string' && restore.detail !== '' ? ` (${restore.detail})` : ''}`);
    }
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
