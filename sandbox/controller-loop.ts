/**
 * Runs the REAL controller handler (functions/handlers/controller.ts, as Lambda
 * calls it) in-process, in one of two modes:
 *
 *  - one tick per invocation (the default, what the scenarios and tests use): a
 *    context with little time left makes the handler run exactly one tick, and
 *    this loop invokes it every `intervalMs`;
 *  - `schedule`: EventBridge + Lambda exactly as deployed (serverless.yml): an
 *    asynchronous invocation every schedule period, each with a context whose
 *    remaining time counts down from the function's timeout, overlapping
 *    invocations up to the reserved concurrency (a throttled event is retried
 *    with backoff from 1 s and dropped after maximumEventAge), a timed-out
 *    invocation frozen for good, the first one at a random phase. Every duration
 *    is compressed by `timeScale`, and the handler is told the same scale.
 *
 * Each invocation and each tick is recorded for the live view, the scenarios and
 * the failover benchmark.
 *
 * The handler reaches AWS only through the SDK's standard environment
 * (`AWS_ENDPOINT_URL_*`, `AWS_REGION`), which the sandbox points at its local
 * endpoints, and reads its config from `VAULT_HA_CONFIG`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { DEFAULT_MAX_ATTEMPTS } from '../functions/adapters/aws-clients.js';
import { ControllerFailedError, END_MARGIN_MS, createControllerHandler, type ControllerReport } from '../functions/handlers/controller.js';
import type { Logger, LogLevel } from '../functions/handlers/lib/logger.js';
import { defaultProbe, type ControllerDeps } from '../functions/handlers/lib/reconcile.js';
import { parse as parseYaml } from 'yaml';
import { scaledTimings } from './sim/timings.js';

/** Where the deployed settings come from (the repository's serverless.yml). */
export const SERVERLESS_YML = new URL('../serverless.yml', import.meta.url);

export interface TickRecord {
  seq: number;
  startedAtMs: number;
  finishedAtMs: number;
  report?: ControllerReport;
  /** The invocation failed (the handler threw, or Lambda timed it out); the report, when it has one, is still recorded. */
  error?: string;
  /** Scheduled mode: the execution environment that ran it, and whether Lambda cut it at its timeout. */
  container?: number;
  timedOut?: boolean;
}

/** One tick inside an invocation, from the handler's own per-tick log line. */
export interface TickLogEntry {
  atMs: number;
  /** The invocation (TickRecord.seq) that ran it. */
  invocation: number;
  verdict: string;
  applied: boolean;
  register: string[];
  deregister: string[];
  outcome: string;
}

/** One probe round of the controller (a tick's snapshot), by start time: the controller's eyes. */
export interface ProbeRecord {
  atMs: number;
  invocation: number;
}

export interface LogLine {
  atMs: number;
  level: LogLevel;
  message: string;
}

export interface ScheduleOptions {
  /** The function as deployed (readControllerDeployment()). */
  deployment: LambdaDeployment;
  /** Real ms per real-world ms (1 / speed): scales the schedule, the timeout, the event age, the backoff and the handler's own loop. */
  timeScale: number;
  /**
   * Where in the schedule period the sandbox starts, in [0, 1): the last scheduled
   * event fired `phase × period` ago, and its invocation is still running (with
   * that much less time left) when that is within the timeout. Default: random.
   */
  phase?: number;
  random?: () => number;
}

export interface ControllerLoopOptions {
  /** One-tick mode: real milliseconds between invocation starts. */
  intervalMs?: number;
  /** Scheduled mode (EventBridge + Lambda as deployed) instead of one tick every intervalMs. */
  schedule?: ScheduleOptions;
  /** Vault's lock timings are compressed by this (real ms per real-world ms); given to the handler as `lockTimings`. */
  timeScale?: number;
  /** Hard bound on invocations (the loop stops itself after this many). */
  maxTicks?: number;
  /** Wraps the real probe, e.g. to cut the controller's own network path (probe-blind scenario). */
  probe?: ControllerDeps['probe'];
  /** Reports kept in memory (oldest dropped first); tick and probe logs keep 20× as many. */
  keepTicks?: number;
  onTick?: (tick: TickRecord) => void;
  onTickLog?: (entry: TickLogEntry) => void;
}

export class ControllerLoopOptionsError extends Error {
  override readonly name = 'ControllerLoopOptionsError';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

const LOG_LINES_KEPT = 200;
/** Remaining time each one-tick invocation starts with: just under the controller's END_MARGIN_MS. */
export const INVOCATION_BUDGET_MS = END_MARGIN_MS - 100;

type HandlerDeps = Omit<ControllerDeps, 'topicArn'> & { topicArn?: string };

/** One Lambda execution environment (scheduled mode): its own handler instance, frozen for good when Lambda times it out. */
interface Environment {
  handler: ReturnType<typeof createControllerHandler>;
  frozen: boolean;
  invocation: number;
  /** The request id of the invocation running in it (a killed run's lease owner is `controller:<id>`). */
  requestId?: string;
  busy?: boolean;
}

/** The SDK clients every invocation of the loop shares (what chaos middleware is attached to). */
export interface ControllerSdkClients {
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  ddb: DynamoDBClient;
  sns: SNSClient;
}

/** Fault-injection hooks (sandbox/chaos): see ControllerLoop.instrument. */
export interface ControllerLoopHooks {
  /** Every log line of every invocation, with its structured fields (the view keeps only the message). */
  onLog?: (line: LogLine & { fields?: Record<string, unknown> }) => void;
}

export class LambdaTimedOutError extends Error {
  override readonly name = 'LambdaTimedOutError';
  constructor(readonly container: number) {
    super(`execution environment ${container} was stopped at the function timeout`);
  }
}

export class ControllerLoop {
  readonly ticks: TickRecord[] = [];
  readonly logs: LogLine[] = [];
  /** Every tick of every invocation (the handler's per-tick log line). */
  readonly tickLog: TickLogEntry[] = [];
  /** When each tick started probing the nodes. */
  readonly probes: ProbeRecord[] = [];
  private readonly handler: ReturnType<typeof createControllerHandler>;
  private readonly clients: ControllerSdkClients;
  private readonly environments = new Map<number, Environment>();
  private hooks: ControllerLoopHooks = {};
  private extra = 0;
  private scheduler: LambdaScheduler | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private running = false;
  private seq = 0;

  constructor(private readonly opts: ControllerLoopOptions) {
    if (opts.schedule === undefined && !(opts.intervalMs !== undefined && opts.intervalMs >= 0)) {
      throw new ControllerLoopOptionsError('intervalMs', 'required (a number of ms ≥ 0) unless a schedule is given');
    }
    // Built here rather than with makeClients(): that cache lives for the whole
    // process, and a later sandbox in the same process has new endpoint ports.
    // The clients still take region and endpoints from the SDK's standard env.
    const cfg = { maxAttempts: DEFAULT_MAX_ATTEMPTS };
    this.clients = { ec2: new EC2Client(cfg), elbv2: new ElasticLoadBalancingV2Client(cfg), ddb: new DynamoDBClient(cfg), sns: new SNSClient(cfg) };
    this.handler = createControllerHandler(() => this.deps(() => this.seq, () => Date.now()));
  }

  get last(): TickRecord | undefined {
    return this.ticks.at(-1);
  }

  /**
   * Chaos hooks (sandbox only): `clients` is called once with the SDK clients
   * every invocation shares, to add fault-injecting middleware; `onLog` sees
   * every log line with its fields (to search them for secrets).
   */
  instrument(hooks: ControllerLoopHooks & { clients?: (clients: ControllerSdkClients) => void }): void {
    hooks.clients?.(this.clients);
    this.hooks = { ...this.hooks, ...(hooks.onLog ? { onLog: hooks.onLog } : {}) };
  }

  /**
   * Scheduled mode: kills every invocation running now, as a crash would
   * (OOM, the sandbox's view of `kill -9`): its environment is frozen at its
   * next clock read and discarded, so no `finally` of the handler runs past
   * that point. Returns the killed invocations' request ids.
   */
  killRunning(): string[] {
    const killed: string[] = [];
    for (const [container, env] of this.environments) {
      if (!env.busy) continue;
      env.frozen = true;
      this.environments.delete(container);
      if (env.requestId !== undefined) killed.push(env.requestId);
    }
    return killed;
  }

  /**
   * Scheduled mode: one more invocation now, in a fresh environment, beside
   * whatever the schedule runs (an operator's manual `aws lambda invoke`): the
   * lease is all that keeps two runs from acting at once.
   */
  async invokeExtra(): Promise<void> {
    const sched = this.opts.schedule;
    if (!sched) throw new ControllerLoopOptionsError('schedule', 'invokeExtra needs the scheduled mode');
    const container = -(++this.extra);
    const timeoutMs = sched.deployment.timeoutSeconds * 1000 * sched.timeScale;
    const deadlineMs = Date.now() + timeoutMs;
    try {
      await this.invokeScheduled({
        awsRequestId: `sandbox-extra-${process.pid}-${this.extra}`,
        functionName: sched.deployment.functionName,
        timeoutSeconds: sched.deployment.timeoutSeconds,
        container,
        deadlineMs,
        getRemainingTimeInMillis: () => Math.max(0, Math.round(deadlineMs - Date.now())),
        eventId: 0,
        eventAgeMs: 0,
      });
    } catch {
      // recorded in `ticks` like any failed invocation
    } finally {
      this.environments.delete(container);
    }
  }

  /** Scheduled mode: the invocations' lifecycle (fired, throttled, dropped, timed out...). */
  get lambdaEvents(): readonly LambdaEventRecord[] {
    return this.scheduler?.events ?? [];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.opts.schedule) {
      const sched = this.opts.schedule;
      const random = sched.random ?? Math.random;
      this.scheduler = new LambdaScheduler({
        deployment: sched.deployment,
        timeScale: sched.timeScale,
        phase: sched.phase ?? random(),
        ...(this.opts.maxTicks !== undefined ? { maxInvocations: this.opts.maxTicks } : {}),
        invoke: (ctx) => this.invokeScheduled(ctx),
        onTimeout: (container) => {
          const env = this.environments.get(container);
          if (env) env.frozen = true;
          this.environments.delete(container);
        },
      });
      this.scheduler.start();
      return;
    }
    this.schedule(0);
  }

  /** Stops the loop and waits for invocations in flight (bounded by their timeout); idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
    if (this.scheduler) {
      this.scheduler.stop();
      // Freeze every environment, as Lambda would when the function goes away: a
      // running handler stops at its next clock read instead of ticking on until
      // its deadline. Its promise may still never settle: wait at most one timeout.
      for (const env of this.environments.values()) env.frozen = true;
      const pending = this.scheduler.settled();
      const boundMs = this.opts.schedule!.deployment.timeoutSeconds * 1000 * this.opts.schedule!.timeScale + 1_000;
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([pending, new Promise<void>((r) => (bound = setTimeout(r, boundMs)))]);
      clearTimeout(bound);
    }
    for (const c of Object.values(this.clients)) c.destroy();
  }

  /** One one-tick invocation now (also usable without start()). */
  async tickOnce(): Promise<TickRecord> {
    const seq = ++this.seq;
    const startedAtMs = Date.now();
    // Less time left than the controller's end margin: runController runs exactly
    // one tick. The clock runs down as on Lambda, and this budget stands for the
    // Lambda timeout; keep it above a slow tick on a loaded laptop.
    const deadline = startedAtMs + INVOCATION_BUDGET_MS;
    const context = {
      awsRequestId: `sandbox-${process.pid}-${seq}`,
      functionName: 'controller',
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    } as unknown as Context;
    let record: TickRecord;
    try {
      const report = (await this.handler({}, context)) as ControllerReport;
      record = { seq, startedAtMs, finishedAtMs: Date.now(), report };
    } catch (err) {
      record = { seq, startedAtMs, finishedAtMs: Date.now(), ...failure(err) };
    }
    this.keep(record);
    return record;
  }

  /** Scheduled mode: one invocation in its execution environment (created on first use, like a cold start). */
  private async invokeScheduled(ctx: InvocationContext): Promise<void> {
    let env = this.environments.get(ctx.container);
    if (env === undefined) {
      const created: Environment = { frozen: false, invocation: 0, handler: undefined as unknown as Environment['handler'] };
      const now = (): number => {
        // Lambda stops a timed-out environment: whatever it was about to do next never happens.
        if (created.frozen) throw new LambdaTimedOutError(ctx.container);
        return Date.now();
      };
      created.handler = createControllerHandler(() => this.deps(() => created.invocation, now), { timeScale: this.opts.schedule!.timeScale });
      env = created;
      this.environments.set(ctx.container, env);
    }
    const seq = ++this.seq;
    env.invocation = seq;
    env.requestId = ctx.awsRequestId;
    env.busy = true;
    const context = {
      awsRequestId: ctx.awsRequestId,
      functionName: ctx.functionName,
      getRemainingTimeInMillis: ctx.getRemainingTimeInMillis,
    } as unknown as Context;
    const startedAtMs = Date.now();
    let record: TickRecord;
    try {
      const report = (await env.handler({}, context)) as ControllerReport;
      record = { seq, startedAtMs, finishedAtMs: Date.now(), report, container: ctx.container };
    } catch (err) {
      record = { seq, startedAtMs, finishedAtMs: Date.now(), container: ctx.container, ...failure(err) };
    }
    env.busy = false;
    if (env.frozen) record = { ...record, timedOut: true, error: record.error ?? `Task timed out after ${ctx.timeoutSeconds} seconds` };
    this.keep(record);
    if (record.error !== undefined) throw new Error(record.error);
  }

  private deps(invocation: () => number, now: () => number): HandlerDeps & { lockTimings?: ControllerDeps['lockTimings'] } {
    const probe = this.opts.probe ?? defaultProbe;
    // Every tick writes its EMF line; a steady healthy tick logs no outcome sentence (only with
    // its observation), so the tick log starts from the EMF line and the outcome line, when it
    // follows for the same cluster, fills in what the tick did.
    const pending = new Map<string, TickLogEntry>();
    const logger: Logger = {
      log: (level, message, fields) => {
        this.remember(level, message);
        this.hooks.onLog?.({ atMs: Date.now(), level, message, ...(fields ? { fields } : {}) });
        if (fields && typeof fields.verdict === 'string') {
          const cluster = typeof fields.cluster === 'string' ? fields.cluster : '';
          const started = pending.get(cluster);
          pending.delete(cluster);
          this.rememberTick(invocation(), message, fields, started);
        }
      },
      raw: (line) => {
        const emf = emfTick(line);
        if (emf) pending.set(emf.cluster, this.rememberTick(invocation(), '', { verdict: emf.verdict, applied: emf.changes > 0 }));
      },
    };
    const timeScale = this.opts.schedule?.timeScale ?? this.opts.timeScale;
    return {
      ...this.clients,
      probe: (members, cluster) => {
        this.probes.push({ atMs: Date.now(), invocation: invocation() });
        this.trim(this.probes);
        return probe(members, cluster);
      },
      now,
      logger,
      ...(timeScale !== undefined && timeScale !== 1 ? { lockTimings: scaledTimings(timeScale) } : {}),
    };
  }

  private keep(record: TickRecord): void {
    this.ticks.push(record);
    const keep = this.opts.keepTicks ?? 2_000;
    if (this.ticks.length > keep) this.ticks.splice(0, this.ticks.length - keep);
    this.opts.onTick?.(record);
  }

  private trim(xs: unknown[]): void {
    const keep = (this.opts.keepTicks ?? 2_000) * 20;
    if (xs.length > keep) xs.splice(0, xs.length - keep);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = Date.now();
      this.inflight = this.tickOnce()
        .then(() => undefined, () => undefined)
        .finally(() => {
          this.inflight = undefined;
          if (this.opts.maxTicks !== undefined && this.seq >= this.opts.maxTicks) this.running = false;
          this.schedule(Math.max(0, (this.opts.intervalMs ?? 0) - (Date.now() - started)));
        });
    }, delayMs);
  }

  private remember(level: LogLevel, message: string): void {
    this.logs.push({ atMs: Date.now(), level, message });
    if (this.logs.length > LOG_LINES_KEPT) this.logs.shift();
  }

  /** Records a tick, or completes `started` (the same tick, from its EMF line) with its outcome line. */
  private rememberTick(invocation: number, outcome: string, fields: Record<string, unknown>, started?: TickLogEntry): TickLogEntry {
    const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    const entry: TickLogEntry = {
      atMs: started?.atMs ?? Date.now(),
      invocation,
      verdict: String(fields.verdict),
      applied: fields.applied === true,
      register: ids(fields.register),
      deregister: ids(fields.deregister),
      outcome,
    };
    if (started) {
      Object.assign(started, entry);
      this.opts.onTickLog?.(started);
      return started;
    }
    this.tickLog.push(entry);
    this.trim(this.tickLog);
    // A tick that changed targets always logs its outcome line next: it is reported complete then.
    if (outcome !== '' || !entry.applied) this.opts.onTickLog?.(entry);
    return entry;
  }
}

/** The cluster, verdict and target changes of a controller EMF line (functions/adapters/metrics.ts), if it is one. */
function emfTick(line: string): { cluster: string; verdict: string; changes: number } | undefined {
  if (!line.includes('"_aws"')) return undefined;
  try {
    const d = JSON.parse(line) as { Cluster?: unknown; Verdict?: unknown; TargetChanges?: unknown };
    if (typeof d.Cluster !== 'string' || typeof d.Verdict !== 'string') return undefined;
    return { cluster: d.Cluster, verdict: d.Verdict, changes: typeof d.TargetChanges === 'number' ? d.TargetChanges : 0 };
  } catch {
    return undefined;
  }
}

function failure(err: unknown): Pick<TickRecord, 'error' | 'report'> {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { error: message, ...(err instanceof ControllerFailedError ? { report: err.report } : {}) };
}

/* ------------------------------------------------------------------ */
/* The function as deployed (serverless.yml)                           */
/* ------------------------------------------------------------------ */

/** The settings of a scheduled Lambda function that shape when and how long it runs. */
export interface LambdaDeployment {
  functionName: string;
  /** EventBridge `rate(...)` period. */
  schedulePeriodSeconds: number;
  timeoutSeconds: number;
  /** Reserved concurrency; Infinity when none is reserved. */
  reservedConcurrency: number;
  /** How long Lambda keeps an asynchronous event (throttled or retried) before dropping it. Lambda's default: 6 hours. */
  maximumEventAgeSeconds: number;
  /** Retries of an asynchronous event after a function error (0–2; Lambda's default 2). */
  maximumRetryAttempts: number;
}

export class DeploymentSettingError extends Error {
  override readonly name = 'DeploymentSettingError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Lambda defaults when serverless.yml leaves a setting out (Lambda: timeout 3 s, 6 h event age, 2 retries). */
const LAMBDA_DEFAULTS = { timeoutSeconds: 3, maximumEventAgeSeconds: 21_600, maximumRetryAttempts: 2 } as const;

const RATE_UNITS: Record<string, number> = { minute: 60, minutes: 60, hour: 3_600, hours: 3_600, day: 86_400, days: 86_400 };

/** EventBridge `rate(value unit)` → seconds (a value of 1 takes the singular unit; cron() is not supported here). */
export function parseRateExpression(expression: string, field = 'schedule.rate'): number {
  const m = /^rate\(\s*(\d+)\s+([a-z]+)\s*\)$/.exec(expression.trim());
  if (!m) throw new DeploymentSettingError(field, `expected rate(<value> <unit>), got "${expression}"`);
  const unit = RATE_UNITS[m[2]!];
  const value = Number(m[1]);
  if (unit === undefined || value < 1) throw new DeploymentSettingError(field, `unsupported rate "${expression}"`);
  return value * unit;
}

/**
 * CloudFormation's short-form intrinsic functions (`!Sub`, `!Ref`, ...) as plain
 * objects, scalar, sequence or mapping: only the few numbers read here matter,
 * the rest of the template just has to parse.
 */
const CFN_FUNCTIONS = ['Ref', 'Sub', 'GetAtt', 'Split', 'Join', 'If', 'Select', 'ImportValue', 'FindInMap', 'Base64', 'Cidr', 'GetAZs', 'Equals', 'Not', 'And', 'Or', 'Condition'];
const CFN_TAGS = CFN_FUNCTIONS.flatMap((f) => {
  const key = f === 'Ref' || f === 'Condition' ? f : `Fn::${f}`;
  return [
    { tag: `!${f}`, resolve: (value: string) => ({ [key]: value }) },
    { tag: `!${f}`, collection: 'seq' as const, resolve: (value: { toJSON(): unknown }) => ({ [key]: value.toJSON() }) },
    { tag: `!${f}`, collection: 'map' as const, resolve: (value: { toJSON(): unknown }) => ({ [key]: value.toJSON() }) },
  ];
});

/** Reads one function's schedule, timeout, reserved concurrency and async-invocation settings from a serverless.yml text. */
export function controllerDeploymentFrom(yamlText: string, functionName = 'controller'): LambdaDeployment {
  // logLevel 'error': an unknown tag (a plugin's) resolves as a plain value instead of a warning.
  const doc = parseYaml(yamlText, { customTags: CFN_TAGS as never, logLevel: 'error' }) as Record<string, unknown> | null;
  const fn = (doc?.functions as Record<string, Record<string, unknown>> | undefined)?.[functionName];
  const at = (k: string): string => `functions.${functionName}.${k}`;
  if (fn === undefined || fn === null || typeof fn !== 'object') throw new DeploymentSettingError(`functions.${functionName}`, 'no such function');
  const num = (k: string, fallback: number | undefined): number | undefined => {
    const v = fn[k];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new DeploymentSettingError(at(k), `expected a number, got ${JSON.stringify(v)}`);
    return v;
  };
  // The controller's rules and concurrency come from scripts/controller-schedules.cjs
  // (`${file(./scripts/controller-schedules.cjs):events}`): one shard is simulated, so its
  // own rule (shard 0) and its own share of the reserved concurrency.
  const shards = generatedShards(doc, fn);
  const events = shards ? (shards.events as Array<Record<string, unknown>>) : Array.isArray(fn.events) ? (fn.events as Array<Record<string, unknown>>) : [];
  const rates: string[] = [];
  for (const e of events) {
    const sched = e?.schedule;
    if (typeof sched === 'string') rates.push(sched);
    else if (sched && typeof sched === 'object') {
      const s = sched as Record<string, unknown>;
      if (s.enabled === false) continue;
      const r = s.rate;
      if (typeof r === 'string') rates.push(r);
      else if (Array.isArray(r) && typeof r[0] === 'string') rates.push(r[0]);
    }
  }
  if (rates.length !== 1) throw new DeploymentSettingError(at('events'), `expected exactly one enabled schedule, found ${rates.length}`);
  const maximumRetryAttempts = num('maximumRetryAttempts', LAMBDA_DEFAULTS.maximumRetryAttempts)!;
  if (maximumRetryAttempts > 2) throw new DeploymentSettingError(at('maximumRetryAttempts'), 'Lambda allows 0 to 2');
  return {
    functionName,
    schedulePeriodSeconds: parseRateExpression(rates[0]!, at('events[].schedule.rate')),
    timeoutSeconds: num('timeout', LAMBDA_DEFAULTS.timeoutSeconds)!,
    reservedConcurrency: shards ? shards.perShardConcurrency : (num('reservedConcurrency', undefined) ?? Number.POSITIVE_INFINITY),
    maximumEventAgeSeconds: num('maximumEventAge', LAMBDA_DEFAULTS.maximumEventAgeSeconds)!,
    maximumRetryAttempts,
  };
}

const GENERATED = /^\$\{file\((\.\/scripts\/controller-schedules\.cjs)\):(events|reservedConcurrency)\}$/;

/**
 * When `events` / `reservedConcurrency` are generated from `params.controllerShards`
 * (scripts/controller-schedules.cjs), what they are for params.default: the rule of
 * shard 0 (every shard's rule has the same rate) and one shard's concurrency.
 */
function generatedShards(doc: Record<string, unknown> | null, fn: Record<string, unknown>): { events: unknown[]; perShardConcurrency: number } | undefined {
  const ev = typeof fn.events === 'string' ? GENERATED.exec(fn.events) : null;
  if (!ev) return undefined;
  const generator = createRequire(SERVERLESS_YML)(ev[1]!) as {
    parseShards(v: unknown): number;
    scheduleEvents(n: number): unknown[];
    CONCURRENCY_PER_SHARD: number;
  };
  const defaults = ((doc?.params as Record<string, Record<string, unknown>> | undefined)?.default ?? {}) as Record<string, unknown>;
  let n: number;
  try {
    n = generator.parseShards(defaults.controllerShards ?? 1);
  } catch (e) {
    throw new DeploymentSettingError('params.default.controllerShards', (e as Error).message);
  }
  return { events: generator.scheduleEvents(n).slice(0, 1), perShardConcurrency: generator.CONCURRENCY_PER_SHARD };
}

/** The controller function's settings from the repository's serverless.yml (read at start, so the bench follows whatever is deployed). */
export function readControllerDeployment(path: string | URL = SERVERLESS_YML, functionName = 'controller'): LambdaDeployment {
  return controllerDeploymentFrom(readFileSync(path, 'utf8'), functionName);
}

/* ------------------------------------------------------------------ */
/* EventBridge + Lambda asynchronous invocation                        */
/* ------------------------------------------------------------------ */

export interface SchedulerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: SchedulerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface InvocationContext {
  awsRequestId: string;
  functionName: string;
  timeoutSeconds: number;
  /** The execution environment (reused across invocations, never two at once). */
  container: number;
  /** Scheduler-clock ms at which Lambda stops the invocation. */
  deadlineMs: number;
  getRemainingTimeInMillis(): number;
  /** Scheduled event this invocation serves, and how old it was when it started (scheduler-clock ms). */
  eventId: number;
  eventAgeMs: number;
}

export type LambdaEventKind = 'fired' | 'invoked' | 'throttled' | 'dropped' | 'succeeded' | 'failed' | 'timed-out' | 'retry-scheduled';

export interface LambdaEventRecord {
  atMs: number;
  kind: LambdaEventKind;
  eventId: number;
  container?: number;
  detail?: string;
}

export interface LambdaSchedulerOptions {
  deployment: LambdaDeployment;
  /** Scheduler-clock ms per real-world ms. */
  timeScale: number;
  /** In [0, 1): see ScheduleOptions.phase. */
  phase: number;
  invoke: (ctx: InvocationContext) => Promise<unknown>;
  /** Lambda stopped the container at the timeout: it must never act again. */
  onTimeout?: (container: number) => void;
  onEvent?: (e: LambdaEventRecord) => void;
  clock?: SchedulerClock;
  /** Hard bound on invocations. */
  maxInvocations?: number;
  /** Events kept in `events` (oldest dropped first). */
  keepEvents?: number;
}

interface PendingEvent {
  id: number;
  createdAtMs: number;
  throttles: number;
  retries: number;
}

/** Lambda's throttle backoff: "increases exponentially from 1 second after the first attempt to a maximum of 5 minutes". */
export const THROTTLE_BACKOFF_FIRST_MS = 1_000;
export const THROTTLE_BACKOFF_MAX_MS = 300_000;
/** Lambda's waits before retrying a failed asynchronous invocation: one minute, then two. */
export const FUNCTION_ERROR_RETRY_MS = [60_000, 120_000] as const;

/**
 * EventBridge's schedule feeding Lambda's asynchronous invocation, on any clock.
 * Rules from AWS Lambda "How Lambda handles errors and retries with asynchronous
 * invocation": a throttled event (no concurrency left under the reserved
 * concurrency) goes back to the queue and is retried with a backoff from 1 s
 * doubling to 5 min, and is dropped once older than the maximum event age; a
 * function error (including a timeout) is retried up to maximumRetryAttempts
 * times, one then two minutes later. A timed-out invocation frees its
 * concurrency at the timeout and its environment is discarded.
 */
export class LambdaScheduler {
  readonly events: LambdaEventRecord[] = [];
  private readonly clock: SchedulerClock;
  private readonly periodMs: number;
  private readonly timeoutMs: number;
  private readonly maxAgeMs: number;
  private readonly timers = new Set<unknown>();
  private readonly inflight = new Set<Promise<void>>();
  /** Environments: busy while an invocation runs in them; removed when Lambda timed them out. */
  private readonly containers = new Map<number, { busy: boolean }>();
  private nextContainer = 1;
  private nextEvent = 1;
  private invocations = 0;
  private stopped = false;
  private startedAtMs = 0;

  constructor(private readonly opts: LambdaSchedulerOptions) {
    const d = opts.deployment;
    if (!(opts.timeScale > 0)) throw new ControllerLoopOptionsError('timeScale', `must be > 0, got ${opts.timeScale}`);
    if (!(opts.phase >= 0 && opts.phase < 1)) throw new ControllerLoopOptionsError('phase', `must be in [0, 1), got ${opts.phase}`);
    this.clock = opts.clock ?? REAL_CLOCK;
    this.periodMs = d.schedulePeriodSeconds * 1000 * opts.timeScale;
    this.timeoutMs = d.timeoutSeconds * 1000 * opts.timeScale;
    this.maxAgeMs = d.maximumEventAgeSeconds * 1000 * opts.timeScale;
  }

  /** Invocations running now. */
  get running(): number {
    return [...this.containers.values()].filter((c) => c.busy).length;
  }

  start(): void {
    const now = this.clock.now();
    this.startedAtMs = now;
    const ageMs = this.opts.phase * this.periodMs;
    // The event that fired `phase` of a period ago: its invocation is still running if within the timeout.
    if (ageMs < this.timeoutMs && this.opts.deployment.reservedConcurrency >= 1) {
      const e = this.newEvent(now - ageMs);
      this.run(e, now - ageMs);
    }
    this.fireAt(1);
  }

  /** Stops firing and retrying (invocations in flight carry on: see settled()). */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.timers.clear();
  }

  /** Resolves when the invocations in flight now have settled (a frozen one may never: bound the wait). */
  settled(): Promise<void> {
    return Promise.allSettled([...this.inflight]).then(() => undefined);
  }

  private after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const h = this.clock.setTimeout(() => {
      this.timers.delete(h);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(h);
  }

  /** The k-th firing after start, anchored to the start so the period never drifts. */
  private fireAt(k: number): void {
    const dueAt = this.startedAtMs + Math.round((k - this.opts.phase) * this.periodMs);
    this.after(dueAt - this.clock.now(), () => {
      this.dispatch(this.newEvent(this.clock.now()));
      this.fireAt(k + 1);
    });
  }

  private newEvent(createdAtMs: number): PendingEvent {
    const e = { id: this.nextEvent++, createdAtMs, throttles: 0, retries: 0 };
    this.record('fired', e.id);
    return e;
  }

  private dispatch(e: PendingEvent): void {
    if (this.stopped) return;
    const age = this.clock.now() - e.createdAtMs;
    if (age > this.maxAgeMs) {
      this.record('dropped', e.id, undefined, `older than maximumEventAge (${this.opts.deployment.maximumEventAgeSeconds} s)`);
      return;
    }
    if (this.opts.maxInvocations !== undefined && this.invocations >= this.opts.maxInvocations) {
      this.record('dropped', e.id, undefined, 'maxInvocations reached');
      return;
    }
    if (this.running >= this.opts.deployment.reservedConcurrency) {
      const backoff = Math.min(THROTTLE_BACKOFF_FIRST_MS * 2 ** e.throttles, THROTTLE_BACKOFF_MAX_MS);
      e.throttles += 1;
      this.record('throttled', e.id, undefined, `reserved concurrency ${this.opts.deployment.reservedConcurrency} in use; retry in ${backoff / 1000} s`);
      this.after(backoff * this.opts.timeScale, () => this.dispatch(e));
      return;
    }
    this.run(e, this.clock.now());
  }

  private run(e: PendingEvent, startedAtMs: number): void {
    this.invocations += 1;
    let id = [...this.containers.entries()].find(([, c]) => !c.busy)?.[0];
    if (id === undefined) {
      id = this.nextContainer++;
      this.containers.set(id, { busy: false });
    }
    const container = this.containers.get(id)!;
    container.busy = true;
    const containerId = id;
    const deadlineMs = startedAtMs + this.timeoutMs;
    const ctx: InvocationContext = {
      awsRequestId: `sandbox-${process.pid}-${e.id}-${e.throttles}-${e.retries}`,
      functionName: this.opts.deployment.functionName,
      timeoutSeconds: this.opts.deployment.timeoutSeconds,
      container: containerId,
      deadlineMs,
      getRemainingTimeInMillis: () => Math.max(0, Math.round(deadlineMs - this.clock.now())),
      eventId: e.id,
      eventAgeMs: this.clock.now() - e.createdAtMs,
    };
    this.record('invoked', e.id, containerId);
    let settled = false;
    const deadline = this.clock.setTimeout(() => {
      if (settled) return;
      settled = true;
      // Lambda stops the environment: the concurrency is free again, the environment is gone.
      this.containers.delete(containerId);
      this.record('timed-out', e.id, containerId, `Task timed out after ${this.opts.deployment.timeoutSeconds} seconds`);
      this.opts.onTimeout?.(containerId);
      this.retryAfterError(e);
    }, Math.max(0, deadlineMs - this.clock.now()));
    const p = Promise.resolve()
      .then(() => this.opts.invoke(ctx))
      .then(
        () => ({ outcome: 'succeeded' as const, error: undefined }),
        (err: unknown) => ({ outcome: 'failed' as const, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }),
      )
      .then(({ outcome, error }) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(deadline);
        container.busy = false;
        this.record(outcome, e.id, containerId, error);
        if (outcome === 'failed') this.retryAfterError(e);
      });
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private retryAfterError(e: PendingEvent): void {
    if (e.retries >= this.opts.deployment.maximumRetryAttempts) return;
    const wait = FUNCTION_ERROR_RETRY_MS[Math.min(e.retries, FUNCTION_ERROR_RETRY_MS.length - 1)]!;
    e.retries += 1;
    this.record('retry-scheduled', e.id, undefined, `retry ${e.retries} in ${wait / 1000} s`);
    this.after(wait * this.opts.timeScale, () => this.dispatch(e));
  }

  private record(kind: LambdaEventKind, eventId: number, container?: number, detail?: string): void {
    const r: LambdaEventRecord = { atMs: this.clock.now(), kind, eventId, ...(container !== undefined ? { container } : {}), ...(detail !== undefined ? { detail } : {}) };
    this.events.push(r);
    const keep = this.opts.keepEvents ?? 10_000;
    if (this.events.length > keep) this.events.splice(0, this.events.length - keep);
    this.opts.onEvent?.(r);
  }
}
