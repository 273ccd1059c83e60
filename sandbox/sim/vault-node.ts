/**
 * A simulated Vault (or OpenBao) server: a real HTTP(S) listener on 127.0.0.1
 * answering the unauthenticated sys endpoints with Vault's codes and shapes
 * (DESIGN §3.1–3.3a), taking HA leadership through a real DynamoDB lock item
 * or an in-process Raft group (§3.4), forwarding client requests from standbys
 * to the active over HTTP, plus switches for the faults the control plane must
 * survive (kill, partitions, split brain, clock skew, broken heartbeats).
 *
 * Checked against hashicorp/vault `http/sys_health.go` (code precedence:
 * uninitialized, removed, sealed, HA-unhealthy, standby), `http/handler.go`
 * (forward, else 307 to the leader's api_addr, else 503), `vault/ha.go` and
 * `physical/dynamodb/dynamodb.go`.
 */
import { createHash, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { inspect } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { REAL_LOCK_TIMINGS, type LockTimings } from '../../functions/core/ha-lock.js';
import {
  HEALTH_STATUS,
  VAULT_PATHS,
  type VaultHealthBody,
  type VaultLeaderBody,
  type VaultSealStatusBody,
} from '../../functions/core/vault-api.js';
import { DynamoDbHaParticipant } from './dynamodb-lock.js';
import { SimConfigError, SimInvalidUnsealKeyError, SimNodeStateError } from './errors.js';
import type { HaParticipant, ParticipantHooks } from './ha.js';
import type { RaftGroup } from './raft-group.js';
import { TimerBag } from './timers.js';

export type SimSealConfig = { type: 'shamir'; shares: string[]; threshold: number } | { type: 'auto' };

export type SimHaConfig =
  | { type: 'dynamodb'; client: DynamoDBClient; table: string; timings?: LockTimings; acquireErrorBackoffMs?: number }
  | { type: 'raft'; group: RaftGroup };

export interface SimTlsConfig {
  keyPem: string;
  certPem: string;
  /** CA that signed the peers' certificates (for forwarding/heartbeats); defaults to certPem (self-signed). */
  caPem?: string;
}

export type SimFlavor = 'vault' | 'openbao';

/**
 * A raw answer that replaces Vault's (a fault switch: garbage, oversized or
 * self-contradicting answers). `repeat` streams `chunk` until `totalBytes`
 * were written or the client hung up; `socketBytes` writes bytes that are not
 * HTTP at all and closes the connection.
 */
export type SimRawReply =
  | { status: number; headers?: Record<string, string>; body?: Buffer | string; repeat?: { chunk: Buffer; totalBytes: number } }
  | { socketBytes: Buffer };

/** Decides, per request, whether to answer with a raw reply instead of Vault's (undefined: Vault's own answer). */
export type SimReplyOverride = (req: { method: string; path: string; headers: IncomingMessage['headers'] }) => SimRawReply | undefined;
export type ClientPartitionMode = 'hang' | 'refuse';

export interface SimNodeEvent {
  atMs: number;
  node: string;
  kind: string;
  detail: string;
}

export interface SimulatedVaultNodeOptions {
  name: string;
  host?: string;
  /** 0 (default) = ephemeral; kept across restart() when possible. */
  port?: number;
  tls?: SimTlsConfig;
  clusterName?: string;
  /** Default: derived from clusterName, so every node of one cluster reports the same id. */
  clusterId?: string;
  /** Default '1.19.0' for vault, '2.2.0' for openbao. */
  version?: string;
  flavor?: SimFlavor;
  ha: SimHaConfig;
  seal: SimSealConfig;
  initialized?: boolean;
  /** First start() comes up sealed (default false). restart() always comes back sealed unless auto-unseal. */
  startSealed?: boolean;
  /** The node's clock = Date.now() + offset (skew). */
  clockOffsetMs?: number;
  rootToken?: string;
  /** Default: the URL the node listens on. */
  apiAddr?: string;
  /** Default: https://host:(port+1), Vault's convention. */
  clusterAddr?: string;
  /**
   * Standby → active request-forwarding heartbeat. Vault 1.19+ reports 474 once
   * the last good heartbeat is older than `unhealthyAfterMs` (~10 s real).
   * Defaults scale with the HA timings (DynamoDB: TTL/15 and TTL×2/3).
   */
  heartbeat?: { intervalMs?: number; unhealthyAfterMs?: number };
  /** Timeout of one forwarded request / heartbeat. Default unhealthyAfterMs / 5. */
  forwardTimeoutMs?: number;
  onEvent?: (event: SimNodeEvent) => void;
}

export interface SimNodeStatus {
  name: string;
  running: boolean;
  url: string | undefined;
  apiAddr: string;
  initialized: boolean;
  sealed: boolean;
  /** Raft: removed from the configuration. */
  removed: boolean;
  /** Claims active (leadership held, or forced). What /v1/sys/health says. */
  isActive: boolean;
  /** Holds leadership through the HA backend (lock / Raft). */
  holdsLeadership: boolean;
  forcedActive: boolean;
  /** Wall-clock ms (Date.now()) at which this node became active. */
  activeSinceMs: number | undefined;
  lockIdentity: string | undefined;
  leaderUuid: string | undefined;
  /** leader_address as /v1/sys/leader reports it. */
  leaderAddress: string | undefined;
  clientPartition: 'none' | ClientPartitionMode;
  storagePartitioned: boolean;
  heartbeatFailing: boolean;
  haConnectionHealthy: boolean;
  lastHeartbeatAgoMs: number | undefined;
  clockOffsetMs: number;
  unsealProgress: number;
  raft: { term: number; committedIndex: number; appliedIndex: number } | undefined;
}

interface HttpReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const MAX_BODY_BYTES = 1024 * 1024;
const EVENT_LOG_SIZE = 200;
/** Marks a request a standby forwarded, so the receiver never forwards it again. */
const FORWARDED_HEADER = 'x-vault-sim-forwarded-by';
/** Set by a receiver that is not active: the forwarder treats it as a failed forward (Vault: RPC error). */
const FORWARD_REJECTED_HEADER = 'x-vault-sim-forward-rejected';
/** Simulator-only endpoint the standby heartbeat calls (Vault uses its cluster port for this). */
export const SIM_ECHO_PATH = '/v1/sys/sim/echo';

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function clusterIdFor(clusterName: string): string {
  const hex = createHash('sha256').update(`sim-cluster:${clusterName}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
  const [maj = 0, min = 0] = version.split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0);
  return maj > major || (maj === major && min >= minor);
}

export class SimulatedVaultNode {
  readonly name: string;
  private readonly host: string;
  private readonly flavor: SimFlavor;
  private readonly version: string;
  private readonly clusterName: string;
  private readonly clusterId: string;
  private readonly rootToken: string;
  private readonly heartbeatIntervalMs: number;
  private readonly haUnhealthyAfterMs: number;
  private readonly forwardTimeoutMs: number;
  private readonly participant: HaParticipant;
  private readonly raftGroup: RaftGroup | undefined;
  private readonly timers = new TimerBag();
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private readonly eventLog: SimNodeEvent[] = [];

  private server: http.Server | undefined;
  private agent: http.Agent | undefined;
  private port: number;
  private url: string | undefined;
  private started = false;
  private running = false;
  /** Bumped by kill/stop/seal: async work started before compares it. */
  private runGeneration = 0;
  private initialized: boolean;
  private sealed = true;
  private forcedActive = false;
  private forcedSinceMs: number | undefined;
  private clientPartition: 'none' | ClientPartitionMode = 'none';
  private replyOverride: SimReplyOverride | undefined;
  private storagePartition = false;
  private heartbeatFailing = false;
  private clockOffsetMs: number;
  private unsealKeys = new Set<string>();
  private unsealNonce = '';
  private lastHeartbeatOkMs: number | undefined;
  private clockSkewMs = 0;
  private echoDurationMs = 0;

  constructor(private readonly opts: SimulatedVaultNodeOptions) {
    this.name = opts.name;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.flavor = opts.flavor ?? 'vault';
    this.version = opts.version ?? (this.flavor === 'openbao' ? '2.2.0' : '1.19.0');
    this.clusterName = opts.clusterName ?? 'vault-cluster-sim';
    this.clusterId = opts.clusterId ?? clusterIdFor(this.clusterName);
    this.rootToken = opts.rootToken ?? 'sim-root-token';
    this.initialized = opts.initialized ?? true;
    this.clockOffsetMs = opts.clockOffsetMs ?? 0;
    if (opts.seal.type === 'shamir') {
      const { shares, threshold } = opts.seal;
      if (!(threshold >= 1 && threshold <= shares.length) || new Set(shares).size !== shares.length) {
        throw new SimConfigError('seal', 'threshold must be between 1 and the number of distinct shares');
      }
    }

    const hooks: ParticipantHooks = {
      nodeName: this.name,
      nowMs: () => this.nowMs(),
      apiAddr: () => this.apiAddr(),
      clusterAddr: () => this.clusterAddr(),
      storagePartitioned: () => this.storagePartition,
      onBecameActive: () => {
        // An active node has no forwarding connection: 1.19 omits the heartbeat fields.
        this.lastHeartbeatOkMs = undefined;
        this.clockSkewMs = 0;
        this.echoDurationMs = 0;
        this.emit('became-active', `serving as active at ${this.apiAddr()}`);
      },
      onLostActive: (reason) => this.emit('lost-active', reason),
      log: (kind, detail) => this.emit(kind, detail),
    };

    let defaultHeartbeatMs: number;
    let defaultUnhealthyMs: number;
    if (opts.ha.type === 'dynamodb') {
      const timings = opts.ha.timings ?? REAL_LOCK_TIMINGS;
      this.participant = new DynamoDbHaParticipant(
        {
          client: opts.ha.client,
          table: opts.ha.table,
          timings,
          ...(opts.ha.acquireErrorBackoffMs !== undefined ? { acquireErrorBackoffMs: opts.ha.acquireErrorBackoffMs } : {}),
        },
        hooks,
      );
      defaultHeartbeatMs = Math.max(1, Math.round(timings.ttlMs / 15));
      defaultUnhealthyMs = Math.max(1, Math.round((timings.ttlMs * 2) / 3));
    } else {
      this.raftGroup = opts.ha.group;
      this.participant = opts.ha.group.join(hooks);
      defaultHeartbeatMs = Math.max(1, Math.round(opts.ha.group.electionTimeoutMs / 3));
      defaultUnhealthyMs = Math.max(1, Math.round((opts.ha.group.electionTimeoutMs * 10) / 3));
    }
    this.heartbeatIntervalMs = opts.heartbeat?.intervalMs ?? defaultHeartbeatMs;
    this.haUnhealthyAfterMs = opts.heartbeat?.unhealthyAfterMs ?? defaultUnhealthyMs;
    this.forwardTimeoutMs = opts.forwardTimeoutMs ?? Math.max(50, Math.round(this.haUnhealthyAfterMs / 5));
  }

  /** Keeps logs short: the object graph behind a node (SDK client, sockets) is huge. */
  [inspect.custom](): string {
    return `SimulatedVaultNode<${this.name} ${this.url ?? 'not started'}>`;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Starts listening; resolves with the base URL. */
  async start(): Promise<string> {
    if (this.running) throw new SimNodeStateError(this.name, 'start', 'running');
    const sealed = !this.initialized || (this.opts.startSealed ?? false);
    const url = await this.boot(sealed);
    this.started = true;
    return url;
  }

  /** Graceful shutdown: steps down and releases the lock the way Vault's shutdown does, then closes. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.runGeneration++;
    this.timers.clear();
    this.sealed = true;
    this.resetUnsealProgress();
    this.forcedActive = false;
    this.lastHeartbeatOkMs = undefined;
    await this.participant.halt('graceful');
    await this.closeListener();
    this.agent?.destroy();
    this.agent = undefined;
    this.running = false;
    this.emit('stopped', 'graceful shutdown');
  }

  /** SIGKILL: sockets destroyed, every timer stopped, the lock left in place to expire. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.runGeneration++;
    this.timers.clear();
    await this.participant.halt('hard');
    this.sealed = true;
    this.resetUnsealProgress();
    this.forcedActive = false;
    this.lastHeartbeatOkMs = undefined;
    await this.closeListener();
    this.agent?.destroy();
    this.agent = undefined;
    this.running = false;
    this.emit('killed', 'process killed');
  }

  /** A new process for the same node: same name and (if free) port; sealed unless auto-unseal. */
  async restart(): Promise<string> {
    if (this.running) await this.stop();
    const sealed = !this.initialized || this.opts.seal.type === 'shamir';
    return this.boot(sealed);
  }

  private async boot(sealed: boolean): Promise<string> {
    this.runGeneration++;
    this.agent = this.opts.tls ? new https.Agent({ keepAlive: false }) : new http.Agent({ keepAlive: false });
    const url = await this.openListener(this.started);
    if (this.clientPartition === 'refuse') await this.closeListener();
    this.running = true;
    this.sealed = sealed;
    this.emit('started', `listening on ${url} (${sealed ? 'sealed' : 'unsealed'})`);
    if (!sealed) this.onUnsealed();
    return url;
  }

  private async openListener(samePort: boolean): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => void this.dispatch(req, res);
    const server = this.opts.tls
      ? https.createServer({ key: this.opts.tls.keyPem, cert: this.opts.tls.certPem }, handler)
      : http.createServer(handler);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('tlsClientError', () => undefined);
    const listen = (port: number): Promise<void> =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    try {
      await listen(this.port);
    } catch (err) {
      if (!samePort || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      this.emit('port-changed', `port ${this.port} is taken; listening on a new ephemeral port`);
      await listen(0);
    }
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.url = `${this.opts.tls ? 'https' : 'http'}://${this.host}:${this.port}`;
    return this.url;
  }

  private async closeListener(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---------------------------------------------------------------- seal

  /** Seals the node (an active node steps down and releases leadership first, as Vault does). */
  async seal(): Promise<void> {
    if (!this.running || this.sealed) return;
    this.runGeneration++;
    this.timers.clear();
    this.sealed = true;
    this.resetUnsealProgress();
    this.lastHeartbeatOkMs = undefined;
    await this.participant.halt('graceful');
    this.emit('sealed', 'sealed');
  }

  /** Convenience: submits each share as `PUT /v1/sys/unseal` would; auto seal unseals with no shares. */
  async unseal(shares: string[] = []): Promise<VaultSealStatusBody> {
    if (!this.running) throw new SimNodeStateError(this.name, 'unseal', 'not running');
    if (this.opts.seal.type === 'auto') {
      if (this.initialized && this.sealed) {
        this.sealed = false;
        this.onUnsealed();
      }
      return this.sealStatusBody();
    }
    for (const share of shares) {
      if (!this.sealed) break;
      this.submitUnsealKey(share);
    }
    return this.sealStatusBody();
  }

  private submitUnsealKey(key: string): void {
    if (this.opts.seal.type !== 'shamir') return;
    const { shares, threshold } = this.opts.seal;
    if (!shares.includes(key)) throw new SimInvalidUnsealKeyError(this.name);
    if (this.unsealKeys.size === 0) this.unsealNonce = randomUUID();
    // A share already given in this round is ignored, as Vault's unsealFragment does.
    this.unsealKeys.add(key);
    if (this.unsealKeys.size >= threshold) {
      this.resetUnsealProgress();
      this.sealed = false;
      this.onUnsealed();
    }
  }

  private resetUnsealProgress(): void {
    this.unsealKeys = new Set();
    this.unsealNonce = '';
  }

  private onUnsealed(): void {
    this.emit('unsealed', 'unsealed; competing for leadership');
    this.participant.start();
    const gen = this.runGeneration;
    this.timers.after(this.heartbeatIntervalMs, () => void this.heartbeatTick(gen));
  }

  // ---------------------------------------------------------------- faults

  /** Manual step-down (same as the API): gives up leadership, backs off before competing again. */
  async stepDown(): Promise<boolean> {
    if (!this.running || this.sealed) return false;
    const wasForced = this.forcedActive;
    this.forcedActive = false;
    const steppedDown = await this.participant.stepDown();
    if (steppedDown || wasForced) this.emit('step-down', 'stepped down');
    return steppedDown || wasForced;
  }

  /**
   * Cuts every inbound client/probe connection while the node keeps running and
   * renewing its lock (a zombie leader when active). 'refuse' closes the
   * listener (connection refused); 'hang' accepts and never answers.
   */
  async partitionClients(on: boolean, mode: ClientPartitionMode = 'refuse'): Promise<void> {
    const previous = this.clientPartition;
    this.clientPartition = on ? mode : 'none';
    this.emit('client-partition', on ? mode : 'healed');
    if (!this.running) return;
    if (previous === 'refuse' && this.clientPartition !== 'refuse') await this.openListener(true);
    if (previous !== 'refuse' && this.clientPartition === 'refuse') await this.closeListener();
    if (previous === 'hang' && this.clientPartition !== 'hang') {
      for (const res of this.hung) res.destroy();
      this.hung.clear();
    }
  }

  /**
   * Fault switch: while set, a request the override answers gets that raw
   * reply instead of Vault's (the node keeps running and holding its lock).
   */
  setReplyOverride(override: SimReplyOverride | undefined): void {
    this.replyOverride = override;
    this.emit('reply-override', override ? 'answers replaced' : 'healed');
  }

  /** Every storage call (DynamoDB) / Raft message of this node fails while on. */
  partitionStorage(on: boolean): void {
    this.storagePartition = on;
    this.emit('storage-partition', on ? 'partitioned' : 'healed');
  }

  /** Claims active regardless of the lock (split brain) while unsealed. */
  forceActive(on: boolean): void {
    if (on && !this.forcedActive) this.forcedSinceMs = Date.now();
    this.forcedActive = on;
    this.emit('force-active', on ? 'claiming active regardless of the lock' : 'no longer forced');
  }

  setClockOffset(ms: number): void {
    this.clockOffsetMs = ms;
    this.emit('clock-offset', `${ms} ms`);
  }

  /** The standby's request-forwarding heartbeat (and forwarding itself) fails while on. */
  failHeartbeat(on: boolean): void {
    this.heartbeatFailing = on;
    this.emit('heartbeat-fault', on ? 'heartbeats fail' : 'healed');
  }

  // ---------------------------------------------------------------- views

  nowMs(): number {
    return Date.now() + this.clockOffsetMs;
  }

  apiAddr(): string {
    return this.opts.apiAddr ?? this.url ?? `${this.opts.tls ? 'https' : 'http'}://${this.host}:${this.port}`;
  }

  clusterAddr(): string {
    return this.opts.clusterAddr ?? `https://${this.host}:${this.port + 1}`;
  }

  get baseUrl(): string | undefined {
    return this.url;
  }

  isActive(): boolean {
    return this.running && this.initialized && !this.sealed && !this.isRemoved() && (this.forcedActive || this.participant.isLeader());
  }

  events(): readonly SimNodeEvent[] {
    return this.eventLog;
  }

  status(): SimNodeStatus {
    const snap = this.participant.snapshot();
    const active = this.isActive();
    const heldSince = snap.held ? snap.heldSinceMs : undefined;
    return {
      name: this.name,
      running: this.running,
      url: this.url,
      apiAddr: this.apiAddr(),
      initialized: this.initialized,
      sealed: this.sealed,
      removed: this.isRemoved(),
      isActive: active,
      holdsLeadership: snap.held,
      forcedActive: this.forcedActive,
      activeSinceMs: active ? (heldSince ?? this.forcedSinceMs) : undefined,
      lockIdentity: snap.lockIdentity,
      leaderUuid: snap.leaderUuid,
      leaderAddress: this.running && !this.sealed ? this.leaderAddressView() : undefined,
      clientPartition: this.clientPartition,
      storagePartitioned: this.storagePartition,
      heartbeatFailing: this.heartbeatFailing,
      haConnectionHealthy: !this.haUnhealthy(),
      lastHeartbeatAgoMs: this.lastHeartbeatOkMs === undefined ? undefined : Date.now() - this.lastHeartbeatOkMs,
      clockOffsetMs: this.clockOffsetMs,
      unsealProgress: this.unsealKeys.size,
      raft: snap.raft,
    };
  }

  private isRemoved(): boolean {
    return this.raftGroup?.isRemoved(this.name) ?? false;
  }

  private leaderAddressView(): string {
    if (this.isActive()) return this.apiAddr();
    return this.participant.leaderView()?.apiAddr ?? '';
  }

  private isStandby(): boolean {
    return this.running && !this.sealed && !this.isActive();
  }

  private modernFields(): { v116: boolean; v119: boolean } {
    if (this.flavor === 'openbao') return { v116: false, v119: false };
    return { v116: versionAtLeast(this.version, 1, 16), v119: versionAtLeast(this.version, 1, 19) };
  }

  private haUnhealthy(): boolean {
    return (
      this.isStandby() &&
      this.lastHeartbeatOkMs !== undefined &&
      Date.now() - this.lastHeartbeatOkMs >= this.haUnhealthyAfterMs
    );
  }

  private emit(kind: string, detail: string): void {
    const event: SimNodeEvent = { atMs: Date.now(), node: this.name, kind, detail };
    this.eventLog.push(event);
    if (this.eventLog.length > EVENT_LOG_SIZE) this.eventLog.shift();
    this.opts.onEvent?.(event);
  }

  // ---------------------------------------------------------------- heartbeat

  /**
   * Vault standbys keep a request-forwarding connection to the active and
   * heartbeat over it; 1.19+ reports the age of the last good heartbeat and
   * flips to 474 once it is too old. Vault uses the cluster port; the simulator
   * calls the active's API listener, so a client partition of the active also
   * breaks its standbys' heartbeats.
   */
  private async heartbeatTick(gen: number): Promise<void> {
    if (gen !== this.runGeneration || !this.running || this.sealed) return;
    const target = this.participant.leaderView()?.apiAddr;
    if (!this.isActive() && target && target !== this.apiAddr()) {
      if (!this.heartbeatFailing) {
        const started = Date.now();
        const localStart = this.nowMs();
        try {
          const answer = await this.httpCall(target, 'GET', SIM_ECHO_PATH, {}, undefined);
          const body = JSON.parse(answer.body.toString('utf8') || '{}') as { active?: boolean; now_ms?: number };
          if (gen === this.runGeneration && answer.status === 200 && body.active === true) {
            const rtt = Date.now() - started;
            this.lastHeartbeatOkMs = Date.now();
            this.echoDurationMs = rtt;
            if (typeof body.now_ms === 'number') this.clockSkewMs = Math.round(body.now_ms - (localStart + rtt / 2));
          }
        } catch {
          // A failed heartbeat just leaves lastHeartbeatOkMs to age.
        }
      }
    }
    if (gen !== this.runGeneration) return;
    this.timers.after(this.heartbeatIntervalMs, () => void this.heartbeatTick(gen));
  }

  // ---------------------------------------------------------------- HTTP

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => undefined);
    if (this.clientPartition === 'hang') {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    const raw = this.replyOverride?.({ method: req.method ?? 'GET', path: new URL(req.url ?? '/', 'http://sim.invalid').pathname, headers: req.headers });
    if (raw !== undefined) {
      try {
        writeRaw(res, raw);
      } catch {
        res.destroy(); // a status or header Node refuses to write: the client sees a reset
      }
      return;
    }
    let reply: HttpReply;
    try {
      reply = await this.route(req);
    } catch (err) {
      reply = { status: 500, body: { errors: [err instanceof Error ? err.message : String(err)] } };
    }
    if (res.destroyed || res.headersSent) return;
    const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
    if (reply.body === undefined || req.method === 'HEAD') {
      if (reply.body !== undefined) headers['content-type'] = 'application/json';
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    if (Buffer.isBuffer(reply.body)) {
      res.writeHead(reply.status, headers);
      res.end(reply.body);
      return;
    }
    headers['content-type'] = 'application/json';
    res.writeHead(reply.status, headers);
    res.end(`${JSON.stringify(reply.body)}\n`);
  }

  private async route(req: IncomingMessage): Promise<HttpReply> {
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    switch (url.pathname) {
      case VAULT_PATHS.health:
        return method === 'GET' || method === 'HEAD' ? this.healthReply(url.searchParams) : methodNotAllowed();
      case VAULT_PATHS.leader:
        return method === 'GET' ? this.leaderReply() : methodNotAllowed();
      case VAULT_PATHS.sealStatus:
        return method === 'GET' ? { status: 200, body: this.sealStatusBody() } : methodNotAllowed();
      case VAULT_PATHS.unseal:
        return method === 'PUT' || method === 'POST' ? this.unsealReply(body) : methodNotAllowed();
      case VAULT_PATHS.stepDown:
        return method === 'PUT' || method === 'POST' ? this.stepDownReply(req, url, body) : methodNotAllowed();
      case SIM_ECHO_PATH:
        return this.sealed
          ? errorReply(503, 'Vault is sealed')
          : { status: 200, body: { node: this.name, active: this.isActive(), now_ms: this.nowMs() } };
      default:
        if (url.pathname.startsWith('/v1/')) return this.clientReply(req, url, body);
        return errorReply(404, undefined);
    }
  }

  private healthReply(query: URLSearchParams): HttpReply {
    const { v116, v119 } = this.modernFields();
    const codes = {
      standbyok: false,
      active: HEALTH_STATUS.active as number,
      standby: HEALTH_STATUS.standby as number,
      sealed: HEALTH_STATUS.sealed as number,
      uninit: HEALTH_STATUS.notInitialized as number,
      haUnhealthy: HEALTH_STATUS.haUnhealthy as number,
      removed: HEALTH_STATUS.removed as number,
    };
    const standbyOk = query.get('standbyok');
    if (standbyOk !== null) {
      if (GO_TRUE.has(standbyOk)) codes.standbyok = true;
      else if (!GO_FALSE.has(standbyOk)) return errorReply(400, `bad value for standbyok parameter: ${standbyOk}`);
    }
    const perfStandbyOk = query.get('perfstandbyok');
    if (perfStandbyOk !== null && !GO_TRUE.has(perfStandbyOk) && !GO_FALSE.has(perfStandbyOk)) {
      return errorReply(400, `bad value for perfstandbyok parameter: ${perfStandbyOk}`);
    }
    const overrides: Array<[string, keyof typeof codes]> = [
      ['uninitcode', 'uninit'],
      ['sealedcode', 'sealed'],
      ['standbycode', 'standby'],
      ['activecode', 'active'],
    ];
    if (v119) overrides.push(['haunhealthycode', 'haUnhealthy'], ['removedcode', 'removed']);
    for (const [param, field] of overrides) {
      const raw = query.get(param);
      if (raw === null) continue;
      // Go's strconv.Atoi; a code Node cannot write is rejected the same way.
      if (!/^[+-]?\d+$/.test(raw)) return errorReply(400, undefined);
      const code = Number.parseInt(raw, 10);
      if (code < 100 || code > 999) return errorReply(400, undefined);
      (codes[field] as number) = code;
    }

    const sealed = this.sealed || !this.initialized;
    const removed = v119 && this.isRemoved();
    const active = this.isActive();
    const haUnhealthy = v119 && this.haUnhealthy();
    let status = codes.active;
    if (!this.initialized) status = codes.uninit;
    else if (removed) status = codes.removed;
    else if (sealed) status = codes.sealed;
    else if (haUnhealthy) status = codes.haUnhealthy;
    else if (!active && !codes.standbyok) status = codes.standby;

    const body: VaultHealthBody & { replication_primary_canary_age_ms?: number } = {
      initialized: this.initialized,
      sealed,
      // Vault's core starts in standby and a sealed node reports standby: true.
      standby: !active,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(this.nowMs() / 1000),
      version: this.version,
    };
    if (this.flavor === 'vault') body.enterprise = false;
    // cluster_name and cluster_id are omitempty and only filled while unsealed.
    if (!sealed) {
      body.cluster_name = this.clusterName;
      body.cluster_id = this.clusterId;
    }
    if (v116) {
      body.echo_duration_ms = active ? 0 : this.echoDurationMs;
      body.clock_skew_ms = active ? 0 : this.clockSkewMs;
      body.replication_primary_canary_age_ms = 0;
    }
    if (v119) {
      if (this.raftGroup) body.removed_from_cluster = this.isRemoved();
      if (!active && !sealed && this.lastHeartbeatOkMs !== undefined) {
        body.ha_connection_healthy = !this.haUnhealthy();
        body.last_request_forwarding_heartbeat_ms = Date.now() - this.lastHeartbeatOkMs;
      }
    }
    return { status, body };
  }

  private leaderReply(): HttpReply {
    // Core.Leader() refuses while sealed and sys/leader turns that into a 500.
    if (this.sealed || !this.initialized) return errorReply(500, 'Vault is sealed');
    const active = this.isActive();
    const view = active ? undefined : this.participant.leaderView();
    const snap = this.participant.snapshot();
    const activeSince = snap.heldSinceMs ?? this.forcedSinceMs;
    const body: VaultLeaderBody = {
      ha_enabled: true,
      is_self: active,
      active_time: active && activeSince !== undefined ? new Date(activeSince + this.clockOffsetMs).toISOString() : ZERO_TIME,
      leader_address: active ? this.apiAddr() : (view?.apiAddr ?? ''),
      leader_cluster_address: active ? this.clusterAddr() : (view?.clusterAddr ?? ''),
      performance_standby: false,
      performance_standby_last_remote_wal: 0,
    };
    if (snap.raft) {
      body.raft_committed_index = snap.raft.committedIndex;
      body.raft_applied_index = snap.raft.appliedIndex;
    }
    return { status: 200, body };
  }

  sealStatusBody(): VaultSealStatusBody {
    const shamir = this.opts.seal.type === 'shamir' ? this.opts.seal : undefined;
    const sealed = this.sealed || !this.initialized;
    const body: VaultSealStatusBody = {
      type: shamir ? 'shamir' : 'awskms',
      initialized: this.initialized,
      sealed,
      t: this.initialized ? (shamir?.threshold ?? 1) : 0,
      n: this.initialized ? (shamir?.shares.length ?? 1) : 0,
      progress: this.unsealKeys.size,
      nonce: this.unsealNonce,
      version: this.version,
      build_date: '2025-03-04T17:00:00Z',
      migration: false,
      recovery_seal: !shamir,
      storage_type: this.raftGroup ? 'raft' : 'dynamodb',
    };
    if (!sealed) {
      body.cluster_name = this.clusterName;
      body.cluster_id = this.clusterId;
    }
    return body;
  }

  private unsealReply(raw: Buffer): HttpReply {
    let parsed: { key?: unknown; reset?: unknown };
    try {
      parsed = raw.length ? (JSON.parse(raw.toString('utf8')) as { key?: unknown; reset?: unknown }) : {};
    } catch {
      return errorReply(400, 'failed to parse JSON input');
    }
    if (!this.initialized) return errorReply(400, 'Vault is not initialized');
    if (parsed.reset === true) {
      this.resetUnsealProgress();
      return { status: 200, body: this.sealStatusBody() };
    }
    if (typeof parsed.key !== 'string' || parsed.key === '') {
      return errorReply(400, "'key' must be specified in request body as JSON, or 'reset' set to true");
    }
    if (!this.sealed) return { status: 200, body: this.sealStatusBody() };
    if (this.opts.seal.type !== 'shamir') return errorReply(400, 'unseal keys are not used with an auto seal');
    try {
      this.submitUnsealKey(parsed.key);
    } catch (err) {
      if (err instanceof SimInvalidUnsealKeyError) return errorReply(400, 'invalid key: not one of the unseal key shares');
      throw err;
    }
    return { status: 200, body: this.sealStatusBody() };
  }

  private async stepDownReply(req: IncomingMessage, url: URL, body: Buffer): Promise<HttpReply> {
    if (this.sealed || !this.initialized) return errorReply(503, 'Vault is sealed');
    // sys/step-down is an ordinary request: a standby forwards it to the active.
    if (!this.isActive()) return this.clientReply(req, url, body);
    if (req.headers['x-vault-token'] !== this.rootToken) return errorReply(403, 'permission denied');
    await this.stepDown();
    return { status: 204 };
  }

  private async clientReply(req: IncomingMessage, url: URL, body: Buffer): Promise<HttpReply> {
    if (this.sealed || !this.initialized) return errorReply(503, 'Vault is sealed');
    if (this.isRemoved()) return errorReply(503, 'node has been removed from the HA cluster');
    if (this.isActive()) {
      return { status: 200, body: { request_id: randomUUID(), data: { served_by: this.name, path: url.pathname, method: req.method } } };
    }
    if (req.headers[FORWARDED_HEADER] !== undefined) {
      return { ...errorReply(503, 'node is not active'), headers: { [FORWARD_REJECTED_HEADER]: '1' } };
    }
    const leader = this.participant.leaderView()?.apiAddr;
    if (!leader || leader === this.apiAddr()) {
      return errorReply(503, 'local node not active but active cluster node not found');
    }
    if (!this.heartbeatFailing) {
      try {
        const answer = await this.httpCall(leader, req.method ?? 'GET', `${url.pathname}${url.search}`, forwardHeaders(req, this.name), body);
        if (answer.headers[FORWARD_REJECTED_HEADER] === undefined) {
          const headers: Record<string, string> = {};
          const contentType = answer.headers['content-type'];
          if (typeof contentType === 'string') headers['content-type'] = contentType;
          const location = answer.headers.location;
          if (typeof location === 'string') headers.location = location;
          return { status: answer.status, headers, body: answer.body.length ? answer.body : undefined };
        }
      } catch {
        // fall through to the redirect, as Vault does when forwarding fails
      }
    }
    const target = new URL(leader);
    target.pathname = url.pathname;
    target.search = url.search;
    return { status: 307, headers: { location: target.toString() } };
  }

  private httpCall(
    base: string,
    method: string,
    pathAndQuery: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const target = new URL(pathAndQuery, base);
    const secure = target.protocol === 'https:';
    const tls = this.opts.tls;
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions = {
        method,
        headers: body && body.length ? { ...headers, 'content-length': String(body.length) } : headers,
        timeout: this.forwardTimeoutMs,
        ...(this.agent ? { agent: this.agent } : {}),
        ...(secure && tls ? { ca: tls.caPem ?? tls.certPem } : {}),
      };
      const request = (secure ? https : http).request(target, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) request.destroy(new Error('forwarded response too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      const deadline = setTimeout(() => request.destroy(new Error('forwarding timed out')), this.forwardTimeoutMs);
      deadline.unref();
      request.on('close', () => clearTimeout(deadline));
      request.on('timeout', () => request.destroy(new Error('forwarding timed out')));
      request.on('error', reject);
      request.end(body && body.length ? body : undefined);
    });
  }
}

function forwardHeaders(req: IncomingMessage, from: string): Record<string, string> {
  const headers: Record<string, string> = { [FORWARDED_HEADER]: from };
  for (const name of ['content-type', 'x-vault-token', 'x-vault-request', 'x-vault-namespace']) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

function writeRaw(res: ServerResponse, raw: SimRawReply): void {
  if ('socketBytes' in raw) {
    res.socket?.end(raw.socketBytes);
    res.socket?.destroySoon();
    return;
  }
  res.writeHead(raw.status, raw.headers ?? {});
  if (raw.repeat === undefined) {
    res.end(raw.body);
    return;
  }
  const { chunk, totalBytes } = raw.repeat;
  let sent = 0;
  const pump = (): void => {
    // Bounded by totalBytes; stops as soon as the client hangs up.
    while (sent < totalBytes && !res.destroyed) {
      const piece = totalBytes - sent >= chunk.length ? chunk : chunk.subarray(0, totalBytes - sent);
      sent += piece.length;
      if (!res.write(piece)) {
        res.once('drain', pump);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

function errorReply(status: number, message: string | undefined): HttpReply {
  return { status, body: { errors: message === undefined ? [] : [message] } };
}

function methodNotAllowed(): HttpReply {
  return errorReply(405, undefined);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}
