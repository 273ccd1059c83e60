/**
 * The scheduled control loop (DESIGN §4.3): ticks every
 * `policy.probeIntervalSeconds` while the invocation has room for another tick
 * plus a margin, and returns the report of the last tick.
 */
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { loadConfigCached } from '../config/load.js';
import type { ClusterConfig, Config } from '../config/schema.js';
import { makeClients } from '../adapters/aws-clients.js';
import { acquireLease, releaseLease } from '../adapters/control-table.js';
import { LeaseBusyError } from '../adapters/errors.js';
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
export const MAX_TICKS = 120;


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

export async function runController(
  config: Config,
  deps: ControllerDeps,
  context: Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'>,
  opts: { sleep?: (ms: number) => Promise<void>; maxTicks?: number } = {},
): Promise<ControllerReport> {
  const wait = opts.sleep ?? sleep;
  const maxTicks = Math.max(1, opts.maxTicks ?? MAX_TICKS);
  const owner = `controller:${context.awsRequestId}`;
  const intervalMs = Math.min(...config.clusters.map((c) => c.policy.probeIntervalSeconds * 1000));
  const slowestProbeMs = Math.max(...config.clusters.map((c) => c.vault.probeTimeoutMs));

  const states = new Map<string, ClusterRunState>();
  const held = new Set<string>();
  let last: ClusterReport[] = [];
  let ticks = 0;
  let longestTickMs = 0;
  try {
    for (;;) {
      const tickStart = deps.now();
      last = await Promise.all(config.clusters.map((c) => tickCluster(c)));
      ticks += 1;
      const tickMs = deps.now() - tickStart;
      longestTickMs = Math.max(longestTickMs, tickMs);
      if (ticks >= maxTicks) break;
      const waitMs = Math.max(0, intervalMs - tickMs);
      // Another tick needs the wait, a tick as long as the longest so far (at
      // least one probe timeout) and the end margin.
      const needed = waitMs + Math.max(longestTickMs, slowestProbeMs) + END_MARGIN_MS;
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
  return { ticks, clusters: last };

  async function tickCluster(cluster: ClusterConfig): Promise<ClusterReport> {
    const started = deps.now();
    try {
      // The lease excludes an overlapping run (a retried invocation, a manual
      // invoke); re-acquiring as the same owner renews it every tick.
      await acquireLease(deps.ddb, config.controlTable, {
        cluster: cluster.name,
        scope: 'controller',
        owner,
        ttlMs: Math.max(context.getRemainingTimeInMillis(), intervalMs) + 10_000,
        nowMs: deps.now(),
        purpose: 'controller',
      });
      held.add(cluster.name);
      let state = states.get(cluster.name);
      if (!state) {
        state = await loadRunState(deps, config, cluster);
        states.set(cluster.name, state);
      }
      const { report, state: next } = await reconcileTick(deps, config, cluster, state);
      states.set(cluster.name, next);
      return report;
    } catch (err) {
      if (err instanceof LeaseBusyError) {
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
    verdict: {
      kind: 'probe-blind',
      reasons: [`another controller run (${holder.owner}) holds the lease until ${new Date(holder.expiresAtMs).toISOString()}`],
    },
    outcome: `skipped: another controller run holds the lease for ${cluster.name}; nothing changed`,
    alarms: [],
  };
}

export class ControllerFailedError extends Error {
  override readonly name = 'ControllerFailedError';
  constructor(readonly report: ControllerReport) {
    super(`the last tick failed for: ${report.clusters.filter((c) => c.error).map((c) => `${c.name} (${c.error})`).join(', ')}`);
  }
}

export function createControllerHandler(factory: DepsFactory = defaultDeps) {
  let deps: (Omit<ControllerDeps, 'topicArn'> & { topicArn?: string }) | undefined;
  const base = async (_event: unknown, context: Context): Promise<ControllerReport> => {
    const config = await loadConfigCached();
    deps ??= factory();
    const topicArn = config.notifications?.topicArn ?? deps.topicArn ?? process.env.VAULT_HA_NOTIFY_TOPIC_ARN;
    const report = await runController(config, { ...deps, topicArn: topicArn || undefined }, context);
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

export const handler = createControllerHandler();
