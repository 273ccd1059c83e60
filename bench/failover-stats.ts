/**
 * The failover benchmark's arithmetic, pure (no I/O, no clock): client-visible
 * RTO from a run's request log, per-cell statistics, the ratio to `classic` and
 * the met / not met verdict for each target of issue 7. Every duration here is
 * in real-world milliseconds (already multiplied back by the time compression);
 * the summaries are in seconds, as DESIGN §4.6 fixes them.
 */

export const BENCH_SCENARIOS = ['kill-active', 'step-down'] as const;
export type BenchScenario = (typeof BENCH_SCENARIOS)[number];
export const BENCH_ALBS = ['aws-default', 'aggressive'] as const;
export type BenchAlb = (typeof BENCH_ALBS)[number];
export const BENCH_SETUPS = ['classic', 'active-only', 'all-unsealed', 'default'] as const;
export type BenchSetup = (typeof BENCH_SETUPS)[number];
/**
 * The load balancer (`--lb`): `alb` (an ALB target group of instances), `classic`
 * (a Classic Load Balancer) or `nlb-ip` (an NLB target group of ip targets). The
 * `alb` axis then means that balancer's health-check settings: AWS's defaults or
 * the README's recommended ones.
 */
export const BENCH_LBS = ['alb', 'classic', 'nlb-ip'] as const;
export type BenchLb = (typeof BENCH_LBS)[number];

export interface CellKey {
  scenario: BenchScenario;
  alb: BenchAlb;
  setup: BenchSetup;
  /** Absent: `alb` (cells written before the dimension existed). */
  lb?: BenchLb;
}

export const lbOf = (c: Pick<CellKey, 'lb'>): BenchLb => c.lb ?? 'alb';

/** `kill-active/aggressive/default` for the ALB, `classic:kill-active/aws-default/default` for another balancer. */
export const cellName = (c: CellKey): string => `${lbOf(c) === 'alb' ? '' : `${lbOf(c)}:`}${c.scenario}/${c.alb}/${c.setup}`;

const sameBalancer = (a: CellKey, b: CellKey): boolean => lbOf(a) === lbOf(b);

/** One client request through the listener (ms on one clock; `endAtMs` when it answered, failed or timed out). */
export interface ClientRequest {
  sentAtMs: number;
  endAtMs: number;
  ok: boolean;
}

/** What one run measured (real-world ms). Optional figures are absent when the event never happened (or does not apply). */
export interface RunMetrics {
  /** Fault → the first request after which every request succeeded; when never recovered, fault → the end of observation. */
  clientRtoMs: number;
  /** Fault → the first change of the registered target set (for the charts' marker). */
  firstRegistrationChangeMs?: number;
  recovered: boolean;
  failedRequests: number;
  requests: number;
  /** Fault → a node other than the faulted one became active. */
  electedMs?: number;
  /** Fault → that new active registered (not draining) in the target group. */
  registeredMs?: number;
  /** Fault → that new active's target `healthy` in the ALB. */
  albHealthyMs?: number;
  /** Fault → the controller's first probe after the fault (controller setups). */
  detectionMs?: number;
  /** Longest time without a controller probe, invocation boundaries included (controller setups). */
  maxProbeGapMs?: number;
  emptyTargetGroupSamples: number;
  twoActivesRoutedSamples: number;
  samples: number;
}

export interface Stats {
  median: number;
  p95: number;
  min: number;
  max: number;
}

/**
 * Nearest-rank quantile of a sample (q in [0, 1]): the smallest value with at
 * least q of the sample at or below it. Conservative for small samples: the p95
 * of 5 runs is their maximum.
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * s.length));
  return s[Math.min(s.length, rank) - 1]!;
}

/** The usual median (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function stats(xs: readonly number[]): Stats | null {
  if (xs.length === 0) return null;
  return { median: median(xs), p95: quantile(xs, 0.95), min: Math.min(...xs), max: Math.max(...xs) };
}

const round = (x: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

function statsSeconds(msValues: readonly number[]): Stats | null {
  const s = stats(msValues);
  return s && { median: round(s.median / 1000), p95: round(s.p95 / 1000), min: round(s.min / 1000), max: round(s.max / 1000) };
}

/**
 * Client-visible RTO: fault → the first request (by send time) after which every
 * request succeeded. Requests still in flight at the fault count (they can fail
 * because of it); requests that ended before it do not. No failure → 0. A run
 * whose last request failed never recovered: the figure is then fault → the end
 * of the last request, a lower bound.
 */
export function clientRto(requests: readonly ClientRequest[], faultAtMs: number): { rtoMs: number; recovered: boolean } {
  const relevant = requests.filter((r) => r.endAtMs >= faultAtMs).sort((a, b) => a.sentAtMs - b.sentAtMs);
  let lastFailure = -1;
  for (let i = 0; i < relevant.length; i++) if (!relevant[i]!.ok) lastFailure = i;
  if (lastFailure === -1) return { rtoMs: 0, recovered: true };
  const next = relevant[lastFailure + 1];
  if (next === undefined) {
    const end = Math.max(...relevant.map((r) => r.endAtMs));
    return { rtoMs: Math.max(0, end - faultAtMs), recovered: false };
  }
  return { rtoMs: Math.max(0, next.sentAtMs - faultAtMs), recovered: true };
}

/** Requests that failed and were still running at the fault or sent after it. */
export function failedRequests(requests: readonly ClientRequest[], faultAtMs: number): number {
  return requests.filter((r) => r.endAtMs >= faultAtMs && !r.ok).length;
}

/** Longest gap between consecutive event times (0 with fewer than two). */
export function maxGap(timesMs: readonly number[]): number {
  const s = [...timesMs].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < s.length; i++) gap = Math.max(gap, s[i]! - s[i - 1]!);
  return gap;
}

/** Fault → the first time at or after it (undefined when none). */
export function firstAfter(timesMs: readonly number[], faultAtMs: number): number | undefined {
  const after = timesMs.filter((t) => t >= faultAtMs);
  return after.length === 0 ? undefined : Math.min(...after) - faultAtMs;
}

/* ------------------------------------------------------------------ cells */

export interface CellSummary extends CellKey {
  runs: number;
  clientRtoSeconds: Stats | null;
  failedRequests: { median: number; max: number };
  emptyTargetGroupSamples: number;
  twoActivesRoutedSamples: number;
  /** Runs whose clients had not recovered when observation ended (their RTO is a lower bound). */
  unrecoveredRuns: number;
  /** Median client RTO ÷ classic's median at the same scenario and ALB settings (null for classic itself or when unknown). */
  ratioToClassic: number | null;
  electedSeconds: Stats | null;
  registeredSeconds: Stats | null;
  albHealthySeconds: Stats | null;
  detectionSeconds: Stats | null;
  maxProbeGapSeconds: number | null;
  requests: number;
  samples: number;
}

const defined = <T>(xs: Array<T | undefined>): T[] => xs.filter((x): x is T => x !== undefined);

export function summarizeCell(key: CellKey, runs: readonly RunMetrics[]): CellSummary {
  const gaps = defined(runs.map((r) => r.maxProbeGapMs));
  const failed = runs.map((r) => r.failedRequests);
  return {
    scenario: key.scenario,
    alb: key.alb,
    setup: key.setup,
    lb: lbOf(key),
    runs: runs.length,
    clientRtoSeconds: statsSeconds(runs.map((r) => r.clientRtoMs)),
    failedRequests: { median: failed.length ? median(failed) : Number.NaN, max: failed.length ? Math.max(...failed) : Number.NaN },
    emptyTargetGroupSamples: runs.reduce((a, r) => a + r.emptyTargetGroupSamples, 0),
    twoActivesRoutedSamples: runs.reduce((a, r) => a + r.twoActivesRoutedSamples, 0),
    unrecoveredRuns: runs.filter((r) => !r.recovered).length,
    ratioToClassic: null,
    electedSeconds: statsSeconds(defined(runs.map((r) => r.electedMs))),
    registeredSeconds: statsSeconds(defined(runs.map((r) => r.registeredMs))),
    albHealthySeconds: statsSeconds(defined(runs.map((r) => r.albHealthyMs))),
    detectionSeconds: statsSeconds(defined(runs.map((r) => r.detectionMs))),
    maxProbeGapSeconds: gaps.length ? round(Math.max(...gaps) / 1000) : null,
    requests: runs.reduce((a, r) => a + r.requests, 0),
    samples: runs.reduce((a, r) => a + r.samples, 0),
  };
}

/** Fills ratioToClassic: each cell's median RTO over classic's at the same scenario and ALB settings. */
export function withRatios(cells: readonly CellSummary[]): CellSummary[] {
  return cells.map((c) => {
    if (c.setup === 'classic') return { ...c, ratioToClassic: null };
    const classic = cells.find((x) => x.setup === 'classic' && x.scenario === c.scenario && x.alb === c.alb && sameBalancer(x, c));
    const base = classic?.clientRtoSeconds?.median;
    const mine = c.clientRtoSeconds?.median;
    if (base === undefined || mine === undefined) return { ...c, ratioToClassic: null };
    // A zero classic RTO: equal is ×1, anything slower is unbounded.
    const ratio = base === 0 ? (mine === 0 ? 1 : Number.POSITIVE_INFINITY) : mine / base;
    return { ...c, ratioToClassic: Number.isFinite(ratio) ? round(ratio) : ratio };
  });
}

/* ------------------------------------------------------------------ targets (issue 7) */

export interface TargetLimits {
  killActiveMedianSeconds: number;
  killActiveP95Seconds: number;
  stepDownMaxSeconds: number;
  /** policy.probeIntervalSeconds (detection must stay within it + 1 s). */
  probeIntervalSeconds: number;
}

export const ISSUE7_TARGETS: Omit<TargetLimits, 'probeIntervalSeconds'> = {
  killActiveMedianSeconds: 8,
  killActiveP95Seconds: 12,
  stepDownMaxSeconds: 3,
};

export interface TargetResult {
  target: string;
  cell: string;
  met: boolean;
  /** e.g. "median 6.1 s ≤ 8 s" or "p95 14.2 s > 12 s by 2.2 s". */
  detail: string;
  /** Where a target is missed: what bounds it, from the cell's phase timings. */
  why?: string;
}

const s1 = (x: number): string => `${Number.isFinite(x) ? x.toFixed(1) : String(x)} s`;

function compare(label: string, actual: number, limit: number, unit = 's'): { met: boolean; detail: string } {
  const fmt = (x: number): string => (unit === 's' ? s1(x) : `${x}`);
  if (!Number.isFinite(actual)) return { met: false, detail: `${label} unknown` };
  if (actual <= limit) return { met: true, detail: `${label} ${fmt(actual)} ≤ ${fmt(limit)}` };
  const by = actual - limit;
  // A miss smaller than the display precision still shows as a miss.
  const margin = unit === 's' ? (by < 0.1 ? `${by.toFixed(2)} s` : s1(by)) : `${round(by)}`;
  return { met: false, detail: `${label} ${unit === 's' && by < 0.1 ? `${actual.toFixed(2)} s` : fmt(actual)} > ${fmt(limit)} by ${margin}` };
}

/**
 * Why a kill-active cell's RTO is what it is, from the medians of its phases:
 * the election (Vault's lock TTL), the controller (election → registration), the
 * ALB (registration → healthy), or the clients after that.
 */
export function explainRto(c: CellSummary, limitSeconds: number): string {
  const rto = c.clientRtoSeconds?.median;
  const elected = c.electedSeconds?.median;
  const registered = c.registeredSeconds?.median;
  const healthy = c.albHealthySeconds?.median;
  if (rto === undefined) return 'no runs';
  if (c.unrecoveredRuns > 0) return `${c.unrecoveredRuns} run(s) never recovered within the observation window`;
  if (elected === undefined) return 'no new active was elected';
  if (elected > limitSeconds) return `bounded by Vault: the election alone takes ${s1(elected)} (lock TTL 15 s unless the dead holder's lock is taken over)`;
  const parts = [`Vault elects at ${s1(elected)}`];
  if (registered !== undefined && registered - elected > 1) parts.push(`the controller registers the new active ${s1(registered - elected)} later`);
  if (healthy !== undefined && registered !== undefined && healthy - registered > 1) parts.push(`the ALB needs ${s1(healthy - registered)} more to mark it healthy`);
  if (healthy !== undefined && rto - healthy > 1) parts.push(`clients keep failing ${s1(rto - healthy)} after that`);
  const [first, ...rest] = parts;
  const bound =
    healthy !== undefined && registered !== undefined && healthy - registered >= Math.max(registered - elected, rto - healthy)
      ? 'bounded by the ALB'
      : registered !== undefined && registered - elected > 1
        ? 'bounded by the controller'
        : 'bounded by Vault and the clients';
  return `${bound}: ${[first, ...rest].join(', ')}`;
}

/** Every target of issue 7, evaluated on the cells present (a target whose cells are absent is not listed). */
export function evaluateTargets(cells: readonly CellSummary[], limits: TargetLimits): TargetResult[] {
  const out: TargetResult[] = [];
  const find = (k: CellKey): CellSummary | undefined => cells.find((c) => c.scenario === k.scenario && c.alb === k.alb && c.setup === k.setup && sameBalancer(c, k));

  // 1. kill-active RTO with the shipped defaults, both ALB settings.
  for (const c of cells.filter((x) => x.scenario === 'kill-active' && x.setup === 'default')) {
    const med = compare('median', c.clientRtoSeconds?.median ?? Number.NaN, limits.killActiveMedianSeconds);
    const p95 = compare('p95', c.clientRtoSeconds?.p95 ?? Number.NaN, limits.killActiveP95Seconds);
    const met = med.met && p95.met && c.unrecoveredRuns === 0;
    out.push({
      target: `kill-active RTO median ≤ ${limits.killActiveMedianSeconds} s and p95 ≤ ${limits.killActiveP95Seconds} s`,
      cell: cellName(c),
      met,
      detail: `${med.detail}; ${p95.detail}`,
      ...(met ? {} : { why: explainRto(c, limits.killActiveMedianSeconds) }),
    });
  }

  // 2. step-down: outage ≤ 3 s in every run of every cell, failed requests no more than classic.
  for (const c of cells.filter((x) => x.scenario === 'step-down')) {
    const worst = compare('worst run', c.clientRtoSeconds?.max ?? Number.NaN, limits.stepDownMaxSeconds);
    const classic = find({ scenario: 'step-down', alb: c.alb, setup: 'classic', lb: lbOf(c) });
    const failed =
      c.setup === 'classic' || classic === undefined
        ? { met: true, detail: `failed requests median ${c.failedRequests.median}` }
        : compare('failed requests median', c.failedRequests.median, classic.failedRequests.median, 'count');
    const met = worst.met && failed.met && c.unrecoveredRuns === 0;
    out.push({
      target: `step-down outage ≤ ${limits.stepDownMaxSeconds} s in every run, failed requests ≤ classic`,
      cell: cellName(c),
      met,
      detail: `${worst.detail}; ${failed.detail}${classic && c.setup !== 'classic' ? ` (classic ${classic.failedRequests.median})` : ''}`,
      ...(met
        ? {}
        : {
            why:
              c.unrecoveredRuns > 0
                ? `${c.unrecoveredRuns} run(s) never recovered`
                : `worst run ${s1(c.clientRtoSeconds?.max ?? Number.NaN)}: the standbys' ~2.5 s leader refresh is Vault's floor; anything above it is routing (registrations, ALB checks)`,
          }),
    });
  }

  // 3. never an empty target group, never two actives routed.
  for (const c of cells) {
    const met = c.emptyTargetGroupSamples === 0 && c.twoActivesRoutedSamples === 0;
    out.push({
      target: 'emptyTargetGroupSamples = 0 and twoActivesRoutedSamples = 0',
      cell: cellName(c),
      met,
      detail: `empty ${c.emptyTargetGroupSamples}, two actives ${c.twoActivesRoutedSamples} (of ${c.samples} samples)`,
      ...(met ? {} : { why: c.emptyTargetGroupSamples > 0 ? 'the target group had no registered target while an unsealed node was alive' : 'two nodes claiming active were registered at once' }),
    });
  }

  // 4. active-only kill-active never slower than classic at the same ALB settings (median and p95).
  for (const c of cells.filter((x) => x.scenario === 'kill-active' && x.setup === 'active-only')) {
    const classic = find({ scenario: 'kill-active', alb: c.alb, setup: 'classic', lb: lbOf(c) });
    if (!classic?.clientRtoSeconds || !c.clientRtoSeconds) continue;
    const med = compare('median', c.clientRtoSeconds.median, classic.clientRtoSeconds.median);
    const p95 = compare('p95', c.clientRtoSeconds.p95, classic.clientRtoSeconds.p95);
    const met = med.met && p95.met;
    out.push({
      target: 'active-only kill-active never slower than classic',
      cell: cellName(c),
      met,
      detail: `${med.detail.replace('≤', '≤ classic').replace('>', '> classic')}; ${p95.detail.replace('≤', '≤ classic').replace('>', '> classic')}`,
      ...(met ? {} : { why: explainRto(c, classic.clientRtoSeconds.median) }),
    });
  }

  // 5. detection p95 ≤ probeIntervalSeconds + 1 s, invocation boundaries included.
  const detectLimit = limits.probeIntervalSeconds + 1;
  for (const c of cells.filter((x) => x.setup !== 'classic')) {
    const d = compare('detection p95', c.detectionSeconds?.p95 ?? Number.NaN, detectLimit);
    out.push({
      target: `detection p95 ≤ probeIntervalSeconds + 1 s (${detectLimit} s)`,
      cell: cellName(c),
      met: d.met,
      detail: `${d.detail}${c.maxProbeGapSeconds !== null ? `; longest gap between probes ${s1(c.maxProbeGapSeconds)}` : ''}`,
      ...(d.met ? {} : { why: 'gaps between controller ticks (invocation boundaries, a slow tick or a throttled invocation)' }),
    });
  }
  return out;
}
