/**
 * Named errors the AWS adapters throw. Step Functions `Retry`/`Catch` match on
 * `error.name`, so every name here is fixed and listed in ADAPTER_ERROR_NAMES;
 * a test keeps that list in sync with the ASL definitions.
 */
import type { LeaseRecord } from './control-table.js';

interface AdapterErrorOptions {
  resource: string;
  code: string;
  cause?: unknown;
}

abstract class AdapterError extends Error {
  /** The AWS resource (ARN, table, topic...) the failed call was about. */
  readonly resource: string;
  /** The original AWS error code (`ThrottlingException`, `UnauthorizedOperation`...). */
  readonly code: string;

  constructor(message: string, opts: AdapterErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.resource = opts.resource;
    this.code = opts.code;
  }
}

/** Throttling, 5xx or a dropped connection: worth retrying later. */
export class AwsTransientError extends AdapterError {
  override readonly name = 'AwsTransientError';
}

export class AwsAccessDeniedError extends AdapterError {
  override readonly name = 'AwsAccessDeniedError';
}

export class TargetGroupNotFoundError extends AdapterError {
  override readonly name = 'TargetGroupNotFoundError';
}

/** A Classic Load Balancer that does not exist (ELB answers `LoadBalancerNotFound`). */
export class LoadBalancerNotFoundError extends AdapterError {
  override readonly name = 'LoadBalancerNotFoundError';
}

export class TableNotFoundError extends AdapterError {
  override readonly name = 'TableNotFoundError';
}

/** Any other failed AWS call (validation, bad parameters...): retrying will not help. */
export class AwsCallError extends AdapterError {
  override readonly name = 'AwsCallError';
}

/** A control-table item exists but cannot be decoded (hand-edited or written by an incompatible version). */
export class ControlItemCorruptError extends AdapterError {
  override readonly name = 'ControlItemCorruptError';
}

/** An item would exceed DynamoDB's 400 KB item limit; refused before the call. */
export class ItemTooLargeError extends AdapterError {
  override readonly name = 'ItemTooLargeError';
}

/** Someone else holds an unexpired lease; carries the current holder. */
export class LeaseBusyError extends AdapterError {
  override readonly name = 'LeaseBusyError';
  readonly holder: LeaseRecord;

  constructor(holder: LeaseRecord, options?: { cause?: unknown }) {
    super(
      `lease ${holder.scope} of cluster ${holder.cluster} is held by ${holder.owner} until ${new Date(holder.expiresAtMs).toISOString()}` +
        (holder.purpose ? ` (${holder.purpose})` : ''),
      { resource: `lease:${holder.cluster}/${holder.scope}`, code: 'LeaseBusy', cause: options?.cause },
    );
    this.holder = holder;
  }
}

/** The holder's renewal found a successor waiting for the lease: release it and stop (not a failure). */
export class HandoverRequestedError extends AdapterError {
  override readonly name = 'HandoverRequestedError';
  constructor(
    readonly holder: LeaseRecord,
    readonly requester: string,
    options?: { cause?: unknown },
  ) {
    super(`lease ${holder.scope} of cluster ${holder.cluster}: ${requester} asked ${holder.owner} to hand it over`, {
      resource: `lease:${holder.cluster}/${holder.scope}`,
      code: 'HandoverRequested',
      cause: options?.cause,
    });
  }
}

export const ADAPTER_ERROR_NAMES = [
  'AwsTransientError',
  'AwsAccessDeniedError',
  'TargetGroupNotFoundError',
  'LoadBalancerNotFoundError',
  'TableNotFoundError',
  'AwsCallError',
  'ControlItemCorruptError',
  'ItemTooLargeError',
  'LeaseBusyError',
  'HandoverRequestedError',
] as const;
export type AdapterErrorName = (typeof ADAPTER_ERROR_NAMES)[number];

const THROTTLING_CODES = new Set([
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
]);

/** Failures below the HTTP layer; the SDK already retried them `maxAttempts` times. */
const NETWORK_CODES = new Set(['TimeoutError', 'RequestTimeout', 'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** The AWS error code: SDK v3 puts it in `name`; query-protocol errors (EC2, ELBv2) may also carry `Code`. */
export function awsErrorCode(err: unknown): string {
  if (typeof err !== 'object' || err === null) return 'Unknown';
  const e = err as SdkErrorShape;
  for (const c of [e.Code, e.name, e.code]) {
    if (typeof c === 'string' && c !== '' && c !== 'Error') return c;
  }
  return 'Unknown';
}

function codes(err: unknown): string[] {
  if (typeof err !== 'object' || err === null) return [];
  const e = err as SdkErrorShape;
  return [e.Code, e.name, e.code].filter((c): c is string => typeof c === 'string');
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const s = (err as SdkErrorShape).$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

function messageOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as SdkErrorShape).message === 'string') {
    return (err as { message: string }).message;
  }
  return String(err);
}

/** True when AWS throttled the call behind `err` (an SDK error, or an adapter error wrapping one). */
export function isThrottling(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    // codes() reads `code` too, so an adapter error's original AWS code counts.
    if (codes(e).some((c) => THROTTLING_CODES.has(c))) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** True when `err` is the given AWS error code (by name or Code). */
export function isAwsError(err: unknown, ...names: string[]): boolean {
  const cs = codes(err);
  return names.some((n) => cs.includes(n));
}

/**
 * Maps an SDK exception to one named adapter error. Adapter errors pass
 * through unchanged so a wrapper can call this on anything it catches.
 */
export function toAdapterError(err: unknown, resource: string): Error {
  if (err instanceof AdapterError) return err;
  const cs = codes(err);
  const code = awsErrorCode(err);
  const opts: AdapterErrorOptions = { resource, code, cause: err };
  const msg = `${resource}: ${code}: ${messageOf(err)}`;
  const status = httpStatus(err);

  if (cs.some((c) => THROTTLING_CODES.has(c)) || (status !== undefined && status >= 500) || cs.some((c) => NETWORK_CODES.has(c))) {
    return new AwsTransientError(msg, opts);
  }
  if (cs.some((c) => c.startsWith('AccessDenied') || c === 'UnauthorizedOperation')) {
    return new AwsAccessDeniedError(msg, opts);
  }
  // ELBv2 answers with Code `TargetGroupNotFound`; SDK v3 names the class `TargetGroupNotFoundException`.
  if (cs.some((c) => c === 'TargetGroupNotFound' || c === 'TargetGroupNotFoundException')) {
    return new TargetGroupNotFoundError(msg, opts);
  }
  // Classic ELB answers with Code `LoadBalancerNotFound`; SDK v3 names the class `AccessPointNotFoundException`.
  if (cs.some((c) => c === 'LoadBalancerNotFound' || c === 'AccessPointNotFoundException')) {
    return new LoadBalancerNotFoundError(msg, opts);
  }
  // DynamoDB's name for a missing (or not yet ACTIVE) table.
  if (cs.includes('ResourceNotFoundException')) {
    return new TableNotFoundError(msg, opts);
  }
  return new AwsCallError(msg, opts);
}
