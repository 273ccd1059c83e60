/**
 * `vault-ha status` assembled from AWS answers (SDK clients mocked with
 * aws-sdk-client-mock, real shapes): a configured slot without an instance
 * still gets a row, a registered target that is no member is shown, and when
 * the CLI cannot reach any node from where it runs while the controller's
 * recent tick could, it says so instead of leaving "probe-blind" unexplained.
 */
import assert from 'node:assert/strict';
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBClient, GetItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { parseConfig } from '../../functions/config/load.js';
import { CliContext } from '../../cli/lib/context.js';
import { Output } from '../../cli/lib/output.js';
import { gatherClusterStatus } from '../../cli/status.js';

const ec2 = mockClient(EC2Client);
const elb = mockClient(ElasticLoadBalancingV2Client);
const ddb = mockClient(DynamoDBClient);
const sfn = mockClient(SFNClient);
let closedUrl: string;
const NOW = Date.parse('2026-12-01T12:00:00.000Z');

beforeAll(async () => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closedUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise<void>((r) => server.close(() => r()));
});
afterEach(() => {
  ec2.reset();
  elb.reset();
  ddb.reset();
  sfn.reset();
});
afterAll(() => {
  ec2.restore();
  elb.restore();
  ddb.restore();
  sfn.restore();
});

const config = () =>
  parseConfig({
    controlTable: 't',
    clusters: [
      {
        name: 'prod',
        discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
        vault: { scheme: 'http', address: { tag: 'vault-url' }, probeTimeoutMs: 300 },
        loadBalancer: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/vault/6d0ecf831eec9f09' },
        haLock: { type: 'raft' },
        replacement: {
          launchTemplate: { id: 'lt-07a3c5e9b1d2f4680' },
          slots: [
            { name: 'vault-a', availabilityZone: 'eu-west-1a', subnetId: 'subnet-0a1b2c3d4e5f60718' },
            { name: 'vault-b', availabilityZone: 'eu-west-1b', subnetId: 'subnet-0b1b2c3d4e5f60718' },
          ],
        },
      },
    ],
  });

function context(): CliContext {
  const out = new Output({ stdout: { write: () => true }, stderr: { write: () => true }, json: true, color: false });
  const ctx = new CliContext({ positionals: [], options: {} }, { out, env: { ...process.env }, now: () => NOW });
  ctx.useConfig(config());
  return ctx;
}

function stubWorld(observationVerdict: string, observationAtMs: number): void {
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: 'i-0aaaaaaaaaaaaaaa1',
            State: { Name: 'running', Code: 16 },
            Placement: { AvailabilityZone: 'eu-west-1a' },
            Tags: [{ Key: 'vault-cluster', Value: 'prod' }, { Key: 'vault-slot', Value: 'vault-a' }, { Key: 'vault-url', Value: closedUrl }],
          },
        ],
      },
    ],
  });
  elb.on(DescribeTargetHealthCommand).resolves({
    TargetHealthDescriptions: [{ Target: { Id: 'i-0fffffffffffffff9', Port: 8200 }, TargetHealth: { State: 'healthy' } }],
  });
  ddb.on(GetItemCommand).resolves({});
  ddb.on(QueryCommand).resolves({
    Items: [{ pk: { S: 'cluster#prod' }, sk: { S: `obs#${new Date(observationAtMs).toISOString()}` }, atMs: { N: String(observationAtMs) }, observation: { S: JSON.stringify({ outcome: 'no action: i-0aaaaaaaaaaaaaaa1 is the active', verdict: { kind: observationVerdict }, applied: false }) } }],
  });
  sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [] });
}

describe('status snapshot', () => {
  it('a slot with no instance and a registered stranger both get rows; the node the CLI cannot reach is unreachable', async () => {
    stubWorld('healthy', NOW - 5_000);
    const s = await gatherClusterStatus(context(), config().clusters[0]!, 't');
    assert.deepEqual(
      s.nodes.map((n) => [n.slot, n.instanceId, n.class, n.target?.state ?? null]),
      [
        ['vault-a', 'i-0aaaaaaaaaaaaaaa1', 'unreachable', null],
        ['vault-b', null, null, null],
        ['?', 'i-0fffffffffffffff9', null, 'healthy'],
      ],
    );
    assert.equal(s.operation.executions, null, 'no state machine found: executions unknown, status still answers');
    assert.match(s.operation.executionsError ?? '', /no deployed replace-node state machine/);
  });

  it('probe-blind from here while the controller saw the cluster a minute ago: a warning says where to run it', async () => {
    stubWorld('healthy', NOW - 60_000);
    const s = await gatherClusterStatus(context(), config().clusters[0]!, 't');
    assert.equal(s.verdict.kind, 'probe-blind');
    assert.ok(s.warnings.some((w) => /no node answered this CLI's probe, but the controller's tick .* judged healthy/.test(w)), JSON.stringify(s.warnings));
  });

  it('no such warning when the controller was blind too, or its tick is old', async () => {
    stubWorld('probe-blind', NOW - 60_000);
    assert.deepEqual((await gatherClusterStatus(context(), config().clusters[0]!, 't')).warnings, []);
    stubWorld('healthy', NOW - 3_600_000);
    assert.deepEqual((await gatherClusterStatus(context(), config().clusters[0]!, 't')).warnings, []);
  });
});
