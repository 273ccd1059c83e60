/**
 * One run's timeline as chart data, pure (no I/O, no clock): what clients saw
 * (share of requests that succeeded per bucket), the controller's verdicts as
 * bands, optionally routing as bands, the workflow's phases and labelled
 * markers. Used for the sandbox drill and replace-node scenarios (one run each)
 * and for `vault-ha history --export-timeline` (a drill's stored report, which
 * holds the drill's polls but no client requests: routing then stands in for them).
 */
import { VERDICT_KINDS } from '../../functions/core/types.js';
import { ChartInputError, MAX_BUCKETS, successShare, type ClientSampleLike } from './failover-chart.js';

export interface RunTimelineInput {
  title: string;
  /** Extra lines under the title. */
  subtitle?: string[];
  /** Epoch ms of t = 0 (the fault; the run's start when there is none). */
  originMs: number;
  /** Window, epoch ms (default: the earliest / latest time in the input). */
  fromMs?: number;
  toMs?: number;
  /** Multiplies durations from the input's clock to the chart's (the sandbox's speed, to show real-world seconds). Default 1. */
  scale?: number;
  /** Bucket width in the chart's ms (default 500 × scale: 500 ms of the input's clock). */
  bucketMs?: number;
  client?: ClientSampleLike[];
  /** Verdict changes (each holds until the next); repeats are merged. */
  verdicts: Array<{ atMs: number; verdict: string }>;
  /** Further lanes of state bands under the verdicts (routing, a client probe's ok/failing, …), each from its changes. */
  lanes?: Array<{ name: string; title: string; changes: Array<{ atMs: number; value: string }> }>;
  phases: Array<{ name: string; startMs: number; endMs: number }>;
  markers?: Array<{ atMs: number; label: string }>;
}

export interface Band {
  fromMs: number;
  toMs: number;
  value: string;
}

export interface RunTimelineData {
  title: string;
  subtitle: string[];
  /** Chart ms from the origin. */
  window: { fromMs: number; toMs: number };
  scale: number;
  bucketMs: number;
  /** null: no client samples in the input. */
  client: Array<{ tMs: number; share: number | null; requests: number }> | null;
  verdicts: Band[];
  lanes: Array<{ name: string; title: string; bands: Band[] }>;
  phases: Band[];
  markers: Array<{ atMs: number; label: string }>;
}

/**
 * Step bands from a list of changes: each value holds from its change to the
 * next change (or `endMs`); consecutive repeats merge; clipped to the window.
 * Before the first change nothing is known, so no band.
 */
export function bandsOf(changes: ReadonlyArray<{ atMs: number; value: string }>, fromMs: number, toMs: number): Band[] {
  const sorted = changes
    .map((c, i) => ({ ...c, i }))
    .filter((c) => Number.isFinite(c.atMs))
    .sort((a, b) => a.atMs - b.atMs || a.i - b.i);
  const merged: Array<{ atMs: number; value: string }> = [];
  for (const c of sorted) {
    const last = merged[merged.length - 1];
    if (last?.atMs === c.atMs) last.value = c.value; // same instant: the later change wins
    else if (last?.value !== c.value) merged.push({ atMs: c.atMs, value: c.value });
  }
  const out: Band[] = [];
  for (const [i, c] of merged.entries()) {
    const start = Math.max(fromMs, c.atMs);
    const end = Math.min(toMs, merged[i + 1]?.atMs ?? toMs);
    if (end <= start) continue;
    const prev = out[out.length - 1];
    if (prev && prev.value === c.value && prev.toMs === start) prev.toMs = end;
    else out.push({ fromMs: start, toMs: end, value: c.value });
  }
  return out;
}

export function runTimelineData(input: RunTimelineInput): RunTimelineData {
  const scale = input.scale ?? 1;
  if (!(scale > 0)) throw new ChartInputError('scale', `must be > 0, got ${scale}`);
  const rel = (epochMs: number): number => (epochMs - input.originMs) * scale;
  const times = [
    ...(input.client ?? []).map((s) => s.atMs),
    ...input.verdicts.map((v) => v.atMs),
    ...(input.lanes ?? []).flatMap((l) => l.changes.map((c) => c.atMs)),
    ...input.phases.flatMap((p) => [p.startMs, p.endMs]),
    ...(input.markers ?? []).map((m) => m.atMs),
    input.originMs,
  ].filter(Number.isFinite);
  const fromMs = rel(input.fromMs ?? Math.min(...times));
  const toMs = rel(input.toMs ?? Math.max(...times));
  if (!(toMs > fromMs)) throw new ChartInputError('toMs', `the window must end after it starts (${fromMs} → ${toMs} ms from the origin)`);
  const bucketMs = input.bucketMs ?? 500 * scale;
  if (!(bucketMs > 0)) throw new ChartInputError('bucketMs', `must be > 0, got ${bucketMs}`);
  const count = Math.ceil((toMs - fromMs) / bucketMs);
  if (count > MAX_BUCKETS) throw new ChartInputError('bucketMs', `${count} buckets over the window, more than ${MAX_BUCKETS}`);
  let client: RunTimelineData['client'] = null;
  if (input.client !== undefined && input.client.length > 0) {
    const b = Array.from({ length: count }, () => ({ ok: 0, failed: 0 }));
    for (const s of input.client) {
      const t = rel(s.atMs);
      if (!(t >= fromMs && t < toMs)) continue;
      const k = Math.floor((t - fromMs) / bucketMs);
      if (s.ok) b[k]!.ok += 1;
      else b[k]!.failed += 1;
    }
    client = b.map((x, k) => ({ tMs: fromMs + k * bucketMs, share: successShare(x), requests: x.ok + x.failed }));
  }
  const phases = input.phases
    .map((p) => ({ fromMs: Math.max(fromMs, rel(p.startMs)), toMs: Math.min(toMs, rel(p.endMs)), value: p.name }))
    .filter((p) => p.toMs > p.fromMs)
    .sort((a, b) => a.fromMs - b.fromMs);
  return {
    title: input.title,
    subtitle: input.subtitle ?? [],
    window: { fromMs, toMs },
    scale,
    bucketMs,
    client,
    verdicts: bandsOf(input.verdicts.map((v) => ({ atMs: rel(v.atMs), value: v.verdict })), fromMs, toMs),
    lanes: (input.lanes ?? []).map((l) => ({ name: l.name, title: l.title, bands: bandsOf(l.changes.map((c) => ({ atMs: rel(c.atMs), value: c.value })), fromMs, toMs) })),
    phases,
    markers: (input.markers ?? []).map((m) => ({ atMs: rel(m.atMs), label: m.label })).filter((m) => m.atMs >= fromMs && m.atMs <= toMs),
  };
}

/* ------------------------------------------------------------ adapters */

const VERDICT_IN_DETAIL = new RegExp(`→ (${VERDICT_KINDS.join('|')})\\b`);

/**
 * Verdict changes from a sandbox timeline (`kind: 'verdict'`, detail
 * "<from> → <to>…", sandbox/environment.ts).
 */
export function verdictChangesFromSandbox(events: ReadonlyArray<{ atMs: number; kind: string; detail: string }>): Array<{ atMs: number; verdict: string }> {
  return events.flatMap((e) => {
    if (e.kind !== 'verdict') return [];
    const m = VERDICT_IN_DETAIL.exec(e.detail);
    return m ? [{ atMs: e.atMs, verdict: m[1]! }] : [];
  });
}

/** Sandbox timeline kinds drawn as markers (the fault, and the client view of the failover). */
const SANDBOX_MARKER_KINDS = new Set(['fault', 'client']);
const MAX_LABEL_CHARS = 70;

/**
 * A sandbox scenario's run (sandbox/scenarios.ts: the ScenarioRun's timeline,
 * the sandbox's client samples, the fault time, the drill or replace-node
 * report's phases) as a timeline. All times are the sandbox's wall ms; the
 * chart shows real-world seconds (× speed).
 */
export function sandboxRunTimeline(a: {
  name: string;
  speed: number;
  timeline: ReadonlyArray<{ atMs: number; kind: string; detail: string }>;
  clientSamples: ReadonlyArray<{ realAtMs: number; ok: boolean }>;
  faultAtMs?: number;
  startMs?: number;
  endMs?: number;
  /** The report's `phases` (drill: startedAt/endedAt; replace-node: start/end). */
  phases?: unknown;
  subtitle?: string[];
}): RunTimelineInput {
  const originMs = a.faultAtMs ?? a.startMs ?? a.timeline[0]?.atMs;
  if (originMs === undefined) throw new ChartInputError('timeline', `sandbox run ${a.name} has no events and no start`);
  const label = (s: string): string => (s.length > MAX_LABEL_CHARS ? `${s.slice(0, MAX_LABEL_CHARS - 1)}…` : s);
  return {
    title: `sandbox scenario ${a.name} (simulated at ×${a.speed})`,
    ...(a.subtitle ? { subtitle: a.subtitle } : {}),
    originMs,
    ...(a.startMs !== undefined ? { fromMs: a.startMs } : {}),
    ...(a.endMs !== undefined ? { toMs: a.endMs } : {}),
    scale: a.speed,
    client: a.clientSamples.map((s) => ({ atMs: s.realAtMs, ok: s.ok })),
    verdicts: verdictChangesFromSandbox(a.timeline),
    phases: phasesFromReport(a.phases),
    markers: a.timeline.filter((e) => SANDBOX_MARKER_KINDS.has(e.kind)).map((e) => ({ atMs: e.atMs, label: label(e.detail) })),
  };
}

/** Phases of a drill report (`startedAt`/`endedAt`) or a replace-node report (`start`/`end`), ISO timestamps. */
export function phasesFromReport(phases: unknown): Array<{ name: string; startMs: number; endMs: number }> {
  if (!Array.isArray(phases)) return [];
  return phases.flatMap((p: Record<string, unknown>) => {
    const startMs = Date.parse(String(p?.['startedAt'] ?? p?.['start'] ?? ''));
    const endMs = Date.parse(String(p?.['endedAt'] ?? p?.['end'] ?? ''));
    if (typeof p?.['name'] !== 'string' || Number.isNaN(startMs) || Number.isNaN(endMs)) return [];
    return [{ name: p['name'], startMs, endMs }];
  });
}

/** The routing state a drill poll saw: is the legitimate active registered, and healthy? */
export function routingOfPoll(p: { legitimateActive: string | null; registered: Array<{ instanceId: string; state: string }> }): string {
  if (p.legitimateActive === null) return 'no legitimate active';
  const t = p.registered.find((r) => r.instanceId === p.legitimateActive);
  if (!t) return 'active not registered';
  return t.state === 'healthy' ? 'active registered, healthy' : `active registered, ${t.state}`;
}

/** The client lane's values (drill client probe transitions). */
export const CLIENT_OK = 'requests succeed';
export const CLIENT_FAILING = 'requests fail';

/**
 * A stored drill report (functions/core/drill-report.ts DrillReport, as `vault-ha
 * history` reads it from the control table) as a timeline, t = 0 at the
 * injection: verdicts and routing from its polls, the client probe's
 * ok ↔ failing transitions (when the drill probed a listener) as a lane, its
 * phases, and markers for the injection and the moments of the failover
 * (`times`: detected, elected, routed, clients recovered; older reports: the
 * routed event of the timeline). A report holds no per-request samples.
 */
export function drillReportTimeline(report: Record<string, unknown>, id = String(report['executionName'] ?? '?')): RunTimelineInput {
  const timeline = report['timeline'];
  if (!Array.isArray(timeline)) throw new ChartInputError('timeline', `drill report ${id} has no timeline`);
  const events = timeline.flatMap((e: Record<string, unknown>) => {
    const atMs = Date.parse(String(e?.['at'] ?? ''));
    return typeof e?.['event'] === 'string' && !Number.isNaN(atMs) ? [{ atMs, event: e['event'] }] : [];
  });
  const startedMs = Date.parse(String(report['startedAt'] ?? ''));
  const finishedMs = Date.parse(String(report['finishedAt'] ?? ''));
  const times = (report['times'] ?? {}) as Record<string, unknown>;
  const timeOf = (key: string): number | undefined => {
    const ms = typeof times[key] === 'string' ? Date.parse(times[key]) : Number.NaN;
    return Number.isNaN(ms) ? undefined : ms;
  };
  const injectedMs = timeOf('injectedAt') ?? events.find((e) => e.event.startsWith('fault injected'))?.atMs;
  const routedMs = timeOf('routedAt') ?? events.find((e) => e.event.startsWith('new active ') && e.event.includes('registered and healthy'))?.atMs;
  const originMs = injectedMs ?? (Number.isNaN(startedMs) ? events[0]?.atMs : startedMs);
  if (originMs === undefined) throw new ChartInputError('timeline', `drill report ${id} has no timestamps`);
  const polls = (Array.isArray(report['verdicts']) ? report['verdicts'] : []).flatMap((p: Record<string, unknown>) => {
    const atMs = Date.parse(String(p?.['at'] ?? ''));
    if (Number.isNaN(atMs) || typeof p?.['verdict'] !== 'string') return [];
    const registered = Array.isArray(p['registered']) ? (p['registered'] as Array<{ instanceId: string; state: string }>) : [];
    const legitimateActive = typeof p['legitimateActive'] === 'string' ? p['legitimateActive'] : null;
    return [{ atMs, verdict: p['verdict'], routing: routingOfPoll({ legitimateActive, registered }) }];
  });
  // Polls carry the verdicts; a report without polls (dry run) still has its timeline's "verdict X" lines.
  const verdicts = polls.length > 0 ? polls.map((p) => ({ atMs: p.atMs, verdict: p.verdict })) : events.flatMap((e) => (e.event.startsWith('verdict ') ? [{ atMs: e.atMs, verdict: e.event.slice('verdict '.length) }] : []));
  // The client probe's transitions (drill-report.ts clientEvents); before the first one, requests succeeded (the pre-check saw a steady state).
  const clientChanges = events.flatMap((e) =>
    e.event.startsWith('client requests fail') ? [{ atMs: e.atMs, value: CLIENT_FAILING }] : e.event.startsWith('client requests succeed again') ? [{ atMs: e.atMs, value: CLIENT_OK }] : [],
  );
  const probe = report['clientProbe'] as { requests?: unknown; failedRequests?: unknown } | null | undefined;
  const lanes: NonNullable<RunTimelineInput['lanes']> = [];
  if (probe && typeof probe === 'object') lanes.push({ name: 'clients', title: 'client requests (listener probe)', changes: [{ atMs: originMs, value: CLIENT_OK }, ...clientChanges] });
  if (polls.length > 0) lanes.push({ name: 'routing', title: 'routing (from the polls)', changes: polls.map((p) => ({ atMs: p.atMs, value: p.routing })) });
  const secs = (ms: number | undefined): string => (ms === undefined ? '' : ` ${((ms - originMs) / 1000).toFixed(1)} s`);
  const detected = timeOf('detectedAt');
  const elected = timeOf('electedAt');
  const recovered = timeOf('clientRecoveredAt');
  const markers = [
    ...(injectedMs !== undefined ? [{ atMs: injectedMs, label: 'fault injected' }] : []),
    ...(detected !== undefined ? [{ atMs: detected, label: `detected${secs(detected)}` }] : []),
    ...(elected !== undefined ? [{ atMs: elected, label: `elected${secs(elected)}` }] : []),
    ...(routedMs !== undefined ? [{ atMs: routedMs, label: `new active routed${secs(routedMs)}` }] : []),
    ...(recovered !== undefined ? [{ atMs: recovered, label: `clients recovered${secs(recovered)}` }] : []),
  ];
  const rto = typeof report['rtoSeconds'] === 'number' ? `, RTO ${report['rtoSeconds']} s${typeof report['rtoMeasure'] === 'string' ? ` (${report['rtoMeasure']})` : ''}` : '';
  const clientLine =
    probe && typeof probe === 'object'
      ? `Clients through the listener: ${String(probe.requests ?? '?')} requests, ${String(probe.failedRequests ?? '?')} failed; the report keeps their ok ↔ failing transitions, not each request.`
      : 'The drill probed no listener: the routing lane shows whether its polls saw the legitimate active registered and healthy.';
  return {
    title: `failover-drill ${String(report['scenario'] ?? '')} on ${String(report['cluster'] ?? '?')}: ${String(report['result'] ?? '?')}${rto}`,
    subtitle: [`execution ${id}; ${String(report['outcome'] ?? '')}`.slice(0, 160), clientLine],
    originMs,
    ...(Number.isNaN(startedMs) ? {} : { fromMs: Math.min(startedMs, originMs) }),
    ...(Number.isNaN(finishedMs) ? {} : { toMs: Math.max(finishedMs, originMs + 1) }),
    verdicts,
    lanes,
    phases: phasesFromReport(report['phases']),
    markers,
  };
}
