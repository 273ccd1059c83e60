/**
 * Text that came from outside (a lock item anyone with write access to Vault's
 * table can fill, a node's leader_address) is quoted in reasons, logs, SNS and
 * stored observations only up to a bound: a 400 KB Identity must not become a
 * 400 KB log line. The full value is still used where it must be exact (the
 * condition of a conditional delete). Pure.
 */
export const MAX_QUOTED_CHARS = 80;

export function quoted(value: string, max = MAX_QUOTED_CHARS): string {
  return value.length <= max ? value : `${value.slice(0, max)}…(${value.length} chars)`;
}
