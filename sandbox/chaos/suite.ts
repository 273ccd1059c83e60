/**
 * The chaos suite: every fault of the catalogue, one after the other (a
 * loaded 2-core machine shares its cores with the simulated nodes, the local
 * AWS endpoints and the controller; running faults side by side would turn
 * timing noise into false violations), then the hostile-input sweep. Returns
 * one row per fault; `formatTable` prints them, and the summary line is what
 * tools outside the repository read.
 */
import { seededRandom } from '../../bench/failover-run.js';
import { CONTROLLER_FAULTS } from './controller-faults.js';
import { runControllerFault, type FaultRow } from './controller-run.js';
import { REPLACE_NODE_FAULTS, runReplaceNodeFault } from './replace-node-faults.js';
import { runHostileSweep } from './hostile-inputs.js';

export interface ChaosOptions {
  /** Only the faults whose name contains one of these (case-insensitive). */
  only?: string[];
  seed?: number;
  /** Compression of the controller faults (default CONTROLLER_FAULT_SPEED). */
  speed?: number;
  /** Real-world seconds each controller fault lasts instead of its own (short runs). */
  durationS?: number;
  /** Property-based cases per hostile-input property (default 1000). */
  fuzzRuns?: number;
  /** Called with each row as it is done (live progress). */
  onRow?: (row: FaultRow) => void;
}

export interface ChaosSummary {
  faults: number;
  checks: number;
  violations: number;
  fuzzCases: number;
}

export function faultNames(): string[] {
  return [...CONTROLLER_FAULTS.map((f) => f.name), ...REPLACE_NODE_FAULTS.map((f) => f.name), HOSTILE_ROW];
}

export const HOSTILE_ROW = 'hostile input (property fuzzing)';

const selected = (name: string, only: string[] | undefined): boolean =>
  only === undefined || only.length === 0 || only.some((o) => name.toLowerCase().includes(o.toLowerCase()));

export async function runChaos(opts: ChaosOptions = {}): Promise<FaultRow[]> {
  const seed = opts.seed ?? 1;
  const rows: FaultRow[] = [];
  const done = (row: FaultRow): void => {
    rows.push(row);
    opts.onRow?.(row);
  };
  let i = 0;
  for (const fault of CONTROLLER_FAULTS) {
    i += 1;
    if (!selected(fault.name, opts.only)) continue;
    done(
      await runControllerFault(fault, {
        random: seededRandom(seed * 7_919 + i),
        ...(opts.speed !== undefined ? { speed: opts.speed } : {}),
        ...(opts.durationS !== undefined ? { durationS: opts.durationS } : {}),
      }),
    );
  }
  for (const fault of REPLACE_NODE_FAULTS) {
    i += 1;
    if (!selected(fault.name, opts.only)) continue;
    done(await runReplaceNodeFault(fault, { random: seededRandom(seed * 7_919 + i) }));
  }
  if (selected(HOSTILE_ROW, opts.only)) done(await runHostileSweep({ seed, numRuns: opts.fuzzRuns ?? 1_000 }));
  return rows;
}

export function summarise(rows: readonly FaultRow[]): ChaosSummary {
  return {
    faults: rows.length,
    checks: rows.reduce((n, r) => n + r.checks, 0),
    // A fault that could not run to its end counts: nothing was shown to hold.
    violations: rows.reduce((n, r) => n + r.violations.length + (r.error !== undefined ? 1 : 0), 0),
    fuzzCases: rows.reduce((n, r) => n + r.fuzzCases, 0),
  };
}

/** The table: fault, duration, checks, violations, recovery, fuzz cases; then the violations and notes in detail. */
export function formatTable(rows: readonly FaultRow[]): string[] {
  const head = ['fault', 'duration', 'checks', 'violations', 'recovery', 'fuzz cases'];
  const cells = rows.map((r) => [
    r.fault,
    r.durationS > 0 ? `${r.durationS} s` : '-',
    String(r.checks),
    String(r.violations.length + (r.error !== undefined ? 1 : 0)),
    r.recoveryS === null ? (r.error !== undefined ? 'error' : r.durationS > 0 && r.family !== 'replace-node' && r.family !== 'fuzz' ? 'not recovered' : '-') : `${r.recoveryS.toFixed(1)} s`,
    String(r.fuzzCases),
  ]);
  const widths = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k]!.length)));
  const line = (c: string[]): string => c.map((x, k) => (k === 0 ? x.padEnd(widths[k]!) : x.padStart(widths[k]!))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
  const details = rows.flatMap((r) => [
    ...(r.error !== undefined ? [`  ${r.fault}: ERROR ${r.error}`] : []),
    ...r.violations.slice(0, 10).map((v) => `  ${r.fault}: VIOLATION ${v.invariant} at ${new Date(v.atMs).toISOString()}: ${v.detail}`),
    ...(r.violations.length > 10 ? [`  ${r.fault}: ... ${r.violations.length - 10} more violations`] : []),
    ...r.notes.map((n) => `  ${r.fault}: ${n}`),
  ]);
  if (details.length > 0) out.push('', ...details);
  return out;
}
