/**
 * Exit codes of `vault-ha` (README "Operate" > "Exit codes"), and the errors
 * that carry them. Every command ends in exactly one of these.
 */
import { ConfigError } from '../../functions/config/errors.js';

export const EXIT = {
  /** Done; for `status`, every cluster shown is `healthy`. */
  ok: 0,
  /** The operation ran and failed (execution FAILED/ABORTED, a config check found problems) or `status` saw a verdict other than healthy. */
  failed: 1,
  /** Bad arguments or an invalid config: nothing was done. */
  usage: 2,
  /** A cluster, slot, table, state machine, execution or lease that does not exist. */
  notFound: 3,
  /** Refused for safety: the lease is held by an execution that still runs, another operation holds the cluster, the cluster is paused. */
  refused: 4,
  /** A bounded wait ran out; the execution goes on (follow it with `vault-ha status`). */
  timeout: 5,
  /** AWS could not be asked: credentials, permissions, network, throttling. */
  aws: 6,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** One line telling the operator what to do next. */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string, hint?: string) {
    super(EXIT.usage, message, hint);
  }
}

export class NotFoundError extends CliError {
  override readonly name = 'NotFoundError';
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(EXIT.notFound, message, hint, options);
  }
}

export class RefusedError extends CliError {
  override readonly name = 'RefusedError';
  constructor(message: string, hint?: string) {
    super(EXIT.refused, message, hint);
  }
}

export class WaitTimeoutError extends CliError {
  override readonly name = 'WaitTimeoutError';
  constructor(message: string, hint?: string) {
    super(EXIT.timeout, message, hint);
  }
}

export class AwsUnavailableError extends CliError {
  override readonly name = 'AwsUnavailableError';
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(EXIT.aws, message, hint, options);
  }
}

const NOT_FOUND_NAMES = new Set([
  'TableNotFoundError',
  'TargetGroupNotFoundError',
  'ResourceNotFoundException',
  'StateMachineDoesNotExist',
  'ExecutionDoesNotExist',
  'ParameterNotFound',
  'TargetGroupNotFound',
]);

/** Any error a command let escape → the CliError it means (exit code and message). */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ConfigError && err.problems.some((p) => /cannot read (file|parameter)/.test(p))) {
    return new NotFoundError(`configuration from ${err.source}: ${err.problems.join('; ')}`, 'check VAULT_HA_CONFIG_FILE / VAULT_HA_CONFIG_PARAMETER, or pass --config FILE', { cause: err });
  }
  if (err instanceof ConfigError) {
    return new CliError(EXIT.usage, `invalid configuration from ${err.source}:\n  ${err.problems.join('\n  ')}`, 'fix the fields named above (vault-ha config check FILE explains each)');
  }
  const e = err as { name?: unknown; message?: unknown; code?: unknown; $metadata?: unknown };
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' ? e.code : '';
  if (NOT_FOUND_NAMES.has(name) || NOT_FOUND_NAMES.has(code)) return new NotFoundError(`${name}: ${message}`, undefined, { cause: err });
  if (name === 'CredentialsProviderError' || /credential/i.test(name)) {
    return new AwsUnavailableError(`no AWS credentials: ${message}`, 'set AWS_PROFILE (or run aws sso login), or point the CLI at the sandbox with --sandbox', { cause: err });
  }
  if (/AccessDenied|UnauthorizedOperation|AuthorizationError|UnrecognizedClient|InvalidClientTokenId|ExpiredToken/.test(`${name} ${code}`)) {
    return new AwsUnavailableError(`${name}: ${message}`, 'the caller lacks a permission README "Operate" lists for this command', { cause: err });
  }
  if (e?.$metadata !== undefined || /^Aws|ECONN|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|TimeoutError|Throttl/.test(`${name} ${code} ${message}`)) {
    return new AwsUnavailableError(`${name}: ${message}`, undefined, { cause: err });
  }
  return new CliError(EXIT.failed, `${name}: ${message}`, undefined, { cause: err });
}
