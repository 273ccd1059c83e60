/**
 * `npm run bench -- --failover [--runs N] [--lb alb,classic,nlb-ip] [--only [lb:]scenario/alb/setup,...] [--speed S] [--jobs J]
 *                             [--out file] [--seed N] [--default-routing active-only|all-unsealed] [--markdown]`
 *
 * The failover benchmark (issue 7, contract DESIGN §4.6): kill-active and
 * step-down × ALB `aws-default` and `aggressive` × setups `classic` (every node
 * registered, matcher 200, no controller), `active-only`, `all-unsealed`
 * (controller, matcher 200) and `default` (the config schema's defaults with the
 * README's recommended health check, RECOMMENDED_TARGET_GROUP). Vault's real
 * DynamoDB HA timings and the controller exactly as serverless.yml deploys it
 * (schedule, timeout, reserved concurrency, event age), all compressed by
 * `--speed`; the fault at a random phase; each run in a fresh sandbox; runs
 * spread over child processes, at most one per core.
 *
 * `--lb` (default `alb`) adds the balancer dimension: `classic` (a Classic Load
 * Balancer: no fail-open, HealthyThreshold passes for a new instance, its own
 * default and recommended health checks) and `nlb-ip` (an NLB target group of ip
 * targets). Their cells are named `classic:kill-active/aws-default/default`; an
 * `--only` pattern without a prefix applies to every balancer of `--lb`.
 *
 * Stdout: one row per cell with its ratio to classic, then met / not met for
 * every target. JSON: bench/results/failover-<date>.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readControllerDeployment, type LambdaDeployment } from '../sandbox/controller-loop.js';
import { RECOMMENDED_TARGET_GROUP } from '../sandbox/environment.js';
import {
  ALB_SETTINGS,
  CLIENT_INTERVAL_MS,
  LB_SETTINGS,
  DEFAULT_PROBE_INTERVAL_SECONDS,
  DEFAULT_ROUTING,
  MAX_OBSERVE_MS,
  setupSpec,
  type RunJob,
  type RunOutcome,
} from './failover-run.js';
import {
  BENCH_ALBS,
  BENCH_LBS,
  BENCH_SCENARIOS,
  BENCH_SETUPS,
  ISSUE7_TARGETS,
  cellName,
  evaluateTargets,
  lbOf,
  summarizeCell,
  withRatios,
  type BenchLb,
  type CellKey,
  type CellSummary,
  type Stats,
  type TargetResult,
} from './failover-stats.js';

/** Default time compression: see README "Performance" for the check that medians agree with a slower speed. */
export const DEFAULT_SPEED = 8;
export const DEFAULT_RUNS = 5;

export class BenchArgumentError extends Error {
  override readonly name = 'BenchArgumentError';
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
  }
}

export interface FailoverArgs {
  runs: number;
  speed: number;
  jobs: number;
  cells: CellKey[];
  /** `--lb`: the balancers benchmarked (default alb). */
  lbs: BenchLb[];
  out: string;
  seed: number;
  /** `--default-routing`: try the `default` setup with another routing than the schema's default. */
  defaultRouting: 'active-only' | 'all-unsealed';
}

/** Every cell of the given balancers (ALB cells carry no `lb`, as before the dimension existed). */
export function allCells(lbs: readonly BenchLb[] = ['alb']): CellKey[] {
  return lbs.flatMap((lb) =>
    BENCH_SCENARIOS.flatMap((scenario) => BENCH_ALBS.flatMap((alb) => BENCH_SETUPS.map((setup) => (lb === 'alb' ? { scenario, alb, setup } : { scenario, alb, setup, lb })))),
  );
}

/**
 * `--only kill-active/aggressive/default,step-down/*\/classic`: `*` matches any value of a part;
 * a `classic:` (or `alb:`, `nlb-ip:`) prefix limits a pattern to that balancer.
 */
export function selectCells(only: string | undefined, lbs: readonly BenchLb[] = ['alb']): CellKey[] {
  const cells = allCells(lbs);
  if (only === undefined) return cells;
  const patterns = only.split(',').map((p) => p.trim()).filter(Boolean);
  const chosen = cells.filter((c) =>
    patterns.some((pattern) => {
      const colon = pattern.indexOf(':');
      const lb = colon === -1 ? undefined : pattern.slice(0, colon);
      const [s, a, u] = (colon === -1 ? pattern : pattern.slice(colon + 1)).split('/');
      return (
        (lb === undefined || lb === '*' || lb === lbOf(c)) &&
        (s === '*' || s === c.scenario) &&
        (a === undefined || a === '*' || a === c.alb) &&
        (u === undefined || u === '*' || u === c.setup)
      );
    }),
  );
  if (chosen.length === 0) throw new BenchArgumentError('--only', `no cell matches "${only}" (cells: ${cells.map(cellName).join(', ')})`);
  return chosen;
}

export function parseFailoverArgs(argv: readonly string[], now = new Date()): FailoverArgs {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i === -1) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new BenchArgumentError(name, 'needs a value');
    return v;
  };
  const num = (name: string, fallback: number, min: number, max: number): number => {
    const v = value(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new BenchArgumentError(name, `must be a number in [${min}, ${max}], got "${v}"`);
    return n;
  };
  const date = now.toISOString().slice(0, 10);
  const lbs = lbArg(value('--lb'));
  return {
    runs: Math.round(num('--runs', DEFAULT_RUNS, 1, 100)),
    speed: num('--speed', DEFAULT_SPEED, 1, 50),
    jobs: Math.round(num('--jobs', Math.max(1, availableParallelism()), 1, 64)),
    cells: selectCells(value('--only'), lbs),
    lbs,
    out: value('--out') ?? fileURLToPath(new URL(`./results/failover-${date}.json`, import.meta.url)),
    seed: Math.round(num('--seed', now.getTime() % 1_000_000, 0, 2 ** 31)),
    defaultRouting: routingArg(value('--default-routing')),
  };
}

function lbArg(v: string | undefined): BenchLb[] {
  if (v === undefined) return ['alb'];
  const lbs = v.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = lbs.find((x) => !(BENCH_LBS as readonly string[]).includes(x));
  if (bad !== undefined || lbs.length === 0) throw new BenchArgumentError('--lb', `must be a comma-separated list of ${BENCH_LBS.join(', ')}, got "${v}"`);
  return [...new Set(lbs)] as BenchLb[];
}

function routingArg(v: string | undefined): 'active-only' | 'all-unsealed' {
  if (v === undefined) return DEFAULT_ROUTING;
  if (v === 'active-only' || v === 'all-unsealed') return v;
  throw new BenchArgumentError('--default-routing', `must be active-only or all-unsealed, got "${v}"`);
}

/* ------------------------------------------------------------------ running */

interface Worker {
  child: ChildProcess;
  busy: boolean;
}

/**
 * Runs the jobs over at most `jobs` child processes; a job whose child dies is
 * reported as failed. Each child first runs one throwaway job: the first sandbox
 * of a process loads and compiles code while it runs, which at a compressed
 * time scale stalls it for seconds of simulated time (measured: first runs 3–7×
 * slower than the rest).
 */
async function runJobs(jobs: RunJob[], parallel: number, onOutcome: (o: RunOutcome, done: number) => void): Promise<RunOutcome[]> {
  const queue = [...jobs];
  const outcomes: RunOutcome[] = [];
  const workerFile = fileURLToPath(new URL('./failover-worker.ts', import.meta.url));
  const spawn = (): Worker => ({ child: fork(workerFile, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }), busy: false });
  const count = Math.min(parallel, queue.length);
  await Promise.all(
    Array.from({ length: count }, async () => {
      let w = spawn();
      let primed = false;
      for (let guard = 0; guard < 2 * jobs.length + 2; guard++) {
        const prime = !primed;
        const job = prime ? { ...jobs[0]!, run: -1 } : queue.shift();
        if (job === undefined) break;
        const outcome = await new Promise<RunOutcome>((resolve) => {
          const onMessage = (m: { kind: string; outcome?: RunOutcome }): void => {
            if (m.kind !== 'outcome' || !m.outcome) return;
            cleanup();
            resolve(m.outcome);
          };
          const onExit = (code: number | null): void => {
            cleanup();
            w = spawn();
            primed = false;
            resolve({ cell: job.cell, run: job.run, seed: job.seed, speed: job.speed, error: `worker exited (${code})`, wallMs: 0 });
          };
          const cleanup = (): void => {
            w.child.off('message', onMessage);
            w.child.off('exit', onExit);
          };
          w.child.on('message', onMessage);
          w.child.on('exit', onExit);
          w.child.send({ kind: 'run', job });
        });
        if (prime) {
          // A child that died while priming was replaced (primed is false again): prime the new one.
          if (outcome.error === undefined || !outcome.error.startsWith('worker exited')) primed = true;
          continue;
        }
        outcomes.push(outcome);
        onOutcome(outcome, outcomes.length);
      }
      w.child.send({ kind: 'exit' });
      await new Promise<void>((r) => (w.child.exitCode !== null ? r() : w.child.once('exit', () => r())));
    }),
  );
  return outcomes;
}

/* ------------------------------------------------------------------ output */

const sec = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '-' : x.toFixed(1));
const statCell = (s: Stats | null, k: keyof Stats): string => sec(s?.[k]);

export function formatTable(cells: readonly CellSummary[]): string[] {
  const header = ['lb', 'scenario', 'alb', 'setup', 'runs', 'RTO med', 'p95', 'min', 'max', '×classic', 'failed', 'elected', 'registered', 'ALB-healthy', 'detect p95', 'empty', '2 actives'];
  const rows = cells.map((c) => [
    lbOf(c),
    c.scenario,
    c.alb,
    c.setup,
    String(c.runs) + (c.unrecoveredRuns ? ` (${c.unrecoveredRuns} unrec.)` : ''),
    statCell(c.clientRtoSeconds, 'median'),
    statCell(c.clientRtoSeconds, 'p95'),
    statCell(c.clientRtoSeconds, 'min'),
    statCell(c.clientRtoSeconds, 'max'),
    c.ratioToClassic === null ? '-' : `×${c.ratioToClassic.toFixed(2)}`,
    Number.isFinite(c.failedRequests.median) ? String(c.failedRequests.median) : '-',
    statCell(c.electedSeconds, 'median'),
    statCell(c.registeredSeconds, 'median'),
    statCell(c.albHealthySeconds, 'median'),
    statCell(c.detectionSeconds, 'p95'),
    String(c.emptyTargetGroupSamples),
    String(c.twoActivesRoutedSamples),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((v, i) => (i < 4 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function formatTargets(results: readonly TargetResult[]): string[] {
  const out: string[] = [];
  let last = '';
  for (const r of results) {
    if (r.target !== last) {
      out.push(`${r.target}:`);
      last = r.target;
    }
    out.push(`  ${r.met ? 'met    ' : 'NOT MET'}  ${r.cell.padEnd(32)} ${r.detail}${r.why ? ` — ${r.why}` : ''}`);
  }
  return out;
}

/** The cell table as Markdown (README "Performance"): `npm run bench -- --failover --markdown`. */
export function formatMarkdown(cells: readonly CellSummary[]): string[] {
  const out = [
    '| LB | scenario | health check | setup | RTO median | p95 | min–max | × classic | failed requests (median) | elected | registered | LB-healthy | detection p95 | empty TG samples | two actives |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cells) {
    const r = c.clientRtoSeconds;
    out.push(
      `| ${lbOf(c)} | ${c.scenario} | ${c.alb} | ${c.setup} | ${sec(r?.median)} | ${sec(r?.p95)} | ${sec(r?.min)}–${sec(r?.max)} | ${c.ratioToClassic === null ? '–' : `×${c.ratioToClassic.toFixed(2)}`} | ${c.failedRequests.median} | ${sec(c.electedSeconds?.median)} | ${sec(c.registeredSeconds?.median)} | ${sec(c.albHealthySeconds?.median)} | ${sec(c.detectionSeconds?.p95)} | ${c.emptyTargetGroupSamples} | ${c.twoActivesRoutedSamples} |`,
    );
  }
  return out;
}

export interface FailoverResults {
  generatedAt: string;
  durationSeconds: number;
  speed: number;
  runsPerCell: number;
  seed: number;
  deployment: LambdaDeployment;
  settings: {
    alb: typeof ALB_SETTINGS;
    /** The `alb` axis per balancer (`--lb`). */
    lb: typeof LB_SETTINGS;
    setups: Record<string, ReturnType<typeof setupSpec>>;
    recommendedTargetGroup: typeof RECOMMENDED_TARGET_GROUP;
    defaultRouting: string;
    probeIntervalSeconds: number;
    clientIntervalMs: number;
  };
  cells: CellSummary[];
  targets: TargetResult[];
  runs: RunOutcome[];
}

export async function runFailoverBench(argv: readonly string[]): Promise<FailoverResults> {
  const args = parseFailoverArgs(argv);
  const deployment = readControllerDeployment();
  const started = Date.now();
  const jobs: RunJob[] = [];
  // Interleaved (run 0 of every cell first): a partial run still covers every cell.
  for (let run = 0; run < args.runs; run++) {
    for (const [i, cell] of args.cells.entries()) {
      jobs.push({ cell, run, seed: args.seed + run * 1_000 + i, speed: args.speed, deployment, defaultRouting: args.defaultRouting });
    }
  }
  console.log(
    `failover bench (${args.lbs.join(', ')}): ${args.cells.length} cells × ${args.runs} runs at ×${args.speed} on ${Math.min(args.jobs, jobs.length)} processes; ` +
      `controller as deployed: rate(${deployment.schedulePeriodSeconds} s), timeout ${deployment.timeoutSeconds} s, reserved concurrency ${deployment.reservedConcurrency}, ` +
      `maximumEventAge ${deployment.maximumEventAgeSeconds} s; default routing ${args.defaultRouting}${args.defaultRouting === DEFAULT_ROUTING ? '' : ` (--default-routing; the schema's is ${DEFAULT_ROUTING})`}, recommended matcher ${RECOMMENDED_TARGET_GROUP.matcher}; seed ${args.seed}`,
  );
  const outcomes = await runJobs(jobs, args.jobs, (o, done) => {
    const m = o.metrics;
    const what = o.error ? `ERROR ${o.error}` : `RTO ${sec((m?.clientRtoMs ?? NaN) / 1000)} s${m?.recovered ? '' : ' (not recovered)'}, ${m?.failedRequests} failed`;
    console.log(`  [${String(done).padStart(3)}/${jobs.length}] ${cellName(o.cell).padEnd(32)} run ${o.run + 1}: ${what} (${(o.wallMs / 1000).toFixed(0)} s wall)`);
  });
  const cells = withRatios(
    args.cells.map((cell) =>
      summarizeCell(
        cell,
        outcomes.filter((o) => cellName(o.cell) === cellName(cell) && o.metrics).map((o) => o.metrics!),
      ),
    ),
  );
  const targets = evaluateTargets(cells, { ...ISSUE7_TARGETS, probeIntervalSeconds: DEFAULT_PROBE_INTERVAL_SECONDS });
  const results: FailoverResults = {
    generatedAt: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    speed: args.speed,
    runsPerCell: args.runs,
    seed: args.seed,
    deployment,
    settings: {
      alb: ALB_SETTINGS,
      lb: LB_SETTINGS,
      setups: Object.fromEntries(BENCH_SETUPS.map((s) => [s, setupSpec(s, args.defaultRouting)])),
      recommendedTargetGroup: RECOMMENDED_TARGET_GROUP,
      defaultRouting: args.defaultRouting,
      probeIntervalSeconds: DEFAULT_PROBE_INTERVAL_SECONDS,
      clientIntervalMs: CLIENT_INTERVAL_MS,
    },
    cells,
    targets,
    runs: outcomes,
  };
  console.log('');
  for (const l of formatTable(cells)) console.log(l);
  console.log(
    `(seconds, real-world time, medians unless named; client-visible RTO = fault → the first request after which every request succeeded; ` +
      `elected / registered / ALB-healthy = fault → the new active elected / registered / healthy, "-" when not within the observation (capped at ${MAX_OBSERVE_MS / 1000} s); ` +
      `detection = fault → the controller's next probe)`,
  );
  console.log('');
  for (const l of formatTargets(targets)) console.log(l);
  if (argv.includes('--markdown')) {
    console.log('');
    for (const l of formatMarkdown(cells)) console.log(l);
  }
  const errors = outcomes.filter((o) => o.error);
  if (errors.length) console.log(`\n${errors.length} run(s) failed: ${errors.map((o) => `${cellName(o.cell)}#${o.run + 1}: ${o.error}`).join('; ')}`);
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote ${args.out} in ${results.durationSeconds} s`);
  const { writeFailoverCharts } = await import('./charts/render.js');
  for (const c of await writeFailoverCharts(results, args.out)) console.log(`wrote ${c.svg} and ${c.png}`);
  return results;
}
