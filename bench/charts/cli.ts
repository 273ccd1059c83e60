/**
 * `npm run bench -- --charts [results.json]` (or `npx tsx bench/charts/cli.ts [results.json]`):
 * draws the failover benchmark's pictures, one SVG + one PNG per scenario × ALB
 * next to the JSON (bench/results/failover-<date>-kill-active-aws-default.svg, ...).
 * Without a file: the newest bench/results/failover-*.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ChartInputError, failoverCharts, type ChartResults } from './failover-chart.js';
import { writeFailoverCharts } from './render.js';

export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** The newest failover-<date>.json in `dir` (ISO dates sort as text), or undefined. */
export function newestResults(dir = RESULTS_DIR): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const json = names.filter((n) => /^failover-.*\.json$/.test(n)).sort();
  return json.length > 0 ? join(dir, json[json.length - 1]!) : undefined;
}

/** Reads a failover results file, checking the little the charts rely on. */
export function readResults(file: string): ChartResults {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ChartInputError('file', `${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const runs = (doc as { runs?: unknown } | null)?.runs;
  if (!Array.isArray(runs)) throw new ChartInputError('runs', `${file} has no "runs" array (is it a failover benchmark result?)`);
  for (const [i, r] of runs.entries()) {
    const cell = (r as { cell?: Record<string, unknown> } | null)?.cell;
    if (typeof cell?.['scenario'] !== 'string' || typeof cell['alb'] !== 'string' || typeof cell['setup'] !== 'string') {
      throw new ChartInputError(`runs[${i}].cell`, `${file}: needs scenario, alb and setup`);
    }
  }
  return doc as ChartResults;
}

export async function chartsCli(argv: readonly string[], log: (line: string) => void = console.log): Promise<Array<{ scenario: string; alb: string; svg: string; png: string }>> {
  const file = argv.find((a) => a.toLowerCase().endsWith('.json')) ?? newestResults();
  if (file === undefined) throw new ChartInputError('file', `no results file given and none in ${RESULTS_DIR}: run \`npm run bench -- --failover\` first`);
  const results = readResults(file);
  const written = await writeFailoverCharts(results, file);
  const charts = failoverCharts(results);
  for (const w of written) log(`wrote ${w.svg} and .png`);
  const missing = charts.reduce((n, c) => n + c.runsWithoutClientData, 0);
  if (missing > 0) log(`note: ${missing} run(s) in ${file} carry no client buckets (runs[].client): their setups show markers only`);
  if (written.length === 0) log(`no successful runs in ${file}: nothing drawn`);
  return written;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  chartsCli(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof Error ? `${e.name}: ${e.message}` : e);
    process.exit(1);
  });
}
