/**
 * `npm run chaos [-- --only a,b] [--seed N] [--speed S] [--duration SECONDS] [--fuzz-runs N] [--out FILE] [--list]`
 *
 * Runs the chaos catalogue in the sandbox (sandbox/chaos/suite.ts) and prints
 * a table of fault, duration, invariant checks, violations, recovery time and
 * fuzz cases. The LAST line is the JSON summary tools outside the repository
 * read: {"faults": n, "checks": n, "violations": n, "fuzzCases": n}. The exit
 * code is 1 when any violation (or a fault that could not run) was found.
 */
import { writeFile } from 'node:fs/promises';
import { faultNames, formatTable, runChaos, summarise } from './suite.js';

// Local endpoints only: dummy credentials keep the SDK away from instance metadata.
process.env.AWS_ACCESS_KEY_ID ??= 'sandbox';
process.env.AWS_SECRET_ACCESS_KEY ??= 'sandbox';
process.env.AWS_REGION ??= 'eu-west-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

export class ChaosArgumentError extends Error {
  override readonly name = 'ChaosArgumentError';
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
  }
}

function parse(argv: string[]) {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new ChaosArgumentError(flag, 'needs a value');
    return v;
  };
  const num = (flag: string, min: number, max: number): number | undefined => {
    const v = value(flag);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new ChaosArgumentError(flag, `expected a number from ${min} to ${max}, got "${v.slice(0, 40)}"`);
    return n;
  };
  const known = new Set(['--only', '--seed', '--speed', '--duration', '--fuzz-runs', '--out', '--list']);
  for (const a of argv) if (a.startsWith('--') && !known.has(a)) throw new ChaosArgumentError(a, `unknown option (known: ${[...known].join(', ')})`);
  const only = value('--only');
  const seed = num('--seed', 0, 2 ** 31);
  const speed = num('--speed', 1, 50);
  const durationS = num('--duration', 5, 600);
  const fuzzRuns = num('--fuzz-runs', 1, 100_000);
  const out = value('--out');
  return {
    list: argv.includes('--list'),
    ...(only ? { only: only.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(speed !== undefined ? { speed } : {}),
    ...(durationS !== undefined ? { durationS } : {}),
    ...(fuzzRuns !== undefined ? { fuzzRuns } : {}),
    ...(out !== undefined ? { out } : {}),
  };
}

async function main(): Promise<number> {
  const args = parse(process.argv.slice(2));
  if (args.list) {
    for (const n of faultNames()) console.log(n);
    return 0;
  }
  const started = Date.now();
  console.error(`chaos: seed ${args.seed ?? 1}; each fault in a fresh sandbox, one after the other`);
  const rows = await runChaos({
    ...args,
    onRow: (r) =>
      console.error(
        `chaos: ${r.fault}: ${r.checks} checks, ${r.violations.length} violations${r.error ? `, ERROR ${r.error}` : ''}, recovery ${r.recoveryS ?? '-'} s, ${(r.wallMs / 1000).toFixed(1)} s wall`,
      ),
  });
  const summary = summarise(rows);
  for (const l of formatTable(rows)) console.log(l);
  console.log(`\n${rows.length} faults in ${((Date.now() - started) / 1000).toFixed(0)} s wall`);
  if (args.out) await writeFile(args.out, `${JSON.stringify({ summary, rows }, null, 2)}\n`);
  console.log(JSON.stringify(summary));
  return summary.violations > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof ChaosArgumentError ? `npm run chaos: ${err.message}` : err);
    console.log(JSON.stringify({ faults: 0, checks: 0, violations: 1, fuzzCases: 0 }));
    process.exitCode = 2;
  },
);
