/**
 * Local Classic Load Balancer: the Elastic Load Balancing API version
 * 2012-06-01 (`awsQuery`, like ELBv2, see query-protocol.ts) for the calls the
 * control plane makes, over the same registry and data plane as the target
 * groups (elbv2.ts, alb-data-plane.ts), with the Classic rules:
 *
 *  - the health check is one `Target` string, `HTTP:port/path` (a pass is
 *    `200 OK`, nothing else; API reference "HealthCheck") or `TCP:port`, with
 *    Interval 5–300 s, Timeout 2–60 s and below the interval, thresholds 2–10;
 *    defaults as the console proposes them: HTTP:80/index.html, interval 30 s,
 *    timeout 5 s, unhealthy 2, healthy 10;
 *  - a registered instance is OutOfService ("Instance registration is still in
 *    progress.") until its first check, then needs HealthyThreshold passes in a
 *    row to be InService; UnhealthyThreshold failures put it OutOfService;
 *  - RegisterInstancesWithLoadBalancer: every instance must exist and run
 *    (InvalidInstance otherwise, nothing registered); a registered one is left
 *    as it is; the answer lists the instances registered afterwards;
 *  - DeregisterInstancesFromLoadBalancer: an instance that is not registered
 *    fails the whole call with InvalidInstance ("Could not find EC2 instance",
 *    as boto/boto#2274 shows it) and nothing changes; a deregistered instance
 *    leaves at once (connection draining only finishes requests in flight);
 *  - DescribeInstanceHealth: without instances, every registered one; with
 *    instances, their state even when not registered; terminated ones are not
 *    returned (API reference "DescribeInstanceHealth");
 *  - a missing load balancer is `LoadBalancerNotFound`.
 */
import type { TargetState } from '../../functions/core/types.js';
import { AwsApiError, QueryEndpoint, QueryParams, queryErrorXml, queryResponseXml, type QueryRequest, type XmlValue } from './query-protocol.js';
import type { HealthCheckSettings, TargetGroup, TargetGroupRegistry, TargetRecord } from './elbv2.js';
import type { World } from './world.js';

export const ELB_API_VERSION = '2012-06-01';
export const ELB_XMLNS = `http://elasticloadbalancing.amazonaws.com/doc/${ELB_API_VERSION}/`;

/** The Classic health check as the API carries it. */
export interface ClassicHealthCheck {
  /** `HTTP:8200/v1/sys/health`, `HTTPS:8200/...`, `TCP:8200` or `SSL:8200`. */
  target: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

/** What the console proposes for a new Classic Load Balancer (the "default health-check settings"). */
export const CLASSIC_DEFAULT_HEALTH_CHECK: ClassicHealthCheck = {
  target: 'HTTP:80/index.html',
  intervalSeconds: 30,
  timeoutSeconds: 5,
  unhealthyThreshold: 2,
  healthyThreshold: 10,
};

export interface ClassicLoadBalancerSpec {
  name: string;
  /** The instance port of its listener (where traffic goes). */
  instancePort?: number;
  healthCheck?: Partial<ClassicHealthCheck>;
}

/** Classic `InstanceState` descriptions (API reference "InstanceState"). */
export const CLASSIC_DESCRIPTIONS = {
  registering: 'Instance registration is still in progress.',
  belowHealthy: 'Instance has not passed the configured HealthyThreshold number of health checks consecutively.',
  failed: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.',
  notRegistered: 'Instance is not currently registered with the LoadBalancer.',
} as const;

export interface InstanceHealthView {
  instanceId: string;
  state: 'InService' | 'OutOfService' | 'Unknown';
  reasonCode: 'ELB' | 'Instance' | 'N/A';
  description: string;
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/;
const INSTANCE_ID = /^i-[0-9a-f]{8}([0-9a-f]{9})?$/;

/** Parses a Classic health-check target into the data plane's settings (validation as the API does it). */
export function parseClassicTarget(target: string): Pick<HealthCheckSettings, 'protocol' | 'port' | 'path'> {
  const m = /^(HTTP|HTTPS|TCP|SSL):(\d{1,5})(\/.*)?$/.exec(target);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535 || target.length > 1024) {
    throw new AwsApiError('ValidationError', `Invalid health check target '${target}': use HTTP:port/path, HTTPS:port/path, TCP:port or SSL:port`);
  }
  const protocol = m[1] as 'HTTP' | 'HTTPS' | 'TCP' | 'SSL';
  if ((protocol === 'HTTP' || protocol === 'HTTPS') && m[3] === undefined) {
    throw new AwsApiError('ValidationError', `Invalid health check target '${target}': an HTTP(S) target needs a ping path`);
  }
  return { protocol: protocol === 'SSL' ? 'TCP' : protocol, port: String(port), path: m[3] ?? '/' };
}

/**
 * The sandbox's Classic Load Balancers, kept in the target-group registry so the
 * data plane checks and routes them (as `balancer: 'classic'` groups).
 */
export class ClassicLoadBalancers {
  constructor(
    private readonly world: World,
    private readonly registry: TargetGroupRegistry,
  ) {}

  arnOf(name: string): string {
    return `arn:aws:elasticloadbalancing:${this.world.region}:${this.world.accountId}:loadbalancer/${name}`;
  }

  add(spec: ClassicLoadBalancerSpec): TargetGroup {
    if (!NAME.test(spec.name)) throw new AwsApiError('ValidationError', `LoadBalancerName '${spec.name}' must be 1-32 letters, digits or hyphens`);
    const hc = { ...CLASSIC_DEFAULT_HEALTH_CHECK, ...spec.healthCheck };
    if (hc.timeoutSeconds > 60) throw new AwsApiError('ValidationError', 'Timeout must be between 2 and 60');
    const target = parseClassicTarget(hc.target);
    return this.registry.addClassicGroup({
      arn: this.arnOf(spec.name),
      name: spec.name,
      port: spec.instancePort ?? 8200,
      protocol: target.protocol,
      balancer: 'classic',
      targetType: 'instance',
      vpcId: 'vpc-0sandbox00000000',
      healthCheck: {
        ...target,
        intervalSeconds: hc.intervalSeconds,
        timeoutSeconds: hc.timeoutSeconds,
        healthyThresholdCount: hc.healthyThreshold,
        unhealthyThresholdCount: hc.unhealthyThreshold,
        // Classic has no matcher: an HTTP(S) check passes on 200 only.
        matcher: '200',
        enabled: true,
      },
      deregistrationDelaySeconds: 0,
      attachedToLoadBalancer: true,
      loadBalancerArns: [this.arnOf(spec.name)],
      targets: new Map(),
    });
  }

  require(name: string): TargetGroup {
    const g = this.registry.targetGroup(this.arnOf(name));
    if (g === undefined || g.balancer !== 'classic') throw new AwsApiError('LoadBalancerNotFound', `There is no ACTIVE Load Balancer named '${name}'`);
    return g;
  }

  /** The health check as the API reports it. */
  healthCheckOf(lb: TargetGroup): ClassicHealthCheck {
    const hc = lb.healthCheck;
    return {
      target: hc.protocol === 'TCP' ? `TCP:${hc.port}` : `${hc.protocol}:${hc.port}${hc.path}`,
      intervalSeconds: hc.intervalSeconds,
      timeoutSeconds: hc.timeoutSeconds,
      unhealthyThreshold: hc.unhealthyThresholdCount,
      healthyThreshold: hc.healthyThresholdCount,
    };
  }

  /** RegisterInstancesWithLoadBalancer: all-or-nothing validation, then idempotent registration. Returns the registered instances. */
  register(name: string, instanceIds: string[]): string[] {
    const lb = this.require(name);
    for (const id of instanceIds) {
      if (!INSTANCE_ID.test(id)) throw new AwsApiError('InvalidInstance', `The specified EC2 instance ID '${id}' is not valid.`);
      const inst = this.world.instance(id);
      if (inst === undefined || inst.state === 'terminated' || inst.state === 'shutting-down') {
        throw new AwsApiError('InvalidInstance', `Could not find EC2 instance ${id}.`);
      }
      if (inst.state !== 'running') throw new AwsApiError('InvalidInstance', `EC2 instance ${id} is not in running state.`);
    }
    const fresh = instanceIds.filter((id) => !this.isRegistered(lb, id));
    if (fresh.length > 0) this.registry.register(lb.arn, [...new Set(fresh)].map((id) => ({ id, port: lb.port })));
    return this.registered(lb);
  }

  /** DeregisterInstancesFromLoadBalancer: refused whole when one instance is not registered. Returns the instances left. */
  deregister(name: string, instanceIds: string[]): string[] {
    const lb = this.require(name);
    const missing = instanceIds.find((id) => !this.isRegistered(lb, id));
    if (missing !== undefined) throw new AwsApiError('InvalidInstance', `Could not find EC2 instance ${missing}.`);
    this.registry.deregister(lb.arn, instanceIds.map((id) => ({ id, port: lb.port })));
    // No draining state in the Classic API's list: the instance leaves at once.
    for (const id of instanceIds) lb.targets.delete(`${id}:${lb.port}`);
    return this.registered(lb);
  }

  registered(lb: TargetGroup): string[] {
    return [...lb.targets.values()].filter((r) => r.state !== 'draining').map((r) => r.id).sort();
  }

  private isRegistered(lb: TargetGroup, id: string): boolean {
    const r = lb.targets.get(`${id}:${lb.port}`);
    return r !== undefined && r.state !== 'draining';
  }

  /** DescribeInstanceHealth. */
  describe(name: string, only?: string[]): InstanceHealthView[] {
    const lb = this.require(name);
    if (only === undefined || only.length === 0) {
      return [...lb.targets.values()]
        .filter((r) => r.state !== 'draining' && this.world.instance(r.id)?.state !== 'terminated' && this.world.instance(r.id) !== undefined)
        .map((r) => this.view(r))
        .sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
    }
    return only.flatMap((id) => {
      if (!INSTANCE_ID.test(id) || this.world.instance(id) === undefined) throw new AwsApiError('InvalidInstance', `Could not find EC2 instance ${id}.`);
      if (this.world.instance(id)!.state === 'terminated') return [];
      const r = lb.targets.get(`${id}:${lb.port}`);
      if (r === undefined || r.state === 'draining') {
        return [{ instanceId: id, state: 'OutOfService' as const, reasonCode: 'ELB' as const, description: CLASSIC_DESCRIPTIONS.notRegistered }];
      }
      return [this.view(r)];
    });
  }

  /** The state of one registration, as DescribeInstanceHealth words it. */
  view(r: TargetRecord): InstanceHealthView {
    const inst = this.world.instance(r.id);
    const base = { instanceId: r.id };
    if (inst !== undefined && inst.state !== 'running') {
      return { ...base, state: 'OutOfService', reasonCode: 'Instance', description: `Instance is in ${inst.state === 'stopping' ? 'stopped' : inst.state} state.` };
    }
    const s: TargetState = r.state;
    if (s === 'healthy') return { ...base, state: 'InService', reasonCode: 'N/A', description: 'N/A' };
    if (s === 'unhealthy') return { ...base, state: 'OutOfService', reasonCode: 'Instance', description: CLASSIC_DESCRIPTIONS.failed };
    if (s === 'initial') {
      return r.lastCheck === undefined
        ? { ...base, state: 'OutOfService', reasonCode: 'ELB', description: CLASSIC_DESCRIPTIONS.registering }
        : { ...base, state: 'OutOfService', reasonCode: 'Instance', description: CLASSIC_DESCRIPTIONS.belowHealthy };
    }
    return { ...base, state: 'Unknown', reasonCode: 'ELB', description: 'A transient error occurred. Please try again later.' };
  }
}

type XmlObject = { [key: string]: XmlValue };

export class ClassicElbEndpoint extends QueryEndpoint<'elb'> {
  constructor(
    world: World,
    readonly balancers: ClassicLoadBalancers,
  ) {
    super({ label: 'ELB', service: 'elasticloadbalancing', faultService: 'elb', apiVersion: ELB_API_VERSION, faults: world });
  }

  protected renderError(err: AwsApiError, requestId: string): string {
    return queryErrorXml(err, ELB_XMLNS, requestId);
  }

  protected handleAction(req: QueryRequest): string {
    return queryResponseXml(req.action, ELB_XMLNS, req.requestId, this.dispatch(req.action, req.params));
  }

  private dispatch(action: string, p: QueryParams): XmlObject {
    switch (action) {
      case 'DescribeInstanceHealth': {
        const only = this.instances(p);
        return {
          InstanceStates: this.balancers.describe(this.requireName(p), only).map((v) => ({
            InstanceId: v.instanceId,
            State: v.state,
            ReasonCode: v.reasonCode,
            Description: v.description,
          })),
        };
      }
      case 'RegisterInstancesWithLoadBalancer':
        return { Instances: this.balancers.register(this.requireName(p), this.requireInstances(p)).map((InstanceId) => ({ InstanceId })) };
      case 'DeregisterInstancesFromLoadBalancer':
        return { Instances: this.balancers.deregister(this.requireName(p), this.requireInstances(p)).map((InstanceId) => ({ InstanceId })) };
      case 'DescribeLoadBalancers': {
        const names = p.strList('LoadBalancerNames', 'member');
        const lbs = names.map((n) => this.balancers.require(n));
        return {
          LoadBalancerDescriptions: lbs.map((lb) => {
            const hc = this.balancers.healthCheckOf(lb);
            return {
              LoadBalancerName: lb.name,
              Instances: this.balancers.registered(lb).map((InstanceId) => ({ InstanceId })),
              HealthCheck: {
                Target: hc.target,
                Interval: hc.intervalSeconds,
                Timeout: hc.timeoutSeconds,
                UnhealthyThreshold: hc.unhealthyThreshold,
                HealthyThreshold: hc.healthyThreshold,
              },
              Scheme: 'internal',
            };
          }),
        };
      }
      default:
        throw new AwsApiError('InvalidAction', `Could not find operation ${action} for version ${ELB_API_VERSION}`);
    }
  }

  private requireName(p: QueryParams): string {
    return p.requireStr('LoadBalancerName', 'ValidationError', "1 validation error detected: Value null at 'loadBalancerName' failed to satisfy constraint: Member must not be null");
  }

  private instances(p: QueryParams): string[] {
    return p.list('Instances', 'member').map((n) => QueryParams.sub(n).requireStr('InstanceId', 'ValidationError', 'An instance ID must be specified'));
  }

  private requireInstances(p: QueryParams): string[] {
    const ids = this.instances(p);
    if (ids.length === 0) {
      throw new AwsApiError('ValidationError', "1 validation error detected: Value null at 'instances' failed to satisfy constraint: Member must not be null");
    }
    return ids;
  }
}
