/**
 * The failover drill's metric, in the embedded metric format (one JSON line on
 * stdout, no API call; see metrics.ts for the format and the cost reasoning).
 *
 * DrillRtoSeconds, dimensions [Stage, Cluster, Scenario]: one series per
 * cluster and scenario that is drilled. A series is billed only for the hours
 * it receives data (CloudWatch pricing: custom metrics are prorated by the
 * hour), so a weekly drill costs a fraction of a cent a month. The value is the
 * RTO the drill judged (`RtoMeasure` says whether client-visible or routed);
 * both RTOs, the failed requests and the result ride along as properties.
 */
import { METRICS_NAMESPACE, metricsStage } from './metrics.js';

export const DRILL_METRIC = 'DrillRtoSeconds';
export const DRILL_METRIC_DIMENSIONS = ['Stage', 'Cluster', 'Scenario'] as const;

export interface DrillMetricInput {
  cluster: string;
  scenario: string;
  stage?: string;
  rtoSeconds: number;
  rtoMeasure: string;
  routedRtoSeconds: number | null;
  clientRtoSeconds: number | null;
  failedRequests: number | null;
  result: string;
  executionName: string;
  timestampMs: number;
}

export function formatDrillMetric(i: DrillMetricInput): string {
  return JSON.stringify({
    _aws: {
      Timestamp: i.timestampMs,
      CloudWatchMetrics: [{ Namespace: METRICS_NAMESPACE, Dimensions: [[...DRILL_METRIC_DIMENSIONS]], Metrics: [{ Name: DRILL_METRIC, Unit: 'Seconds' }] }],
    },
    Stage: metricsStage(i.stage),
    Cluster: i.cluster,
    Scenario: i.scenario,
    [DRILL_METRIC]: i.rtoSeconds,
    // Log-only properties (no metric, no cost).
    RtoMeasure: i.rtoMeasure,
    RoutedRtoSeconds: i.routedRtoSeconds,
    ClientRtoSeconds: i.clientRtoSeconds,
    FailedRequests: i.failedRequests,
    Result: i.result,
    Execution: i.executionName,
  });
}
