/**
 * Starting, following and reading replace-node / failover-drill executions
 * through the Step Functions API (StartExecution, DescribeExecution,
 * ListExecutions, GetExecutionHistory). Read-only except StartExecution.
 *
 * Phases: both definitions enter a `Mark<Phase>` Pass state as each phase
 * starts (statemachines/*.asl.yml); the latest one entered names the phase the
 * execution is in, with the same names its report uses (core PHASES /
 * DRILL_PHASES).
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { DRILL_PHASES } from '../../functions/core/drill.js';
import { PHASES } from '../../functions/core/replacement.js';
import type { CliContext } from './context.js';
import { WaitTimeoutError } from './errors.js';
import type { Progress } from './output.js';
import { WORKFLOW_KINDS, type WorkflowKind } from './stack.js';

/** Pages of 100 events read backwards to find the latest phase mark (a long wait loop is ~10 events a round). */
const MAX_HISTORY_PAGES = 5;
/** Running executions inspected per workflow for `status` (each costs a DescribeExecution). */
const MAX_RUNNING_INSPECTED = 25;

export interface ExecutionProgress {
  /** The phase (report name, e.g. `launch`, `observe-failover`), or `validate` before the first mark. */
  phase: string;
  /** The state entered last (e.g. `WaitRunning`). */
  state: string | undefined;
}

export interface ExecutionSummary {
  kind: WorkflowKind;
  name: string;
  executionArn: string;
  status: string;
  startedAt: string;
  stoppedAt?: string;
  input: Record<string, unknown>;
  phase?: string;
  state?: string;
}

/** `MarkWaitRunning` → `wait-running`; `MarkPreCheck` → `pre-check`; undefined for any other state. */
export function phaseOfState(kind: WorkflowKind, stateName: string): string | undefined {
  if (!stateName.startsWith('Mark') || stateName.length <= 4) return undefined;
  const key = stateName.charAt(4).toLowerCase() + stateName.slice(5);
  const table: ReadonlyArray<readonly [string, string]> = kind === 'replace-node' ? PHASES : DRILL_PHASES;
  // `MarkAttach` marks `attachVolume`, `MarkPrepare` marks `prepareNode`: the key starts with the state's name.
  return (table.find(([k]) => k === key) ?? table.find(([k]) => k.startsWith(key)))?.[1];
}

export async function executionProgress(sfn: SFNClient, kind: WorkflowKind, executionArn: string): Promise<ExecutionProgress> {
  let state: string | undefined;
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_HISTORY_PAGES; page++) {
    const out = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, includeExecutionData: false, ...(nextToken ? { nextToken } : {}) }),
    );
    for (const e of out.events ?? []) {
      const name = e.stateEnteredEventDetails?.name;
      if (name === undefined) continue;
      state ??= name;
      const phase = phaseOfState(kind, name);
      if (phase !== undefined) return { phase, state };
    }
    nextToken = out.nextToken || undefined;
    if (!nextToken) break;
  }
  return { phase: 'validate', state };
}

export async function startExecution(sfn: SFNClient, stateMachineArn: string, name: string, input: Record<string, unknown>): Promise<string> {
  const out = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
  if (!out.executionArn) throw new Error('StartExecution answered without an executionArn');
  return out.executionArn;
}

/**
 * An execution name that says what it is and when: `cli-replace-prod-vault-a-20261201T101500Z`.
 * Step Functions allows 1–80 characters from letters, digits, `-` and `_` (and more, which we avoid).
 */
export function executionNameFor(kind: WorkflowKind, cluster: string, subject: string, nowMs: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const raw = `cli-${kind === 'replace-node' ? 'replace' : 'drill'}-${cluster}-${subject}`.replace(/[^A-Za-z0-9_-]/g, '-');
  return `${raw.slice(0, 80 - stamp.length - 1)}-${stamp}`;
}

export interface FollowOptions {
  timeoutMs: number;
  pollMs: number;
  progress?: Progress;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Polls until the execution leaves RUNNING or `timeoutMs` passes (then
 * WaitTimeoutError: the execution goes on). Every poll is two bounded calls.
 */
export async function followExecution(ctx: CliContext, kind: WorkflowKind, executionArn: string, opts: FollowOptions): Promise<DescribeExecutionCommandOutput> {
  const sfn = ctx.clients().sfn;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = ctx.now() + opts.timeoutMs;
  let lastPhase = 'validate';
  const maxPolls = Math.ceil(opts.timeoutMs / Math.max(1, opts.pollMs)) + 2;
  for (let poll = 0; poll < maxPolls; poll++) {
    const desc = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (desc.status !== 'RUNNING' && desc.status !== 'PENDING_REDRIVE') {
      opts.progress?.done(`${desc.status}`);
      return desc;
    }
    const p = await executionProgress(sfn, kind, executionArn).catch(() => undefined);
    if (p) lastPhase = p.phase;
    opts.progress?.update(`phase ${lastPhase}${p?.state ? ` (state ${p.state})` : ''}`);
    if (ctx.now() >= deadline) break;
    await sleep(Math.min(opts.pollMs, Math.max(0, deadline - ctx.now())));
  }
  opts.progress?.done(`still running in phase ${lastPhase}`);
  throw new WaitTimeoutError(
    `${executionArn} is still running (phase ${lastPhase}) after ${Math.round(opts.timeoutMs / 1000)} s`,
    'it goes on without the CLI: follow it with vault-ha status, or raise --timeout',
  );
}

/** The execution's report: its output when it succeeded, the Fail state's Cause (a JSON report) when it failed; undefined otherwise. */
export function reportOfExecution(desc: Pick<DescribeExecutionCommandOutput, 'status' | 'output' | 'cause'>): Record<string, unknown> | undefined {
  const raw = desc.status === 'SUCCEEDED' ? desc.output : desc.cause;
  if (raw === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { kind?: unknown }).kind === 'string' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Running executions of both workflows whose input names `cluster`, with their phase. */
export async function runningExecutions(ctx: CliContext, cluster: string): Promise<ExecutionSummary[]> {
  const sfn = ctx.clients().sfn;
  const out: ExecutionSummary[] = [];
  for (const kind of WORKFLOW_KINDS) {
    const arn = await ctx.stateMachineArn(kind);
    const list = await sfn.send(new ListExecutionsCommand({ stateMachineArn: arn, statusFilter: 'RUNNING', maxResults: MAX_RUNNING_INSPECTED }));
    for (const e of list.executions ?? []) {
      if (!e.executionArn) continue;
      const summary = await describeSummary(ctx, kind, e.executionArn);
      if (summary.input['cluster'] !== cluster) continue;
      const p = await executionProgress(sfn, kind, e.executionArn).catch(() => undefined);
      out.push({ ...summary, ...(p ? { phase: p.phase, ...(p.state ? { state: p.state } : {}) } : {}) });
    }
  }
  return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

export async function describeSummary(ctx: CliContext, kind: WorkflowKind, executionArn: string): Promise<ExecutionSummary> {
  const d = await ctx.clients().sfn.send(new DescribeExecutionCommand({ executionArn }));
  let input: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(d.input ?? '{}');
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) input = v as Record<string, unknown>;
  } catch {
    /* not JSON: no cluster to match */
  }
  return {
    kind,
    name: d.name ?? executionArn.split(':').at(-1) ?? executionArn,
    executionArn,
    status: d.status ?? 'UNKNOWN',
    startedAt: (d.startDate ?? new Date(0)).toISOString(),
    ...(d.stopDate ? { stoppedAt: d.stopDate.toISOString() } : {}),
    input,
  };
}
