/**
 * `vault-ha status [--cluster C]`: one table per cluster, like `patronictl
 * list`, from a live READ-ONLY snapshot taken the way the controller takes its
 * own (functions/core/snapshot.ts over the same adapters: members by tag,
 * /v1/sys/health + /v1/sys/leader, the lock item, the target group) judged
 * with the controller's stored history, plus what the control table and Step
 * Functions hold: the controller's last outcome sentences, its lease, the
 * operation lease, running executions and the pause. Nothing is written.
 *
 * Exit 0 when every cluster shown is `healthy`, 1 otherwise (EXIT in lib/errors.ts).
 */
import type { ClusterConfig } from '../functions/config/schema.js';
import { assessSnapshot } from '../functions/core/snapshot.js';
import { activePause, pauseSentence } from '../functions/core/pause.js';
import type { LockObservation, Member, NodeHealth, TargetView, VerdictKind } from '../functions/core/types.js';
import { discoverMembers } from '../functions/adapters/ec2-fleet.js';
import { loadBalancerPort } from '../functions/adapters/load-balancer.js';
import { readClusterLock } from '../functions/adapters/lock-reader.js';
import { probeMembers, probeOptionsOf } from '../functions/adapters/vault-probe.js';
import { LEASE_SCOPES, emptyClusterState, loadClusterState, readLease, type ClusterState, type LeaseRecord } from '../functions/adapters/control-table.js';
import { listObservations } from '../functions/adapters/control-history.js';
import { readPause } from '../functions/adapters/pause.js';
import { TableNotFoundError } from '../functions/adapters/errors.js';
import { stringOption, type OptionsSpec } from './lib/args.js';
import type { CliContext } from './lib/context.js';
import { EXIT, NotFoundError, type ExitCode } from './lib/errors.js';
import { runningExecutions, type ExecutionSummary } from './lib/executions.js';
import { relative } from './lib/output.js';
import { stageTableName } from './lib/stack.js';

export const STATUS_OPTIONS: OptionsSpec = { cluster: { type: 'string', valueName: 'CLUSTER' } };
/** Stored ticks read for the "last outcomes" lines (collapsed where the sentence repeats). */
const RECENT_TICKS = 30;
const OUTCOME_LINES = 5;

export interface NodeRow {
  slot: string;
  instanceId: string | null;
  availabilityZone: string | null;
  instanceState: string | null;
  class: NodeHealth['class'] | null;
  /** `holder` (legitimate active holding the lock / Raft leader), `claims` (claims active without it), or null. */
  lock: 'holder' | 'leader' | 'claims' | null;
  target: { state: string; reason?: string } | null;
  /** Consecutive bad observations the controller counted (hysteresis, DESIGN §5.4). */
  failures: number;
  address: string | null;
  statusCode: number | null;
  findings: string[];
}

export interface LeaseView {
  owner: string;
  purpose: string | null;
  acquiredAt: string;
  expiresAt: string;
  expired: boolean;
}

export interface ClusterStatus {
  name: string;
  table: string;
  at: string;
  verdict: {
    kind: VerdictKind;
    reasons: string[];
    legitimateActive: string | null;
    evidence: { lock: LockObservation; claimants: string[]; standbyLeaderAddress: string | null; findings: Array<{ instanceId: string; finding: string }> };
  };
  nodes: NodeRow[];
  controller: {
    lease: LeaseView | null;
    lastTickAt: string | null;
    /** Newest first; consecutive ticks with the same sentence collapsed into one line with a count. */
    outcomes: Array<{ at: string; verdict: string; outcome: string; applied: boolean; ticks: number; since: string }>;
  };
  operation: { lease: LeaseView | null; executions: ExecutionSummary[] | null; executionsError?: string };
  pause: { paused: boolean; by?: string; until?: string; reason?: string; sentence?: string; expiredAt?: string };
  warnings: string[];
}

export async function gatherClusterStatus(ctx: CliContext, cluster: ClusterConfig, table: string): Promise<ClusterStatus> {
  const { ec2, elbv2, ddb } = ctx.clients();
  const warnings: string[] = [];
  const storedState = loadClusterState(ddb, table, cluster.name).catch((err: unknown): ClusterState => {
    if (err instanceof TableNotFoundError) throw err;
    warnings.push(`controller state unreadable (${(err as Error).message}): judged without history`);
    return emptyClusterState();
  });
  const membersRead = discoverMembers(ec2, cluster);
  const [state, members, targets, pause, controllerLease, operationLease, observations] = await Promise.all([
    storedState,
    membersRead,
    loadBalancerPort(cluster, { elbv2 }).describe(membersRead),
    readPause(ddb, table, cluster.name),
    readLease(ddb, table, { cluster: cluster.name, scope: LEASE_SCOPES.controller }),
    readLease(ddb, table, { cluster: cluster.name, scope: LEASE_SCOPES.operation }),
    listObservations(ddb, table, cluster.name, { limit: RECENT_TICKS }),
  ]).catch((err: unknown) => {
    if (err instanceof TableNotFoundError) {
      throw new NotFoundError(
        `control table ${table} not found`,
        ctx.stage === undefined ? `a deployed stack's table is ${stageTableName('<stage>')}: pass --stage (or --table)` : 'check --stage and the region (AWS_REGION / --region)',
        { cause: err },
      );
    }
    throw err;
  });
  const [probes, lockRead] = await Promise.all([probeMembers(members, probeOptionsOf(cluster.vault)), readClusterLock(ddb, cluster.haLock)]);
  const nowMs = ctx.now();
  const { nodes, lock, verdict } = assessSnapshot({ cluster, members, probes, lockRead, history: state.history, nowMs });

  let executions: ExecutionSummary[] | null = null;
  let executionsError: string | undefined;
  try {
    executions = await runningExecutions(ctx, cluster.name);
  } catch (err) {
    executionsError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  }

  // The CLI probes the nodes from where it runs: off the VPC it sees nothing, which is not the cluster's fault.
  const lastTick = observations[0];
  const lastVerdict = (lastTick?.report['verdict'] as { kind?: unknown } | undefined)?.kind;
  if (verdict.kind === 'probe-blind' && lastTick && lastVerdict !== 'probe-blind' && nowMs - lastTick.atMs < 5 * 60_000) {
    warnings.push(
      `no node answered this CLI's probe, but the controller's tick at ${new Date(lastTick.atMs).toISOString()} judged ${String(lastVerdict)}: run vault-ha where the nodes' port ${cluster.vault.port} is reachable (VPN, bastion), or read the controller's outcome lines`,
    );
  }

  const inForce = activePause(pause, nowMs);
  return {
    name: cluster.name,
    table,
    at: new Date(nowMs).toISOString(),
    verdict: {
      kind: verdict.kind,
      reasons: verdict.reasons,
      legitimateActive: verdict.legitimateActive ?? null,
      evidence: {
        lock,
        claimants: verdict.claimants,
        standbyLeaderAddress: verdict.standbyLeaderAddress ?? null,
        findings: nodes.flatMap((n) => n.findings.map((finding) => ({ instanceId: n.instanceId, finding }))),
      },
    },
    nodes: nodeRows(cluster, members, nodes, targets, state.history.failureCounts, verdict.legitimateActive, lock),
    controller: {
      lease: leaseView(controllerLease, nowMs),
      lastTickAt: observations[0] ? new Date(observations[0].atMs).toISOString() : null,
      outcomes: collapseOutcomes(observations).slice(0, OUTCOME_LINES),
    },
    operation: { lease: leaseView(operationLease, nowMs), executions, ...(executionsError ? { executionsError } : {}) },
    pause: inForce
      ? { paused: true, by: inForce.pausedBy, until: new Date(inForce.untilMs).toISOString(), ...(inForce.reason ? { reason: inForce.reason } : {}), sentence: pauseSentence(inForce) }
      : { paused: false, ...(pause ? { expiredAt: new Date(pause.untilMs).toISOString(), by: pause.pausedBy } : {}) },
    warnings,
  };
}

function nodeRows(
  cluster: ClusterConfig,
  members: Member[],
  nodes: NodeHealth[],
  targets: TargetView[],
  failureCounts: Record<string, number>,
  legitimate: string | undefined,
  lock: LockObservation,
): NodeRow[] {
  const byId = new Map(nodes.map((n) => [n.instanceId, n]));
  const targetOf = new Map<string, TargetView>();
  // A non-draining registration wins over a draining one (the planner's rule too).
  for (const t of targets) if (!targetOf.has(t.instanceId) || targetOf.get(t.instanceId)!.state === 'draining') targetOf.set(t.instanceId, t);
  const slotOrder = new Map((cluster.replacement?.slots ?? []).map((s, i) => [s.name, i]));
  const rows: Array<NodeRow & { order: number; launch: number }> = members.map((m) => {
    const n = byId.get(m.instanceId);
    const t = targetOf.get(m.instanceId);
    const lockCol: NodeRow['lock'] =
      n?.claimsActive && m.instanceId === legitimate ? (cluster.haLock.type === 'raft' ? 'leader' : lock.state === 'HELD' ? 'holder' : 'claims') : n?.claimsActive ? 'claims' : null;
    return {
      slot: m.slot ?? '-',
      instanceId: m.instanceId,
      availabilityZone: m.availabilityZone ?? null,
      instanceState: m.state,
      class: n?.class ?? null,
      lock: lockCol,
      target: t ? { state: t.state, ...(t.reason ? { reason: t.reason } : {}) } : null,
      failures: failureCounts[m.instanceId] ?? 0,
      address: m.address ?? null,
      statusCode: n?.statusCode ?? null,
      findings: n?.findings ?? [],
      order: slotOrder.get(m.slot ?? '') ?? Number.MAX_SAFE_INTEGER,
      launch: m.launchTimeMs ?? 0,
    };
  });
  // A configured slot with no instance at all is worth a row: it is what a replacement fills.
  for (const s of cluster.replacement?.slots ?? []) {
    if (members.some((m) => m.slot === s.name)) continue;
    rows.push({ slot: s.name, instanceId: null, availabilityZone: s.availabilityZone, instanceState: null, class: null, lock: null, target: null, failures: 0, address: null, statusCode: null, findings: [], order: slotOrder.get(s.name) ?? 0, launch: 0 });
  }
  // Registered targets that are no member (untagged, or another cluster's) show up too: they take traffic.
  for (const t of targets) {
    if (members.some((m) => m.instanceId === t.instanceId)) continue;
    rows.push({ slot: '?', instanceId: t.instanceId, availabilityZone: null, instanceState: null, class: null, lock: null, target: { state: t.state, ...(t.reason ? { reason: t.reason } : {}) }, failures: 0, address: null, statusCode: null, findings: ['registered in the target group but not a tagged member'], order: Number.MAX_SAFE_INTEGER, launch: 0 });
  }
  rows.sort((a, b) => a.order - b.order || a.slot.localeCompare(b.slot) || a.launch - b.launch);
  return rows.map(({ order: _o, launch: _l, ...r }) => r);
}

function leaseView(l: LeaseRecord | undefined, nowMs: number): LeaseView | null {
  if (!l) return null;
  return {
    owner: l.owner,
    purpose: l.purpose ?? null,
    acquiredAt: new Date(l.acquiredAtMs).toISOString(),
    expiresAt: new Date(l.expiresAtMs).toISOString(),
    expired: l.expiresAtMs < nowMs,
  };
}

/** Newest first, consecutive ticks with the same outcome sentence merged (an idle controller says the same thing every tick). */
export function collapseOutcomes(observations: Array<{ atMs: number; report: Record<string, unknown> }>): ClusterStatus['controller']['outcomes'] {
  const out: ClusterStatus['controller']['outcomes'] = [];
  for (const o of observations) {
    const outcome = typeof o.report['outcome'] === 'string' ? o.report['outcome'] : '(no outcome)';
    const verdict = typeof (o.report['verdict'] as { kind?: unknown } | undefined)?.kind === 'string' ? String((o.report['verdict'] as { kind: string }).kind) : '?';
    const applied = o.report['applied'] === true;
    const last = out.at(-1);
    if (last && last.outcome === outcome && last.verdict === verdict && !applied && !last.applied) {
      last.ticks += 1;
      last.since = new Date(o.atMs).toISOString();
      continue;
    }
    const at = new Date(o.atMs).toISOString();
    out.push({ at, verdict, outcome, applied, ticks: 1, since: at });
  }
  return out;
}

/* ------------------------------------------------------------------ command */

export async function statusCommand(ctx: CliContext): Promise<ExitCode> {
  const clusters = await ctx.clusters(stringOption(ctx.args, 'cluster'));
  const table = await ctx.table();
  const statuses: ClusterStatus[] = [];
  for (const c of clusters) statuses.push(await gatherClusterStatus(ctx, c, table));
  const healthy = statuses.every((s) => s.verdict.kind === 'healthy');
  ctx.out.result({ healthy, clusters: statuses });
  for (const s of statuses) renderClusterStatus(ctx, s);
  return healthy ? EXIT.ok : EXIT.failed;
}

const GOOD_CLASSES = new Set(['active', 'standby', 'perf-standby']);
const BAD_CLASSES = new Set(['sealed', 'unreachable', 'uninitialized', 'removed', 'ha-unhealthy', 'unknown']);

export function renderClusterStatus(ctx: CliContext, s: ClusterStatus): void {
  const out = ctx.out;
  const nowMs = Date.parse(s.at);
  const v = s.verdict;
  out.line(`${out.paint('bold', `Cluster ${s.name}`)}  (control table ${s.table}, snapshot ${s.at})`);
  out.line(
    out
      .table(
        ['SLOT', 'INSTANCE', 'AZ', 'EC2', 'VAULT', 'LOCK', 'TARGET', 'FAILS'],
        s.nodes.map((n) => [
          n.slot,
          n.instanceId ?? '(none)',
          n.availabilityZone ?? '-',
          n.instanceState ? out.status(n.instanceState, n.instanceState === 'running', n.instanceState === 'terminated' || n.instanceState === 'stopped') : '-',
          n.class ? out.status(n.class, GOOD_CLASSES.has(n.class), BAD_CLASSES.has(n.class)) : '-',
          n.lock ?? '-',
          n.target ? out.status(n.target.state, n.target.state === 'healthy', n.target.state === 'unhealthy' || n.target.state === 'unavailable') : '-',
          String(n.failures),
        ]),
      )
      .map((l) => `  ${l}`)
      .join('\n'),
  );
  out.line(`Verdict: ${out.status(v.kind, v.kind === 'healthy', v.kind !== 'healthy' && v.kind !== 'no-leader')}${v.legitimateActive ? ` (legitimate active ${v.legitimateActive})` : ''}`);
  for (const r of v.reasons) out.line(`  - ${r}`);
  const lock = v.evidence.lock;
  out.line(`  evidence: lock ${lock.state}${lock.identity ? ` identity ${lock.identity}` : ''}${lock.remainingMs !== undefined ? `, ${lock.remainingMs >= 0 ? `${(lock.remainingMs / 1000).toFixed(1)} s left` : `expired ${(-lock.remainingMs / 1000).toFixed(1)} s ago`}` : ''}; claimants: ${v.evidence.claimants.join(', ') || 'none'}${v.evidence.standbyLeaderAddress ? `; standbys name ${v.evidence.standbyLeaderAddress}` : ''}`);
  // Findings the verdict's reasons already state are not repeated.
  for (const f of v.evidence.findings) if (!v.reasons.some((r) => r.includes(f.finding))) out.line(`  finding on ${f.instanceId}: ${f.finding}`);

  const c = s.controller;
  out.line(`Controller: ${c.lastTickAt ? `last tick ${c.lastTickAt} (${relative(Date.parse(c.lastTickAt), nowMs)})` : 'no tick recorded'}${c.lease ? `; lease ${c.lease.owner}${c.lease.expired ? ' (expired)' : ''}` : ''}`);
  const verdictWidth = Math.max(0, ...c.outcomes.map((o) => o.verdict.length));
  for (const o of c.outcomes) {
    const repeat = o.ticks > 1 ? ` (×${o.ticks} since ${o.since})` : '';
    out.line(`  ${o.at}  ${o.verdict.padEnd(verdictWidth)}  ${o.outcome}${repeat}`);
  }
  out.line(`Pause: ${s.pause.paused ? out.paint('yellow', s.pause.sentence ?? 'paused') : `not paused${s.pause.expiredAt ? ` (last pause by ${s.pause.by} ended ${s.pause.expiredAt})` : ''}`}`);
  const lease = s.operation.lease;
  out.line(`Operation lease: ${lease ? `${lease.owner}${lease.purpose ? ` (${lease.purpose})` : ''} until ${lease.expiresAt}${lease.expired ? ' — expired, blocks nothing' : ''}` : 'free'}`);
  if (s.operation.executions === null) out.line(`Executions: unknown (${s.operation.executionsError ?? 'Step Functions not reachable'})`);
  else if (s.operation.executions.length === 0) out.line('Executions: none running');
  else {
    out.line('Executions:');
    for (const e of s.operation.executions) {
      const subject = String(e.input['slot'] ?? e.input['scenario'] ?? e.input['instanceId'] ?? '');
      out.line(`  ${e.kind} ${subject}  ${e.name}  ${e.status} since ${e.startedAt} (${relative(Date.parse(e.startedAt), nowMs)}), phase ${e.phase ?? '?'}${e.state ? ` (state ${e.state})` : ''}`);
    }
  }
  for (const w of s.warnings) out.line(`Warning: ${w}`);
  out.line();
}
