/**
 * Local AWS for the sandbox: EC2, ELBv2, Classic ELB (+ the load balancers'
 * data plane), SNS and CloudWatch (alarms) endpoints over one in-memory world
 * and one clock. The project's unmodified SDK clients reach them only through
 * the SDK's standard endpoint settings (`AWS_ENDPOINT_URL_EC2`,
 * `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2`, `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING`,
 * `AWS_ENDPOINT_URL_SNS`, `AWS_ENDPOINT_URL_CLOUDWATCH`, or `endpoint` in a
 * client config) — see `endpointEnv()`.
 */
import { AlbDataPlane, type AlbDataPlaneOptions } from './alb-data-plane.js';
import { ClassicElbEndpoint, ClassicLoadBalancers } from './classic-elb.js';
import { CloudWatchEndpoint, type AlarmSpec } from './cloudwatch.js';
import { Ec2Endpoint } from './ec2.js';
import { Elbv2Endpoint, TargetGroupRegistry, type ApiRateLimit } from './elbv2.js';
import { SnsEndpoint } from './sns.js';
import { World, type WorldOptions } from './world.js';

export interface LocalAwsOptions {
  /** An existing world (e.g. one the sandbox set up first); otherwise one is created from `worldOptions`. */
  world?: World;
  worldOptions?: WorldOptions;
  alb?: Omit<AlbDataPlaneOptions, 'world' | 'registry'>;
  /** The CloudWatch alarms the sandbox knows (default: SANDBOX_ALARMS). */
  alarms?: AlarmSpec[];
  /** Model ELBv2's API throttling of Describe* requests (elbv2.ts ApiRateLimit); default: none. */
  elbv2DescribeRate?: ApiRateLimit;
}

/** An alarm every sandbox has, in OK, so a drill can name a stop condition out of the box. */
export const SANDBOX_ALARMS: readonly AlarmSpec[] = [
  { name: 'vault-sandbox-5xx', description: 'Sandbox: 5xx answers through the load balancer', state: 'OK', reason: 'Threshold Crossed: no datapoints were breaching the threshold (sandbox)' },
];

export interface LocalAwsEndpoints {
  ec2: string;
  elbv2: string;
  elb: string;
  sns: string;
  cloudwatch: string;
}

export class LocalAws {
  readonly world: World;
  readonly targetGroups: TargetGroupRegistry;
  readonly alb: AlbDataPlane;
  readonly ec2: Ec2Endpoint;
  readonly elbv2: Elbv2Endpoint;
  /** Classic Load Balancers (kept in `targetGroups`, served by `alb`). */
  readonly classic: ClassicLoadBalancers;
  readonly elb: ClassicElbEndpoint;
  readonly sns: SnsEndpoint;
  readonly cloudwatch: CloudWatchEndpoint;
  private endpoints: LocalAwsEndpoints | undefined;

  constructor(opts: LocalAwsOptions = {}) {
    this.world = opts.world ?? new World(opts.worldOptions);
    this.targetGroups = new TargetGroupRegistry(this.world);
    this.alb = new AlbDataPlane({ ...opts.alb, world: this.world, registry: this.targetGroups });
    this.ec2 = new Ec2Endpoint(this.world);
    this.elbv2 = new Elbv2Endpoint(this.world, this.targetGroups, opts.elbv2DescribeRate);
    this.classic = new ClassicLoadBalancers(this.world, this.targetGroups);
    this.elb = new ClassicElbEndpoint(this.world, this.classic);
    this.sns = new SnsEndpoint(this.world);
    this.cloudwatch = new CloudWatchEndpoint({ region: this.world.region, accountId: this.world.accountId, now: () => this.world.clock.nowMs(), alarms: [...(opts.alarms ?? SANDBOX_ALARMS)] });
  }

  /** Starts every endpoint on 127.0.0.1 (ephemeral ports) and the health checker. */
  async start(): Promise<LocalAwsEndpoints> {
    if (this.endpoints) return this.endpoints;
    try {
      const [ec2, elbv2, elb, sns, cloudwatch] = await Promise.all([this.ec2.start(), this.elbv2.start(), this.elb.start(), this.sns.start(), this.cloudwatch.start()]);
      this.alb.start();
      this.endpoints = { ec2, elbv2, elb, sns, cloudwatch };
      return this.endpoints;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** The SDK's standard per-service endpoint variables pointing at these servers. */
  endpointEnv(): Record<string, string> {
    if (!this.endpoints) throw new Error('LocalAws not started');
    return {
      AWS_ENDPOINT_URL_EC2: this.endpoints.ec2,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: this.endpoints.elbv2,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING: this.endpoints.elb,
      AWS_ENDPOINT_URL_SNS: this.endpoints.sns,
      AWS_ENDPOINT_URL_CLOUDWATCH: this.endpoints.cloudwatch,
    };
  }

  /** Closes every server and listener and clears every timer (world clock included). */
  async stop(): Promise<void> {
    await Promise.allSettled([this.alb.stop(), this.ec2.stop(), this.elbv2.stop(), this.elb.stop(), this.sns.stop(), this.cloudwatch.stop()]);
    this.targetGroups.dispose();
    await this.world.dispose();
    this.endpoints = undefined;
  }
}

export async function startLocalAws(opts: LocalAwsOptions = {}): Promise<LocalAws> {
  const aws = new LocalAws(opts);
  await aws.start();
  return aws;
}

export { AlbDataPlane, clientProbe } from './alb-data-plane.js';
export type { AlbDataPlaneOptions, AlbListener, ClientProbe, ClientProbeOptions, ClientProbeStats, ClientSample, ListenerStats, TargetAddressResolver } from './alb-data-plane.js';
export { Ec2Endpoint, EC2_API_VERSION } from './ec2.js';
export { Elbv2Endpoint, TargetGroupRegistry, TokenBucket, TARGET_HEALTH_REASONS, ELBV2_API_VERSION, ELBV2_DESCRIBE_RATE_DEFAULT, parseMatcher, cidrContains, type ApiRateLimit } from './elbv2.js';
export type { BalancerKind, HealthCheckSettings, TargetGroup, TargetGroupSpec, TargetHealthView, TargetRecord } from './elbv2.js';
export { ClassicElbEndpoint, ClassicLoadBalancers, CLASSIC_DEFAULT_HEALTH_CHECK, CLASSIC_DESCRIPTIONS, ELB_API_VERSION, parseClassicTarget } from './classic-elb.js';
export type { ClassicHealthCheck, ClassicLoadBalancerSpec, InstanceHealthView } from './classic-elb.js';
export { SnsEndpoint, SNS_API_VERSION } from './sns.js';
export { CloudWatchEndpoint, CLOUDWATCH_TARGET_PREFIX, ALARM_STATES } from './cloudwatch.js';
export type { AlarmSpec, AlarmStateChange, AlarmStateValue, SandboxAlarm } from './cloudwatch.js';
export type { PublishedMessage, SnsMessageAttribute } from './sns.js';
export { AwsApiError } from './query-protocol.js';
export { World, ScaledClock, DEFAULT_TIMINGS, INSTANCE_STATE_CODE } from './world.js';
export type {
  ApiFault,
  InstanceRuntime,
  RunInstancesInput,
  SimClock,
  SimInstance,
  SimLaunchTemplate,
  SimNetworkInterface,
  SimSubnet,
  SimVolume,
  StateChange,
  WorldEvent,
  WorldOptions,
  WorldTimings,
} from './world.js';
