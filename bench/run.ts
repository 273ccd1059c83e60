/**
 * `npm run bench`: prints speed and memory figures. Nothing here asserts: the
 * numbers are for the closing notes and for spotting regressions by eye.
 *   npm run bench             core decisions, one controller tick end to end, bundle sizes
 *   npm run bench -- --rto    also the sandbox failover RTO with Vault's real lock timings (slow, ~2 min)
 *   npm run bench -- --failover [--runs N] [--only scenario/alb/setup,...] [--speed S]
 *                             only the failover benchmark (bench/failover.ts; ~9 min on 2 cores, `--runs 1` ~2 min)
 *   npm run bench -- --footprint
 *                             bundle sizes, init time, tick time and RSS at scale, monthly cost model (bench/footprint.ts)
 *   npm run bench -- --scale [--memory MB] [--budget-ms N] [--only 1x3,10x5,100x5,shard] [--hanging 0,0.1]
 *                             one controller invocation at 1x3, 10x5, 100x5 and one shard of 1,000x5, 0 and 10 % hanging
 *                             nodes: tick time, AWS calls per tick, peak RSS (bench/scale.ts; ~3 min)
 */
import { performance } from 'node:perf_hooks';
import { classifyHealth } from '../functions/core/classify.js';
import { observeLock } from '../functions/core/lock.js';
import { assessLeadership } from '../functions/core/assess.js';
import { planRegistrations } from '../functions/core/plan.js';
import { rememberTick, tickMemoryOf, updateFailureCounts } from '../functions/core/history.js';
import type { ClusterHistory, Member, ProbeResult, TargetView } from '../functions/core/types.js';
import { ControllerHarness } from '../test/e2e/support/controller-harness.js';

// Local endpoints only: dummy credentials keep the SDK away from instance metadata.
process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

function benchCore(iterations: number): void {
  const nowMs = Date.now();
  const ids = ['i-0a', 'i-0b', 'i-0c', 'i-0d', 'i-0e'];
  const addr = (id: string) => `https://${id}.vault.internal:8200`;
  const members: Member[] = ids.map((instanceId) => ({ instanceId, state: 'running', address: addr(instanceId) }));
  const probes: ProbeResult[] = ids.map((id, i) => ({
    address: addr(id),
    health: {
      ok: true,
      status: i === 0 ? 200 : 429,
      latencyMs: 3,
      body: { initialized: true, sealed: false, standby: i !== 0, performance_standby: false, version: '1.19.0', ha_connection_healthy: true, clock_skew_ms: 0 },
    },
    leader: { ok: true, status: 200, latencyMs: 3, body: { ha_enabled: true, is_self: i === 0, leader_address: addr('i-0a') } },
  }));
  const targets: TargetView[] = [{ instanceId: 'i-0a', state: 'healthy' }];
  const lockRead = { type: 'dynamodb' as const, table: 't', present: true as const, identity: 'id-1', value: 'v-1', expiresAtNs: ((BigInt(nowMs) + 15_000n) * 1_000_000n).toString() };
  let history: ClusterHistory = { ticks: [], failureCounts: {} };
  const policy = { breakLockAfterTicks: 3, flappingChanges: 3, flappingWindowTicks: 12 };

  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const nodes = members.map((member, k) => classifyHealth({ member, probe: probes[k]! }));
    const failureCounts = updateFailureCounts(history.failureCounts, nodes);
    const lock = observeLock(lockRead, nowMs, 1000);
    const verdict = assessLeadership({ nodes, lock, history, haType: 'dynamodb', nowMs, policy });
    planRegistrations({ nodes, verdict, targets, failureCounts, policy: { routing: 'active-only', unhealthyThreshold: 2, dryRun: false, fencing: 'deregister' } });
    history = rememberTick({ ticks: history.ticks, failureCounts }, tickMemoryOf(verdict, nowMs));
  }
  const ms = performance.now() - t0;
  console.log(`core: ${iterations} decisions (5 nodes: classify+lock+assess+plan+history) in ${ms.toFixed(0)} ms`);
  console.log(`core: ${((ms * 1000) / iterations).toFixed(1)} µs per decision, ${Math.round(iterations / (ms / 1000))} decisions/s`);
  console.log(`core: heap delta ${mib(process.memoryUsage().heapUsed - heapBefore)} (history bounded at ${history.ticks.length} ticks)`);
}

async function benchTick(ticks: number): Promise<void> {
  const h = new ControllerHarness();
  await h.start();
  try {
    await h.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && h.registered.size === 1, { maxTicks: 20 });
    const inside: number[] = [];
    const wall: number[] = [];
    for (let i = 0; i < ticks; i++) {
      const t0 = performance.now();
      const r = await h.tick();
      wall.push(performance.now() - t0);
      inside.push(r.clusters[0]!.tickDurationMs);
    }
    console.log(
      `tick (3 simulated nodes over HTTP, dynalite lock + control table, mocked EC2/ELB): ` +
        `p50 ${quantile(inside, 0.5).toFixed(0)} ms, p95 ${quantile(inside, 0.95).toFixed(0)} ms, max ${Math.max(...inside).toFixed(0)} ms ` +
        `(whole invocation p50 ${quantile(wall, 0.5).toFixed(0)} ms) over ${ticks} ticks`,
    );
  } finally {
    await h.stop();
  }
}

async function benchBundles(): Promise<void> {
  const { buildAll } = await import('../scripts/build.mjs');
  const results = await buildAll({ quiet: true });
  for (const r of results) console.log(`bundle ${r.name}: ${(r.bundleBytes / 1024).toFixed(0)} KiB minified ESM, ${(r.zipBytes / 1024).toFixed(0)} KiB zipped`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--failover')) {
    const { runFailoverBench } = await import('./failover.js');
    await runFailoverBench(process.argv.slice(2));
    return;
  }
  if (process.argv.includes('--charts')) {
    const { chartsCli } = await import('./charts/cli.js');
    await chartsCli(process.argv.slice(2));
    return;
  }
  if (process.argv.includes('--scale')) {
    await (await import('./scale.js')).runScaleBench(process.argv.slice(2));
    return;
  }
  if (process.argv.includes('--footprint')) {
    await (await import('./footprint.js')).runFootprintBench(process.argv.slice(2));
    return;
  }
  benchCore(20_000);
  await benchTick(30);
  await benchBundles();
  if (process.argv.includes('--rto')) {
    const { benchRto } = await import('./rto.js');
    await benchRto();
  }
  const m = process.memoryUsage();
  console.log(`process: rss ${mib(m.rss)}, heap used ${mib(m.heapUsed)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
