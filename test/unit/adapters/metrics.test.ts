import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { formatMetrics, metricsStage, seriesCount, type MetricsInput } from '../../../functions/adapters/metrics.js';

const base: MetricsInput = {
  cluster: 'prod',
  stage: 'prod',
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

/**
 * The custom metric series a line creates: CloudWatch bills each unique namespace +
 * metric name + dimension name/value combination as one metric (CloudWatch pricing).
 */
function seriesOf(doc: EmfDoc): Set<string> {
  const out = new Set<string>();
  for (const d of doc._aws.CloudWatchMetrics) {
    for (const set of d.Dimensions) {
      const dims = [...set].sort().map((k) => `${k}=${String(doc[k])}`).join(',');
      for (const m of d.Metrics) out.add(`${d.Namespace}/${m.Name}{${dims}}`);
    }
  }
  return out;
}

const seriesOfFleet = (clusters: number, stage = 'prod'): Set<string> => {
  const all = new Set<string>();
  for (let i = 0; i < clusters; i++) {
    for (const s of seriesOf(assertValidEmf(formatMetrics({ ...base, stage, cluster: `c${i}` })))) all.add(s);
  }
  return all;
};

describe('formatMetrics', () => {
  test('produces one valid EMF line in the VaultHA namespace, every series carrying the Stage dimension', () => {
    const doc = assertValidEmf(formatMetrics(base));
    assert.equal(doc._aws.Timestamp, base.timestampMs);
    assert.equal(doc['Cluster'], 'prod');
    assert.equal(doc['Stage'], 'prod');
    for (const d of doc._aws.CloudWatchMetrics) {
      assert.equal(d.Namespace, 'VaultHA');
      for (const set of d.Dimensions) assert.ok(set.includes('Stage'), `dimension set [${set.join(',')}] lacks Stage`);
    }
  });

  test('two stages in one account never share a series, so neither trips the other\'s alarms', () => {
    const dev = seriesOfFleet(3, 'dev');
    const prod = seriesOfFleet(3, 'prod');
    assert.deepEqual([...dev].filter((s) => prod.has(s)), []);
  });

  test('no more than 6 custom metric series per cluster: 5 for one cluster, about one each at 100 (seriesCount says how many)', () => {
    for (const n of [1, 2, 10, 100]) {
      const series = seriesOfFleet(n);
      assert.equal(series.size, seriesCount(n), `${n} clusters`);
      assert.ok(series.size <= 6 * n, `${n} clusters: ${series.size} series`);
    }
    assert.equal(seriesCount(1), 5);
    // At 100 clusters a little over one series each: $0.30 a series-month must stay well under $1 a cluster.
    assert.ok(seriesCount(100) <= 110, `${seriesCount(100)} series at 100 clusters`);
  });

  test('the alarmed metrics exist per stage (one alarm for every cluster) and per cluster (which one)', () => {
    const doc = assertValidEmf(formatMetrics({ ...base, verdict: 'probe-blind', probeBlind: true, nonHealthy: true }));
    const series = seriesOf(doc);
    assert.ok(series.has('VaultHA/VerdictNonHealthy{Stage=prod}'));
    assert.ok(series.has('VaultHA/ProbeBlind{Stage=prod}'));
    assert.ok(series.has('VaultHA/VerdictNonHealthy{Cluster=prod,Stage=prod}'));
    assert.ok(series.has('VaultHA/StandbyNodes{Stage=prod}'), 'the least redundant cluster (Minimum statistic)');
    assert.equal(doc['VerdictNonHealthy'], 1);
    assert.equal(doc['ProbeBlind'], 1);
  });

  test('the stage comes from the input, else env VAULT_HA_STAGE, else "local"', () => {
    assert.equal(metricsStage('dev', { VAULT_HA_STAGE: 'prod' }), 'dev');
    assert.equal(metricsStage(undefined, { VAULT_HA_STAGE: 'prod' }), 'prod');
    assert.equal(metricsStage(undefined, { VAULT_HA_STAGE: '  ' }), 'local');
    assert.equal(metricsStage(undefined, {}), 'local');
  });

  test('carries the verdict as a property, not a dimension or a metric', () => {
    const doc = assertValidEmf(formatMetrics({ ...base, verdict: 'split-brain' }));
    assert.equal(doc['Verdict'], 'split-brain');
    assert.ok(!doc._aws.CloudWatchMetrics.flatMap((d) => d.Dimensions.flat()).includes('Verdict'));
    assert.ok(!metricNames(doc).includes('Verdict'));
  });

  test('counts node classes; absent classes count zero; performance standbys are standbys', () => {
    const doc = assertValidEmf(formatMetrics({ ...base, counts: { active: 2, standby: 1, 'perf-standby': 2, unreachable: 1 } }));
    assert.equal(doc['ActiveNodes'], 2);
    assert.equal(doc['StandbyNodes'], 3);
    assert.equal(doc['SealedNodes'], 0);
    assert.equal(doc['UnreachableNodes'], 1);
  });

  test('what no graph or alarm needs stays in the log line as a property, not a billed metric', () => {
    const doc = assertValidEmf(formatMetrics(base));
    const names = metricNames(doc);
    for (const p of ['ActiveNodes', 'SealedNodes', 'UnreachableNodes', 'RegisteredTargets', 'TargetChanges', 'ProbeLatencyMs']) {
      assert.equal(typeof doc[p], 'number', `${p} is in the line`);
      assert.ok(!names.includes(p), `${p} is not a metric`);
    }
    assert.equal(doc['RegisteredTargets'], 1);
    assert.equal(doc['TargetChanges'], 2);
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

  test('the tick duration is in Milliseconds, the counts in Count', () => {
    const doc = assertValidEmf(formatMetrics(base));
    const unit = (n: string) => doc._aws.CloudWatchMetrics.flatMap((d) => d.Metrics).find((m) => m.Name === n)?.Unit;
    assert.equal(unit('TickDurationMs'), 'Milliseconds');
    assert.equal(unit('StandbyNodes'), 'Count');
    assert.equal(doc['TickDurationMs'], 840);
  });

  test('without a probe latency the property is left out rather than reported as 0', () => {
    const { probeLatencyMs: _omit, ...rest } = base;
    const doc = assertValidEmf(formatMetrics(rest));
    assert.equal(doc['ProbeLatencyMs'], undefined);
    assert.ok(!JSON.stringify(doc).includes('ProbeLatencyMs'));
  });
});
