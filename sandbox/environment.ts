/**
 * The whole control plane on a laptop (DESIGN §6): dynalite, the local
 * EC2/ELBv2/ELB/SNS/SSM endpoints, a 3-node simulated Vault cluster in 3 AZs
 * (instances launched through the EC2 world, each with its slot's network
 * interface and data volume), a load balancer with a listener and a rolling
 * client probe, and the REAL controller handler on its loop.
 *
 * Load balancer (`lb`): `alb` an ALB target group of instances (default),
 * `nlb-ip` an NLB target group of `ip` targets (the nodes' private IPs),
 * `classic` a Classic Load Balancer. HA (`ha`): `dynamodb`, `raft`, or `none`
 * (the nodes keep their DynamoDB lock, as MySQL or Consul storage would keep
 * theirs, but the controller is configured with haLock "none" and never reads it).
 *
 * Time: `fast` compresses every duration by `speed` (default 20): Vault's lock
 * timings (scaledTimings), the EC2/ALB world clock, the controller's tick
 * interval and probe timeout. Ratios are kept, so what happens is the same,
 * only sooner. Without `fast` everything runs on Vault's and AWS's real
 * timings (lock TTL 15 s, health checks every 5 s).
 *
 * `stop()` leaves nothing behind: every server, socket and timer is closed and
 * the process environment is restored.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { EC2Client, StartInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand, PutParameterCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { REAL_LOCK_TIMINGS } from '../functions/core/ha-lock.js';
import type { Member, ProbeResult } from '../functions/core/types.js';
import type { ClusterConfig, Config } from '../functions/config/schema.js';
import { defaultProbe } from '../functions/handlers/lib/reconcile.js';
import { sandboxClients, sandboxReplaceNodeHandler } from './workflow-wiring.js';
import { loadDefinition, runStateMachine, type RunStateMachineResult } from './stepfunctions/runner.js';
import { LocalAws, ScaledClock, clientProbe, type ClientProbe, type ClientSample } from './aws/index.js';
import { SsmServer } from './aws/ssm.js';
import { DocumentRegistry } from './aws/ssm-documents.js';
import { ControllerLoop, readControllerDeployment, type LambdaDeployment, type TickLogEntry, type TickRecord } from './controller-loop.js';
import { parseMatcher, type HealthCheckSettings } from './aws/elbv2.js';
import { classicTargetState } from '../functions/adapters/classic-elb.js';
import { createControlTable, createVaultLockTable, startLocalDynamo, type LocalDynamo } from './dynamodb.js';
import { SandboxRuntime, type RuntimeEvent } from './runtime.js';
import { PREPARE_NODE_DOCUMENT, VAULT_CONTROL_DOCUMENT, registerProjectDocuments } from './ssm-agent-documents.js';
import { RaftGroup, SimulatedVaultNode, scaledTimings, waitFor, type SimNodeEvent } from './sim/index.js';

export const CLUSTER_NAME = 'sandbox';
export const LOCK_TABLE = 'vault-data';
export const CONTROL_TABLE = 'vault-ha-control';
export const SHARES_PREFIX = '/vault/sandbox/unseal/';
export const STEP_DOWN_TOKEN_PARAMETER = `/vault-ha/${CLUSTER_NAME}/step-down-token`;
export const URL_TAG_KEY = 'vault-url';
export const DEFAULT_FAST_SPEED = 20;
/**
 * The target-group settings README "ALB health check: what we recommend and why"
 * recommends — ONE constant for the README, the sandbox and the failover
 * benchmark's `default` setup. `matcher` "200,429": an unsealed standby passes
 * (it forwards client requests to the active, DESIGN §3.3a), a sealed (503),
 * uninitialized (501), HA-unhealthy (474) or removed (530) node fails.
 */
export const RECOMMENDED_TARGET_GROUP = {
  healthCheckPath: '/v1/sys/health',
  matcher: '200,429',
  intervalSeconds: 5,
  timeoutSeconds: 3,
  healthyThresholdCount: 2,
  unhealthyThresholdCount: 2,
  deregistrationDelaySeconds: 15,
} as const;
/** Health check timings the sandbox's target group uses by default (the recommended ones). */
export const TARGET_GROUP_HEALTH = {
  intervalSeconds: RECOMMENDED_TARGET_GROUP.intervalSeconds,
  timeoutSeconds: RECOMMENDED_TARGET_GROUP.timeoutSeconds,
  healthyThresholdCount: RECOMMENDED_TARGET_GROUP.healthyThresholdCount,
  unhealthyThresholdCount: RECOMMENDED_TARGET_GROUP.unhealthyThresholdCount,
} as const;
export const DEREGISTRATION_DELAY_SECONDS = RECOMMENDED_TARGET_GROUP.deregistrationDelaySeconds;
/**
 * The Classic Load Balancer health check README "Classic Load Balancer" recommends.
 * Classic has no matcher (a check passes on 200 only), so `standbyok=true` makes
 * an unsealed standby answer 200 (it forwards, DESIGN §3.3a) while a sealed
 * (503), uninitialized (501), HA-unhealthy (474: it wins over standbyok) or
 * removed (530) node still fails: the same set the ALB's matcher 200,429 passes.
 */
export const RECOMMENDED_CLASSIC_HEALTH_CHECK = {
  healthCheckPath: '/v1/sys/health?standbyok=true',
  intervalSeconds: 5,
  timeoutSeconds: 3,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
} as const;
/** The balancers the sandbox can put in front of the nodes. */
export const SANDBOX_BALANCERS = ['alb', 'nlb-ip', 'classic'] as const;
export type SandboxBalancer = (typeof SANDBOX_BALANCERS)[number];
export type SandboxHa = 'dynamodb' | 'raft' | 'none';
/** Real-timing controller tick (policy.probeIntervalSeconds). */
export const PROBE_INTERVAL_SECONDS = 5;

const AZ_LETTERS = ['a', 'b', 'c', 'd', 'e'];
const SHARE_COUNT = 5;
const SHARE_THRESHOLD = 3;

export type TimelineKind = 'fault' | 'verdict' | 'registration' | 'vault' | 'instance' | 'client' | 'controller' | 'info';

export interface TimelineEvent {
  atMs: number;
  kind: TimelineKind;
  detail: string;
}

export interface SandboxOptions {
  ha: SandboxHa;
  /** The load balancer (default `alb`). */
  lb?: SandboxBalancer;
  /** Compressed timings (tests, quick demos). */
  fast?: boolean;
  /** Speed-up factor when fast (default 20). */
  speed?: number;
  nodeCount?: number;
  fencing?: 'none' | 'deregister' | 'break-lock';
  routing?: 'active-only' | 'all-unsealed';
  /** Start the controller loop right away (default true). */
  startController?: boolean;
  /**
   * How the controller is invoked: `one-tick` (default) one tick every
   * probeIntervalSeconds; `scheduled` EventBridge + Lambda as serverless.yml
   * deploys it (see ControllerLoop); `none` never (the classic pattern).
   */
  controller?: 'one-tick' | 'scheduled' | 'none';
  /** Scheduled mode: the deployment (default: read from serverless.yml) and the start phase (default random). */
  schedule?: { deployment?: LambdaDeployment; phase?: number };
  /** Bound on controller invocations (default: 100 000). */
  maxTicks?: number;
  /**
   * The balancer's health check (default: HTTP, path /v1/sys/health, matcher 200,
   * TARGET_GROUP_HEALTH). A Classic Load Balancer takes protocol, path, timings and
   * thresholds (it has no matcher: 200 passes); `protocol: 'TCP'` is a TCP check.
   */
  healthCheck?: Partial<Pick<HealthCheckSettings, 'protocol' | 'path' | 'matcher' | 'intervalSeconds' | 'timeoutSeconds' | 'healthyThresholdCount' | 'unhealthyThresholdCount'>>;
  deregistrationDelaySeconds?: number;
  /**
   * What the target group holds when the sandbox starts: `active` (default) the
   * active node, healthy; `unsealed` every unsealed node, each settled as the
   * health check would have it long after registration and at its own random
   * check phase (the classic pattern, `all-unsealed` routing).
   */
  initialTargets?: 'active' | 'unsealed';
  /** The sandbox's own rolling client probe (default true; the failover bench brings its own clients). */
  clientProbe?: boolean;
  /** Random source for phases (default Math.random). */
  random?: () => number;
  onTimeline?: (event: TimelineEvent) => void;
}

export interface SandboxSlot {
  name: string;
  availabilityZone: string;
  subnetId: string;
  networkInterfaceId: string;
  volumeId: string;
  device: string;
  node: SimulatedVaultNode;
}

/** One sample of what the load balancer routes to and which nodes claim active. */
export interface RoutingSample {
  atMs: number;
  /** Registered targets that are not draining, with their ALB state. */
  registered: Array<{ instanceId: string; state: string }>;
  /** Instances whose Vault node claims active right now. */
  claimants: string[];
  /** Registered (non-draining) instances whose node claims active. */
  registeredClaimants: string[];
  /**
   * Instances the balancer routes a new request to (ELB's rule: the healthy
   * targets; when none is healthy, every unhealthy one — fail-open; an
   * `initial` target gets nothing, DESIGN §3.5) whose node claims active.
   * Invariant 3 ("never route to two actives") is judged on this.
   */
  routedClaimants: string[];
}

export interface NodeView {
  slot: string;
  availabilityZone: string;
  instanceId: string | undefined;
  instanceState: string | undefined;
  url: string | undefined;
  running: boolean;
  sealed: boolean;
  claimsActive: boolean;
  holdsLock: boolean;
  /** The class the controller gave it on its last tick. */
  class: string | undefined;
  targetState: string | undefined;
  faults: string[];
}

export interface SandboxView {
  atMs: number;
  ha: SandboxHa;
  speed: number;
  nodes: NodeView[];
  verdict: string | undefined;
  verdictReasons: string[];
  outcome: string | undefined;
  ticks: number;
  lastTickAtMs: number | undefined;
  lastTickError: string | undefined;
  client: { successRate: number; samples: number; windowSeconds: number; sent: number };
  listenerUrl: string;
  controllerBlind: boolean;
  events: TimelineEvent[];
}

export interface CommandOutcome {
  commandId: string;
  status: string;
  output: string;
}

export class SandboxSlotNotFoundError extends Error {
  override readonly name = 'SandboxSlotNotFoundError';
  constructor(readonly slot: string) {
    super(`no slot named ${slot}`);
  }
}

export class SandboxNoInstanceError extends Error {
  override readonly name = 'SandboxNoInstanceError';
  constructor(readonly slot: string) {
    super(`slot ${slot} has no live instance`);
  }
}

export class SandboxCommandError extends Error {
  override readonly name = 'SandboxCommandError';
  constructor(
    readonly documentName: string,
    readonly instanceId: string,
    readonly status: string,
    /** The command's output (progress lines only: the documents never print a secret). */
    readonly output: string,
    options?: { cause?: unknown },
  ) {
    super(`${documentName} on ${instanceId} ended ${status}${output ? `: ${output.replaceAll('\n', ' | ')}` : ''}`, options);
  }
}

const MANAGED_ENV = [
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_ENDPOINT_URL_EC2',
  'AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2',
  'AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING',
  'AWS_ENDPOINT_URL_SNS',
  'AWS_ENDPOINT_URL_CLOUDWATCH',
  'AWS_ENDPOINT_URL_SSM',
  'AWS_ENDPOINT_URL_DYNAMODB',
  'VAULT_HA_CONFIG',
  'VAULT_HA_CONFIG_FILE',
  'VAULT_HA_CONFIG_PARAMETER',
] as const;

export class Sandbox {
  readonly ha: SandboxHa;
  readonly lb: SandboxBalancer;
  readonly speed: number;
  /** Real ms per "real-world" ms: 1 / speed. */
  readonly timeScale: number;
  readonly slots: SandboxSlot[] = [];
  readonly timeline: TimelineEvent[] = [];
  readonly samples: RoutingSample[] = [];
  readonly clientSamples: Array<ClientSample & { realAtMs: number; realEndMs: number }> = [];
  /** The random unseal shares (kept so tests can prove they never leak). */
  readonly shares: string[];
  readonly rootToken: string;
  config!: Config;
  aws!: LocalAws;
  ssm!: SsmServer;
  dynamo!: LocalDynamo;
  runtime!: SandboxRuntime;
  controller!: ControllerLoop;
  /**
   * The balancer's key in `aws.targetGroups`: the target group's ARN, or the
   * Classic Load Balancer's ARN (`lb: 'classic'`; its name is `loadBalancerName`).
   */
  targetGroupArn = '';
  loadBalancerName = '';
  listenerUrl = '';
  raftGroup: RaftGroup | undefined;
  /** Real ms between routing samples. */
  readonly sampleIntervalMs: number;
  readonly tickIntervalMs: number;

  private probe: ClientProbe | undefined;
  private sampler: NodeJS.Timeout | undefined;
  private ec2Client: EC2Client | undefined;
  private ssmClient: SSMClient | undefined;
  private savedEnv: Partial<Record<(typeof MANAGED_ENV)[number], string | undefined>> = {};
  private envApplied = false;
  private stopped = false;
  private blind = false;
  private blackhole: string | undefined;
  private lastHarvestSimMs = -Infinity;
  private simAnchor = 0;
  private realAnchor = 0;
  private lastVerdict: string | undefined;
  private lastRegistered = '';

  constructor(private readonly opts: SandboxOptions) {
    this.ha = opts.ha;
    this.lb = opts.lb ?? 'alb';
    this.speed = opts.fast ? (opts.speed ?? DEFAULT_FAST_SPEED) : 1;
    this.timeScale = 1 / this.speed;
    this.shares = Array.from({ length: SHARE_COUNT }, () => randomBytes(33).toString('base64'));
    this.rootToken = `hvs.${randomBytes(18).toString('base64url')}`;
    this.sampleIntervalMs = Math.max(20, Math.round(250 * this.timeScale * 4));
    this.tickIntervalMs = Math.round(PROBE_INTERVAL_SECONDS * 1000 * this.timeScale);
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    try {
      await this.startInner();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async startInner(): Promise<void> {
    const nodeCount = this.opts.nodeCount ?? 3;
    this.dynamo = await startLocalDynamo();
    if (this.ha !== 'raft') await createVaultLockTable(this.dynamo.client, LOCK_TABLE);
    await createControlTable(this.dynamo.client, CONTROL_TABLE);

    const clock = new ScaledClock(this.speed);
    this.simAnchor = clock.nowMs();
    this.realAnchor = Date.now();
    this.aws = new LocalAws({ worldOptions: { clock, region: 'eu-west-1' } });
    const world = this.aws.world;

    const documents = new DocumentRegistry();
    registerProjectDocuments(documents, { pollIntervalMs: Math.max(10, Math.round(100 * this.timeScale * 4)), secondMs: Math.max(1, Math.round(1000 * this.timeScale)) });
    this.ssm = new SsmServer({ documents, region: world.region, accountId: world.accountId, msPerSecond: Math.max(20, Math.round(1000 * this.timeScale)) });
    await this.ssm.start();

    // The simulated nodes, one per slot; identity lives on the slot's data volume.
    if (this.ha === 'raft') {
      this.raftGroup = new RaftGroup({
        electionTimeoutMs: Math.max(50, Math.round(3000 * this.timeScale)),
        stepDownBackoffMs: Math.round(REAL_LOCK_TIMINGS.stepDownBackoffMs * this.timeScale),
      });
    }
    const lockTimings = scaledTimings(this.timeScale);
    const lt = world.addLaunchTemplate({ launchTemplateName: 'vault-sandbox', instanceTags: { 'vault-cluster': CLUSTER_NAME } });
    const nodesByVolume = new Map<string, SimulatedVaultNode>();
    for (let i = 0; i < nodeCount; i++) {
      const letter = AZ_LETTERS[i] ?? String(i);
      const az = `${world.region}${letter}`;
      const name = `vault-${letter}`;
      const subnet = world.addSubnet({ availabilityZone: az, cidrBlock: `10.0.${i + 1}.0/24`, tags: { Name: `vault-sandbox-${letter}` } });
      const eni = world.addNetworkInterface({ subnetId: subnet.subnetId, description: `${name} primary`, tags: { 'vault-slot': name } });
      const vol = world.addVolume({ availabilityZone: az, sizeGiB: 20, tags: { 'vault-slot': name } });
      const node = new SimulatedVaultNode({
        name,
        clusterName: `vault-${CLUSTER_NAME}`,
        ha:
          this.raftGroup !== undefined
            ? { type: 'raft', group: this.raftGroup }
            : { type: 'dynamodb', client: this.dynamo.client, table: LOCK_TABLE, timings: lockTimings },
        seal: { type: 'shamir', shares: this.shares, threshold: SHARE_THRESHOLD },
        startSealed: true,
        rootToken: this.rootToken,
        onEvent: (e) => this.onNodeEvent(e),
      });
      nodesByVolume.set(vol.volumeId, node);
      this.slots.push({
        name,
        availabilityZone: az,
        subnetId: subnet.subnetId,
        networkInterfaceId: eni.networkInterfaceId,
        volumeId: vol.volumeId,
        device: '/dev/sdf',
        node,
      });
    }

    this.runtime = new SandboxRuntime({ world, ssm: this.ssm, nodesByVolume, urlTagKey: URL_TAG_KEY, onEvent: (e) => this.onRuntimeEvent(e) });
    world.setRuntime(this.runtime);
    world.on((e) => {
      if (e.type === 'instance-state') this.record('instance', `${e.instanceId} ${e.from ?? 'new'} → ${e.to}`);
      if (e.type === 'runtime-error') this.record('info', `runtime error on ${e.instanceId} (${e.hook}): ${e.error}`);
    });

    const tg = this.addBalancer();
    this.targetGroupArn = tg.arn;
    await this.aws.start();
    this.listenerUrl = (await this.aws.alb.addListener(tg.arn)).url;
    const topicArn = this.aws.sns.addTopic('vault-ha-sandbox');

    this.applyEnv();
    this.config = this.buildConfig(lt.launchTemplateId, topicArn);
    process.env.VAULT_HA_CONFIG = JSON.stringify(this.config);

    const awsCfg = { region: world.region, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 2 };
    this.ec2Client = new EC2Client({ ...awsCfg, endpoint: this.aws.endpointEnv().AWS_ENDPOINT_URL_EC2 });
    this.ssmClient = new SSMClient({ ...awsCfg, endpoint: this.ssm.endpoint });
    // The shares live ONLY as SecureStrings; nodes read them through the PrepareNode document.
    for (const [i, share] of this.shares.slice(0, SHARE_THRESHOLD).entries()) {
      await this.ssmClient.send(new PutParameterCommand({ Name: `${SHARES_PREFIX}${i + 1}`, Value: share, Type: 'SecureString' }));
    }
    await this.ssmClient.send(new PutParameterCommand({ Name: STEP_DOWN_TOKEN_PARAMETER, Value: this.rootToken, Type: 'SecureString' }));

    // The pre-existing cluster: running instances with their volumes, unsealed before the sandbox started.
    this.runtime.afterBootStart = async (node) => {
      await node.unseal(this.shares.slice(0, SHARE_THRESHOLD));
    };
    await Promise.all(
      this.slots.map((s) =>
        world.launchInitialInstance({
          subnetId: s.subnetId,
          networkInterfaceId: s.networkInterfaceId,
          volumes: [{ volumeId: s.volumeId, device: s.device }],
          launchTemplateId: lt.launchTemplateId,
          tags: { 'vault-cluster': CLUSTER_NAME, 'vault-slot': s.name },
        }),
      ),
    );
    this.runtime.afterBootStart = undefined;
    const leader = await waitFor(() => this.slots.find((s) => s.node.isActive()), {
      timeoutMs: Math.max(5_000, REAL_LOCK_TIMINGS.ttlMs * 2 * this.timeScale),
      intervalMs: 10,
      description: 'a first active node',
    });
    // It was the ALB's healthy target before the sandbox started: no 15 s of initial checks on start-up.
    const leaderId = this.instanceOf(leader.name)!;
    if (this.opts.initialTargets === 'unsealed') {
      this.registerSettled(leader);
    } else {
      this.registerInstance(leaderId);
      const key = this.targetKeyOf(leaderId);
      const rec = [...tg.targets.values()].find((r) => r.id === key);
      if (rec) {
        rec.state = 'healthy';
        delete rec.reason;
        delete rec.description;
        rec.consecutivePasses = TARGET_GROUP_HEALTH.healthyThresholdCount;
      }
    }
    this.record('info', `cluster up: ${this.slots.map((s) => `${s.name}=${this.instanceOf(s.name)}`).join(', ')}; ${leader.name} active`);

    if (this.opts.clientProbe !== false) {
      this.probe = clientProbe({
        url: this.listenerUrl,
        path: '/v1/secret/data/sandbox',
        clock,
        intervalMs: this.opts.fast ? 1_000 : 250,
        // Not compressed: a loaded laptop must not turn slow answers into client failures.
        timeoutMs: 5_000 * this.speed,
        windowMs: 10_000,
        maxRequests: 10_000_000,
      });
    }
    this.sampler = setInterval(() => this.sample(), this.sampleIntervalMs);
    this.sample();

    const scheduled = this.opts.controller === 'scheduled';
    this.controller = new ControllerLoop({
      intervalMs: this.tickIntervalMs,
      timeScale: this.timeScale,
      ...(scheduled
        ? {
            schedule: {
              deployment: this.opts.schedule?.deployment ?? readControllerDeployment(),
              timeScale: this.timeScale,
              ...(this.opts.schedule?.phase !== undefined ? { phase: this.opts.schedule.phase } : {}),
              ...(this.opts.random ? { random: this.opts.random } : {}),
            },
            onTickLog: (e: TickLogEntry) => this.onTickLog(e),
          }
        : {}),
      maxTicks: this.opts.maxTicks ?? 100_000,
      probe: (members, cluster) => this.controllerProbe(members, cluster),
      onTick: (t) => this.onTick(t),
    });
    if ((this.opts.startController ?? true) && this.opts.controller !== 'none') this.controller.start();
  }

  /**
   * Registers every unsealed node and settles each target as the health check
   * would have it by now (matcher against the node's /v1/sys/health code), each
   * with its next check at a random phase of the interval.
   */
  private registerSettled(leader: SandboxSlot): void {
    const tg = this.aws.targetGroups.requireTargetGroup(this.targetGroupArn);
    const matches = parseMatcher(tg.healthCheck.matcher, tg.balancer === 'network' ? 599 : 499);
    const random = this.opts.random ?? Math.random;
    for (const s of this.slots) {
      const id = this.instanceOf(s.name);
      const st = s.node.status();
      if (id === undefined || !st.running || st.sealed) continue;
      this.registerInstance(id);
      // Vault's default /v1/sys/health codes (DESIGN §3.1): 200 active, 429 standby (200 with standbyok).
      const standbyOk = /[?&]standbyok=true\b/.test(tg.healthCheck.path);
      const code = s === leader || st.isActive || standbyOk ? 200 : 429;
      const passes = tg.healthCheck.protocol === 'TCP' || matches(code);
      this.aws.alb.settleTarget(tg.arn, this.targetKeyOf(id), passes ? 'healthy' : 'unhealthy', random() * tg.healthCheck.intervalSeconds * 1000);
    }
  }

  /** The balancer of `opts.lb`, with the options' health check. */
  private addBalancer() {
    const hc = { protocol: 'HTTP' as const, path: '/v1/sys/health', matcher: '200', ...TARGET_GROUP_HEALTH, ...this.opts.healthCheck };
    if (this.lb === 'classic') {
      const lb = this.aws.classic.add({
        name: 'vault-sandbox',
        instancePort: 8200,
        healthCheck: {
          target: hc.protocol === 'TCP' ? 'TCP:8200' : `${hc.protocol}:8200${hc.path}`,
          intervalSeconds: hc.intervalSeconds,
          timeoutSeconds: hc.timeoutSeconds,
          healthyThreshold: hc.healthyThresholdCount,
          unhealthyThreshold: hc.unhealthyThresholdCount,
        },
      });
      this.loadBalancerName = lb.name;
      return lb;
    }
    const nlb = this.lb === 'nlb-ip';
    return this.aws.targetGroups.addTargetGroup({
      name: 'vault-sandbox',
      port: 8200,
      protocol: nlb ? 'TCP' : 'HTTP',
      loadBalancerType: nlb ? 'network' : 'application',
      targetType: nlb ? 'ip' : 'instance',
      healthCheck: hc,
      deregistrationDelaySeconds: this.opts.deregistrationDelaySeconds ?? DEREGISTRATION_DELAY_SECONDS,
    });
  }

  /** The balancer's id for an instance: the instance id, or its private IP for `ip` targets. */
  targetKeyOf(instanceId: string): string {
    if (this.lb !== 'nlb-ip') return instanceId;
    return this.aws.world.instance(instanceId)?.privateIpAddress ?? instanceId;
  }

  /** The instance a balancer target is (for an `ip` target: the live instance with that private IP, else the newest that had it). */
  instanceOfTarget(targetId: string): string {
    if (this.lb !== 'nlb-ip') return targetId;
    const holders = this.aws.world
      .instances()
      .filter((i) => i.privateIpAddress === targetId)
      .sort((a, b) => Number(b.state === 'running') - Number(a.state === 'running') || b.launchTimeMs - a.launchTimeMs);
    return holders[0]?.instanceId ?? targetId;
  }

  /** Registers an instance with the sandbox's balancer, as its API would. */
  registerInstance(instanceId: string): void {
    if (this.lb === 'classic') this.aws.classic.register(this.loadBalancerName, [instanceId]);
    else this.aws.targetGroups.register(this.targetGroupArn, [{ id: this.targetKeyOf(instanceId) }]);
  }

  /** Registered (non-draining) targets by instance id, with the state the controller reads for each. */
  registeredTargets(): Array<{ instanceId: string; state: string }> {
    const tg = this.aws.targetGroups.requireTargetGroup(this.targetGroupArn);
    return [...tg.targets.values()]
      .filter((r) => r.state !== 'draining')
      .map((r) => {
        const instanceId = this.instanceOfTarget(r.id);
        return { instanceId, state: this.targetState(instanceId) ?? r.state };
      })
      .sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
  }

  /** Instances the balancer routes a new request to now (ELB's rule, alb-data-plane.ts `routableTargets`), sorted. */
  routedInstances(): string[] {
    const routed = this.aws.alb.routableTargets(this.targetGroupArn).targets.map((r) => this.instanceOfTarget(r.id));
    return [...new Set(routed)].sort();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.controller?.stop();
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = undefined;
    await this.probe?.stop();
    await Promise.allSettled(this.slots.map((s) => s.node.kill()));
    this.raftGroup?.stop();
    await this.aws?.stop();
    await this.ssm?.stop();
    await this.dynamo?.close();
    this.ec2Client?.destroy();
    this.ssmClient?.destroy();
    this.restoreEnv();
  }

  private buildConfig(launchTemplateId: string, topicArn: string): Config {
    const cluster = {
      name: CLUSTER_NAME,
      discovery: { tagKey: 'vault-cluster', tagValue: CLUSTER_NAME, slotTagKey: 'vault-slot' },
      vault: {
        scheme: 'http',
        port: 8200,
        address: { tag: URL_TAG_KEY },
        probeTimeoutMs: Math.max(250, Math.round(2000 * this.timeScale)),
        maxResponseBytes: 65_536,
      },
      loadBalancer:
        this.lb === 'classic'
          ? { type: 'classic', loadBalancerName: this.loadBalancerName, routing: this.opts.routing ?? 'active-only', listenerUrl: this.listenerUrl }
          : { type: 'target-group', targetGroupArn: this.targetGroupArn, routing: this.opts.routing ?? 'active-only', listenerUrl: this.listenerUrl },
      haLock:
        this.ha === 'dynamodb'
          ? { type: 'dynamodb', table: LOCK_TABLE, skewToleranceMs: Math.round(1000 * this.timeScale) }
          : { type: this.ha },
      unseal: { mode: 'shamir', sharesParameterPrefix: SHARES_PREFIX },
      replacement: {
        launchTemplate: { id: launchTemplateId, version: '$Latest' },
        slots: this.slots.map((s) => ({
          name: s.name,
          availabilityZone: s.availabilityZone,
          subnetId: s.subnetId,
          networkInterfaceId: s.networkInterfaceId,
          dataVolume: { volumeId: s.volumeId, device: s.device, mountPoint: '/opt/vault/data' },
        })),
        oldInstance: 'terminate',
        onFailure: 'terminate',
        volumeDetachTimeoutSeconds: 300,
        standbyTimeoutSeconds: 600,
      },
      policy: {
        dryRun: false,
        // One-tick mode: schema minimum is 1 s, and the loop itself ticks every
        // PROBE_INTERVAL_SECONDS × timeScale. Scheduled mode: the real value, which
        // the handler compresses itself (createControllerHandler's timeScale).
        probeIntervalSeconds:
          this.opts.controller === 'scheduled' ? PROBE_INTERVAL_SECONDS : Math.max(1, Math.round(PROBE_INTERVAL_SECONDS * this.timeScale)),
        unhealthyThreshold: 2,
        fencing: this.opts.fencing ?? 'deregister',
        breakLockAfterTicks: 3,
        autoReplace: false,
        autoReplaceAfterSeconds: 600,
        flappingChanges: 3,
        flappingWindowTicks: 12,
      },
    } satisfies Record<string, unknown>;
    return { controlTable: CONTROL_TABLE, notifications: { topicArn }, clusters: [cluster as unknown as ClusterConfig] };
  }

  private applyEnv(): void {
    for (const k of MANAGED_ENV) this.savedEnv[k] = process.env[k];
    this.envApplied = true;
    const endpoints = this.aws.endpointEnv();
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.VAULT_HA_CONFIG_FILE;
    delete process.env.VAULT_HA_CONFIG_PARAMETER;
    Object.assign(process.env, {
      AWS_REGION: this.aws.world.region,
      AWS_ACCESS_KEY_ID: 'sandbox',
      AWS_SECRET_ACCESS_KEY: 'sandbox',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...endpoints,
      AWS_ENDPOINT_URL_SSM: this.ssm.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: this.dynamo.endpoint,
    });
  }

  private restoreEnv(): void {
    if (!this.envApplied) return;
    for (const k of MANAGED_ENV) {
      const v = this.savedEnv[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    this.envApplied = false;
  }

  // ------------------------------------------------------------------ lookups

  slot(name: string): SandboxSlot {
    const s = this.slots.find((x) => x.name === name);
    if (!s) throw new SandboxSlotNotFoundError(name);
    return s;
  }

  /** The slot's newest instance that is not terminated (or shutting down). */
  instanceOf(slot: string): string | undefined {
    const live = this.aws.world
      .instances()
      .filter((i) => i.tags['vault-slot'] === slot && i.state !== 'terminated' && i.state !== 'shutting-down')
      .sort((a, b) => b.launchTimeMs - a.launchTimeMs);
    return live[0]?.instanceId;
  }

  slotOfInstance(instanceId: string): SandboxSlot | undefined {
    const tag = this.aws.world.instance(instanceId)?.tags['vault-slot'];
    return tag === undefined ? undefined : this.slots.find((s) => s.name === tag);
  }

  /** The slot whose node claims active (by the nodes' own view), if exactly one does. */
  activeSlot(): SandboxSlot | undefined {
    const actives = this.slots.filter((s) => s.node.isActive());
    return actives.length === 1 ? actives[0] : undefined;
  }

  /** Wall-clock ms of a world-clock (simulated) timestamp. */
  toRealMs(simMs: number): number {
    return this.realAnchor + (simMs - this.simAnchor) / this.speed;
  }

  private requireInstance(slot: string): string {
    this.slot(slot);
    const id = this.instanceOf(slot);
    if (!id) throw new SandboxNoInstanceError(slot);
    return id;
  }

  // ------------------------------------------------------------------ faults and operations

  async killVault(slot: string): Promise<void> {
    const id = this.requireInstance(slot);
    this.record('fault', `kill -9 Vault on ${slot} (${id})`);
    await this.runtime.stopVault(id, 'SIGKILL');
  }

  /** `sys/step-down` through the VaultControl document (the token is read on the node). */
  async stepDown(slot: string): Promise<CommandOutcome> {
    const id = this.requireInstance(slot);
    this.record('fault', `step-down ${slot} (${id}) via SSM ${VAULT_CONTROL_DOCUMENT}`);
    return this.runDocument(VAULT_CONTROL_DOCUMENT, id, { Action: 'step-down', TokenParameterName: STEP_DOWN_TOKEN_PARAMETER });
  }

  /** Mount + start + unseal through the PrepareNode document: the shares are read on the node. */
  async unseal(slot: string): Promise<CommandOutcome> {
    const s = this.slot(slot);
    const id = this.requireInstance(slot);
    this.record('fault', `unseal ${slot} (${id}) via SSM ${PREPARE_NODE_DOCUMENT}`);
    return this.runDocument(PREPARE_NODE_DOCUMENT, id, {
      VolumeId: s.volumeId,
      MountPoint: '/opt/vault/data',
      UnsealMode: 'shamir',
      SharesParameterPrefix: SHARES_PREFIX,
      VaultAddr: 'http://127.0.0.1:8200',
    });
  }

  async startVault(slot: string): Promise<CommandOutcome> {
    const id = this.requireInstance(slot);
    this.record('fault', `start Vault on ${slot} (${id}) via SSM ${VAULT_CONTROL_DOCUMENT}`);
    return this.runDocument(VAULT_CONTROL_DOCUMENT, id, { Action: 'start' });
  }

  async seal(slot: string): Promise<void> {
    this.record('fault', `seal ${slot}`);
    await this.slot(slot).node.seal();
  }

  async partitionClients(slot: string, on: boolean, mode: 'refuse' | 'hang' = 'refuse'): Promise<void> {
    this.record('fault', `${on ? 'cut' : 'heal'} client network of ${slot}${on ? ` (${mode})` : ''}`);
    await this.slot(slot).node.partitionClients(on, mode);
  }

  partitionStorage(slot: string, on: boolean): void {
    this.record('fault', `${on ? 'cut' : 'heal'} ${this.ha === 'raft' ? 'Raft peer' : 'DynamoDB'} network of ${slot}`);
    this.slot(slot).node.partitionStorage(on);
  }

  forceActive(slot: string, on: boolean): void {
    this.record('fault', `${on ? 'force' : 'unforce'} ${slot} to claim active`);
    this.slot(slot).node.forceActive(on);
  }

  async stopInstance(slot: string): Promise<void> {
    const id = this.requireInstance(slot);
    this.record('fault', `EC2 StopInstances ${id} (${slot})`);
    await this.ec2Client!.send(new StopInstancesCommand({ InstanceIds: [id] }));
  }

  async startInstance(slot: string): Promise<void> {
    const id = this.aws.world.instances().find((i) => i.tags['vault-slot'] === slot && i.state === 'stopped')?.instanceId;
    if (!id) throw new SandboxNoInstanceError(slot);
    this.record('fault', `EC2 StartInstances ${id} (${slot})`);
    await this.ec2Client!.send(new StartInstancesCommand({ InstanceIds: [id] }));
  }

  /** Cuts (or heals) the controller's own network path to the nodes: the ALB and clients still reach them. */
  async setControllerBlind(on: boolean): Promise<void> {
    this.record('fault', on ? "cut the controller's network path to every node" : "heal the controller's network path");
    if (on && this.blackhole === undefined) this.blackhole = await closedPortUrl();
    this.blind = on;
  }

  get controllerBlind(): boolean {
    return this.blind;
  }

  private async controllerProbe(members: Member[], cluster: ClusterConfig): Promise<Map<string, ProbeResult>> {
    if (!this.blind || this.blackhole === undefined) return defaultProbe(members, cluster);
    // Same probe code, but every packet from the controller goes nowhere.
    const blackhole = this.blackhole;
    return defaultProbe(
      members.map((m) => (m.address === undefined ? m : { ...m, address: blackhole })),
      cluster,
    );
  }

  /**
   * Runs the REAL replace-node state machine (statemachines/replace-node.asl.yml,
   * the real task code) in the local ASL interpreter against the sandbox's
   * endpoints. With `fast`, Wait states and Retry intervals are compressed.
   */
  async replaceNode(slot: string, opts: { reason?: string; force?: boolean } = {}): Promise<RunStateMachineResult> {
    this.slot(slot);
    this.record('fault', `replace-node ${slot} (Step Functions definition, local interpreter)`);
    const clients = sandboxClients(this);
    try {
      const config = this.config;
      const handler = sandboxReplaceNodeHandler(this, clients, config);
      const definition = await loadDefinition(fileURLToPath(new URL('../statemachines/replace-node.asl.yml', import.meta.url)));
      const fast = this.speed !== 1;
      const result = await runStateMachine(
        definition,
        { cluster: CLUSTER_NAME, slot, reason: opts.reason ?? 'sandbox replace-node', ...(opts.force ? { force: true } : {}) },
        {
          lambdaHandlers: { replaceNodeTasks: handler },
          sdkClients: { ec2: clients.ec2, elasticloadbalancingv2: clients.elbv2, ssm: clients.ssm, sns: clients.sns, dynamodb: clients.ddb },
          ...(fast
            ? { waitTimeOverrides: () => Math.round(5_000 * this.timeScale), retryIntervalOverrides: () => Math.round(2_000 * this.timeScale) }
            : {}),
          stateMachineName: 'replaceNode',
          maxTransitions: 2_000,
          timeoutMs: Math.max(60_000, 1_800_000 * this.timeScale),
        },
      );
      this.record('controller', `replace-node ${slot}: ${result.status}${result.error ? ` (${result.error})` : ''} after ${result.transitions} transitions`);
      return result;
    } finally {
      for (const c of Object.values(clients)) c.destroy();
    }
  }

  /** SendCommand + bounded polling of GetCommandInvocation until a terminal status. */
  async runDocument(documentName: string, instanceId: string, parameters: Record<string, string>): Promise<CommandOutcome> {
    const ssm = this.ssmClient!;
    const sent = await ssm.send(
      new SendCommandCommand({
        DocumentName: documentName,
        InstanceIds: [instanceId],
        Parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, [v]])),
        TimeoutSeconds: 60,
        Comment: `sandbox ${documentName}`,
      }),
    );
    const commandId = sent.Command?.CommandId ?? '';
    const terminal = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut']);
    const inv = await waitFor(
      async () => {
        try {
          const r = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
          return r.Status !== undefined && terminal.has(r.Status) ? r : undefined;
        } catch (err) {
          if ((err as { name?: string }).name === 'InvocationDoesNotExist') return undefined;
          throw err;
        }
      },
      { timeoutMs: Math.max(10_000, 60_000 * this.timeScale), intervalMs: 25, description: `${documentName} on ${instanceId}` },
    );
    const output = [inv.StandardOutputContent ?? '', inv.StandardErrorContent ?? ''].filter(Boolean).join('\n');
    const outcome = { commandId, status: inv.Status ?? 'unknown', output };
    this.record('info', `${documentName} on ${instanceId}: ${outcome.status}${output ? ` — ${output.replaceAll('\n', ' | ')}` : ''}`);
    if (outcome.status !== 'Success') throw new SandboxCommandError(documentName, instanceId, outcome.status, output);
    return outcome;
  }

  // ------------------------------------------------------------------ observation

  /** Records a timeline event (also what scenarios use for their own marks). */
  record(kind: TimelineKind, detail: string, atMs = Date.now()): TimelineEvent {
    const e = { atMs, kind, detail };
    this.timeline.push(e);
    if (this.timeline.length > 20_000) this.timeline.shift();
    this.opts.onTimeline?.(e);
    return e;
  }

  private onNodeEvent(e: SimNodeEvent): void {
    const interesting = new Set(['became-active', 'lost-active', 'killed', 'sealed', 'unsealed', 'step-down', 'stopped', 'started', 'force-active', 'client-partition', 'storage-partition']);
    if (interesting.has(e.kind)) this.record('vault', `${e.node}: ${e.kind} (${e.detail})`, e.atMs);
  }

  private onRuntimeEvent(e: RuntimeEvent): void {
    if (e.kind === 'mounted' || e.kind === 'unmounted' || e.kind === 'error') this.record('instance', `${e.instanceId}: ${e.kind} ${e.detail}`, e.atMs);
  }

  /** Scheduled mode: one invocation runs many ticks, so verdicts and actions come from each tick's log line. */
  private onTickLog(e: TickLogEntry): void {
    if (e.verdict !== this.lastVerdict) {
      this.record('verdict', `${this.lastVerdict ?? '(start)'} → ${e.verdict} (invocation ${e.invocation})`, e.atMs);
      this.lastVerdict = e.verdict;
    }
    if (e.applied) this.record('controller', e.outcome, e.atMs);
  }

  private onTick(t: TickRecord): void {
    const c = t.report?.clusters[0];
    if (t.error && !c) this.record('controller', `invocation failed: ${t.error}`, t.finishedAtMs);
    if (this.opts.controller === 'scheduled') {
      this.record('controller', `invocation ${t.seq} ended after ${t.report?.ticks ?? 0} ticks${t.error ? ` (${t.error})` : ''}`, t.finishedAtMs);
      this.sample();
      return;
    }
    if (c) {
      if (c.verdict.kind !== this.lastVerdict) {
        this.record('verdict', `${this.lastVerdict ?? '(start)'} → ${c.verdict.kind}: ${c.verdict.reasons[0] ?? ''}`, t.finishedAtMs);
        this.lastVerdict = c.verdict.kind;
      }
      if (c.applied) this.record('controller', c.outcome, t.finishedAtMs);
    }
    this.sample();
  }

  /** Takes one routing sample (also harvests client samples). */
  sample(): RoutingSample | undefined {
    if (this.stopped || !this.targetGroupArn) return undefined;
    const atMs = Date.now();
    const registered = this.registeredTargets();
    const claimants: string[] = [];
    for (const s of this.slots) {
      if (!s.node.isActive()) continue;
      const host = this.runtime.hostOf(s.node);
      if (host !== undefined) claimants.push(host);
    }
    const registeredClaimants = registered.map((r) => r.instanceId).filter((id) => claimants.includes(id));
    const routed = this.routedInstances();
    const routedClaimants = routed.filter((id) => claimants.includes(id));
    const sample: RoutingSample = { atMs, registered, claimants, registeredClaimants, routedClaimants };
    this.samples.push(sample);
    if (this.samples.length > 50_000) this.samples.shift();
    const key = registered.map((r) => r.instanceId).join(',');
    if (key !== this.lastRegistered) {
      const names = registered.map((r) => `${this.slotOfInstance(r.instanceId)?.name ?? '?'}(${r.instanceId})`);
      this.record('registration', `registered targets: ${names.length ? names.join(', ') : '(none)'}`, atMs);
      this.lastRegistered = key;
    }
    this.harvestClientSamples();
    return sample;
  }

  private harvestClientSamples(): void {
    if (!this.probe) return;
    for (const s of this.probe.samples()) {
      if (s.atMs <= this.lastHarvestSimMs) continue;
      this.lastHarvestSimMs = s.atMs;
      this.clientSamples.push({ ...s, realAtMs: this.toRealMs(s.atMs), realEndMs: this.toRealMs(s.atMs + s.latencyMs) });
    }
    if (this.clientSamples.length > 50_000) this.clientSamples.splice(0, this.clientSamples.length - 50_000);
  }

  /** The state the controller reads for a registered instance (DescribeTargetHealth, or DescribeInstanceHealth mapped), undefined when not registered. */
  targetState(instanceId: string): string | undefined {
    const tg = this.aws.targetGroups.requireTargetGroup(this.targetGroupArn);
    const key = this.targetKeyOf(instanceId);
    const rec = [...tg.targets.values()].find((r) => r.id === key && r.state !== 'draining') ?? [...tg.targets.values()].find((r) => r.id === key);
    if (rec === undefined) return undefined;
    if (this.lb === 'classic') {
      const v = this.aws.classic.view(rec);
      return classicTargetState({ State: v.state, ReasonCode: v.reasonCode, Description: v.description });
    }
    return this.aws.targetGroups.describeHealth(this.targetGroupArn, [{ id: key }])[0]?.state;
  }

  /** Client success over the last `windowMs` of real time (1 when there were no requests). */
  clientSuccessRate(windowMs: number, now = Date.now()): { rate: number; samples: number } {
    const recent = this.clientSamples.filter((s) => s.realAtMs >= now - windowMs);
    if (recent.length === 0) return { rate: 1, samples: 0 };
    return { rate: recent.filter((s) => s.ok).length / recent.length, samples: recent.length };
  }

  view(): SandboxView {
    const last = this.controller?.ticks.findLast((t) => t.report !== undefined);
    const lastAny = this.controller?.last;
    const c = last?.report?.clusters[0];
    const classes = new Map((c?.nodes ?? []).map((n) => [n.instanceId, n.class]));
    const windowMs = 10_000 * this.timeScale;
    const client = this.clientSuccessRate(windowMs);
    return {
      atMs: Date.now(),
      ha: this.ha,
      speed: this.speed,
      nodes: this.slots.map((s) => {
        const id = this.instanceOf(s.name) ?? this.aws.world.instances().find((i) => i.tags['vault-slot'] === s.name)?.instanceId;
        const inst = id ? this.aws.world.instance(id) : undefined;
        const st = s.node.status();
        const faults: string[] = [];
        if (st.clientPartition !== 'none') faults.push(`clients:${st.clientPartition}`);
        if (st.storagePartitioned) faults.push('storage-cut');
        if (st.forcedActive) faults.push('forced-active');
        return {
          slot: s.name,
          availabilityZone: s.availabilityZone,
          instanceId: id,
          instanceState: inst?.state,
          url: st.url,
          running: st.running,
          sealed: st.sealed,
          claimsActive: st.isActive,
          holdsLock: st.holdsLeadership,
          class: id ? classes.get(id) : undefined,
          targetState: id ? this.targetState(id) : undefined,
          faults,
        };
      }),
      verdict: c?.verdict.kind,
      verdictReasons: c?.verdict.reasons ?? [],
      outcome: c?.outcome,
      ticks: this.controller?.ticks.length ?? 0,
      lastTickAtMs: lastAny?.finishedAtMs,
      lastTickError: lastAny?.error,
      client: { successRate: client.rate, samples: client.samples, windowSeconds: 10, sent: this.probe?.stats().sent ?? 0 },
      listenerUrl: this.listenerUrl,
      controllerBlind: this.blind,
      events: this.timeline.slice(-8),
    };
  }
}

/** A URL on 127.0.0.1 where nothing listens (connection refused). */
async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const sandbox = new Sandbox(opts);
  await sandbox.start();
  return sandbox;
}
