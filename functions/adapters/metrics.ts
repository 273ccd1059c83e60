/**
 * CloudWatch metrics in the embedded metric format (EMF): one JSON line on
 * stdout that CloudWatch Logs turns into metrics. No API call, no extra
 * latency, and the same line is readable in the logs.
 */
import type { NodeClass, VerdictKind } from '../core/types.js';

export const METRICS_NAMESPACE = 'VaultHA';

export interface MetricsInput {
  cluster: string;
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

export function formatMetrics(input: MetricsInput): string {
  const c = (k: NodeClass): number => input.counts[k] ?? 0;
  const values: Array<[name: string, value: number, unit: Unit]> = [
    ['ActiveNodes', c('active'), 'Count'],
    // A performance standby is a standby that also serves reads.
    ['StandbyNodes', c('standby') + c('perf-standby'), 'Count'],
    ['SealedNodes', c('sealed'), 'Count'],
    ['UnreachableNodes', c('unreachable'), 'Count'],
    ['RegisteredTargets', input.registeredTargets, 'Count'],
    ['TargetChanges', input.changes, 'Count'],
    ['VerdictNonHealthy', input.nonHealthy ? 1 : 0, 'Count'],
    ['ProbeBlind', input.probeBlind ? 1 : 0, 'Count'],
    ['TickDurationMs', input.tickDurationMs, 'Milliseconds'],
  ];
  // Omitted rather than 0 when nothing answered: a zero latency would hide the outage in averages.
  if (input.probeLatencyMs !== undefined) values.push(['ProbeLatencyMs', input.probeLatencyMs, 'Milliseconds']);

  const doc: Record<string, unknown> = {
    _aws: {
      Timestamp: input.timestampMs,
      CloudWatchMetrics: [
        {
          Namespace: METRICS_NAMESPACE,
          // Per cluster, and with no dimension at all: the stack's alarms watch the
          // dimensionless series so one alarm covers every configured cluster.
          Dimensions: [['Cluster'], []],
          Metrics: values.map(([Name, , Unit]) => ({ Name, Unit })),
        },
      ],
    },
    Cluster: input.cluster,
    Verdict: input.verdict,
  };
  for (const [name, value] of values) doc[name] = value;
  return JSON.stringify(doc);
}
