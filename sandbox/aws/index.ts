/**
 * Local AWS for the sandbox: EC2, ELBv2, Classic ELB (+ the load balancers'
 * data plane) and SNS endpoints over one in-memory world and one clock. The
 * project's unmodified SDK clients reach them only through the SDK's standard
 * endpoint settings (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2`,
 * `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING`, `AWS_ENDPOINT_URL_SNS`, or
 * `endpoint` in a client config) — see `endpointEnv()`.
 */
import { AlbDataPlane, type AlbDataPlaneOptions } from './alb-data-plane.js';
import { ClassicElbEndpoint, ClassicLoadBalancers } from './classic-elb.js';
import { Ec2Endpoint } from './ec2.js';
import { Elbv2Endpoint, TargetGroupRegistry } from './elbv2.js';
import { SnsEndpoint } from './sns.js';
import { World, type WorldOptions } from './world.js';

export interface LocalAwsOptions {
  /** An existing world (e.g. one the sandbox set up first); otherwise one is created from `worldOptions`. */
  world?: World;
  worldOptions?: WorldOptions;
  alb?: Omit<AlbDataPlaneOptions, 'world' | 'registry'>;
}

export interface LocalAwsEndpoints {
  ec2: string;
  elbv2: string;
  elb: string;
  sns: string;
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
  private endpoints: LocalAwsEndpoints | undefined;

  constructor(opts: LocalAwsOptions = {}) {
    this.world = opts.world ?? new World(opts.worldOptions);
    this.targetGroups = new TargetGroupRegistry(this.world);
    this.alb = new AlbDataPlane({ ...opts.alb, world: this.world, registry: this.targetGroups });
    this.ec2 = new Ec2Endpoint(this.world);
    this.elbv2 = new Elbv2Endpoint(this.world, this.targetGroups);
    this.classic = new ClassicLoadBalancers(this.world, this.targetGroups);
    this.elb = new ClassicElbEndpoint(this.world, this.classic);
    this.sns = new SnsEndpoint(this.world);
  }

  /** Starts the three endpoints on 127.0.0.1 (ephemeral ports) and the health checker. */
  async start(): Promise<LocalAwsEndpoints> {
    if (this.endpoints) return this.endpoints;
    try {
      const [ec2, elbv2, elb, sns] = await Promise.all([this.ec2.start(), this.elbv2.start(), this.elb.start(), this.sns.start()]);
      this.alb.start();
      this.endpoints = { ec2, elbv2, elb, sns };
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
    };
  }

  /** Closes every server and listener and clears every timer (world clock included). */
  async stop(): Promise<void> {
    await Promise.allSettled([this.alb.stop(), this.ec2.stop(), this.elbv2.stop(), this.elb.stop(), this.sns.stop()]);
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
export { Elbv2Endpoint, TargetGroupRegistry, TARGET_HEALTH_REASONS, ELBV2_API_VERSION, parseMatcher, cidrContains } from './elbv2.js';
export type { BalancerKind, HealthCheckSettings, TargetGroup, TargetGroupSpec, TargetHealthView, TargetRecord } from './elbv2.js';
export { ClassicElbEndpoint, ClassicLoadBalancers, CLASSIC_DEFAULT_HEALTH_CHECK, CLASSIC_DESCRIPTIONS, ELB_API_VERSION, parseClassicTarget } from './classic-elb.js';
export type { ClassicHealthCheck, ClassicLoadBalancerSpec, InstanceHealthView } from './classic-elb.js';
export { SnsEndpoint, SNS_API_VERSION } from './sns.js';
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
