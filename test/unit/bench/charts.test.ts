/**
 * The pictures' data on hand-made timelines (no rendering): client buckets, the
 * per-bucket median and p10–p90 band across runs, the window, markers (fault,
 * election, first registration change, recovery), label rows, and the
 * single-run timeline (verdict / routing bands, phases, a drill report).
 */
import { describe, expect, it } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  ChartInputError,
  bucketClientSamples,
  failoverCharts,
  firstRegistrationChange,
  markerLabels,
  rebucket,
  setupMarkers,
  successShare,
  type ChartResults,
  type ChartRun,
  type FailoverChartData,
} from '../../../bench/charts/failover-chart.js';
import { CLIENT_FAILING, CLIENT_OK, bandsOf, drillReportTimeline, routingOfPoll, runTimelineData, sandboxRunTimeline, verdictChangesFromSandbox } from '../../../bench/charts/run-timeline.js';
import { layoutLabels } from '../../../bench/charts/specs.js';
import { drillReport, drillReportWithClients } from './charts-fixtures.js';

/**
 * One run as the benchmark would record it: a request every 100 ms from 10 s
 * before the fault to `observedMs` after it, failing while `failing(t)`.
 */
function run(cell: ChartRun['cell'], n: number, o: { rtoMs: number; recovered?: boolean; electedMs?: number; registeredMs?: number; firstChangeMs?: number; observedMs?: number; failing?: (tMs: number) => boolean; client?: boolean }): ChartRun {
  const observedMs = o.observedMs ?? 60_000;
  const failing = o.failing ?? ((t: number) => t >= 0 && t < o.rtoMs);
  const samples = [];
  for (let t = -10_000; t < observedMs; t += 100) samples.push({ atMs: t, ok: !failing(t) });
  return {
    cell,
    run: n,
    metrics: {
      clientRtoMs: o.rtoMs,
      recovered: o.recovered ?? true,
      ...(o.electedMs !== undefined ? { electedMs: o.electedMs } : {}),
      ...(o.registeredMs !== undefined ? { registeredMs: o.registeredMs } : {}),
      ...(o.firstChangeMs !== undefined ? { firstRegistrationChangeMs: o.firstChangeMs } : {}),
    },
    observedMs,
    ...(o.client === false ? {} : { client: bucketClientSamples(samples, { bucketMs: 500, startMs: -10_000, endMs: observedMs }) }),
  };
}

const KA = (setup: string) => ({ scenario: 'kill-active', alb: 'aggressive', setup });

function chartOf(results: ChartResults, scenario = 'kill-active', alb = 'aggressive'): FailoverChartData {
  const c = failoverCharts(results).find((x) => x.scenario === scenario && x.alb === alb);
  assert.ok(c, `no chart for ${scenario}/${alb}`);
  return c;
}
const point = (c: FailoverChartData, setup: string, tMs: number) => {
  const p = c.series.find((s) => s.setup === setup)?.points.find((x) => x.tMs === tMs);
  assert.ok(p, `no point at ${tMs} ms for ${setup}`);
  return p;
};

describe('client buckets', () => {
  it('counts each request in the bucket of its send time: start inclusive, end exclusive, outside the window left out', () => {
    const b = bucketClientSamples(
      [
        { atMs: -1, ok: true }, // before the window
        { atMs: 0, ok: true },
        { atMs: 499, ok: false },
        { atMs: 500, ok: false },
        { atMs: 999, ok: true },
        { atMs: 1000, ok: true }, // at endMs: out
      ],
      { bucketMs: 500, startMs: 0, endMs: 1000 },
    );
    assert.deepEqual(b, { bucketMs: 500, startMs: 0, ok: [1, 1], failed: [1, 1] });
  });

  it('refuses a zero bucket width or a window that ends before it starts (ChartInputError naming the field)', () => {
    assert.throws(() => bucketClientSamples([], { bucketMs: 0, startMs: 0, endMs: 10 }), (e: unknown) => e instanceof ChartInputError && e.field === 'bucketMs');
    assert.throws(() => bucketClientSamples([], { bucketMs: 500, startMs: 10, endMs: 10 }), (e: unknown) => e instanceof ChartInputError && e.field === 'endMs');
  });

  it('re-buckets 100 ms buckets onto the 500 ms grid, and refuses buckets that do not nest', () => {
    const fine = { bucketMs: 100, startMs: -200, ok: [1, 1, 0, 1, 1, 1, 1], failed: [0, 0, 1, 0, 0, 0, 0] };
    assert.deepEqual(rebucket(fine, { fromMs: -500, bucketMs: 500, count: 2 }), [
      { ok: 2, failed: 0 },
      { ok: 4, failed: 1 },
    ]);
    assert.throws(() => rebucket({ ...fine, bucketMs: 300 }, { fromMs: -500, bucketMs: 500, count: 2 }), ChartInputError);
    assert.throws(() => rebucket({ ...fine, startMs: -250 }, { fromMs: -500, bucketMs: 500, count: 2 }), ChartInputError);
    assert.throws(() => rebucket({ ...fine, failed: [0] }, { fromMs: -500, bucketMs: 500, count: 2 }), ChartInputError);
  });

  it('first registration change: the first sample after the fault whose registered set differs from the last one before it', () => {
    const s = (atMs: number, ...ids: string[]) => ({ atMs, registered: ids.map((id) => ({ id })) });
    const samples = [s(-200, 'i-0a'), s(-100, 'i-0a'), s(0, 'i-0a'), s(100, 'i-0a'), s(200), s(300, 'i-0b')];
    assert.equal(firstRegistrationChange(samples, 0), 200);
    assert.equal(firstRegistrationChange([s(-100, 'i-0a', 'i-0b'), s(50, 'i-0b', 'i-0a')], 0), undefined, 'order within a sample is no change');
    assert.equal(firstRegistrationChange([s(10, 'i-0a'), s(20)], 0), undefined, 'no sample before the fault: nothing to compare with');
  });

  it('a bucket without requests has no share (null), not 0 %', () => {
    assert.equal(successShare({ ok: 0, failed: 0 }), null);
    assert.equal(successShare({ ok: 3, failed: 1 }), 0.75);
  });
});

describe('failover charts: series across runs', () => {
  // active-only: three runs recovering at 2.2 s, 3 s and 5 s; classic: two runs recovering at 20 s and 30 s.
  const results: ChartResults = {
    speed: 8,
    settings: { setups: { classic: { controller: false }, 'active-only': { controller: true } } },
    runs: [
      run(KA('classic'), 0, { rtoMs: 20_000, electedMs: 12_000, registeredMs: 12_000 }),
      run(KA('active-only'), 0, { rtoMs: 2_200, electedMs: 1_000, registeredMs: 1_500 }),
      run(KA('active-only'), 1, { rtoMs: 3_000, electedMs: 2_000, registeredMs: 2_500 }),
      run(KA('active-only'), 2, { rtoMs: 5_000, electedMs: 4_000, registeredMs: 4_500 }),
      run(KA('classic'), 1, { rtoMs: 30_000, electedMs: 14_000, registeredMs: 14_000 }),
    ],
  };
  const c = chartOf(results);

  it('one series per setup in the benchmark order (classic, active-only, all-unsealed, default), with run counts', () => {
    assert.deepEqual(
      c.series.map((s) => [s.setup, s.runs, s.clientRuns, s.unrecovered]),
      [
        ['classic', 2, 2, 0],
        ['active-only', 3, 3, 0],
      ],
    );
  });

  it('the window runs from 10 s before the fault to 60 s after the slowest setup\'s median recovery, in 500 ms buckets', () => {
    // classic's median recovery: (20 + 30) / 2 = 25 s → the window ends at 85 s.
    assert.deepEqual(c.window, { fromMs: -10_000, toMs: 85_000 });
    assert.equal(c.bucketMs, 500);
    assert.equal(c.series[0]!.points.length, 190);
    assert.equal(c.series[0]!.points[0]!.tMs, -10_000);
  });

  it('before the fault every run succeeded: median, p10 and p90 are 100 %', () => {
    assert.deepEqual(point(c, 'active-only', -500), { tMs: -500, median: 1, low: 1, high: 1, runs: 3 });
  });

  it('per bucket: the median across runs and the p10–p90 band (with 3 runs, min and max)', () => {
    // [2000, 2500): run 0 fails 2000 and 2100, succeeds from 2200 (3/5); runs 1 and 2 fail all 5.
    assert.deepEqual(point(c, 'active-only', 2_000), { tMs: 2_000, median: 0, low: 0, high: 0.6, runs: 3 });
    // [3000, 3500): runs 0 and 1 recovered, run 2 still failing.
    assert.deepEqual(point(c, 'active-only', 3_000), { tMs: 3_000, median: 1, low: 0, high: 1, runs: 3 });
    // [5000, 5500): all recovered.
    assert.deepEqual(point(c, 'active-only', 5_000), { tMs: 5_000, median: 1, low: 1, high: 1, runs: 3 });
  });

  it('with an even number of runs the median is the mean of the middle two', () => {
    // classic [20 000, 20 500): run 0 recovered (1), run 1 still failing (0).
    assert.deepEqual(point(c, 'classic', 20_000), { tMs: 20_000, median: 0.5, low: 0, high: 1, runs: 2 });
  });

  it('after a run stopped observing, its buckets have no requests: the others carry the bucket, then the line stops (null)', () => {
    const r = chartOf({ runs: [run(KA('default'), 0, { rtoMs: 1_000, observedMs: 30_000 }), run(KA('default'), 1, { rtoMs: 1_000, observedMs: 40_000 }), run(KA('classic'), 0, { rtoMs: 20_000, observedMs: 60_000 })] });
    assert.deepEqual(point(r, 'default', 35_000), { tMs: 35_000, median: 1, low: 1, high: 1, runs: 1 });
    assert.deepEqual(point(r, 'default', 45_000), { tMs: 45_000, median: null, low: null, high: null, runs: 0 });
    assert.equal(r.series.find((s) => s.setup === 'default')!.observedToMs, 40_000);
  });

  it('a gap in one run\'s requests (zero requests in a bucket) leaves that run out of the bucket instead of counting it failed', () => {
    const gap = run(KA('default'), 0, { rtoMs: 0 });
    const ok = gap.client!.ok.slice();
    ok[20] = 0; // bucket 20 = [0, 500): no request sent
    const r = chartOf({ runs: [{ ...gap, client: { ...gap.client!, ok } }, run(KA('default'), 1, { rtoMs: 1_000 })] });
    assert.deepEqual(point(r, 'default', 0), { tMs: 0, median: 0, low: 0, high: 0, runs: 1 });
  });

  it('runs that errored are left out; a chart per scenario × ALB in benchmark order', () => {
    const charts = failoverCharts({
      runs: [
        run({ scenario: 'step-down', alb: 'aws-default', setup: 'default' }, 0, { rtoMs: 1_000 }),
        { ...run({ scenario: 'step-down', alb: 'aws-default', setup: 'classic' }, 0, { rtoMs: 1_000 }), error: 'worker exited (1)' },
        run({ scenario: 'kill-active', alb: 'aggressive', setup: 'default' }, 0, { rtoMs: 1_000 }),
        run({ scenario: 'kill-active', alb: 'aws-default', setup: 'default' }, 0, { rtoMs: 1_000 }),
      ],
    });
    assert.deepEqual(
      charts.map((x) => `${x.scenario}/${x.alb}:${x.series.map((s) => s.setup).join(',')}`),
      ['kill-active/aws-default:default', 'kill-active/aggressive:default', 'step-down/aws-default:default'],
    );
  });

  it('runs without client buckets (results from before they were recorded) still give markers, and are counted', () => {
    const r = chartOf({ runs: [run(KA('default'), 0, { rtoMs: 9_000, electedMs: 5_000, client: false })] });
    assert.equal(r.runsWithoutClientData, 1);
    assert.ok(r.series[0]!.points.every((p) => p.median === null));
    assert.equal(r.series[0]!.observedToMs, null);
    assert.deepEqual(
      r.markers.map((m) => [m.kind, m.atMs]),
      [
        ['fault', 0],
        ['elected', 5_000],
        ['recovered', 9_000],
      ],
    );
  });
});

describe('failover charts: markers', () => {
  it('medians across runs: fault at 0, election, first registration change (controller setups only), recovery', () => {
    const c = chartOf({
      settings: { setups: { classic: { controller: false }, default: { controller: true } } },
      runs: [
        run(KA('classic'), 0, { rtoMs: 20_000, electedMs: 12_000, registeredMs: 12_000 }),
        run(KA('default'), 0, { rtoMs: 8_000, electedMs: 5_000, registeredMs: 6_000 }),
        run(KA('default'), 1, { rtoMs: 10_000, electedMs: 6_000, registeredMs: 7_000 }),
        run(KA('default'), 2, { rtoMs: 9_000, electedMs: 4_000, registeredMs: 9_000 }),
      ],
    });
    assert.deepEqual(
      c.markers.map((m) => [m.kind, m.setup, m.atMs, m.label]),
      [
        ['fault', null, 0, 'fault (kill-active)'],
        // No controller: nothing changes registrations, so classic has no registration marker.
        ['elected', 'classic', 12_000, 'classic: elected 12.0 s'],
        ['recovered', 'classic', 20_000, 'classic: recovered 20.0 s'],
        ['elected', 'default', 5_000, 'default: elected 5.0 s'],
        ['registration', 'default', 7_000, 'default: new active registered 7.0 s'],
        ['recovered', 'default', 9_000, 'default: recovered 9.0 s'],
      ],
    );
  });

  it('prefers the first registration change when the run records it, and names it so', () => {
    const m = setupMarkers('active-only', [{ clientRtoMs: 8_000, recovered: true, electedMs: 5_000, registeredMs: 5_500, firstRegistrationChangeMs: 1_600 }], true);
    assert.deepEqual(
      m.map((x) => [x.kind, x.atMs, x.what]),
      [
        ['elected', 5_000, 'elected'],
        ['registration', 1_600, 'targets changed'],
        ['recovered', 8_000, 'recovered'],
      ],
    );
  });

  it('no recovery: no recovery marker, and a partial one says over how many runs', () => {
    const none = setupMarkers('classic', [{ clientRtoMs: 300_000, recovered: false, electedMs: 12_000 }], false);
    assert.deepEqual(none.map((x) => x.kind), ['elected']);
    const partial = setupMarkers('classic', [
      { clientRtoMs: 300_000, recovered: false },
      { clientRtoMs: 150_000, recovered: true },
      { clientRtoMs: 160_000, recovered: true },
    ], false);
    assert.deepEqual(partial.map((x) => [x.kind, x.atMs, x.runs, x.of, x.label]), [['recovered', 155_000, 2, 3, 'classic: recovered 155.0 s (2/3 runs)']]);
  });

  it('with no recovery in any run, the window ends where observation ended', () => {
    const c = chartOf({ runs: [run(KA('classic'), 0, { rtoMs: 300_000, recovered: false, observedMs: 300_000, failing: (t) => t >= 0 })] });
    assert.deepEqual(c.window, { fromMs: -10_000, toMs: 300_000 });
    assert.deepEqual(c.markers.map((m) => m.kind), ['fault']);
    assert.equal(c.series[0]!.unrecovered, 1);
    assert.equal(point(c, 'classic', 250_000).median, 0);
  });

  it('marker labels: one line per setup at its earliest marker, plus the fault', () => {
    const c = chartOf({ runs: [run(KA('default'), 0, { rtoMs: 8_000, electedMs: 5_000, registeredMs: 6_000 })] });
    assert.deepEqual(markerLabels(c), [
      { atMs: 0, setup: null, text: 'fault (kill-active)' },
      { atMs: 5_000, setup: 'default', text: 'default: elected 5.0 s · new active registered 6.0 s · recovered 8.0 s' },
    ]);
  });
});

describe('label rows', () => {
  it('labels that would overlap go to the next free row; those that do not share a row', () => {
    const rows = layoutLabels(
      [
        { xPx: 0, text: 'aaaaaaaaaa' }, // 0–63 px
        { xPx: 30, text: 'bbbb' }, // overlaps the first
        { xPx: 80, text: 'cccc' }, // clear of the first (63 + 6 gap)
        { xPx: 40, text: 'dd' }, // overlaps both of row 0 and row 1? row 1 ends at 55 → row 2
      ],
      500,
    );
    assert.deepEqual(rows.map((r) => r.row), [0, 1, 0, 2]);
  });

  it('a label that would run past the plot is right-aligned at its marker', () => {
    const [r] = layoutLabels([{ xPx: 490, text: 'recovered 151.4 s' }], 500);
    assert.deepEqual(r, { row: 0, align: 'right' });
  });
});

describe('single-run timeline', () => {
  it('bands: a value holds until the next change, repeats merge, the window clips, same-instant changes keep the later', () => {
    const bands = bandsOf(
      [
        { atMs: -5_000, value: 'healthy' },
        { atMs: 1_000, value: 'healthy' },
        { atMs: 2_000, value: 'split-brain' },
        { atMs: 2_000, value: 'no-leader' },
        { atMs: 6_000, value: 'healthy' },
      ],
      0,
      10_000,
    );
    assert.deepEqual(bands, [
      { fromMs: 0, toMs: 2_000, value: 'healthy' },
      { fromMs: 2_000, toMs: 6_000, value: 'no-leader' },
      { fromMs: 6_000, toMs: 10_000, value: 'healthy' },
    ]);
    assert.deepEqual(bandsOf([{ atMs: 3_000, value: 'healthy' }], 0, 10_000), [{ fromMs: 3_000, toMs: 10_000, value: 'healthy' }], 'nothing known before the first change');
  });

  it('client share per bucket on the chart clock (sandbox ×8: one wall second is 8 s), null where no request was sent', () => {
    const o = 100_000;
    const d = runTimelineData({
      title: 't',
      originMs: o,
      fromMs: o - 1_000,
      toMs: o + 1_000,
      scale: 8,
      client: [
        { atMs: o - 900, ok: true },
        { atMs: o + 10, ok: false },
        { atMs: o + 20, ok: true },
        { atMs: o + 30, ok: false },
        { atMs: o + 40, ok: false },
      ],
      verdicts: [{ atMs: o - 1_000, verdict: 'healthy' }, { atMs: o + 250, verdict: 'no-leader' }],
      phases: [{ name: 'observe-failover', startMs: o, endMs: o + 2_000 }],
      markers: [{ atMs: o, label: 'fault injected' }],
    });
    assert.deepEqual(d.window, { fromMs: -8_000, toMs: 8_000 });
    assert.equal(d.bucketMs, 4_000);
    assert.deepEqual(d.client, [
      { tMs: -8_000, share: 1, requests: 1 },
      { tMs: -4_000, share: null, requests: 0 },
      { tMs: 0, share: 0.25, requests: 4 },
      { tMs: 4_000, share: null, requests: 0 },
    ]);
    assert.deepEqual(d.verdicts, [
      { fromMs: -8_000, toMs: 2_000, value: 'healthy' },
      { fromMs: 2_000, toMs: 8_000, value: 'no-leader' },
    ]);
    assert.deepEqual(d.phases, [{ fromMs: 0, toMs: 8_000, value: 'observe-failover' }], 'clipped to the window');
    assert.deepEqual(d.markers, [{ atMs: 0, label: 'fault injected' }]);
    assert.deepEqual(d.lanes, []);
  });

  it('without client samples there is no client line (null), not a line at 0 %', () => {
    const d = runTimelineData({ title: 't', originMs: 0, verdicts: [{ atMs: 0, verdict: 'healthy' }], phases: [{ name: 'p', startMs: 0, endMs: 1_000 }] });
    assert.equal(d.client, null);
    assert.throws(() => runTimelineData({ title: 't', originMs: 0, verdicts: [], phases: [] }), ChartInputError);
  });

  it('verdict changes from a sandbox timeline ("<from> → <to>…" lines of kind verdict)', () => {
    assert.deepEqual(
      verdictChangesFromSandbox([
        { atMs: 1, kind: 'verdict', detail: '(start) → healthy (invocation 1)' },
        { atMs: 2, kind: 'controller', detail: 'registered i-0b' },
        { atMs: 3, kind: 'verdict', detail: 'healthy → no-leader: no node claims active' },
        { atMs: 4, kind: 'verdict', detail: 'garbled' },
      ]),
      [
        { atMs: 1, verdict: 'healthy' },
        { atMs: 3, verdict: 'no-leader' },
      ],
    );
  });

  it('a sandbox run: wall clock × speed, client samples, verdicts from the timeline, fault and client events as markers, the report\'s phases', () => {
    const t0 = 1_000_000;
    const d = runTimelineData(
      sandboxRunTimeline({
        name: 'drill-kill-active',
        speed: 8,
        startMs: t0 - 1_000,
        endMs: t0 + 4_000,
        faultAtMs: t0,
        timeline: [
          { atMs: t0 - 1_000, kind: 'info', detail: 'steady: vault-1 is active' },
          { atMs: t0, kind: 'fault', detail: 'kill Vault on vault-1' },
          { atMs: t0 + 250, kind: 'verdict', detail: 'healthy → no-leader: no node claims active' },
          { atMs: t0 + 800, kind: 'verdict', detail: 'no-leader → healthy (invocation 3)' },
          { atMs: t0 + 1_000, kind: 'client', detail: 'first client success after failover (served through the listener by vault-2)' },
        ],
        clientSamples: [
          { realAtMs: t0 - 100, ok: true },
          { realAtMs: t0 + 100, ok: false },
          { realAtMs: t0 + 1_000, ok: true },
        ],
        phases: [{ name: 'observe-failover', start: new Date(t0).toISOString(), end: new Date(t0 + 2_000).toISOString() }],
      }),
    );
    assert.deepEqual(d.window, { fromMs: -8_000, toMs: 32_000 });
    assert.equal(d.bucketMs, 4_000, '500 ms of sandbox time');
    assert.deepEqual(d.client?.slice(1, 4), [
      { tMs: -4_000, share: 1, requests: 1 },
      { tMs: 0, share: 0, requests: 1 },
      { tMs: 4_000, share: null, requests: 0 },
    ]);
    assert.deepEqual(d.verdicts, [
      { fromMs: 2_000, toMs: 6_400, value: 'no-leader' },
      { fromMs: 6_400, toMs: 32_000, value: 'healthy' },
    ]);
    assert.deepEqual(d.phases, [{ fromMs: 0, toMs: 16_000, value: 'observe-failover' }]);
    assert.deepEqual(d.markers.map((m) => [m.atMs, m.label]), [
      [0, 'kill Vault on vault-1'],
      [8_000, 'first client success after failover (served through the listener by v…'],
    ]);
  });

  it('routing from a drill poll: is the legitimate active registered, and healthy', () => {
    assert.equal(routingOfPoll({ legitimateActive: null, registered: [] }), 'no legitimate active');
    assert.equal(routingOfPoll({ legitimateActive: 'i-0b', registered: [{ instanceId: 'i-0a', state: 'healthy' }] }), 'active not registered');
    assert.equal(routingOfPoll({ legitimateActive: 'i-0b', registered: [{ instanceId: 'i-0b', state: 'initial' }] }), 'active registered, initial');
    assert.equal(routingOfPoll({ legitimateActive: 'i-0b', registered: [{ instanceId: 'i-0b', state: 'healthy' }] }), 'active registered, healthy');
  });
});

describe('a drill report as a timeline', () => {
  it('t = 0 at the injection; verdicts and routing from the polls; phases; the injection and the routing as markers', () => {
    const d = runTimelineData(drillReportTimeline(drillReport()));
    assert.deepEqual(d.window, { fromMs: -12_000, toMs: 40_000 });
    assert.deepEqual(d.verdicts, [
      { fromMs: -10_000, toMs: 2_000, value: 'healthy' },
      { fromMs: 2_000, toMs: 6_000, value: 'no-leader' },
      { fromMs: 6_000, toMs: 40_000, value: 'healthy' },
    ]);
    assert.deepEqual(d.lanes.map((l) => l.name), ['routing'], 'no client lane: this drill probed no listener');
    assert.deepEqual(d.lanes[0]!.bands, [
      { fromMs: -10_000, toMs: 2_000, value: 'active registered, healthy' },
      { fromMs: 2_000, toMs: 6_000, value: 'no legitimate active' },
      { fromMs: 6_000, toMs: 9_400, value: 'active registered, initial' },
      { fromMs: 9_400, toMs: 40_000, value: 'active registered, healthy' },
    ]);
    assert.deepEqual(d.phases.map((p) => [p.value, p.fromMs, p.toMs]), [
      ['validate', -12_000, -10_000],
      ['pre-check', -10_000, -1_000],
      ['inject-fault', -1_000, 200],
      ['observe-failover', 200, 25_000],
      ['post-check', 25_000, 40_000],
    ]);
    assert.deepEqual(d.markers, [
      { atMs: 0, label: 'fault injected' },
      { atMs: 9_400, label: 'new active routed 9.4 s' },
    ]);
    assert.equal(d.client, null, 'a drill report holds no per-request samples');
    expect(d.title).toBe('failover-drill kill-active on prod: passed, RTO 9.4 s');
  });

  it('a dry run (no polls, no injection) takes verdicts from its timeline and starts at the drill\'s start', () => {
    const r = { ...drillReport(), result: 'dry-run', rtoSeconds: null, verdicts: [], timeline: [{ at: '2026-11-30T09:59:48.000Z', event: 'phase validate started' }, { at: '2026-11-30T09:59:50.000Z', event: 'verdict healthy' }] };
    const input = drillReportTimeline(r);
    assert.equal(input.originMs, Date.parse('2026-11-30T09:59:48.000Z'));
    assert.deepEqual(input.verdicts, [{ atMs: Date.parse('2026-11-30T09:59:50.000Z'), verdict: 'healthy' }]);
    assert.deepEqual(input.lanes, []);
    assert.deepEqual(input.markers, []);
  });

  it('a drill that probed the listener: a clients lane from its ok ↔ failing transitions, and markers at the moments of `times`', () => {
    const d = runTimelineData(drillReportTimeline(drillReportWithClients()));
    const clients = d.lanes.find((l) => l.name === 'clients');
    assert.deepEqual(clients?.bands, [
      { fromMs: 0, toMs: 1_500, value: CLIENT_OK },
      { fromMs: 1_500, toMs: 8_200, value: CLIENT_FAILING },
      { fromMs: 8_200, toMs: 40_000, value: CLIENT_OK },
    ]);
    assert.deepEqual(d.lanes.map((l) => l.name), ['clients', 'routing']);
    assert.deepEqual(d.markers, [
      { atMs: 0, label: 'fault injected' },
      { atMs: 1_500, label: 'detected 1.5 s' },
      { atMs: 5_000, label: 'elected 5.0 s' },
      { atMs: 7_900, label: 'new active routed 7.9 s' },
      { atMs: 8_200, label: 'clients recovered 8.2 s' },
    ]);
    assert.equal(d.title, 'failover-drill kill-active on prod: passed, RTO 8.2 s (client-visible)');
    assert.match(d.subtitle[1]!, /412 requests, 37 failed/);
  });

  it('a report without a timeline is refused with a ChartInputError naming the execution', () => {
    assert.throws(() => drillReportTimeline({ executionName: 'x-1' }), (e: unknown) => e instanceof ChartInputError && e.field === 'timeline' && e.message.includes('x-1'));
  });
});
