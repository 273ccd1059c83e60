/**
 * The imperative shell of one controller tick for one cluster:
 * snapshot → assess → plan → guard → apply → report (STYLE.md, DESIGN §2).
 * Every decision is made by functions/core; this file only gathers the world,
 * calls the core, applies the plan and records what happened.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { ClusterConfig, Config } from '../../config/schema.js';
import type {
  ClusterHistory,
  LockItemRead,
  Member,
  NodeHealth,
  ProbeResult,
  RegistrationPlan,
  TakeoverEvidence,
  TargetView,
  VerdictKind,
} from '../../core/types.js';
import { assessSnapshot } from '../../core/snapshot.js';
import { membersToProbe, observationChanged, type PreviousTick } from '../../core/fleet-cache.js';
import { planRegistrations } from '../../core/plan.js';
import { rememberTick, tickMemoryOf, updateFailureCounts } from '../../core/history.js';
import { describeStatusChecks } from '../../adapters/ec2-fleet.js';
import { startExecutionOnce } from '../../adapters/step-functions.js';
import { decideAutoReplace } from '../../core/auto-replace.js';
import { PartialApplyError } from '../../adapters/plan-apply.js';
import { loadBalancerPort } from '../../adapters/load-balancer.js';
import { breakLock } from '../../adapters/lock-reader.js';
import { recordObservation, recordVerdictTransition, saveClusterState, type ClusterState } from '../../adapters/control-table.js';
import { observationDue, observationSignature, stateFingerprint, stateText, stateWriteDue } from '../../core/bookkeeping.js';
import { notificationContextFromEnv, notify, takeoverNotification, verdictChangeNotification } from '../../adapters/notifier.js';
import { formatMetrics } from '../../adapters/metrics.js';
import { probeMembers, probeOptionsOf } from '../../adapters/vault-probe.js';
import { REAL_LOCK_TIMINGS, type LockTimings } from '../../core/ha-lock.js';
import { decideTakeover } from '../../core/takeover.js';
import { quoted } from '../../core/text.js';
import type { Logger } from './logger.js';
// vault-ha pause (maintenance mode): see "--- maintenance pause ---" below.
import { activePause, pausedOutcome, pauseSentence, type PauseRecord } from '../../core/pause.js';

export interface ControllerDeps {
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  /** loadBalancer.type "classic" only (default: the per-container client, loaded on first use). */
  classicElb?: ElasticLoadBalancingClient;
  ddb: DynamoDBClient;
  sns: SNSClient;
  probe: (members: Member[], cluster: ClusterConfig) => Promise<Map<string, ProbeResult>>;
  now: () => number;
  logger: Logger;
  topicArn: string | undefined;
  /** For policy.autoReplace: the client and the replaceNode state machine ARN. */
  sfn?: SFNClient;
  replaceNodeArn?: string;
  /** Vault's lock timings as the nodes run them (default: Vault's real ones; the sandbox compresses them). */
  lockTimings?: LockTimings;
}

export const defaultProbe = (members: Member[], cluster: ClusterConfig): Promise<Map<string, ProbeResult>> =>
  probeMembers(members, probeOptionsOf(cluster.vault));

/** The per-cluster part of the controller report (DESIGN §4.3). */
export interface ClusterReport {
  name: string;
  verdict: { kind: VerdictKind; reasons: string[]; legitimateActive?: string };
  nodes: Array<{ instanceId: string; address: string | undefined; class: NodeHealth['class']; instanceState: string }>;
  plan: { register: string[]; deregister: string[] };
  applied: boolean;
  outcome: string;
  dryRun: boolean;
  held: Array<{ instanceId: string; reason: string }>;
  alarms: string[];
  lock: { state: string; identity?: string; remainingMs?: number };
  fencing?: { action: 'break-lock'; result: 'deleted' | 'changed' | 'skipped'; reason: string };
  /**
   * Dead-leader takeover (DESIGN §5.10), present whenever the question arose
   * this tick (a lock item and no member claiming active): what was done and
   * on which evidence.
   */
  takeover?: { result: 'deleted' | 'changed' | 'skipped' | 'dry-run'; reason: string; evidence?: Partial<TakeoverEvidence> };
  autoReplace?: {
    notes: string[];
    started?: { slot: string; executionName: string; result: 'started' | 'already-started' | 'dry-run'; reason: string };
  };
  /** The tick did not run: another holder had the cluster's lease (no observation, no metric). */
  skipped?: { holder: string; untilMs: number };
  /** What this tick really changed in the target group (absent when it made no call). */
  mutations?: { registered: string[]; deregistered: string[] };
  /** A maintenance pause was in force (`vault-ha pause`): the tick observed and reported, and changed nothing. */
  paused?: { by: string; until: string; reason?: string };
  tickDurationMs: number;
  error?: string;
}

/**
 * What survives between ticks of one invocation: the stored state (reloaded
 * from the control table by the next run), plus what this run last wrote of it.
 */
export interface ClusterRunState extends ClusterState {
  /** What the state item holds as far as this run knows (read or written); undefined: nothing yet. */
  written?: { fingerprint: string; text: string };
}

const OBSERVATION_TTL_SECONDS = 3 * 24 * 3600;

/** The state as loaded from the table: what it holds is what was written. */
export function runStateOf(stored: ClusterState, present = true): ClusterRunState {
  return present ? { ...stored, written: { fingerprint: stateFingerprint(stored), text: stateText(stored) } } : { ...stored };
}

function persisted(state: ClusterRunState): ClusterState {
  const { written: _w, ...rest } = state;
  return rest;
}

/**
 * Writes the cluster's state item when the core says it is due (changed, or
 * the end of the run and anything differs); answers the state with what the
 * table now holds. Throws what the write threw.
 */
export async function saveStateIfDue(deps: Pick<ControllerDeps, 'ddb'>, config: Config, cluster: string, state: ClusterRunState, endOfRun: boolean): Promise<ClusterRunState> {
  const due = stateWriteDue(state.written, state, endOfRun);
  if (due === 'none') return state;
  const stored = persisted(state);
  await saveClusterState(deps.ddb, config.controlTable, cluster, stored);
  return { ...state, written: { fingerprint: stateFingerprint(stored), text: stateText(stored) } };
}

/**
 * What the controller read for this cluster before the tick (functions/handlers/controller.ts
 * reads the fleet once and the DynamoDB items in one batch for all its clusters,
 * and calls this only once the run knows it may act this tick).
 */
export interface TickInputs {
  /** The cluster's members (one DescribeInstances walk for all clusters sharing its tag key). */
  members: Promise<Member[]>;
  /** Its lock item as evidence and its pause item (or why the pause could not be read), from the tick's BatchGetItem. */
  reads: Promise<{ lock: LockItemRead; pause: PauseRecord | undefined | Error; readAtMs?: number }>;
  /** Its state: carried from the previous tick, or loaded by the run's first batch. */
  state: Promise<ClusterRunState>;
  /**
   * Set when `members` were read by an earlier, quiet tick (core/fleet-cache.ts):
   * if the nodes answer differently from `previous`, the members are read again
   * with `refresh` after the probes and the tick decides on those.
   */
  cachedMembers?: { previous: PreviousTick; refresh: () => Promise<Member[]> };
}

export async function reconcileTick(
  deps: ControllerDeps,
  config: Config,
  cluster: ClusterConfig,
  inputs: TickInputs,
): Promise<{ report: ClusterReport; state: ClusterRunState; changedOnCachedMembers?: boolean }> {
  const started = deps.now();

  // --- snapshot: read the world once (members, targets, probes, lock, and the pause) ---
  const lb = loadBalancerPort(cluster, deps);
  const membersRead = inputs.members;
  const [members0, targets] = await Promise.all([
    membersRead,
    lb.describe(membersRead), // members map `ip` targets back to instances
  ]);
  // The lock was read in the tick's batch, a fleet read before the probes (it used to be read beside them).
  const [probes0, reads, state] = await Promise.all([deps.probe(members0, cluster), inputs.reads, inputs.state]);
  if (reads.pause instanceof Error) throw reads.pause;
  const storedPause = reads.pause;
  const lockRead = reads.lock;
  const assess = (seen: Seen) => assessSnapshot({ cluster, members: seen.members, probes: seen.probes, lockRead, history: state.history, nowMs: seen.nowMs });
  let seen: Seen = { members: members0, probes: probes0, nowMs: deps.now() };
  let snapshot = assess(seen);
  const cachedMembers = inputs.cachedMembers;
  const changedOnCachedMembers = cachedMembers !== undefined && observationChanged(cachedMembers.previous.nodes, snapshot.nodes);
  if (changedOnCachedMembers) {
    // Members from an earlier quiet tick, and the nodes now answer differently: decide on members read after the change.
    seen = { ...(await membersAfterChange(deps, cluster, cachedMembers.refresh, seen)), nowMs: deps.now() };
    snapshot = assess(seen);
  }
  const { members, probes, nowMs } = seen;

  // --- maintenance pause (vault-ha pause; functions/core/pause.ts) ---
  // While a pause is in force the tick runs exactly as in dry run (DESIGN §5.9:
  // the full plan is computed and reported, nothing is mutated: no target
  // changes, no lock deletes, no auto-replace start) and its outcome says so.
  // Read every tick, so a pause takes effect within one tick; expired pauses
  // (untilMs passed) are ignored, so a forgotten pause ends by itself.
  const pause = activePause(storedPause, nowMs);
  const policy = pause ? { ...cluster.policy, dryRun: true } : cluster.policy;
  const acting: ClusterConfig = pause ? { ...cluster, policy } : cluster;
  // --- end maintenance pause ---

  // --- assess (above: once, again only when the members were read again) ---
  const { nodes, lock, verdict } = snapshot;
  const failureCounts = updateFailureCounts(state.history.failureCounts, nodes);

  // --- dead-leader takeover: first, so the lock moves while the rest of the tick runs ---
  const takeover = await runTakeover(deps, acting, { nodes, probes, verdict, lock, history: state.history, nowMs, ...(reads.readAtMs !== undefined ? { lockReadAtMs: reads.readAtMs } : {}) });

  // --- plan (guards live in the planner) ---
  const plan: RegistrationPlan = planRegistrations({
    nodes,
    verdict,
    targets,
    failureCounts,
    policy: { routing: cluster.loadBalancer.routing, unhealthyThreshold: policy.unhealthyThreshold, dryRun: policy.dryRun, fencing: policy.fencing },
  });

  // --- apply ---
  let applied = takeover?.report.result === 'deleted';
  let planApplied = false;
  let outcome = takeover?.outcomeSuffix ? plan.outcome + takeover.outcomeSuffix : plan.outcome;
  const register = plan.register.map((c) => c.instanceId);
  const deregister = plan.deregister.map((c) => c.instanceId);
  /** Failures after the snapshot: the tick still reports and records what it did (invariant 12). */
  const errors: string[] = [];
  let mutations: ClusterReport['mutations'];
  if (!policy.dryRun && !plan.frozen && (register.length > 0 || deregister.length > 0)) {
    try {
      const done = await lb.apply(
        {
          register,
          deregister,
          order: plan.order,
          registerEvenIfDeregisterFails: plan.registerEvenIfDeregisterFails,
          undoRegistrationIfDeregisterFails: plan.undoRegistrationIfDeregisterFails,
        },
        members,
      );
      mutations = done;
    } catch (err) {
      if (!(err instanceof PartialApplyError)) throw err;
      mutations = err.applied;
      errors.push(err.message);
      outcome += `; but ${err.failures.map((f) => `${f.step} failed (${f.error.name}: ${f.error.message})`).join(', ')}`;
      const { registered: added, deregistered: removed } = err.applied;
      const undone = added.filter((id) => removed.includes(id));
      if (undone.length > 0) outcome += `; registration of ${undone.join(', ')} undone, so two actives are never routed`;
    }
    planApplied = mutations.registered.length + mutations.deregistered.length > 0;
    applied = applied || planApplied;
  }

  let fencing: ClusterReport['fencing'];
  if (verdict.fencing && cluster.haLock.type === 'dynamodb') {
    if (takeover?.report.result === 'deleted') {
      // Never both in one tick (takeover skips a zombie verdict, so this is a backstop).
      fencing = { action: 'break-lock', result: 'skipped', reason: 'the lock item was already deleted by dead-leader takeover this tick' };
    } else if (policy.fencing === 'break-lock' && !policy.dryRun) {
      // Conditional on the exact Identity and Expires observed this tick: if the
      // holder renewed in between (it is alive after all) the delete is refused.
      const result = await breakLock(deps.ddb, cluster.haLock.table, {
        identity: verdict.fencing.identity,
        expiresAtNs: verdict.fencing.expiresAtNs,
      });
      fencing = { action: 'break-lock', result, reason: verdict.fencing.reason };
      applied = applied || result === 'deleted';
      outcome +=
        result === 'deleted'
          ? `; broke the zombie lock (Identity ${quoted(verdict.fencing.identity)}) so a standby can take over`
          : '; lock changed since it was observed, nothing broken';
    } else {
      fencing = {
        action: 'break-lock',
        result: 'skipped',
        reason: pause ? pauseSentence(pause) : policy.dryRun ? 'dry run' : `policy.fencing is "${policy.fencing}", not "break-lock"`,
      };
    }
  }

  // --- auto-replace (policy.autoReplace): at most one replace-node per cluster ---
  let autoReplace: ClusterReport['autoReplace'];
  let goneSinceMs = state.goneSinceMs;
  if (cluster.replacement) {
    const suspects = nodes.filter((n) => n.class === 'unreachable' && n.instanceState === 'running').map((n) => n.instanceId);
    const statusChecks =
      policy.autoReplace && suspects.length > 0
        ? await describeStatusChecks(deps.ec2, suspects).catch((e: unknown) => {
            deps.logger.log('warn', 'status checks unavailable', { cluster: cluster.name, error: String(e) });
            return {};
          })
        : {};
    const decision = decideAutoReplace({
      cluster: cluster.name,
      enabled: policy.autoReplace,
      afterSeconds: policy.autoReplaceAfterSeconds,
      slots: cluster.replacement.slots.map((s) => s.name),
      members,
      nodes,
      statusChecks,
      goneSinceMs: state.goneSinceMs,
      verdict: verdict.kind,
      ...(verdict.legitimateActive ? { legitimateActive: verdict.legitimateActive } : {}),
      nowMs,
    });
    goneSinceMs = decision.goneSinceMs;
    if (policy.autoReplace) {
      autoReplace = { notes: [...decision.notes] };
      const start = decision.start;
      if (start && policy.dryRun) {
        autoReplace.started = { slot: start.slot, executionName: start.executionName, result: 'dry-run', reason: start.reason };
        outcome += `; would start replace-node for slot ${start.slot}`;
      } else if (start && (!deps.sfn || !deps.replaceNodeArn)) {
        autoReplace.notes.push('replace-node is due but VAULT_HA_REPLACE_NODE_ARN is not set');
      } else if (start && deps.sfn && deps.replaceNodeArn) {
        const r = await startExecutionOnce(deps.sfn, deps.replaceNodeArn, start.executionName, {
          cluster: cluster.name,
          slot: start.slot,
          reason: `auto-replace: ${start.reason}`,
        });
        autoReplace.started = { slot: start.slot, executionName: start.executionName, result: r.result, reason: start.reason };
        if (r.result === 'started') {
          applied = true;
          outcome += `; started replace-node ${start.executionName} for slot ${start.slot} (${start.reason})`;
        }
      }
    }
  }

  if (pause) outcome = pausedOutcome(pause, outcome); // maintenance pause: the outcome names it

  // --- record ---
  const memory = tickMemoryOf(verdict, nowMs);
  const history = rememberTick({ ticks: state.history.ticks, failureCounts }, memory);
  const next: ClusterRunState = {
    ...state,
    goneSinceMs,
    history,
    lastVerdict: verdict.kind,
    lastVerdictSinceMs: state.lastVerdict === verdict.kind ? (state.lastVerdictSinceMs ?? nowMs) : nowMs,
  };
  // Bookkeeping never hides what the tick did: a failed write is reported and
  // the in-memory state (hysteresis, history) still advances for the next tick.
  const bookkeeping = async (what: string, write: () => Promise<unknown>): Promise<void> => {
    try {
      await write();
    } catch (err) {
      errors.push(`${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
    }
  };
  if (state.lastVerdict !== undefined && state.lastVerdict !== verdict.kind) {
    await bookkeeping('recording the verdict transition', () =>
      recordVerdictTransition(deps.ddb, config.controlTable, cluster.name, {
        atMs: nowMs,
        from: state.lastVerdict,
        to: verdict.kind,
        reasons: verdict.reasons,
      }),
    );
  }
  if (state.lastNotifiedVerdict !== verdict.kind && (state.lastNotifiedVerdict !== undefined || verdict.kind !== 'healthy')) {
    const sent = await notify(
      deps.sns,
      deps.topicArn,
      verdictChangeNotification(
        {
          cluster: cluster.name,
          from: state.lastNotifiedVerdict ?? null,
          to: verdict.kind,
          reasons: verdict.reasons,
          outcome,
          loadBalancer: cluster.loadBalancer,
          atMs: nowMs,
        },
        notificationContextFromEnv(),
      ),
    );
    if (sent || deps.topicArn === undefined) next.lastNotifiedVerdict = verdict.kind;
  }

  const tickDurationMs = deps.now() - started;
  const report: ClusterReport = {
    name: cluster.name,
    verdict: {
      kind: verdict.kind,
      reasons: verdict.reasons,
      ...(verdict.legitimateActive ? { legitimateActive: verdict.legitimateActive } : {}),
    },
    nodes: nodes.map((n) => ({ instanceId: n.instanceId, address: n.address, class: n.class, instanceState: n.instanceState })),
    plan: { register, deregister },
    applied,
    outcome,
    dryRun: policy.dryRun,
    held: plan.held.map((h) => ({ instanceId: h.instanceId, reason: h.reason })),
    alarms: plan.alarms,
    lock: { state: lock.state, ...(lock.identity ? { identity: quoted(lock.identity) } : {}), ...(lock.remainingMs !== undefined ? { remainingMs: lock.remainingMs } : {}) },
    ...(fencing ? { fencing } : {}),
    ...(takeover ? { takeover: takeover.report } : {}),
    ...(autoReplace ? { autoReplace } : {}),
    ...(mutations ? { mutations } : {}),
    ...(pause ? { paused: { by: pause.pausedBy, until: new Date(pause.untilMs).toISOString(), ...(pause.reason ? { reason: pause.reason } : {}) } } : {}),
    tickDurationMs,
  };

  // Written only when what the next run decides from changed (functions/core/bookkeeping.ts);
  // the rest waits for the end of the run.
  let saved = next;
  await bookkeeping('saving the cluster state', async () => {
    saved = await saveStateIfDue(deps, config, cluster.name, next, false);
  });
  const observed = {
    verdict: verdict.kind,
    plan: report.plan,
    nodes: report.nodes,
    applied,
    ...(mutations ? { mutations } : {}),
    ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    ...(report.paused ? { paused: report.paused } : {}),
    ...(fencing ? { fencing } : {}),
    ...(takeover ? { takeover: takeover.report } : {}),
    ...(autoReplace ? { autoReplace } : {}),
  };
  const observationIsDue = observationDue(saved.observed, observed, nowMs);
  if (observationIsDue) {
    await bookkeeping('recording the observation', async () => {
      await recordObservation(deps.ddb, config.controlTable, cluster.name, nowMs, report, OBSERVATION_TTL_SECONDS);
      saved = { ...saved, observed: { signature: observationSignature(observed), atMs: nowMs } };
    });
  }
  if (errors.length > 0) report.error = errors.join('; ');

  const counts: Partial<Record<NodeHealth['class'], number>> = {};
  for (const n of nodes) counts[n.class] = (counts[n.class] ?? 0) + 1;
  const latencies = nodes.map((n) => n.healthLatencyMs).filter((l): l is number => typeof l === 'number');
  const registeredAfter = countRegisteredAfter(targets, mutations?.registered ?? [], mutations?.deregistered ?? []);
  deps.logger.raw(
    formatMetrics({
      cluster: cluster.name,
      verdict: verdict.kind,
      counts,
      registeredTargets: registeredAfter,
      changes: (mutations?.registered.length ?? 0) + (mutations?.deregistered.length ?? 0),
      tickDurationMs,
      ...(latencies.length ? { probeLatencyMs: Math.max(...latencies) } : {}),
      probeBlind: verdict.kind === 'probe-blind',
      nonHealthy: verdict.kind !== 'healthy',
      timestampMs: nowMs,
    }),
  );
  // The outcome line: every tick that is not healthy, and whenever an observation is due (a
  // change, an action, a failure, the heartbeat). A steady healthy tick is in the EMF line above
  // (verdict, counts, tick time), so its repeated sentence is not billed as log ingestion.
  if (observationIsDue || verdict.kind !== 'healthy') deps.logger.log(verdict.kind === 'healthy' ? 'info' : 'warn', outcome, {
    cluster: cluster.name,
    verdict: verdict.kind,
    reasons: verdict.reasons,
    register,
    deregister,
    applied,
  });
  return { report, state: saved, ...(changedOnCachedMembers ? { changedOnCachedMembers } : {}) };
}

/**
 * Decides dead-leader takeover from this tick's snapshot and, when every
 * condition holds, deletes the lock item conditionally on the exact Identity
 * and Expires observed (a DeleteItem whose condition expression is false
 * fails and deletes nothing: Amazon DynamoDB Developer Guide, "Condition
 * expressions"). If the holder renewed after all, or a
 * contender took the expired item, the condition fails and nothing is deleted.
 * Vault's contenders then take the absent item at their next 1 s retry, and a
 * holder still alive loses leadership at its next watch read (DESIGN §3.4).
 * Returns undefined when the question did not arise this tick. Never throws:
 * a failed delete is reported, and routing goes on.
 */
type TakeoverReport = NonNullable<ClusterReport['takeover']>;

async function runTakeover(
  deps: ControllerDeps,
  cluster: ClusterConfig,
  seen: Pick<Parameters<typeof decideTakeover>[0], 'nodes' | 'probes' | 'verdict' | 'lock' | 'history' | 'nowMs' | 'lockReadAtMs'>,
): Promise<{ report: TakeoverReport; outcomeSuffix?: string } | undefined> {
  const haLock = cluster.haLock;
  if (haLock.type !== 'dynamodb') return undefined;
  const decision = decideTakeover({
    ...seen,
    haType: haLock.type,
    timings: deps.lockTimings ?? REAL_LOCK_TIMINGS,
    skewToleranceMs: haLock.skewToleranceMs,
    policy: { enabled: cluster.policy.deadLeaderTakeover, dryRun: cluster.policy.dryRun },
  });
  if (decision.action === 'skip') {
    if (!decision.applicable) return undefined;
    const report = { result: 'skipped' as const, reason: decision.reason, ...(decision.evidence ? { evidence: decision.evidence } : {}) };
    return { report };
  }
  const ev = decision.evidence;
  if (decision.action === 'dry-run') {
    deps.logger.log('info', decision.reason, { cluster: cluster.name, takeover: { result: 'dry-run', evidence: ev } });
    return {
      report: { result: 'dry-run', reason: decision.reason, evidence: ev },
      outcomeSuffix: `; dry run: would delete the lock item of dead ${ev.holder} (Identity ${quoted(ev.identity)}) for ${ev.standbys.join(', ')} to take`,
    };
  }

  let result: 'deleted' | 'changed';
  try {
    result = await breakLock(deps.ddb, haLock.table, { identity: ev.identity, expiresAtNs: ev.expiresAtNs });
  } catch (err) {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    deps.logger.log('error', 'dead-leader takeover: the conditional delete failed', { cluster: cluster.name, error: message, evidence: ev });
    return { report: { result: 'skipped', reason: `the conditional delete failed (${message}): ${decision.reason}`, evidence: ev } };
  }
  if (result === 'changed') {
    const reason = `the lock item changed since it was observed (renewed or taken), nothing deleted: ${decision.reason}`;
    deps.logger.log('info', `dead-leader takeover: ${reason}`, { cluster: cluster.name, evidence: ev });
    return { report: { result: 'changed', reason, evidence: ev }, outcomeSuffix: '; dead-leader takeover: the lock changed since it was observed, nothing deleted' };
  }

  const what = `deleted the lock item of dead ${ev.holder} (Identity ${quoted(ev.identity)}, Expires ${quoted(ev.expiresAtNs)}) from ${haLock.table}`;
  const evidenceLine = `${ev.proofDetail}; last renewal ${ev.msSinceLastRenewal} ms ago (> ${ev.renewalDeadlineMs} ms); ${ev.standbys.join(', ')} can take over; ${ev.lockRemainingMs} ms before the TTL`;
  deps.logger.log('warn', `dead-leader takeover: ${what}`, { cluster: cluster.name, evidence: ev, reason: decision.reason });
  try {
    await notify(
      deps.sns,
      deps.topicArn,
      takeoverNotification(
        { cluster: cluster.name, table: haLock.table, evidence: ev, summary: `${what}: ${evidenceLine}`, loadBalancer: cluster.loadBalancer, atMs: seen.nowMs },
        notificationContextFromEnv(),
      ),
    );
  } catch (err) {
    // The delete happened; a lost notification must not hide it from the report.
    deps.logger.log('warn', 'dead-leader takeover notification failed', { cluster: cluster.name, error: String(err) });
  }
  return {
    report: { result: 'deleted', reason: decision.reason, evidence: ev },
    outcomeSuffix: `; dead-leader takeover: ${what} (${evidenceLine})`,
  };
}

/** What the tick saw of the nodes: the members, their probes, and when it judged them. */
interface Seen {
  members: Member[];
  probes: Map<string, ProbeResult>;
  nowMs: number;
}

/** The members read again after the nodes changed, and the probes with those new to the tick probed too. */
async function membersAfterChange(deps: Pick<ControllerDeps, 'probe' | 'logger'>, cluster: ClusterConfig, refresh: () => Promise<Member[]>, before: Seen): Promise<Omit<Seen, 'nowMs'>> {
  let members = before.members;
  try {
    members = await refresh();
  } catch (err) {
    // As a tick whose fleet read failed would have nothing to decide on: the members of the
    // last quiet tick (all running, the state that proves nothing) beat no decision mid-failover.
    deps.logger.log('warn', 'could not read the members again after a change; deciding on those of the last quiet tick', { cluster: cluster.name, error: String(err) });
  }
  const unprobed = membersToProbe(before.members, members);
  const probes = unprobed.length > 0 ? new Map([...before.probes, ...(await deps.probe(unprobed, cluster))]) : before.probes;
  return { members, probes };
}

function countRegisteredAfter(targets: TargetView[], registered: string[], deregistered: string[]): number {
  const ids = new Set(targets.filter((t) => t.state !== 'draining').map((t) => t.instanceId));
  // An id in both lists is a registration undone after a failed deregistration: gone again.
  for (const id of registered) ids.add(id);
  for (const id of deregistered) ids.delete(id);
  return ids.size;
}

/** A tick that could not observe the world (an AWS call failed): nothing is changed. */
export function failedTickReport(cluster: ClusterConfig, err: unknown, tickDurationMs: number): ClusterReport {
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return {
    name: cluster.name,
    verdict: { kind: 'probe-blind', reasons: [`the controller could not observe the cluster: ${message}`] },
    nodes: [],
    plan: { register: [], deregister: [] },
    applied: false,
    outcome: `not reconciled: ${message}; nothing changed`,
    dryRun: cluster.policy.dryRun,
    held: [],
    alarms: [`observation failed: ${message}`],
    lock: { state: 'UNREADABLE' },
    tickDurationMs,
    error: message,
  };
}
