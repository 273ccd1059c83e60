/**
 * The pictures drawn: a small failover chart and a drill timeline rendered to
 * SVG (vega, headless) and PNG (resvg), checked for their series (legend
 * entries, one line per setup), marker labels, title and axes; the files the
 * bench CLI and `vault-ha history --export-timeline` write. Nothing timed.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bucketClientSamples, failoverCharts, type ChartResults, type ChartRun } from '../../../bench/charts/failover-chart.js';
import { chartFormatOf, renderPng, renderSvg, writeFailoverCharts, writeRunTimelineFile } from '../../../bench/charts/render.js';
import { drillReportTimeline, runTimelineData } from '../../../bench/charts/run-timeline.js';
import { failoverChartSpec, runTimelineSpec, SETUP_COLOURS } from '../../../bench/charts/specs.js';
import { chartsCli, newestResults, readResults } from '../../../bench/charts/cli.js';
import { exportDrillTimeline, newestDrill, type HistoryEvent } from '../../../cli/history.js';
import { NotFoundError } from '../../../cli/lib/errors.js';
import { ChartInputError } from '../../../bench/charts/failover-chart.js';
import { drillReport, drillReportWithClients } from './charts-fixtures.js';

/** Every piece of text the SVG shows (legend entries, labels, titles), entities decoded. */
function texts(svg: string): string[] {
  const decode = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  return [...svg.matchAll(/<text[^>]*>([\s\S]*?)<\/text>/g)].map((m) => decode(m[1]!.replace(/<[^>]+>/g, '')));
}

function run(setup: string, n: number, rtoMs: number, electedMs: number, registeredMs?: number): ChartRun {
  const samples = [];
  for (let t = -10_000; t < 60_000; t += 100) samples.push({ atMs: t, ok: !(t >= 0 && t < rtoMs) });
  return {
    cell: { scenario: 'kill-active', alb: 'aggressive', setup },
    run: n,
    metrics: { clientRtoMs: rtoMs, recovered: true, electedMs, ...(registeredMs !== undefined ? { registeredMs } : {}) },
    observedMs: 60_000,
    client: bucketClientSamples(samples, { bucketMs: 500, startMs: -10_000, endMs: 60_000 }),
  };
}

const RESULTS: ChartResults = {
  speed: 8,
  settings: { setups: { classic: { controller: false }, default: { controller: true } } },
  runs: [run('classic', 0, 20_000, 12_000, 12_000), run('classic', 1, 22_000, 13_000, 13_000), run('default', 0, 8_000, 5_000, 6_000), run('default', 1, 8_000, 5_000, 6_000)],
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'charts-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('failover chart rendered', () => {
  it('the SVG has one legend entry and one line per setup, the marker labels, the run count and scenario/ALB in the title, axes with units', async () => {
    const [chart] = failoverCharts(RESULTS);
    const svg = await renderSvg(failoverChartSpec(chart!));
    const t = texts(svg);
    for (const expected of [
      'classic (2 runs)',
      'default (2 runs)',
      'fault (kill-active)',
      'classic: elected 12.5 s · recovered 21.0 s',
      'default: elected 5.0 s · new active registered 6.0 s · recovered 8.0 s',
      'kill-active · ALB aggressive · 2 runs per setup: what clients saw',
      'time since the fault (s, real-world; simulated at ×8)',
      'requests that succeeded (%)',
      'new active registered',
    ]) {
      assert.ok(t.includes(expected), `missing text "${expected}" in ${JSON.stringify(t)}`);
    }
    // One median line per setup, in its colour (lines are <path> with the setup's stroke inside the line marks).
    const lines = svg.match(/<g class="mark-line role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g) ?? [];
    const strokes = lines.flatMap((g) => [...g.matchAll(/stroke="(#[0-9a-f]{6})"/g)].map((m) => m[1]));
    assert.deepEqual([...new Set(strokes)].sort(), [SETUP_COLOURS['classic'], SETUP_COLOURS['default']].sort());
  });

  it('the PNG is a PNG with the chart\'s aspect (2× the SVG\'s pixels)', async () => {
    const [chart] = failoverCharts(RESULTS);
    const svg = await renderSvg(failoverChartSpec(chart!));
    const png = await renderPng(svg);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const svgWidth = Number(/<svg[^>]* width="(\d+)"/.exec(svg)![1]);
    assert.equal(png.readUInt32BE(16), svgWidth * 2, 'IHDR width');
  });

  it('writes one SVG + PNG per scenario × ALB next to the JSON (`npm run bench -- --charts FILE`)', async () => {
    const json = path.join(dir, 'failover-2026-11-30.json');
    const stepDown = RESULTS.runs.map((r) => ({ ...r, cell: { ...r.cell, scenario: 'step-down', alb: 'aws-default' } }));
    writeFileSync(json, JSON.stringify({ ...RESULTS, runs: [...RESULTS.runs, ...stepDown] }));
    const lines: string[] = [];
    const written = await chartsCli(['--charts', json], (l) => lines.push(l));
    assert.equal(lines.length, 2);
    assert.deepEqual(
      written.map((w) => path.basename(w.svg)),
      ['failover-2026-11-30-kill-active-aggressive.svg', 'failover-2026-11-30-step-down-aws-default.svg'],
    );
    for (const w of written) {
      assert.ok(readFileSync(w.svg, 'utf8').startsWith('<svg'));
      assert.ok(existsSync(w.png));
    }
    assert.equal(newestResults(dir), json);
  });

  it('refuses a file that is not a failover result, naming what is missing', () => {
    const bad = path.join(dir, 'other.json');
    writeFileSync(bad, JSON.stringify({ cells: [] }));
    assert.throws(() => readResults(bad), (e: unknown) => e instanceof ChartInputError && e.field === 'runs');
    writeFileSync(bad, JSON.stringify({ runs: [{ cell: { scenario: 'kill-active' } }] }));
    assert.throws(() => readResults(bad), (e: unknown) => e instanceof ChartInputError && e.field === 'runs[0].cell');
  });

  it('writeFailoverCharts with no successful run writes nothing', async () => {
    const written = await writeFailoverCharts({ runs: [{ ...RESULTS.runs[0]!, error: 'boom' }] }, path.join(dir, 'empty.json'));
    assert.deepEqual(written, []);
  });
});

describe('single-run timeline rendered', () => {
  it('a drill report: verdict and routing legends, phase names, marker labels, the title', async () => {
    const svg = await renderSvg(runTimelineSpec(runTimelineData(drillReportTimeline(drillReport()))));
    const t = texts(svg);
    for (const expected of [
      'failover-drill kill-active on prod: passed, RTO 9.4 s',
      'controller verdict',
      'healthy',
      'no-leader',
      'routing (from the polls)',
      'no legitimate active',
      'active registered, initial',
      'pre-check',
      'observe-failover',
      'fault injected',
      'new active routed 9.4 s',
      'time since the fault (s)',
    ]) {
      assert.ok(t.includes(expected), `missing text "${expected}" in ${JSON.stringify(t)}`);
    }
  });

  it('a drill that probed the listener: the clients lane and its legend', async () => {
    const t = texts(await renderSvg(runTimelineSpec(runTimelineData(drillReportTimeline(drillReportWithClients())))));
    for (const expected of ['client requests (listener probe)', 'clients', 'requests succeed', 'requests fail', 'clients recovered 8.2 s', 'detected 1.5 s']) {
      assert.ok(t.includes(expected), `missing text "${expected}" in ${JSON.stringify(t)}`);
    }
  });

  it('a sandbox run with client samples: the client panel and its axis, real-world seconds at the sandbox speed', async () => {
    const o = 50_000;
    const client = Array.from({ length: 100 }, (_, i) => ({ atMs: o - 500 + i * 20, ok: !(i >= 25 && i < 60) }));
    const svg = await renderSvg(
      runTimelineSpec(
        runTimelineData({
          title: 'sandbox drill-kill-active',
          originMs: o,
          scale: 8,
          client,
          verdicts: [{ atMs: o - 500, verdict: 'healthy' }, { atMs: o + 200, verdict: 'no-leader' }],
          phases: [{ name: 'observe-failover', startMs: o, endMs: o + 1_500 }],
          markers: [{ atMs: o, label: 'fault injected' }],
        }),
      ),
    );
    const t = texts(svg);
    for (const expected of ['requests succeeded (%)', 'time since the fault (s, real-world; the sandbox ran at ×8)', 'sandbox drill-kill-active', 'fault injected', 'no-leader']) {
      assert.ok(t.includes(expected), `missing text "${expected}" in ${JSON.stringify(t)}`);
    }
  });
});

describe('vault-ha history --export-timeline', () => {
  const drillEvent = (at: string, executionName: string): HistoryEvent => ({ at, kind: 'drill', summary: 'failover-drill', detail: { ...drillReport(), executionName } });

  it('draws the newest drill in the window, across clusters, as SVG or PNG by the file name', async () => {
    const clusters = [
      { name: 'prod', events: [drillEvent('2026-11-30T10:00:40.000Z', 'drill-prod-1'), { at: '2026-11-30T11:00:00.000Z', kind: 'verdict' as const, summary: 'healthy → no-leader' }] },
      { name: 'stage', events: [drillEvent('2026-11-30T12:00:00.000Z', 'drill-stage-7')] },
    ];
    assert.equal(newestDrill(clusters)?.cluster, 'stage');
    const svgFile = path.join(dir, 'drill.svg');
    assert.deepEqual(await exportDrillTimeline(clusters, svgFile, '2026-11-29T12:00:00.000Z'), { file: svgFile, cluster: 'stage', execution: 'drill-stage-7' });
    assert.ok(texts(readFileSync(svgFile, 'utf8')).some((x) => x.includes('execution drill-stage-7')));
    const pngFile = path.join(dir, 'drill.PNG');
    await exportDrillTimeline(clusters, pngFile, '2026-11-29T12:00:00.000Z');
    assert.deepEqual([...readFileSync(pngFile).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  });

  it('no drill in the window: NotFoundError with a hint to widen --since', async () => {
    await assert.rejects(exportDrillTimeline([{ name: 'prod', events: [] }], path.join(dir, 'x.svg'), '2026-11-29T12:00:00.000Z'), (e: unknown) => e instanceof NotFoundError && /--since/.test(e.hint ?? ''));
  });

  it('a file name that is neither .svg nor .png is refused', async () => {
    assert.throws(() => chartFormatOf('timeline.pdf'), ChartInputError);
    await assert.rejects(writeRunTimelineFile(drillReportTimeline(drillReport()), path.join(dir, 'timeline.txt')), ChartInputError);
    assert.equal(existsSync(path.join(dir, 'timeline.txt')), false);
  });
});
