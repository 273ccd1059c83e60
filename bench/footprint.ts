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
 *      being reduced: edit CALL_PROFILES when it changes).
 *
 * Options: --memory 128,256,512,1024,1769  --clusters 100  --nodes 5  --skip-tick
 * (1 x 3 and 10 x 5 run once, at the smallest setting; the full fleet at each.)
 * Nothing here asserts; every target is printed as met / not met.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import type { Metafile } from 'esbuild';
import { buildAll, initialFiles, type BuiltFunction } from '../scripts/build.mjs';
import { formatMetrics, seriesCount } from '../functions/adapters/metrics.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const WORKER = path.join(here, 'footprint-worker.mjs');
/** The project's Node 22 (what Lambda's nodejs22.x runs), not whatever `node` the shell finds first. */
const NODE = existsSync(path.join(repoRoot, 'node_modules', '.bin', 'node')) ? path.join(repoRoot, 'node_modules', '.bin', 'node') : process.execPath;

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
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

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

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, onStdoutLine?: (line: string) => void, timeoutMs = 180_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let pending = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (!onStdoutLine) {
        stdout += chunk;
        return;
      }
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onStdoutLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 20_000) stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (onStdoutLine && pending) onStdoutLine(pending);
      resolve({ code, stdout, stderr });
    });
  });
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'footprint',
  AWS_SECRET_ACCESS_KEY: 'footprint',
  AWS_EC2_METADATA_DISABLED: 'true',
  VAULT_HA_STAGE: 'bench',
});

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

/* ------------------------------------------------------------------ 3: 100 x 5 per memory setting */

interface FakeNode {
  server: Server;
  url: string;
}

/** A Vault node that answers only the two probe endpoints: node 0 of a cluster is active, the rest standbys. */
async function startFakeNode(active: () => boolean, leaderUrl: () => string): Promise<FakeNode> {
  const server = createServer((req, res) => {
    const isActive = active();
    let status = 404;
    let body: unknown = { errors: [] };
    if (req.url?.startsWith('/v1/sys/health')) {
      status = isActive ? 200 : 429;
      body = {
        initialized: true, sealed: false, standby: !isActive, performance_standby: false,
        replication_performance_mode: 'disabled', replication_dr_mode: 'disabled',
        server_time_utc: Math.floor(Date.now() / 1000), version: '1.19.0', cluster_name: 'vault-bench', cluster_id: 'bench',
        clock_skew_ms: 0, ha_connection_healthy: true,
      };
    } else if (req.url?.startsWith('/v1/sys/leader')) {
      status = 200;
      body = { ha_enabled: true, is_self: isActive, leader_address: leaderUrl(), leader_cluster_address: leaderUrl().replace(':8200', ':8201'), performance_standby: false };
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface FleetWorld {
  env: Record<string, string>;
  configFor(controlTable: string): unknown;
  createControlTable(name: string): Promise<void>;
  stop(): Promise<void>;
}

async function startFleet(clusters: number, nodesPerCluster: number): Promise<FleetWorld> {
  const { LocalAws } = await import('../sandbox/aws/index.js');
  const { startLocalDynamo, createControlTable } = await import('../sandbox/dynamodb.js');
  const aws = new LocalAws({ worldOptions: { region: 'eu-west-1' } });
  const ddb = await startLocalDynamo();
  const nodes: FakeNode[] = [];
  try {
    await aws.start();
    const subnet = aws.world.addSubnet({ availabilityZone: 'eu-west-1a', cidrBlock: '10.1.0.0/16' });
    const clusterSpecs: Array<{ name: string; tg: string }> = [];
    for (let c = 0; c < clusters; c++) {
      const name = `c${String(c).padStart(4, '0')}`;
      const tg = `arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/tg-${name}/${c.toString(16).padStart(16, '0')}`;
      aws.targetGroups.addTargetGroup({ name: `tg-${name}`, arn: tg, port: 8200, healthCheck: { enabled: false } });
      const urls: string[] = [];
      for (let n = 0; n < nodesPerCluster; n++) {
        const node = await startFakeNode(() => n === 0, () => urls[0]!);
        nodes.push(node);
        urls.push(node.url);
        await aws.world.launchInitialInstance({ subnetId: subnet.subnetId, tags: { 'vault-cluster': name, 'vault-url': node.url } });
      }
      clusterSpecs.push({ name, tg });
    }
    return {
      env: { ...aws.endpointEnv(), AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint },
      configFor: (controlTable) => ({
        controlTable,
        clusters: clusterSpecs.map((c) => ({
          name: c.name,
          discovery: { tagKey: 'vault-cluster', tagValue: c.name },
          vault: { scheme: 'http', port: 8200, address: { tag: 'vault-url' }, probeTimeoutMs: 2000 },
          loadBalancer: { targetGroupArn: c.tg },
          // Raft: no lock table to read; the DynamoDB lock adds one GetItem per cluster and tick.
          haLock: { type: 'raft' },
          policy: { probeIntervalSeconds: 2 },
        })),
      }),
      createControlTable: (name) => createControlTable(ddb.client, name),
      async stop() {
        await Promise.allSettled(nodes.map((n) => new Promise<void>((r) => n.server.close(() => r()))));
        for (const n of nodes) n.server.closeAllConnections();
        await ddb.close();
        await aws.stop();
      },
    };
  } catch (e) {
    await Promise.allSettled(nodes.map((n) => new Promise<void>((r) => n.server.close(() => r()))));
    await ddb.close();
    await aws.stop();
    throw e;
  }
}

export interface TickRun {
  memoryMb: number;
  ticks: number;
  firstTickMs: number;
  steadyTickMs: number;
  cpuMsPerTick: number;
  peakRssBytes: number;
  importMs: number;
  logBytesPerClusterTick: number;
  emfBytesPerClusterTick: number;
  verdicts: Record<string, number>;
  error?: string;
}

/** Lambda gives a function one vCPU at 1,769 MB and a proportional share below (Lambda Developer Guide, "Configure Lambda function memory"). */
export const FULL_VCPU_MB = 1769;
/** "2026-11-30T10:00:00.000Z\t<36-character request id>\tINFO\t" before each line in CloudWatch Logs. */
export const LAMBDA_LINE_PREFIX_BYTES = 67;
/** Memory settings the pick chooses from (MB). */
export const MEMORY_SETTINGS = [128, 256, 512, 1024, 1769, 3008];
/** A steady tick must fit in the probe timeout (2 s) + 1 s (issue 9). */
export const TICK_BUDGET_MS = 3000;

/** Tick time at `memoryMb` on Lambda: the CPU part stretched by the CPU share, the waiting part unchanged (a model). */
export function modeledTickMs(run: Pick<TickRun, 'steadyTickMs' | 'cpuMsPerTick'>, memoryMb: number): number {
  const stretch = Math.max(1, FULL_VCPU_MB / memoryMb);
  return run.steadyTickMs + run.cpuMsPerTick * (stretch - 1);
}

async function runTicks(fleet: FleetWorld, handler: string, memoryMb: number, dir: string, clusters: number): Promise<TickRun> {
  const table = `vault-ha-control-${memoryMb}`;
  await fleet.createControlTable(table);
  const configFile = path.join(dir, `config-${memoryMb}.json`);
  await writeFile(configFile, JSON.stringify(fleet.configFor(table)));
  const resultFile = path.join(dir, `result-${memoryMb}.json`);
  /** Per cluster, the (start, duration) of each tick, from the EMF lines. */
  const ticks = new Map<string, Array<{ at: number; ms: number }>>();
  let logBytes = 0;
  let emfBytes = 0;
  const env = { ...baseEnv(), ...fleet.env, VAULT_HA_CONFIG_FILE: configFile, LOG_LEVEL: 'info' };
  // Lambda's Node.js runtime sizes V8's old space from the function's memory; ~90 % is assumed here.
  const args = [`--max-old-space-size=${Math.floor(memoryMb * 0.9)}`, WORKER, 'invoke', handler, '24000', resultFile];
  const { code, stderr } = await run(NODE, args, env, (line) => {
    // Lambda's Node.js runtime (text log format) prefixes each line with "<time>\t<request id>\tINFO\t".
    logBytes += Buffer.byteLength(line) + 1 + LAMBDA_LINE_PREFIX_BYTES;
    if (!line.includes('"_aws"')) return;
    emfBytes += Buffer.byteLength(line) + 1 + LAMBDA_LINE_PREFIX_BYTES;
    try {
      const d = JSON.parse(line) as { Cluster: string; TickDurationMs: number; _aws: { Timestamp: number } };
      const list = ticks.get(d.Cluster) ?? [];
      list.push({ at: d._aws.Timestamp, ms: d.TickDurationMs });
      ticks.set(d.Cluster, list);
    } catch {
      /* not an EMF line */
    }
  });
  const result = JSON.parse(await readFile(resultFile, 'utf8').catch(() => '{}')) as Partial<TickRun> & {
    cpuMs?: number;
    error?: string;
    cpuSamples?: Array<[atMs: number, cpuMs: number]>;
  };
  if (code !== 0 && !result.error) result.error = `exit ${code}: ${stderr.slice(0, 300)}`;
  // Tick k of the invocation: from the first cluster's start to the last cluster's end.
  const count = Math.min(...[...ticks.values()].map((l) => l.length), Number.POSITIVE_INFINITY);
  const walls: number[] = [];
  for (let k = 0; Number.isFinite(count) && k < count; k++) {
    const starts = [...ticks.values()].map((l) => l[k]!.at);
    const ends = [...ticks.values()].map((l) => l[k]!.at + l[k]!.ms);
    walls.push(Math.max(...ends) - Math.min(...starts));
  }
  const n = walls.length;
  // CPU per steady tick: the CPU used from the start of tick 2 to the end of the last tick
  // (the waits between ticks cost next to nothing), per tick.
  let cpuMsPerTick = NaN;
  const samples = result.cpuSamples ?? [];
  if (n > 1 && samples.length > 1) {
    const from = Math.min(...[...ticks.values()].map((l) => l[1]!.at));
    const to = Math.max(...[...ticks.values()].map((l) => l[n - 1]!.at + l[n - 1]!.ms));
    const at = (t: number) => samples.reduce((best, s) => (Math.abs(s[0] - t) < Math.abs(best[0] - t) ? s : best), samples[0]!)[1];
    cpuMsPerTick = (at(to) - at(from)) / (n - 1);
  }
  return {
    memoryMb,
    ticks: n,
    firstTickMs: walls[0] ?? NaN,
    steadyTickMs: median(walls.slice(1)),
    cpuMsPerTick,
    peakRssBytes: result.peakRssBytes ?? NaN,
    importMs: result.importMs ?? NaN,
    logBytesPerClusterTick: n > 0 ? logBytes / (n * clusters) : NaN,
    emfBytesPerClusterTick: n > 0 ? emfBytes / (n * clusters) : NaN,
    verdicts: (result as { verdicts?: Record<string, number> }).verdicts ?? {},
    ...(result.error ? { error: result.error } : {}),
  };
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
 * `now` is the pattern measured before that work: lease PutItem (1 WRU), the
 * ~14 KB state PutItem (14 WRU), the observation PutItem (2 WRU), the lock and
 * pause GetItems (strongly consistent, 1 RRU each). `target` is the issue's
 * goal: at most 0.2 WRU per cluster on average and one read per cluster.
 * `logs`: which per-tick lines are billed (the EMF line carries the verdict,
 * node counts and tick time; the outcome line repeats much of it).
 */
export const CALL_PROFILES = {
  now: { perCluster: { wru: 17, rru: 2 }, perTick: { wru: 0, rru: 0 }, logs: 'every line' },
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
      summary.push([`${fn.name} bundle ≤ ${TARGETS.bundleBytes / 1000} KB (all files)`, `${(fn.bundleBytes / 1000).toFixed(0)} KB`, fn.bundleBytes <= TARGETS.bundleBytes]);
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
        const fleet = await startFleet(f.clusters, f.nodes);
        const runs: TickRun[] = [];
        try {
          for (const memoryMb of f.memories) {
            const r = await runTicks(fleet, handler, memoryMb, dir, f.clusters);
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
      `DynamoDB per steady tick from CALL_PROFILES (constants: the tick's call pattern is changing)`);
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
