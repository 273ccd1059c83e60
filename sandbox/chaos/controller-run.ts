/**
 * One controller fault of the chaos catalogue, end to end: a fresh sandbox
 * (DynamoDB HA, 3 nodes, the REAL controller in its deployed "scheduled" mode:
 * EventBridge + Lambda as serverless.yml deploys it, compressed like the
 * failover benchmark), the steady state, the fault for a bounded time while
 * the invariant monitor samples the world, the heal, and the time until the
 * cluster is steady again (one active, it alone registered and ALB-healthy,
 * the controller's last tick healthy).
 */
import { Sandbox, LOCK_TABLE, CONTROL_TABLE, type SandboxOptions, type SandboxSlot } from '../environment.js';
import { sleep } from '../sim/index.js';
import { AwsFaultInjector } from './aws-faults.js';
import { InvariantMonitor, type Violation } from './invariants.js';
import type { HostileCounter } from './hostile-answers.js';

/** Default compression of the controller faults (the scheduled-controller e2e test runs at the same speed). */
export const CONTROLLER_FAULT_SPEED = 20;
/** Bounds, in real-world ms (compressed by the speed). */
export const STEADY_BOUND_MS = 90_000;
export const RECOVERY_BOUND_MS = 180_000;
/** Ticks observed after recovery (the invariants keep being sampled). */
export const SETTLE_MS = 15_000;

export interface FaultRow {
  fault: string;
  family: string;
  /** Real-world seconds the fault lasted. */
  durationS: number;
  checks: number;
  violations: Violation[];
  /** Real-world seconds from the end of the fault to the steady state; null: not within the bound. */
  recoveryS: number | null;
  fuzzCases: number;
  notes: string[];
  wallMs: number;
  error?: string;
}

export interface ControllerChaos {
  sb: Sandbox;
  aws: AwsFaultInjector;
  monitor: InvariantMonitor;
  random: () => number;
  hostile: HostileCounter;
  speed: number;
  /** Real ms of a real-world duration. */
  real(worldMs: number): number;
  note(text: string): void;
  /** A fault-specific expectation: one check, a violation when false. */
  expect(ok: boolean, invariant: string, detail: string): void;
  /** The slot whose node claims active (exactly one), and a running unsealed standby. */
  active(): SandboxSlot;
  standby(): SandboxSlot;
  /** Kills the active's Vault process (kill -9): the controller then has a failover to route. */
  killActive(): Promise<SandboxSlot>;
  /** Steady right now (see the file comment). */
  steady(sinceMs?: number): boolean;
  faultStartMs: number;
}

export interface ControllerFault {
  name: string;
  family: 'aws' | 'node' | 'controller';
  /** Real-world seconds the fault lasts (default 60). */
  durationS?: number;
  sandbox?: Pick<SandboxOptions, 'fencing' | 'routing'>;
  /** Runs the controller with policy.dryRun (the fault's heal turns it off again). */
  dryRun?: boolean;
  /** Injects the fault; returns its heal. */
  inject(c: ControllerChaos): Promise<(() => Promise<void>) | void>;
  /** Repeated while the fault lasts (flapping, overlapping runs), every `everyS` real-world seconds. */
  every?: { everyS: number; run(c: ControllerChaos, k: number): Promise<void> };
  /** Extra checks on every sample while the fault lasts. */
  onSample?(c: ControllerChaos): void;
  /** Expectations once the fault ended (before the heal). */
  atFaultEnd?(c: ControllerChaos): void;
  /** Expectations on the recovery (real-world seconds from the heal to the steady state; null: not within the bound). */
  afterRecovery?(c: ControllerChaos, recoveryS: number | null): void;
}

export interface ControllerRunOptions {
  speed?: number;
  random: () => number;
  /** Real-world seconds instead of each fault's own duration (short runs: the jest subset). */
  durationS?: number;
}

export async function runControllerFault(fault: ControllerFault, opts: ControllerRunOptions): Promise<FaultRow> {
  const wallStart = Date.now();
  const speed = opts.speed ?? CONTROLLER_FAULT_SPEED;
  const real = (worldMs: number): number => Math.max(1, Math.round(worldMs / speed));
  const durationS = opts.durationS ?? fault.durationS ?? 60;
  const notes: string[] = [];
  const hostile: HostileCounter = { cases: 0 };
  const sb = new Sandbox({
    ha: 'dynamodb',
    fast: true,
    speed,
    controller: 'scheduled',
    schedule: { phase: opts.random() },
    startController: false,
    random: opts.random,
    ...fault.sandbox,
  });
  const aws = new AwsFaultInjector(opts.random);
  let monitor: InvariantMonitor | undefined;
  let sampler: NodeJS.Timeout | undefined;
  const row = (extra: Partial<FaultRow>): FaultRow => ({
    fault: fault.name,
    family: fault.family,
    durationS,
    checks: monitor?.checks ?? 0,
    violations: monitor?.violations ?? [],
    recoveryS: null,
    fuzzCases: hostile.cases + aws.injectedTotal,
    notes,
    wallMs: Date.now() - wallStart,
    ...extra,
  });
  try {
    await sb.start();
    const config = sb.config.clusters[0]!;
    const m = new InvariantMonitor(sb, {
      dryRun: false,
      fencing: config.policy.fencing,
      lockTable: LOCK_TABLE,
      controlTable: CONTROL_TABLE,
      // The tick that sees it (fast ticks every 1 s while not healthy, 5 s otherwise), a probe timeout, an invocation handover.
      sealedGraceMs: real(20_000),
      blindGraceMs: real(10_000),
    });
    monitor = m;
    const failedTicks: number[] = [];
    sb.controller.instrument({
      clients: (clients) => aws.attach(clients, { speed }),
      onLog: (l) => {
        m.addLogLine(`${l.message} ${l.fields ? JSON.stringify(l.fields) : ''}`);
        if (l.message === 'tick failed') failedTicks.push(l.atMs);
      },
    });
    aws.observe(m);
    // A config change reaches the controller at its next invocation: dry run is on from the start.
    if (fault.dryRun) setDryRun(sb, true, m);
    sb.controller.start();

    const c: ControllerChaos = {
      sb,
      aws,
      monitor: m,
      random: opts.random,
      hostile,
      speed,
      real,
      note: (t) => notes.push(t),
      expect: (ok, invariant, detail) => {
        m.checks += 1;
        if (!ok) m.violations.push({ invariant, atMs: Date.now(), detail });
      },
      active: () => {
        const a = sb.activeSlot();
        if (!a) throw new ChaosSetupError(fault.name, 'no single active node');
        return a;
      },
      standby: () => {
        const a = sb.activeSlot();
        const s = sb.slots.find((x) => x !== a && x.node.status().running && !x.node.status().sealed);
        if (!s) throw new ChaosSetupError(fault.name, 'no unsealed standby');
        return s;
      },
      killActive: async () => {
        const a = c.active();
        await sb.killVault(a.name);
        return a;
      },
      steady: (sinceMs = 0) => steadyNow(sb, sinceMs),
      faultStartMs: 0,
    };

    sampler = setInterval(() => {
      m.sample();
      if (c.faultStartMs > 0 && fault.onSample && !faultOver) fault.onSample(c);
    }, Math.max(10, real(500)));
    let faultOver = false;

    const steadyAt = await waitUntil(real(STEADY_BOUND_MS) + 5_000, () => steadyNow(sb, 0));
    if (steadyAt === undefined) throw new ChaosSetupError(fault.name, 'the sandbox did not reach a steady state');

    c.faultStartMs = Date.now();
    sb.record('fault', `chaos: ${fault.name} for ${durationS} s`);
    const heal = await fault.inject(c);
    const faultEndAt = c.faultStartMs + real(durationS * 1000);
    if (fault.every) {
      for (let k = 0; k < 10_000 && Date.now() < faultEndAt; k++) {
        await fault.every.run(c, k);
        await sleep(Math.min(Math.max(1, faultEndAt - Date.now()), real(fault.every.everyS * 1000)));
      }
    }
    await sleep(Math.max(0, faultEndAt - Date.now()));
    faultOver = true;
    fault.atFaultEnd?.(c);
    const during = sb.controller.tickLog.filter((t) => t.atMs >= c.faultStartMs);
    const verdicts = [...new Set(during.map((t) => t.verdict))];
    notes.push(
      `during the fault: ${during.length} ticks (${verdicts.join(', ') || 'none'}), ${during.filter((t) => t.applied).length} applied, ` +
        `${failedTicks.filter((t) => t >= c.faultStartMs).length} failed (changing nothing); ` +
        `${aws.calls} AWS calls, ${aws.attempts} attempts, ${aws.injectedTotal} failed by injection; ` +
        `${sb.controller.ticks.filter((t) => t.startedAtMs >= c.faultStartMs && t.error).length} invocations failed`,
    );
    if (heal) await heal();
    if (fault.dryRun) setDryRun(sb, false, m);
    aws.clear();
    const healedAt = Date.now();
    sb.record('fault', `chaos: ${fault.name} healed`);

    const recoveredAt = await waitUntil(real(RECOVERY_BOUND_MS) + 5_000, () => steadyNow(sb, healedAt));
    const recoveryS = recoveredAt === undefined ? null : Math.round(((recoveredAt - healedAt) * speed) / 100) / 10;
    if (recoveredAt === undefined) notes.push(`not steady within ${RECOVERY_BOUND_MS / 1000} s of the heal`);
    fault.afterRecovery?.(c, recoveryS);
    await sleep(real(SETTLE_MS));
    clearInterval(sampler);
    sampler = undefined;
    m.sample();
    await m.checkSecrets();
    if (process.env.CHAOS_DEBUG) {
      const t0 = c.faultStartMs;
      const at = (t: number): string => `${(((t - t0) * speed) / 1000).toFixed(1)}s`;
      for (const e of sb.timeline.filter((e) => e.atMs >= t0 - 2_000)) console.error(`${at(e.atMs)} ${e.kind} ${e.detail}`);
      for (const t of sb.controller.tickLog.filter((t) => t.atMs >= t0 - 2_000)) console.error(`${at(t.atMs)} tick#${t.invocation} ${t.verdict} ${t.applied ? 'APPLIED ' : ''}${t.outcome}`);
      for (const e of sb.controller.lambdaEvents.filter((e) => e.atMs >= t0 - 2_000)) console.error(`${at(e.atMs)} lambda ${e.kind} ${e.eventId} ${e.detail ?? ''}`);
    }
    return row({ recoveryS, checks: m.checks, violations: m.violations });
  } catch (err) {
    return row({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  } finally {
    if (sampler) clearInterval(sampler);
    await sb.stop();
  }
}

export class ChaosSetupError extends Error {
  override readonly name = 'ChaosSetupError';
  constructor(
    readonly fault: string,
    message: string,
  ) {
    super(`${fault}: ${message}`);
  }
}

/** Registered (non-draining) target ids. */
export function registeredIds(sb: Sandbox): string[] {
  const tg = sb.aws.targetGroups.requireTargetGroup(sb.targetGroupArn);
  return [...tg.targets.values()].filter((r) => r.state !== 'draining').map((r) => r.id).sort();
}

/** One active, it alone registered and ALB-healthy, and the controller's last tick since `sinceMs` said healthy. */
export function steadyNow(sb: Sandbox, sinceMs: number): boolean {
  const a = sb.activeSlot();
  const id = a ? sb.runtime.hostOf(a.node) : undefined;
  if (id === undefined) return false;
  const reg = registeredIds(sb);
  if (reg.length !== 1 || reg[0] !== id || sb.targetState(id) !== 'healthy') return false;
  const last = sb.controller.tickLog.at(-1);
  return last !== undefined && last.atMs >= sinceMs && last.verdict === 'healthy';
}

/** Polls `cond` until it holds (returns when) or `timeoutMs` passed (undefined). Bounded in count and time. */
export async function waitUntil(timeoutMs: number, cond: () => boolean, stepMs = 10): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1_000_000; i++) {
    if (cond()) return Date.now();
    if (Date.now() > deadline) return undefined;
    await sleep(stepMs);
  }
  return undefined;
}

/** Flips policy.dryRun through the config the handler reads (VAULT_HA_CONFIG: a changed text is a new config). */
function setDryRun(sb: Sandbox, on: boolean, m: InvariantMonitor): void {
  const config = { ...sb.config, clusters: sb.config.clusters.map((c) => ({ ...c, policy: { ...c.policy, dryRun: on } })) };
  process.env.VAULT_HA_CONFIG = JSON.stringify(config);
  m.setDryRun(on);
}
