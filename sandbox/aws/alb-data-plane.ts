/**
 * The load balancer's data plane for the sandbox: health checks of registered
 * targets and a listener that forwards client requests to them.
 *
 * Health checks follow the target group's settings (path, interval, timeout,
 * healthy/unhealthy thresholds, matcher) on the world clock: a target registers
 * (`initial` / `Elb.RegistrationInProgress` for `registrationDelayMs`, the
 * undocumented extra time ELB takes), then turns `healthy` after ONE passing
 * check ("After your target is registered, it must pass one health check to be
 * considered healthy", AWS "Health checks for Application Load Balancer target
 * groups"); `UnhealthyThresholdCount` consecutive failures turn it `unhealthy`,
 * and only an `unhealthy` target needs `HealthyThresholdCount` consecutive
 * passes to be put back in service (same page, "Health check settings").
 *
 * Routing is ELB's: round robin over healthy targets; when no target is healthy
 * but some are unhealthy, the ALB **fails open** and routes to all unhealthy
 * targets (so a dead sole target keeps getting traffic until it is deregistered);
 * with nothing routable the listener answers 503 itself. Draining and `unused`
 * targets receive no new requests.
 *
 * The same machinery serves the other balancers, with their own rules:
 *  - a **network** (NLB) target group may check with TCP (the check passes when
 *    the connection opens, so a sealed Vault passes too) or HTTP, and may hold
 *    `ip` targets (the check and the traffic go to the instance whose private
 *    IP it is; no instance there: the check times out); it fails open like an
 *    ALB ("Health checks for Network Load Balancer target groups");
 *  - a **Classic Load Balancer** (classic-elb.ts) passes an HTTP check on 200
 *    only, puts a new instance InService only after HealthyThreshold passes in
 *    a row ("Configure health checks for your Classic Load Balancer"), and
 *    never fails open: with no InService instance it answers 503 itself.
 *
 * ALBs do not validate target certificates; the sandbox keeps TLS verification
 * on and takes the CA of the simulated nodes instead (`ca`).
 */
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { TargetGroup, TargetGroupRegistry, TargetHealthReason, TargetRecord } from './elbv2.js';
import { TARGET_HEALTH_REASONS, parseMatcher } from './elbv2.js';
import type { SimClock, SimInstance, TimerHandle, World } from './world.js';

/** Where to send health checks and traffic for a target: a base URL such as `http://127.0.0.1:18201`. */
export type TargetAddressResolver = (instance: SimInstance, port: number) => string | undefined;

export interface AlbDataPlaneOptions {
  world: World;
  registry: TargetGroupRegistry;
  /** Default: the instance tag `urlTagKey` (`vault-url`). */
  resolveTarget?: TargetAddressResolver;
  urlTagKey?: string;
  /** Simulated time a new registration spends in `Elb.RegistrationInProgress` before the first check. */
  registrationDelayMs?: number;
  /** CA for HTTPS targets (the simulated nodes' CA). */
  ca?: string | Buffer;
  /** Listener idle timeout (ALB default 60 s), simulated seconds. */
  idleTimeoutSeconds?: number;
}

export interface ListenerStats {
  requests: number;
  /** Responses by HTTP status, including the ALB's own 502/503/504. */
  byStatus: Record<number, number>;
  /** Requests forwarded, per target instance id. */
  byTarget: Record<string, number>;
  /** 503s the listener answered itself because no target was routable. */
  noRoutableTarget: number;
  /** Requests forwarded while failing open (no healthy target, routed to unhealthy ones). */
  failOpen: number;
  /** 502s: the target refused or broke the connection. */
  targetConnectionErrors: number;
  /** 504s: the target did not answer within the idle timeout. */
  targetTimeouts: number;
}

export interface AlbListener {
  targetGroupArn: string;
  url: string;
  port: number;
}

interface ListenerState extends AlbListener {
  server: http.Server;
  stats: ListenerStats;
  rr: number;
}

type CheckOutcome = { ok: true; status: number } | { ok: false; reason: TargetHealthReason; description: string; status?: number };

function emptyStats(): ListenerStats {
  return { requests: 0, byStatus: {}, byTarget: {}, noRoutableTarget: 0, failOpen: 0, targetConnectionErrors: 0, targetTimeouts: 0 };
}

const CLASSIC_503_BODY = '<html><body><b>Http/1.1 Service Unavailable</b></body> </html>\n';

const ALB_503_BODY =
  '<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n';

export class AlbDataPlane {
  private readonly world: World;
  private readonly clock: SimClock;
  private readonly registry: TargetGroupRegistry;
  private readonly resolve: TargetAddressResolver;
  private readonly registrationDelayMs: number;
  private readonly ca: string | Buffer | undefined;
  private readonly idleTimeoutSeconds: number;
  private readonly timers = new Map<string, TimerHandle>();
  private readonly inflight = new Set<AbortController>();
  private readonly listeners: ListenerState[] = [];
  private stopped = false;

  constructor(opts: AlbDataPlaneOptions) {
    this.world = opts.world;
    this.clock = opts.world.clock;
    this.registry = opts.registry;
    const tagKey = opts.urlTagKey ?? 'vault-url';
    this.resolve = opts.resolveTarget ?? ((inst) => inst.tags[tagKey]);
    this.registrationDelayMs = opts.registrationDelayMs ?? 5_000;
    this.ca = opts.ca;
    this.idleTimeoutSeconds = opts.idleTimeoutSeconds ?? 60;
  }

  /** Subscribes to registrations and starts checking targets already registered. */
  start(): void {
    this.registry.setObserver({
      onRegistered: (tg, rec) => this.scheduleCheck(tg, rec, this.registrationDelayMs),
      onDeregistered: (tg, rec) => this.cancelCheck(tg, rec),
    });
    for (const tg of this.registry.targetGroups()) {
      for (const rec of tg.targets.values()) if (rec.state !== 'draining') this.scheduleCheck(tg, rec, 0);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.registry.setObserver(undefined);
    for (const h of this.timers.values()) this.clock.clearTimer(h);
    this.timers.clear();
    for (const c of this.inflight) c.abort();
    await Promise.all(
      this.listeners.map(
        (l) =>
          new Promise<void>((resolve) => {
            l.server.close(() => resolve());
            l.server.closeAllConnections();
          }),
      ),
    );
    this.listeners.length = 0;
  }

  /* ---------------- health checks ---------------- */

  /**
   * Puts a registered target straight into the state it would have after a long
   * run of checks (`healthy` after HealthyThresholdCount passes, `unhealthy` after
   * UnhealthyThresholdCount failures), with its next check `nextCheckInMs`
   * (world-clock ms) from now: a sandbox that starts from a cluster that was
   * already behind the load balancer, each target at its own check phase.
   */
  settleTarget(targetGroupArn: string, instanceId: string, state: 'healthy' | 'unhealthy', nextCheckInMs: number): void {
    const tg = this.registry.requireTargetGroup(targetGroupArn);
    const rec = [...tg.targets.values()].find((r) => r.id === instanceId && r.state !== 'draining');
    if (rec === undefined) throw new RangeError(`${instanceId} is not registered in ${targetGroupArn}`);
    rec.state = state;
    if (state === 'healthy') {
      rec.consecutivePasses = tg.healthCheck.healthyThresholdCount;
      rec.consecutiveFailures = 0;
      delete rec.reason;
      delete rec.description;
    } else {
      rec.consecutivePasses = 0;
      rec.consecutiveFailures = tg.healthCheck.unhealthyThresholdCount;
      rec.reason = 'Target.ResponseCodeMismatch';
      rec.description = TARGET_HEALTH_REASONS['Target.ResponseCodeMismatch'];
    }
    this.scheduleCheck(tg, rec, Math.max(0, nextCheckInMs));
  }

  private key(tg: TargetGroup, rec: TargetRecord): string {
    return `${tg.arn}|${rec.id}:${rec.port}`;
  }

  private cancelCheck(tg: TargetGroup, rec: TargetRecord): void {
    const k = this.key(tg, rec);
    this.clock.clearTimer(this.timers.get(k));
    this.timers.delete(k);
  }

  private scheduleCheck(tg: TargetGroup, rec: TargetRecord, delayMs: number): void {
    if (this.stopped) return;
    const k = this.key(tg, rec);
    this.clock.clearTimer(this.timers.get(k));
    const generation = rec.generation;
    const handle = this.clock.setTimer(() => {
      if (this.timers.get(k) === handle) this.timers.delete(k);
      void this.runCheck(tg, rec, generation);
    }, delayMs);
    this.timers.set(k, handle);
  }

  private current(tg: TargetGroup, rec: TargetRecord, generation: number): boolean {
    return !this.stopped && rec.generation === generation && rec.state !== 'draining' && tg.targets.get(`${rec.id}:${rec.port}`) === rec;
  }

  /** The instance behind a target: the instance itself, or for an `ip` target the running one with that private IP. */
  private instanceOf(tg: TargetGroup, rec: Pick<TargetRecord, 'id'>): SimInstance | undefined {
    return tg.targetType === 'ip' ? this.registry.instanceAtIp(rec.id) : this.world.instance(rec.id);
  }

  private async runCheck(tg: TargetGroup, rec: TargetRecord, generation: number): Promise<void> {
    if (!this.current(tg, rec, generation)) return;
    const startedAt = this.clock.nowMs();
    const intervalMs = tg.healthCheck.intervalSeconds * 1000;
    const inst = this.instanceOf(tg, rec);
    if (tg.targetType === 'ip') {
      // The balancer knows only the address: nobody there is a check that times out.
      if (!tg.healthCheck.enabled) return;
      if (rec.state === 'initial' && rec.reason === 'Elb.RegistrationInProgress') {
        rec.reason = 'Elb.InitialHealthChecking';
        rec.description = TARGET_HEALTH_REASONS['Elb.InitialHealthChecking'];
      }
      const outcome: CheckOutcome =
        inst === undefined ? { ok: false, reason: 'Target.Timeout', description: TARGET_HEALTH_REASONS['Target.Timeout'] } : await this.probe(tg, inst, rec.port);
      if (!this.current(tg, rec, generation)) return;
      this.apply(tg, rec, outcome);
      this.scheduleCheck(tg, rec, Math.max(0, intervalMs - (this.clock.nowMs() - startedAt)));
      return;
    }
    if (inst === undefined) return; // purged after termination; the registry forgets it
    if (inst.state === 'pending' || inst.state === 'stopped' || inst.state === 'terminated') {
      // Not checked while the instance is down; it starts over from `initial` when it is back.
      rec.state = 'unused';
      rec.consecutivePasses = 0;
      rec.consecutiveFailures = 0;
      delete rec.reason;
      delete rec.description;
      this.scheduleCheck(tg, rec, intervalMs);
      return;
    }
    if (rec.state === 'unused') {
      rec.state = 'initial';
      rec.reason = 'Elb.InitialHealthChecking';
      rec.description = TARGET_HEALTH_REASONS['Elb.InitialHealthChecking'];
    }
    if (!tg.healthCheck.enabled) return;
    if (rec.state === 'initial' && rec.reason === 'Elb.RegistrationInProgress') {
      rec.reason = 'Elb.InitialHealthChecking';
      rec.description = TARGET_HEALTH_REASONS['Elb.InitialHealthChecking'];
    }
    const outcome = await this.probe(tg, inst, rec.port);
    if (!this.current(tg, rec, generation)) return;
    this.apply(tg, rec, outcome);
    const elapsed = this.clock.nowMs() - startedAt;
    this.scheduleCheck(tg, rec, Math.max(0, intervalMs - elapsed));
  }

  private apply(tg: TargetGroup, rec: TargetRecord, outcome: CheckOutcome): void {
    const atMs = this.clock.nowMs();
    if (outcome.ok) {
      rec.consecutivePasses += 1;
      rec.consecutiveFailures = 0;
      rec.lastCheck = { atMs, ok: true, status: outcome.status };
      // A new (`initial`) target needs one pass; an `unhealthy` one comes back
      // after HealthyThresholdCount passes in a row (see the header). A Classic
      // Load Balancer wants HealthyThreshold passes from a new instance too.
      const needed = rec.state === 'initial' && tg.balancer !== 'classic' ? 1 : tg.healthCheck.healthyThresholdCount;
      if (rec.state !== 'healthy' && rec.consecutivePasses >= needed) {
        rec.state = 'healthy';
        delete rec.reason;
        delete rec.description;
      }
      return;
    }
    rec.consecutiveFailures += 1;
    rec.consecutivePasses = 0;
    rec.lastCheck = { atMs, ok: false, reason: outcome.reason, ...(outcome.status !== undefined ? { status: outcome.status } : {}) };
    if (rec.state === 'unhealthy' || rec.consecutiveFailures >= tg.healthCheck.unhealthyThresholdCount) {
      rec.state = 'unhealthy';
      rec.reason = outcome.reason;
      rec.description = outcome.description;
    }
  }

  private probe(tg: TargetGroup, inst: SimInstance, port: number): Promise<CheckOutcome> {
    const base = this.resolve(inst, port);
    if (base === undefined) {
      return Promise.resolve({ ok: false, reason: 'Target.FailedHealthChecks', description: TARGET_HEALTH_REASONS['Target.FailedHealthChecks'] });
    }
    const timeoutMs = tg.healthCheck.timeoutSeconds * 1000;
    if (tg.healthCheck.protocol === 'TCP') return this.tcpProbe(base, timeoutMs);
    const matches = parseMatcher(tg.healthCheck.matcher, tg.balancer === 'network' ? 599 : 499);
    const url = new URL(tg.healthCheck.path, base);
    return new Promise<CheckOutcome>((resolve) => {
      const controller = new AbortController();
      this.inflight.add(controller);
      let settled = false;
      const finish = (o: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimer(timer);
        this.inflight.delete(controller);
        controller.abort();
        resolve(o);
      };
      const timer = this.clock.setTimer(
        () => finish({ ok: false, reason: 'Target.Timeout', description: TARGET_HEALTH_REASONS['Target.Timeout'] }),
        timeoutMs,
      );
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        {
          method: 'GET',
          signal: controller.signal,
          agent: false,
          headers: { 'user-agent': 'ELB-HealthChecker/2.0', accept: '*/*', connection: 'close' },
          ...(url.protocol === 'https:' && this.ca !== undefined ? { ca: this.ca } : {}),
        },
        (res) => {
          const status = res.statusCode ?? 0;
          res.resume();
          res.on('end', () =>
            finish(
              matches(status)
                ? { ok: true, status }
                : { ok: false, reason: 'Target.ResponseCodeMismatch', description: `Health checks failed with these codes: [${status}]`, status },
            ),
          );
          res.on('error', () => finish({ ok: false, reason: 'Target.FailedHealthChecks', description: TARGET_HEALTH_REASONS['Target.FailedHealthChecks'] }));
        },
      );
      req.on('error', () => finish({ ok: false, reason: 'Target.FailedHealthChecks', description: TARGET_HEALTH_REASONS['Target.FailedHealthChecks'] }));
      req.end();
    });
  }

  /** A TCP health check: passes when the connection to the target's address opens within the timeout. */
  private tcpProbe(base: string, timeoutMs: number): Promise<CheckOutcome> {
    const url = new URL(base);
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    return new Promise<CheckOutcome>((resolve) => {
      let settled = false;
      const socket = net.connect({ host: url.hostname, port });
      const finish = (o: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimer(timer);
        socket.destroy();
        resolve(o);
      };
      const timer = this.clock.setTimer(() => finish({ ok: false, reason: 'Target.Timeout', description: TARGET_HEALTH_REASONS['Target.Timeout'] }), timeoutMs);
      socket.once('connect', () => finish({ ok: true, status: 0 }));
      socket.once('error', () => finish({ ok: false, reason: 'Target.FailedHealthChecks', description: TARGET_HEALTH_REASONS['Target.FailedHealthChecks'] }));
    });
  }

  /* ---------------- routing ---------------- */

  /** Targets the listener would route a new request to, and whether that is fail-open routing. */
  routableTargets(targetGroupArn: string): { targets: TargetRecord[]; failOpen: boolean } {
    const tg = this.registry.requireTargetGroup(targetGroupArn);
    const up = [...tg.targets.values()].filter((r) => {
      if (tg.targetType === 'ip') return r.state !== 'draining';
      const inst = this.world.instance(r.id);
      return inst !== undefined && inst.state !== 'stopped' && inst.state !== 'terminated' && inst.state !== 'pending';
    });
    const healthy = up.filter((r) => r.state === 'healthy');
    if (healthy.length > 0) return { targets: healthy, failOpen: false };
    // A Classic Load Balancer routes to InService instances only; none is its own 503.
    if (tg.balancer === 'classic') return { targets: [], failOpen: false };
    const unhealthy = up.filter((r) => r.state === 'unhealthy');
    return { targets: unhealthy, failOpen: unhealthy.length > 0 };
  }

  /** Starts an HTTP listener on 127.0.0.1 that forwards to the target group. */
  async addListener(targetGroupArn: string): Promise<AlbListener> {
    this.registry.requireTargetGroup(targetGroupArn);
    const state: ListenerState = { targetGroupArn, url: '', port: 0, server: http.createServer(), stats: emptyStats(), rr: 0 };
    state.server.on('request', (req, res) => this.forward(state, req, res));
    await new Promise<void>((resolve, reject) => {
      state.server.once('error', reject);
      state.server.listen(0, '127.0.0.1', () => resolve());
    });
    state.port = (state.server.address() as AddressInfo).port;
    state.url = `http://127.0.0.1:${state.port}`;
    this.listeners.push(state);
    return { targetGroupArn, url: state.url, port: state.port };
  }

  /** Counters of one listener (the first one when no ARN is given). */
  stats(targetGroupArn?: string): ListenerStats {
    const l = targetGroupArn === undefined ? this.listeners[0] : this.listeners.find((x) => x.targetGroupArn === targetGroupArn);
    if (l === undefined) return emptyStats();
    return structuredClone(l.stats);
  }

  resetStats(): void {
    for (const l of this.listeners) l.stats = emptyStats();
  }

  private forward(l: ListenerState, req: http.IncomingMessage, res: http.ServerResponse): void {
    l.stats.requests += 1;
    const count = (status: number): void => {
      l.stats.byStatus[status] = (l.stats.byStatus[status] ?? 0) + 1;
    };
    const tg = this.registry.requireTargetGroup(l.targetGroupArn);
    const { targets, failOpen } = this.routableTargets(l.targetGroupArn);
    const pick = targets.length > 0 ? targets[l.rr++ % targets.length] : undefined;
    const inst = pick ? this.instanceOf(tg, pick) : undefined;
    const base = pick && inst ? this.resolve(inst, pick.port) : undefined;
    if (pick === undefined || base === undefined) {
      if (pick === undefined) l.stats.noRoutableTarget += 1;
      else l.stats.targetConnectionErrors += 1;
      const status = pick === undefined ? 503 : 502;
      count(status);
      req.resume();
      res.writeHead(status, { 'content-type': 'text/html', server: 'awselb/2.0' });
      res.end(status === 503 ? (tg.balancer === 'classic' ? CLASSIC_503_BODY : ALB_503_BODY) : '502 Bad Gateway');
      return;
    }
    l.stats.byTarget[pick.id] = (l.stats.byTarget[pick.id] ?? 0) + 1;
    if (failOpen) l.stats.failOpen += 1;
    const target = new URL(req.url ?? '/', base);
    const headers = { ...req.headers };
    delete headers.host;
    delete headers.connection;
    headers['x-forwarded-for'] = [req.socket.remoteAddress ?? '127.0.0.1', headers['x-forwarded-for']].filter(Boolean).join(', ');
    headers['x-forwarded-proto'] = 'http';
    headers['x-forwarded-port'] = String(l.port);
    const mod = target.protocol === 'https:' ? https : http;
    const controller = new AbortController();
    this.inflight.add(controller);
    let done = false;
    const finish = (): void => {
      done = true;
      this.clock.clearTimer(timer);
      this.inflight.delete(controller);
    };
    const fail = (status: 502 | 504): void => {
      if (done) return;
      finish();
      controller.abort();
      if (status === 502) l.stats.targetConnectionErrors += 1;
      else l.stats.targetTimeouts += 1;
      count(status);
      if (!res.headersSent) {
        res.writeHead(status, { 'content-type': 'text/html', server: 'awselb/2.0' });
        res.end(status === 502 ? '502 Bad Gateway' : '504 Gateway Time-out');
      } else {
        res.destroy();
      }
    };
    const timer = this.clock.setTimer(() => fail(504), this.idleTimeoutSeconds * 1000);
    const upstream = mod.request(
      target,
      {
        method: req.method,
        headers,
        signal: controller.signal,
        agent: false,
        ...(target.protocol === 'https:' && this.ca !== undefined ? { ca: this.ca } : {}),
      },
      (up) => {
        const status = up.statusCode ?? 502;
        res.writeHead(status, up.headers);
        up.pipe(res);
        up.on('end', () => {
          if (done) return;
          finish();
          count(status);
        });
        up.on('error', () => fail(502));
      },
    );
    upstream.on('error', () => fail(502));
    req.pipe(upstream);
  }
}

/* ------------------------------------------------------------------ */
/* Client probe                                                        */
/* ------------------------------------------------------------------ */

export interface ClientProbeOptions {
  /** Listener URL (plus optional path, default `/v1/sys/health`). */
  url: string;
  path?: string;
  clock: SimClock;
  /** Simulated ms between request starts. */
  intervalMs: number;
  /** Simulated ms before a request counts as failed. */
  timeoutMs: number;
  /** Rolling window for `successRate`, simulated ms. */
  windowMs: number;
  /** Hard bound on requests sent. */
  maxRequests: number;
  /** Default: any 2xx. */
  isSuccess?: (status: number) => boolean;
}

export interface ClientSample {
  atMs: number;
  ok: boolean;
  status?: number;
  error?: string;
  latencyMs: number;
}

export interface ClientProbeStats {
  sent: number;
  succeeded: number;
  failed: number;
  /** Success ratio over the rolling window (1 when the window is empty). */
  successRate: number;
  windowSamples: number;
  last?: ClientSample;
}

export interface ClientProbe {
  stats(): ClientProbeStats;
  samples(): ClientSample[];
  /** Resolves when `maxRequests` were sent or `stop()` was called. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** A bounded loop of client requests through the listener, recording success over a rolling window. */
export function clientProbe(opts: ClientProbeOptions): ClientProbe {
  const isSuccess = opts.isSuccess ?? ((s: number) => s >= 200 && s < 300);
  const stop = new AbortController();
  const samples: ClientSample[] = [];
  let sent = 0;
  let succeeded = 0;
  let failed = 0;
  const url = new URL(opts.path ?? '/v1/sys/health', opts.url);

  const once = (): Promise<ClientSample> =>
    new Promise<ClientSample>((resolve) => {
      const startedAt = opts.clock.nowMs();
      const controller = new AbortController();
      let settled = false;
      const finish = (s: Omit<ClientSample, 'atMs' | 'latencyMs'>): void => {
        if (settled) return;
        settled = true;
        opts.clock.clearTimer(timer);
        stop.signal.removeEventListener('abort', onStop);
        controller.abort();
        resolve({ atMs: startedAt, latencyMs: opts.clock.nowMs() - startedAt, ...s });
      };
      const onStop = (): void => finish({ ok: false, error: 'stopped' });
      stop.signal.addEventListener('abort', onStop, { once: true });
      const timer = opts.clock.setTimer(() => finish({ ok: false, error: 'timeout' }), opts.timeoutMs);
      const req = http.request(url, { method: 'GET', signal: controller.signal, agent: false }, (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => finish({ ok: isSuccess(status), status }));
        res.on('error', (e) => finish({ ok: false, status, error: e.message }));
      });
      req.on('error', (e) => finish({ ok: false, error: e.message }));
      req.end();
    });

  const done = (async () => {
    while (!stop.signal.aborted && sent < opts.maxRequests) {
      const started = opts.clock.nowMs();
      sent += 1;
      const s = await once();
      if (s.error === 'stopped') {
        sent -= 1;
        break;
      }
      samples.push(s);
      if (s.ok) succeeded += 1;
      else failed += 1;
      // Keep memory bounded: only the window matters for the rate.
      const horizon = opts.clock.nowMs() - opts.windowMs;
      while (samples.length > 0 && samples[0]!.atMs < horizon && samples.length > 1) samples.shift();
      const wait = Math.max(0, opts.intervalMs - (opts.clock.nowMs() - started));
      if (sent < opts.maxRequests) await opts.clock.sleep(wait, stop.signal).catch(() => undefined);
    }
  })();

  return {
    stats(): ClientProbeStats {
      const horizon = opts.clock.nowMs() - opts.windowMs;
      const window = samples.filter((s) => s.atMs >= horizon);
      const ok = window.filter((s) => s.ok).length;
      const last = samples[samples.length - 1];
      return {
        sent,
        succeeded,
        failed,
        successRate: window.length === 0 ? 1 : ok / window.length,
        windowSamples: window.length,
        ...(last ? { last } : {}),
      };
    },
    samples: () => [...samples],
    done,
    async stop() {
      stop.abort();
      await done;
    },
  };
}
