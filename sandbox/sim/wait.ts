/** Bounded polling: every wait in the sandbox and its tests has a count and a time limit. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly description: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${description}`, options);
  }
}

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  description?: string;
}

/** Polls `cond` until it returns a truthy value (returned) or the time runs out. */
export async function waitFor<T>(cond: () => T | Promise<T>, opts: WaitOptions): Promise<NonNullable<T>> {
  const intervalMs = Math.max(1, opts.intervalMs ?? 10);
  const deadline = Date.now() + opts.timeoutMs;
  const maxPolls = Math.ceil(opts.timeoutMs / intervalMs) + 1;
  let lastError: unknown;
  for (let poll = 0; poll < maxPolls; poll++) {
    try {
      const value = await cond();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
  throw new WaitTimeoutError(opts.description ?? 'condition', opts.timeoutMs, lastError === undefined ? undefined : { cause: lastError });
}
