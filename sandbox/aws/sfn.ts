/**
 * A local Step Functions endpoint for the sandbox: the unmodified SDK v3
 * `SFNClient` (and so `vault-ha drill|replace|unlock|status`) reaches it through
 * the SDK's standard `AWS_ENDPOINT_URL_SFN`, and every execution runs the REAL
 * state machine definition in the local ASL interpreter
 * (sandbox/stepfunctions/runner.ts) with the real task code — what the
 * sandbox's `replaceNode` and drill scenarios do, started over the API instead.
 *
 * Wire protocol: AWS JSON 1.0 (`POST /`, `X-Amz-Target: AWSStepFunctions.<Op>`,
 * `application/x-amz-json-1.0`), timestamps as epoch seconds, errors as
 * `{ "__type": "<Code>", "message" }` with HTTP 400 — the Step Functions API
 * reference's shapes. Implemented: StartExecution, DescribeExecution,
 * ListExecutions, GetExecutionHistory, StopExecution, ListStateMachines,
 * DescribeStateMachine. Rules kept from the API reference:
 *  - execution names are 1–80 characters without whitespace, brackets,
 *    wildcards, `"#%\^|~`$&,;:/` or control characters (InvalidName);
 *  - the same name again: the original execution's answer when it is still
 *    running with identical input, ExecutionAlreadyExists otherwise (closed, or
 *    a different input) — "Executions with the same name and input are
 *    considered idempotent";
 *  - `input` must be a JSON object text (InvalidExecutionInput);
 *  - ListExecutions lists the newest first and filters by status;
 *  - GetExecutionHistory events carry `id`/`previousEventId`, `timestamp` and
 *    `<state type>StateEntered`/`Exited` with `stateEnteredEventDetails.name`.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { LocalEndpoint, readBody } from './local-server.js';
import type { RunStateMachineResult, StateHistoryEntry } from '../stepfunctions/runner.js';

export const SFN_TARGET_PREFIX = 'AWSStepFunctions.';

/** What a local state machine needs to run one execution. */
export interface LocalExecutionRequest {
  input: unknown;
  executionName: string;
  executionArn: string;
  signal: AbortSignal;
  onHistory: (history: readonly StateHistoryEntry[]) => void;
}

export interface LocalStateMachine {
  /** The deployed name, e.g. `vault-ha-control-plane-sandbox-replace-node`. */
  name: string;
  run(req: LocalExecutionRequest): Promise<RunStateMachineResult>;
}

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

interface Execution {
  arn: string;
  name: string;
  machine: MachineEntry;
  input: string;
  status: ExecutionStatus;
  startMs: number;
  stopMs?: number;
  output?: string;
  error?: string;
  cause?: string;
  history: readonly StateHistoryEntry[];
  abort: AbortController;
  done: Promise<void>;
}

interface MachineEntry {
  arn: string;
  name: string;
  createdMs: number;
  machine: LocalStateMachine;
}

export class SfnApiError extends Error {
  override readonly name = 'SfnApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

const NAME_FORBIDDEN = /[\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]/;

export interface SfnEndpointOptions {
  region: string;
  accountId: string;
  machines: LocalStateMachine[];
  now?: () => number;
}

export class SfnEndpoint extends LocalEndpoint {
  protected override readonly serviceName = 'SFN';
  private readonly region: string;
  private readonly accountId: string;
  private readonly now: () => number;
  private readonly machines = new Map<string, MachineEntry>();
  private readonly executions = new Map<string, Execution>();
  private stopping = false;

  constructor(opts: SfnEndpointOptions) {
    super();
    this.region = opts.region;
    this.accountId = opts.accountId;
    this.now = opts.now ?? Date.now;
    for (const m of opts.machines) {
      const arn = `arn:aws:states:${this.region}:${this.accountId}:stateMachine:${m.name}`;
      this.machines.set(arn, { arn, name: m.name, createdMs: this.now(), machine: m });
    }
  }

  stateMachineArn(name: string): string {
    const m = [...this.machines.values()].find((x) => x.name === name);
    if (!m) throw new SfnApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${name}'`);
    return m.arn;
  }

  /** Stops every running execution (ABORTED), waits for them (bounded), closes the server. */
  override async stop(): Promise<void> {
    this.stopping = true;
    const running = [...this.executions.values()].filter((e) => e.status === 'RUNNING');
    for (const e of running) e.abort.abort();
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(running.map((e) => e.done)), new Promise<void>((r) => (t = setTimeout(r, 10_000)))]);
    clearTimeout(t);
    await super.stop();
  }

  /** In-process view (tests). */
  execution(arn: string): Readonly<Pick<Execution, 'status' | 'name' | 'history' | 'output' | 'error' | 'cause'>> | undefined {
    return this.executions.get(arn);
  }

  /** Resolves when the execution has ended (bounded by the runner's own limits). */
  async waitFor(arn: string): Promise<ExecutionStatus> {
    const e = this.executions.get(arn);
    if (!e) throw new SfnApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    await e.done;
    return e.status;
  }

  // ------------------------------------------------------------------ HTTP

  protected override async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const body = await readBody(req, () => new SfnApiError('ValidationException', 'request too large', 413));
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || !target.startsWith(SFN_TARGET_PREFIX)) throw new SfnApiError('UnknownOperationException', `unknown operation ${target}`);
      let input: Record<string, unknown>;
      try {
        const parsed: unknown = body === '' ? {} : JSON.parse(body);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        input = parsed as Record<string, unknown>;
      } catch {
        throw new SfnApiError('SerializationException', 'Request body is not a JSON object');
      }
      const out = this.dispatch(target.slice(SFN_TARGET_PREFIX.length), input);
      send(res, 200, requestId, out);
    } catch (err) {
      const e = err instanceof SfnApiError ? err : new SfnApiError('InternalFailure', err instanceof Error ? err.message : String(err), 500);
      send(res, e.httpStatus, requestId, { __type: e.code, message: e.message });
    }
  }

  private dispatch(op: string, input: Record<string, unknown>): unknown {
    switch (op) {
      case 'StartExecution':
        return this.startExecution(input);
      case 'DescribeExecution':
        return this.describeExecution(input);
      case 'ListExecutions':
        return this.listExecutions(input);
      case 'GetExecutionHistory':
        return this.getExecutionHistory(input);
      case 'StopExecution':
        return this.stopExecution(input);
      case 'ListStateMachines':
        return this.listStateMachines(input);
      case 'DescribeStateMachine':
        return this.describeStateMachine(input);
      default:
        throw new SfnApiError('UnknownOperationException', `The sandbox Step Functions endpoint does not implement ${op}`);
    }
  }

  // ------------------------------------------------------------ operations

  private startExecution(input: Record<string, unknown>): unknown {
    const machine = this.machine(str(input, 'stateMachineArn', true));
    const name = str(input, 'name') ?? randomUUID();
    if (name.length < 1 || name.length > 80 || NAME_FORBIDDEN.test(name)) throw new SfnApiError('InvalidName', `Invalid Name: '${name}'`);
    const rawInput = str(input, 'input') ?? '{}';
    let parsedInput: unknown;
    try {
      parsedInput = JSON.parse(rawInput);
    } catch {
      throw new SfnApiError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${rawInput.slice(0, 200)}'`);
    }
    if (parsedInput === null || typeof parsedInput !== 'object') {
      throw new SfnApiError('InvalidExecutionInput', 'Invalid State Machine Execution Input: the input must be a JSON object');
    }
    const arn = `arn:aws:states:${this.region}:${this.accountId}:execution:${machine.name}:${name}`;
    const existing = this.executions.get(arn);
    if (existing) {
      if (existing.status === 'RUNNING' && existing.input === rawInput) return { executionArn: arn, startDate: seconds(existing.startMs) };
      throw new SfnApiError('ExecutionAlreadyExists', `Execution Already Exists: '${arn}'`);
    }
    if (this.stopping) throw new SfnApiError('ServiceUnavailable', 'the sandbox is stopping', 503);
    const abort = new AbortController();
    const execution: Execution = {
      arn,
      name,
      machine,
      input: rawInput,
      status: 'RUNNING',
      startMs: this.now(),
      history: [],
      abort,
      done: Promise.resolve(),
    };
    this.executions.set(arn, execution);
    execution.done = machine.machine
      .run({
        input: parsedInput,
        executionName: name,
        executionArn: arn,
        signal: abort.signal,
        onHistory: (h) => (execution.history = h),
      })
      .then(
        (r) => {
          execution.history = r.history;
          execution.status = r.aborted === true || abort.signal.aborted ? 'ABORTED' : r.status === 'SUCCEEDED' ? 'SUCCEEDED' : r.error === 'States.Timeout' ? 'TIMED_OUT' : 'FAILED';
          if (r.status === 'SUCCEEDED') execution.output = JSON.stringify(r.output ?? null);
          if (r.status === 'FAILED' && execution.status !== 'ABORTED') {
            if (r.error !== undefined) execution.error = r.error;
            if (r.cause !== undefined) execution.cause = r.cause;
          }
        },
        (err: unknown) => {
          execution.status = 'FAILED';
          execution.error = 'States.Runtime';
          execution.cause = err instanceof Error ? err.message : String(err);
        },
      )
      .finally(() => {
        execution.stopMs ??= this.now();
      });
    return { executionArn: arn, startDate: seconds(execution.startMs) };
  }

  private describeExecution(input: Record<string, unknown>): unknown {
    const e = this.exec(str(input, 'executionArn', true));
    return {
      executionArn: e.arn,
      stateMachineArn: e.machine.arn,
      name: e.name,
      status: e.status,
      startDate: seconds(e.startMs),
      ...(e.stopMs !== undefined && e.status !== 'RUNNING' ? { stopDate: seconds(e.stopMs) } : {}),
      input: e.input,
      inputDetails: { included: true },
      ...(e.output !== undefined ? { output: e.output, outputDetails: { included: true } } : {}),
      ...(e.error !== undefined ? { error: e.error } : {}),
      ...(e.cause !== undefined ? { cause: e.cause } : {}),
    };
  }

  private listExecutions(input: Record<string, unknown>): unknown {
    const machine = this.machine(str(input, 'stateMachineArn', true));
    const statusFilter = str(input, 'statusFilter');
    const maxResults = int(input, 'maxResults', 0, 1000) || 100;
    const offset = token(input);
    const all = [...this.executions.values()]
      .filter((e) => e.machine === machine && (statusFilter === undefined || e.status === statusFilter))
      .sort((a, b) => b.startMs - a.startMs);
    const page = all.slice(offset, offset + maxResults);
    return {
      executions: page.map((e) => ({
        executionArn: e.arn,
        stateMachineArn: machine.arn,
        name: e.name,
        status: e.status,
        startDate: seconds(e.startMs),
        ...(e.stopMs !== undefined && e.status !== 'RUNNING' ? { stopDate: seconds(e.stopMs) } : {}),
      })),
      ...(offset + maxResults < all.length ? { nextToken: String(offset + maxResults) } : {}),
    };
  }

  /** Events from the runner's per-state history; ids are stable across calls while the execution runs. */
  private getExecutionHistory(input: Record<string, unknown>): unknown {
    const e = this.exec(str(input, 'executionArn', true));
    const maxResults = int(input, 'maxResults', 0, 1000) || 100;
    const reverse = input['reverseOrder'] === true;
    const includeData = input['includeExecutionData'] !== false;
    const events = historyEvents(e, includeData);
    if (reverse) events.reverse();
    const offset = token(input);
    return {
      events: events.slice(offset, offset + maxResults),
      ...(offset + maxResults < events.length ? { nextToken: String(offset + maxResults) } : {}),
    };
  }

  private stopExecution(input: Record<string, unknown>): unknown {
    const e = this.exec(str(input, 'executionArn', true));
    if (e.status === 'RUNNING') {
      e.stopMs = this.now();
      e.status = 'ABORTED';
      const error = str(input, 'error');
      const cause = str(input, 'cause');
      if (error !== undefined) e.error = error;
      if (cause !== undefined) e.cause = cause;
      e.abort.abort();
    }
    return { stopDate: seconds(e.stopMs ?? this.now()) };
  }

  private listStateMachines(input: Record<string, unknown>): unknown {
    const maxResults = int(input, 'maxResults', 0, 1000) || 100;
    const offset = token(input);
    const all = [...this.machines.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    return {
      stateMachines: all.slice(offset, offset + maxResults).map((m) => ({ stateMachineArn: m.arn, name: m.name, type: 'STANDARD', creationDate: seconds(m.createdMs) })),
      ...(offset + maxResults < all.length ? { nextToken: String(offset + maxResults) } : {}),
    };
  }

  private describeStateMachine(input: Record<string, unknown>): unknown {
    const m = this.machine(str(input, 'stateMachineArn', true));
    return { stateMachineArn: m.arn, name: m.name, status: 'ACTIVE', type: 'STANDARD', creationDate: seconds(m.createdMs), definition: '{}', roleArn: `arn:aws:iam::${this.accountId}:role/sandbox` };
  }

  // --------------------------------------------------------------- lookups

  private machine(arn: string): MachineEntry {
    if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+$/.test(arn)) throw new SfnApiError('InvalidArn', `Invalid Arn: '${arn}'`);
    const m = this.machines.get(arn);
    if (!m) throw new SfnApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
    return m;
  }

  private exec(arn: string): Execution {
    if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[^:]+:[^:]+$/.test(arn)) throw new SfnApiError('InvalidArn', `Invalid Arn: '${arn}'`);
    const e = this.executions.get(arn);
    if (!e) throw new SfnApiError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    return e;
  }
}

/* ------------------------------------------------------------------ helpers */

/** Step Functions' per-type event names: `TaskStateEntered`, `PassStateExited`, ... */
const TYPE_PREFIX: Record<string, string> = { Task: 'Task', Pass: 'Pass', Choice: 'Choice', Wait: 'Wait', Succeed: 'Succeed', Fail: 'Fail', Parallel: 'Parallel', Map: 'Map' };

function historyEvents(e: Execution, includeData: boolean): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  const push = (type: string, atMs: number, details: Record<string, unknown>): void => {
    const id = events.length + 1;
    events.push({ id, previousEventId: id - 1, timestamp: seconds(atMs), type, ...details });
  };
  push('ExecutionStarted', e.startMs, { executionStartedEventDetails: { ...(includeData ? { input: e.input } : {}), inputDetails: { truncated: false } } });
  for (const h of e.history) {
    const prefix = TYPE_PREFIX[h.type] ?? h.type;
    push(`${prefix}StateEntered`, h.enteredAtMs, { stateEnteredEventDetails: { name: h.state } });
    if (h.error !== undefined && h.type === 'Task') push('TaskFailed', h.exitedAtMs ?? h.enteredAtMs, { taskFailedEventDetails: { error: h.error, resourceType: 'lambda', resource: 'invoke' } });
    if (h.exitedAtMs !== undefined && h.type !== 'Fail' && h.type !== 'Succeed') push(`${prefix}StateExited`, h.exitedAtMs, { stateExitedEventDetails: { name: h.state } });
  }
  const end = e.stopMs ?? e.startMs;
  if (e.status === 'SUCCEEDED') push('ExecutionSucceeded', end, { executionSucceededEventDetails: includeData ? { output: e.output } : {} });
  if (e.status === 'FAILED') push('ExecutionFailed', end, { executionFailedEventDetails: { error: e.error, cause: e.cause } });
  if (e.status === 'ABORTED') push('ExecutionAborted', end, { executionAbortedEventDetails: { ...(e.error ? { error: e.error } : {}), ...(e.cause ? { cause: e.cause } : {}) } });
  if (e.status === 'TIMED_OUT') push('ExecutionTimedOut', end, { executionTimedOutEventDetails: { error: e.error, cause: e.cause } });
  return events;
}

function seconds(ms: number): number {
  return ms / 1000;
}

function str(input: Record<string, unknown>, key: string, required: true): string;
function str(input: Record<string, unknown>, key: string, required?: false): string | undefined;
function str(input: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = input[key];
  if (v === undefined || v === null) {
    if (required) throw new SfnApiError('ValidationException', `1 validation error detected: Value null at '${key}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof v !== 'string') throw new SfnApiError('SerializationException', `${key} must be a string`);
  return v;
}

function int(input: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = input[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new SfnApiError('ValidationException', `1 validation error detected: Value '${String(v)}' at '${key}' failed to satisfy constraint: Member must have value between ${min} and ${max}`);
  }
  return v;
}

function token(input: Record<string, unknown>): number {
  const t = input['nextToken'];
  if (t === undefined || t === null) return 0;
  const n = Number(t);
  if (typeof t !== 'string' || !Number.isInteger(n) || n < 0) throw new SfnApiError('InvalidToken', `Invalid Token: '${String(t)}'`);
  return n;
}

function send(res: http.ServerResponse, status: number, requestId: string, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
  });
  res.end(text);
}
