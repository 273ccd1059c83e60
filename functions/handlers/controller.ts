/**
 * The scheduled control loop (DESIGN §4.3): ticks every
 * `policy.probeIntervalSeconds` while the invocation has room for another tick
 * plus a margin, and returns the report of the last tick.
 */
import type { Context } from 'aws-lambda';
import { loadConfigCached } from '../config/load.js';
import { controllerShardSchema, type ClusterConfig, type Config, type ControllerShard } from '../config/schema.js';
import { formatIssues } from '../config/errors.js';
import { clustersOfShard } from '../core/shard.js';
import { makeClients } from '../adapters/aws-clients.js';
import {
  RunLeaseLostError,
  acquireLease,
  deleteRunLease,
  putRunLease,
  readRunLease,
  renewRunLease,
  requestHandover,
  requestRunHandover,
  runLeaseRefusal,
  type LeaseRecord,
  type RunLease,
} from '../adapters/control-table.js';
import { discoverFleet, discoverMembers } from '../adapters/ec2-fleet.js';
import { HandoverRequestedError, LeaseBusyError, isThrottling } from '../adapters/errors.js';
import { readClaims, readTickItems, type TickReads } from '../adapters/tick-reads.js';
import { leaseCoversTick, leaseRenewalDue } from '../core/bookkeeping.js';
import { nextTick } from '../core/tick-schedule.js';
import { fleetCacheUsable } from '../core/fleet-cache.js';
import type { Member, VerdictKind } from '../core/types.js';
import type { PauseRecord } from '../core/pause.js';
import { jsonLogger, type Logger } from './lib/logger.js';
import {
  defaultProbe,
  failedTickReport,
  reconcileTick,
  runStateOf,
  saveStateIfDue,
  type ClusterReport,
  type ClusterRunState,
  type ControllerDeps,
} from './lib/reconcile.js';

export interface ControllerReport {
  ticks: number;
  clusters: ClusterReport[];
}

/** Time kept free at the end of an invocation (saving state, flushing logs). */
export const END_MARGIN_MS = 3_000;
/** Never run more ticks than this in one invocation, whatever the clock says. */
export const MAX_TICKS = 400;
/** While a cluster's verdict is not healthy the loop ticks this often (at most; never slower than the normal interval). */
export const FAST_TICK_MS = 1_000;
/** ...for at most this long in a row: a lasting split brain needs a human, not a faster loop. */
export const FAST_TICK_WINDOW_MS = 120_000;
/** How often a successor retries the lease while its predecessor hands over. */
export const HANDOVER_POLL_MS = 250;
/** Extra lease life beyond the slowest probe (slow AWS calls, a loaded container, clock skew between runs). */
export const LEASE_SLACK_MS = 5_000;
/**
 * The run lease lives this many intervals (plus one tick's budget) and is
 * renewed only when it would not cover the next tick (core/bookkeeping.ts
 * leaseRenewalDue): one write every few ticks for all the run's clusters.
 * A run killed outright blocks its successor for at most this long.
 */
export const RUN_LEASE_INTERVALS = 4;

type DepsFactory = () => Omit<ControllerDeps, 'topicArn'> & { topicArn?: string };

const defaultDeps: DepsFactory = () => {
  const clients = makeClients();
  return {
    ec2: clients.ec2,
    elbv2: clients.elbv2,
    ddb: clients.ddb,
    sns: clients.sns,
    sfn: clients.sfn,
    ...(process.env.VAULT_HA_REPLACE_NODE_ARN ? { replaceNodeArn: process.env.VAULT_HA_REPLACE_NODE_ARN } : {}),
    probe: defaultProbe,
    now: Date.now,
    logger: jsonLogger('vault-ha-controller'),
  };
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RunControllerOptions {
  sleep?: (ms: number) => Promise<void>;
  maxTicks?: number;
  /**
   * Sandbox only: multiplies every duration the loop itself uses (tick
   * interval, fast ticks, end margin, lease life, handover waits), so a
   * compressed sandbox runs the deployed loop at its own speed. 1 on AWS.
   */
  timeScale?: number;
}

/** The loop's own timings for a config (pure; exported for tests and the sandbox). */
export function loopTimings(config: Config, timeScale = 1) {
  const intervalMs = Math.min(...config.clusters.map((c) => c.policy.probeIntervalSeconds * 1000)) * timeScale;
  const slowestProbeMs = Math.max(...config.clusters.map((c) => c.vault.probeTimeoutMs));
  // What one tick may take: the lease must outlive it, with room for slow calls and skew.
  const tickBudgetMs = slowestProbeMs + LEASE_SLACK_MS * timeScale;
  const leaseTtlMs = RUN_LEASE_INTERVALS * intervalMs + tickBudgetMs;
  return {
    intervalMs,
    fastIntervalMs: Math.min(intervalMs, FAST_TICK_MS * timeScale),
    fastWindowMs: FAST_TICK_WINDOW_MS * timeScale,
    endMarginMs: END_MARGIN_MS * timeScale,
    slowestProbeMs,
    tickBudgetMs,
    leaseTtlMs,
    claimSlackMs: LEASE_SLACK_MS * timeScale,
    handoverPollMs: HANDOVER_POLL_MS * timeScale,
    // A live holder sees the request at its next tick (one interval, plus a tick in
    // flight); past the lease's life an unrenewed lease has expired anyway.
    handoverWaitMs: leaseTtlMs + HANDOVER_POLL_MS * timeScale,
  };
}

/**
 * Ticks every cluster every `probeIntervalSeconds` (every FAST_TICK_MS while a
 * verdict is not healthy) until the invocation's time runs out or its
 * successor asks it to hand over.
 *
 * No blind spot between invocations (DESIGN §3.5): EventBridge starts a run a
 * minute and each run may live longer than that (timeout > 60 s, reserved
 * concurrency 2). A new run asks the running one to hand over and waits for
 * it; the old one sees the request at its next tick, saves its state,
 * deletes its run lease and stops, so the gap between the last tick of one run
 * and the first of the next is about one interval, and never do two runs act
 * on one cluster at once.
 *
 * Exclusion and its cost (issue #9): the run takes ONE lease for all its
 * clusters (`run#<owner>`, renewed only when its expiry needs it) and, once per
 * run, a claim on each cluster (`cluster#<name>/lease#controller`, conditional
 * as before, so operators' holds, shards and manual invocations all exclude
 * each other per cluster). Each tick reads the run lease in the same
 * BatchGetItem as the clusters' lock and pause items: a handover request or
 * a lost lease stops the run before it acts. A claim whose run lease is gone
 * or expired belongs to a run that is over (killed, or finished without
 * releasing) and is taken at once.
 *
 * Order of writes at the end of a run (handover or time up): each cluster's
 * state, then the run lease: a successor waits for the run lease to go, so it
 * reads the state only after the last write of it. The claims are kept, not
 * deleted: a successor reads them in one batch before taking them, and takes
 * each over by naming the run that is over.
 */
export async function runController(
  config: Config,
  deps: ControllerDeps,
  context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>,
  opts: RunControllerOptions = {},
): Promise<ControllerReport> {
  const wait = opts.sleep ?? sleep;
  const maxTicks = Math.max(1, opts.maxTicks ?? MAX_TICKS);
  const owner = `controller:${context.awsRequestId}`;
  const t = loopTimings(config, opts.timeScale ?? 1);
  const table = config.controlTable;

  const states = new Map<string, ClusterRunState>();
  /** Clusters whose claim this run holds, and when the earliest claim expires. */
  const held = new Set<string>();
  let claimsExpireAtMs = Number.POSITIVE_INFINITY;
  let run: RunLease | undefined;
  let renewing: Promise<void> | undefined;
  let stopped: { why: 'handover'; successor: string } | { why: 'lost'; reason: string } | undefined;
  const lastReports = new Map<string, ClusterReport>();
  /** Pauses of the earlier layout, read on each cluster's first tick of the run (adapters/pause.ts). */
  const legacyPauses = new Map<string, PauseRecord | undefined | Error>();
  /** The members last read from EC2, and when (core/fleet-cache.ts says when a tick may use them). */
  let fleetCache: { readAtMs: number; members: Map<string, Member[]> } | undefined;
  /** Since when each cluster has been not healthy (for the fast-tick window). */
  let unhealthySinceMs: Record<string, number> = {};
  let ticks = 0;
  let longestTickMs = 0;
  /** Consecutive ticks in which AWS throttled a call (the schedule backs off instead of ticking fast). */
  let throttledTicks = 0;
  let throttledThisTick = false;
  try {
    for (;;) {
      const tickStart = deps.now();
      throttledThisTick = false;
      const skipped = await takeClaims(config.clusters.filter((c) => !held.has(c.name)));
      const acting = config.clusters.filter((c) => held.has(c.name));
      const reports = acting.length > 0 && !stopped ? await tickAll(acting) : [];
      if (stopped) break;
      for (const r of [...reports, ...skipped]) lastReports.set(r.name, r);
      if (reports.length + skipped.length > 0) ticks += 1;
      const tickMs = deps.now() - tickStart;
      longestTickMs = Math.max(longestTickMs, tickMs);
      if (ticks >= maxTicks) break;
      const verdicts: Record<string, VerdictKind | undefined> = {};
      for (const c of config.clusters) verdicts[c.name] = lastReports.get(c.name)?.verdict.kind;
      throttledTicks = throttledThisTick ? throttledTicks + 1 : 0;
      const next = nextTick(t, verdicts, unhealthySinceMs, deps.now(), tickMs, throttledTicks);
      unhealthySinceMs = next.unhealthySinceMs;
      const waitMs = next.waitMs;
      // Another tick needs the wait, a tick as long as the longest so far (at
      // least one probe timeout) and the end margin.
      const needed = waitMs + Math.max(longestTickMs, t.slowestProbeMs) + t.endMarginMs;
      if (context.getRemainingTimeInMillis() < needed) break;
      await wait(waitMs);
    }
  } finally {
    await endRun();
  }
  return { ticks, clusters: config.clusters.map((c) => lastReports.get(c.name)).filter((r): r is ClusterReport => r !== undefined) };

  /** One tick of every cluster the run holds: one fleet read, one batch of items, then each cluster. */
  async function tickAll(acting: ClusterConfig[]): Promise<ClusterReport[]> {
    const started = deps.now();
    const cache = fleetCache;
    const cached =
      cache !== undefined &&
      fleetCacheUsable({
        readAtMs: cache.readAtMs,
        nowMs: started,
        intervalMs: t.intervalMs,
        clusters: acting.map((c) => ({ cached: cache.members.has(c.name), previous: lastReports.get(c.name) })),
      });
    const fleet: Promise<Map<string, Member[] | Error>> = cached ? Promise.resolve(new Map(cache.members)) : readFleet(acting, started);
    const needState = acting.filter((c) => !states.has(c.name)).map((c) => c.name);
    // Beside the fleet read: the run lease says whether to go on before any probe
    // or load-balancer call, and the lock items are read a fleet read before the probes.
    const readAtMs = deps.now();
    const reads: Promise<TickReads> = readTickItems(deps.ddb, { controlTable: table, clusters: acting, runOwner: owner, stateOf: needState });
    fleet.catch(() => undefined);
    reads.catch(() => undefined);
    try {
      await gate((await reads).run);
    } catch (err) {
      if (err instanceof HandoverRequestedError) stopped ??= { why: 'handover', successor: err.requester };
      else if (err instanceof RunLeaseLostError) stopped ??= { why: 'lost', reason: err.message };
      else throw err;
      await fleet;
      return [];
    }
    const reports = await Promise.all(
      acting.map(async (cluster): Promise<ClusterReport> => {
        try {
          const members = fleet.then((f) => {
            const m = f.get(cluster.name);
            if (m === undefined || m instanceof Error) throw m ?? new Error(`no fleet read for ${cluster.name}`);
            return m;
          }) as Promise<Member[]>;
          const carried = states.get(cluster.name);
          const state = carried
            ? Promise.resolve(carried)
            : reads.then((r) => {
                const s = r.state.get(cluster.name);
                if (s === undefined || s instanceof Error) throw s ?? new Error(`no state read for ${cluster.name}`);
                return runStateOf(s);
              });
          const clusterReads = reads.then((r) => {
            // A pause item of the earlier layout (an older CLI wrote it) is read on the cluster's
            // first tick of the run and honoured for the run; the index is read every tick.
            if (r.legacyPause.has(cluster.name)) legacyPauses.set(cluster.name, r.legacyPause.get(cluster.name));
            const indexed = r.pause.get(cluster.name);
            return { lock: r.lock.get(cluster.name)!, pause: indexed ?? legacyPauses.get(cluster.name), readAtMs };
          });
          const previous = lastReports.get(cluster.name);
          const { report, state: next, changedOnCachedMembers } = await reconcileTick(deps, config, cluster, {
            members,
            reads: clusterReads,
            state,
            ...(cached && previous ? { cachedMembers: { previous, refresh: () => discoverMembers(deps.ec2, cluster) } } : {}),
          });
          // The nodes moved: the next tick reads every cluster's members afresh.
          if (changedOnCachedMembers) fleetCache = undefined;
          states.set(cluster.name, next);
          return report;
        } catch (err) {
          if (isThrottling(err)) throttledThisTick = true;
          deps.logger.log('error', 'tick failed', { cluster: cluster.name, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
          return failedTickReport(cluster, err, deps.now() - started);
        }
      }),
    );
    return reports;
  }

  /** One DescribeInstances walk for the clusters; what it read becomes the cache when every cluster was read. */
  function readFleet(acting: ClusterConfig[], atMs: number): Promise<Map<string, Member[] | Error>> {
    const read = discoverFleet(deps.ec2, acting);
    read.then(
      (f) => {
        const members = new Map<string, Member[]>();
        for (const [name, m] of f) if (!(m instanceof Error)) members.set(name, m);
        fleetCache = members.size === f.size ? { readAtMs: atMs, members } : undefined;
      },
      () => {
        fleetCache = undefined;
      },
    );
    return read;
  }

  /**
   * Whether the run may act this tick, from its lease as this tick's batch read
   * it: stop on a handover request or a lost lease, renew when due, and never
   * act on a lease (or claims) that would not outlive the tick.
   */
  async function gate(read: RunLease | undefined | Error | undefined): Promise<void> {
    const nowMs = deps.now();
    if (!(read instanceof Error)) {
      const refusal = runLeaseRefusal(table, owner, read, nowMs);
      if (refusal) throw refusal;
      run = read;
    }
    if (!run) throw new RunLeaseLostError(`${table}: run ${owner} has no lease`, { resource: `${table}:run#${owner}`, code: 'RunLeaseLost' });
    if (leaseRenewalDue({ expiresAtMs: run.expiresAtMs, nowMs, intervalMs: t.intervalMs, tickBudgetMs: t.tickBudgetMs })) {
      try {
        run = await renewRunLease(deps.ddb, table, { owner, nowMs: deps.now(), ttlMs: t.leaseTtlMs });
      } catch (err) {
        if (err instanceof HandoverRequestedError || err instanceof RunLeaseLostError) throw err;
        // A failed renewal is retried next tick; this tick acts only if the lease still covers it.
        deps.logger.log('warn', 'could not renew the controller run lease', { error: String(err) });
      }
    }
    const expiresAtMs = Math.min(run.expiresAtMs, claimsExpireAtMs);
    if (!leaseCoversTick({ expiresAtMs, nowMs: deps.now(), tickBudgetMs: t.tickBudgetMs })) {
      throw new RunLeaseLostError(`${table}: the lease of ${owner} would expire during the tick; the run stops acting`, {
        resource: `${table}:run#${owner}`,
        code: 'RunLeaseExpiring',
      });
    }
  }

  /** Claims the clusters not held yet (the run's first tick; later ticks retry skipped ones). Reports the skipped. */
  async function takeClaims(clusters: ClusterConfig[]): Promise<ClusterReport[]> {
    if (clusters.length === 0 || stopped) return [];
    if (!run) run = await putRunLease(deps.ddb, table, { owner, nowMs: deps.now(), ttlMs: t.leaseTtlMs });
    // Who holds each claim, in one read, so a claim kept by a run that is over is
    // taken at the first put (a put refused by its condition costs a write unit too).
    const claims = await readClaims(
      deps.ddb,
      table,
      clusters.map((c) => c.name),
    ).catch((err: unknown) => {
      deps.logger.log('warn', 'could not read the controller claims; the conditional puts decide', { error: String(err) });
      return new Map<string, LeaseRecord | undefined | Error>();
    });
    const runsOver = new Map<string, Promise<boolean>>();
    const results = await Promise.all(clusters.map((c) => takeClaim(c, runsOver, claims.get(c.name))));
    return results.filter((r): r is ClusterReport => r !== undefined);
  }

  /**
   * Takes the cluster's claim: at once when free or its run is over, else by
   * asking a live run to hand over. `known`: the claim as read just before.
   */
  async function takeClaim(cluster: ClusterConfig, runsOver: Map<string, Promise<boolean>>, known: LeaseRecord | undefined | Error): Promise<ClusterReport | undefined> {
    const started = deps.now();
    const waitUntil = started + t.handoverWaitMs;
    let takeFrom: string | undefined;
    let askedLegacy = false;
    try {
      // A claim another run kept (runs keep theirs when they end; issue #9): once that
      // run's lease is gone, name it in the put. Any other holder: the put finds out.
      if (known !== undefined && !(known instanceof Error) && known.runLease && known.owner !== owner && known.owner.startsWith('controller:') && known.expiresAtMs >= deps.now()) {
        if (!(await runOver(known.owner, waitUntil, runsOver))) throw new LeaseBusyError(known);
        takeFrom = known.owner;
      }
      for (let attempt = 0; ; attempt++) {
        // As long as the run may live (a context with little time left still gets its
        // tick): a killed run's claims are taken through its run lease, not their expiry.
        const untilMs = deps.now() + Math.max(context.getRemainingTimeInMillis(), t.leaseTtlMs) + t.claimSlackMs;
        try {
          await acquireLease(deps.ddb, table, {
            cluster: cluster.name,
            scope: 'controller',
            owner,
            ttlMs: untilMs - deps.now(),
            nowMs: deps.now(),
            purpose: 'controller',
            runLease: true,
            ...(takeFrom !== undefined ? { takeFrom } : {}),
          });
          held.add(cluster.name);
          claimsExpireAtMs = Math.min(claimsExpireAtMs, untilMs);
          return undefined;
        } catch (err) {
          if (!(err instanceof LeaseBusyError)) throw err;
          const holder = err.holder;
          const outOfTime = deps.now() >= waitUntil || attempt >= 400 || context.getRemainingTimeInMillis() < t.endMarginMs + t.slowestProbeMs;
          // Only another controller run hands over; an operator's lock is waited out by no one.
          if (outOfTime || !holder.owner.startsWith('controller:') || holder.owner === takeFrom) throw err;
          if (holder.runLease) {
            if (!(await runOver(holder.owner, waitUntil, runsOver))) throw err;
            takeFrom = holder.owner;
            continue;
          }
          // A claim renewed every tick by a run of the per-cluster-lease protocol (the
          // previous release, during a deploy): ask it on the claim itself, as it expects.
          if (!askedLegacy) {
            askedLegacy = await requestHandover(deps.ddb, table, { cluster: cluster.name, scope: 'controller', holder: holder.owner, requester: owner, nowMs: deps.now() });
            if (askedLegacy) deps.logger.log('info', 'asked the running controller to hand over', { cluster: cluster.name, holder: holder.owner });
          }
          await wait(t.handoverPollMs);
          if (!(await keepRunAlive())) throw err;
        }
      }
    } catch (err) {
      if (err instanceof LeaseBusyError) return leaseBusyReport(cluster, err, deps.now() - started);
      if (isThrottling(err)) throttledThisTick = true;
      deps.logger.log('error', 'tick failed', { cluster: cluster.name, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
      return failedTickReport(cluster, err, deps.now() - started);
    }
  }

  /** waitForRunEnd, shared by every cluster the run `holder` holds. */
  function runOver(holder: string, waitUntil: number, runsOver: Map<string, Promise<boolean>>): Promise<boolean> {
    let over = runsOver.get(holder);
    if (!over) {
      over = waitForRunEnd(holder, waitUntil);
      runsOver.set(holder, over);
    }
    return over;
  }

  /**
   * Renews the run's lease while it waits for claims, when the next poll and a
   * tick would otherwise outlive it (one renewal shared by every cluster waiting).
   * False when the run must stop: a successor asked it to hand over, or it lost
   * the lease.
   */
  async function keepRunAlive(): Promise<boolean> {
    if (stopped) return false;
    if (!run || !leaseRenewalDue({ expiresAtMs: run.expiresAtMs, nowMs: deps.now(), intervalMs: t.handoverPollMs, tickBudgetMs: t.tickBudgetMs })) return true;
    renewing ??= renewRunLease(deps.ddb, table, { owner, nowMs: deps.now(), ttlMs: t.leaseTtlMs })
      .then((r) => {
        run = r;
      })
      .catch((err: unknown) => {
        if (err instanceof HandoverRequestedError) stopped ??= { why: 'handover', successor: err.requester };
        else if (err instanceof RunLeaseLostError) stopped ??= { why: 'lost', reason: err.message };
        else deps.logger.log('warn', 'could not renew the controller run lease', { error: String(err) });
      })
      .finally(() => {
        renewing = undefined;
      });
    await renewing;
    return !stopped;
  }

  /**
   * True once the run `holder` is over (its lease gone or expired), asking it
   * to hand over if it lives; false when it still lives at `waitUntil`.
   * One read per poll, whatever the number of clusters it holds.
   */
  async function waitForRunEnd(holder: string, waitUntil: number): Promise<boolean> {
    let asked = false;
    for (let poll = 0; poll < 400; poll++) {
      // Waiting out a predecessor can take longer than this run's own lease lives: keep it
      // alive, or the claims taken meanwhile would belong to a run that looks over.
      if (!(await keepRunAlive())) return false;
      const lease = await readRunLease(deps.ddb, table, holder);
      if (!lease || lease.owner !== holder || lease.expiresAtMs < deps.now()) return true;
      if (deps.now() >= waitUntil || context.getRemainingTimeInMillis() < t.endMarginMs + t.slowestProbeMs) return false;
      if (!asked) {
        asked = await requestRunHandover(deps.ddb, table, { holder, requester: owner, nowMs: deps.now() });
        if (asked) deps.logger.log('info', 'asked the running controller to hand over', { holder });
      }
      await wait(t.handoverPollMs);
    }
    return false;
  }

  /**
   * Saves what is due, then deletes the run lease (see above for why in this
   * order). The claims stay: their run lease gone, the next run takes them over
   * by name at its first put, and a delete per cluster per run was a third of
   * the controller's write units (issue #9).
   */
  async function endRun(): Promise<void> {
    const warn = (what: string, fields: Record<string, unknown>) => (e: unknown) => deps.logger.log('warn', what, { ...fields, error: String(e) });
    if (stopped?.why !== 'lost') {
      await Promise.all(
        [...held].map(async (name) => {
          const state = states.get(name);
          if (!state) return;
          try {
            states.set(name, await saveStateIfDue(deps, config, name, state, true));
          } catch (e) {
            warn('could not save the cluster state at the end of the run', { cluster: name })(e);
          }
        }),
      );
    } else {
      deps.logger.log('warn', 'the controller run lost its lease and stops without writing', { reason: stopped.reason });
    }
    if (run) await deleteRunLease(deps.ddb, table, owner).catch(warn('could not release the controller run lease', {}));
    if (stopped?.why === 'handover') deps.logger.log('info', 'handed the controller lease over', { clusters: [...held], successor: stopped.successor });
  }
}

function leaseBusyReport(cluster: ClusterConfig, err: LeaseBusyError, tickDurationMs: number): ClusterReport {
  const { error: _ignored, ...r } = failedTickReport(cluster, err, tickDurationMs);
  const holder = err.holder;
  return {
    ...r,
    // `verdict.kind` must be one of the contract's kinds and nothing was observed;
    // `skipped` says so to readers of the report. No metric is emitted for a skip,
    // so the ProbeBlind alarm (real blindness only) does not fire.
    verdict: {
      kind: 'probe-blind',
      reasons: [`not observed: ${holder.owner} holds the lease until ${new Date(holder.expiresAtMs).toISOString()}`],
    },
    skipped: { holder: holder.owner, untilMs: holder.expiresAtMs },
    outcome: `skipped: ${holder.owner.startsWith('controller:') ? 'another controller run' : holder.owner} holds the lease for ${cluster.name}; nothing changed`,
    alarms: [],
  };
}

export class ControllerFailedError extends Error {
  override readonly name = 'ControllerFailedError';
  constructor(readonly report: ControllerReport) {
    super(`the last tick failed for: ${report.clusters.filter((c) => c.error).map((c) => `${c.name} (${c.error})`).join(', ')}`);
  }
}

export interface ControllerHandlerOptions {
  /** Sandbox only: see RunControllerOptions.timeScale. */
  timeScale?: number;
}

export function createControllerHandler(factory: DepsFactory = defaultDeps, options: ControllerHandlerOptions = {}) {
  let deps: (Omit<ControllerDeps, 'topicArn'> & { topicArn?: string }) | undefined;
  const base = async (event: unknown, context: Context): Promise<ControllerReport> => {
    const loaded = await loadConfigCached();
    const shard = shardOfEvent(event);
    const config = { ...loaded, clusters: clustersOfShard(loaded.clusters, shard) };
    // A shard can be empty (more shards than clusters): nothing to tick.
    if (config.clusters.length === 0) return { ticks: 0, clusters: [] };
    deps ??= factory();
    const topicArn = config.notifications?.topicArn ?? deps.topicArn ?? process.env.VAULT_HA_NOTIFY_TOPIC_ARN;
    const report = await runController(config, { ...deps, topicArn: topicArn || undefined }, context, {
      ...(options.timeScale !== undefined ? { timeScale: options.timeScale } : {}),
    });
    if (report.clusters.some((c) => c.error)) {
      // Surface AWS failures as a Lambda error so the ControllerErrors alarm fires;
      // the report is in the log line above.
      (deps.logger as Logger).log('error', 'controller report', { report });
      throw new ControllerFailedError(report);
    }
    return report;
  };
  // A plain async handler: no early-timeout race (the tick loop budgets the
  // remaining time itself, and a caller that hands in a context with little time
  // left must still get its one tick), and nothing else a middleware would add.
  return base;
}

/**
 * `{ shard, of }` when the event carries them (one schedule rule per shard);
 * undefined for EventBridge's own scheduled event or a manual `{}`.
 */
export function shardOfEvent(event: unknown): ControllerShard | undefined {
  if (typeof event !== 'object' || event === null || !('shard' in event || 'of' in event)) return undefined;
  const { shard, of } = event as Record<string, unknown>;
  const r = controllerShardSchema.safeParse({ shard, of });
  if (!r.success) throw new InvalidControllerEventError(formatIssues(r.error.issues));
  return r.data;
}

export class InvalidControllerEventError extends Error {
  override readonly name = 'InvalidControllerEventError';
  constructor(readonly problems: string[]) {
    super(`invalid controller event: ${problems.join('; ')}`);
  }
}

export const handler = createControllerHandler();
