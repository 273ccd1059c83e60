/**
 * Runs the REAL controller handler (functions/handlers/controller.ts, the middy
 * chain and all) in-process, the way EventBridge + Lambda would, but with one
 * tick per invocation: a context with little time left makes the handler run
 * exactly one tick, and this loop invokes it every `intervalMs`. Each report is
 * recorded for the live view and the scenarios.
 *
 * The handler reaches AWS only through the SDK's standard environment
 * (`AWS_ENDPOINT_URL_*`, `AWS_REGION`), which the sandbox points at its local
 * endpoints, and reads its config from `VAULT_HA_CONFIG`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { DEFAULT_MAX_ATTEMPTS } from '../functions/adapters/aws-clients.js';
import { ControllerFailedError, END_MARGIN_MS, createControllerHandler, type ControllerReport } from '../functions/handlers/controller.js';
import type { Logger, LogLevel } from '../functions/handlers/lib/logger.js';
import { defaultProbe, type ControllerDeps } from '../functions/handlers/lib/reconcile.js';

export interface TickRecord {
  seq: number;
  startedAtMs: number;
  finishedAtMs: number;
  report?: ControllerReport;
  /** The invocation failed (the handler threw); the report, when it has one, is still recorded. */
  error?: string;
}

export interface LogLine {
  atMs: number;
  level: LogLevel;
  message: string;
}

export interface ControllerLoopOptions {
  /** Real milliseconds between invocation starts. */
  intervalMs: number;
  /** Hard bound on invocations (the loop stops itself after this many). */
  maxTicks?: number;
  /** Wraps the real probe, e.g. to cut the controller's own network path (probe-blind scenario). */
  probe?: ControllerDeps['probe'];
  /** Reports kept in memory (oldest dropped first). */
  keepTicks?: number;
  onTick?: (tick: TickRecord) => void;
}

const LOG_LINES_KEPT = 200;
/** Remaining time each one-tick invocation starts with: just under the controller's END_MARGIN_MS. */
export const INVOCATION_BUDGET_MS = END_MARGIN_MS - 100;

export class ControllerLoop {
  readonly ticks: TickRecord[] = [];
  readonly logs: LogLine[] = [];
  private readonly handler: ReturnType<typeof createControllerHandler>;
  private readonly clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client; ddb: DynamoDBClient; sns: SNSClient };
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private running = false;
  private seq = 0;

  constructor(private readonly opts: ControllerLoopOptions) {
    // Built here rather than with makeClients(): that cache lives for the whole
    // process, and a later sandbox in the same process has new endpoint ports.
    // The clients still take region and endpoints from the SDK's standard env.
    const cfg = { maxAttempts: DEFAULT_MAX_ATTEMPTS };
    this.clients = { ec2: new EC2Client(cfg), elbv2: new ElasticLoadBalancingV2Client(cfg), ddb: new DynamoDBClient(cfg), sns: new SNSClient(cfg) };
    const logger: Logger = {
      log: (level, message) => this.remember(level, message),
      raw: () => undefined, // EMF metric lines: CloudWatch's business, not the view's
    };
    const probe = opts.probe ?? defaultProbe;
    this.handler = createControllerHandler(() => ({ ...this.clients, probe, now: Date.now, logger }));
  }

  get last(): TickRecord | undefined {
    return this.ticks.at(-1);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the loop and waits for an invocation in flight; idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inflight;
    for (const c of Object.values(this.clients)) c.destroy();
  }

  /** One invocation now (also usable without start()). */
  async tickOnce(): Promise<TickRecord> {
    const seq = ++this.seq;
    const startedAtMs = Date.now();
    // Less time left than the controller's end margin: runController runs exactly
    // one tick. The clock runs down as on Lambda, and middy's timeout is the
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
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      record = { seq, startedAtMs, finishedAtMs: Date.now(), error: message, ...(err instanceof ControllerFailedError ? { report: err.report } : {}) };
    }
    this.ticks.push(record);
    const keep = this.opts.keepTicks ?? 2_000;
    if (this.ticks.length > keep) this.ticks.splice(0, this.ticks.length - keep);
    this.opts.onTick?.(record);
    return record;
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
          this.schedule(Math.max(0, this.opts.intervalMs - (Date.now() - started)));
        });
    }, delayMs);
  }

  private remember(level: LogLevel, message: string): void {
    this.logs.push({ atMs: Date.now(), level, message });
    if (this.logs.length > LOG_LINES_KEPT) this.logs.shift();
  }
}
