/**
 * One run of one failover-benchmark cell, in this process: a sandbox with
 * Vault's real DynamoDB HA timings compressed by `speed`, the cell's ALB
 * settings and setup, clients sending a request through the listener every
 * CLIENT_INTERVAL_MS, the fault at a random phase, then observation until the
 * clients have been fine for a while (bounded). Returns the run's metrics in
 * real-world milliseconds.
 */
import { BEFORE_FAULT_MS, CHART_BUCKET_MS, bucketClientSamples, firstRegistrationChange, type ClientBuckets } from './charts/failover-chart.js';
import http from 'node:http';
import { policySchema, routingSchema } from '../functions/config/schema.js';
import { Sandbox, RECOMMENDED_CLASSIC_HEALTH_CHECK, RECOMMENDED_TARGET_GROUP, type SandboxOptions, type SandboxSlot } from '../sandbox/environment.js';
import { CLASSIC_DEFAULT_HEALTH_CHECK } from '../sandbox/aws/classic-elb.js';
import { readControllerDeployment, type LambdaDeployment } from '../sandbox/controller-loop.js';
import { sleep } from '../sandbox/sim/index.js';
import {
  clientRto,
  failedRequests,
  firstAfter,
  maxGap,
  lbOf,
  type BenchAlb,
  type BenchLb,
  type BenchSetup,
  type CellKey,
  type ClientRequest,
  type RunMetrics,
} from './failover-stats.js';

/** Real-world ms between client requests (each is sent on time, whether or not the previous one answered). */
export const CLIENT_INTERVAL_MS = 100;
/** Real-world ms before a client gives up on a request (it then counts as failed). */
export const CLIENT_TIMEOUT_MS = 10_000;
/** Real-world ms between routing samples (target group + nodes). */
export const SAMPLE_INTERVAL_MS = 100;
/** Warm-up before the fault: a fixed part, then a random part that spans the health-check interval and many lock renewals. */
export const WARMUP_FIXED_MS = 10_000;
export const WARMUP_RANDOM_MS = 30_000;
/** Observation ends once clients have succeeded for this long after the last failure (and at least MIN_OBSERVE_MS after the fault). */
export const QUIET_MS = 30_000;
export const MIN_OBSERVE_MS = 60_000;
/** Hard bound on observation after the fault. */
export const MAX_OBSERVE_MS = 300_000;
/** Client requests allowed in flight at once (a bound, far above what a healthy listener needs). */
const MAX_IN_FLIGHT = 400;

/** The ALB axis: AWS's defaults and the aggressive settings (the README's recommended timings). */
export const ALB_SETTINGS: Record<
  BenchAlb,
  { intervalSeconds: number; timeoutSeconds: number; healthyThresholdCount: number; unhealthyThresholdCount: number; deregistrationDelaySeconds: number }
> = {
  // ELB's defaults for an HTTP target group (DESIGN §3.5): interval 30 s, timeout 5 s, healthy 5, unhealthy 2, deregistration delay 300 s.
  'aws-default': { intervalSeconds: 30, timeoutSeconds: 5, healthyThresholdCount: 5, unhealthyThresholdCount: 2, deregistrationDelaySeconds: 300 },
  aggressive: {
    intervalSeconds: RECOMMENDED_TARGET_GROUP.intervalSeconds,
    timeoutSeconds: RECOMMENDED_TARGET_GROUP.timeoutSeconds,
    healthyThresholdCount: RECOMMENDED_TARGET_GROUP.healthyThresholdCount,
    unhealthyThresholdCount: RECOMMENDED_TARGET_GROUP.unhealthyThresholdCount,
    deregistrationDelaySeconds: RECOMMENDED_TARGET_GROUP.deregistrationDelaySeconds,
  },
};

type HealthSettings = (typeof ALB_SETTINGS)[BenchAlb];

/**
 * The `alb` axis per balancer (`--lb`): AWS's defaults and the README's
 * recommended settings of each. Classic: the console's defaults (interval 30 s,
 * timeout 5 s, unhealthy 2, healthy 10; a new instance needs the healthy
 * threshold too) and RECOMMENDED_CLASSIC_HEALTH_CHECK; it has no deregistration
 * delay (connection draining only lets requests in flight finish). NLB: the
 * HTTP health check's defaults (interval 30 s, timeout 6 s, healthy 5,
 * unhealthy 2, deregistration delay 300 s) and the ALB's recommended timings.
 */
export const LB_SETTINGS: Record<BenchLb, Record<BenchAlb, HealthSettings>> = {
  alb: ALB_SETTINGS,
  classic: {
    'aws-default': {
      intervalSeconds: CLASSIC_DEFAULT_HEALTH_CHECK.intervalSeconds,
      timeoutSeconds: CLASSIC_DEFAULT_HEALTH_CHECK.timeoutSeconds,
      healthyThresholdCount: CLASSIC_DEFAULT_HEALTH_CHECK.healthyThreshold,
      unhealthyThresholdCount: CLASSIC_DEFAULT_HEALTH_CHECK.unhealthyThreshold,
      deregistrationDelaySeconds: 0,
    },
    aggressive: {
      intervalSeconds: RECOMMENDED_CLASSIC_HEALTH_CHECK.intervalSeconds,
      timeoutSeconds: RECOMMENDED_CLASSIC_HEALTH_CHECK.timeoutSeconds,
      healthyThresholdCount: RECOMMENDED_CLASSIC_HEALTH_CHECK.healthyThreshold,
      unhealthyThresholdCount: RECOMMENDED_CLASSIC_HEALTH_CHECK.unhealthyThreshold,
      deregistrationDelaySeconds: 0,
    },
  },
  'nlb-ip': {
    'aws-default': { intervalSeconds: 30, timeoutSeconds: 6, healthyThresholdCount: 5, unhealthyThresholdCount: 2, deregistrationDelaySeconds: 300 },
    aggressive: ALB_SETTINGS.aggressive,
  },
};

/** How long a run observes after the fault: enough for the balancer's slowest way back (a Classic healthy threshold of 10 × 30 s), at least MAX_OBSERVE_MS. */
export function maxObserveMs(lb: BenchLb, hc: HealthSettings): number {
  if (lb === 'alb') return MAX_OBSERVE_MS;
  return Math.max(MAX_OBSERVE_MS, ((hc.healthyThresholdCount + hc.unhealthyThresholdCount + 2) * hc.intervalSeconds + 60) * 1000);
}

/** The routing the controller ships with (the config schema's default). */
export const DEFAULT_ROUTING = routingSchema.parse(undefined);
/** policy.probeIntervalSeconds as shipped (the detection target is relative to it). */
export const DEFAULT_PROBE_INTERVAL_SECONDS = policySchema.parse({}).probeIntervalSeconds;

export interface SetupSpec {
  controller: boolean;
  routing?: 'active-only' | 'all-unsealed';
  matcher: string;
  path: string;
  initialTargets: 'active' | 'unsealed';
}

/**
 * What each setup means: routing, matcher and what the target group holds before
 * the fault. `defaultRouting` replaces the schema's default for the `default`
 * setup (to try a candidate default before shipping it).
 */
export function setupSpec(setup: BenchSetup, defaultRouting: 'active-only' | 'all-unsealed' = DEFAULT_ROUTING, lb: BenchLb = 'alb'): SetupSpec {
  if (lb === 'classic' && setup === 'default') {
    // Classic has no matcher: `standbyok=true` is its way to pass an unsealed standby (README "Classic Load Balancer").
    return { controller: true, routing: defaultRouting, matcher: '200', path: RECOMMENDED_CLASSIC_HEALTH_CHECK.healthCheckPath, initialTargets: defaultRouting === 'active-only' ? 'active' : 'unsealed' };
  }
  switch (setup) {
    case 'classic':
      return { controller: false, matcher: '200', path: '/v1/sys/health', initialTargets: 'unsealed' };
    case 'active-only':
      return { controller: true, routing: 'active-only', matcher: '200', path: '/v1/sys/health', initialTargets: 'active' };
    case 'all-unsealed':
      return { controller: true, routing: 'all-unsealed', matcher: '200', path: '/v1/sys/health', initialTargets: 'unsealed' };
    case 'default':
      return {
        controller: true,
        routing: defaultRouting,
        matcher: RECOMMENDED_TARGET_GROUP.matcher,
        path: RECOMMENDED_TARGET_GROUP.healthCheckPath,
        initialTargets: defaultRouting === 'active-only' ? 'active' : 'unsealed',
      };
  }
}

export interface RunJob {
  cell: CellKey;
  run: number;
  seed: number;
  speed: number;
  /** Default: read from serverless.yml. */
  deployment?: LambdaDeployment;
  /** The `default` setup's routing (default: the config schema's). */
  defaultRouting?: 'active-only' | 'all-unsealed';
  /** Also return the sandbox timeline (real-world seconds from the fault). */
  timeline?: boolean;
}

export interface RunOutcome {
  cell: CellKey;
  run: number;
  seed: number;
  speed: number;
  metrics?: RunMetrics;
  /** Client requests per 500 ms bucket, real-world ms from the fault (for the charts). */
  client?: ClientBuckets;
  error?: string;
  /** Real-world ms from the start of warm-up to the fault, and of observation after it. */
  warmupMs?: number;
  observedMs?: number;
  /** Scheduled-controller figures: invocations started, throttled, timed out; ticks. */
  lambda?: { invocations: number; throttled: number; dropped: number; timedOut: number; failed: number; ticks: number };
  wallMs: number;
  timeline?: string[];
}

/** mulberry32: a small seeded PRNG, so a run's random phases can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Sample {
  atMs: number;
  /** Non-draining registered targets with their ALB state. */
  registered: Array<{ id: string; state: string }>;
  /** Instances whose node claims active. */
  claimants: string[];
  /** Instances the balancer routes a new request to (healthy, or fail-open; never an `initial` one). */
  routed: string[];
  unsealedAlive: number;
}

export async function runOnce(job: RunJob): Promise<RunOutcome> {
  const wallStart = Date.now();
  const random = seededRandom(job.seed);
  const lb = lbOf(job.cell);
  const spec = setupSpec(job.cell.setup, job.defaultRouting, lb);
  const alb = LB_SETTINGS[lb][job.cell.alb];
  const observeCapMs = maxObserveMs(lb, alb);
  const scale = 1 / job.speed;
  const real = (worldMs: number): number => worldMs * scale;
  const world = (realMs: number): number => realMs * job.speed;
  const opts: SandboxOptions = {
    ha: 'dynamodb',
    lb,
    fast: true,
    speed: job.speed,
    controller: spec.controller ? 'scheduled' : 'none',
    schedule: { deployment: job.deployment ?? readControllerDeployment(), phase: random() },
    ...(spec.routing ? { routing: spec.routing } : {}),
    healthCheck: {
      path: spec.path,
      matcher: spec.matcher,
      intervalSeconds: alb.intervalSeconds,
      timeoutSeconds: alb.timeoutSeconds,
      healthyThresholdCount: alb.healthyThresholdCount,
      unhealthyThresholdCount: alb.unhealthyThresholdCount,
    },
    deregistrationDelaySeconds: alb.deregistrationDelaySeconds,
    initialTargets: spec.initialTargets,
    clientProbe: false,
    random,
  };
  const sb = new Sandbox(opts);
  const requests: ClientRequest[] = [];
  const samples: Sample[] = [];
  let stopClients = false;
  let inFlight = 0;
  const base: Pick<RunOutcome, 'cell' | 'run' | 'seed' | 'speed'> = { cell: job.cell, run: job.run, seed: job.seed, speed: job.speed };
  try {
    await sb.start();
    const url = `${sb.listenerUrl}/v1/secret/data/bench`;
    const clientLoop = (async () => {
      const start = Date.now();
      for (let k = 0; !stopClients && k < 10_000_000; k++) {
        const due = start + k * real(CLIENT_INTERVAL_MS);
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        if (stopClients) break;
        if (inFlight >= MAX_IN_FLIGHT) continue;
        inFlight += 1;
        void request(url, real(CLIENT_TIMEOUT_MS)).then((r) => {
          inFlight -= 1;
          requests.push(r);
        });
      }
    })();
    const sampler = setInterval(() => samples.push(sample(sb)), Math.max(1, real(SAMPLE_INTERVAL_MS)));

    // --- warm-up: a random phase of the health checks, the lock renewals and the schedule ---
    const warmupStart = Date.now();
    await sleep(real(WARMUP_FIXED_MS + random() * WARMUP_RANDOM_MS));
    const old = sb.activeSlot();
    if (old === undefined) throw new Error('no single active node before the fault');
    const oldId = sb.instanceOf(old.name);

    // --- the fault ---
    const faultAt = Date.now();
    if (job.cell.scenario === 'kill-active') await sb.killVault(old.name);
    else {
      sb.record('fault', `step-down ${old.name} (sys/step-down)`);
      await old.node.stepDown();
    }

    // --- observe until the clients have been fine for QUIET_MS (bounded) ---
    for (let i = 0; i < 100_000; i++) {
      await sleep(Math.max(5, real(500)));
      const now = Date.now();
      const lastFailure = Math.max(faultAt, ...requests.filter((r) => !r.ok).map((r) => r.endAtMs));
      const newActive = activeOtherThan(sb, old);
      if (now - faultAt >= real(observeCapMs)) break;
      if (now - faultAt >= real(MIN_OBSERVE_MS) && now - lastFailure >= real(QUIET_MS) && newActive !== undefined) break;
    }
    const endAt = Date.now();
    stopClients = true;
    clearInterval(sampler);
    await clientLoop;
    // Requests still in flight end by their timeout: wait for them (bounded).
    for (let i = 0; i < 1_000 && inFlight > 0; i++) await sleep(Math.max(5, real(200)));

    const metrics = measure({ sb, old, oldId, faultAt, warmupStart, endAt, requests, samples, world });
    const client = bucketClientSamples(
      requests.filter((r) => r.sentAtMs >= warmupStart).map((r) => ({ atMs: world(r.sentAtMs - faultAt), ok: r.ok })),
      { bucketMs: CHART_BUCKET_MS, startMs: -BEFORE_FAULT_MS, endMs: world(endAt - faultAt) },
    );
    const lambda = lambdaFigures(sb);
    const timeline = job.timeline ? debugTimeline(sb, requests, warmupStart, faultAt, world) : undefined;
    return {
      ...base,
      metrics,
      client,
      warmupMs: world(faultAt - warmupStart),
      observedMs: world(endAt - faultAt),
      ...(lambda ? { lambda } : {}),
      wallMs: Date.now() - wallStart,
      ...(timeline ? { timeline } : {}),
    };
  } catch (err) {
    return { ...base, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err), wallMs: Date.now() - wallStart };
  } finally {
    stopClients = true;
    await sb.stop();
  }
}

function activeOtherThan(sb: Sandbox, old: SandboxSlot): SandboxSlot | undefined {
  const a = sb.activeSlot();
  return a && a !== old ? a : undefined;
}

function sample(sb: Sandbox): Sample {
  // By instance id (an `ip` target is its node's IP) and in the state the controller reads.
  const registered = sb.registeredTargets().map((r) => ({ id: r.instanceId, state: r.state }));
  const claimants: string[] = [];
  let unsealedAlive = 0;
  for (const s of sb.slots) {
    const st = s.node.status();
    if (st.running && !st.sealed) unsealedAlive += 1;
    if (!s.node.isActive()) continue;
    const host = sb.runtime.hostOf(s.node);
    if (host !== undefined) claimants.push(host);
  }
  return { atMs: Date.now(), registered, claimants, routed: sb.routedInstances(), unsealedAlive };
}

function request(url: string, timeoutMs: number): Promise<ClientRequest> {
  return new Promise((resolve) => {
    const sentAtMs = Date.now();
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ sentAtMs, endAtMs: Date.now(), ok });
    };
    const req = http.get(url, { agent: false }, (res) => {
      const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
      res.resume();
      res.on('end', () => finish(ok));
      res.on('error', () => finish(false));
    });
    const timer = setTimeout(() => {
      finish(false);
      req.destroy();
    }, timeoutMs);
    req.on('error', () => finish(false));
  });
}

function measure(m: {
  sb: Sandbox;
  old: SandboxSlot;
  oldId: string | undefined;
  faultAt: number;
  warmupStart: number;
  endAt: number;
  requests: ClientRequest[];
  samples: Sample[];
  world: (realMs: number) => number;
}): RunMetrics {
  const { sb, old, faultAt, world } = m;
  const requests = m.requests.filter((r) => r.sentAtMs >= m.warmupStart);
  const rto = clientRto(requests, faultAt);
  const elections = sb.slots
    .filter((s) => s !== old)
    .flatMap((s) => s.node.events().filter((e) => e.kind === 'became-active').map((e) => ({ slot: s, atMs: e.atMs })))
    .filter((e) => e.atMs >= faultAt)
    .sort((a, b) => a.atMs - b.atMs);
  const elected = elections[0];
  const newId = elected ? sb.runtime.hostOf(elected.slot.node) : undefined;
  const after = m.samples.filter((s) => s.atMs >= faultAt);
  const registeredAt = newId === undefined ? undefined : after.find((s) => s.registered.some((r) => r.id === newId))?.atMs;
  const healthyAt = newId === undefined ? undefined : after.find((s) => s.registered.some((r) => r.id === newId && r.state === 'healthy'))?.atMs;
  const observed = m.samples.filter((s) => s.atMs >= m.warmupStart && s.atMs <= m.endAt);
  const emptyTargetGroupSamples = observed.filter((s) => s.registered.length === 0 && s.unsealedAlive > 0).length;
  const twoActivesRoutedSamples = observed.filter((s) => s.routed.filter((id) => s.claimants.includes(id)).length >= 2).length;
  const probes = sb.controller.probes.map((p) => p.atMs).filter((t) => t >= m.warmupStart && t <= m.endAt);
  const controller = sb.controller.lambdaEvents.length > 0 || probes.length > 0;
  const detection = firstAfter(probes, faultAt);
  const change = firstRegistrationChange(m.samples, faultAt);
  return {
    clientRtoMs: world(rto.rtoMs),
    ...(change !== undefined ? { firstRegistrationChangeMs: world(change - faultAt) } : {}),
    recovered: rto.recovered,
    failedRequests: failedRequests(requests, faultAt),
    requests: requests.length,
    ...(elected ? { electedMs: world(elected.atMs - faultAt) } : {}),
    ...(registeredAt !== undefined && elected ? { registeredMs: world(Math.max(registeredAt, elected.atMs) - faultAt) } : {}),
    ...(healthyAt !== undefined && elected ? { albHealthyMs: world(Math.max(healthyAt, elected.atMs) - faultAt) } : {}),
    ...(controller && detection !== undefined ? { detectionMs: world(detection) } : {}),
    ...(controller ? { maxProbeGapMs: world(maxGap([m.warmupStart, ...probes, m.endAt].filter((t) => t >= (probes[0] ?? m.warmupStart)))) } : {}),
    emptyTargetGroupSamples,
    twoActivesRoutedSamples,
    samples: observed.length,
  };
}

function lambdaFigures(sb: Sandbox): RunOutcome['lambda'] | undefined {
  const ev = sb.controller.lambdaEvents;
  if (ev.length === 0) return undefined;
  const count = (k: string): number => ev.filter((e) => e.kind === k).length;
  return {
    invocations: count('invoked'),
    throttled: count('throttled'),
    dropped: count('dropped'),
    timedOut: count('timed-out'),
    failed: count('failed'),
    ticks: sb.controller.tickLog.length,
  };
}

/** Debug view (`timeline: true`): the sandbox timeline and, per real-world second, the client requests that failed. */
function debugTimeline(sb: Sandbox, requests: ClientRequest[], fromMs: number, faultAt: number, world: (realMs: number) => number): string[] {
  const at = (t: number): string => `${(world(t - faultAt) / 1000).toFixed(2).padStart(8)} s`;
  const lines = sb.timeline.filter((e) => e.atMs >= fromMs).map((e) => ({ t: e.atMs, line: `${at(e.atMs)} ${e.kind.padEnd(12)} ${e.detail}` }));
  const buckets = new Map<number, { ok: number; failed: number }>();
  for (const r of requests) {
    if (r.sentAtMs < fromMs) continue;
    const b = Math.floor(world(r.sentAtMs - faultAt) / 1000);
    const v = buckets.get(b) ?? { ok: 0, failed: 0 };
    if (r.ok) v.ok += 1;
    else v.failed += 1;
    buckets.set(b, v);
  }
  for (const [b, v] of buckets) {
    if (v.failed > 0) lines.push({ t: faultAt + (b * 1000) / world(1), line: `${at(faultAt + (b * 1000) / world(1))} clients      ${v.failed} failed, ${v.ok} ok` });
  }
  return lines.sort((a, b) => a.t - b.t).map((l) => l.line);
}
