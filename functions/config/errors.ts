import type { core } from 'zod/mini';

/** Path as an operator would write it: clusters[0].loadBalancer.targetGroupArn */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Longest message kept per issue: a hostile value never makes a megabyte error or log line. */
export const MAX_ISSUE_CHARS = 300;

function describe(issue: core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    // zod does not keep the input unless asked; its message names what it received.
    const received = /received (\w+)/.exec(issue.message)?.[1];
    if (received === undefined || received === 'undefined') return `Required (expected ${issue.expected})`;
    return `expected ${issue.expected}, got ${received}`;
  }
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.slice(0, 5).map((k) => `"${bounded(k, 64)}"`);
    return `unknown field(s) ${keys.join(', ')}${issue.keys.length > 5 ? ` and ${issue.keys.length - 5} more` : ''}`;
  }
  return issue.message;
}

function bounded(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… (${s.length} characters)` : s;
}

/** One line per invalid field, each naming the field. */
export function formatIssues(issues: ReadonlyArray<core.$ZodIssue>): string[] {
  return issues.slice(0, 50).map((i) => bounded(`${bounded(formatPath(i.path), 120)}: ${describe(i)}`, MAX_ISSUE_CHARS));
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: string[],
    options?: { cause?: unknown },
  ) {
    super(`invalid configuration from ${source}: ${problems.join('; ')}`, options);
  }
}

/** A state machine input that fails validation. The ASL matches this name. */
export class InvalidInputError extends Error {
  override readonly name = 'InvalidInputError';
  constructor(readonly problems: string[]) {
    super(`invalid input: ${problems.join('; ')}`);
  }
}
