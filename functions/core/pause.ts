/**
 * Maintenance pause (README "Operate" > `vault-ha pause`): an operator asks the
 * controller to keep observing and reporting a cluster but to change nothing —
 * no target registration changes, no lock deletes (fencing or dead-leader
 * takeover), no auto-replace — until a time. Every pause expires: an operator
 * who forgets to resume must not leave a cluster unmanaged for good.
 *
 * Pure: the record comes from the control table (functions/adapters/pause.ts),
 * `nowMs` from the caller.
 */

/** A pause as stored for one cluster. */
export interface PauseRecord {
  cluster: string;
  /** Who asked: an STS caller ARN, or a user name when no AWS identity was available. */
  pausedBy: string;
  pausedAtMs: number;
  /** The controller acts again from this instant on, resumed or not. */
  untilMs: number;
  reason?: string;
}

/** `vault-ha pause` without `--for`. */
export const DEFAULT_PAUSE_MS = 60 * 60 * 1000;
/** Longer maintenance is a new pause: a week unmanaged is already a lot. */
export const MAX_PAUSE_MS = 7 * 24 * 60 * 60 * 1000;
/** Keeps a stored reason to one readable line (and one small DynamoDB item). */
export const MAX_PAUSE_REASON_CHARS = 256;

export class InvalidPauseError extends Error {
  override readonly name = 'InvalidPauseError';
  constructor(
    readonly field: 'for' | 'reason' | 'pausedBy',
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The pause in force at `nowMs`, or undefined (none stored, or it has expired). */
export function activePause(pause: PauseRecord | undefined, nowMs: number): PauseRecord | undefined {
  return pause !== undefined && pause.untilMs > nowMs ? pause : undefined;
}

/** Builds a validated pause record; throws InvalidPauseError naming the field. */
export function newPause(args: { cluster: string; pausedBy: string; forMs: number; nowMs: number; reason?: string | undefined }): PauseRecord {
  if (!Number.isFinite(args.forMs) || args.forMs <= 0) throw new InvalidPauseError('for', 'must be a positive duration');
  if (args.forMs > MAX_PAUSE_MS) throw new InvalidPauseError('for', `must be at most ${formatDuration(MAX_PAUSE_MS)}`);
  const pausedBy = args.pausedBy.trim();
  if (pausedBy === '') throw new InvalidPauseError('pausedBy', 'must name who paused');
  const reason = args.reason?.trim();
  if (reason !== undefined && reason.length > MAX_PAUSE_REASON_CHARS) {
    throw new InvalidPauseError('reason', `must be at most ${MAX_PAUSE_REASON_CHARS} characters`);
  }
  return {
    cluster: args.cluster,
    pausedBy,
    pausedAtMs: args.nowMs,
    untilMs: args.nowMs + Math.round(args.forMs),
    ...(reason ? { reason } : {}),
  };
}

/** "paused by alice until 2026-12-01T14:00:00.000Z (kernel upgrade)" — the phrase status, history and the controller share. */
export function pauseSentence(p: PauseRecord): string {
  return `paused by ${p.pausedBy} until ${new Date(p.untilMs).toISOString()}${p.reason ? ` (${p.reason})` : ''}`;
}

/**
 * The controller's outcome for a paused tick: the pause first, then what it
 * would have done (the planner's dry-run sentence without its "dry run: ").
 */
export function pausedOutcome(p: PauseRecord, dryRunOutcome: string): string {
  const would = dryRunOutcome.replace(/^dry run: /, '');
  return `${pauseSentence(p)}: observed only, nothing changed; otherwise: ${would}`;
}

/* ------------------------------------------------------------ durations */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * "90s", "15m", "2h", "1d", "1h30m" → milliseconds; undefined when the text
 * is not such a duration (a bare number is refused: its unit would be a guess).
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
  return Number.isFinite(total) && total > 0 ? Math.round(total) : undefined;
}

/** 5400000 → "1h30m"; 42000 → "42s"; 0 → "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let rest = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('');
}
