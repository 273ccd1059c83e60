/**
 * The scheduled control loop (DESIGN §4.3): ticks every
 * `policy.probeIntervalSeconds` while the invocation has room for another tick
 * plus a margin, and returns the report of the last tick.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadConfigCached } from '../config/load.js';
import { controllerShardSchema, type ClusterConfig, type Config, type ControllerShard } from '../config/schema.js';
import { formatIssues } from '../config/errors.js';
import { clustersOfShard } from '../core/shard.js';
import { makeClients } from '../adapters/aws-clients.js';
import { acquireLease, releaseLease, requestHandover } from '../adapters/control-table.js';
import { HandoverRequestedError, LeaseBusyError } from '../adapters/errors.js';
import { nextTick } from '../core/tick-schedule.js';
import type { VerdictKind } from '../core/types.js';
import { jsonLogger, type Logger } from './lib/logger.js';
import {
  defaultProbe,
  failedTickReport,
  loadRunState,
  reconcileTick,
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
/** Extra lease life beyond two intervals and the slowest probe (slow AWS calls, a loaded container). */
export const LEASE_SLACK_MS = 5_000;

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
  // The lease outlives one missed renewal but not much more: a run killed mid-tick
  // blocks its successor for at most this long (it used to be the whole invocation).
  const leaseTtlMs = 2 * intervalMs + slowestProbeMs + LEASE_SLACK_MS * timeScale;
  return {
    intervalMs,
    fastIntervalMs: Math.min(intervalMs, FAST_TICK_MS * timeScale),
    fastWindowMs: FAST_TICK_WINDOW_MS * timeScale,
    endMarginMs: END_MARGIN_MS * timeScale,
    slowestProbeMs,
    leaseTtlMs,
    handoverPollMs: HANDOVER_POLL_MS * timeScale,
    // The holder sees the request at its next renewal (one interval, plus a tick in
    // flight); past the lease's life an unrenewed lease has expired anyway.
    handoverWaitMs: leaseTtlMs + HANDOVER_POLL_MS * timeScale,
  };
}

/**
 * Ticks every cluster every `probeIntervalSeconds` (every FAST_TICK_MS while a
 * verdict is not healthy) until the invocation's time runs out or its
 * successor has taken every cluster over.
 *
 * No blind spot between invocations (DESIGN §3.5): EventBridge starts a run a
 * minute and each run may live longer than that (timeout > 60 s, reserved
 * concurrency 2). A new run asks the running one to hand its lease over and
 * waits for it; the old one sees the request at its next renewal, releases the
 * lease and stops, so the gap between the last tick of one run and the first
 * of the next is about one interval, and never do two runs act at once.
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

  const states = new Map<string, ClusterRunState>();
  const held = new Set<string>();
  const handedOver = new Set<string>();
  const lastReports = new Map<string, ClusterReport>();
  /** Since when each cluster has been not healthy (for the fast-tick window). */
  let unhealthySinceMs: Record<string, number> = {};
  let ticks = 0;
  let longestTickMs = 0;
  try {
    for (;;) {
      const tickStart = deps.now();
      const active = config.clusters.filter((c) => !handedOver.has(c.name));
      const reports = await Promise.all(active.map((c) => tickCluster(c)));
      for (const r of reports) if (r !== undefined) lastReports.set(r.name, r);
      if (reports.some((r) => r !== undefined)) ticks += 1;
      if (handedOver.size === config.clusters.length) break;
      const tickMs = deps.now() - tickStart;
      longestTickMs = Math.max(longestTickMs, tickMs);
      if (ticks >= maxTicks) break;
      const verdicts: Record<string, VerdictKind | undefined> = {};
      for (const c of config.clusters) if (!handedOver.has(c.name)) verdicts[c.name] = lastReports.get(c.name)?.verdict.kind;
      const next = nextTick(t, verdicts, unhealthySinceMs, deps.now(), tickMs);
      unhealthySinceMs = next.unhealthySinceMs;
      const waitMs = next.waitMs;
      // Another tick needs the wait, a tick as long as the longest so far (at
      // least one probe timeout) and the end margin.
      const needed = waitMs + Math.max(longestTickMs, t.slowestProbeMs) + t.endMarginMs;
      if (context.getRemainingTimeInMillis() < needed) break;
      await wait(waitMs);
    }
  } finally {
    await Promise.all(
      [...held].map((name) =>
        releaseLease(deps.ddb, config.controlTable, { cluster: name, scope: 'controller', owner }).catch((e: unknown) =>
          deps.logger.log('warn', 'could not release controller lease', { cluster: name, error: String(e) }),
        ),
      ),
    );
  }
  return { ticks, clusters: config.clusters.map((c) => lastReports.get(c.name)).filter((r): r is ClusterReport => r !== undefined) };

  /** Takes the cluster's lease: at once when free, else by asking a live predecessor to hand it over. */
  async function takeLease(cluster: ClusterConfig): Promise<void> {
    const request = () => ({
      cluster: cluster.name,
      scope: 'controller',
      owner,
      ttlMs: t.leaseTtlMs,
      nowMs: deps.now(),
      purpose: 'controller',
    });
    const waitUntil = deps.now() + t.handoverWaitMs;
    let asked = false;
    for (let attempt = 0; ; attempt++) {
      try {
        await acquireLease(deps.ddb, config.controlTable, request());
        return;
      } catch (err) {
        if (!(err instanceof LeaseBusyError)) throw err;
        const holder = err.holder;
        const outOfTime = deps.now() >= waitUntil || attempt >= 400 || context.getRemainingTimeInMillis() < t.endMarginMs + t.slowestProbeMs;
        // Only another controller run hands over; an operator's lock is waited out by no one.
        if (outOfTime || !holder.owner.startsWith('controller:')) throw err;
        if (!asked) {
          asked = await requestHandover(deps.ddb, config.controlTable, {
            cluster: cluster.name,
            scope: 'controller',
            holder: holder.owner,
            requester: owner,
            nowMs: deps.now(),
          });
          if (asked) deps.logger.log('info', 'asked the running controller to hand over', { cluster: cluster.name, holder: holder.owner });
        }
        await wait(t.handoverPollMs);
      }
    }
  }

  async function tickCluster(cluster: ClusterConfig): Promise<ClusterReport | undefined> {
    const started = deps.now();
    try {
      if (held.has(cluster.name)) {
        // Renewal: fails with HandoverRequestedError once a successor is waiting.
        await acquireLease(deps.ddb, config.controlTable, {
          cluster: cluster.name,
          scope: 'controller',
          owner,
          ttlMs: t.leaseTtlMs,
          nowMs: deps.now(),
          purpose: 'controller',
          yieldToSuccessor: true,
        });
      } else {
        await takeLease(cluster);
        held.add(cluster.name);
      }
      let state = states.get(cluster.name);
      if (!state) {
        state = await loadRunState(deps, config, cluster);
        states.set(cluster.name, state);
      }
      const { report, state: next } = await reconcileTick(deps, config, cluster, state);
      states.set(cluster.name, next);
      return report;
    } catch (err) {
      if (err instanceof HandoverRequestedError) {
        held.delete(cluster.name);
        handedOver.add(cluster.name);
        await releaseLease(deps.ddb, config.controlTable, { cluster: cluster.name, scope: 'controller', owner }).catch((e: unknown) =>
          deps.logger.log('warn', 'could not release controller lease', { cluster: cluster.name, error: String(e) }),
        );
        deps.logger.log('info', 'handed the controller lease over', { cluster: cluster.name, successor: err.requester });
        return undefined;
      }
      if (err instanceof LeaseBusyError) {
        held.delete(cluster.name);
        return leaseBusyReport(cluster, err, deps.now() - started);
      }
      deps.logger.log('error', 'tick failed', { cluster: cluster.name, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
      return failedTickReport(cluster, err, deps.now() - started);
    }
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
  // No early-timeout race: the tick loop budgets the remaining time itself, and a
  // caller that hands in a context with little time left must still get its one tick.
  return middy(base, { timeoutEarlyInMillis: 0 });
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
