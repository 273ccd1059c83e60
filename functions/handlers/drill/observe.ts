/**
 * The drill's Observe task: one step of the observation loop. With a
 * listener configured it first sends bounded probe requests through it for
 * the budget's window (the client-visible measure), then takes one snapshot of
 * the cluster, reads the stop-condition alarms, and hands everything to the
 * pure observeStep (stop conditions, invariants, failover complete?).
 */
import type { ClientSample } from '../../core/drill-client.js';
import { observeStep, type ObserveMark } from '../../core/drill-observe.js';
import { pollOf } from '../../core/drill.js';
import type { ClusterConfig } from '../../config/schema.js';
import { clusterOf, ctxOf, injectionOf, iso, preOf, snapshot, type DrillTaskContext, type Ev, type FailoverDrillDeps } from './context.js';

/** Probe requests through the listener for the budget's window: bounded by count and by the clock. */
export async function probeClients(deps: FailoverDrillDeps, ctx: DrillTaskContext, cluster: ClusterConfig): Promise<ClientSample[]> {
  const out: ClientSample[] = [];
  if (ctx.clientProbeUrl === '' || ctx.observe.probeWindowMs <= 0) return out;
  const deadline = deps.nowMs() + ctx.observe.probeWindowMs;
  for (let i = 0; i < ctx.observe.maxProbesPerPoll && deps.nowMs() < deadline; i++) {
    const started = deps.nowMs();
    out.push(await deps.listenerProbe(ctx.clientProbeUrl, cluster));
    // Paced from each request's start: a slow answer is not followed by a burst.
    const pause = ctx.observe.probeEveryMs - (deps.nowMs() - started);
    if (pause > 0 && deps.nowMs() + pause < deadline) await deps.sleep(pause);
  }
  return out;
}

export async function observe(deps: FailoverDrillDeps, event: Ev): Promise<ObserveMark> {
  const ctx = ctxOf(event);
  const { plan } = preOf(event);
  const injection = injectionOf(event);
  const prev = (event.loop ?? {}) as Partial<ObserveMark> & { at?: string };
  const { cluster } = await clusterOf(deps, ctx);
  const startedMs = deps.nowMs();
  const clientSamples = await probeClients(deps, ctx, cluster);
  const [s, alarms] = await Promise.all([snapshot(deps, cluster), ctx.stopOnAlarms.length > 0 ? deps.alarms(ctx.stopOnAlarms) : Promise.resolve([])]);
  const nowMs = deps.nowMs();
  return observeStep(
    { ...prev, at: prev.at ?? iso(startedMs) },
    {
      poll: pollOf(s, nowMs),
      nowMs,
      fault: { oldInstanceId: plan.oldInstanceId, injectedAt: injection.injectedAt },
      budget: ctx.observe,
      maxSplitBrainSeconds: ctx.maxSplitBrainSeconds,
      alarms,
      clientSamples,
      measuresClients: ctx.clientProbeUrl !== '',
      sealedGraceMs: ctx.sealedGraceMs,
    },
  );
}
