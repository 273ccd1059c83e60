/**
 * CloudWatch metrics in the embedded metric format (EMF): one JSON line on
 * stdout that CloudWatch Logs turns into metrics. No API call, no extra
 * latency, and the same line is readable in the logs.
 *
 * Every metric series costs money (CloudWatch bills each unique namespace +
 * name + dimension values as one custom metric, hourly), so only what a graph
 * or an alarm needs is a metric; everything else rides along as a plain
 * property of the same line, searchable with Logs Insights for free
 * (CloudWatch User Guide, "Specification: Embedded metric format": members
 * not referenced by a MetricDirective are ignored by metric extraction).
 *
 * Series, all with the `Stage` dimension so two stages (dev, prod) in one
 * account never share a series, an alarm or a graph:
 *   per cluster  [Stage, Cluster]: VerdictNonHealthy (which cluster is in trouble)
 *   per stage    [Stage]:          VerdictNonHealthy, ProbeBlind (the alarms: one
 *                                  alarm covers every cluster of the stage),
 *                                  StandbyNodes (its Minimum: the least redundant
 *                                  cluster), TickDurationMs (the controller's pace)
 * = 1 per cluster + 4 per stage: 5 for one cluster, 1.04 per cluster at 100
 * ($0.30 a series-month: at 100 clusters three per-cluster series alone would
 * cost $0.90 a cluster). Per-cluster node counts, targets, changes and probe
 * latency stay in the line as properties, for Logs Insights
 * (`stats max(ActiveNodes) by Cluster, bin(1m)`).
 */
import type { NodeClass, VerdictKind } from '../core/types.js';

export const METRICS_NAMESPACE = 'VaultHA';

/** The environment variable carrying the deployment stage (serverless.yml sets it to `${sls:stage}`). */
export const STAGE_ENV = 'VAULT_HA_STAGE';
/** Stage used when none is set (sandbox, tests, a local run). */
export const DEFAULT_STAGE = 'local';

export const CLUSTER_METRICS = ['VerdictNonHealthy'] as const;
export const STAGE_METRICS = ['VerdictNonHealthy', 'ProbeBlind', 'StandbyNodes', 'TickDurationMs'] as const;

export interface MetricsInput {
  cluster: string;
  /** Deployment stage; default: env VAULT_HA_STAGE, else "local". */
  stage?: string;
  verdict: VerdictKind;
  counts: Partial<Record<NodeClass, number>>;
  registeredTargets: number;
  changes: number;
  tickDurationMs: number;
  probeLatencyMs?: number;
  probeBlind: boolean;
  nonHealthy: boolean;
  timestampMs: number;
}

type Unit = 'Count' | 'Milliseconds';

/** The stage the metrics carry: an explicit one, else env VAULT_HA_STAGE, else "local". */
export function metricsStage(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const s = explicit ?? env[STAGE_ENV];
  return s !== undefined && s.trim() !== '' ? s.trim() : DEFAULT_STAGE;
}

/** How many custom metric series `clusters` clusters of one stage produce. */
export function seriesCount(clusters: number): number {
  return CLUSTER_METRICS.length * clusters + STAGE_METRICS.length;
}

export function formatMetrics(input: MetricsInput): string {
  const c = (k: NodeClass): number => input.counts[k] ?? 0;
  const units: Record<string, Unit> = { TickDurationMs: 'Milliseconds' };
  const directive = (dimensions: string[][], names: readonly string[]) => ({
    Namespace: METRICS_NAMESPACE,
    Dimensions: dimensions,
    Metrics: names.map((Name) => ({ Name, Unit: units[Name] ?? 'Count' })),
  });
  const doc: Record<string, unknown> = {
    _aws: {
      Timestamp: input.timestampMs,
      CloudWatchMetrics: [
        // VerdictNonHealthy is in both sets: per cluster (which one) and per stage (the alarm).
        directive([['Stage', 'Cluster'], ['Stage']], ['VerdictNonHealthy']),
        directive([['Stage']], ['ProbeBlind', 'StandbyNodes', 'TickDurationMs']),
      ],
    },
    Stage: metricsStage(input.stage),
    Cluster: input.cluster,
    Verdict: input.verdict,
    // Metrics.
    VerdictNonHealthy: input.nonHealthy ? 1 : 0,
    ProbeBlind: input.probeBlind ? 1 : 0,
    // A performance standby is a standby that also serves reads.
    StandbyNodes: c('standby') + c('perf-standby'),
    TickDurationMs: input.tickDurationMs,
    // Log-only properties (no metric, no cost): Logs Insights reads them from the same line.
    ActiveNodes: c('active'),
    SealedNodes: c('sealed'),
    UnreachableNodes: c('unreachable'),
    RegisteredTargets: input.registeredTargets,
    TargetChanges: input.changes,
  };
  // Omitted rather than 0 when nothing answered: a zero latency would hide the outage in averages.
  if (input.probeLatencyMs !== undefined) doc['ProbeLatencyMs'] = input.probeLatencyMs;
  return JSON.stringify(doc);
}
