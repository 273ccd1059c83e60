/**
 * AWS faults for the chaos run, injected as SDK middleware on the clients the
 * controller's deps factory hands every invocation (ControllerLoop.instrument),
 * so the REAL controller meets them exactly where it would on AWS:
 *
 * - `inspect` (step `initialize`, once per `send`): sees every call with its
 *   input before it leaves, so the invariant monitor can judge a mutation
 *   against the world at the moment it is made, and after it, whether it took
 *   effect;
 * - `inject` (step `finalizeRequest`, priority low: inside the SDK's retry
 *   middleware): fails an attempt with an error shaped as the service sends
 *   it, so the SDK's own retries (maxAttempts, backoff with jitter) and the
 *   adapters' error mapping see a throttle, a 5xx or a dropped connection as
 *   they would on AWS.
 *
 * Error shapes: the `name`/`$fault`/`$metadata.httpStatusCode` the SDK's
 * deserializers give a service exception (AWS SDK for JavaScript v3,
 * "Error handling"); throttling codes as each service names them (EC2
 * `RequestLimitExceeded`, ELBv2 `Throttling`, DynamoDB
 * `ThrottlingException`/`ProvisionedThroughputExceededException`, SNS
 * `Throttled`), a network failure as Node's `ECONNREFUSED`.
 */
import { StandardRetryStrategy } from '@smithy/core/retry';
import { DEFAULT_MAX_ATTEMPTS } from '../../functions/adapters/aws-clients.js';
import type { ControllerSdkClients } from '../controller-loop.js';

export type ServiceName = 'ec2' | 'elbv2' | 'dynamodb' | 'sns';

export interface AwsCall {
  service: ServiceName;
  /** The operation, e.g. `RegisterTargets` (the command class name without `Command`). */
  operation: string;
  input: Record<string, unknown>;
  atMs: number;
}

export interface AwsFaultRule {
  /** For the report. */
  label: string;
  service?: ServiceName;
  /** Which calls (default: every call of `service`). */
  matches?: (call: AwsCall) => boolean;
  /** Share of matching attempts that fail, in [0, 1]. */
  probability: number;
  error: (call: AwsCall) => Error;
}

export interface CallObserver {
  /** Before the call leaves (the world as it is when the caller decided). */
  before?(call: AwsCall): void;
  /** After it settled: `ok` false when the call failed (injected or not). */
  after?(call: AwsCall, ok: boolean): void;
}

/** A service error as the SDK's deserializer builds it. */
export function serviceError(code: string, httpStatusCode: number, message = code): Error {
  return Object.assign(new Error(message), {
    name: code,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, attempts: 1, totalRetryDelay: 0 },
  });
}

/** A connection that could not be made (the endpoint is unreachable). */
export function unreachableError(host: string): Error {
  return Object.assign(new Error(`connect ECONNREFUSED ${host}`), { name: 'Error', code: 'ECONNREFUSED' });
}

export const THROTTLE_CODE: Record<ServiceName, { code: string; status: number }> = {
  ec2: { code: 'RequestLimitExceeded', status: 503 },
  elbv2: { code: 'Throttling', status: 400 },
  dynamodb: { code: 'ThrottlingException', status: 400 },
  sns: { code: 'Throttled', status: 400 },
};

export const SERVER_ERROR_CODE: Record<ServiceName, { code: string; status: number }> = {
  ec2: { code: 'InternalError', status: 500 },
  elbv2: { code: 'InternalFailure', status: 500 },
  dynamodb: { code: 'InternalServerError', status: 500 },
  sns: { code: 'InternalError', status: 500 },
};

export class AwsFaultInjector {
  private rules: AwsFaultRule[] = [];
  private readonly observers = new Set<CallObserver>();
  /** Calls sent (one per `send`), attempts made (retries included) and attempts failed by a rule, by rule label. */
  calls = 0;
  attempts = 0;
  readonly injected = new Map<string, number>();

  constructor(private readonly random: () => number) {}

  /**
   * Adds the inspect and inject middleware to every client (once per client).
   * With `speed`, the SDK's own retry backoff (standard mode: full jitter on an
   * exponential from 50 ms, from 1 s for throttling, capped at 20 s) is
   * compressed like every other duration in the sandbox: uncompressed, one
   * throttled call at ×20 would stall a tick for a real-world minute.
   */
  attach(clients: ControllerSdkClients, opts: { speed?: number } = {}): void {
    if (opts.speed !== undefined && opts.speed !== 1) {
      for (const client of Object.values(clients)) compressRetryBackoff(client, opts.speed, this.random);
    }
    const byService: Array<[ServiceName, { middlewareStack: ControllerSdkClients['ec2']['middlewareStack'] }]> = [
      ['ec2', clients.ec2],
      ['elbv2', clients.elbv2 as never],
      ['dynamodb', clients.ddb as never],
      ['sns', clients.sns as never],
    ];
    for (const [service, client] of byService) {
      const stack = client.middlewareStack as unknown as MiddlewareStackLike;
      stack.add(
        (next, context) => async (args) => {
          const call = this.callOf(service, context, args);
          this.calls += 1;
          for (const o of this.observers) o.before?.(call);
          try {
            const out = await next(args);
            for (const o of this.observers) o.after?.(call, true);
            return out;
          } catch (err) {
            for (const o of this.observers) o.after?.(call, false);
            throw err;
          }
        },
        { step: 'initialize', name: 'chaosInspect', priority: 'high' },
      );
      stack.add(
        (next, context) => async (args) => {
          const call = this.callOf(service, context, args);
          this.attempts += 1;
          for (const rule of this.rules) {
            if (rule.service !== undefined && rule.service !== service) continue;
            if (rule.matches && !rule.matches(call)) continue;
            if (this.random() >= rule.probability) continue;
            this.injected.set(rule.label, (this.injected.get(rule.label) ?? 0) + 1);
            throw rule.error(call);
          }
          return next(args);
        },
        { step: 'finalizeRequest', name: 'chaosInject', priority: 'low' },
      );
    }
  }

  observe(o: CallObserver): () => void {
    this.observers.add(o);
    return () => this.observers.delete(o);
  }

  set(rules: AwsFaultRule[]): void {
    this.rules = [...rules];
  }

  clear(): void {
    this.rules = [];
  }

  get injectedTotal(): number {
    let n = 0;
    for (const v of this.injected.values()) n += v;
    return n;
  }

  private callOf(service: ServiceName, context: { commandName?: string }, args: { input?: unknown }): AwsCall {
    const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
    const input = typeof args.input === 'object' && args.input !== null ? (args.input as Record<string, unknown>) : {};
    return { service, operation, input, atMs: Date.now() };
  }
}

const MAXIMUM_RETRY_DELAY_MS = 20_000;

function compressRetryBackoff(client: { config: unknown }, speed: number, random: () => number): void {
  let baseMs = 50;
  const strategy = new StandardRetryStrategy({
    maxAttempts: DEFAULT_MAX_ATTEMPTS,
    backoff: {
      setDelayBase: (ms: number) => {
        baseMs = ms;
      },
      computeNextBackoffDelay: (attempt: number) => Math.floor((random() * Math.min(baseMs * 2 ** attempt, MAXIMUM_RETRY_DELAY_MS)) / speed),
    },
  });
  (client.config as { retryStrategy: () => Promise<unknown> }).retryStrategy = async () => strategy;
}

/* The subset of smithy's MiddlewareStack used here (typed loosely: one stack type per client). */
type Handler = (args: { input?: unknown; request?: unknown }) => Promise<unknown>;
interface MiddlewareStackLike {
  add(
    middleware: (next: Handler, context: { commandName?: string }) => Handler,
    options: { step: 'initialize' | 'serialize' | 'build' | 'finalizeRequest' | 'deserialize'; name: string; priority?: 'high' | 'normal' | 'low' },
  ): void;
}

/** DynamoDB calls on one table. */
export function onTable(table: string, operations?: readonly string[]): (call: AwsCall) => boolean {
  return (call) => {
    // The controller reads its items in one BatchGetItem across tables: a GetItem fault covers it too.
    const batched = call.operation === 'BatchGetItem' && Object.hasOwn((call.input['RequestItems'] ?? {}) as object, table);
    if (batched) return operations === undefined || operations.includes('GetItem') || operations.includes('BatchGetItem');
    return call.input['TableName'] === table && (operations === undefined || operations.includes(call.operation));
  };
}

/** Control-table writes that are bookkeeping (state, observations, verdict history), not the lease. */
export function isBookkeepingWrite(table: string): (call: AwsCall) => boolean {
  return (call) => {
    if (call.input['TableName'] !== table) return false;
    if (!['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'].includes(call.operation)) return false;
    const item = (call.input['Item'] ?? call.input['Key']) as Record<string, { S?: string }> | undefined;
    const sk = item?.['sk']?.S ?? '';
    return !sk.startsWith('lease#');
  };
}
