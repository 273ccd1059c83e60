/**
 * The failover benchmark's pictures as data, pure (no I/O, no clock): per
 * scenario × ALB setting, the share of client requests that succeeded per
 * bucket (by the time each request was sent), the median across runs and a
 * p10–p90 band, one series per setup, from BEFORE_FAULT_MS before the fault to
 * AFTER_RECOVERY_MS after the latest setup's median recovery, plus markers
 * (fault, election, first registration change, recovery: medians across runs).
 *
 * Every time here is real-world ms from the fault (the benchmark multiplies
 * its compressed timings back). bench/charts/specs.ts turns this data into a
 * Vega-Lite spec; bench/charts/render.ts draws it.
 */
import { BENCH_ALBS, BENCH_SCENARIOS, BENCH_SETUPS, median, quantile } from '../failover-stats.js';

export const CHART_BUCKET_MS = 500;
export const BEFORE_FAULT_MS = 10_000;
export const AFTER_RECOVERY_MS = 60_000;
/** The band's quantiles across runs (nearest rank: with 5 runs, the band is min–max). */
export const BAND_LOW_Q = 0.1;
export const BAND_HIGH_Q = 0.9;
/** Bound on buckets per series (a 300 s observation at 500 ms is 620). */
export const MAX_BUCKETS = 20_000;

export class ChartInputError extends Error {
  override readonly name = 'ChartInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * What clients saw during one run, bucketed: the per-run data the charts need,
 * recorded by RunOutcome.client (bench/failover-run.ts). Times are
 * real-world ms from the fault. Bucket i covers [startMs + i·bucketMs,
 * startMs + (i+1)·bucketMs) of request send times.
 */
export interface ClientBuckets {
  bucketMs: number;
  /** Start of bucket 0 (≤ 0 to cover the time before the fault). */
  startMs: number;
  /** Requests sent in bucket i that succeeded (2xx). */
  ok: number[];
  /** Requests sent in bucket i that failed (error, non-2xx or client timeout). Same length as `ok`. */
  failed: number[];
}

/** One client request, sent `atMs` (any clock; the caller picks the origin). */
export interface ClientSampleLike {
  atMs: number;
  ok: boolean;
}

/**
 * The subset of a RunOutcome (bench/failover-run.ts) the charts read; structural,
 * so the benchmark's own type fits as soon as it carries `client` (and, better,
 * `metrics.firstRegistrationChangeMs`).
 */
export interface ChartRun {
  cell: { scenario: string; alb: string; setup: string };
  run: number;
  metrics?: {
    clientRtoMs: number;
    recovered: boolean;
    electedMs?: number;
    registeredMs?: number;
    /** Fault → the first register or deregister of any target after the fault (not yet recorded by the benchmark). */
    firstRegistrationChangeMs?: number;
  };
  /** Real-world ms observed after the fault. */
  observedMs?: number;
  client?: ClientBuckets;
  error?: string;
}

/** The subset of a failover-<date>.json the charts read. */
export interface ChartResults {
  runs: ChartRun[];
  speed?: number;
  generatedAt?: string;
  settings?: { setups?: Record<string, { controller?: boolean } | undefined> };
}

export type MarkerKind = 'fault' | 'elected' | 'registration' | 'recovered';

export interface ChartMarker {
  kind: MarkerKind;
  /** null: applies to every setup (the fault). */
  setup: string | null;
  atMs: number;
  /** Runs the median is over, and runs of the setup in all (a marker over fewer runs says so). */
  runs: number;
  of: number;
  /** What the marker marks, as the legend names it ("elected", "targets changed", "new active registered", "recovered"). */
  what: string;
  label: string;
}

export interface SeriesPoint {
  /** Bucket start, ms from the fault. */
  tMs: number;
  /** Share of requests that succeeded (0–1) across runs with requests in this bucket; null when none had any. */
  median: number | null;
  low: number | null;
  high: number | null;
  /** Runs that sent requests in this bucket. */
  runs: number;
}

export interface SetupSeries {
  setup: string;
  /** Runs with metrics (errors excluded). */
  runs: number;
  /** Runs with client data (what the line is over). */
  clientRuns: number;
  unrecovered: number;
  points: SeriesPoint[];
  /** End of the last bucket any run sent requests in (the line stops there: observation ended); null without client data. */
  observedToMs: number | null;
}

export interface FailoverChartData {
  scenario: string;
  alb: string;
  bucketMs: number;
  window: { fromMs: number; toMs: number };
  series: SetupSeries[];
  markers: ChartMarker[];
  /** Runs with metrics but no client buckets (the file predates them): the picture then shows markers only. */
  runsWithoutClientData: number;
  speed?: number;
}

/**
 * Buckets raw client samples (their `atMs` already real-world ms from the fault).
 * Samples outside [startMs, endMs) are left out; the last bucket may extend past endMs.
 */
export function bucketClientSamples(samples: readonly ClientSampleLike[], w: { bucketMs: number; startMs: number; endMs: number }): ClientBuckets {
  if (!(w.bucketMs > 0)) throw new ChartInputError('bucketMs', `must be > 0, got ${w.bucketMs}`);
  if (!(w.endMs > w.startMs)) throw new ChartInputError('endMs', `must be after startMs (${w.startMs}), got ${w.endMs}`);
  const n = Math.ceil((w.endMs - w.startMs) / w.bucketMs);
  if (n > MAX_BUCKETS) throw new ChartInputError('bucketMs', `${n} buckets over the window, more than ${MAX_BUCKETS}`);
  const ok = new Array<number>(n).fill(0);
  const failed = new Array<number>(n).fill(0);
  for (const s of samples) {
    if (!(s.atMs >= w.startMs && s.atMs < w.endMs)) continue;
    const i = Math.floor((s.atMs - w.startMs) / w.bucketMs);
    if (s.ok) ok[i]! += 1;
    else failed[i]! += 1;
  }
  return { bucketMs: w.bucketMs, startMs: w.startMs, ok, failed };
}

/**
 * When the target group's registrations first changed after the fault: the
 * first routing sample at or after `faultAtMs` whose set of registered
 * (non-draining) targets differs from the last sample before it. Any clock;
 * undefined when nothing changed (or there is no sample before the fault).
 */
export function firstRegistrationChange(samples: ReadonlyArray<{ atMs: number; registered: ReadonlyArray<{ id: string }> }>, faultAtMs: number): number | undefined {
  const key = (s: { registered: ReadonlyArray<{ id: string }> }): string => s.registered.map((r) => r.id).sort().join(',');
  const before = samples.filter((s) => s.atMs < faultAtMs).at(-1);
  if (before === undefined) return undefined;
  const was = key(before);
  return samples.find((s) => s.atMs >= faultAtMs && key(s) !== was)?.atMs;
}

/**
 * One run's requests re-bucketed onto the chart's grid (bucket k starts at
 * fromMs + k·bucketMs). The run's buckets must nest in the chart's: a width that
 * divides the chart's, on the same grid.
 */
export function rebucket(c: ClientBuckets, grid: { fromMs: number; bucketMs: number; count: number }, what = 'client'): Array<{ ok: number; failed: number }> {
  if (!(c.bucketMs > 0) || grid.bucketMs % c.bucketMs !== 0) throw new ChartInputError(`${what}.bucketMs`, `${c.bucketMs} ms does not divide the chart's ${grid.bucketMs} ms buckets`);
  if ((((c.startMs - grid.fromMs) % c.bucketMs) + c.bucketMs) % c.bucketMs !== 0) throw new ChartInputError(`${what}.startMs`, `${c.startMs} ms is not on the chart's ${c.bucketMs} ms grid from ${grid.fromMs} ms`);
  if (c.ok.length !== c.failed.length) throw new ChartInputError(`${what}.failed`, `${c.failed.length} buckets, but ok has ${c.ok.length}`);
  const out = Array.from({ length: grid.count }, () => ({ ok: 0, failed: 0 }));
  for (let i = 0; i < c.ok.length; i++) {
    const k = Math.floor((c.startMs + i * c.bucketMs - grid.fromMs) / grid.bucketMs);
    if (k < 0 || k >= grid.count) continue;
    out[k]!.ok += c.ok[i]!;
    out[k]!.failed += c.failed[i]!;
  }
  return out;
}

/** The share of requests that succeeded, null when there were none (no requests is not a failure). */
export function successShare(b: { ok: number; failed: number }): number | null {
  const n = b.ok + b.failed;
  return n === 0 ? null : b.ok / n;
}

const order = <T extends string>(known: readonly T[], present: readonly string[]): string[] => {
  const seen = [...new Set(present)];
  return [...known.filter((k) => seen.includes(k)), ...seen.filter((s) => !(known as readonly string[]).includes(s))];
};

const fmtS = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** Setups that have a controller changing registrations (settings from the JSON; without them every setup but `classic`). */
function hasController(results: ChartResults, setup: string): boolean {
  const s = results.settings?.setups?.[setup];
  return s?.controller ?? setup !== 'classic';
}

/**
 * The markers of one setup: medians across its runs of election, first
 * registration change (controller setups only: without a controller nothing
 * changes registrations) and recovery (recovered runs only).
 */
export function setupMarkers(setup: string, runs: readonly NonNullable<ChartRun['metrics']>[], controller: boolean): ChartMarker[] {
  const out: ChartMarker[] = [];
  const of = runs.length;
  const mark = (kind: MarkerKind, values: number[], label: string): void => {
    if (values.length === 0) return;
    const atMs = median(values);
    const partial = values.length < of ? ` (${values.length}/${of} runs)` : '';
    out.push({ kind, setup, atMs, runs: values.length, of, what: label, label: `${setup}: ${label} ${fmtS(atMs)}${partial}` });
  };
  mark('elected', runs.flatMap((m) => (m.electedMs !== undefined ? [m.electedMs] : [])), 'elected');
  if (controller) {
    const exact = runs.flatMap((m) => (m.firstRegistrationChangeMs !== undefined ? [m.firstRegistrationChangeMs] : []));
    // Older results only know when the new active got registered: say so rather than call it the first change.
    if (exact.length > 0) mark('registration', exact, 'targets changed');
    else mark('registration', runs.flatMap((m) => (m.registeredMs !== undefined ? [m.registeredMs] : [])), 'new active registered');
  }
  mark('recovered', runs.flatMap((m) => (m.recovered ? [m.clientRtoMs] : [])), 'recovered');
  return out;
}

/** One chart per scenario × ALB present in the results (benchmark order first). */
export function failoverCharts(results: ChartResults, opts: { bucketMs?: number; beforeMs?: number; afterRecoveryMs?: number } = {}): FailoverChartData[] {
  const bucketMs = opts.bucketMs ?? CHART_BUCKET_MS;
  const beforeMs = opts.beforeMs ?? BEFORE_FAULT_MS;
  const afterMs = opts.afterRecoveryMs ?? AFTER_RECOVERY_MS;
  if (!(bucketMs > 0)) throw new ChartInputError('bucketMs', `must be > 0, got ${bucketMs}`);
  const runs = results.runs.filter((r) => r.error === undefined && r.metrics !== undefined && r.run >= 0);
  const out: FailoverChartData[] = [];
  for (const scenario of order(BENCH_SCENARIOS, runs.map((r) => r.cell.scenario))) {
    for (const alb of order(BENCH_ALBS, runs.filter((r) => r.cell.scenario === scenario).map((r) => r.cell.alb))) {
      const group = runs.filter((r) => r.cell.scenario === scenario && r.cell.alb === alb);
      out.push(failoverChart(results, scenario, alb, group, { bucketMs, beforeMs, afterMs }));
    }
  }
  return out;
}

function failoverChart(results: ChartResults, scenario: string, alb: string, group: ChartRun[], o: { bucketMs: number; beforeMs: number; afterMs: number }): FailoverChartData {
  const setups = order(BENCH_SETUPS, group.map((r) => r.cell.setup));
  const metricsOf = (setup: string) => group.filter((r) => r.cell.setup === setup).map((r) => r.metrics!);
  const markersBySetup = setups.map((s) => setupMarkers(s, metricsOf(s), hasController(results, s)));
  const recoveries = markersBySetup.flat().filter((m) => m.kind === 'recovered').map((m) => m.atMs);
  // 60 s after the slowest setup's median recovery; with no recovery at all, as far as any run was observed.
  const lastMs = recoveries.length > 0 ? Math.max(...recoveries) + o.afterMs : Math.max(o.afterMs, ...group.map((r) => r.observedMs ?? 0));
  const fromMs = -Math.ceil(o.beforeMs / o.bucketMs) * o.bucketMs;
  const count = Math.min(MAX_BUCKETS, Math.ceil((lastMs - fromMs) / o.bucketMs));
  const grid = { fromMs, bucketMs: o.bucketMs, count };
  const series: SetupSeries[] = setups.map((setup) => {
    const setupRuns = group.filter((r) => r.cell.setup === setup);
    const withClient = setupRuns.filter((r) => r.client !== undefined);
    const perRun = withClient.map((r) => {
      const what = `runs[${scenario}/${alb}/${setup}#${r.run}].client`;
      // Buckets outside the run's observation hold no requests: null, not a failure.
      return rebucket(r.client!, grid, what).map(successShare);
    });
    const points: SeriesPoint[] = Array.from({ length: count }, (_, k) => {
      const values = perRun.map((shares) => shares[k]!).filter((v): v is number => v !== null);
      const tMs = fromMs + k * o.bucketMs;
      if (values.length === 0) return { tMs, median: null, low: null, high: null, runs: 0 };
      return { tMs, median: median(values), low: quantile(values, BAND_LOW_Q), high: quantile(values, BAND_HIGH_Q), runs: values.length };
    });
    const last = points.findLast((p) => p.runs > 0);
    return {
      setup,
      runs: setupRuns.length,
      clientRuns: withClient.length,
      unrecovered: setupRuns.filter((r) => !r.metrics!.recovered).length,
      points,
      observedToMs: last ? last.tMs + o.bucketMs : null,
    };
  });
  const fault: ChartMarker = { kind: 'fault', setup: null, atMs: 0, runs: group.length, of: group.length, what: 'fault', label: `fault (${scenario})` };
  return {
    scenario,
    alb,
    bucketMs: o.bucketMs,
    window: { fromMs, toMs: fromMs + count * o.bucketMs },
    series,
    markers: [fault, ...markersBySetup.flat()],
    runsWithoutClientData: group.filter((r) => r.client === undefined).length,
    ...(results.speed !== undefined ? { speed: results.speed } : {}),
  };
}

/**
 * The marker labels a chart prints: one line per setup, at its earliest marker
 * ("active-only: elected 5.1 s · new active registered 6.0 s · recovered 11.1 s"),
 * plus the fault; the rules themselves are drawn one per marker.
 */
export function markerLabels(d: Pick<FailoverChartData, 'markers'>): Array<{ atMs: number; setup: string | null; text: string }> {
  const out: Array<{ atMs: number; setup: string | null; text: string }> = [];
  for (const m of d.markers.filter((x) => x.setup === null)) out.push({ atMs: m.atMs, setup: null, text: m.label });
  const setups = [...new Set(d.markers.flatMap((m) => (m.setup === null ? [] : [m.setup])))];
  for (const setup of setups) {
    const mine = d.markers.filter((m) => m.setup === setup).sort((a, b) => a.atMs - b.atMs);
    const parts = mine.map((m) => m.label.slice(`${setup}: `.length));
    out.push({ atMs: mine[0]!.atMs, setup, text: `${setup}: ${parts.join(' · ')}` });
  }
  return out;
}

/** File-name part for one chart: `kill-active-aws-default`. */
export const chartSlug = (c: Pick<FailoverChartData, 'scenario' | 'alb'>): string => `${c.scenario}-${c.alb}`.replace(/[^A-Za-z0-9._-]+/g, '-');
