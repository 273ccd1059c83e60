/**
 * The failover benchmark's arithmetic on hand-made timelines: client-visible
 * RTO, failed requests, quantiles, cell summaries, the ratio to classic and the
 * met / not met verdict of every issue-7 target.
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import {
  clientRto,
  evaluateTargets,
  explainRto,
  failedRequests,
  firstAfter,
  maxGap,
  median,
  quantile,
  summarizeCell,
  withRatios,
  type CellKey,
  type CellSummary,
  type ClientRequest,
  type RunMetrics,
} from '../../../bench/failover-stats.js';
import { parseFailoverArgs, selectCells, BenchArgumentError } from '../../../bench/failover.js';

/** A request every 100 ms from `fromMs` to `toMs` (exclusive), each answering after 5 ms, ok unless `failing(sentAt)`. */
function requests(fromMs: number, toMs: number, failing: (sentAtMs: number) => boolean): ClientRequest[] {
  const out: ClientRequest[] = [];
  for (let t = fromMs; t < toMs; t += 100) out.push({ sentAtMs: t, endAtMs: t + 5, ok: !failing(t) });
  return out;
}

function run(over: Partial<RunMetrics> = {}): RunMetrics {
  return { clientRtoMs: 5_000, recovered: true, failedRequests: 10, requests: 600, emptyTargetGroupSamples: 0, twoActivesRoutedSamples: 0, samples: 600, ...over };
}

function cell(key: CellKey, rtoSeconds: number[], over: Partial<RunMetrics> = {}): CellSummary {
  return summarizeCell(key, rtoSeconds.map((s) => run({ clientRtoMs: s * 1000, ...over })));
}

describe('quantiles', () => {
  test('nearest rank: the p95 of five runs is their maximum, the median the middle one', () => {
    assert.equal(quantile([5, 1, 4, 2, 3], 0.95), 5);
    assert.equal(quantile([5, 1, 4, 2, 3], 0.5), 3);
    assert.equal(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 0.95), 19);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  test('the median of an even count is the mean of the two middle values', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([7]), 7);
  });
});

describe('client-visible RTO', () => {
  test('fault → the first request after which every request succeeds', () => {
    // Fault at 1000; requests sent from 1000 to 2400 fail; from 2500 on every one succeeds.
    const rs = requests(0, 6_000, (t) => t >= 1_000 && t < 2_500);
    assert.deepEqual(clientRto(rs, 1_000), { rtoMs: 1_500, recovered: true });
    assert.equal(failedRequests(rs, 1_000), 15);
  });

  test('a success in the middle of the outage does not end it: the last failure does', () => {
    const rs = requests(0, 6_000, (t) => t >= 1_000 && t < 3_000 && t !== 1_500);
    assert.equal(clientRto(rs, 1_000).rtoMs, 2_000);
    assert.equal(failedRequests(rs, 1_000), 19);
  });

  test('a request in flight at the fault that fails counts; one that ended before the fault does not', () => {
    const rs: ClientRequest[] = [
      { sentAtMs: 500, endAtMs: 700, ok: false }, // before the fault: not this failover
      { sentAtMs: 900, endAtMs: 1_400, ok: false }, // in flight at the fault
      { sentAtMs: 1_000, endAtMs: 1_005, ok: true },
      { sentAtMs: 1_100, endAtMs: 1_105, ok: true },
    ];
    assert.deepEqual(clientRto(rs, 1_000), { rtoMs: 0, recovered: true }, 'the next request was sent at the fault itself');
    assert.equal(failedRequests(rs, 1_000), 1);
  });

  test('order is by send time: a slow request that fails late keeps the outage open until the request after it', () => {
    const rs = [...requests(1_000, 5_000, () => false), { sentAtMs: 2_050, endAtMs: 4_000, ok: false }];
    assert.deepEqual(clientRto(rs, 1_000), { rtoMs: 1_100, recovered: true });
  });

  test('no failure at all is an RTO of 0', () => {
    assert.deepEqual(clientRto(requests(0, 3_000, () => false), 1_000), { rtoMs: 0, recovered: true });
  });

  test('a run that ends failing never recovered: the figure is a lower bound up to the last answer', () => {
    const rs = requests(0, 4_000, (t) => t >= 1_000);
    assert.deepEqual(clientRto(rs, 1_000), { rtoMs: 2_905, recovered: false });
  });
});

describe('probe gaps', () => {
  test('the longest gap and the first probe after the fault', () => {
    assert.equal(maxGap([0, 5_000, 10_000, 27_000, 32_000]), 17_000);
    assert.equal(maxGap([3]), 0);
    assert.equal(firstAfter([0, 5_000, 10_000], 6_000), 4_000);
    assert.equal(firstAfter([0, 5_000], 6_000), undefined);
  });
});

describe('cell summaries', () => {
  const key = (setup: CellKey['setup'], scenario: CellKey['scenario'] = 'kill-active', alb: CellKey['alb'] = 'aggressive'): CellKey => ({ scenario, alb, setup });

  test('statistics in seconds, sums of the safety samples, unrecovered runs counted', () => {
    const c = summarizeCell(key('default'), [
      run({ clientRtoMs: 4_000, electedMs: 2_000, emptyTargetGroupSamples: 2 }),
      run({ clientRtoMs: 6_000, electedMs: 3_000, twoActivesRoutedSamples: 1 }),
      run({ clientRtoMs: 20_000, recovered: false, failedRequests: 30 }),
    ]);
    assert.deepEqual(c.clientRtoSeconds, { median: 6, p95: 20, min: 4, max: 20 });
    assert.deepEqual(c.electedSeconds, { median: 2.5, p95: 3, min: 2, max: 3 });
    assert.equal(c.registeredSeconds, null);
    assert.equal(c.emptyTargetGroupSamples, 2);
    assert.equal(c.twoActivesRoutedSamples, 1);
    assert.equal(c.unrecoveredRuns, 1);
    assert.deepEqual(c.failedRequests, { median: 10, max: 30 });
  });

  test('ratio to classic at the same scenario and ALB settings; none for classic itself', () => {
    const cells = withRatios([
      cell(key('classic'), [20, 22, 24]),
      cell(key('default'), [5, 5.5, 6]),
      cell(key('classic', 'kill-active', 'aws-default'), [150]),
      cell(key('default', 'step-down'), [2]),
    ]);
    assert.equal(cells[0]!.ratioToClassic, null);
    assert.equal(cells[1]!.ratioToClassic, 0.25);
    assert.equal(cells[3]!.ratioToClassic, null, 'no classic step-down cell in this run');
  });
});

describe('issue-7 targets', () => {
  const limits = { killActiveMedianSeconds: 8, killActiveP95Seconds: 12, stepDownMaxSeconds: 3, probeIntervalSeconds: 5 };
  const k = (scenario: CellKey['scenario'], alb: CellKey['alb'], setup: CellKey['setup']): CellKey => ({ scenario, alb, setup });
  const find = (results: ReturnType<typeof evaluateTargets>, target: string, cellName: string) =>
    results.find((r) => r.target.startsWith(target) && r.cell === cellName);

  test('kill-active with the defaults: met within both limits, not met by how much otherwise', () => {
    const results = evaluateTargets(
      withRatios([
        cell(k('kill-active', 'aggressive', 'default'), [5, 6, 7, 7.5, 10], { electedMs: 2_000 }),
        cell(k('kill-active', 'aws-default', 'default'), [9, 9.5, 10, 11, 14], { electedMs: 2_000, registeredMs: 2_500, albHealthyMs: 9_000 }),
      ]),
      limits,
    );
    const ok = find(results, 'kill-active RTO', 'kill-active/aggressive/default')!;
    assert.equal(ok.met, true, ok.detail);
    const missed = find(results, 'kill-active RTO', 'kill-active/aws-default/default')!;
    assert.equal(missed.met, false);
    assert.match(missed.detail, /median 10\.0 s > 8\.0 s by 2\.0 s/);
    assert.match(missed.detail, /p95 14\.0 s > 12\.0 s by 2\.0 s/);
    assert.match(missed.why!, /bounded by the ALB/);
  });

  test('an RTO bounded by the election says so', () => {
    const c = cell(k('kill-active', 'aggressive', 'default'), [16, 17], { electedMs: 14_000, registeredMs: 14_500, albHealthyMs: 15_000 });
    assert.match(explainRto(c, 8), /bounded by Vault: the election alone takes 14\.0 s/);
  });

  test('step-down: every run within 3 s, and no more failed requests than classic', () => {
    const results = evaluateTargets(
      [
        cell(k('step-down', 'aggressive', 'classic'), [2.5, 2.6], { failedRequests: 25 }),
        cell(k('step-down', 'aggressive', 'default'), [2.4, 2.5], { failedRequests: 24 }),
        cell(k('step-down', 'aggressive', 'active-only'), [2.5, 15.4], { failedRequests: 24 }),
        cell(k('step-down', 'aggressive', 'all-unsealed'), [2.5, 2.6], { failedRequests: 40 }),
      ],
      limits,
    );
    assert.equal(find(results, 'step-down', 'step-down/aggressive/classic')!.met, true);
    assert.equal(find(results, 'step-down', 'step-down/aggressive/default')!.met, true);
    const slow = find(results, 'step-down', 'step-down/aggressive/active-only')!;
    assert.equal(slow.met, false);
    assert.match(slow.detail, /worst run 15\.4 s > 3\.0 s by 12\.4 s/);
    const barely = evaluateTargets([cell(k('step-down', 'aws-default', 'default'), [2.6, 3.04])], limits)[0]!;
    assert.equal(barely.met, false);
    assert.match(barely.detail, /worst run 3\.04 s > 3\.0 s by 0\.04 s/, 'a miss below the display precision still reads as one');
    const noisy = find(results, 'step-down', 'step-down/aggressive/all-unsealed')!;
    assert.equal(noisy.met, false);
    assert.match(noisy.detail, /failed requests median 40 > 25 by 15/);
  });

  test('a single empty or two-active sample fails the safety target of its cell', () => {
    const results = evaluateTargets(
      [
        cell(k('kill-active', 'aggressive', 'classic'), [20]),
        cell(k('kill-active', 'aggressive', 'active-only'), [15], { emptyTargetGroupSamples: 1 }),
        cell(k('kill-active', 'aggressive', 'all-unsealed'), [15], { twoActivesRoutedSamples: 3 }),
      ],
      limits,
    );
    assert.equal(find(results, 'emptyTargetGroupSamples', 'kill-active/aggressive/classic')!.met, true);
    assert.equal(find(results, 'emptyTargetGroupSamples', 'kill-active/aggressive/active-only')!.met, false);
    assert.equal(find(results, 'emptyTargetGroupSamples', 'kill-active/aggressive/all-unsealed')!.met, false);
  });

  test('active-only kill-active is compared with classic on median and p95', () => {
    const results = evaluateTargets(
      [
        cell(k('kill-active', 'aws-default', 'classic'), [150, 160, 170]),
        cell(k('kill-active', 'aws-default', 'active-only'), [140, 145, 180]),
      ],
      limits,
    );
    const r = find(results, 'active-only', 'kill-active/aws-default/active-only')!;
    assert.equal(r.met, false);
    assert.match(r.detail, /median 145\.0 s ≤ classic 160\.0 s/);
    assert.match(r.detail, /p95 180\.0 s > classic 170\.0 s by 10\.0 s/);
  });

  test('detection p95 within probeIntervalSeconds + 1 s, controller setups only', () => {
    const results = evaluateTargets(
      [
        cell(k('kill-active', 'aggressive', 'classic'), [20]),
        cell(k('kill-active', 'aggressive', 'default'), [5], { detectionMs: 5_500, maxProbeGapMs: 6_000 }),
        cell(k('kill-active', 'aggressive', 'active-only'), [5], { detectionMs: 12_000, maxProbeGapMs: 17_000 }),
      ],
      limits,
    );
    assert.equal(find(results, 'detection', 'kill-active/aggressive/classic'), undefined);
    assert.equal(find(results, 'detection', 'kill-active/aggressive/default')!.met, true);
    const slow = find(results, 'detection', 'kill-active/aggressive/active-only')!;
    assert.equal(slow.met, false);
    assert.match(slow.detail, /detection p95 12\.0 s > 6\.0 s by 6\.0 s; longest gap between probes 17\.0 s/);
  });
});

describe('command line', () => {
  test('--only takes scenario/alb/setup patterns with * wildcards', () => {
    assert.equal(selectCells(undefined).length, 16);
    assert.deepEqual(
      selectCells('kill-active/*/default').map((c) => `${c.scenario}/${c.alb}/${c.setup}`),
      ['kill-active/aws-default/default', 'kill-active/aggressive/default'],
    );
    assert.throws(() => selectCells('kill-everything/*/*'), BenchArgumentError);
  });

  test('defaults: 5 runs per cell, the results file named by date', () => {
    const a = parseFailoverArgs(['--failover'], new Date('2026-12-01T10:00:00Z'));
    assert.equal(a.runs, 5);
    assert.match(a.out, /bench\/results\/failover-2026-12-01\.json$/);
    assert.equal(parseFailoverArgs(['--failover', '--runs', '1', '--speed', '5']).speed, 5);
    assert.throws(() => parseFailoverArgs(['--runs', '0']), BenchArgumentError);
    assert.throws(() => parseFailoverArgs(['--speed']), BenchArgumentError);
  });
});
