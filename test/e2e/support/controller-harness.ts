/**
 * End-to-end harness for the controller: the real handler, simulated
 * Vault nodes over real HTTP taking the real DynamoDB HA lock in dynalite,
 * EC2/ELBv2/ELB/SNS mocked with aws-sdk-client-mock (a small stateful load
 * balancer whose health check is the ALB's: matcher 200 on /v1/sys/health).
 *
 * `balancer`: `instance` (a target group of instances, default), `ip` (a
 * target group of `ip` targets: the instances' private IPs) or `classic` (a
 * Classic Load Balancer: InService / OutOfService). `haLock: 'none'`: the
 * nodes keep their DynamoDB lock but the controller is configured not to read it.
 */
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeInstancesCommand,
  EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  type TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  ElasticLoadBalancingClient,
  InvalidEndPointException,
  RegisterInstancesWithLoadBalancerCommand,
  type InstanceState,
} from '@aws-sdk/client-elastic-load-balancing';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { loadClusterState, saveClusterState } from '../../../functions/adapters/control-table.js';
import type { Context } from 'aws-lambda';
import { createControlTable, createVaultLockTable, startDynalite, type DynaliteHandle } from '../../support/dynalite.js';
import { createSimCluster, scaledTimings, type SimCluster } from '../../../sandbox/sim/index.js';
import type { SimulatedVaultNode } from '../../../sandbox/sim/index.js';
import { createControllerHandler, type ControllerReport } from '../../../functions/handlers/controller.js';
import { silentLogger } from '../../../functions/handlers/lib/logger.js';
import { createClients, destroyClients, type AwsClients } from '../../../functions/adapters/aws-clients.js';
import { defaultProbe } from '../../../functions/handlers/lib/reconcile.js';
import { readLock } from '../../../functions/adapters/lock-reader.js';
import type { LockItemRead } from '../../../functions/core/types.js';

export const TG_ARN = 'arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/vault-e2e/0123456789abcdef';
export const CLASSIC_LB_NAME = 'vault-e2e';
export const LOCK_TABLE = 'vault-data';
export const CONTROL_TABLE = 'vault-ha-control';
export const REPLACE_NODE_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:vault-ha-replace-node';
export const TOPIC_ARN = 'arn:aws:sns:us-east-1:111122223333:vault-ha-e2e';

export interface FleetInstance {
  instanceId: string;
  node: SimulatedVaultNode;
  state: 'running' | 'stopped' | 'terminated';
}

export interface HarnessOptions {
  routing?: 'active-only' | 'all-unsealed';
  fencing?: 'none' | 'deregister' | 'break-lock';
  dryRun?: boolean;
  unhealthyThreshold?: number;
  breakLockAfterTicks?: number;
  autoReplace?: boolean;
  /** Lock timings scale factor (0.1 → 1.5 s TTL, 500 ms renewals). */
  timeScale?: number;
  /** haLock.skewToleranceMs (default 250). */
  skewToleranceMs?: number;
  /** policy.deadLeaderTakeover (absent: the schema's default). */
  deadLeaderTakeover?: boolean;
  /** Standby heartbeat of the simulated nodes (default: scaled with the lock timings). */
  heartbeat?: { intervalMs?: number; unhealthyAfterMs?: number };
  /** The load balancer: target group of `instance` (default) or `ip` targets, or a `classic` one. */
  balancer?: 'instance' | 'ip' | 'classic';
  /** haLock.type the controller is configured with (the nodes always take the DynamoDB lock). */
  haLock?: 'dynamodb' | 'none';
}

/** One sample per tick: what the target group held after the tick, and what each node said. */
export interface TickSample {
  report: ControllerReport;
  registered: string[];
  /** Registered instances whose node claimed active right after the tick. */
  registeredClaimants: string[];
}

export class ControllerHarness {
  readonly ec2 = mockClient(EC2Client);
  readonly elb = mockClient(ElasticLoadBalancingV2Client);
  readonly classicElb = mockClient(ElasticLoadBalancingClient);
  readonly sns = mockClient(SNSClient);
  readonly sfn = mockClient(SFNClient);
  readonly registered = new Set<string>();
  readonly samples: TickSample[] = [];
  fleet: FleetInstance[] = [];
  private ddb!: DynaliteHandle;
  private cluster!: SimCluster;
  private requestSeq = 0;
  private clients: AwsClients | undefined;
  readonly handler = createControllerHandler(() => {
    this.clients = createClients();
    return {
      ...this.clients,
      replaceNodeArn: REPLACE_NODE_ARN,
      probe: defaultProbe,
      now: Date.now,
      logger: silentLogger,
      // The controller must judge the lock with the timings the nodes run (dead-leader takeover).
      lockTimings: scaledTimings(this.opts.timeScale ?? 0.1),
    };
  });

  constructor(readonly opts: HarnessOptions = {}) {}

  async start(): Promise<void> {
    this.ddb = await startDynalite();
    process.env.AWS_ENDPOINT_URL_DYNAMODB = this.ddb.endpoint;
    await createVaultLockTable(this.ddb.client, LOCK_TABLE);
    await createControlTable(this.ddb.client, CONTROL_TABLE);
    this.cluster = await createSimCluster({
      count: 3,
      ha: 'dynamodb',
      ddb: { client: this.ddb.client, table: LOCK_TABLE },
      timings: scaledTimings(this.opts.timeScale ?? 0.1),
      rootToken: 'e2e-root',
      ...(this.opts.heartbeat ? { heartbeat: this.opts.heartbeat } : {}),
    });
    this.fleet = this.cluster.nodes.map((node, i) => ({
      instanceId: `i-0e2e00000000000${i}`,
      node,
      state: 'running' as const,
    }));
    this.installMocks();
    this.setConfig({});
  }

  async stop(): Promise<void> {
    if (this.clients) destroyClients(this.clients);
    await this.cluster?.stop();
    await this.ddb?.close();
    this.ec2.restore();
    this.elb.restore();
    this.classicElb.restore();
    this.sns.restore();
    this.sfn.restore();
    delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
    delete process.env.VAULT_HA_CONFIG;
  }

  config(overrides: HarnessOptions = {}): Record<string, unknown> {
    const o = { ...this.opts, ...overrides };
    return {
      controlTable: CONTROL_TABLE,
      notifications: { topicArn: TOPIC_ARN },
      clusters: [
        {
          name: 'e2e',
          discovery: { tagKey: 'vault-cluster', tagValue: 'e2e' },
          vault: { scheme: 'http', port: 8200, address: { tag: 'vault-url' }, probeTimeoutMs: 300 },
          loadBalancer:
            o.balancer === 'classic'
              ? { type: 'classic', loadBalancerName: CLASSIC_LB_NAME, routing: o.routing ?? 'active-only' }
              : { targetGroupArn: TG_ARN, routing: o.routing ?? 'active-only' },
          haLock: o.haLock === 'none' ? { type: 'none' } : { type: 'dynamodb', table: LOCK_TABLE, skewToleranceMs: o.skewToleranceMs ?? 250 },
          policy: {
            dryRun: o.dryRun ?? false,
            probeIntervalSeconds: 1,
            unhealthyThreshold: o.unhealthyThreshold ?? 2,
            fencing: o.fencing ?? 'deregister',
            breakLockAfterTicks: o.breakLockAfterTicks ?? 3,
            autoReplace: o.autoReplace ?? false,
            autoReplaceAfterSeconds: 60,
            ...(o.deadLeaderTakeover !== undefined ? { deadLeaderTakeover: o.deadLeaderTakeover } : {}),
          },
          replacement: {
            launchTemplate: { id: 'lt-0e2e0000000000000' },
            slots: ['a', 'b', 'c'].map((x, i) => ({
              name: `vault-${x}`,
              availabilityZone: `us-east-1${x}`,
              subnetId: `subnet-0e2e${i}`,
              dataVolume: { volumeId: `vol-0e2e${i}`, device: '/dev/sdf' },
            })),
          },
        },
      ],
    };
  }

  setConfig(overrides: HarnessOptions): void {
    process.env.VAULT_HA_CONFIG = JSON.stringify(this.config(overrides));
  }

  /** Pretends earlier ticks saw `slot` gone since `sinceMs` (autoReplaceAfterSeconds is ≥ 60 s). */
  async seedGoneSince(slot: string, sinceMs: number): Promise<void> {
    const state = await loadClusterState(this.ddb.client, CONTROL_TABLE, 'e2e');
    await saveClusterState(this.ddb.client, CONTROL_TABLE, 'e2e', { ...state, goneSinceMs: { ...state.goneSinceMs, [slot]: sinceMs } });
  }

  /** Vault's lock item as it is in the table now. */
  readLockItem(): Promise<LockItemRead> {
    return readLock(this.ddb.client, LOCK_TABLE);
  }

  node(instanceId: string): SimulatedVaultNode {
    const f = this.fleet.find((x) => x.instanceId === instanceId);
    if (!f) throw new Error(`no instance ${instanceId}`);
    return f.node;
  }

  activeInstances(): string[] {
    return this.fleet.filter((f) => f.state === 'running' && f.node.status().running && f.node.isActive()).map((f) => f.instanceId);
  }

  /** Lock holder according to the nodes themselves. */
  lockHolder(): string | undefined {
    return this.fleet.find((f) => f.node.status().holdsLeadership)?.instanceId;
  }

  /** One invocation with little time left runs exactly one tick. */
  async tick(): Promise<ControllerReport> {
    const context = {
      awsRequestId: `req-${++this.requestSeq}`,
      getRemainingTimeInMillis: () => 1_000,
      functionName: 'controller',
    } as unknown as Context;
    const report = (await this.handler({}, context)) as ControllerReport;
    const registered = [...this.registered].sort();
    this.samples.push({
      report,
      registered,
      registeredClaimants: registered.filter((id) => this.activeInstances().includes(id)),
    });
    return report;
  }

  /** Ticks (bounded) until `done` holds after a tick; returns the reports seen. */
  async tickUntil(done: (r: ControllerReport) => boolean, opts: { maxTicks: number; pauseMs?: number }): Promise<ControllerReport[]> {
    const seen: ControllerReport[] = [];
    for (let i = 0; i < opts.maxTicks; i++) {
      const r = await this.tick();
      seen.push(r);
      if (done(r)) return seen;
      await new Promise((res) => setTimeout(res, opts.pauseMs ?? 100));
    }
    const last = seen.at(-1)?.clusters[0];
    throw new Error(`condition not reached after ${opts.maxTicks} ticks; last: ${last?.verdict.kind} / ${last?.outcome}`);
  }

  /** The dynalite client (control table and lock table). */
  ddbClient(): DynaliteHandle['client'] {
    return this.ddb.client;
  }

  /** Register calls as the balancer received them: instance ids, or IPs for `ip` targets. */
  registerCalls(): string[][] {
    if (this.opts.balancer === 'classic') return this.classicElb.commandCalls(RegisterInstancesWithLoadBalancerCommand).map((c) => (c.args[0].input.Instances ?? []).map((i) => i.InstanceId!));
    return this.elb.commandCalls(RegisterTargetsCommand).map((c) => (c.args[0].input.Targets ?? []).map((t) => t.Id!));
  }

  deregisterCalls(): string[][] {
    if (this.opts.balancer === 'classic') return this.classicElb.commandCalls(DeregisterInstancesFromLoadBalancerCommand).map((c) => (c.args[0].input.Instances ?? []).map((i) => i.InstanceId!));
    return this.elb.commandCalls(DeregisterTargetsCommand).map((c) => (c.args[0].input.Targets ?? []).map((t) => t.Id!));
  }

  /** The private IP of a fleet instance (distinct per instance; the API address comes from the vault-url tag). */
  ipOf(instanceId: string): string {
    const i = this.fleet.findIndex((f) => f.instanceId === instanceId);
    return this.opts.balancer === 'ip' ? `10.0.0.${10 + i}` : '127.0.0.1';
  }

  private instanceAt(targetId: string): string {
    if (this.opts.balancer !== 'ip') return targetId;
    return this.fleet.find((f) => this.ipOf(f.instanceId) === targetId)?.instanceId ?? targetId;
  }

  private installMocks(): void {
    this.ec2.on(DescribeInstancesCommand).callsFake(() => ({
      Reservations: [{ Instances: this.fleet.map((f) => this.toInstance(f)) }],
    }));
    this.elb.on(DescribeTargetGroupsCommand).callsFake(() => ({
      TargetGroups: [{ TargetGroupArn: TG_ARN, TargetType: this.opts.balancer === 'ip' ? 'ip' : 'instance', Port: 8200 }],
    }));
    this.elb.on(DescribeTargetHealthCommand).callsFake(async () => ({
      TargetHealthDescriptions: await Promise.all([...this.registered].sort().map((id) => this.targetHealth(id))),
    }));
    this.elb.on(RegisterTargetsCommand).callsFake((input: { Targets?: Array<{ Id?: string }> }) => {
      for (const t of input.Targets ?? []) this.registered.add(this.instanceAt(t.Id!));
      return {};
    });
    this.elb.on(DeregisterTargetsCommand).callsFake((input: { Targets?: Array<{ Id?: string }> }) => {
      for (const t of input.Targets ?? []) this.registered.delete(this.instanceAt(t.Id!));
      return {};
    });
    // The Classic Load Balancer: the same registrations and health, in its own API's words.
    this.classicElb.on(DescribeInstanceHealthCommand).callsFake(async () => ({
      InstanceStates: await Promise.all([...this.registered].sort().map((id) => this.instanceHealth(id))),
    }));
    this.classicElb.on(RegisterInstancesWithLoadBalancerCommand).callsFake((input: { Instances?: Array<{ InstanceId?: string }> }) => {
      for (const i of input.Instances ?? []) this.registered.add(i.InstanceId!);
      return { Instances: [...this.registered].sort().map((InstanceId) => ({ InstanceId })) };
    });
    this.classicElb.on(DeregisterInstancesFromLoadBalancerCommand).callsFake((input: { Instances?: Array<{ InstanceId?: string }> }) => {
      const ids = (input.Instances ?? []).map((i) => i.InstanceId!);
      // Classic refuses the whole call when one instance is not registered (boto/boto#2274).
      const missing = ids.find((id) => !this.registered.has(id));
      if (missing !== undefined) throw new InvalidEndPointException({ $metadata: { httpStatusCode: 400 }, message: `Could not find EC2 instance ${missing}.` });
      for (const id of ids) this.registered.delete(id);
      return { Instances: [...this.registered].sort().map((InstanceId) => ({ InstanceId })) };
    });
    this.sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    this.sfn.on(StartExecutionCommand).resolves({ executionArn: `${REPLACE_NODE_ARN}:exec`, startDate: new Date() });
  }

  private toInstance(f: FleetInstance): Instance {
    const codes = { running: 16, stopped: 80, terminated: 48 } as const;
    const url = f.node.status().url ?? f.node.apiAddr();
    return {
      InstanceId: f.instanceId,
      State: { Name: f.state, Code: codes[f.state] },
      PrivateIpAddress: this.ipOf(f.instanceId),
      Placement: { AvailabilityZone: 'us-east-1a' },
      Tags: [
        { Key: 'vault-cluster', Value: 'e2e' },
        { Key: 'vault-slot', Value: f.node.status().name },
        { Key: 'vault-url', Value: url },
      ],
    };
  }

  /** The ALB's own view: matcher 200 on /v1/sys/health. An `ip` target is reported by its IP, and knows no instance state. */
  private async targetHealth(id: string): Promise<TargetHealthDescription> {
    const f = this.fleet.find((x) => x.instanceId === id);
    const targetId = this.opts.balancer === 'ip' ? this.ipOf(id) : id;
    if (!f || (f.state !== 'running' && this.opts.balancer !== 'ip')) {
      return { Target: { Id: targetId, Port: 8200 }, TargetHealth: { State: 'unused', Reason: 'Target.InvalidState' } };
    }
    const s = f.node.status();
    const healthy = f.state === 'running' && s.running && s.clientPartition === 'none' && s.isActive;
    return {
      Target: { Id: targetId, Port: 8200 },
      TargetHealth: healthy
        ? { State: 'healthy' }
        : { State: 'unhealthy', Reason: s.running && s.clientPartition === 'none' ? 'Target.ResponseCodeMismatch' : 'Target.Timeout' },
    };
  }

  /** The Classic Load Balancer's view of the same check: InService iff it answers 200 on /v1/sys/health. */
  private async instanceHealth(id: string): Promise<InstanceState> {
    const f = this.fleet.find((x) => x.instanceId === id);
    if (!f || f.state !== 'running') return { InstanceId: id, State: 'OutOfService', ReasonCode: 'Instance', Description: `Instance is in ${f?.state ?? 'terminated'} state.` };
    const s = f.node.status();
    return s.running && s.clientPartition === 'none' && s.isActive
      ? { InstanceId: id, State: 'InService', ReasonCode: 'N/A', Description: 'N/A' }
      : { InstanceId: id, State: 'OutOfService', ReasonCode: 'Instance', Description: 'Instance has failed at least the UnhealthyThreshold number of health checks consecutively.' };
  }
}
