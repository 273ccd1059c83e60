/**
 * Failover RTO in the sandbox with Vault's REAL lock timings (TTL 15 s, renew
 * 5 s, retry 1 s) and the recommended ALB settings (interval 5 s, thresholds
 * 2/2, registration delay 5 s) — nothing compressed, so this takes ~2 minutes.
 *
 * RTO = fault → a new active registered, healthy in the target group and
 * serving a client request through the listener.
 *
 *   npm run bench -- --rto        (or: npx tsx bench/rto.ts)
 */
import { pathToFileURL } from 'node:url';
import { runScenario, type ScenarioResult } from '../sandbox/scenarios.js';
import type { SandboxHa } from '../sandbox/environment.js';

export interface RtoFigure {
  scenario: string;
  ha: SandboxHa;
  passed: boolean;
  rtoMs: number | undefined;
  clientSuccessRate: number;
  ticks: number;
}

export async function benchRto(opts: { ha?: 'dynamodb' | 'raft'; scenarios?: Array<'kill-active' | 'step-down'> } = {}): Promise<RtoFigure[]> {
  const ha = opts.ha ?? 'dynamodb';
  const figures: RtoFigure[] = [];
  for (const scenario of opts.scenarios ?? (['kill-active', 'step-down'] as const)) {
    const { result } = await runScenario(scenario, { ha, fast: false });
    figures.push(figure(result));
    const rto = result.rtoMs === undefined ? 'no recovery' : `${(result.rtoMs / 1000).toFixed(1)} s`;
    console.log(
      `rto ${scenario} (${ha}, Vault's real timings): ${rto}; client success ${(result.clientSuccessRate * 100).toFixed(0)}% ` +
        `from the fault on; ${result.ticks} controller ticks; ${result.passed ? 'passed' : `FAILED (${result.checks.filter((c) => !c.passed).map((c) => c.name).join('; ')})`}`,
    );
  }
  return figures;
}

function figure(r: ScenarioResult): RtoFigure {
  return { scenario: r.scenario, ha: r.ha, passed: r.passed, rtoMs: r.rtoMs, clientSuccessRate: r.clientSuccessRate, ticks: r.ticks };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ha = process.argv.includes('raft') ? 'raft' : 'dynamodb';
  benchRto({ ha }).then(
    (figures) => {
      process.exitCode = figures.every((f) => f.passed) ? 0 : 1;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
