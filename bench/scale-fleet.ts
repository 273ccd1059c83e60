/**
 * The simulated fleet both `npm run bench -- --footprint` (bench/footprint.ts)
 * and `npm run bench -- --scale` (bench/scale.ts) tick with the built
 * controller bundle:
 *
 *   - Vault nodes: tiny HTTP servers on 127.0.0.1 answering /v1/sys/health and
 *     /v1/sys/leader (node 0 of a cluster active, the rest standbys), or
 *     hanging ones that accept the connection and never answer;
 *   - EC2 and ELBv2: the sandbox's local endpoints; DynamoDB: dynalite;
 *   - between the bundle and each endpoint a counting proxy, so the AWS calls
 *     are counted where they arrive (whatever the controller's call pattern);
 *   - one fresh Node process per invocation (bench/footprint-worker.mjs) that
 *     loads nothing but the bundle; it reaches the endpoints through the SDK's
 *     standard AWS_ENDPOINT_URL_* variables with dummy environment credentials,
 *     as the Lambda bundle reads them (scripts/lambda-env-credentials.mjs).
 *
 * Every loop is bounded; every socket is on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import type { ApiRateLimit } from '../sandbox/aws/elbv2.js';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..');
export const WORKER = path.join(here, 'footprint-worker.mjs');
/** The project's Node 22 (what Lambda's nodejs22.x runs), not whatever `node` the shell finds first. */
export const NODE = existsSync(path.join(repoRoot, 'node_modules', '.bin', 'node')) ? path.join(repoRoot, 'node_modules', '.bin', 'node') : process.execPath;

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, onStdoutLine?: (line: string) => void, timeoutMs = 180_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

export const baseEnv = (): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  AWS_REGION: 'eu-west-1',
  AWS_ACCESS_KEY_ID: 'footprint',
  AWS_SECRET_ACCESS_KEY: 'footprint',
  AWS_EC2_METADATA_DISABLED: 'true',
  VAULT_HA_STAGE: 'bench',
});

/* ------------------------------------------------------------------ Vault nodes */

interface FakeNode {
  server: Server;
  url: string;
}

/**
 * A Vault node that answers only the two probe endpoints; a hanging one
 * accepts the TCP connection and the request and never answers (the probe's
 * timeout is what ends it).
 */
async function startFakeNode(active: () => boolean, leaderUrl: () => string, hang = false): Promise<FakeNode> {
  const server = createServer((req, res) => {
    if (hang) return;
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

const closeNode = (n: FakeNode): Promise<void> =>
  new Promise<void>((r) => {
    n.server.close(() => r());
    n.server.closeAllConnections();
  });

/* ------------------------------------------------------------------ counting proxies */

/** One AWS call as it reached a local endpoint: when, and `service:Operation`. */
export interface AwsCall {
  atMs: number;
  api: string;
  /** DynamoDB capacity the call consumes on demand (estimated from the request: see dynamoUnits). */
  units?: { wru: number; rru: number; runLease: boolean; item: string };
}

/**
 * An item's size as DynamoDB bills it (Developer Guide, "Item sizes and formats"):
 * attribute names plus values (strings as UTF-8, binary as bytes, numbers ~1 byte
 * per two digits plus one, maps and lists their members plus 3 bytes).
 */
export function itemBytes(item: Record<string, unknown>): number {
  let n = 0;
  for (const [name, v] of Object.entries(item)) n += Buffer.byteLength(name) + valueBytes(v as Record<string, unknown>);
  return n;
}

function valueBytes(v: Record<string, unknown>): number {
  if (typeof v['S'] === 'string') return Buffer.byteLength(v['S']);
  if (typeof v['B'] === 'string') return Buffer.from(v['B'], 'base64').length;
  if (typeof v['N'] === 'string') return Math.ceil(v['N'].replace(/^-|\./g, '').length / 2) + 1;
  if (typeof v['BOOL'] === 'boolean' || v['NULL'] === true) return 1;
  if (v['M'] && typeof v['M'] === 'object') return 3 + itemBytes(v['M'] as Record<string, unknown>);
  if (Array.isArray(v['L'])) return 3 + (v['L'] as Array<Record<string, unknown>>).reduce((n, x) => n + 1 + valueBytes(x), 0);
  if (Array.isArray(v['SS'])) return (v['SS'] as string[]).reduce((n, x) => n + Buffer.byteLength(x), 0);
  return 0;
}

/**
 * On-demand capacity of one DynamoDB request (Developer Guide, "Read/write capacity
 * mode"): a write is one unit per KB of the item written (Update/Delete of the
 * controller's small items: one), a strongly consistent read one unit per item up
 * to 4 KB (an absent item still costs one). `runLease`: the run's own lease item
 * (pk run#…), a cost per tick rather than per cluster.
 */
export function dynamoUnits(op: string, body: string): AwsCall['units'] {
  let req: Record<string, any>;
  try {
    req = JSON.parse(body) as Record<string, any>;
  } catch {
    return undefined;
  }
  const pkOf = (key: Record<string, any> | undefined): string => String(key?.['pk']?.['S'] ?? '');
  /** The kind of control-table item (its sort key, e.g. state, lease#controller, obs#…), for the breakdown. */
  const kindOf = (key: Record<string, any> | undefined): string => String(key?.['sk']?.['S'] ?? '?').replace(/#.*$/, '#');
  switch (op) {
    case 'PutItem':
      return { wru: Math.max(1, Math.ceil(itemBytes(req['Item'] ?? {}) / 1024)), rru: 0, runLease: pkOf(req['Item']).startsWith('run#'), item: kindOf(req['Item']) };
    case 'UpdateItem':
    case 'DeleteItem':
      return { wru: 1, rru: 0, runLease: pkOf(req['Key']).startsWith('run#'), item: kindOf(req['Key']) };
    case 'GetItem':
      return { wru: 0, rru: 1, runLease: pkOf(req['Key']).startsWith('run#'), item: kindOf(req['Key']) };
    case 'BatchGetItem': {
      const keys = Object.values((req['RequestItems'] ?? {}) as Record<string, { Keys?: unknown[] }>).reduce((n, t) => n + (t.Keys?.length ?? 0), 0);
      return { wru: 0, rru: keys, runLease: false, item: 'batch' };
    }
    case 'Query':
      return { wru: 0, rru: 1, runLease: false, item: 'query' };
    default:
      return undefined;
  }
}

/**
 * The operation of an AWS request: JSON protocols name it in `X-Amz-Target`
 * (`DynamoDB_20120810.GetItem`), query protocols (EC2, ELB) in the form body's
 * `Action=`.
 */
export function operationOf(service: string, headers: Record<string, string | string[] | undefined>, body: string): string {
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) return `${service}:${target.slice(target.lastIndexOf('.') + 1)}`;
  const action = /(?:^|&)Action=([^&]+)/.exec(body)?.[1];
  return `${service}:${action ? decodeURIComponent(action) : 'unknown'}`;
}

interface CountingProxy {
  url: string;
  server: Server;
}

/** Forwards every request to `target` unchanged and records it in `calls`. */
async function startCountingProxy(service: string, target: string, calls: AwsCall[]): Promise<CountingProxy> {
  const to = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const api = operationOf(service, req.headers, body.toString('utf8'));
      const units = api.startsWith('dynamodb:') ? dynamoUnits(api.slice('dynamodb:'.length), body.toString('utf8')) : undefined;
      calls.push({ atMs: Date.now(), api, ...(units ? { units } : {}) });
      const upstream = request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: { ...req.headers, host: to.host }, agent },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', (e) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(e));
      });
      upstream.end(body);
    });
  });
  server.on('close', () => agent.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/* ------------------------------------------------------------------ the fleet */

export interface FleetWorld {
  /** AWS_ENDPOINT_URL_* of the counting proxies. */
  env: Record<string, string>;
  /** Every AWS call the endpoints received, in arrival order (clear it between runs). */
  calls: AwsCall[];
  /** Nodes with an HTTP server (probed), and how many of them hang. */
  servedNodes: number;
  hangingNodes: number;
  configFor(controlTable: string): unknown;
  createControlTable(name: string): Promise<void>;
  /** Describe* requests the ELBv2 endpoint refused with ThrottlingException (with `elbv2DescribeRate`). */
  elbThrottled(): number;
  stop(): Promise<void>;
}

export interface FleetOptions {
  clusters: number;
  nodesPerCluster: number;
  /** Share of the probed nodes that hang (accept TCP, never answer): spread evenly, at least one when > 0, never a cluster's node 0. */
  hangingFraction?: number;
  /** Clusters whose nodes exist as HTTP servers; the others are in EC2 and the config only (default: all). */
  served?: (clusterName: string) => boolean;
  probeTimeoutMs?: number;
  probeIntervalSeconds?: number;
  /**
   * The clusters' HA storage: `dynamodb` (default, the deployment DESIGN is built
   * around: one Vault lock table per cluster, its lock item held by node 0, read
   * by every tick) or `raft` (no lock item to read).
   */
  ha?: 'dynamodb' | 'raft';
  /** Model ELB's API throttling of Describe* requests (sandbox/aws/elbv2.ts); default: none. */
  elbv2DescribeRate?: ApiRateLimit;
}

/** Vault's lock table of a cluster in the fleet. */
export const lockTableOf = (cluster: string): string => `vault-data-${cluster}`;

export const clusterName = (c: number): string => `c${String(c).padStart(4, '0')}`;

export async function startFleet(opts: FleetOptions): Promise<FleetWorld> {
  const { clusters, nodesPerCluster } = opts;
  const served = opts.served ?? (() => true);
  const servedCount = Array.from({ length: clusters }, (_, c) => clusterName(c)).filter(served).length;
  const candidates = servedCount * Math.max(0, nodesPerCluster - 1);
  const fraction = opts.hangingFraction ?? 0;
  const hangCount = fraction > 0 ? Math.min(candidates, Math.max(1, Math.round(fraction * servedCount * nodesPerCluster))) : 0;
  /** Candidate i (a served node other than node 0) hangs when it crosses the next multiple of candidates / hangCount. */
  const hangs = (i: number) => hangCount > 0 && Math.floor(((i + 1) * hangCount) / candidates) > Math.floor((i * hangCount) / candidates);
  const { LocalAws } = await import('../sandbox/aws/index.js');
  const { startLocalDynamo, createControlTable, createVaultLockTable } = await import('../sandbox/dynamodb.js');
  const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
  const { LOCK_KEY } = await import('../functions/adapters/lock-reader.js');
  const ha = opts.ha ?? 'dynamodb';
  const aws = new LocalAws({ worldOptions: { region: 'eu-west-1' }, ...(opts.elbv2DescribeRate ? { elbv2DescribeRate: opts.elbv2DescribeRate } : {}) });
  const ddb = await startLocalDynamo();
  const nodes: FakeNode[] = [];
  const proxies: CountingProxy[] = [];
  const calls: AwsCall[] = [];
  const stopAll = async () => {
    await Promise.allSettled(nodes.map(closeNode));
    await Promise.allSettled(proxies.map((p) => new Promise<void>((r) => {
      p.server.close(() => r());
      p.server.closeAllConnections();
    })));
    await ddb.close();
    await aws.stop();
  };
  try {
    await aws.start();
    const subnet = aws.world.addSubnet({ availabilityZone: 'eu-west-1a', cidrBlock: '10.1.0.0/16' });
    const clusterSpecs: Array<{ name: string; tg: string }> = [];
    let candidate = 0;
    for (let c = 0; c < clusters; c++) {
      const name = clusterName(c);
      const tg = `arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/tg-${name}/${c.toString(16).padStart(16, '0')}`;
      aws.targetGroups.addTargetGroup({ name: `tg-${name}`, arn: tg, port: 8200, healthCheck: { enabled: false } });
      const urls: string[] = [];
      for (let n = 0; n < nodesPerCluster; n++) {
        let url = `http://127.0.0.1:9/${name}-${n}`;
        if (served(name)) {
          // Node 0 never hangs, so every cluster keeps a reachable active.
          const hang = n > 0 && hangs(candidate++);
          const node = await startFakeNode(() => n === 0, () => urls[0]!, hang);
          nodes.push(node);
          url = node.url;
        }
        urls.push(url);
        await aws.world.launchInitialInstance({ subnetId: subnet.subnetId, tags: { 'vault-cluster': name, 'vault-url': url } });
      }
      if (ha === 'dynamodb' && served(name)) {
        // The lock item as Vault's DynamoDB backend keeps it (its key; Value, Identity bytes;
        // Expires in Unix ns), held by node 0 for the whole run: the bench measures reading it, not elections.
        await createVaultLockTable(ddb.client, lockTableOf(name));
        await ddb.client.send(
          new PutItemCommand({
            TableName: lockTableOf(name),
            Item: {
              ...LOCK_KEY,
              Value: { B: new TextEncoder().encode(urls[0]!) },
              Identity: { B: new TextEncoder().encode(`00000000-0000-4000-8000-${c.toString(16).padStart(12, '0')}`) },
              Expires: { N: (BigInt(Date.now() + 24 * 3600_000) * 1_000_000n).toString() },
            },
          }),
        );
      }
      clusterSpecs.push({ name, tg });
    }
    const upstream: Record<string, string> = { ...aws.endpointEnv(), AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint };
    const env: Record<string, string> = {};
    for (const [key, target] of Object.entries(upstream)) {
      const service = key.replace(/^AWS_ENDPOINT_URL_/, '').toLowerCase();
      const proxy = await startCountingProxy(service, target, calls);
      proxies.push(proxy);
      env[key] = proxy.url;
    }
    return {
      env,
      calls,
      servedNodes: servedCount * nodesPerCluster,
      hangingNodes: hangCount,
      configFor: (controlTable) => ({
        controlTable,
        clusters: clusterSpecs.map((c) => ({
          name: c.name,
          discovery: { tagKey: 'vault-cluster', tagValue: c.name },
          vault: { scheme: 'http', port: 8200, address: { tag: 'vault-url' }, probeTimeoutMs: opts.probeTimeoutMs ?? 2000 },
          loadBalancer: { targetGroupArn: c.tg },
          // DynamoDB HA: each tick reads the cluster's lock item (one key of the tick's BatchGetItem).
          haLock: ha === 'dynamodb' ? { type: 'dynamodb', table: lockTableOf(c.name) } : { type: 'raft' },
          policy: { probeIntervalSeconds: opts.probeIntervalSeconds ?? 2 },
        })),
      }),
      createControlTable: (name) => createControlTable(ddb.client, name),
      elbThrottled: () => aws.elbv2.describeBucket?.throttled ?? 0,
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/* ------------------------------------------------------------------ one invocation */

export interface TickRun {
  memoryMb: number;
  ticks: number;
  firstTickMs: number;
  steadyTickMs: number;
  /** Every tick's wall time (first cluster's start to last cluster's end). */
  tickWallsMs: number[];
  /** The AWS calls that arrived during each tick (from its start to the next tick's start; the first also counts those before it). */
  callsPerTick: AwsCall[][];
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

export interface InvokeOptions {
  memoryMb: number;
  /** A scratch directory for the config and result files. */
  dir: string;
  /** The handler's event (default `{}`): `{ shard, of }` for one shard. */
  event?: unknown;
  /** The invocation's time budget (context.getRemainingTimeInMillis counts down from it). */
  budgetMs?: number;
  /** Distinguishes this run's control table and files from the fleet's other runs. */
  tag?: string;
  /** Reuse the control table of an earlier run of this fleet (its `tag`): the run then follows that one, with its state stored. */
  followsTag?: string;
}

/** One invocation of the controller bundle against the fleet, in a fresh process capped at the setting's heap. */
export async function runTicks(fleet: FleetWorld, handler: string, opts: InvokeOptions): Promise<TickRun> {
  const { memoryMb, dir } = opts;
  const tag = opts.tag ?? String(memoryMb);
  const table = `vault-ha-control-${opts.followsTag ?? tag}`;
  if (opts.followsTag === undefined) await fleet.createControlTable(table);
  const configFile = path.join(dir, `config-${tag}.json`);
  await writeFile(configFile, JSON.stringify(fleet.configFor(table)));
  const resultFile = path.join(dir, `result-${tag}.json`);
  fleet.calls.length = 0;
  /** Per cluster, the (start, duration) of each tick, from the EMF lines and when they arrived. */
  const ticks = new Map<string, Array<{ at: number; ms: number }>>();
  let logBytes = 0;
  let emfBytes = 0;
  const env = { ...baseEnv(), ...fleet.env, VAULT_HA_CONFIG_FILE: configFile, LOG_LEVEL: 'info' };
  // Lambda's Node.js runtime sizes V8's old space from the function's memory; ~90 % is assumed here.
  const args = [
    `--max-old-space-size=${Math.floor(memoryMb * 0.9)}`, WORKER, 'invoke', handler, String(opts.budgetMs ?? 24_000), resultFile, JSON.stringify(opts.event ?? {}),
  ];
  const { code, stderr } = await run(NODE, args, env, (line) => {
    // Lambda's Node.js runtime (text log format) prefixes each line with "<time>\t<request id>\tINFO\t".
    logBytes += Buffer.byteLength(line) + 1 + LAMBDA_LINE_PREFIX_BYTES;
    if (!line.includes('"_aws"')) return;
    emfBytes += Buffer.byteLength(line) + 1 + LAMBDA_LINE_PREFIX_BYTES;
    try {
      const d = JSON.parse(line) as { Cluster: string; TickDurationMs: number; _aws: { Timestamp: number } };
      const list = ticks.get(d.Cluster) ?? [];
      // The line is written as the cluster's tick ends; its EMF Timestamp is when the snapshot was
      // taken (after the probes), not when the tick began: start = arrival - duration.
      list.push({ at: Date.now() - d.TickDurationMs, ms: d.TickDurationMs });
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
  const clustersSeen = ticks.size;
  const count = Math.min(...[...ticks.values()].map((l) => l.length), Number.POSITIVE_INFINITY);
  const walls: number[] = [];
  const starts: number[] = [];
  for (let k = 0; Number.isFinite(count) && k < count; k++) {
    const s = [...ticks.values()].map((l) => l[k]!.at);
    const ends = [...ticks.values()].map((l) => l[k]!.at + l[k]!.ms);
    starts.push(Math.min(...s));
    walls.push(Math.max(...ends) - Math.min(...s));
  }
  const n = walls.length;
  const callsPerTick: AwsCall[][] = starts.map(() => []);
  for (const call of fleet.calls) {
    let k = 0;
    while (k + 1 < starts.length && call.atMs >= starts[k + 1]!) k += 1;
    callsPerTick[k]?.push(call);
  }
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
    tickWallsMs: walls,
    callsPerTick,
    cpuMsPerTick,
    peakRssBytes: result.peakRssBytes ?? NaN,
    importMs: result.importMs ?? NaN,
    logBytesPerClusterTick: n > 0 && clustersSeen > 0 ? logBytes / (n * clustersSeen) : NaN,
    emfBytesPerClusterTick: n > 0 && clustersSeen > 0 ? emfBytes / (n * clustersSeen) : NaN,
    verdicts: (result as { verdicts?: Record<string, number> }).verdicts ?? {},
    ...(result.error ? { error: result.error } : {}),
  };
}
