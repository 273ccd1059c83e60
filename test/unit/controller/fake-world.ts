/**
 * A fake world for counting what the controller sends (issue #9 "Fewer
 * calls"): the real runController over aws-sdk-client-mock clients (EC2,
 * ELBv2, DynamoDB, SNS), a manual clock that only moves when the loop sleeps
 * (or a test moves it), and probes answered in memory. The DynamoDB fake keeps
 * items in a map and answers GetItem, BatchGetItem, PutItem, UpdateItem and
 * DeleteItem in the documented shapes (conditions are not evaluated: overlap
 * is tested against dynalite, test/e2e/controller-handover.test.ts).
 */
import { mockClient } from 'aws-sdk-client-mock';
import {
  BatchGetItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type BatchGetItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';
import { DescribeTargetGroupsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { parseConfig } from '../../../functions/config/load.js';
import type { Config } from '../../../functions/config/schema.js';
import type { Member, ProbeResult } from '../../../functions/core/types.js';
import type { ControllerDeps } from '../../../functions/handlers/lib/reconcile.js';
import { silentLogger } from '../../../functions/handlers/lib/logger.js';
import { answer, bodies, leaderBody } from '../core/factories.js';

export const T0_MS = 1_763_801_600_000;
export const CONTROL_TABLE = 'vault-ha-control';

export interface FakeCluster {
  name: string;
  nodes: number;
  tagKey?: string;
}

const ipOf = (cluster: number, node: number) => `10.${cluster >> 8}.${cluster & 255}.${10 + node}`;
const idOf = (cluster: number, node: number) => `i-${(cluster * 16 + node).toString(16).padStart(17, '0')}`;
const tgOf = (name: string) => `arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/${name}/0123456789abcdef`;
const lockTableOf = (name: string) => `vault-data-${name}`;

export function fakeConfig(clusters: FakeCluster[], policy: Record<string, unknown> = {}): Config {
  return parseConfig({
    controlTable: CONTROL_TABLE,
    clusters: clusters.map((c) => ({
      name: c.name,
      discovery: { tagKey: c.tagKey ?? 'vault-cluster', tagValue: c.name },
      vault: { scheme: 'https', port: 8200, address: 'privateIp', probeTimeoutMs: 2000 },
      loadBalancer: { targetGroupArn: tgOf(c.name), routing: 'active-only' },
      haLock: { type: 'dynamodb', table: lockTableOf(c.name) },
      policy: { probeIntervalSeconds: 5, deadLeaderTakeover: false, ...policy },
    })),
  });
}

type Item = Record<string, AttributeValue>;
const keyOf = (table: string, key: Item): string => `${table}|${JSON.stringify(Object.entries(key).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.S ?? v.N]))}`;
const keyAttrs = (table: string, item: Item): Item =>
  table === CONTROL_TABLE ? { pk: item['pk']!, sk: item['sk']! } : { Path: item['Path']!, Key: item['Key']! };

export class FakeWorld {
  readonly ec2 = mockClient(EC2Client);
  readonly elb = mockClient(ElasticLoadBalancingV2Client);
  readonly ddb = mockClient(DynamoDBClient);
  readonly sns = mockClient(SNSClient);
  nowMs = T0_MS;
  readonly items = new Map<string, Item>();
  /** Cluster index → the node index that is active. */
  readonly active = new Map<string, number>();
  /** Every command sent, in order, with the clock when it was sent. */
  readonly log: Array<{ atMs: number; command: string; input: unknown }> = [];
  /** Set to make BatchGetItem leave the last key of each table unprocessed for this many answers. */
  unprocessedRounds = 0;
  /** A table whose reads are denied (AccessDeniedException), alone or in a batch. */
  deniedTable: string | undefined;
  /** Whether DescribeTargetHealth answers ThrottlingException "Rate exceeded" (ELB's API throttling). */
  throttleTargetHealth = false;
  /** Instances EC2 reports stopped (their Vault refuses connections). */
  readonly stopped = new Set<string>();
  /** Whether the two faults above also hit a run's read of its claims (a batch of lease#controller keys only). Default: no. */
  faultClaimReads = false;

  constructor(readonly config: Config, readonly clusters: FakeCluster[]) {
    clusters.forEach((c) => this.active.set(c.name, 0));
    const record = (command: string) => (input: unknown) => {
      this.log.push({ atMs: this.nowMs, command, input });
    };
    this.ec2.on(DescribeInstancesCommand).callsFake((input: { Filters?: Filter[] }) => {
      record('DescribeInstances')(input);
      return { Reservations: [{ Instances: this.instances(input.Filters ?? []) }] };
    });
    this.elb.on(DescribeTargetGroupsCommand).callsFake((input: unknown) => {
      record('DescribeTargetGroups')(input);
      return { TargetGroups: [{ TargetGroupArn: (input as { TargetGroupArns: string[] }).TargetGroupArns[0], TargetType: 'instance', Port: 8200 }] };
    });
    this.elb.on(DescribeTargetHealthCommand).callsFake((input: { TargetGroupArn?: string }) => {
      record('DescribeTargetHealth')(input);
      if (this.throttleTargetHealth) {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 } });
      }
      const ci = this.clusters.findIndex((c) => tgOf(c.name) === input.TargetGroupArn);
      const c = this.clusters[ci]!;
      return { TargetHealthDescriptions: [{ Target: { Id: idOf(ci, this.active.get(c.name)!), Port: 8200 }, TargetHealth: { State: 'healthy' } }] };
    });
    this.sns.on(PublishCommand).callsFake((input: unknown) => {
      record('Publish')(input);
      return { MessageId: 'm-1' };
    });
    this.ddb.on(GetItemCommand).callsFake((input: { TableName: string; Key: Item }) => {
      record('GetItem')(input);
      const item = this.item(input.TableName, input.Key);
      return item ? { Item: item } : {};
    });
    this.ddb.on(PutItemCommand).callsFake((input: { TableName: string; Item: Item }) => {
      record('PutItem')(input);
      this.items.set(keyOf(input.TableName, keyAttrs(input.TableName, input.Item)), input.Item);
      return {};
    });
    this.ddb.on(UpdateItemCommand).callsFake((input: { TableName: string; Key: Item; UpdateExpression?: string; ExpressionAttributeValues?: Item; ExpressionAttributeNames?: Record<string, string> }) => {
      record('UpdateItem')(input);
      // Only `SET #a = :a, #b = :b` is used by the controller.
      const k = keyOf(input.TableName, input.Key);
      const item: Item = { ...(this.items.get(k) ?? input.Key) };
      for (const part of (input.UpdateExpression ?? '').replace(/^SET\s+/i, '').split(',')) {
        const [name, value] = part.split('=').map((s) => s.trim());
        if (!name || !value) continue;
        item[input.ExpressionAttributeNames?.[name] ?? name] = input.ExpressionAttributeValues![value]!;
      }
      this.items.set(k, item);
      return {};
    });
    this.ddb.on(DeleteItemCommand).callsFake((input: { TableName: string; Key: Item }) => {
      record('DeleteItem')(input);
      this.items.delete(keyOf(input.TableName, input.Key));
      return {};
    });
    this.ddb.on(BatchGetItemCommand).callsFake((input: BatchGetItemCommandInput) => {
      record('BatchGetItem')(input);
      const claimsOnly = Object.values(input.RequestItems ?? {}).every((r) => (r.Keys ?? []).every((k) => k['sk']?.S === 'lease#controller'));
      const faulty = !claimsOnly || this.faultClaimReads;
      if (faulty && this.deniedTable !== undefined && Object.hasOwn(input.RequestItems ?? {}, this.deniedTable)) {
        throw Object.assign(new Error(`User is not authorized to perform: dynamodb:BatchGetItem on resource: ${this.deniedTable}`), {
          name: 'AccessDeniedException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        });
      }
      const Responses: Record<string, Item[]> = {};
      const UnprocessedKeys: NonNullable<BatchGetItemCommandInput['RequestItems']> = {};
      const leaveSome = faulty && this.unprocessedRounds > 0;
      if (leaveSome) this.unprocessedRounds -= 1;
      for (const [table, req] of Object.entries(input.RequestItems ?? {})) {
        const keys = req.Keys ?? [];
        // DynamoDB may leave any subset unprocessed; the fake leaves the last key of each table.
        const served = leaveSome ? keys.slice(0, -1) : keys;
        const left = leaveSome ? keys.slice(-1) : [];
        Responses[table] = served.flatMap((k) => {
          const item = this.item(table, k);
          return item ? [item] : [];
        });
        if (left.length > 0) UnprocessedKeys[table] = { ...req, Keys: left };
      }
      return { Responses, UnprocessedKeys };
    });
  }

  restore(): void {
    this.ec2.restore();
    this.elb.restore();
    this.ddb.restore();
    this.sns.restore();
  }

  /** The lock item of a cluster: held by its active node's Vault, renewed up to now. */
  item(table: string, key: Item): Item | undefined {
    const c = this.clusters.find((x) => lockTableOf(x.name) === table);
    if (c) {
      return {
        Path: { S: 'core' },
        Key: { S: '_lock' },
        Value: { B: new TextEncoder().encode(`value-${c.name}-${this.active.get(c.name)}`) },
        Identity: { B: new TextEncoder().encode(`identity-${c.name}-${this.active.get(c.name)}`) },
        Expires: { N: (BigInt(this.nowMs + 12_000) * 1_000_000n).toString() },
      };
    }
    return this.items.get(keyOf(table, key));
  }

  private instances(filters: Filter[]): Instance[] {
    const out: Instance[] = [];
    this.clusters.forEach((c, ci) => {
      const tagKey = c.tagKey ?? 'vault-cluster';
      const match = filters.every((f) => !f.Name?.startsWith('tag:') || (f.Name === `tag:${tagKey}` && (f.Values ?? []).includes(c.name)));
      if (!match) return;
      for (let n = 0; n < c.nodes; n++) {
        out.push({
          InstanceId: idOf(ci, n),
          State: this.stopped.has(idOf(ci, n)) ? { Name: 'stopped', Code: 80 } : { Name: 'running', Code: 16 },
          PrivateIpAddress: ipOf(ci, n),
          Placement: { AvailabilityZone: 'us-east-1a' },
          Tags: [{ Key: tagKey, Value: c.name }],
        });
      }
    });
    return out;
  }

  readonly probe = async (members: Member[], cluster: { name: string }): Promise<Map<string, ProbeResult>> => {
    const ci = this.clusters.findIndex((c) => c.name === cluster.name);
    const activeAddr = `https://${ipOf(ci, this.active.get(cluster.name)!)}:8200`;
    const out = new Map<string, ProbeResult>();
    for (const m of members) {
      if (this.stopped.has(m.instanceId)) {
        const refused = { ok: false as const, reason: 'refused' as const, detail: 'connect ECONNREFUSED', latencyMs: 1 };
        out.set(m.instanceId, { address: m.address!, health: refused, leader: refused });
        continue;
      }
      const isActive = m.address === activeAddr;
      out.set(m.instanceId, {
        address: m.address!,
        health: answer(isActive ? 200 : 429, isActive ? bodies.active() : bodies.standby()),
        leader: answer(200, leaderBody({ isSelf: isActive, leaderAddress: activeAddr })),
      });
    }
    return out;
  };

  deps(): ControllerDeps {
    return {
      ec2: new EC2Client({}),
      elbv2: new ElasticLoadBalancingV2Client({}),
      ddb: new DynamoDBClient({}),
      sns: new SNSClient({}),
      probe: this.probe,
      now: () => this.nowMs,
      logger: silentLogger,
      topicArn: undefined,
    };
  }

  /** A context whose remaining time counts down on the fake clock. */
  context(requestId: string, budgetMs: number): Pick<Context, 'getRemainingTimeInMillis' | 'awsRequestId'> {
    const deadline = this.nowMs + budgetMs;
    return { awsRequestId: requestId, getRemainingTimeInMillis: () => deadline - this.nowMs };
  }

  readonly sleep = async (ms: number): Promise<void> => {
    this.nowMs += ms;
  };

  /**
   * The commands of each tick, by name and count. The clock only moves while
   * the loop sleeps, so one tick's commands share one clock reading (the last
   * bucket also holds what the invocation sent on its way out).
   */
  countsByTick(): Array<Record<string, number>> {
    const buckets = new Map<number, Record<string, number>>();
    for (const e of this.log) {
      const b = buckets.get(e.atMs) ?? {};
      b[e.command] = (b[e.command] ?? 0) + 1;
      buckets.set(e.atMs, b);
    }
    return [...buckets.values()];
  }

  commands(name: string): unknown[] {
    return this.log.filter((e) => e.command === name).map((e) => e.input);
  }
}
