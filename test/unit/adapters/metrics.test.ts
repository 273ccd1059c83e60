import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMetrics, type MetricsInput } from '../../../functions/adapters/metrics.js';

const base: MetricsInput = {
  cluster: 'prod',
  verdict: 'healthy',
  counts: { active: 1, standby: 1, 'perf-standby': 1, sealed: 0 },
  registeredTargets: 1,
  changes: 2,
  tickDurationMs: 840,
  probeLatencyMs: 12,
  probeBlind: false,
  nonHealthy: false,
  timestampMs: Date.parse('2026-11-22T10:00:00.000Z'),
};

interface EmfDoc {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit?: string }> }>;
  };
  [k: string]: unknown;
}

/** The rules of CloudWatch's embedded metric format specification. */
function assertValidEmf(line: string): EmfDoc {
  assert.ok(!line.includes('\n'), 'one line');
  const doc = JSON.parse(line) as EmfDoc;
  assert.equal(typeof doc._aws.Timestamp, 'number');
  assert.ok(doc._aws.CloudWatchMetrics.length >= 1);
  for (const directive of doc._aws.CloudWatchMetrics) {
    assert.ok(directive.Namespace.length > 0);
    for (const set of directive.Dimensions) {
      assert.ok(set.length <= 30);
      for (const dim of set) assert.equal(typeof doc[dim], 'string', `dimension ${dim} is a top-level string property`);
    }
    assert.ok(directive.Metrics.length <= 100);
    for (const m of directive.Metrics) assert.equal(typeof doc[m.Name], 'number', `metric ${m.Name} has a numeric value`);
  }
  return doc;
}

const metricNames = (doc: EmfDoc): string[] => doc._aws.CloudWatchMetrics.flatMap((d) => d.Metrics.map((m) => m.Name));

describe('formatMetrics', () => {
  test('produces one valid EMF line in the VaultHA namespace, per cluster and aggregated (no dimension)', () => {
    const doc = assertValidEmf(formatMetrics(base));
    assert.equal(doc._aws.CloudWatchMetrics[0]?.Namespace, 'VaultHA');
    assert.deepEqual(doc._aws.CloudWatchMetrics[0]?.Dimensions, [['Cluster'], []]);
    assert.equal(doc['Cluster'], 'prod');
    assert.equal(doc._aws.Timestamp, base.timestampMs);
  });

  test('names every metric the dashboards use', () => {
    const names = metricNames(assertValidEmf(formatMetrics(base)));
    for (const n of ['ActiveNodes', 'StandbyNodes', 'SealedNodes', 'UnreachableNodes', 'RegisteredTargets', 'TargetChanges', 'VerdictNonHealthy', 'ProbeBlind', 'TickDurationMs', 'ProbeLatencyMs']) {
      assert.ok(names.includes(n), n);
    }
  });

  test('carries the verdict as a property, not a dimension', () => {
    const doc = assertValidEmf(formatMetrics({ ...base, verdict: 'split-brain' }));
    assert.equal(doc['Verdict'], 'split-brain');
    assert.ok(!doc._aws.CloudWatchMetrics[0]?.Dimensions.flat().includes('Verdict'));
    assert.ok(!metricNames(doc).includes('Verdict'));
  });

  test('counts node classes; absent classes count zero; performance standbys are standbys', () => {
    const doc = assertValidEmf(formatMetrics({ ...base, counts: { active: 2, standby: 1, 'perf-standby': 2, unreachable: 1 } }));
    assert.equal(doc['ActiveNodes'], 2);
    assert.equal(doc['StandbyNodes'], 3);
    assert.equal(doc['SealedNodes'], 0);
    assert.equal(doc['UnreachableNodes'], 1);
  });

  const flagRows = [
    { flags: { nonHealthy: true, probeBlind: true }, expected: { VerdictNonHealthy: 1, ProbeBlind: 1 } },
    { flags: { nonHealthy: false, probeBlind: false }, expected: { VerdictNonHealthy: 0, ProbeBlind: 0 } },
  ];
  for (const row of flagRows) {
    test(`reports nonHealthy=${row.flags.nonHealthy} probeBlind=${row.flags.probeBlind} as 0/1`, () => {
      const doc = assertValidEmf(formatMetrics({ ...base, ...row.flags }));
      assert.equal(doc['VerdictNonHealthy'], row.expected.VerdictNonHealthy);
      assert.equal(doc['ProbeBlind'], row.expected.ProbeBlind);
    });
  }

  test('durations are in Milliseconds', () => {
    const doc = assertValidEmf(formatMetrics(base));
    const unit = (n: string) => doc._aws.CloudWatchMetrics[0]?.Metrics.find((m) => m.Name === n)?.Unit;
    assert.equal(unit('TickDurationMs'), 'Milliseconds');
    assert.equal(unit('ProbeLatencyMs'), 'Milliseconds');
    assert.equal(doc['TickDurationMs'], 840);
  });

  test('without a probe latency the metric is left out rather than reported as 0', () => {
    const { probeLatencyMs: _omit, ...rest } = base;
    const doc = assertValidEmf(formatMetrics(rest));
    assert.ok(!metricNames(doc).includes('ProbeLatencyMs'));
    assert.equal(doc['ProbeLatencyMs'], undefined);
  });
});
