/**
 * Local Elastic Load Balancing v2 endpoint (API version 2015-12-01, `awsQuery`)
 * and the target group model it serves. Target groups are created
 * programmatically (the control plane never creates them); the ALB data plane
 * (`alb-data-plane.ts`) moves each registered target through the health states,
 * and this module reports them as DescribeTargetHealth does.
 *
 * Semantics that matter to the controller, as ELB documents them:
 *  - registering an already registered target is a no-op; an instance must exist
 *    and be `running` to be registered (`InvalidTarget`);
 *  - deregistering a target that is not registered succeeds;
 *  - a deregistered target is `draining` for the deregistration delay, then gone
 *    (`unused` / `Target.NotRegistered` when asked about explicitly);
 *  - a registered instance that is stopped or terminated is `unused` /
 *    `Target.InvalidState`;
 *  - a target group of target type `ip` (an NLB's, typically) takes private
 *    IPv4 addresses of the VPC instead of instance ids; the balancer knows
 *    nothing of instances behind them, so no instance state shows in its view.
 *
 * The same registry also holds the sandbox's Classic Load Balancers
 * (`balancer: 'classic'`, see classic-elb.ts): their key is the load balancer's
 * ARN, which no target group ARN can equal, and the ELBv2 API never lists them.
 */
import { randomBytes } from 'node:crypto';
import type { TargetState } from '../../functions/core/types.js';
import {
  AwsApiError,
  QueryParams,
  decodePageToken,
  encodePageToken,
  queryErrorXml,
  queryResponseXml,
  QueryEndpoint,
  type QueryRequest,
  type XmlValue,
} from './query-protocol.js';
import type { SimInstance, World } from './world.js';
import { ELB_DESCRIBE_RATE } from '../../cli/lib/elb-api-rate.js';

export const ELBV2_API_VERSION = '2015-12-01';
export const ELBV2_XMLNS = `http://elasticloadbalancing.amazonaws.com/doc/${ELBV2_API_VERSION}/`;

/** DescribeTargetHealth reason codes (ELB "Target health status" documentation). */
export const TARGET_HEALTH_REASONS = {
  'Elb.RegistrationInProgress': 'Target registration is in progress',
  'Elb.InitialHealthChecking': 'Initial health checks in progress',
  'Target.ResponseCodeMismatch': 'Health checks failed',
  'Target.Timeout': 'Request timed out',
  'Target.FailedHealthChecks': 'Health checks failed',
  'Target.NotRegistered': 'Target is not registered to the target group',
  'Target.NotInUse': 'Target group is not configured to receive traffic from the load balancer',
  'Target.DeregistrationInProgress': 'Target deregistration is in progress',
  'Target.InvalidState': 'Target is in the stopped state',
  'Target.HealthCheckDisabled': 'Health checks are disabled',
  'Elb.InternalError': 'Health checks failed due to an internal error',
} as const;
export type TargetHealthReason = keyof typeof TARGET_HEALTH_REASONS;

export interface HealthCheckSettings {
  /** TCP: a check passes when the connection opens (NLB target groups, Classic `TCP:port` targets). */
  protocol: 'HTTP' | 'HTTPS' | 'TCP';
  /** `traffic-port` or a port number as a string, as ELB reports it. */
  port: string;
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThresholdCount: number;
  unhealthyThresholdCount: number;
  /** Matcher.HttpCode: `200`, `200,429` or `200-299` (a Classic Load Balancer passes on 200 only). */
  matcher: string;
  enabled: boolean;
}

/** Which balancer a group belongs to: its health-check and routing rules differ (alb-data-plane.ts). */
export type BalancerKind = 'application' | 'network' | 'classic';

export interface TargetGroupSpec {
  name: string;
  port?: number;
  protocol?: 'HTTP' | 'HTTPS' | 'TCP';
  /** `application` (default) or `network`; `network` defaults the protocol to TCP and allows matchers 200-599. */
  loadBalancerType?: 'application' | 'network';
  /** `instance` (default) or `ip`. */
  targetType?: 'instance' | 'ip';
  vpcId?: string;
  healthCheck?: Partial<HealthCheckSettings>;
  deregistrationDelaySeconds?: number;
  /** A target group no listener forwards to reports its targets `unused` / `Target.NotInUse`. */
  attachedToLoadBalancer?: boolean;
  /** Fixed ARN (must match the ELBv2 target group ARN format); generated otherwise. */
  arn?: string;
}

/** One registration (`id:port`) in a target group, with its health-check bookkeeping. */
export interface TargetRecord {
  id: string;
  port: number;
  state: Exclude<TargetState, 'unhealthy.draining'>;
  reason?: TargetHealthReason;
  description?: string;
  registeredAtMs: number;
  consecutivePasses: number;
  consecutiveFailures: number;
  /** Increases on every (re-)registration, so a stale health-check loop can tell it is stale. */
  generation: number;
  drainingSinceMs?: number;
  lastCheck?: { atMs: number; ok: boolean; status?: number; reason?: TargetHealthReason };
}

export interface TargetGroup {
  arn: string;
  name: string;
  port: number;
  protocol: 'HTTP' | 'HTTPS' | 'TCP';
  balancer: BalancerKind;
  targetType: 'instance' | 'ip';
  vpcId: string;
  healthCheck: HealthCheckSettings;
  deregistrationDelaySeconds: number;
  attachedToLoadBalancer: boolean;
  loadBalancerArns: string[];
  targets: Map<string, TargetRecord>;
}

export interface RegistryObserver {
  onRegistered(tg: TargetGroup, target: TargetRecord): void;
  onDeregistered(tg: TargetGroup, target: TargetRecord): void;
}

/** One DescribeTargetHealth entry. */
export interface TargetHealthView {
  id: string;
  port: number;
  healthCheckPort: string;
  state: TargetState;
  reason?: string;
  description?: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Whether a dotted IPv4 address lies in a CIDR block such as 10.0.1.0/24. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bits] = cidr.split('/');
  const n = Number(bits);
  if (base === undefined || !IPV4.test(base) || !IPV4.test(ip) || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const toInt = (a: string): number => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = n === 0 ? 0 : 2 ** 32 - 2 ** (32 - n);
  return (toInt(base) & mask) >>> 0 === (toInt(ip) & mask) >>> 0;
}

/** ELB's ranges for health-check settings (interval 5–300 s, timeout 2–120 s and below the interval, thresholds 2–10). */
function validateHealthCheck(hc: HealthCheckSettings, maxMatcherCode: number): void {
  checkRange(hc.intervalSeconds, 5, 300, 'HealthCheckIntervalSeconds');
  checkRange(hc.timeoutSeconds, 2, 120, 'HealthCheckTimeoutSeconds');
  checkRange(hc.healthyThresholdCount, 2, 10, 'HealthyThresholdCount');
  checkRange(hc.unhealthyThresholdCount, 2, 10, 'UnhealthyThresholdCount');
  if (hc.timeoutSeconds >= hc.intervalSeconds) {
    throw new AwsApiError('ValidationError', 'Health check timeout must be smaller than the interval');
  }
  if (hc.protocol !== 'TCP') {
    if (!hc.path.startsWith('/')) throw new AwsApiError('ValidationError', 'Health check path must begin with a \'/\' character');
    parseMatcher(hc.matcher, maxMatcherCode);
  }
}

function checkRange(v: number, lo: number, hi: number, field: string): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new AwsApiError('ValidationError', `${field} must be between ${lo} and ${hi}`);
}

const TG_ARN = /^arn:aws[a-zA-Z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;

/** Parses a matcher (`200`, `200,429`, `200-299`) into a predicate; an ALB allows 200–499, an NLB 200–599. */
export function parseMatcher(matcher: string, maxCode = 499): (status: number) => boolean {
  const parts = matcher.split(',').map((s) => s.trim());
  const ranges = parts.map((part) => {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(part);
    if (!m) throw new AwsApiError('ValidationError', `Health check matcher HTTP code '${matcher}' must be a valid HTTP code or range`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (lo < 200 || hi > maxCode || lo > hi) {
      throw new AwsApiError('ValidationError', `Health check matcher HTTP code '${matcher}' must be within the range 200-${maxCode}`);
    }
    return [lo, hi] as const;
  });
  return (status) => ranges.some(([lo, hi]) => status >= lo && status <= hi);
}

export class TargetGroupRegistry {
  private readonly groups = new Map<string, TargetGroup>();
  private observer: RegistryObserver | undefined;
  private readonly drainTimers = new Map<string, ReturnType<World['clock']['setTimer']>>();

  constructor(private readonly world: World) {}

  setObserver(observer: RegistryObserver | undefined): void {
    this.observer = observer;
  }

  /**
   * Creates a target group with ELB's defaults and ranges (interval 5–300 s,
   * thresholds 2–10, timeout 2–120 s < interval). A `network` group defaults
   * to a TCP health check with NLB's defaults (interval 30 s, timeout 10 s,
   * healthy 5, unhealthy 2; HTTP matcher 200-399).
   */
  addTargetGroup(spec: TargetGroupSpec): TargetGroup {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/.test(spec.name)) {
      throw new AwsApiError('ValidationError', `Target group name '${spec.name}' can have a maximum of 32 alphanumeric characters and hyphens`);
    }
    const network = spec.loadBalancerType === 'network';
    const protocol = spec.protocol ?? (network ? 'TCP' : 'HTTP');
    const hcProtocol = spec.healthCheck?.protocol ?? protocol;
    const hc: HealthCheckSettings = {
      protocol: hcProtocol,
      port: spec.healthCheck?.port ?? 'traffic-port',
      path: spec.healthCheck?.path ?? '/',
      intervalSeconds: spec.healthCheck?.intervalSeconds ?? 30,
      timeoutSeconds: spec.healthCheck?.timeoutSeconds ?? (network ? (hcProtocol === 'TCP' ? 10 : 6) : 5),
      healthyThresholdCount: spec.healthCheck?.healthyThresholdCount ?? 5,
      unhealthyThresholdCount: spec.healthCheck?.unhealthyThresholdCount ?? 2,
      matcher: spec.healthCheck?.matcher ?? (network ? '200-399' : '200'),
      enabled: spec.healthCheck?.enabled ?? true,
    };
    validateHealthCheck(hc, network ? 599 : 499);
    const delay = spec.deregistrationDelaySeconds ?? 300;
    checkRange(delay, 0, 3600, 'deregistration_delay.timeout_seconds');
    const arn =
      spec.arn ??
      `arn:aws:elasticloadbalancing:${this.world.region}:${this.world.accountId}:targetgroup/${spec.name}/${randomBytes(8).toString('hex')}`;
    if (!TG_ARN.test(arn)) throw new AwsApiError('ValidationError', `'${arn}' is not a valid target group ARN`);
    if (this.groups.has(arn) || [...this.groups.values()].some((g) => g.balancer !== 'classic' && g.name === spec.name)) {
      throw new AwsApiError('DuplicateTargetGroupName', 'A target group with the same name exists, but with different settings');
    }
    const attached = spec.attachedToLoadBalancer ?? true;
    const tg: TargetGroup = {
      arn,
      name: spec.name,
      port: spec.port ?? 8200,
      protocol,
      balancer: network ? 'network' : 'application',
      targetType: spec.targetType ?? 'instance',
      vpcId: spec.vpcId ?? 'vpc-0sandbox00000000',
      healthCheck: hc,
      deregistrationDelaySeconds: delay,
      attachedToLoadBalancer: attached,
      loadBalancerArns: attached
        ? [`arn:aws:elasticloadbalancing:${this.world.region}:${this.world.accountId}:loadbalancer/${network ? 'net' : 'app'}/${spec.name}/${randomBytes(8).toString('hex')}`]
        : [],
      targets: new Map(),
    };
    this.groups.set(arn, tg);
    return tg;
  }

  /**
   * Adds a group the registry keeps for a Classic Load Balancer (classic-elb.ts
   * builds it): keyed by the load balancer's ARN, never listed by the ELBv2 API.
   */
  addClassicGroup(tg: TargetGroup): TargetGroup {
    if (tg.balancer !== 'classic') throw new RangeError('addClassicGroup takes a classic group');
    if (this.groups.has(tg.arn)) throw new AwsApiError('DuplicateLoadBalancerName', `Load balancer ${tg.name} already exists`);
    validateHealthCheck(tg.healthCheck, 200);
    this.groups.set(tg.arn, tg);
    return tg;
  }

  /** Every group the data plane serves (Classic Load Balancers included). */
  targetGroups(): TargetGroup[] {
    return [...this.groups.values()];
  }

  targetGroup(arn: string): TargetGroup | undefined {
    return this.groups.get(arn);
  }

  requireTargetGroup(arn: string): TargetGroup {
    const tg = this.groups.get(arn);
    if (tg === undefined) throw new AwsApiError('TargetGroupNotFound', `Target groups '${arn}' not found`);
    return tg;
  }

  /** RegisterTargets: all-or-nothing validation, then idempotent registration. */
  register(arn: string, targets: Array<{ id: string; port?: number }>): void {
    const tg = this.requireTargetGroup(arn);
    const resolved = targets.map((t) => this.validateTarget(tg, t));
    if (tg.targetType === 'ip') {
      // ELB checks an IP target against the VPC's subnets, not against instances.
      const outside = resolved.filter((t) => !this.world.allSubnets().some((sn) => cidrContains(sn.cidrBlock, t.id))).map((t) => t.id);
      if (outside.length > 0) {
        throw new AwsApiError('InvalidTarget', `The IP address '${outside[0]}' is not within a subnet of the VPC of target group '${tg.name}'`);
      }
    }
    const missing = tg.targetType === 'ip' ? [] : resolved.filter((t) => this.world.instance(t.id) === undefined).map((t) => t.id);
    if (missing.length > 0) {
      throw new AwsApiError('InvalidTarget', `The following instances do not exist: ${missing.map((m) => `'${m}'`).join(', ')}`);
    }
    const notRunning = tg.targetType === 'ip' ? [] : resolved.filter((t) => this.world.instance(t.id)!.state !== 'running').map((t) => t.id);
    if (notRunning.length > 0) {
      throw new AwsApiError(
        'InvalidTarget',
        `The following targets are not in a running state and cannot be registered: ${notRunning.map((m) => `'${m}'`).join(', ')}`,
      );
    }
    const now = this.world.clock.nowMs();
    for (const t of resolved) {
      const key = `${t.id}:${t.port}`;
      const existing = tg.targets.get(key);
      if (existing !== undefined && existing.state !== 'draining') continue;
      this.world.clock.clearTimer(this.drainTimers.get(`${tg.arn}|${key}`));
      this.drainTimers.delete(`${tg.arn}|${key}`);
      const rec: TargetRecord = {
        id: t.id,
        port: t.port,
        state: 'initial',
        reason: 'Elb.RegistrationInProgress',
        description: TARGET_HEALTH_REASONS['Elb.RegistrationInProgress'],
        registeredAtMs: now,
        consecutivePasses: 0,
        consecutiveFailures: 0,
        generation: (existing?.generation ?? 0) + 1,
      };
      tg.targets.set(key, rec);
      this.observer?.onRegistered(tg, rec);
    }
  }

  /** DeregisterTargets: targets that are not registered are ignored; registered ones drain. */
  deregister(arn: string, targets: Array<{ id: string; port?: number }>): void {
    const tg = this.requireTargetGroup(arn);
    const resolved = targets.map((t) => this.validateTarget(tg, t));
    const now = this.world.clock.nowMs();
    for (const t of resolved) {
      const key = `${t.id}:${t.port}`;
      const rec = tg.targets.get(key);
      if (rec === undefined || rec.state === 'draining') continue;
      rec.state = 'draining';
      rec.reason = 'Target.DeregistrationInProgress';
      rec.description = TARGET_HEALTH_REASONS['Target.DeregistrationInProgress'];
      rec.drainingSinceMs = now;
      rec.generation += 1;
      this.observer?.onDeregistered(tg, rec);
      const timerKey = `${tg.arn}|${key}`;
      const handle = this.world.clock.setTimer(() => {
        this.drainTimers.delete(timerKey);
        if (tg.targets.get(key) === rec && rec.state === 'draining') tg.targets.delete(key);
      }, tg.deregistrationDelaySeconds * 1000);
      this.drainTimers.set(timerKey, handle);
    }
  }

  /** Removes registrations of instances that no longer exist (EC2 purged them after termination). */
  forgetVanishedInstances(): void {
    for (const tg of this.groups.values()) {
      if (tg.targetType === 'ip') continue;
      for (const [key, rec] of tg.targets) if (this.world.instance(rec.id) === undefined && rec.state !== 'draining') tg.targets.delete(key);
    }
  }

  /** The running instance behind an `ip` target (the one whose private IP it is), if any. */
  instanceAtIp(ip: string): SimInstance | undefined {
    return this.world.instances().find((i) => i.privateIpAddress === ip && i.state === 'running');
  }

  /** The DescribeTargetHealth view of one target group (optionally only the given targets). */
  describeHealth(arn: string, only?: Array<{ id: string; port?: number }>): TargetHealthView[] {
    const tg = this.requireTargetGroup(arn);
    this.forgetVanishedInstances();
    if (only === undefined || only.length === 0) return [...tg.targets.values()].map((r) => this.view(tg, r));
    return only.flatMap((t) => {
      const target = this.validateTarget(tg, t);
      const matches =
        t.port === undefined ? [...tg.targets.values()].filter((r) => r.id === t.id) : [tg.targets.get(`${t.id}:${target.port}`)].filter((r) => r !== undefined);
      if (matches.length > 0) return matches.map((r) => this.view(tg, r));
      return [
        {
          id: target.id,
          port: target.port,
          healthCheckPort: this.healthCheckPort(tg, target.port),
          state: 'unused' as const,
          reason: 'Target.NotRegistered',
          description: TARGET_HEALTH_REASONS['Target.NotRegistered'],
        },
      ];
    });
  }

  healthCheckPort(tg: TargetGroup, targetPort: number): string {
    return tg.healthCheck.port === 'traffic-port' ? String(targetPort) : tg.healthCheck.port;
  }

  private view(tg: TargetGroup, r: TargetRecord): TargetHealthView {
    const base = { id: r.id, port: r.port, healthCheckPort: this.healthCheckPort(tg, r.port) };
    if (r.state === 'draining') return { ...base, state: 'draining', reason: r.reason!, description: r.description! };
    const inst = this.world.instance(r.id);
    if (tg.targetType === 'instance' && (inst === undefined || inst.state === 'stopped' || inst.state === 'terminated' || inst.state === 'pending')) {
      return { ...base, state: 'unused', reason: 'Target.InvalidState', description: `Target is in the ${inst?.state ?? 'terminated'} state` };
    }
    if (!tg.attachedToLoadBalancer) {
      return { ...base, state: 'unused', reason: 'Target.NotInUse', description: TARGET_HEALTH_REASONS['Target.NotInUse'] };
    }
    if (!tg.healthCheck.enabled) {
      return { ...base, state: 'unavailable', reason: 'Target.HealthCheckDisabled', description: TARGET_HEALTH_REASONS['Target.HealthCheckDisabled'] };
    }
    if (r.state === 'healthy') return { ...base, state: 'healthy' };
    return { ...base, state: r.state, ...(r.reason ? { reason: r.reason } : {}), ...(r.description ? { description: r.description } : {}) };
  }

  private validateTarget(tg: TargetGroup, t: { id: string; port?: number }): { id: string; port: number } {
    if (tg.targetType === 'ip') {
      if (!IPV4.test(t.id)) throw new AwsApiError('ValidationError', `The IP address '${t.id}' is not a valid IPv4 address`);
    } else if (!/^i-[0-9a-f]{8}([0-9a-f]{9})?$/.test(t.id)) {
      throw new AwsApiError('ValidationError', `Instance ID '${t.id}' is not valid`);
    }
    const port = t.port ?? tg.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new AwsApiError('ValidationError', `Port '${port}' must be between 1 and 65535`);
    }
    return { id: t.id, port };
  }

  dispose(): void {
    for (const h of this.drainTimers.values()) this.world.clock.clearTimer(h);
    this.drainTimers.clear();
  }
}

type XmlObject = { [key: string]: XmlValue };

/**
 * ELB's API request throttling, a token bucket per account and Region
 * (cli/lib/elb-api-rate.ts has the documented numbers). Over it, a request
 * fails with `ThrottlingException` "Rate exceeded". Opt-in
 * (`LocalAwsOptions.elbv2DescribeRate`): the scale bench measures with it;
 * the sandbox's own scenarios run without it.
 */
export interface ApiRateLimit {
  /** Tokens the bucket holds (the burst). */
  capacity: number;
  /** Tokens added back per second of the world's clock. */
  refillPerSecond: number;
}

/** The documented example for ELBv2's Describe* actions. */
export const ELBV2_DESCRIBE_RATE_DEFAULT: ApiRateLimit = ELB_DESCRIBE_RATE;

export class TokenBucket {
  private tokens: number;
  private atMs: number;
  /** Requests refused so far. */
  throttled = 0;

  constructor(
    private readonly limit: ApiRateLimit,
    private readonly nowMs: () => number,
  ) {
    if (!(limit.capacity >= 1) || !(limit.refillPerSecond > 0)) throw new RangeError(`a token bucket needs capacity >= 1 and refillPerSecond > 0, got ${JSON.stringify(limit)}`);
    this.tokens = limit.capacity;
    this.atMs = nowMs();
  }

  /** Takes a token: true, or false when the bucket is empty (the request is throttled). */
  take(): boolean {
    const now = this.nowMs();
    this.tokens = Math.min(this.limit.capacity, this.tokens + (Math.max(0, now - this.atMs) / 1000) * this.limit.refillPerSecond);
    this.atMs = now;
    if (this.tokens < 1) {
      this.throttled += 1;
      return false;
    }
    this.tokens -= 1;
    return true;
  }
}

export class Elbv2Endpoint extends QueryEndpoint<'elbv2'> {
  /** The Describe* bucket, when the endpoint models ELB's API throttling. */
  readonly describeBucket: TokenBucket | undefined;

  constructor(
    private readonly world: World,
    readonly registry: TargetGroupRegistry,
    describeRate?: ApiRateLimit,
  ) {
    super({ label: 'ELBv2', service: 'elasticloadbalancing', faultService: 'elbv2', apiVersion: ELBV2_API_VERSION, faults: world });
    this.describeBucket = describeRate ? new TokenBucket(describeRate, () => world.clock.nowMs()) : undefined;
  }

  protected renderError(err: AwsApiError, requestId: string): string {
    return queryErrorXml(err, ELBV2_XMLNS, requestId);
  }

  protected handleAction(req: QueryRequest): string {
    if (this.describeBucket && req.action.startsWith('Describe') && !this.describeBucket.take()) {
      throw new AwsApiError('ThrottlingException', 'Rate exceeded');
    }
    const result = this.dispatch(req.action, req.params);
    return queryResponseXml(req.action, ELBV2_XMLNS, req.requestId, result);
  }

  private dispatch(action: string, p: QueryParams): XmlObject | undefined {
    switch (action) {
      case 'DescribeTargetGroups':
        return this.describeTargetGroups(p);
      case 'DescribeTargetHealth': {
        const arn = p.requireStr('TargetGroupArn', 'ValidationError', "1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null");
        const only = this.targets(p);
        return {
          TargetHealthDescriptions: this.registry.describeHealth(arn, only).map((v) => ({
            Target: { Id: v.id, Port: v.port },
            HealthCheckPort: v.healthCheckPort,
            TargetHealth: { State: v.state, Reason: v.reason, Description: v.description },
          })),
        };
      }
      case 'RegisterTargets':
        this.registry.register(this.requireArn(p), this.requireTargets(p));
        return {};
      case 'DeregisterTargets':
        this.registry.deregister(this.requireArn(p), this.requireTargets(p));
        return {};
      case 'DescribeTargetGroupAttributes': {
        const tg = this.registry.requireTargetGroup(this.requireArn(p));
        return {
          Attributes: [
            { Key: 'deregistration_delay.timeout_seconds', Value: String(tg.deregistrationDelaySeconds) },
            { Key: 'stickiness.enabled', Value: 'false' },
            { Key: 'load_balancing.algorithm.type', Value: 'round_robin' },
            { Key: 'slow_start.duration_seconds', Value: '0' },
          ],
        };
      }
      default:
        throw new AwsApiError('InvalidAction', `Could not find operation ${action} for version ${ELBV2_API_VERSION}`);
    }
  }

  private requireArn(p: QueryParams): string {
    return p.requireStr('TargetGroupArn', 'ValidationError', "1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null");
  }

  private targets(p: QueryParams): Array<{ id: string; port?: number }> {
    return p.list('Targets', 'member').map((n) => {
      const t = QueryParams.sub(n);
      const port = t.int('Port');
      return { id: t.requireStr('Id', 'ValidationError', 'A target ID must be specified'), ...(port !== undefined ? { port } : {}) };
    });
  }

  private requireTargets(p: QueryParams): Array<{ id: string; port?: number }> {
    const targets = this.targets(p);
    if (targets.length === 0) {
      throw new AwsApiError('ValidationError', "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null");
    }
    return targets;
  }

  private describeTargetGroups(p: QueryParams): XmlObject {
    const arns = p.strList('TargetGroupArns', 'member');
    const names = p.strList('Names', 'member');
    const lbArn = p.str('LoadBalancerArn');
    const pageSize = p.int('PageSize');
    if (pageSize !== undefined && (pageSize < 1 || pageSize > 400)) {
      throw new AwsApiError('ValidationError', `1 validation error detected: Value '${pageSize}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and 400`);
    }
    if ([arns.length > 0, names.length > 0, lbArn !== undefined].filter(Boolean).length > 1) {
      throw new AwsApiError('ValidationError', 'Target group ARNs, names and a load balancer ARN cannot be specified at the same time');
    }
    let groups = this.registry.targetGroups().filter((g) => g.balancer !== 'classic');
    if (arns.length > 0) {
      if (arns.some((a) => this.registry.targetGroup(a) === undefined)) {
        throw new AwsApiError('TargetGroupNotFound', 'One or more target groups not found');
      }
      groups = arns.map((a) => this.registry.targetGroup(a)!);
    } else if (names.length > 0) {
      const found = names.map((n) => groups.find((g) => g.name === n));
      if (found.some((g) => g === undefined)) throw new AwsApiError('TargetGroupNotFound', 'One or more target groups not found');
      groups = found as typeof groups;
    } else if (lbArn !== undefined) {
      groups = groups.filter((g) => g.loadBalancerArns.includes(lbArn));
    }
    const marker = p.str('Marker');
    const fp = JSON.stringify({ arns, names, lbArn });
    const offset = marker !== undefined ? decodePageToken(marker, fp, 'Marker') : 0;
    const size = pageSize ?? 400;
    const page = groups.slice(offset, offset + size);
    return {
      TargetGroups: page.map((g) => ({
        TargetGroupArn: g.arn,
        TargetGroupName: g.name,
        Protocol: g.protocol,
        Port: g.port,
        VpcId: g.vpcId,
        HealthCheckProtocol: g.healthCheck.protocol,
        HealthCheckPort: g.healthCheck.port,
        HealthCheckEnabled: g.healthCheck.enabled,
        HealthCheckIntervalSeconds: g.healthCheck.intervalSeconds,
        HealthCheckTimeoutSeconds: g.healthCheck.timeoutSeconds,
        HealthyThresholdCount: g.healthCheck.healthyThresholdCount,
        UnhealthyThresholdCount: g.healthCheck.unhealthyThresholdCount,
        HealthCheckPath: g.healthCheck.path,
        Matcher: { HttpCode: g.healthCheck.matcher },
        LoadBalancerArns: g.loadBalancerArns,
        TargetType: g.targetType,
        ProtocolVersion: 'HTTP1',
        IpAddressType: 'ipv4',
      })),
      NextMarker: offset + size < groups.length ? encodePageToken(offset + size, fp) : undefined,
    };
  }
}
