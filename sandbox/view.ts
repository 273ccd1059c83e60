/**
 * The live view: one text frame per refresh, rendered from a SandboxView
 * snapshot (pure: no I/O, so it is easy to test and to capture for the README).
 */
import type { NodeView, SandboxView, TimelineEvent } from './environment.js';

export interface RenderOptions {
  /** Slot the keys act on. */
  selected?: string;
  /** ANSI colours (TTY only). */
  color?: boolean;
  /** Last operator action and how it went. */
  status?: string;
  /** Wall ms from start to the first healthy frame, once known. */
  firstHealthyAfterMs?: number;
  /** Seconds between controller ticks (shown in the header). */
  tickIntervalMs?: number;
  width?: number;
}

export const KEY_HELP =
  'keys: a/b/c select · k kill Vault · s step-down · p client partition · o storage partition · z seal · u unseal (SSM) · ' +
  'f force active · x stop instance · r start instance · v start Vault (SSM) · R replace-node · n cut controller path · q quit';

const ANSI = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m' };

export function vaultState(n: NodeView): string {
  if (!n.running) return 'down';
  if (n.sealed) return 'sealed';
  return n.claimsActive ? 'active' : 'standby';
}

function paint(text: string, color: string | undefined, on: boolean): string {
  return on && color ? `${color}${text}${ANSI.reset}` : text;
}

function verdictColor(kind: string | undefined): string | undefined {
  if (kind === 'healthy') return ANSI.green;
  if (kind === undefined) return ANSI.dim;
  return kind === 'probe-blind' || kind === 'flapping' ? ANSI.yellow : ANSI.red;
}

function targetColor(state: string | undefined): string | undefined {
  if (state === 'healthy') return ANSI.green;
  if (state === 'unhealthy') return ANSI.red;
  if (state === 'initial' || state === 'draining') return ANSI.yellow;
  return undefined;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function truncate(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}

export function renderView(v: SandboxView, opts: RenderOptions = {}): string {
  const c = opts.color ?? false;
  const width = opts.width ?? 120;
  const lines: string[] = [];
  const mode = v.speed === 1 ? "Vault's real timings" : `timings compressed ×${v.speed}`;
  const haName = v.ha === 'dynamodb' ? 'DynamoDB HA lock' : 'integrated storage (Raft)';
  lines.push(paint(`vault-ha-control-plane sandbox — ${haName}, ${mode}`, ANSI.bold, c) + `   ${new Date(v.atMs).toISOString()}`);
  const last = v.lastTickAtMs === undefined ? 'none yet' : `${((v.atMs - v.lastTickAtMs) / 1000).toFixed(1)} s ago`;
  const up = opts.firstHealthyAfterMs === undefined ? '' : ` · first healthy view after ${(opts.firstHealthyAfterMs / 1000).toFixed(1)} s`;
  const every = opts.tickIntervalMs === undefined ? '' : ` every ${(opts.tickIntervalMs / 1000).toFixed(2)} s`;
  lines.push(`listener ${v.listenerUrl} · controller ticks${every}: ${v.ticks} (last ${last})${up}`);
  lines.push('');
  const header = ['', 'SLOT', 'AZ', 'INSTANCE', 'EC2', 'VAULT', 'CLASS', 'LOCK', 'TARGET', 'FAULTS'];
  const rows = v.nodes.map((n) => [
    n.slot === opts.selected ? '>' : ' ',
    n.slot,
    n.availabilityZone,
    n.instanceId ?? '-',
    n.instanceState ?? '-',
    vaultState(n),
    n.class ?? '-',
    n.holdsLock ? (v.ha === 'raft' ? 'leader' : 'holder') : '',
    n.targetState ?? '-',
    n.faults.join(' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[], colors: Array<string | undefined> = []): string =>
    cells.map((cell, i) => paint(cell.padEnd(widths[i]!), colors[i], c)).join('  ').trimEnd();
  lines.push(paint(fmt(header), ANSI.dim, c));
  for (const [i, r] of rows.entries()) {
    const n = v.nodes[i]!;
    const vs = vaultState(n);
    lines.push(
      fmt(r, [
        ANSI.cyan,
        n.slot === opts.selected ? ANSI.bold : undefined,
        undefined,
        undefined,
        n.instanceState === 'running' ? undefined : ANSI.yellow,
        vs === 'active' ? ANSI.green : vs === 'standby' ? undefined : ANSI.red,
        undefined,
        ANSI.bold,
        targetColor(n.targetState),
        ANSI.yellow,
      ]),
    );
  }
  lines.push('');
  lines.push(`verdict   ${paint(v.verdict ?? '(waiting for the first tick)', verdictColor(v.verdict), c)}${v.verdictReasons[0] ? ` — ${truncate(v.verdictReasons[0], width - 30)}` : ''}`);
  lines.push(`outcome   ${truncate(v.outcome ?? '-', width - 10)}`);
  if (v.lastTickError) lines.push(paint(`error     ${truncate(v.lastTickError, width - 10)}`, ANSI.red, c));
  const rate = `${(v.client.successRate * 100).toFixed(1)}%`;
  const rateColor = v.client.successRate >= 0.99 ? ANSI.green : v.client.successRate >= 0.5 ? ANSI.yellow : ANSI.red;
  lines.push(`clients   ${paint(rate, rateColor, c)} ok over the last ${v.client.windowSeconds} s${v.speed === 1 ? '' : ' of simulated time'} (${v.client.samples} requests through the listener, ${v.client.sent} sent)`);
  if (v.controllerBlind) lines.push(paint("network   the controller's path to the nodes is cut (probe-blind)", ANSI.yellow, c));
  lines.push('');
  lines.push(paint('recent events', ANSI.dim, c));
  for (const e of v.events) lines.push(`  ${formatEvent(e, width - 2)}`);
  lines.push('');
  if (opts.status) lines.push(truncate(opts.status, width));
  lines.push(paint(KEY_HELP, ANSI.dim, c));
  return lines.join('\n');
}

export function formatEvent(e: TimelineEvent, width = 200): string {
  return truncate(`${clock(e.atMs)} ${e.kind.padEnd(12)} ${e.detail}`, width);
}
