/**
 * `vault-ha history [--cluster C] [--since 1h] [--export-timeline FILE]`: what happened to a cluster,
 * oldest first, from the control table: verdict transitions, every tick that
 * changed something (registrations, fencing, dead-leader takeover, auto-replace
 * starts — from the stored observations, kept 3 days), replacement and drill
 * reports with their results, and operator actions (pause, resume, unlock).
 * `--export-timeline FILE` also draws the newest drill in the window (verdicts, client probe,
 * routing, phases; bench/charts) as FILE, SVG or PNG by its extension.
 */
import { listObservations, listOperatorEvents, listReports, listVerdictTransitions } from '../functions/adapters/control-history.js';
import { TableNotFoundError } from '../functions/adapters/errors.js';
import { formatDuration, parseDuration } from '../functions/core/pause.js';
import { stringOption, type OptionsSpec } from './lib/args.js';
import type { CliContext } from './lib/context.js';
import { EXIT, NotFoundError, UsageError, type ExitCode } from './lib/errors.js';

export const HISTORY_OPTIONS: OptionsSpec = {
  cluster: { type: 'string', valueName: 'CLUSTER' },
  since: { type: 'string', valueName: 'DURATION' },
  'export-timeline': { type: 'string', valueName: 'FILE' },
};

export const DEFAULT_SINCE_MS = 24 * 3600 * 1000;

export type HistoryKind = 'verdict' | 'routing' | 'fencing' | 'takeover' | 'auto-replace' | 'replace' | 'drill' | 'pause' | 'resume' | 'unlock';

export interface HistoryEvent {
  at: string;
  kind: HistoryKind;
  summary: string;
  detail?: Record<string, unknown>;
}

/** What one stored tick that changed something was about (its most drastic action first). */
export function observationKind(report: Record<string, unknown>): HistoryKind {
  const takeover = report['takeover'] as { result?: unknown } | undefined;
  if (takeover?.result === 'deleted') return 'takeover';
  const fencing = report['fencing'] as { result?: unknown } | undefined;
  if (fencing?.result === 'deleted') return 'fencing';
  const auto = (report['autoReplace'] as { started?: { result?: unknown } } | undefined)?.started;
  if (auto?.result === 'started') return 'auto-replace';
  return 'routing';
}

export function reportSummary(kind: 'replace' | 'drill', id: string, r: Record<string, unknown>): string {
  const result = String(r['result'] ?? '?');
  const outcome = typeof r['outcome'] === 'string' ? r['outcome'] : typeof (r['error'] as { message?: unknown } | undefined)?.message === 'string' ? String((r['error'] as { message: string }).message) : '';
  if (kind === 'drill') {
    const rto = typeof r['rtoSeconds'] === 'number' ? `, RTO ${r['rtoSeconds']} s` : '';
    return `failover-drill ${String(r['scenario'] ?? '')} ${result}${rto}: ${outcome} (execution ${id})`;
  }
  const dur = typeof r['durationMs'] === 'number' ? `, ${formatDuration(r['durationMs'])}` : '';
  return `replace-node ${String(r['slot'] ?? '')} ${result}${dur}: ${outcome} (execution ${id})`;
}

export async function clusterHistory(ctx: CliContext, table: string, cluster: string, sinceMs: number): Promise<HistoryEvent[]> {
  const { ddb } = ctx.clients();
  const [verdicts, applied, reports, operator] = await Promise.all([
    listVerdictTransitions(ddb, table, cluster, { sinceMs }),
    listObservations(ddb, table, cluster, { sinceMs, onlyApplied: true, newestFirst: false }),
    listReports(ddb, table, cluster, { sinceMs }),
    listOperatorEvents(ddb, table, cluster, { sinceMs }),
  ]);
  const events: Array<HistoryEvent & { ms: number }> = [];
  for (const v of verdicts) {
    // The first reason is the verdict's own; the rest (evidence) stays in --json.
    const more = v.reasons.length > 1 ? ` (+${v.reasons.length - 1} more reasons)` : '';
    events.push({ ms: v.atMs, at: iso(v.atMs), kind: 'verdict', summary: `${v.from ?? '(start)'} → ${v.to}${v.reasons[0] ? `: ${v.reasons[0]}${more}` : ''}`, detail: { from: v.from ?? null, to: v.to, reasons: v.reasons } });
  }
  for (const o of applied) {
    const r = o.report;
    const kind = observationKind(r);
    const plan = r['plan'] as { register?: unknown; deregister?: unknown } | undefined;
    events.push({
      ms: o.atMs,
      at: iso(o.atMs),
      kind,
      summary: String(r['outcome'] ?? ''),
      detail: {
        verdict: (r['verdict'] as { kind?: unknown } | undefined)?.kind ?? null,
        register: plan?.register ?? [],
        deregister: plan?.deregister ?? [],
        ...(r['takeover'] ? { takeover: r['takeover'] } : {}),
        ...(r['fencing'] ? { fencing: r['fencing'] } : {}),
        ...(r['autoReplace'] ? { autoReplace: r['autoReplace'] } : {}),
      },
    });
  }
  for (const rep of reports) {
    events.push({ ms: rep.atMs, at: iso(rep.atMs), kind: rep.kind, summary: reportSummary(rep.kind, rep.id, rep.report), detail: rep.report });
  }
  for (const e of operator) events.push({ ms: e.atMs, at: iso(e.atMs), kind: e.kind, summary: e.detail.includes(e.by) ? e.detail : `${e.detail} (by ${e.by})`, detail: { by: e.by } });
  events.sort((a, b) => a.ms - b.ms);
  return events.map(({ ms: _ms, ...e }) => e);
}

/** The newest drill report among the clusters' events, with its cluster. */
export function newestDrill(clusters: ReadonlyArray<{ name: string; events: HistoryEvent[] }>): { cluster: string; at: string; report: Record<string, unknown> } | undefined {
  let best: { cluster: string; at: string; report: Record<string, unknown> } | undefined;
  for (const c of clusters) {
    for (const e of c.events) {
      if (e.kind !== 'drill' || e.detail === undefined) continue;
      if (best === undefined || Date.parse(e.at) >= Date.parse(best.at)) best = { cluster: c.name, at: e.at, report: e.detail };
    }
  }
  return best;
}

/**
 * `--export-timeline FILE`: the newest drill report in the window drawn as FILE
 * (bench/charts, loaded only here: the charting libraries stay out of every other command).
 */
export async function exportDrillTimeline(clusters: ReadonlyArray<{ name: string; events: HistoryEvent[] }>, file: string, since: string): Promise<{ file: string; cluster: string; execution: string }> {
  const drill = newestDrill(clusters);
  if (drill === undefined) {
    throw new NotFoundError(`no failover-drill report for ${clusters.map((c) => c.name).join(', ') || 'any cluster'} since ${since}`, 'widen the window with --since (e.g. --since 7d) or pick the cluster with --cluster');
  }
  const [{ writeRunTimelineFile }, { drillReportTimeline }] = await Promise.all([import('../bench/charts/render.js'), import('../bench/charts/run-timeline.js')]);
  const execution = String(drill.report['executionName'] ?? '?');
  await writeRunTimelineFile(drillReportTimeline(drill.report, execution), file);
  return { file, cluster: drill.cluster, execution };
}

export async function historyCommand(ctx: CliContext): Promise<ExitCode> {
  const sinceText = stringOption(ctx.args, 'since');
  const sinceSpan = sinceText === undefined ? DEFAULT_SINCE_MS : parseDuration(sinceText);
  if (sinceSpan === undefined) throw new UsageError(`--since must be a duration such as 30m, 1h, 2d (not "${sinceText}")`);
  const exportFile = stringOption(ctx.args, 'export-timeline');
  // Checked before anything is read, so a typo costs no AWS calls.
  if (exportFile !== undefined && !/\.(svg|png)$/i.test(exportFile)) throw new UsageError(`--export-timeline ${exportFile}: the file name must end in .svg or .png`);
  const sinceMs = ctx.now() - sinceSpan;
  const clusters = await ctx.clusters(stringOption(ctx.args, 'cluster'));
  const table = await ctx.table();
  const result: Array<{ name: string; since: string; events: HistoryEvent[] }> = [];
  for (const c of clusters) {
    try {
      result.push({ name: c.name, since: iso(sinceMs), events: await clusterHistory(ctx, table, c.name, sinceMs) });
    } catch (err) {
      if (err instanceof TableNotFoundError) throw new NotFoundError(`control table ${table} not found`, 'pass --stage (the deployed table is vault-ha-control-<stage>) or --table', { cause: err });
      throw err;
    }
  }
  const exported = exportFile === undefined ? undefined : await exportDrillTimeline(result, exportFile, iso(sinceMs));
  ctx.out.result({ clusters: result, ...(exported ? { exportedTimeline: exported } : {}) });
  const out = ctx.out;
  for (const c of result) {
    out.line(`${out.paint('bold', `Cluster ${c.name}`)}: ${c.events.length} event(s) since ${c.since}`);
    for (const e of c.events) out.line(`  ${e.at}  ${e.kind.padEnd(12)} ${e.summary}`);
    out.line();
  }
  if (exported) out.line(`wrote the timeline of drill ${exported.execution} (cluster ${exported.cluster}) to ${exported.file}`);
  return EXIT.ok;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
