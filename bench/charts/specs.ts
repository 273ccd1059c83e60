/**
 * Vega-Lite specs for the charts, pure: chart data (failover-chart.ts,
 * run-timeline.ts) in, a spec out. Times are drawn in seconds; data values are
 * inline (nothing is fetched when the spec is rendered).
 */
import type { TopLevelSpec } from 'vega-lite';
import { VERDICT_KINDS } from '../../functions/core/types.js';
import { markerLabels, type FailoverChartData, type MarkerKind } from './failover-chart.js';
import { CLIENT_FAILING, CLIENT_OK, type RunTimelineData } from './run-timeline.js';

export const CHART_WIDTH_PX = 900;
export const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const LABEL_FONT_PX = 10;
/** Width of a label character at LABEL_FONT_PX in DejaVu Sans (a little generous, so labels do not touch). */
const LABEL_CHAR_PX = 6.3;
const LABEL_ROW_PX = 13;

/** One colour per setup, the same in every chart. */
export const SETUP_COLOURS: Record<string, string> = {
  classic: '#d62728',
  'active-only': '#1f77b4',
  'all-unsealed': '#2ca02c',
  default: '#9467bd',
};
const SPARE_COLOURS = ['#8c564b', '#e377c2', '#17becf', '#bcbd22'];

export const VERDICT_COLOURS: Record<(typeof VERDICT_KINDS)[number], string> = {
  healthy: '#2ca02c',
  'no-leader': '#ff7f0e',
  'split-brain': '#d62728',
  'stale-leader': '#e377c2',
  'zombie-leader': '#8c564b',
  'leader-disagreement': '#bcbd22',
  flapping: '#17becf',
  'probe-blind': '#7f7f7f',
};

/** Colours of the lanes' states (routing from drill polls, client probe); other values get spare colours. */
export const STATE_COLOURS: Record<string, string> = {
  'active registered, healthy': '#2ca02c',
  'active not registered': '#ff7f0e',
  'no legitimate active': '#d62728',
  'active registered, initial': '#ffbb78',
  'active registered, unhealthy': '#e377c2',
  [CLIENT_OK]: '#2ca02c',
  [CLIENT_FAILING]: '#d62728',
};

/** Each marker kind's dash (rules are coloured by setup; the legend names them by what they mark). */
export const MARKER_DASH: Record<Exclude<MarkerKind, 'fault'>, number[]> = {
  elected: [2, 3],
  registration: [7, 4],
  recovered: [1, 0],
};

export interface PlacedLabel {
  row: number;
  align: 'left' | 'right';
}

/**
 * Greedy label rows: each label (anchored at xPx, left-aligned, right-aligned
 * when it would run past the plot) goes into the first row where it does not
 * overlap the labels already there. Returns one placement per input, in input order.
 */
export function layoutLabels(labels: ReadonlyArray<{ xPx: number; text: string }>, widthPx: number, charPx = LABEL_CHAR_PX, gapPx = 6): PlacedLabel[] {
  const spans = labels.map((l, i) => {
    const w = l.text.length * charPx;
    const align: PlacedLabel['align'] = l.xPx + w > widthPx && l.xPx - w >= 0 ? 'right' : 'left';
    const start = align === 'left' ? l.xPx : l.xPx - w;
    return { i, start, end: start + w, align };
  });
  const rowEnds: number[] = [];
  const out: PlacedLabel[] = new Array(labels.length);
  for (const s of [...spans].sort((a, b) => a.start - b.start || a.i - b.i)) {
    let row = rowEnds.findIndex((end) => end + gapPx <= s.start);
    if (row === -1) {
      row = rowEnds.length;
      rowEnds.push(s.end);
    } else rowEnds[row] = s.end;
    out[s.i] = { row, align: s.align };
  }
  return out;
}

const seconds = (ms: number): number => Math.round(ms) / 1000;
const pct = (share: number | null): number | null => (share === null ? null : Math.round(share * 10_000) / 100);

const baseConfig = {
  font: FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 320, titleLimit: 400 },
  title: { fontSize: 15, subtitleFontSize: 11, subtitleColor: '#444', anchor: 'start' as const, offset: 10 },
};

/** A legend label for a setup's series: its name and how many runs the line is over. */
export function seriesLabel(s: FailoverChartData['series'][number]): string {
  if (s.clientRuns === s.runs) return `${s.setup} (${s.runs} run${s.runs === 1 ? '' : 's'}${s.unrecovered ? `, ${s.unrecovered} not recovered` : ''})`;
  const client = s.clientRuns === 0 ? 'markers only' : `${s.clientRuns} with client data`;
  return `${s.setup} (${s.runs} run${s.runs === 1 ? '' : 's'}, ${client}${s.unrecovered ? `, ${s.unrecovered} not recovered` : ''})`;
}

export function failoverChartSpec(d: FailoverChartData, opts: { widthPx?: number; heightPx?: number } = {}): TopLevelSpec {
  const widthPx = opts.widthPx ?? CHART_WIDTH_PX;
  const heightPx = opts.heightPx ?? 300;
  const domain = [seconds(d.window.fromMs), seconds(d.window.toMs)];
  const labels = d.series.map(seriesLabel);
  const colourOf = (setup: string, i: number): string => SETUP_COLOURS[setup] ?? SPARE_COLOURS[i % SPARE_COLOURS.length]!;
  const labelOf = new Map(d.series.map((s, i) => [s.setup, labels[i]!]));
  const colour = {
    field: 'series',
    type: 'nominal' as const,
    title: 'setup',
    scale: { domain: labels, range: d.series.map((s, i) => colourOf(s.setup, i)) },
    legend: { orient: 'bottom' as const, direction: 'vertical' as const, columns: 2, symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1, symbolSize: 300, labelLimit: 400 },
  };

  const points = d.series.flatMap((s) =>
    s.points.map((p) => ({ t: seconds(p.tMs), median: pct(p.median), low: pct(p.low), high: pct(p.high), runs: p.runs, series: labelOf.get(s.setup)! })),
  );
  const span = d.window.toMs - d.window.fromMs;
  const inWindow = (atMs: number): boolean => atMs >= d.window.fromMs && atMs <= d.window.toMs;
  const xPx = (atMs: number): number => ((atMs - d.window.fromMs) / span) * widthPx;
  const rules = d.markers.filter((m) => inWindow(m.atMs)).map((m) => ({
    t: seconds(m.atMs),
    what: m.what,
    series: m.setup === null ? null : labelOf.get(m.setup) ?? m.setup,
  }));
  const texts = markerLabels(d).filter((l) => inWindow(l.atMs));
  const placed = layoutLabels(texts.map((l) => ({ xPx: xPx(l.atMs), text: l.text })), widthPx);
  const rows = Math.max(1, ...placed.map((p) => p.row + 1));
  const laneHeight = rows * LABEL_ROW_PX + 4;
  const labelRows = texts.map((l, i) => ({
    t: seconds(l.atMs),
    label: l.text,
    series: l.setup === null ? null : labelOf.get(l.setup) ?? l.setup,
    y: placed[i]!.row * LABEL_ROW_PX + LABEL_ROW_PX - 2,
    align: placed[i]!.align,
  }));
  const x = (axis: boolean) => ({
    field: 't',
    type: 'quantitative' as const,
    scale: { domain, nice: false, zero: false },
    axis: axis ? { title: `time since the fault (s, real-world${d.speed && d.speed !== 1 ? `; simulated at ×${d.speed}` : ''})`, tickMinStep: 1 } : null,
  });
  // One legend entry per distinct thing marked, in time order of kind (elected, registration, recovered).
  const kinds = (['elected', 'registration', 'recovered'] as const).flatMap((k) => [...new Set(d.markers.filter((m) => m.kind === k).map((m) => m.what))].map((what) => ({ what, dash: MARKER_DASH[k] })));
  const dash = {
    field: 'what',
    type: 'nominal' as const,
    title: 'markers (medians)',
    scale: { domain: kinds.map((k) => k.what), range: kinds.map((k) => k.dash) },
    legend: { orient: 'bottom' as const, direction: 'vertical' as const, columns: 1, symbolType: 'stroke', symbolStrokeColor: '#333', symbolStrokeWidth: 2, symbolSize: 300 },
  };
  const runsPerSetup = [...new Set(d.series.map((s) => s.runs))].sort((a, b) => a - b);
  const runText = runsPerSetup.length === 0 ? 'no runs' : runsPerSetup.length === 1 ? `${runsPerSetup[0]} runs per setup` : `${runsPerSetup[0]}–${runsPerSetup[runsPerSetup.length - 1]} runs per setup`;
  const subtitle = [
    `Share of client requests that succeeded, per ${d.bucketMs} ms of send time: the line is the median across runs, the band p10–p90.`,
    `From ${seconds(-d.window.fromMs)} s before the fault to 60 s after the slowest setup's median recovery. Markers are medians across runs.`,
    ...(d.series.some((s) => s.observedToMs !== null && s.observedToMs < d.window.toMs) ? ['A line ends where its runs stopped observing (the benchmark stops once clients have been fine for a while).'] : []),
    ...(d.runsWithoutClientData > 0 ? [`${d.runsWithoutClientData} run(s) in this file carry no per-request client data: their setups show markers only.`] : []),
  ];
  const textLayer = (align: 'left' | 'right') => ({
    transform: [{ filter: `datum.align === '${align}'` }],
    mark: { type: 'text' as const, align, baseline: 'alphabetic' as const, fontSize: LABEL_FONT_PX, dx: align === 'left' ? 3 : -3 },
    encoding: {
      x: x(false),
      y: { field: 'y', type: 'quantitative' as const, scale: null, axis: null },
      text: { field: 'label', type: 'nominal' as const },
      color: { condition: { test: 'datum.series === null', value: '#000' }, field: 'series', type: 'nominal' as const },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `${d.scenario} · ALB ${d.alb} · ${runText}: what clients saw`, subtitle },
    config: baseConfig,
    spacing: 2,
    resolve: { scale: { color: 'shared', x: 'shared' } },
    vconcat: [
      {
        width: widthPx,
        height: laneHeight,
        data: { values: labelRows },
        view: { stroke: null },
        layer: [textLayer('left'), textLayer('right')],
      },
      {
        width: widthPx,
        height: heightPx,
        layer: [
          {
            data: { values: points },
            mark: { type: 'area', interpolate: 'step-after', opacity: 0.15, invalid: 'break-paths-filter-domains' },
            encoding: { x: x(true), y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color: colour },
          },
          {
            data: { values: points },
            mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2, invalid: 'break-paths-filter-domains' },
            encoding: {
              x: x(true),
              y: { field: 'median', type: 'quantitative', scale: { domain: [0, 100] }, axis: { title: 'requests that succeeded (%)', format: '.0f' } },
              color: colour,
            },
          },
          {
            data: { values: rules.filter((m) => m.series !== null) },
            mark: { type: 'rule', strokeWidth: 1.5 },
            encoding: { x: x(true), color: colour, strokeDash: dash },
          },
          {
            data: { values: rules.filter((m) => m.series === null) },
            mark: { type: 'rule', strokeWidth: 1.5, color: '#000' },
            encoding: { x: x(true) },
          },
        ],
      },
    ],
  } as TopLevelSpec;
}

/* ------------------------------------------------------------------ single run */

export function runTimelineSpec(d: RunTimelineData, opts: { widthPx?: number } = {}): TopLevelSpec {
  const widthPx = opts.widthPx ?? CHART_WIDTH_PX;
  const domain = [seconds(d.window.fromMs), seconds(d.window.toMs)];
  const span = d.window.toMs - d.window.fromMs;
  const xTitle = `time since the fault (s${d.scale !== 1 ? `, real-world; the sandbox ran at ×${d.scale}` : ''})`;
  const x = (axis: 'none' | 'labels' | 'full') => ({
    field: 't',
    type: 'quantitative' as const,
    scale: { domain, nice: false, zero: false },
    axis: axis === 'none' ? null : { title: axis === 'full' ? xTitle : null, tickMinStep: 1 },
  });
  const px = (ms: number): number => ((ms - d.window.fromMs) / span) * widthPx;
  const rules = d.markers.map((m) => ({ t: seconds(m.atMs) }));
  // Rules take their panel's axis: in a layer, a layer without an axis would remove the panel's.
  const ruleLayer = (axis: 'none' | 'labels' | 'full') => ({ data: { values: rules }, mark: { type: 'rule' as const, color: '#000', strokeDash: [4, 3] }, encoding: { x: x(axis) } });

  const placedMarkers = layoutLabels(d.markers.map((m) => ({ xPx: px(m.atMs), text: m.label })), widthPx);
  const markerRows = d.markers.map((m, i) => ({ t: seconds(m.atMs), label: m.label, y: placedMarkers[i]!.row * LABEL_ROW_PX + LABEL_ROW_PX - 2, align: placedMarkers[i]!.align }));
  const labelLane = (values: Array<{ t: number; label: string; y: number; align: string }>, height: number, colour: string) => ({
    width: widthPx,
    height,
    data: { values },
    view: { stroke: null },
    layer: (['left', 'right'] as const).map((align) => ({
      transform: [{ filter: `datum.align === '${align}'` }],
      mark: { type: 'text' as const, align, baseline: 'alphabetic' as const, fontSize: LABEL_FONT_PX, dx: align === 'left' ? 3 : -3, color: colour },
      encoding: { x: x('none'), y: { field: 'y', type: 'quantitative' as const, scale: null, axis: null }, text: { field: 'label', type: 'nominal' as const } },
    })),
  });
  const bandLane = (name: string, bands: RunTimelineData['verdicts'], colour: object) => ({
    width: widthPx,
    height: 22,
    layer: [
      {
        data: { values: bands.map((b) => ({ t: seconds(b.fromMs), t2: seconds(b.toMs), value: b.value, lane: name })) },
        mark: { type: 'rect' as const },
        encoding: { x: x('none'), x2: { field: 't2' }, y: { field: 'lane', type: 'nominal' as const, axis: { title: null, labelFontSize: 11, ticks: false, domain: false, grid: false } }, color: colour },
      },
      ruleLayer('none'),
    ],
  });

  const panels: object[] = [];
  if (d.markers.length > 0) panels.push(labelLane(markerRows, Math.max(...placedMarkers.map((p) => p.row + 1)) * LABEL_ROW_PX + 4, '#000'));
  if (d.client !== null) {
    panels.push({
      width: widthPx,
      height: 210,
      layer: [
        {
          data: { values: d.client.map((c) => ({ t: seconds(c.tMs), share: pct(c.share), requests: c.requests })) },
          mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2, color: '#1f77b4', invalid: 'break-paths-filter-domains' },
          encoding: {
            x: x('labels'),
            y: { field: 'share', type: 'quantitative', scale: { domain: [0, 100] }, axis: { title: 'requests succeeded (%)', format: '.0f' } },
          },
        },
        ruleLayer('labels'),
      ],
    });
  }
  const verdictDomain = [...new Set(d.verdicts.map((b) => b.value))];
  panels.push(
    bandLane('verdict', d.verdicts, {
      field: 'value',
      type: 'nominal',
      title: 'controller verdict',
      scale: { domain: verdictDomain, range: verdictDomain.map((v) => VERDICT_COLOURS[v as keyof typeof VERDICT_COLOURS] ?? '#bbb') },
      legend: { orient: 'right' },
    }),
  );
  for (const lane of d.lanes) {
    const domain = [...new Set(lane.bands.map((b) => b.value))];
    panels.push(
      bandLane(lane.name, lane.bands, { field: 'value', type: 'nominal', title: lane.title, scale: { domain, range: domain.map((v, i) => STATE_COLOURS[v] ?? SPARE_COLOURS[i % SPARE_COLOURS.length]!) }, legend: { orient: 'right' } }),
    );
  }
  const placedPhases = layoutLabels(d.phases.map((p) => ({ xPx: px(p.fromMs), text: p.value })), widthPx);
  const phaseRows = Math.max(1, ...placedPhases.map((p) => p.row + 1));
  // Phase names above their bands (short phases would not fit a label inside).
  panels.push(labelLane(d.phases.map((p, i) => ({ t: seconds(p.fromMs), label: p.value, y: placedPhases[i]!.row * LABEL_ROW_PX + LABEL_ROW_PX - 2, align: placedPhases[i]!.align })), phaseRows * LABEL_ROW_PX + 4, '#08519c'));
  panels.push({
    width: widthPx,
    height: 22,
    layer: [
      {
        data: { values: d.phases.map((p, i) => ({ t: seconds(p.fromMs), t2: seconds(p.toMs), value: p.value, lane: 'phases', shade: i % 2 })) },
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          x: x('full'),
          x2: { field: 't2' },
          y: { field: 'lane', type: 'nominal', axis: { title: null, labelFontSize: 11, ticks: false, domain: false, grid: false } },
          color: { field: 'shade', type: 'nominal', scale: { domain: [0, 1], range: ['#9ecae1', '#c6dbef'] }, legend: null },
        },
      },
      ruleLayer('full'),
    ],
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: d.title, ...(d.subtitle.length > 0 || d.client !== null ? { subtitle: [...d.subtitle, ...(d.client !== null ? [`Client line: share of requests that succeeded per ${seconds(d.bucketMs)} s bucket of send time (gaps: no requests).`] : [])] } : {}) },
    config: baseConfig,
    spacing: 4,
    resolve: { scale: { color: 'independent', x: 'shared' }, legend: { color: 'independent' } },
    vconcat: panels,
  } as TopLevelSpec;
}
