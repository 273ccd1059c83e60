import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { DescribeInstancesCommand, EC2Client, EC2ServiceException, type Instance } from '@aws-sdk/client-ec2';
import { clusterSchema, type ClusterConfig } from '../../../functions/config/schema.js';
import { discoverMembers, memberAddress } from '../../../functions/adapters/ec2-fleet.js';
import { AwsAccessDeniedError, AwsTransientError } from '../../../functions/adapters/errors.js';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';

function cluster(vault: Record<string, unknown> = {}): ClusterConfig {
  return clusterSchema.parse({
    name: 'prod',
    discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
    vault,
    loadBalancer: { targetGroupArn: TG },
    haLock: { type: 'raft' },
  });
}

const STATE_CODES = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 } as const;

/** An instance as DescribeInstances returns it. */
function instance(id: string, o: { state?: keyof typeof STATE_CODES; ip?: string; az?: string; tags?: Record<string, string> } = {}): Instance {
  const state = o.state ?? 'running';
  const gone = state === 'terminated';
  const ip = gone ? undefined : (o.ip ?? '10.0.1.5');
  return {
    InstanceId: id,
    State: { Code: STATE_CODES[state], Name: state },
    ...(ip ? { PrivateIpAddress: ip } : {}),
    // EC2 keeps the field but empties it once the instance is terminated.
    PrivateDnsName: ip ? `ip-${ip.replaceAll('.', '-')}.eu-west-1.compute.internal` : '',
    Placement: { AvailabilityZone: o.az ?? 'eu-west-1a', Tenancy: 'default' },
    LaunchTime: new Date('2026-11-01T10:00:00.000Z'),
    Tags: Object.entries({ 'vault-cluster': 'prod', ...(o.tags ?? {}) }).map(([Key, Value]) => ({ Key, Value })),
  };
}

const ec2Mock = mockClient(EC2Client);
let ec2: EC2Client;

beforeEach(() => {
  ec2Mock.reset();
  ec2 = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterEach(() => ec2.destroy());

describe('discoverMembers', () => {
  test('filters by the discovery tag and asks for instances in every state, terminated included', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    await discoverMembers(ec2, cluster());
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { Filters: expect.arrayContaining([{ Name: 'tag:vault-cluster', Values: ['prod'] }]) });
    const calls = ec2Mock.commandCalls(DescribeInstancesCommand);
    const filters = calls[0]!.args[0].input.Filters ?? [];
    assert.deepEqual(filters.find((f) => f.Name === 'tag:vault-cluster')?.Values, ['prod']);
    assert.deepEqual(
      [...(filters.find((f) => f.Name === 'instance-state-name')?.Values ?? [])].sort(),
      ['pending', 'running', 'shutting-down', 'stopped', 'stopping', 'terminated'],
    );
  });

  test('follows NextToken across three pages and returns every instance once', async () => {
    ec2Mock
      .on(DescribeInstancesCommand, { NextToken: undefined })
      .resolves({ Reservations: [{ Instances: [instance('i-0000000000000000c', { ip: '10.0.3.5' })] }], NextToken: 'page-2' })
      .on(DescribeInstancesCommand, { NextToken: 'page-2' })
      .resolves({ Reservations: [{ Instances: [instance('i-0000000000000000a', { ip: '10.0.1.5' })] }], NextToken: 'page-3' })
      .on(DescribeInstancesCommand, { NextToken: 'page-3' })
      .resolves({ Reservations: [{ Instances: [instance('i-0000000000000000b', { ip: '10.0.2.5' })] }] });

    const members = await discoverMembers(ec2, cluster());

    const tokens = ec2Mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input.NextToken);
    assert.deepEqual(tokens, [undefined, 'page-2', 'page-3']);
    expect(ec2Mock).toHaveReceivedNthSpecificCommandWith(3, DescribeInstancesCommand, { NextToken: 'page-3' });
    assert.deepEqual(
      members.map((m) => m.instanceId),
      ['i-0000000000000000a', 'i-0000000000000000b', 'i-0000000000000000c'],
      'sorted by instance id',
    );
  });

  test('stops with an error instead of looping when the service repeats a NextToken', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [], NextToken: 'same' });
    await assert.rejects(discoverMembers(ec2, cluster()), /NextToken/);
    assert.ok(ec2Mock.commandCalls(DescribeInstancesCommand).length <= 3);
  });

  test('maps an instance to a member with state, address, private IP, AZ, slot and launch time', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance('i-0abc', { ip: '10.0.2.7', az: 'eu-west-1b', tags: { 'vault-slot': 'vault-b' } })] }],
    });
    const [m] = await discoverMembers(ec2, cluster({ scheme: 'https', port: 8200 }));
    assert.deepEqual(m, {
      instanceId: 'i-0abc',
      state: 'running',
      address: 'https://10.0.2.7:8200',
      privateIp: '10.0.2.7',
      availabilityZone: 'eu-west-1b',
      slot: 'vault-b',
      launchTimeMs: Date.parse('2026-11-01T10:00:00.000Z'),
    });
  });

  test('keeps a terminated instance, with no address', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance('i-0dead', { state: 'terminated' })] }] });
    const [m] = await discoverMembers(ec2, cluster());
    assert.equal(m?.state, 'terminated');
    assert.equal(m?.address, undefined);
    assert.equal(m?.privateIp, undefined);
  });

  test('reads the slot from the configured slot tag key', async () => {
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance('i-0abc', { tags: { 'vault-slot': 'x', role: 'vault-c' } })] }] });
    const cfg = clusterSchema.parse({ ...cluster(), discovery: { tagKey: 'vault-cluster', tagValue: 'prod', slotTagKey: 'role' } });
    const [m] = await discoverMembers(ec2, cfg);
    assert.equal(m?.slot, 'vault-c');
  });

  const errorRows = [
    { name: 'RequestLimitExceeded', status: 503, expected: AwsTransientError },
    { name: 'UnauthorizedOperation', status: 403, expected: AwsAccessDeniedError },
  ];
  for (const row of errorRows) {
    test(`maps ${row.name} to ${row.expected.name}`, async () => {
      ec2Mock.on(DescribeInstancesCommand).rejects(
        new EC2ServiceException({ name: row.name, $fault: 'client', $metadata: { httpStatusCode: row.status }, message: row.name }),
      );
      await assert.rejects(discoverMembers(ec2, cluster()), (e: unknown) => e instanceof row.expected);
    });
  }
});

describe('memberAddress', () => {
  const inst = instance('i-0abc', { ip: '10.0.1.9', tags: { VaultUrl: 'https://vault-a.internal:8200/' } });
  const rows: Array<{ behaviour: string; vault: Record<string, unknown>; inst?: Instance; expected: string | undefined }> = [
    { behaviour: 'privateIp uses scheme, private IP and port', vault: { scheme: 'http', port: 18200, address: 'privateIp' }, expected: 'http://10.0.1.9:18200' },
    {
      behaviour: 'privateDnsName uses scheme, private DNS name and port',
      vault: { scheme: 'https', port: 8200, address: 'privateDnsName' },
      expected: 'https://ip-10-0-1-9.eu-west-1.compute.internal:8200',
    },
    { behaviour: 'a tag URL is used as the base URL without its trailing slash', vault: { address: { tag: 'VaultUrl' } }, expected: 'https://vault-a.internal:8200' },
    {
      behaviour: 'a tag with a local http URL is kept as is',
      vault: { scheme: 'http', address: { tag: 'VaultUrl' } },
      inst: instance('i-0abc', { tags: { VaultUrl: 'http://127.0.0.1:18201' } }),
      expected: 'http://127.0.0.1:18201',
    },
    { behaviour: 'a missing tag gives no address', vault: { address: { tag: 'Missing' } }, expected: undefined },
    {
      behaviour: 'a tag that is not an http(s) URL gives no address',
      vault: { address: { tag: 'VaultUrl' } },
      inst: instance('i-0abc', { tags: { VaultUrl: 'vault-a.internal:8200' } }),
      expected: undefined,
    },
    {
      behaviour: 'a tag with another scheme gives no address',
      vault: { address: { tag: 'VaultUrl' } },
      inst: instance('i-0abc', { tags: { VaultUrl: 'ftp://vault-a.internal' } }),
      expected: undefined,
    },
    { behaviour: 'a terminated instance has no private IP address', vault: { address: 'privateIp' }, inst: instance('i-0abc', { state: 'terminated' }), expected: undefined },
    {
      behaviour: 'a terminated instance has no private DNS address (EC2 reports an empty name)',
      vault: { address: 'privateDnsName' },
      inst: instance('i-0abc', { state: 'terminated' }),
      expected: undefined,
    },
  ];
  for (const row of rows) {
    test(row.behaviour, () => {
      assert.equal(memberAddress(row.inst ?? inst, cluster(row.vault).vault), row.expected);
    });
  }
});
