/**
 * Scripted, non-interactive scenarios: each starts a sandbox, waits for a
 * steady state, injects one fault, watches the controller deal with it and
 * judges the run by the safety invariants of DESIGN §5 over the whole
 * timeline (sampled registrations never hold two nodes that claim active; the
 * sole dead target is removed; nothing changes under probe blindness; the new
 * active gets registered and serves clients through the listener).
 *
 * Every wait is bounded. Durations are written in "real-world" milliseconds
 * and compressed by the sandbox's time scale when `fast` is on.
 */
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DrillScenario } from '../functions/core/drill.js';
import type { DrillReport } from '../functions/core/drill-report.js';
import { LEASE_SCOPES, readLease } from '../functions/adapters/control-table.js';
import { FAILED_REPLACEMENT_TAG, REPLACED_BY_TAG } from '../functions/adapters/ec2-replacement.js';
import type { ReplacementReport } from '../functions/core/replacement.js';
import {
  CLUSTER_NAME,
  CONTROL_TABLE,
  SHARES_PREFIX,
  STEP_DOWN_TOKEN_PARAMETER,
  Sandbox,
  type SandboxBalancer,
  type SandboxHa,
  type SandboxOptions,
  type RoutingSample,
  type SandboxSlot,
  type TimelineEvent,
} from './environment.js';
import { deleteShareParameters } from './workflow-wiring.js';
import { DRILL_SCENARIOS as FAULT_SCENARIOS } from '../functions/config/schema.js';
import type { SimVolume } from './aws/world.js';
import type { RunStateMachineResult } from './stepfunctions/runner.js';
import { sleep } from './sim/index.js';
import { runFailoverDrill } from './drill.js';

export { runFailoverDrill } from './drill.js';

export const SCENARIOS = [
  'steady',
  'step-down',
  'kill-active',
  'zombie-leader',
  'split-brain',
  'probe-blind',
  'replace-node',
  'replace-node-launch-fails',
  'replace-node-unseal-fails',
  // One per failover-drill scenario of the input contract: drill-<scenario>.
  ...FAULT_SCENARIOS.map((s) => `drill-${s}` as const),
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** The scenarios that run the replace-node state machine (capped speed, instance events in the timeline, report figures). */
export const REPLACE_NODE_SCENARIOS = ['replace-node', 'replace-node-launch-fails', 'replace-node-unseal-fails'] as const satisfies readonly ScenarioName[];

export function isReplaceNodeScenario(name: ScenarioName): boolean {
  return (REPLACE_NODE_SCENARIOS as readonly string[]).includes(name);
}

/** The scenarios that run the failover-drill state machine (capped speed like replace-node: the interpreter blocks the event loop while it validates). */
export const DRILL_SCENARIOS = FAULT_SCENARIOS.map((s) => `drill-${s}` as const) satisfies readonly ScenarioName[];

export function isDrillScenario(name: ScenarioName): boolean {
  return (DRILL_SCENARIOS as readonly string[]).includes(name);
}

/** The drill's maxRtoSeconds in the sandbox scenarios (the contract's default), in real-world seconds. */
export const SANDBOX_DRILL_MAX_RTO_SECONDS = 120;

/** Time compression cap for the replace-node scenarios (see runScenario). */
export const REPLACE_NODE_MAX_SPEED = 8;

/** What RunInstances answers in replace-node-launch-fails: EC2 reports a lack of capacity as a server error (HTTP 500). */
export const INSUFFICIENT_CAPACITY_FAULT = {
  service: 'ec2',
  action: 'RunInstances',
  code: 'InsufficientInstanceCapacity',
  message: 'We currently do not have sufficient capacity in the Availability Zone you requested.',
  httpStatus: 500,
  // Every attempt: the task's own retries and the SDK's are all refused.
  times: 1_000,
} as const;

/** One phase of a replacement, as the scenario's JSON line carries it. */
export interface PhaseFigure {
  name: string;
  durationMs: number;
}

/** Figures a replace-node scenario takes from the execution and its report (the execution output, or the Fail state's Cause). */
export interface ReplaceNodeFigures {
  executionStatus: 'SUCCEEDED' | 'FAILED';
  /** The report's result: replaced | dry-run | failed (unknown when the report could not be built). */
  result: string;
  /** State transitions of the execution (what Step Functions Standard bills). */
  transitions: number;
  executionName: string;
  oldInstance?: ReplacementReport['oldInstance'];
  newInstance?: ReplacementReport['newInstance'];
  /** Where the data volume is, in the report's words. */
  volume?: { volumeId: string; location: string };
  networkInterface?: ReplacementReport['networkInterface'];
  phases: PhaseFigure[];
  /** The execution's error (failures only). */
  error?: { name: string; message: string };
  compensation?: string[];
  nextSteps?: string[];
}

export interface ScenarioCheck {
  name: string;
  passed: boolean;
  detail: string;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  passed: boolean;
  ha: SandboxHa;
  lb: SandboxBalancer;
  speed: number;
  /** Fault → a new active registered, healthy in the target group and serving a client through the listener (wall ms). */
  rtoMs?: number;
  /** Client requests through the listener that succeeded, from the fault (or observation start) to the end. */
  clientSuccessRate: number;
  clientRequests: number;
  /** Most registered (non-draining) targets whose node claimed active in any one sample (a new one may be `initial`, not routed). */
  maxRegisteredActives: number;
  /** Most targets the balancer routed to whose node claimed active in any one sample (invariant 3: at most 1). */
  maxRoutedActives: number;
  /** Controller invocations during the scenario. */
  ticks: number;
  verdicts: string[];
  durationMs: number;
  checks: ScenarioCheck[];
  /**
   * Why the scenario itself aborted (a string), or — in the replace-node
   * scenarios when it ran to the end — the execution's error from its report
   * (`{ name, message }`).
   */
  error?: string | { name: string; message: string };
  executionStatus?: ReplaceNodeFigures['executionStatus'];
  result?: string;
  transitions?: number;
  executionName?: string;
  oldInstance?: ReplaceNodeFigures['oldInstance'];
  newInstance?: ReplaceNodeFigures['newInstance'];
  volume?: ReplaceNodeFigures['volume'];
  networkInterface?: ReplaceNodeFigures['networkInterface'];
  phases?: PhaseFigure[];
  compensation?: string[];
  nextSteps?: string[];
  /** Drill scenarios: the drill report's judged RTO (wall seconds, like the sandbox's compressed time), null when none was measured. */
  rtoSeconds?: number | null;
  maxRtoSeconds?: number;
  /** rtoSeconds × speed: the RTO at Vault's and AWS's real timings. */
  realWorldRtoSeconds?: number | null;
  /** Drill scenarios: injection → a new active registered and healthy / clients served through the listener (wall seconds). */
  routedRtoSeconds?: number | null;
  clientRtoSeconds?: number | null;
  /** The same × speed. */
  realWorldRoutedRtoSeconds?: number | null;
  realWorldClientRtoSeconds?: number | null;
  failedRequests?: number | null;
  /** Drill scenarios: the report's verdict on the failover (`passed` above is every check of the scenario). */
  drillPassed?: boolean | null;
  /** Drill scenarios: the faulted node is back as an unsealed standby. */
  restored?: boolean | null;
  stop?: string | null;
  oldActive?: string | null;
  newActive?: string | null;
}

export interface ScenarioRun {
  result: ScenarioResult;
  /** Events from the steady state on, in time order (what the CLI prints). */
  timeline: TimelineEvent[];
  /** Routing samples from the steady state on (what the invariants are judged on). */
  samples: RoutingSample[];
  /** When the fault was injected (wall ms), if the scenario injects one. */
  faultAtMs?: number;
  /** The timeline picture written for a drill or replace-node run (ScenarioOptions.timelineDir). */
  timelineFiles?: { svg: string; png: string };
}

export interface ScenarioOptions {
  ha?: SandboxHa;
  /** The load balancer in front of the nodes (default alb). */
  lb?: SandboxBalancer;
  fast?: boolean;
  speed?: number;
  /** Live progress (every timeline event as it happens). */
  onTimeline?: (e: TimelineEvent) => void;
  /** Drill and replace-node scenarios: write the run's timeline picture (SVG + PNG) into this folder. */
  timelineDir?: string;
}

export class UnknownScenarioError extends Error {
  override readonly name = 'UnknownScenarioError';
  constructor(readonly scenario: string) {
    super(`unknown scenario "${scenario}" (known: ${SCENARIOS.join(', ')})`);
  }
}

export function isScenarioName(s: string): s is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(s);
}

/** The bits of a scenario run the checks are computed from. */
interface Window {
  sb: Sandbox;
  startMs: number;
  faultAtMs: number | undefined;
  endMs: number;
  checks: ScenarioCheck[];
  rtoMs?: number;
  extraTimeline: TimelineEvent[];
  /** Set by the replace-node scenarios once their execution ended. */
  replacement?: ReplaceNodeFigures;
  /** Set by the drill scenarios once their execution ended. */
  drill?: DrillFigures;
}

/** Figures a drill scenario takes from the execution and its report. */
interface DrillFigures {
  executionStatus: 'SUCCEEDED' | 'FAILED';
  result: string;
  transitions: number;
  executionName: string;
  rtoSeconds: number | null;
  maxRtoSeconds: number;
  realWorldRtoSeconds: number | null;
  routedRtoSeconds: number | null;
  clientRtoSeconds: number | null;
  realWorldRoutedRtoSeconds: number | null;
  realWorldClientRtoSeconds: number | null;
  failedRequests: number | null;
  drillPassed: boolean | null;
  restored: boolean | null;
  stop: string | null;
  oldActive: string | null;
  newActive: string | null;
  phases: PhaseFigure[];
  error?: { name: string; message: string };
}

export async function runScenario(name: string, opts: ScenarioOptions = {}): Promise<ScenarioRun> {
  if (!isScenarioName(name)) throw new UnknownScenarioError(name);
  const ha = opts.ha ?? 'dynamodb';
  // The ASL interpreter validates a definition synchronously (~0.5 s with the
  // event loop blocked); at ×20 that is most of a lock TTL, so replace-node runs less compressed.
  const speed = (isReplaceNodeScenario(name) || isDrillScenario(name)) && opts.fast ? Math.min(opts.speed ?? REPLACE_NODE_MAX_SPEED, REPLACE_NODE_MAX_SPEED) : opts.speed;
  const sandboxOpts: SandboxOptions = {
    ha,
    ...(opts.lb ? { lb: opts.lb } : {}),
    fast: opts.fast ?? false,
    ...(speed !== undefined ? { speed } : {}),
    // A zombie leader only loses its lock to break-lock fencing (DESIGN §3.4).
    ...(name === 'zombie-leader' || name === 'drill-partition-clients' ? { fencing: 'break-lock' as const } : {}),
    ...(opts.onTimeline ? { onTimeline: opts.onTimeline } : {}),
  };
  const startedAt = Date.now();
  const sb = new Sandbox(sandboxOpts);
  const w: Window = { sb, startMs: startedAt, faultAtMs: undefined, endMs: startedAt, checks: [], extraTimeline: [] };
  let error: string | undefined;
  try {
    await sb.start();
    await waitSteady(sb);
    w.startMs = Date.now();
    sb.record('info', `steady: ${sb.activeSlot()?.name ?? '?'} is active and the only registered target; scenario ${name} begins`);
    await SCRIPTS[name](w);
  } catch (err) {
    error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    sb.record('info', `scenario aborted: ${error}`);
  } finally {
    w.endMs = Date.now();
    await sb.stop();
  }
  const result = summarise(name, w, Date.now() - startedAt, error);
  const timeline = [...sb.timeline.filter((e) => e.atMs >= w.startMs - 1 && e.atMs <= w.endMs && (e.kind !== 'instance' || isReplaceNodeScenario(name))), ...w.extraTimeline].sort((a, b) => a.atMs - b.atMs);
  const samples = sb.samples.filter((x) => x.atMs >= w.startMs && x.atMs <= w.endMs);
  let timelineFiles: { svg: string; png: string } | undefined;
  if (opts.timelineDir !== undefined && (isDrillScenario(name) || isReplaceNodeScenario(name))) {
    // Client success, verdicts as bands and the workflow's events, as the benchmark draws them.
    const { sandboxRunTimeline } = await import('../bench/charts/run-timeline.js');
    const { writeRunTimeline } = await import('../bench/charts/render.js');
    timelineFiles = await writeRunTimeline(
      sandboxRunTimeline({
        name,
        speed: sb.speed,
        timeline,
        clientSamples: sb.clientSamples,
        ...(w.faultAtMs !== undefined ? { faultAtMs: w.faultAtMs } : {}),
        startMs: w.startMs,
        endMs: w.endMs,
      }),
      `${opts.timelineDir}/${name}-timeline`,
    );
  }
  return { result, timeline, samples, ...(w.faultAtMs !== undefined ? { faultAtMs: w.faultAtMs } : {}), ...(timelineFiles ? { timelineFiles } : {}) };
}

/* ------------------------------------------------------------------ scripts */

const SCRIPTS: Record<ScenarioName, (w: Window) => Promise<void>> = {
  async steady(w) {
    const { sb } = w;
    const first = sb.activeSlot();
    await sleep(ms(sb, 60_000));
    const last = sb.activeSlot();
    const verdicts = reportsIn(w, w.startMs, Date.now()).map((r) => r.verdict.kind);
    check(w, 'every tick says healthy', verdicts.length > 0 && verdicts.every((v) => v === 'healthy'), `${verdicts.length} ticks: ${unique(verdicts).join(', ')}`);
    check(w, 'the active did not change', first !== undefined && first === last, `${first?.name ?? '-'} → ${last?.name ?? '-'}`);
    const changes = w.sb.timeline.filter((e) => e.kind === 'registration' && e.atMs > w.startMs).length;
    check(w, 'no registration changed', changes === 0, `${changes} changes`);
    const samples = samplesIn(w, w.startMs, Date.now());
    const onlyActive = samples.every((s) => s.registered.length === 1 && s.registeredClaimants.length === 1);
    check(w, 'exactly the active is registered in every sample', onlyActive, `${samples.length} samples`);
    const rate = clientRate(w, w.startMs, Date.now());
    check(w, 'clients succeed', rate.rate >= UNDISTURBED_RATE, rateDetail(rate));
  },

  async 'step-down'(w) {
    const { sb } = w;
    const old = requireActive(sb);
    const oldId = sb.instanceOf(old.name)!;
    const sentAt = Date.now();
    await sb.stepDown(old.name);
    w.faultAtMs = nodeEventAt(sb, old.name, 'step-down', sentAt) ?? sentAt;
    const recovered = await waitRecovered(w, old.name);
    check(w, 'a new active is registered and serving through the listener', recovered !== undefined, recovered ? `${recovered.slot} after ${w.rtoMs} ms` : 'not within the bound');
    await settleUntil(sb, () => !registeredNow(sb).includes(oldId));
    check(w, 'the stepped-down node is deregistered', !registeredNow(sb).includes(oldId), `${old.name} (${oldId})`);
  },

  async 'kill-active'(w) {
    const { sb } = w;
    const old = requireActive(sb);
    const oldId = sb.instanceOf(old.name)!;
    await sb.killVault(old.name);
    w.faultAtMs = nodeEventAt(sb, old.name, 'killed', Date.now() - 1_000) ?? Date.now();
    const recovered = await waitRecovered(w, old.name);
    check(w, 'a new active is registered and serving through the listener', recovered !== undefined, recovered ? `${recovered.slot} after ${w.rtoMs} ms` : 'not within the bound');
    await settleUntil(sb, () => !registeredNow(sb).includes(oldId));
    check(w, 'the dead target is removed', !registeredNow(sb).includes(oldId), `${old.name} (${oldId})`);
  },

  async 'zombie-leader'(w) {
    const { sb } = w;
    const zombie = requireActive(sb);
    const zombieId = sb.instanceOf(zombie.name)!;
    // The active keeps its lock (storage reachable) but no client or probe reaches it.
    await sb.partitionClients(zombie.name, true, 'refuse');
    w.faultAtMs = Date.now();
    if (sb.ha === 'dynamodb') {
      const recovered = await waitRecovered(w, zombie.name);
      check(w, 'a new active is registered and serving through the listener', recovered !== undefined, recovered ? `${recovered.slot} after ${w.rtoMs} ms` : 'not within the bound');
      // Break-lock fencing deletes it; so may dead-leader takeover, if the zombie
      // (its API refuses) ever misses a renewal by more than the skew tolerance — on
      // a loaded machine at compressed timings it does. Either is a conditional delete.
      const fenced = reportsIn(w, w.faultAtMs, Date.now()).find((r) => r.fencing?.result === 'deleted' || r.takeover?.result === 'deleted');
      check(
        w,
        'the zombie lock was broken (conditional delete)',
        fenced !== undefined,
        fenced?.fencing?.result === 'deleted' ? fenced.fencing.reason : (fenced?.takeover?.reason ?? 'no break-lock, no takeover'),
      );
    } else {
      // Raft (or haLock "none") gives no lock item to break: the controller can
      // only stop routing to the zombie (an ALB would fail open to it) and alarm
      // until it is healed.
      const judged = await waitUntil(sb, ms(sb, 30_000), () => reportsIn(w, w.faultAtMs!, Date.now()).some((r) => r.verdict.kind !== 'healthy'));
      const kinds = unique(reportsIn(w, w.faultAtMs, Date.now()).map((r) => r.verdict.kind));
      check(w, 'the verdict stops saying healthy', judged, kinds.join(', ') || 'no tick');
      await sleep(ms(sb, 20_000));
      // A standby may come in (invariant 11: the group is never left empty while an
      // unsealed node lives; it forwards over the cluster port, which the client
      // partition does not cut), but never a second node claiming active.
      const window = samplesIn(w, w.faultAtMs, Date.now());
      const twoActives = window.filter((s) => s.routedClaimants.length > 1);
      check(w, 'never two actives routed while the zombie holds Raft leadership', twoActives.length === 0, `${twoActives.length} of ${window.length} samples`);
      const empty = window.filter((s) => s.registered.length === 0);
      check(w, 'the target group is never empty while standbys are alive', empty.length === 0, `${empty.length} of ${window.length} samples`);
    }
    await settleUntil(sb, () => !registeredNow(sb).includes(zombieId));
    check(w, 'the unreachable zombie is no longer registered', !registeredNow(sb).includes(zombieId), `${zombie.name} (${zombieId})`);
    await sb.partitionClients(zombie.name, false);
    if (sb.ha !== 'dynamodb') {
      const healedAt = Date.now();
      const back = await waitUntil(sb, ms(sb, 120_000) + 5_000, () => {
        const a = sb.activeSlot();
        const id = a ? sb.runtime.hostOf(a.node) : undefined;
        return id !== undefined && sb.targetState(id) === 'healthy' && sb.clientSamples.some((s) => s.ok && s.realAtMs >= healedAt);
      });
      check(w, 'routing recovers once the partition heals', back, back ? `${sb.activeSlot()?.name ?? '?'} serving` : 'not within the bound');
    }
  },

  async 'split-brain'(w) {
    const { sb } = w;
    const legit = requireActive(sb);
    const legitId = sb.instanceOf(legit.name)!;
    const rogue = sb.slots.find((s) => s !== legit && s.node.status().running && !s.node.status().sealed);
    if (!rogue) throw new Error('no standby to turn rogue');
    const rogueId = sb.instanceOf(rogue.name)!;
    sb.forceActive(rogue.name, true);
    w.faultAtMs = Date.now();
    const seen = await waitUntil(sb, ms(sb, 30_000), () => reportsIn(w, w.faultAtMs!, Date.now()).some((r) => r.verdict.kind === 'split-brain'));
    check(w, 'the verdict says split-brain', seen, seen ? 'split-brain' : 'never within the bound');
    await sleep(ms(sb, 20_000));
    const samples = samplesIn(w, w.faultAtMs, Date.now());
    const rogueRouted = samples.some((s) => s.registered.some((r) => r.instanceId === rogueId));
    check(w, 'the rogue claimant is never registered', !rogueRouted, `${rogue.name} (${rogueId})`);
    const legitKept = samples.every((s) => s.registered.some((r) => r.instanceId === legitId));
    check(w, 'the lock holder stays registered', legitKept, `${legit.name} (${legitId})`);
    const rate = clientRate(w, w.faultAtMs, Date.now());
    check(w, 'clients keep succeeding', rate.rate >= UNDISTURBED_RATE, rateDetail(rate));
    sb.forceActive(rogue.name, false);
  },

  async 'probe-blind'(w) {
    const { sb } = w;
    const before = registeredNow(sb).join(',');
    await sb.setControllerBlind(true);
    w.faultAtMs = Date.now();
    const seen = await waitUntil(sb, ms(sb, 30_000), () => reportsIn(w, w.faultAtMs!, Date.now()).some((r) => r.verdict.kind === 'probe-blind'));
    check(w, 'the verdict says probe-blind', seen, seen ? 'probe-blind' : 'never within the bound');
    // Long enough for hysteresis to have removed every node twice over, had it been fooled.
    await sleep(ms(sb, 30_000));
    const blindEnd = Date.now();
    await sb.setControllerBlind(false);
    const samples = samplesIn(w, w.faultAtMs, blindEnd);
    const unchanged = samples.every((s) => s.registered.map((r) => r.instanceId).join(',') === before);
    check(w, 'registrations never changed while blind', unchanged, `${samples.length} samples, registered ${before || '(none)'}`);
    const applied = reportsIn(w, w.faultAtMs, blindEnd).filter((r) => r.applied).length;
    check(w, 'no tick applied a change while blind', applied === 0, `${applied} applied ticks`);
    const rate = clientRate(w, w.faultAtMs, blindEnd);
    check(w, 'clients kept succeeding', rate.rate >= UNDISTURBED_RATE, rateDetail(rate));
    const healed = await waitUntil(sb, ms(sb, 30_000), () => sb.controller.last?.report?.clusters[0]?.verdict.kind === 'healthy');
    check(w, 'healthy again once the path is healed', healed, healed ? 'healthy' : 'not within the bound');
  },

  async 'replace-node'(w) {
    const { sb } = w;
    const slot = standbyToReplace(sb);
    const oldId = sb.instanceOf(slot.name)!;
    const urlBefore = slot.node.baseUrl;
    w.faultAtMs = Date.now();
    const { run, report } = await replaceAndRecord(w, slot);
    check(w, 'the replace-node execution succeeded', run.status === 'SUCCEEDED', `${run.status}${run.error ? ` ${run.error}: ${run.cause ?? ''}` : ''} (${run.transitions} transitions)`);
    const world = sb.aws.world;
    const newId = sb.instanceOf(slot.name);
    const inst = newId ? world.instance(newId) : undefined;
    check(w, 'a new instance runs in the slot', newId !== undefined && newId !== oldId && inst?.state === 'running', `${oldId} → ${newId ?? '-'} (${inst?.state ?? '-'})`);
    check(
      w,
      'it kept the slot AZ and network interface',
      inst?.availabilityZone === slot.availabilityZone && inst.primaryNetworkInterfaceId === slot.networkInterfaceId,
      `${inst?.availabilityZone ?? '-'} ${inst?.primaryNetworkInterfaceId ?? '-'}`,
    );
    const vol = world.volume(slot.volumeId);
    check(
      w,
      'the data volume is attached to the new instance',
      vol?.attachment?.instanceId === newId && vol?.attachment?.state === 'attached',
      `${slot.volumeId}: ${vol?.state ?? '-'} ${vol?.attachment?.instanceId ?? ''}`,
    );
    const where = locationAgrees(report?.volume?.location, vol);
    check(w, 'the report says where the volume is (as EC2 does)', where.ok && report?.newInstance?.instanceId === newId, where.detail);
    const st = slot.node.status();
    check(
      w,
      'the same node is back, unsealed, at the same address',
      st.running && !st.sealed && slot.node.baseUrl === urlBefore,
      `${slot.name} ${st.running ? (st.sealed ? 'sealed' : 'unsealed') : 'down'} at ${slot.node.baseUrl ?? '-'}`,
    );
    const old = world.instance(oldId);
    check(w, 'the old instance is gone', old === undefined || old.state === 'terminated' || old.state === 'shutting-down' || old.state === 'stopped', old?.state ?? 'purged');
    await checkLeaseFree(w, run.executionName);
    check(w, 'no unseal share reached SSM commands or output', !sb.ssm.auditContainsAny(sb.shares), 'SSM audit searched for every share');
    await settle(sb);
    const rate = clientRate(w, w.faultAtMs, Date.now());
    check(w, 'clients kept succeeding', rate.rate >= UNDISTURBED_RATE, rateDetail(rate));
    const healthy = await waitUntil(sb, ms(sb, 30_000), () => sb.controller.last?.report?.clusters[0]?.verdict.kind === 'healthy');
    check(w, 'the controller says healthy afterwards', healthy, sb.controller.last?.report?.clusters[0]?.verdict.kind ?? '-');
  },

  ...(Object.fromEntries(FAULT_SCENARIOS.map((s) => [`drill-${s}`, (w: Window) => drillScenario(w, s)])) as Record<(typeof DRILL_SCENARIOS)[number], (w: Window) => Promise<void>>),

  async 'replace-node-launch-fails'(w) {
    const { sb } = w;
    const slot = standbyToReplace(sb);
    const oldId = sb.instanceOf(slot.name)!;
    // Capacity runs out in the slot's AZ for the whole execution: Launch
    // exhausts its retries and the execution must compensate and fail.
    sb.aws.world.injectFault(INSUFFICIENT_CAPACITY_FAULT);
    sb.record('fault', `EC2 RunInstances answers ${INSUFFICIENT_CAPACITY_FAULT.code} (HTTP ${INSUFFICIENT_CAPACITY_FAULT.httpStatus}) on every call`);
    w.faultAtMs = Date.now();
    const { run, report } = await replaceAndRecord(w, slot);
    const err = w.replacement?.error;
    check(
      w,
      'the execution failed because RunInstances had no capacity',
      run.status === 'FAILED' && err !== undefined && err.message.includes(INSUFFICIENT_CAPACITY_FAULT.code),
      `${run.status}${err ? ` ${err.name}: ${err.message}` : ''} (${run.transitions} transitions)`,
    );
    check(w, 'the report is a failure report', report?.result === 'failed' && Array.isArray(report.nextSteps) && report.nextSteps.length > 0, `result ${report?.result ?? '(no report)'}`);
    await checkFailedReplacementCleanedUp(w, slot, oldId, run, report, { volumeMayStayOn: oldId });
    checkClientsUndisturbed(w);
  },

  async 'replace-node-unseal-fails'(w) {
    const { sb } = w;
    const slot = standbyToReplace(sb);
    const oldId = sb.instanceOf(slot.name)!;
    // The node reads the shares itself (invariant 7): with the SecureStrings
    // gone, VaultHA-PrepareNode mounts and starts Vault but cannot unseal it.
    const removed = await deleteShareParameters(sb);
    if (removed === 0) throw new Error(`no share parameter under ${SHARES_PREFIX} to delete`);
    sb.record('fault', `deleted the ${removed} unseal share parameters under ${SHARES_PREFIX} from Parameter Store`);
    w.faultAtMs = Date.now();
    const { run, report } = await replaceAndRecord(w, slot);
    const err = w.replacement?.error;
    check(
      w,
      'the execution failed with UnsealFailedError',
      run.status === 'FAILED' && run.error === 'UnsealFailedError' && err?.name === 'UnsealFailedError',
      `${run.status}${err ? ` ${err.name}: ${err.message}` : ''} (${run.transitions} transitions)`,
    );
    check(w, 'the report is a failure report', report?.result === 'failed' && Array.isArray(report.nextSteps) && report.nextSteps.length > 0, `result ${report?.result ?? '(no report)'}`);
    const newId = report?.newInstance?.instanceId;
    check(w, 'a replacement had been launched before the failure', newId !== undefined && newId !== oldId, newId ?? 'none in the report');
    await checkFailedReplacementCleanedUp(w, slot, oldId, run, report, {});
    const st = slot.node.status();
    check(w, 'the slot\'s node never came back unsealed', !st.running || st.sealed, `${slot.name} ${st.running ? (st.sealed ? 'sealed' : 'unsealed') : 'down'}`);
    check(w, 'no unseal share reached SSM commands or output', !sb.ssm.auditContainsAny(sb.shares), 'SSM audit searched for every share');
    checkClientsUndisturbed(w);
  },
};

/* --------------------------------------------------------- drill */

/** The drill report an execution left: its output, or the Fail state's Cause. */
export function drillReportOf(run: RunStateMachineResult): DrillReport | undefined {
  return executionReport<DrillReport>(run, 'failover-drill');
}

const realWorld = (sb: Sandbox, s: number | null | undefined): number | null => (typeof s === 'number' ? Math.round(s * sb.speed * 1000) / 1000 : null);

/**
 * One drill of `scenario` (sandbox/drill.ts), judged end to end: the drill
 * passed, measured both RTOs within maxRtoSeconds, restored the faulted node as
 * an unsealed standby (the slot's new instance after terminate-active), healed
 * any network fault, released the lease and leaked no secret.
 */
async function drillScenario(w: Window, scenario: DrillScenario): Promise<void> {
  const { sb } = w;
  const old = requireActive(sb);
  const oldId = sb.instanceOf(old.name)!;
  const run = await runFailoverDrill(sb, scenario, { maxRtoSeconds: SANDBOX_DRILL_MAX_RTO_SECONDS });
  const report = drillReportOf(run);
  const error = report?.error ?? (run.status === 'FAILED' ? { name: run.error ?? 'UnknownError', message: run.cause ?? '' } : undefined);
  w.drill = {
    executionStatus: run.status,
    result: report?.result ?? 'unknown',
    transitions: run.transitions,
    executionName: run.executionName,
    rtoSeconds: report?.rtoSeconds ?? null,
    maxRtoSeconds: report?.maxRtoSeconds ?? SANDBOX_DRILL_MAX_RTO_SECONDS / sb.speed,
    realWorldRtoSeconds: realWorld(sb, report?.rtoSeconds),
    routedRtoSeconds: report?.routedRtoSeconds ?? null,
    clientRtoSeconds: report?.clientRtoSeconds ?? null,
    realWorldRoutedRtoSeconds: realWorld(sb, report?.routedRtoSeconds),
    realWorldClientRtoSeconds: realWorld(sb, report?.clientRtoSeconds),
    failedRequests: report?.failedRequests ?? null,
    drillPassed: report?.passed ?? null,
    restored: report?.restored ?? null,
    stop: report?.stop ? `${report.stop.condition}: ${report.stop.reason}` : null,
    oldActive: report?.oldActive ?? null,
    newActive: report?.newActive ?? null,
    phases: (report?.phases ?? []).map((p) => ({ name: p.name, durationMs: p.durationMs })),
    ...(error ? { error } : {}),
  };
  const injectedAt = Date.parse(report?.times?.injectedAt ?? report?.timeline.find((e) => e.event.startsWith('fault injected'))?.at ?? '');
  if (!Number.isNaN(injectedAt)) w.faultAtMs = injectedAt;
  const d = w.drill;
  if (scenario === 'partition-storage' && sb.ha === 'none') {
    // haLock "none": the drill does not know the storage endpoint, so it refuses at its first state.
    check(w, 'the drill refuses partition-storage for haLock none at Validate, changing nothing', run.error === 'InvalidInputError' && /partition-storage needs haLock/.test(run.cause ?? '') && old.node.isActive(), `${run.error ?? run.status}: ${(run.cause ?? '').slice(0, 200)}`);
    await checkLeaseFree(w, run.executionName);
    return;
  }
  sb.record(
    'info',
    `failover-drill report: ${d.result}; ${d.oldActive ?? '-'} → ${d.newActive ?? '-'}; client-visible RTO ${d.clientRtoSeconds ?? '-'} s, routed ${d.routedRtoSeconds ?? '-'} s ` +
      `(max ${d.maxRtoSeconds} s; ${d.realWorldClientRtoSeconds ?? '-'} / ${d.realWorldRoutedRtoSeconds ?? '-'} s at real timings); restored ${String(d.restored)}; ${run.transitions} transitions`,
  );
  check(w, 'the fault hit the legitimate active', report?.oldActive === oldId, `${old.name} (${oldId}) vs report ${report?.oldActive ?? '-'}`);
  if (scenario === 'partition-clients' && sb.ha !== 'dynamodb') {
    // Without a lock item there is nothing to break: a Raft (or haLock none) zombie keeps its
    // leadership, the controller can only stop routing to it, and the drill stops at maxRtoSeconds × 2.
    const st = old.node.status();
    check(
      w,
      'the drill stops (no new active, as expected without a lock to break), restores the zombie and keeps the invariants',
      run.error === 'DrillAbortedError' && report?.result === 'aborted' && report.stop?.condition === 'no-new-active' && report.restored === true && report.invariants?.held === true,
      `${run.error ?? run.status}: ${report?.outcome ?? ''}`,
    );
    check(w, 'the network fault is healed and the node serves again', st.clientPartition === 'none' && st.running && !st.sealed, `clients ${st.clientPartition}; ${old.name} ${st.running ? (st.sealed ? 'sealed' : 'unsealed') : 'down'}`);
    await checkLeaseFree(w, run.executionName);
    return;
  }
  check(
    w,
    'the failover-drill execution passed',
    run.status === 'SUCCEEDED' && report?.result === 'passed' && report.passed === true,
    `${run.status} ${report?.result ?? '(no report)'}${run.error ? ` ${run.error}` : ''}: ${report?.outcome ?? run.cause ?? ''}`,
  );
  const now = sb.activeSlot();
  const nowId = now ? sb.instanceOf(now.name) : undefined;
  check(
    w,
    'the reported new active is the active, registered and healthy',
    report?.newActive !== undefined && report.newActive !== null && report.newActive !== oldId && report.newActive === nowId && sb.targetState(report.newActive) === 'healthy',
    `report ${report?.newActive ?? '-'}, sandbox ${now?.name ?? '-'} (${nowId ?? '-'}) ${nowId ? (sb.targetState(nowId) ?? 'unregistered') : ''}`,
  );
  check(
    w,
    'both RTOs measured (client-visible through the listener, and routed), within maxRtoSeconds',
    typeof report?.clientRtoSeconds === 'number' &&
      typeof report.routedRtoSeconds === 'number' &&
      report.routedRtoSeconds > 0 &&
      report.rtoMeasure === 'client-visible' &&
      report.rtoSeconds === report.clientRtoSeconds &&
      report.clientRtoSeconds <= report.maxRtoSeconds,
    `client ${report?.clientRtoSeconds ?? '-'} s (${report?.failedRequests ?? '-'} failed of ${report?.clientProbe?.requests ?? '-'}), routed ${report?.routedRtoSeconds ?? '-'} s, max ${report?.maxRtoSeconds ?? '-'} s`,
  );
  check(w, 'the routing invariants held on every poll', report?.invariants?.held === true, (report?.invariants?.violations ?? []).join('; ') || `${report?.invariants?.polls ?? 0} polls`);
  const st = old.node.status();
  check(
    w,
    'the restore brought the faulted node back as an unsealed standby',
    report?.restored === true && st.running && !st.sealed && !old.node.isActive(),
    `${report?.restore.status ?? '-'} in ${report?.restore.durationSeconds ?? '-'} s (${(report?.restore.actions ?? []).join('; ')}); ${old.name} ${st.running ? (st.sealed ? 'sealed' : old.node.isActive() ? 'active' : 'unsealed standby') : 'down'}`,
  );
  if (scenario === 'terminate-active') {
    const newId = sb.instanceOf(old.name);
    check(w, 'the slot runs a new instance (nested replace-node)', newId !== undefined && newId !== oldId && report?.restore.nestedExecution?.status === 'SUCCEEDED', `${old.name}: ${oldId} → ${newId ?? '-'}`);
  }
  if (scenario === 'partition-clients' || scenario === 'partition-storage') {
    check(w, 'the network fault is healed', st.clientPartition === 'none' && !st.storagePartitioned, `clients ${st.clientPartition}, storage ${st.storagePartitioned ? 'cut' : 'reachable'}`);
  }
  await checkLeaseFree(w, run.executionName);
  check(w, 'no unseal share or token reached SSM commands or output', !sb.ssm.auditContainsAny([...sb.shares, sb.rootToken]), 'SSM audit searched for every share and the root token');
}

/* --------------------------------------------------------- replace-node helpers */

/** The slot a replace-node scenario replaces: a standby's, so the active keeps serving throughout. */
function standbyToReplace(sb: Sandbox): SandboxSlot {
  const active = requireActive(sb);
  const slot = sb.slots.find((s) => s !== active && sb.instanceOf(s.name) !== undefined);
  if (!slot) throw new Error('no standby slot with a live instance to replace');
  return slot;
}

/** Runs the execution and keeps its figures for the result. */
async function replaceAndRecord(w: Window, slot: SandboxSlot): Promise<{ run: RunStateMachineResult; report: ReplacementReport | undefined }> {
  const run = await w.sb.replaceNode(slot.name, { reason: 'sandbox scenario' });
  const report = reportOf(run);
  w.replacement = figuresOf(run, report);
  const f = w.replacement;
  w.sb.record(
    'info',
    `replace-node report: ${f.result}; volume ${f.volume ? `${f.volume.volumeId} ${f.volume.location}` : '(not reported)'}; ${f.phases.map((p) => `${p.name} ${p.durationMs} ms`).join(', ')}`,
  );
  return { run, report };
}

/**
 * The report an execution left: its output when it succeeded, the Fail
 * state's Cause (the failure report as JSON) when it failed. Undefined when
 * there is none (e.g. compensation itself failed and the Cause is prose).
 */
export function reportOf(run: RunStateMachineResult): ReplacementReport | undefined {
  return executionReport<ReplacementReport>(run, 'replace-node');
}

/** An execution's report of the given kind: its output, or the Fail state's Cause parsed as JSON. */
function executionReport<T>(run: RunStateMachineResult, kind: string): T | undefined {
  let raw: unknown = run.output;
  if (run.status === 'FAILED') {
    try {
      raw = JSON.parse(run.cause ?? '');
    } catch {
      return undefined;
    }
  }
  if (raw === null || typeof raw !== 'object' || (raw as { kind?: unknown }).kind !== kind) return undefined;
  return raw as T;
}

function figuresOf(run: RunStateMachineResult, report: ReplacementReport | undefined): ReplaceNodeFigures {
  const error = report?.error ?? (run.status === 'FAILED' ? { name: run.error ?? 'UnknownError', message: run.cause ?? '' } : undefined);
  return {
    executionStatus: run.status,
    result: report?.result ?? 'unknown',
    transitions: run.transitions,
    executionName: run.executionName,
    ...(report?.oldInstance ? { oldInstance: report.oldInstance } : {}),
    ...(report?.newInstance ? { newInstance: report.newInstance } : {}),
    ...(report?.volume ? { volume: { volumeId: report.volume.volumeId, location: report.volume.location } } : {}),
    ...(report?.networkInterface ? { networkInterface: report.networkInterface } : {}),
    phases: (report?.phases ?? []).map((p) => ({ name: p.name, durationMs: p.durationMs })),
    ...(error ? { error } : {}),
    ...(report?.compensation ? { compensation: report.compensation } : {}),
    ...(report?.nextSteps ? { nextSteps: report.nextSteps } : {}),
  };
}

/**
 * Does the report's phrase for the volume say what EC2 says? It must lead
 * with the state EC2 reports (the attachment's, when attached) and name the
 * instance holding the volume, or no instance at all when it is free.
 */
export function locationAgrees(location: string | undefined, vol: Pick<SimVolume, 'volumeId' | 'state' | 'attachment'> | undefined): { ok: boolean; detail: string } {
  const ec2 = vol ? `${vol.state}${vol.attachment ? `, ${vol.attachment.state} to ${vol.attachment.instanceId}` : ''}` : 'no such volume';
  const detail = `report: "${location ?? '(none)'}"; EC2: ${ec2}`;
  if (location === undefined || !vol) return { ok: false, detail };
  const named = location.match(/\bi-[0-9a-f]+\b/g) ?? [];
  const ok = vol.attachment
    ? location.startsWith(`${vol.attachment.state} `) && named.length === 1 && named[0] === vol.attachment.instanceId
    : location.startsWith(`${vol.state} `) && named.length === 0;
  return { ok, detail };
}

const GONE: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);

/** The operation lease is absent or expired (the execution released it). */
async function checkLeaseFree(w: Window, executionName: string): Promise<void> {
  const lease = await readLease(w.sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation });
  const held = lease !== undefined && lease.expiresAtMs > Date.now();
  check(w, 'the operation lease is released', !held, held ? `still held by ${lease.owner} (execution ${executionName})` : 'no live lease item');
}

/**
 * After a failed replacement (DESIGN §5.6): the volume is available or on one
 * live instance (only `volumeMayStayOn` when given), the report says where it
 * is, the replacement is terminated (or tagged with keep-tagged), no other
 * instance was left half-launched, and the lease is free.
 */
async function checkFailedReplacementCleanedUp(
  w: Window,
  slot: SandboxSlot,
  oldId: string,
  run: RunStateMachineResult,
  report: ReplacementReport | undefined,
  opts: { volumeMayStayOn?: string },
): Promise<void> {
  const world = w.sb.aws.world;
  const vol = world.volume(slot.volumeId);
  const holder = vol?.attachment ? world.instance(vol.attachment.instanceId) : undefined;
  const accounted =
    vol !== undefined &&
    (vol.attachment === undefined
      ? vol.state === 'available'
      : vol.attachment.state === 'attached' &&
        holder !== undefined &&
        !GONE.has(holder.state) &&
        (opts.volumeMayStayOn === undefined || holder.instanceId === opts.volumeMayStayOn));
  check(
    w,
    'the data volume is accounted for (available, or attached to one live instance)',
    accounted,
    `${slot.volumeId}: ${vol?.state ?? 'missing'}${vol?.attachment ? ` ${vol.attachment.state} to ${vol.attachment.instanceId} (${holder?.state ?? 'unknown'})` : ''}`,
  );
  const where = locationAgrees(report?.volume?.location, vol);
  check(w, 'the report says where the volume is (as EC2 does)', where.ok, where.detail);

  const onFailure = w.sb.config.clusters[0]?.replacement?.onFailure ?? 'terminate';
  const launched = world.instances().filter((i) => i.tags[REPLACED_BY_TAG] === run.executionName);
  const newId = report?.newInstance?.instanceId;
  if (newId !== undefined) {
    const inst = world.instance(newId);
    const ok = onFailure === 'terminate' ? inst !== undefined && GONE.has(inst.state) : inst?.tags[FAILED_REPLACEMENT_TAG] === run.executionName;
    check(w, `the half-launched replacement is ${onFailure === 'terminate' ? 'terminated' : 'tagged for inspection'} (onFailure ${onFailure})`, ok, `${newId}: ${inst?.state ?? 'unknown'}`);
  }
  const kept = new Set([oldId, ...(onFailure === 'keep-tagged' && newId !== undefined ? [newId] : [])]);
  const leftovers = world
    .instances()
    .filter((i) => (i.tags['vault-slot'] === slot.name || launched.includes(i)) && !kept.has(i.instanceId) && !GONE.has(i.state));
  check(
    w,
    'no instance is left half-launched',
    leftovers.length === 0 && (newId !== undefined || launched.every((i) => GONE.has(i.state))),
    leftovers.length ? leftovers.map((i) => `${i.instanceId} ${i.state}`).join(', ') : `${launched.length} launched by the execution, none alive`,
  );
  await checkLeaseFree(w, run.executionName);
}

/** A replacement of a standby must not disturb clients served by the active. */
function checkClientsUndisturbed(w: Window): void {
  const rate = clientRate(w, w.faultAtMs ?? w.startMs, Date.now());
  check(w, 'clients kept succeeding', rate.rate >= UNDISTURBED_RATE, rateDetail(rate));
}

/* ------------------------------------------------------------------ helpers */

/** Real-world ms → wall ms in this sandbox, with a floor so slow machines get some slack. */
function ms(sb: Sandbox, realWorldMs: number): number {
  return Math.max(200, Math.round(realWorldMs * sb.timeScale));
}

function check(w: Window, name: string, passed: boolean, detail: string): void {
  // One line per check in the CLI output (command output tails carry newlines).
  w.checks.push({ name, passed, detail: detail.replaceAll('\n', ' | ') });
}

function requireActive(sb: Sandbox): SandboxSlot {
  const a = sb.activeSlot();
  if (!a) throw new Error('no single active node');
  return a;
}

function registeredNow(sb: Sandbox): string[] {
  return (sb.sample()?.registered ?? []).map((r) => r.instanceId);
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function nodeEventAt(sb: Sandbox, node: string, kind: string, afterMs: number): number | undefined {
  return sb.timeline.find((e) => e.kind === 'vault' && e.atMs >= afterMs && e.detail.startsWith(`${node}: ${kind}`))?.atMs;
}

function reportsIn(w: Window, fromMs: number, toMs: number) {
  return w.sb.controller.ticks
    .filter((t) => t.startedAtMs >= fromMs && t.finishedAtMs <= toMs && t.report)
    .map((t) => t.report!.clusters[0]!)
    .filter((c) => c !== undefined);
}

function samplesIn(w: Window, fromMs: number, toMs: number) {
  return w.sb.samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs);
}

function clientRate(w: Window, fromMs: number, toMs: number): { rate: number; n: number; firstFailure?: string } {
  const xs = w.sb.clientSamples.filter((s) => s.realAtMs >= fromMs && s.realAtMs <= toMs);
  const fail = xs.find((s) => !s.ok);
  return {
    rate: xs.length === 0 ? 1 : xs.filter((s) => s.ok).length / xs.length,
    n: xs.length,
    ...(fail ? { firstFailure: `${fail.status ?? fail.error ?? '?'} at ${new Date(fail.realAtMs).toISOString()}` } : {}),
  };
}

function rateDetail(r: { rate: number; n: number; firstFailure?: string }): string {
  return `${pct(r.rate)} of ${r.n}${r.firstFailure ? ` (first failure: ${r.firstFailure})` : ''}`;
}

/** Clients through the listener should not notice the fault (a stray slow request on a loaded machine is tolerated). */
const UNDISTURBED_RATE = 0.9;

async function waitUntil(sb: Sandbox, timeoutMs: number, cond: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const step = Math.max(10, sb.sampleIntervalMs);
  for (let i = 0; i < Math.ceil(timeoutMs / step) + 1 && Date.now() <= deadline; i++) {
    if (cond()) return true;
    await sleep(step);
  }
  return cond();
}

/** Steady state: verdict healthy, the active is the only registered target and healthy, a client got through. */
async function waitSteady(sb: Sandbox): Promise<void> {
  const since = Date.now();
  const ok = await waitUntil(sb, ms(sb, 90_000) + 5_000, () => {
    const a = sb.activeSlot();
    const id = a ? sb.instanceOf(a.name) : undefined;
    const reg = registeredNow(sb);
    return (
      id !== undefined &&
      sb.controller.last?.report?.clusters[0]?.verdict.kind === 'healthy' &&
      reg.length === 1 &&
      reg[0] === id &&
      sb.targetState(id) === 'healthy' &&
      sb.clientSamples.some((s) => s.ok && s.realAtMs >= since)
    );
  });
  if (!ok) throw new Error('the sandbox did not reach a steady state');
}

/** Waits (bounded) until a node other than `oldSlot` is active, healthy in the target group and served a client. */
async function waitRecovered(w: Window, oldSlot: string): Promise<{ slot: string; atMs: number } | undefined> {
  const { sb } = w;
  const faultAt = w.faultAtMs ?? Date.now();
  let healthyAt: number | undefined;
  let who: string | undefined;
  let served: { slot: string; atMs: number } | undefined;
  await waitUntil(sb, ms(sb, 120_000) + 5_000, () => {
    const a = sb.activeSlot();
    const id = a && a.name !== oldSlot ? sb.runtime.hostOf(a.node) : undefined;
    if (!a || id === undefined || sb.targetState(id) !== 'healthy' || !registeredNow(sb).includes(id)) {
      healthyAt = undefined;
      return false;
    }
    if (who !== a.name || healthyAt === undefined) {
      who = a.name;
      healthyAt = Date.now();
    }
    const first = sb.clientSamples.find((s) => s.ok && s.realAtMs >= healthyAt! - sb.sampleIntervalMs);
    if (!first) return false;
    served = { slot: a.name, atMs: first.realEndMs };
    return true;
  });
  if (!served) return undefined;
  w.rtoMs = Math.max(0, Math.round(served.atMs - faultAt));
  // The client's view of the failover.
  const after = sb.clientSamples.filter((s) => s.realAtMs >= faultAt);
  const firstFail = after.find((s) => !s.ok);
  if (firstFail) w.extraTimeline.push({ atMs: firstFail.realAtMs, kind: 'client', detail: `first failed client request (${firstFail.status ?? firstFail.error})` });
  w.extraTimeline.push({ atMs: served.atMs, kind: 'client', detail: `first client success after failover (served through the listener by ${served.slot})` });
  return served;
}

/** Lets a few more ticks and samples land before the end-state checks. */
async function settle(sb: Sandbox): Promise<void> {
  await sleep(Math.max(sb.tickIntervalMs * 3, ms(sb, 15_000)));
}

/**
 * settle, then waits (bounded: 6 ticks or 45 s of the sandbox's time, whichever is
 * longer) until `done()`: for what the controller must do eventually (remove a
 * target), so a loaded machine's slower ticks do not fail a check that a few more
 * ticks satisfy, while a controller that never does it still fails it.
 */
async function settleUntil(sb: Sandbox, done: () => boolean): Promise<void> {
  await settle(sb);
  const deadline = Date.now() + Math.max(sb.tickIntervalMs * 6, ms(sb, 45_000));
  for (let i = 0; i < 10_000 && !done() && Date.now() < deadline; i++) await sleep(Math.max(20, sb.tickIntervalMs / 4));
}

function summarise(name: ScenarioName, w: Window, durationMs: number, error: string | undefined): ScenarioResult {
  const { sb } = w;
  const from = w.startMs;
  const samples = samplesIn(w, from, w.endMs);
  const maxRoutedActives = samples.reduce((m, s) => Math.max(m, s.routedClaimants.length), 0);
  const maxRegisteredActives = samples.reduce((m, s) => Math.max(m, s.registeredClaimants.length), 0);
  const checks = [...w.checks];
  checks.push({
    name: 'never two actives routed',
    passed: maxRoutedActives <= 1,
    detail: `max ${maxRoutedActives} routed (${maxRegisteredActives} registered, a new one initial) over ${samples.length} samples`,
  });
  if (error !== undefined) checks.push({ name: 'the scenario ran to the end', passed: false, detail: error });
  const rate = clientRate(w, w.faultAtMs ?? from, w.endMs);
  const ticks = sb.controller?.ticks.filter((t) => t.startedAtMs >= from && t.startedAtMs <= w.endMs) ?? [];
  const verdicts: string[] = [];
  for (const t of ticks) {
    const v = t.report?.clusters[0]?.verdict.kind;
    if (v !== undefined && verdicts.at(-1) !== v) verdicts.push(v);
  }
  return {
    scenario: name,
    passed: checks.length > 1 && checks.every((c) => c.passed),
    ha: sb.ha,
    lb: sb.lb,
    speed: sb.speed,
    ...(w.rtoMs !== undefined ? { rtoMs: w.rtoMs } : {}),
    clientSuccessRate: Math.round(rate.rate * 1000) / 1000,
    clientRequests: rate.n,
    maxRegisteredActives,
    maxRoutedActives,
    ticks: ticks.length,
    verdicts,
    durationMs,
    checks,
    ...replacementFields(w.replacement),
    ...drillFields(w.drill),
    ...(error !== undefined ? { error } : w.replacement?.error ? { error: w.replacement.error } : w.drill?.error ? { error: w.drill.error } : {}),
  };
}

/** The replace-node figures as top-level fields of the result (what the CLI's last JSON line shows). */
function replacementFields(f: ReplaceNodeFigures | undefined): Partial<ScenarioResult> {
  if (!f) return {};
  return {
    executionStatus: f.executionStatus,
    result: f.result,
    transitions: f.transitions,
    executionName: f.executionName,
    ...(f.oldInstance ? { oldInstance: f.oldInstance } : {}),
    ...(f.newInstance ? { newInstance: f.newInstance } : {}),
    ...(f.volume ? { volume: f.volume } : {}),
    ...(f.networkInterface ? { networkInterface: f.networkInterface } : {}),
    phases: f.phases,
    ...(f.compensation ? { compensation: f.compensation } : {}),
    ...(f.nextSteps ? { nextSteps: f.nextSteps } : {}),
  };
}

/** The drill figures as top-level fields of the result (what the CLI's last JSON line shows). */
function drillFields(f: DrillFigures | undefined): Partial<ScenarioResult> {
  if (!f) return {};
  return {
    executionStatus: f.executionStatus,
    result: f.result,
    transitions: f.transitions,
    executionName: f.executionName,
    rtoSeconds: f.rtoSeconds,
    maxRtoSeconds: f.maxRtoSeconds,
    realWorldRtoSeconds: f.realWorldRtoSeconds,
    routedRtoSeconds: f.routedRtoSeconds,
    clientRtoSeconds: f.clientRtoSeconds,
    realWorldRoutedRtoSeconds: f.realWorldRoutedRtoSeconds,
    realWorldClientRtoSeconds: f.realWorldClientRtoSeconds,
    failedRequests: f.failedRequests,
    drillPassed: f.drillPassed,
    restored: f.restored,
    stop: f.stop,
    oldActive: f.oldActive,
    newActive: f.newActive,
    phases: f.phases,
  };
}

/** Human-readable timeline: ISO timestamp, offset from the first event, kind, detail. */
export function formatTimeline(timeline: TimelineEvent[]): string[] {
  const t0 = timeline[0]?.atMs ?? 0;
  return timeline.map((e) => {
    const offset = `+${((e.atMs - t0) / 1000).toFixed(3)}s`.padStart(10);
    return `${new Date(e.atMs).toISOString()} ${offset}  ${e.kind.padEnd(12)} ${e.detail}`;
  });
}
