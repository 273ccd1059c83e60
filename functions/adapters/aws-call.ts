/**
 * One AWS call with the project's error mapping: failures become the named
 * adapter errors (throttling and 5xx AwsTransientError, which the ASL retries),
 * keeping the AWS code and the cause. Shared by every workflow adapter.
 */
import { AwsTransientError, awsErrorCode, toAdapterError } from './errors.js';

/**
 * AWS error code of a failure: the original code kept on an adapter error, or
 * the SDK exception's own code.
 */
export function errorCode(e: unknown): string {
  if (typeof e === 'object' && e !== null && typeof (e as { resource?: unknown }).resource === 'string') {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return awsErrorCode(e);
}

/** Throttling, 5xx and dropped connections (the ASL retries AwsTransientError with backoff). */
export function isTransientAwsError(e: unknown): boolean {
  return e instanceof AwsTransientError || toAdapterError(e, '') instanceof AwsTransientError;
}

/** Runs one AWS call; failures become the named adapter errors, keeping the AWS code and the cause. */
export async function awsCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw toAdapterError(e, operation);
  }
}
