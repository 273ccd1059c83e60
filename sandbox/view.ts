/**
 * The live view: one text frame per refresh, rendered from a SandboxView
 * snapshot (pure: no I/O, so it is easy to test and to capture for the README),
 * and the parser of line mode's commands.
 */
import type { NodeView, SandboxView, TimelineEvent } from './environment.js';
import type { StateHistoryEntry } from './stepfunctions/runner.js';

/** What the controller read from the lock item on its last tick (ClusterReport.lock). */
export interface LockView {
  state: string;
  identity?: string;
  /** Expires − now at that tick; negative once past Expires (HELD within the skew tolerance). */
  remainingMs?: number;
}

/** A replace-node or failover-drill execution, as the live view follows it. */
export interface WorkflowView {
  /** e.g. "replace-node vault-b" or "failover-drill kill-active". */
  label: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';
  /** The state it is in (RUNNING), or the last one it entered. */
  phase?: string;
  /** Time in that state / since the start, real ms. */
  phaseMs?: number;
  elapsedMs: number;
}

/**
 * The sandbox's view plus what the live view adds: the lock item as the
 * controller read it, each node's own lock identity (to name one holder), and
 * the workflows running.
 */
export interface LiveView extends SandboxView {
  lock?: LockView;
  /** slot → the lock identity the node believes it holds (DynamoDB HA). */
  lockIdentities?: Record<string, string | undefined>;
  workflows?: WorkflowView[];
}

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

/**
 * The LOCK column: at most one `holder`. A node is the holder when the lock
 * item (as the controller last read it, HELD) carries the identity the node
 * holds. Any other node that believes it holds the lock is `claims`: it lost
 * the lock without knowing (a storage partition: it cannot see the item move),
 * or it took it after the controller's read. Without the
 * item's identity (no tick yet, raft) a single believer is shown, and several
 * are each `holder?`.
 */
export function lockColumns(v: LiveView): Map<string, string> {
  const out = new Map<string, string>();
  const believers = v.nodes.filter((n) => n.holdsLock);
  if (v.ha === 'raft') {
    for (const n of believers) out.set(n.slot, believers.length > 1 ? 'leader?' : 'leader');
    return out;
  }
  const item = v.lock?.state === 'HELD' ? v.lock.identity : undefined;
  const ids = v.lockIdentities;
  if (item !== undefined && ids !== undefined) {
    for (const n of v.nodes) {
      if (ids[n.slot] === item) out.set(n.slot, 'holder');
      else if (n.holdsLock) out.set(n.slot, 'claims');
    }
    return out;
  }
  for (const n of believers) out.set(n.slot, believers.length > 1 ? 'holder?' : 'holder');
  return out;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** The lock line: never a negative time left. */
export function lockLine(lock: LockView | undefined, holderSlot: string | undefined): string | undefined {
  if (!lock) return undefined;
  const who = holderSlot ?? (lock.identity ? `identity ${lock.identity.slice(0, 13)}…` : 'nobody');
  const rem = lock.remainingMs;
  switch (lock.state) {
    case 'HELD':
      if (rem === undefined) return `HELD by ${who}`;
      return rem >= 0
        ? `HELD by ${who}, ${seconds(rem)} left at the last tick`
        : `HELD by ${who}, Expires passed ${seconds(-rem)} ago (within the clock-skew tolerance): not renewed`;
    case 'EXPIRED':
      return `EXPIRED ${seconds(Math.max(0, -(rem ?? 0)))} ago (last held by ${who})`;
    case 'ABSENT':
      return 'ABSENT: nobody holds the lock';
    case 'NOT_APPLICABLE':
      return undefined;
    default:
      return lock.state;
  }
}

/** Controller sentences say "(-300 ms left)" for a lock held within the skew tolerance: shown as the time since Expires instead. */
export function withoutNegativeTimes(text: string): string {
  return text.replace(/\(-(\d+) ms left\)/g, '($1 ms past Expires, within the skew tolerance)').replace(/, -(\d+) ms left/g, ', $1 ms past Expires');
}

/** The running workflow's phase, for the status line. */
export function workflowLine(w: WorkflowView): string {
  const total = seconds(w.elapsedMs);
  if (w.status === 'RUNNING') {
    return w.phase ? `${w.label}: ${w.phase} for ${seconds(w.phaseMs ?? 0)} (${total} in total)` : `${w.label}: starting (${total})`;
  }
  return `${w.label}: ${w.status} after ${total}${w.phase ? ` (last state ${w.phase})` : ''}`;
}

/**
 * Why a workflow failed, in one piece: the failure report's `outcome` when the
 * Cause is one (replace-node's Catch puts its JSON report there), else the
 * Cause itself, whole. A clause the outcome repeats is said once.
 */
export function workflowFailure(error: string | undefined, cause: string | undefined): string {
  let reason = cause?.trim() ?? '';
  try {
    const report = JSON.parse(reason) as { outcome?: unknown; errorMessage?: unknown; nextSteps?: unknown };
    if (typeof report.outcome === 'string') reason = report.outcome;
    else if (typeof report.errorMessage === 'string') reason = report.errorMessage;
  } catch {
    /* a plain-text Cause */
  }
  // "refused to X: refused to X: why" → "refused to X: why"
  reason = reason.replace(/^(.{8,}?: )\1+/, '$1');
  if (reason === '') return error ?? 'failed';
  return error && !reason.startsWith(error) ? `${error}: ${reason}` : reason;
}

/** Splits a long line at spaces so nothing is cut (the status line, a refusal). */
export function wrap(text: string, width: number, indent = ''): string[] {
  const max = Math.max(20, width);
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > max) {
      out.push(line);
      line = indent + word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(line);
  return out;
}

export function renderView(v: LiveView, opts: RenderOptions = {}): string {
  const c = opts.color ?? false;
  const width = opts.width ?? 120;
  const lines: string[] = [];
  const mode = v.speed === 1 ? "Vault's real timings" : `timings compressed ×${v.speed}`;
  const haName =
    v.ha === 'dynamodb' ? 'DynamoDB HA lock' : v.ha === 'raft' ? 'integrated storage (Raft)' : 'DynamoDB HA lock the controller does not read (haLock "none")';
  lines.push(paint(`vault-ha-control-plane sandbox — ${haName}, ${mode}`, ANSI.bold, c) + `   ${new Date(v.atMs).toISOString()}`);
  const last = v.lastTickAtMs === undefined ? 'none yet' : `${((v.atMs - v.lastTickAtMs) / 1000).toFixed(1)} s ago`;
  const up = opts.firstHealthyAfterMs === undefined ? '' : ` · first healthy view after ${(opts.firstHealthyAfterMs / 1000).toFixed(1)} s`;
  const every = opts.tickIntervalMs === undefined ? '' : ` every ${(opts.tickIntervalMs / 1000).toFixed(2)} s`;
  lines.push(`listener ${v.listenerUrl} · controller ticks${every}: ${v.ticks} (last ${last})${up}`);
  lines.push('');
  const header = ['', 'SLOT', 'AZ', 'INSTANCE', 'EC2', 'VAULT', 'CLASS', 'LOCK', 'TARGET', 'FAULTS'];
  const locks = lockColumns(v);
  const rows = v.nodes.map((n) => [
    n.slot === opts.selected ? '>' : ' ',
    n.slot,
    n.availabilityZone,
    n.instanceId ?? '-',
    n.instanceState ?? '-',
    vaultState(n),
    n.class ?? '-',
    locks.get(n.slot) ?? '',
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
  const reason = v.verdictReasons[0] ? ` — ${truncate(withoutNegativeTimes(v.verdictReasons[0]), width - 30)}` : '';
  lines.push(`verdict   ${paint(v.verdict ?? '(waiting for the first tick)', verdictColor(v.verdict), c)}${reason}`);
  lines.push(`outcome   ${truncate(withoutNegativeTimes(v.outcome ?? '-'), width - 10)}`);
  const holder = [...locks.entries()].find(([, l]) => l === 'holder')?.[0];
  const lock = lockLine(v.lock, holder);
  if (lock) lines.push(`lock      ${lock}`);
  if (v.lastTickError) lines.push(paint(`error     ${truncate(v.lastTickError, width - 10)}`, ANSI.red, c));
  const rate = `${(v.client.successRate * 100).toFixed(1)}%`;
  const rateColor = v.client.successRate >= 0.99 ? ANSI.green : v.client.successRate >= 0.5 ? ANSI.yellow : ANSI.red;
  // One window: the rate and its request count both over the last windowSeconds (no running total beside them).
  const over = `the last ${v.client.windowSeconds} s${v.speed === 1 ? '' : ' of simulated time'}`;
  lines.push(
    v.client.samples === 0
      ? `clients   no request through the listener completed over ${over}`
      : `clients   ${paint(rate, rateColor, c)} of ${v.client.samples} requests through the listener ok over ${over}`,
  );
  if (v.controllerBlind) lines.push(paint("network   the controller's path to the nodes is cut (probe-blind)", ANSI.yellow, c));
  lines.push('');
  lines.push(paint('recent events', ANSI.dim, c));
  for (const e of v.events) lines.push(`  ${formatEvent(e, width - 2)}`);
  lines.push('');
  // The status line: a running workflow's phase first, else the last action's result, whole.
  const running = (v.workflows ?? []).filter((w) => w.status === 'RUNNING');
  for (const w of running) lines.push(...wrap(workflowLine(w), width, '  '));
  if (opts.status && running.length === 0) lines.push(...wrap(opts.status, width, '  '));
  lines.push(paint(KEY_HELP, ANSI.dim, c));
  return lines.join('\n');
}

export function formatEvent(e: TimelineEvent, width = 200): string {
  return truncate(`${clock(e.atMs)} ${e.kind.padEnd(12)} ${e.detail}`, width);
}

/* ------------------------------------------------------------------ line mode */

/** Line mode's commands (no TTY on stdin) and the key each one presses. */
export const LINE_COMMANDS: Record<string, string> = {
  kill: 'k',
  'step-down': 's',
  partition: 'p',
  storage: 'o',
  seal: 'z',
  unseal: 'u',
  force: 'f',
  stop: 'x',
  start: 'r',
  'start-vault': 'v',
  blind: 'n',
  replace: 'R',
};

export type LineCommand =
  | { kind: 'none' }
  | { kind: 'quit' }
  | { kind: 'select'; slot: string }
  | { kind: 'action'; key: string; command: string; slot?: string }
  | { kind: 'refused'; message: string };

/**
 * One line of the live view's line mode. The node argument names the node the
 * command acts on (never a key: `kill x` is a kill of node x, not the key `x`),
 * and a line that is not a known command with a known node is refused whole:
 * it selects nothing and runs nothing.
 */
export function parseLineCommand(line: string, slots: readonly string[]): LineCommand {
  const words = line.trim().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return { kind: 'none' };
  const [cmd = '', node, ...extra] = words;
  if (cmd === 'quit' || cmd === 'q') return node === undefined ? { kind: 'quit' } : { kind: 'refused', message: `${cmd} takes no node; nothing done` };
  if (cmd !== 'select' && !Object.hasOwn(LINE_COMMANDS, cmd)) {
    return { kind: 'refused', message: `unknown command "${cmd}" (known: select, ${Object.keys(LINE_COMMANDS).join(', ')}, quit); nothing done` };
  }
  if (extra.length > 0) return { kind: 'refused', message: `${cmd} takes one node, not "${words.slice(1).join(' ')}"; nothing done` };
  let slot: string | undefined;
  if (node !== undefined) {
    slot = slots.find((s) => s === node || s === `vault-${node}`);
    if (slot === undefined) return { kind: 'refused', message: `unknown node "${node}" (nodes: ${slots.join(', ')}); nothing done` };
  }
  if (cmd === 'select') return slot === undefined ? { kind: 'refused', message: 'select needs a node; nothing done' } : { kind: 'select', slot };
  return { kind: 'action', key: LINE_COMMANDS[cmd]!, command: cmd, ...(slot !== undefined ? { slot } : {}) };
}

/** The state a run is in (the last one entered and not left), or else the last one it entered. */
export function currentPhase(history: readonly StateHistoryEntry[], nowMs: number): { phase?: string; phaseMs?: number } {
  for (let i = history.length - 1; i >= 0; i -= 1) {
    const h = history[i]!;
    if (h.exitedAtMs === undefined) return { phase: h.state, phaseMs: Math.max(0, nowMs - h.enteredAtMs) };
  }
  const last = history.at(-1);
  return last ? { phase: last.state, phaseMs: Math.max(0, (last.exitedAtMs ?? nowMs) - last.enteredAtMs) } : {};
}
