/**
 * The failover drill's RTOs per scenario in the sandbox, as the README's
 * "Run a failover drill" reports them: `./node_modules/.bin/node --import tsx
 * bench/drill-rto.ts [--runs 5] [--speed 1] [--only kill-active,step-down] [--out FILE]`
 * (Node 22: the project's own node).
 *
 * Each run: a fresh sandbox with the README's recommended target group
 * (RECOMMENDED_TARGET_GROUP: matcher 200,429, 5 s interval, 3 s timeout, 2/2
 * thresholds, 15 s deregistration delay), the shipped routing (the config
 * schema's default), the controller on its deployed schedule (EventBridge
 * every minute, ticks every probeIntervalSeconds, lease handover), DynamoDB HA
 * with Vault's lock timings, and a random warm-up so the fault lands at a
 * random phase of the health checks, lock renewals and ticks (as the failover
 * benchmark does). Then ONE drill of the scenario (sandbox/drill.ts: the real
 * definition and task code, client requests through the listener), its report
 * read for the client-visible and routed RTOs, the failed requests and the
 * restore. `--speed 1` runs Vault's and AWS's real timings; a higher speed
 * compresses every duration (the benchmark's approach) and the figures are
 * scaled back to real-world seconds.
 */
import { writeFile, mkdir } from 'node:fs/promises';
import { routingSchema } from '../functions/config/schema.js';
import type { DrillScenario } from '../functions/core/drill.js';
import { DRILL_SCENARIOS } from '../functions/core/drill.js';
import { RECOMMENDED_TARGET_GROUP, Sandbox } from '../sandbox/environment.js';
import { runFailoverDrill } from '../sandbox/drill.js';
import { drillReportOf } from '../sandbox/scenarios.js';
import { sleep } from '../sandbox/sim/index.js';

interface RunFigures {
  scenario: DrillScenario;
  run: number;
  status: string;
  result: string;
  passed: boolean | null;
  restored: boolean | null;
  clientRtoSeconds: number | null;
  routedRtoSeconds: number | null;
  failedRequests: number | null;
  restoreSeconds: number | null;
  transitions: number;
  error?: string;
  wallMs: number;
}

function args(argv: string[]): { runs: number; speed: number; only: DrillScenario[]; out: string } {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = (get('only')?.split(',') ?? [...DRILL_SCENARIOS]) as DrillScenario[];
  for (const s of only) if (!(DRILL_SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}`);
  const date = new Date().toISOString().slice(0, 10);
  return { runs: Number(get('runs') ?? 5), speed: Number(get('speed') ?? 1), only, out: get('out') ?? `bench/results/drill-${date}.json` };
}

async function steady(sb: Sandbox, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    const a = sb.activeSlot();
    const id = a ? sb.instanceOf(a.name) : undefined;
    const c = sb.controller.last?.report?.clusters[0];
    if (id !== undefined && c?.verdict.kind === 'healthy' && sb.targetState(id) === 'healthy') return;
    await sleep(Math.max(20, sb.sampleIntervalMs));
  }
  throw new Error('no steady state');
}

async function runOnce(scenario: DrillScenario, run: number, speed: number): Promise<RunFigures> {
  const started = Date.now();
  const sb = new Sandbox({
    ha: 'dynamodb',
    fast: speed !== 1,
    speed,
    controller: 'scheduled',
    routing: routingSchema.parse(undefined),
    healthCheck: {
      path: RECOMMENDED_TARGET_GROUP.healthCheckPath,
      matcher: RECOMMENDED_TARGET_GROUP.matcher,
      intervalSeconds: RECOMMENDED_TARGET_GROUP.intervalSeconds,
      timeoutSeconds: RECOMMENDED_TARGET_GROUP.timeoutSeconds,
      healthyThresholdCount: RECOMMENDED_TARGET_GROUP.healthyThresholdCount,
      unhealthyThresholdCount: RECOMMENDED_TARGET_GROUP.unhealthyThresholdCount,
    },
    deregistrationDelaySeconds: RECOMMENDED_TARGET_GROUP.deregistrationDelaySeconds,
    initialTargets: 'unsealed',
    // A zombie leader only loses its lock to break-lock fencing (DESIGN §3.4).
    ...(scenario === 'partition-clients' ? { fencing: 'break-lock' as const } : {}),
  });
  const real = (s: number | null | undefined): number | null => (typeof s === 'number' ? Math.round(s * speed * 1000) / 1000 : null);
  try {
    await sb.start();
    await steady(sb, 120_000 / speed + 10_000);
    // A random phase of the health checks (5 s), the lock renewals (5 s) and the ticks.
    await sleep(((5_000 + Math.random() * 10_000) / speed));
    const r = await runFailoverDrill(sb, scenario, { maxRtoSeconds: 120 });
    const report = drillReportOf(r);
    return {
      scenario,
      run,
      status: r.status,
      result: report?.result ?? 'unknown',
      passed: report?.passed ?? null,
      restored: report?.restored ?? null,
      clientRtoSeconds: real(report?.clientRtoSeconds),
      routedRtoSeconds: real(report?.routedRtoSeconds),
      failedRequests: report?.failedRequests ?? null,
      restoreSeconds: real(report?.restore.durationSeconds),
      transitions: r.transitions,
      ...(r.status === 'FAILED' ? { error: `${r.error}: ${(report?.outcome ?? r.cause ?? '').slice(0, 300)}` } : {}),
      wallMs: Date.now() - started,
    };
  } catch (err) {
    return { scenario, run, status: 'ERROR', result: 'error', passed: null, restored: null, clientRtoSeconds: null, routedRtoSeconds: null, failedRequests: null, restoreSeconds: null, transitions: 0, error: String(err), wallMs: Date.now() - started };
  } finally {
    await sb.stop();
  }
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : Math.round(((s[m - 1]! + s[m]!) / 2) * 1000) / 1000;
}

const opts = args(process.argv.slice(2));
const runs: RunFigures[] = [];
for (const scenario of opts.only) {
  for (let i = 1; i <= opts.runs; i++) {
    const f = await runOnce(scenario, i, opts.speed);
    runs.push(f);
    console.log(JSON.stringify(f));
  }
}
const nums = (xs: Array<number | null>): number[] => xs.filter((x): x is number => typeof x === 'number');
const cells = opts.only.map((scenario) => {
  const rs = runs.filter((r) => r.scenario === scenario);
  return {
    scenario,
    runs: rs.length,
    passed: rs.filter((r) => r.passed === true && r.result === 'passed').length,
    restored: rs.filter((r) => r.restored === true).length,
    clientRtoSeconds: { median: median(nums(rs.map((r) => r.clientRtoSeconds))), min: Math.min(...nums(rs.map((r) => r.clientRtoSeconds))), max: Math.max(...nums(rs.map((r) => r.clientRtoSeconds))) },
    routedRtoSeconds: { median: median(nums(rs.map((r) => r.routedRtoSeconds))), min: Math.min(...nums(rs.map((r) => r.routedRtoSeconds))), max: Math.max(...nums(rs.map((r) => r.routedRtoSeconds))) },
    failedRequests: { median: median(nums(rs.map((r) => r.failedRequests))) },
    restoreSeconds: { median: median(nums(rs.map((r) => r.restoreSeconds))) },
  };
});
await mkdir('bench/results', { recursive: true });
await writeFile(opts.out, `${JSON.stringify({ speed: opts.speed, routing: routingSchema.parse(undefined), targetGroup: RECOMMENDED_TARGET_GROUP, cells, runs }, null, 2)}\n`);
console.log(JSON.stringify({ out: opts.out, cells }, null, 1));
