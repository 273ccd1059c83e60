/** Helpers shared by the contract tests of the sandbox's local AWS endpoints. */
import assert from 'node:assert/strict';

/** Polls `probe` until `done` holds; bounded in attempts and time. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 6_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    last = await probe();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

/** Every key path of a parsed SDK output, with list indexes collapsed to `[]`. */
export function keyPaths(v: unknown, prefix = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(v)) {
    for (const item of v) for (const p of keyPaths(item, `${prefix}[]`)) out.add(p);
  } else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    for (const [k, child] of Object.entries(v)) {
      if (k === '$metadata') continue;
      out.add(`${prefix}.${k}`);
      for (const p of keyPaths(child, `${prefix}.${k}`)) out.add(p);
    }
  }
  return out;
}
