/**
 * Drawing: a Vega-Lite spec → SVG (vega-lite compiles, vega renders headless
 * with no canvas) → PNG (resvg, a Rust rasteriser shipped as a prebuilt npm
 * binary, with the system's fonts). Specs carry their data inline, so nothing
 * is fetched; the only I/O here is writing the files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ChartInputError, chartSlug, failoverCharts, type ChartResults } from './failover-chart.js';
import { runTimelineData, type RunTimelineInput } from './run-timeline.js';
import { failoverChartSpec, runTimelineSpec } from './specs.js';

/** PNG pixels per SVG pixel (sharp on high-density screens, still small files). */
export const PNG_ZOOM = 2;

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function renderPng(svg: string, zoom = PNG_ZOOM): Promise<Buffer> {
  // Loaded on first use: the SVG path (and its test) does not need the native binary.
  const { Resvg } = await import('@resvg/resvg-js');
  const r = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, fitTo: { mode: 'zoom', value: zoom }, background: 'white' });
  return r.render().asPng();
}

/** Writes `<base>.svg` and `<base>.png`; returns both paths. */
export async function writeChart(spec: TopLevelSpec, base: string): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(spec);
  const png = await renderPng(svg);
  mkdirSync(dirname(base), { recursive: true });
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, png);
  return { svg: `${base}.svg`, png: `${base}.png` };
}

/**
 * One SVG + PNG per scenario × ALB next to the benchmark's JSON:
 * bench/results/failover-<date>.json → failover-<date>-kill-active-aws-default.svg / .png, ...
 */
export async function writeFailoverCharts(results: ChartResults, jsonPath: string): Promise<Array<{ scenario: string; alb: string; svg: string; png: string }>> {
  const base = jsonPath.replace(/\.json$/i, '');
  const out: Array<{ scenario: string; alb: string; svg: string; png: string }> = [];
  for (const chart of failoverCharts(results)) {
    const paths = await writeChart(failoverChartSpec(chart), `${base}-${chartSlug(chart)}`);
    out.push({ scenario: chart.scenario, alb: chart.alb, ...paths });
  }
  return out;
}

/** One run's timeline (a sandbox scenario, a drill report) as `<base>.svg` and `<base>.png`. */
export async function writeRunTimeline(input: RunTimelineInput, base: string): Promise<{ svg: string; png: string }> {
  return writeChart(runTimelineSpec(runTimelineData(input)), base);
}

/** The format a chart file's name asks for: `.svg` or `.png` (case-insensitive); anything else is refused. */
export function chartFormatOf(file: string): 'svg' | 'png' {
  const ext = extname(file).toLowerCase();
  if (ext === '.svg' || ext === '.png') return ext === '.svg' ? 'svg' : 'png';
  throw new ChartInputError('file', `${file}: the name must end in .svg or .png`);
}

/** One run's timeline as one file, SVG or PNG by its extension (`vault-ha history --export-timeline FILE`). */
export async function writeRunTimelineFile(input: RunTimelineInput, file: string): Promise<string> {
  const format = chartFormatOf(file);
  const svg = await renderSvg(runTimelineSpec(runTimelineData(input)));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, format === 'svg' ? svg : await renderPng(svg));
  return file;
}
