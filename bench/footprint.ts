/**
 * `npm run bench -- --footprint`: what the functions weigh and what they cost.
 *
 *   1. Bundle size per function (every file of its zip, and the part loaded at
 *      module init), with the top contributors from esbuild's metafile.
 *   2. Module init of the exact built bundle: median of 10 fresh processes.
 *   3. The controller bundle at 100 clusters x 5 nodes, once per Lambda memory
 *      setting: peak RSS and tick time (first and steady), in a fresh process
 *      capped at the setting's heap. Nodes are tiny HTTP servers answering
 *      /v1/sys/health and /v1/sys/leader; EC2 and ELBv2 are the sandbox's local
 *      endpoints, DynamoDB is dynalite; the bundle reaches them through the SDK's
 *      standard AWS_ENDPOINT_URL_* variables, as it would reach AWS.
 *   4. The monthly cost model for 1, 10 and 100 clusters, from list prices and
 *      per-tick call counts that are constants below (the tick's call pattern is
 *      measured by `npm run bench -- --scale`: edit CALL_PROFILES when it changes).
 *
 * Options: --memory 128,256,512,1024,1769  --clusters 100  --nodes 5  --skip-tick
 * (1 x 3 and 10 x 5 run once, at the smallest setting; the full fleet at each.)
 * Nothing here asserts; every target is printed as met / not met.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { buildAll, esbuildOptions, initialFiles, type BuiltFunction } from '../scripts/build.mjs';
import { formatMetrics, seriesCount } from '../functions/adapters/metrics.js';
import { FULL_VCPU_MB, LAMBDA_LINE_PREFIX_BYTES, NODE, WORKER, baseEnv, median, repoRoot, run, runTicks, startFleet, type TickRun } from './scale-fleet.js';

/* ------------------------------------------------------------------ targets */

export const TARGETS = {
  bundleBytes: 400_000,
  initMs: 150,
  seriesPerCluster: 6,
  oneClusterUsdPerMonth: 8,
  usdPerClusterAt100: 1,
};

/** Measured at commit 2f2bfec (before this work) with the same script: one minified ESM file per function. */
export const BEFORE = {
  bundleKiB: { controller: 2448, replaceNodeTasks: 2454, failoverDrillTasks: 2469 } as Record<string, number>,
  topContributors: 'EC2 client CommonJS build 1,031 KiB, zod (classic) 446 KiB, SSM client CJS 208 KiB',
  initMs: '328-382',
  seriesOneCluster: 20,
};

/* ------------------------------------------------------------------ helpers */

const kib = (b: number) => `${(b / 1024).toFixed(0)} KiB`;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const usd = (x: number) => `$${x < 0.01 && x > 0 ? x.toFixed(4) : x.toFixed(2)}`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
/** The files of a zip written by scripts/zip.mjs (stored or deflated entries). */
export function unzip(buf: Buffer): Array<{ name: string; data: Buffer }> {
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd -= 1;
  if (eocd < 0) throw new Error('not a zip: no end of central directory');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out: Array<{ name: string; data: Buffer }> = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('bad central directory entry');
    const method = buf.readUInt16LE(p + 10);
    const compressed = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(dataStart, dataStart + compressed);
    out.push({ name, data: method === 8 ? inflateRawSync(raw) : Buffer.from(raw) });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Bytes in the output per package (or per project folder), over the given output files. */
export function contributors(meta: Metafile, outputs?: Set<string>): Array<[string, number]> {
  const by = new Map<string, number>();
  for (const [key, out] of Object.entries(meta.outputs)) {
    if (outputs && !outputs.has(key)) continue;
    for (const [input, v] of Object.entries(out.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
      const name = m ? m[1]! : input.split('/').slice(0, 2).join('/');
      by.set(name, (by.get(name) ?? 0) + v.bytesInOutput);
    }
  }
  return [...by].sort((a, b) => b[1] - a[1]);
}

/* ------------------------------------------------------------------ 1b: the AWS SDK's floor */

export interface SdkUse {
  /** `client-ec2`, ... */
  pkg: string;
  commands: string[];
  /** Reached only through `import()` in the function (no initial output holds it). */
  lazy: boolean;
}

/** The AWS SDK clients and commands a function's bundle holds, from its metafile. */
export function sdkUseOf(meta: Metafile, initial: Set<string>): SdkUse[] {
  const uses = new Map<string, { commands: Set<string>; atInit: boolean }>();
  for (const [key, out] of Object.entries(meta.outputs)) {
    for (const input of Object.keys(out.inputs)) {
      const m = /node_modules\/@aws-sdk\/(client-[^/]+)\/dist-es\/(?:commands\/(\w+Command)\.js)?/.exec(input);
      if (!m) continue;
      const u = uses.get(m[1]!) ?? { commands: new Set<string>(), atInit: false };
      if (m[2]) u.commands.add(m[2]);
      if (initial.has(key)) u.atInit = true;
      uses.set(m[1]!, u);
    }
  }
  return [...uses].filter(([, u]) => u.commands.size > 0).map(([pkg, u]) => ({ pkg, commands: [...u.commands].sort(), lazy: !u.atInit }));
}

/**
 * A handler that does nothing but construct the same clients and send each
 * command once: what the SDK alone weighs in our build. A client the function
 * loads lazily sits in a module of its own that the handler reaches through
 * `import()`, as the function's adapters do (an `import()` of the client
 * package itself would keep every command of it).
 */
export function sdkFloorSource(uses: SdkUse[], clientClassOf: (pkg: string) => string): { entry: string; modules: Record<string, string> } {
  const imports: string[] = [];
  const body: string[] = [];
  const modules: Record<string, string> = {};
  uses.forEach((u, i) => {
    const cls = clientClassOf(u.pkg);
    const sends = [`  const c = new ${cls}({});`, ...u.commands.map((c) => `  await c.send(new ${c}({})).catch(() => undefined);`)];
    const fn = `export async function use${i}() {\n${sends.join('\n')}\n}\n`;
    const importLine = `import { ${[cls, ...u.commands].join(', ')} } from '@aws-sdk/${u.pkg}';\n`;
    if (u.lazy) {
      modules[`lazy-${i}.mjs`] = importLine + fn;
      body.push(`  await (await import('./lazy-${i}.mjs')).use${i}();`);
    } else {
      imports.push(importLine + fn.replace('export async function', 'async function'));
      body.push(`  await use${i}();`);
    }
  });
  return { entry: `${imports.join('')}export const handler = async () => {\n${body.join('\n')}\n};\n`, modules };
}

function clientClassOf(pkg: string): string {
  const index = readFileSync(path.join(repoRoot, 'node_modules', '@aws-sdk', pkg, 'dist-es', 'index.js'), 'utf8');
  const m = /export \* from "\.\/(\w+Client)"/.exec(index);
  if (!m) throw new Error(`@aws-sdk/${pkg}: no client class in dist-es/index.js`);
  return m[1]!;
}

export interface SdkFloor {
  bytes: number;
  initBytes: number;
  uses: SdkUse[];
}

/** Builds the floor handler of one function with the functions' own esbuild options. */
export async function buildSdkFloor(name: string, meta: Metafile, initial: Set<string>, dir: string): Promise<SdkFloor> {
  const uses = sdkUseOf(meta, initial);
  const src = sdkFloorSource(uses, clientClassOf);
  dir = path.join(dir, name);
  await mkdir(dir, { recursive: true });
  const entry = path.join(dir, `${name}-sdk-floor.mjs`);
  await writeFile(entry, src.entry);
  for (const [file, text] of Object.entries(src.modules)) await writeFile(path.join(dir, file), text);
  const modulePath = `${name}-sdk-floor`;
  const out = await build({ ...esbuildOptions({ entry, modulePath }, path.join(dir, `${name}-floor.out`)), nodePaths: [path.join(repoRoot, 'node_modules')] });
  const entryKey = Object.keys(out.metafile.outputs).find((k) => k.endsWith(`/${modulePath}.mjs`))!;
  const init = initialFiles(out.metafile, entryKey);
  let bytes = 0;
  let initBytes = 0;
  for (const [k, o] of Object.entries(out.metafile.outputs)) {
    bytes += o.bytes;
    if (init.has(k)) initBytes += o.bytes;
  }
  return { bytes, initBytes, uses };
}

/* ------------------------------------------------------------------ 1 + 2: sizes and init */

interface InitResult {
  name: string;
  importMs: number[];
  sinceStartMs: number[];
}

async function measureInit(fn: BuiltFunction, dir: string, runs: number): Promise<InitResult> {
  const files = unzip(await readFile(fn.zipPath));
  const root = path.join(dir, fn.name);
  for (const f of files) {
    const target = path.join(root, f.name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, f.data);
  }
  const handler = path.join(root, fn.handlerFile);
  const r: InitResult = { name: fn.name, importMs: [], sinceStartMs: [] };
  for (let i = 0; i < runs; i++) {
    const { code, stdout, stderr } = await run(NODE, [WORKER, 'init', handler], baseEnv(), undefined, 60_000);
    if (code !== 0) throw new Error(`${fn.name}: init run failed (${code}): ${stderr.slice(0, 500)}`);
    const j = JSON.parse(stdout.trim().split('\n').pop()!) as { importMs: number; sinceProcessStartMs: number };
    r.importMs.push(j.importMs);
    r.sinceStartMs.push(j.sinceProcessStartMs);
  }
  return r;
}

/* ------------------------------------------------------------------ 3: 100 x 5 per memory setting (fleet: bench/scale-fleet.ts) */

export { FULL_VCPU_MB, LAMBDA_LINE_PREFIX_BYTES, type TickRun };
/** Memory settings the pick chooses from (MB). */
export const MEMORY_SETTINGS = [128, 256, 512, 1024, 1769, 3008];
/** A steady tick must fit in the probe timeout (2 s) + 1 s (issue 9). */
export const TICK_BUDGET_MS = 3000;

/** Tick time at `memoryMb` on Lambda: the CPU part stretched by the CPU share, the waiting part unchanged (a model). */
export function modeledTickMs(run: Pick<TickRun, 'steadyTickMs' | 'cpuMsPerTick'>, memoryMb: number): number {
  const stretch = Math.max(1, FULL_VCPU_MB / memoryMb);
  return run.steadyTickMs + run.cpuMsPerTick * (stretch - 1);
}

/* ------------------------------------------------------------------ 4: cost model */

/**
 * us-east-1 list prices (USD) the model assumes; free tiers are left out.
 * Sources: AWS Lambda pricing (Arm, first 7.5 billion GB-s), Amazon DynamoDB
 * pricing (on-demand, Standard table class, since the November 2024 reduction),
 * Amazon CloudWatch pricing (custom metrics first 10,000; standard-resolution
 * alarm metric; Standard log ingestion and storage), AWS Step Functions pricing
 * (Standard workflows), Amazon SNS pricing, Amazon VPC pricing (NAT gateway,
 * interface endpoints).
 */
export const PRICES = {
  lambdaGbSecondArm: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  ddbWriteRequestUnit: 0.625 / 1e6,
  ddbReadRequestUnit: 0.125 / 1e6,
  customMetricMonth: 0.3,
  alarmMetricMonth: 0.1,
  logIngestGb: 0.5,
  logStorageGbMonth: 0.03,
  sfnStateTransition: 0.025 / 1000,
  snsPublish: 0.5 / 1e6,
  natGatewayHour: 0.045,
  natGatewayGb: 0.045,
  interfaceEndpointHourPerAz: 0.01,
};

const SECONDS_PER_MONTH = 30 * 24 * 3600;

/**
 * DynamoDB work of one steady tick, per cluster and per tick for all clusters,
 * by kind: ADJUST when the tick's call pattern changes (issue 9 "Fewer calls").
 * `before` is the pattern measured before that work: lease PutItem (1 WRU), the
 * ~14 KB state PutItem (14 WRU), the observation PutItem (2 WRU), the lock and
 * pause GetItems (strongly consistent, 1 RRU each). `now` is what
 * `npm run bench -- --scale` measures today (write units counted from the
 * requests of an invocation that follows another, first tick and end of run
 * included: the claims, the deflated state, observations; per tick the run's
 * own lease; reads: the lock and pause items per cluster and the run lease in
 * one BatchGetItem, 1 RRU each, and once per run the claims and the
 * predecessor's run lease). `target` is the issue's goal: at most 0.2 WRU
 * per cluster on average and one read per cluster.
 * `logs`: which per-tick lines are billed (the EMF line carries the verdict,
 * node counts and tick time; the outcome line repeats much of it).
 */
export const CALL_PROFILES = {
  before: { perCluster: { wru: 17, rru: 2 }, perTick: { wru: 0, rru: 0 }, logs: 'every line' },
  // Claims kept between runs (2 writes per cluster and run); their read before a run takes them: 1 RRU per cluster and run (~1/12 per tick).
  now: { perCluster: { wru: 0.15, rru: 2.08 }, perTick: { wru: 0.39, rru: 1.08 }, logs: 'every line' },
  // Logs: the EMF line every tick, the outcome line only when something changed (proposed with the fewer-calls work).
  target: { perCluster: { wru: 0.2, rru: 1 }, perTick: { wru: 1, rru: 1 }, logs: 'EMF line only' },
} as const;
export type CallProfile = keyof typeof CALL_PROFILES;

export const COST_ASSUMPTIONS = {
  probeIntervalSeconds: 5,
  /** One scheduled run a minute; each lives until its successor takes over (a minute plus the handover). */
  invocationsPerMonth: SECONDS_PER_MONTH / 60,
  billedSecondsPerInvocation: 62,
  alarms: 4,
  /** Lambda's START/END/REPORT lines per invocation. */
  platformLogBytesPerInvocation: 400,
  /** Step Functions state transitions (every state entered counts), happy path with a few polls; estimates from the ASL. */
  transitionsPerReplacement: 80,
  transitionsPerDrill: 40,
  replacementsPerClusterMonth: 0.2,
  drillsPerClusterMonth: 1,
  notificationsPerClusterMonth: 20,
  /** Interface endpoints a private subnet without NAT needs: EC2, ELB, SNS, SSM, Step Functions (DynamoDB's gateway endpoint is free). */
  interfaceEndpoints: 5,
  availabilityZones: 2,
};

export interface CostLine {
  clusters: number;
  memoryMb: number;
  lambda: number;
  dynamodb: number;
  metrics: number;
  alarms: number;
  logs: number;
  stepFunctions: number;
  sns: number;
  total: number;
}

export function monthlyCost(clusters: number, memoryMb: number, profile: CallProfile, logBytesPerClusterTick: number, series = seriesCount(clusters)): CostLine {
  const a = COST_ASSUMPTIONS;
  const p = PRICES;
  const ticks = SECONDS_PER_MONTH / a.probeIntervalSeconds;
  const calls = CALL_PROFILES[profile];
  const lambda = a.invocationsPerMonth * ((memoryMb / 1024) * a.billedSecondsPerInvocation * p.lambdaGbSecondArm + p.lambdaRequest);
  const wru = ticks * (calls.perCluster.wru * clusters + calls.perTick.wru);
  const rru = ticks * (calls.perCluster.rru * clusters + calls.perTick.rru);
  const dynamodb = wru * p.ddbWriteRequestUnit + rru * p.ddbReadRequestUnit;
  const metrics = series * p.customMetricMonth;
  const alarms = a.alarms * p.alarmMetricMonth;
  const logGb = (ticks * clusters * logBytesPerClusterTick + a.invocationsPerMonth * a.platformLogBytesPerInvocation) / 1e9;
  // Kept 30 days (logRetentionInDays): about one month of logs is stored at any time.
  const logs = logGb * (p.logIngestGb + p.logStorageGbMonth);
  const stepFunctions = clusters * (a.replacementsPerClusterMonth * a.transitionsPerReplacement + a.drillsPerClusterMonth * a.transitionsPerDrill) * p.sfnStateTransition;
  const sns = clusters * a.notificationsPerClusterMonth * p.snsPublish;
  const total = lambda + dynamodb + metrics + alarms + logs + stepFunctions + sns;
  return { clusters, memoryMb, lambda, dynamodb, metrics, alarms, logs, stepFunctions, sns, total };
}

/** The EMF line of one cluster-tick as CloudWatch Logs stores it, when no run measured it. */
export function estimatedEmfBytes(): number {
  const emf = formatMetrics({
    cluster: 'prod-eu-1', stage: 'prod', verdict: 'healthy', counts: { active: 1, standby: 2 }, registeredTargets: 1, changes: 0,
    tickDurationMs: 120, probeLatencyMs: 8, probeBlind: false, nonHealthy: false, timestampMs: Date.now(),
  });
  return Buffer.byteLength(emf) + 1 + LAMBDA_LINE_PREFIX_BYTES;
}

/** Log bytes per cluster and tick when no run measured them: the EMF line plus the outcome line (~500 bytes). */
export function estimatedLogBytesPerClusterTick(): number {
  return estimatedEmfBytes() + 500 + 1 + LAMBDA_LINE_PREFIX_BYTES;
}

/* ------------------------------------------------------------------ main */

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

export async function runFootprintBench(argv: string[]): Promise<void> {
  const memories = (option(argv, '--memory') ?? '128,256,512,1024,1769').split(',').map(Number).filter((m) => m >= 128);
  const clusters = Number(option(argv, '--clusters') ?? 100);
  const nodes = Number(option(argv, '--nodes') ?? 5);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vault-ha-footprint-'));
  const summary: Array<[string, string, boolean]> = [];
  try {
    /* 1. sizes */
    const built = await buildAll({ quiet: true, outDir: path.join(dir, 'build') });
    console.log('== bundles (minified ESM; all files of the zip, and the part loaded at module init)');
    for (const fn of built) {
      const meta = JSON.parse(await readFile(fn.metafilePath, 'utf8')) as Metafile;
      const handlerKey = Object.keys(meta.outputs).find((k) => k.endsWith(`/${fn.handlerFile}`))!;
      const init = initialFiles(meta, handlerKey);
      console.log(
        `${fn.name}: ${kib(fn.bundleBytes)} in ${fn.files} files, ${kib(fn.initBytes)} at init, ${kib(fn.zipBytes)} zipped` +
          ` (before: ${BEFORE.bundleKiB[fn.name] ?? '?'} KiB in one file)`,
      );
      const top = contributors(meta).slice(0, 8).map(([n, b]) => `${n} ${kib(b)}`).join(', ');
      console.log(`  top: ${top}`);
      const topInit = contributors(meta, init).slice(0, 5).map(([n, b]) => `${n} ${kib(b)}`).join(', ');
      console.log(`  at init: ${topInit}`);
      const floor = await buildSdkFloor(fn.name, meta, init, path.join(dir, 'floor'));
      console.log(
        `  AWS SDK floor: ${(floor.bytes / 1000).toFixed(0)} KB (${(floor.initBytes / 1000).toFixed(0)} KB at init) for a handler that only sends the same ` +
          `${floor.uses.reduce((n, u) => n + u.commands.length, 0)} commands of ${floor.uses.length} clients (${floor.uses.map((u) => `${u.pkg.replace(/^client-/, '')}${u.lazy ? ' lazily' : ''}`).join(', ')}); ` +
          `ours on top: ${((fn.bundleBytes - floor.bytes) / 1000).toFixed(0)} KB`,
      );
      const floorNote = `SDK floor ${(floor.bytes / 1000).toFixed(0)} KB${floor.bytes > TARGETS.bundleBytes ? ', above the target: the bound is the SDK\'s' : ''}, ours ${((fn.bundleBytes - floor.bytes) / 1000).toFixed(0)} KB`;
      summary.push([`${fn.name} bundle ≤ ${TARGETS.bundleBytes / 1000} KB (all files)`, `${(fn.bundleBytes / 1000).toFixed(0)} KB (${floorNote})`, fn.bundleBytes <= TARGETS.bundleBytes]);
      summary.push([`${fn.name} loaded at init ≤ ${TARGETS.bundleBytes / 1000} KB`, `${(fn.initBytes / 1000).toFixed(0)} KB`, fn.initBytes <= TARGETS.bundleBytes]);
    }
    console.log(`  before: ${BEFORE.topContributors}`);

    /* 2. init */
    console.log('\n== module init of the built bundle, fresh process each (median of 10; Node start-up excluded, then included)');
    const initDir = path.join(dir, 'unzipped');
    for (const fn of built) {
      const r = await measureInit(fn, initDir, 10);
      const m = median(r.importMs);
      console.log(`${fn.name}: import ${m.toFixed(0)} ms (min ${Math.min(...r.importMs).toFixed(0)}, max ${Math.max(...r.importMs).toFixed(0)}); since process start ${median(r.sinceStartMs).toFixed(0)} ms (before: ${BEFORE.initMs} ms)`);
      summary.push([`${fn.name} module init ≤ ${TARGETS.initMs} ms`, `${m.toFixed(0)} ms`, m <= TARGETS.initMs]);
    }

    /* 3. ticks: the full fleet at every memory setting, the small fleets once (their other settings modeled) */
    const fleets: Array<{ clusters: number; nodes: number; memories: number[] }> = [
      { clusters: 1, nodes: 3, memories: [memories[0]!] },
      { clusters: 10, nodes: 5, memories: [memories[0]!] },
      { clusters, nodes, memories },
    ].filter((f, i, all) => all.findIndex((g) => g.clusters === f.clusters) === i);
    const picks = new Map<number, number>();
    const logSamples: number[] = [];
    const emfSamples: number[] = [];
    if (!argv.includes('--skip-tick')) {
      const controller = built.find((b) => b.name === 'controller')!;
      const handler = path.join(initDir, controller.name, controller.handlerFile);
      console.log('\n== the controller bundle ticking real fleets: one invocation per line, heap capped at 90 % of the memory setting');
      console.log('   (tiny HTTP Vault nodes, the sandbox\'s EC2/ELBv2 endpoints, dynalite; tick every 2 s; today\'s call pattern)');
      for (const f of fleets) {
        const fleet = await startFleet({ clusters: f.clusters, nodesPerCluster: f.nodes });
        const runs: TickRun[] = [];
        try {
          for (const memoryMb of f.memories) {
            const r = await runTicks(fleet, handler, { memoryMb, dir, tag: `${f.clusters}-${memoryMb}` });
            runs.push(r);
            const v = Object.entries(r.verdicts).map(([k, n]) => `${n} ${k}`).join(', ');
            console.log(
              `${String(f.clusters).padStart(4)} x ${f.nodes} at ${String(memoryMb).padStart(4)} MB: peak RSS ${mib(r.peakRssBytes)}, ` +
                `first tick ${r.firstTickMs.toFixed(0)} ms, steady ${r.steadyTickMs.toFixed(0)} ms (${r.ticks} ticks), CPU ${r.cpuMsPerTick.toFixed(0)} ms/tick; ` +
                `verdicts: ${v || 'none'}${r.error ? `; ERROR ${r.error}` : ''}`,
            );
          }
        } finally {
          await fleet.stop();
        }
        const ok = runs.filter((r) => !r.error && r.ticks > 1);
        if (ok.length === 0) continue;
        logSamples.push(...ok.map((r) => r.logBytesPerClusterTick));
        emfSamples.push(...ok.map((r) => r.emfBytesPerClusterTick));
        // Peak RSS hardly depends on the setting (the heap cap only bounds it): the largest seen
        // counts. CPU per tick is the median; the tick on Lambda is modeled from both.
        const rss = Math.max(...ok.map((r) => r.peakRssBytes));
        const base = { steadyTickMs: median(ok.map((r) => r.steadyTickMs)), cpuMsPerTick: median(ok.map((r) => r.cpuMsPerTick)) };
        const cells = MEMORY_SETTINGS.map((m) => {
          const fits = rss <= 0.75 * m * 1024 * 1024;
          const tick = modeledTickMs(base, m);
          return { m, fits, tick, ok: fits && tick <= TICK_BUDGET_MS };
        });
        console.log(
          `     modeled on Lambda: ${cells.map((c) => `${c.m} MB ${c.fits ? `${(c.tick / 1000).toFixed(1)} s` : 'RSS too big'}${c.ok ? ' ✓' : ''}`).join(', ')}`,
        );
        const pick = cells.find((c) => c.ok)?.m;
        if (pick !== undefined) picks.set(f.clusters, pick);
        console.log(`     pick for ${f.clusters} cluster(s): ${pick !== undefined ? `${pick} MB` : 'none'} (smallest with peak RSS ≤ 75 % and modeled steady tick ≤ ${TICK_BUDGET_MS / 1000} s)`);
      }
      console.log(`model: tick on Lambda = measured steady tick + CPU per tick x (${FULL_VCPU_MB} MB / memory - 1): one vCPU at ${FULL_VCPU_MB} MB, a proportional share below`);
    }
    const measuredLogBytes = logSamples.length > 0 ? median(logSamples) : undefined;
    const emfLogBytes = emfSamples.length > 0 ? median(emfSamples) : estimatedEmfBytes();

    /* 4. cost */
    const logBytes = measuredLogBytes ?? estimatedLogBytesPerClusterTick();
    const serverlessMemory = await configuredMemory();
    const memoryFor = (n: number) => picks.get(n) ?? serverlessMemory;
    console.log(
      `\n== monthly cost model (us-east-1 list prices, free tiers excluded; controller memory: the pick above per fleet size, else ${serverlessMemory} MB from serverless.yml; ` +
        `${logBytes.toFixed(0)} log bytes per cluster-tick ${measuredLogBytes ? 'measured, Lambda\'s line prefix included' : 'estimated'})`,
    );
    console.log(`prices: Lambda Arm $${PRICES.lambdaGbSecondArm}/GB-s + $0.20/M requests; DynamoDB on-demand $0.625/M WRU, $0.125/M RRU; ` +
      `custom metric $0.30/month; alarm $0.10/month; logs $0.50/GB ingested + $0.03/GB-month; Step Functions $0.025/1k transitions; SNS $0.50/M publishes`);
    console.log(`assumptions: tick every ${COST_ASSUMPTIONS.probeIntervalSeconds} s, ${COST_ASSUMPTIONS.invocationsPerMonth} invocations x ${COST_ASSUMPTIONS.billedSecondsPerInvocation} s billed a month; ` +
      `per replacement ${COST_ASSUMPTIONS.transitionsPerReplacement} transitions (${COST_ASSUMPTIONS.replacementsPerClusterMonth}/cluster-month), per drill ${COST_ASSUMPTIONS.transitionsPerDrill} (${COST_ASSUMPTIONS.drillsPerClusterMonth}/cluster-month); ` +
      `DynamoDB per tick from CALL_PROFILES (constants; "now" as measured by npm run bench -- --scale)`);
    for (const profile of Object.keys(CALL_PROFILES) as CallProfile[]) {
      const c = CALL_PROFILES[profile];
      console.log(
        `-- profile "${profile}": DynamoDB ${c.perCluster.wru} WRU + ${c.perCluster.rru} RRU per cluster, ${c.perTick.wru} WRU + ${c.perTick.rru} RRU per tick; ` +
          `logs: ${c.logs} (${(c.logs === 'every line' ? logBytes : emfLogBytes).toFixed(0)} bytes per cluster-tick)`,
      );
      console.log('   clusters | memory  |  Lambda | DynamoDB | metrics (series) | alarms |  logs | SFN    | SNS    |   total | per cluster');
      for (const n of [1, 10, 100]) {
        const line = monthlyCost(n, memoryFor(n), profile, c.logs === 'every line' ? logBytes : emfLogBytes);
        console.log(
          `   ${String(n).padStart(8)} | ${`${line.memoryMb} MB`.padStart(7)} | ${usd(line.lambda).padStart(7)} | ${usd(line.dynamodb).padStart(8)} | ${`${usd(line.metrics)} (${seriesCount(n)})`.padStart(16)} | ${usd(line.alarms).padStart(6)} | ${usd(line.logs).padStart(5)} | ${usd(line.stepFunctions).padStart(6)} | ${usd(line.sns).padStart(6)} | ${usd(line.total).padStart(7)} | ${usd(line.total / n)}`,
        );
        const memoryNote = picks.has(n) ? `at ${line.memoryMb} MB` : `at ${line.memoryMb} MB, memory NOT measured for this size`;
        if (n === 1) summary.push([`one cluster ≤ $${TARGETS.oneClusterUsdPerMonth}/month (profile "${profile}")`, `${usd(line.total)} ${memoryNote}`, line.total <= TARGETS.oneClusterUsdPerMonth]);
        if (n === 100) summary.push([`≤ $${TARGETS.usdPerClusterAt100}/cluster at 100 clusters (profile "${profile}")`, `${usd(line.total / n)} ${memoryNote}`, line.total / n <= TARGETS.usdPerClusterAt100]);
      }
    }
    const hours = SECONDS_PER_MONTH / 3600;
    console.log(
      `stated apart (network path to the AWS APIs from the VPC): NAT gateway ${usd(PRICES.natGatewayHour * hours)}/month + $0.045/GB, or ` +
        `${COST_ASSUMPTIONS.interfaceEndpoints} interface endpoints x ${COST_ASSUMPTIONS.availabilityZones} AZs ${usd(COST_ASSUMPTIONS.interfaceEndpoints * COST_ASSUMPTIONS.availabilityZones * PRICES.interfaceEndpointHourPerAz * hours)}/month (+ $0.01/GB); DynamoDB's gateway endpoint is free`,
    );
    summary.push([`custom metric series per cluster ≤ ${TARGETS.seriesPerCluster}`, `${seriesCount(1)} at 1 cluster, ${(seriesCount(100) / 100).toFixed(2)} at 100 (before: ${BEFORE.seriesOneCluster} at 1)`, seriesCount(1) <= 6 && seriesCount(100) <= 600]);

    console.log('\n== footprint targets');
    for (const [what, value, ok] of summary) console.log(`${verdict(ok).padEnd(7)} ${what}: ${value}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The controller's memorySize in serverless.yml (function setting, else the provider's). */
async function configuredMemory(): Promise<number> {
  const { parseDocument } = await import('yaml');
  const doc = parseDocument(await readFile(path.join(repoRoot, 'serverless.yml'), 'utf8'), { logLevel: 'silent' }).toJS({ maxAliasCount: 100 }) as {
    provider?: { memorySize?: number };
    functions?: Record<string, { memorySize?: number }>;
  };
  let v: unknown = doc.functions?.controller?.memorySize ?? doc.provider?.memorySize ?? 1024;
  // `${param:name}`: the stage-independent default from `params.default`.
  const ref = typeof v === 'string' ? /^\$\{param:([A-Za-z0-9_-]+)\}$/.exec(v) : null;
  if (ref) v = (doc as { params?: { default?: Record<string, unknown> } }).params?.default?.[ref[1]!];
  return Number(v);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.env.AWS_ACCESS_KEY_ID ??= 'bench';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
  process.env.AWS_REGION ??= 'eu-west-1';
  runFootprintBench(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
