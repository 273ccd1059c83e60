/**
 * Contract tests of the local EC2 endpoint, driven through the unmodified
 * `@aws-sdk/client-ec2`: shapes and error codes as EC2 documents them, lifecycle
 * timing on a compressed clock, ENI reuse, volume rules and ClientToken idempotency.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, test } from '@jest/globals';
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  DescribeInstanceStatusCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { Ec2Endpoint } from '../../../sandbox/aws/ec2.js';
import { ScaledClock, World, type InstanceRuntime, type SimInstance } from '../../../sandbox/aws/world.js';
import { keyPaths, pollUntil } from '../../support/aws-contract.js';

const FIXTURES = new URL('../../fixtures/aws/', import.meta.url);
const SPEED = 20;
const TIMINGS = {
  pendingMs: 2_000,
  stoppingMs: 2_000,
  shuttingDownMs: 2_000,
  terminatedVisibleMs: 20_000,
  volumeAttachMs: 1_000,
  volumeDetachMs: 1_000,
  statusInitializingMs: 0,
};
const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

interface RuntimeLog {
  running: string[];
  stopping: string[];
  attached: Array<[string, string, string]>;
  detached: Array<[string, string]>;
}

function recordingRuntime(log: RuntimeLog): InstanceRuntime {
  return {
    onRunning: async (i) => void log.running.push(i.instanceId),
    onStopping: async (i) => void log.stopping.push(i.instanceId),
    onVolumeAttached: (i, v, d) => void log.attached.push([i.instanceId, v.volumeId, d]),
    onVolumeDetached: (i, v) => void log.detached.push([i.instanceId, v.volumeId]),
  };
}

/** Parses a stored AWS XML example through the real SDK deserializer, by serving it once. */
async function parseWithSdk<T>(fixture: string, status: number, send: (client: EC2Client) => Promise<T>): Promise<T> {
  const body = await readFile(new URL(fixture, FIXTURES), 'utf8');
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': 'fixture' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new EC2Client({ region: 'eu-west-1', endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credentials, maxAttempts: 1 });
  try {
    return await send(client);
  } finally {
    client.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, messageIncludes?: string): Promise<Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    const e = err as Record<string, unknown> & { $metadata?: { httpStatusCode?: number; requestId?: string } };
    assert.equal(e['Code'] ?? e['name'], code, `expected ${code}, got ${String(e['Code'])}: ${String(e['message'])}`);
    assert.equal(e.$metadata?.httpStatusCode, 400);
    assert.match(e.$metadata?.requestId ?? '', /^[0-9a-f-]{36}$/);
    if (messageIncludes !== undefined) assert.ok(String(e['message']).includes(messageIncludes), String(e['message']));
    return e;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

describe('local EC2 endpoint', () => {
  let world: World;
  let endpoint: Ec2Endpoint;
  let ec2: EC2Client;
  let log: RuntimeLog;
  let ltId: string;

  beforeEach(async () => {
    log = { running: [], stopping: [], attached: [], detached: [] };
    world = new World({ clock: new ScaledClock(SPEED), timings: TIMINGS, runtime: recordingRuntime(log) });
    world.addSubnet({ subnetId: 'subnet-0a', availabilityZone: 'eu-west-1a', cidrBlock: '10.0.1.0/24' });
    world.addSubnet({ subnetId: 'subnet-0b', availabilityZone: 'eu-west-1b', cidrBlock: '10.0.2.0/24' });
    ltId = world.addLaunchTemplate({ launchTemplateName: 'vault-node', instanceTags: { 'vault-cluster': 'prod' } }).launchTemplateId;
    endpoint = new Ec2Endpoint(world);
    ec2 = new EC2Client({ region: 'eu-west-1', endpoint: await endpoint.start(), credentials, maxAttempts: 1 });
  });

  afterEach(async () => {
    ec2.destroy();
    await endpoint.stop();
    await world.dispose();
  });

  const launch = (tags: Record<string, string>, subnetId = 'subnet-0a'): Promise<SimInstance> =>
    world.launchInitialInstance({ subnetId, tags });

  describe('DescribeInstances', () => {
    test('answers with every field of the documented response example', async () => {
      world.addVolume({ volumeId: 'vol-0data', availabilityZone: 'eu-west-1a' });
      await world.launchInitialInstance({ subnetId: 'subnet-0a', tags: { 'vault-cluster': 'prod' }, volumes: [{ volumeId: 'vol-0data', device: '/dev/sdf' }] });
      const documented = await parseWithSdk('describe-instances.xml', 200, (c) => c.send(new DescribeInstancesCommand({})));
      const ours = await ec2.send(new DescribeInstancesCommand({}));
      assert.ok(keyPaths(documented).size > 40, 'the fixture parsed into a full instance description');
      const missing = [...keyPaths(documented)].filter((p) => !keyPaths(ours).has(p));
      assert.deepEqual(missing, []);
    });

    test('reports state code and name, placement, private address and the attached volumes', async () => {
      world.addVolume({ volumeId: 'vol-0data', availabilityZone: 'eu-west-1a' });
      const inst = await world.launchInitialInstance({ subnetId: 'subnet-0a', tags: { Name: 'a' }, volumes: [{ volumeId: 'vol-0data', device: '/dev/sdf' }] });
      const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst.instanceId] }));
      const i = out.Reservations?.[0]?.Instances?.[0];
      assert.deepEqual(i?.State, { Code: 16, Name: 'running' });
      assert.equal(i?.Placement?.AvailabilityZone, 'eu-west-1a');
      assert.equal(i?.SubnetId, 'subnet-0a');
      assert.match(i?.PrivateIpAddress ?? '', /^10\.0\.1\.\d+$/);
      assert.equal(i?.PrivateDnsName, `ip-${i?.PrivateIpAddress?.replaceAll('.', '-')}.eu-west-1.compute.internal`);
      const data = i?.BlockDeviceMappings?.find((b) => b.DeviceName === '/dev/sdf');
      assert.equal(data?.Ebs?.VolumeId, 'vol-0data');
      assert.equal(data?.Ebs?.Status, 'attached');
      assert.equal(data?.Ebs?.DeleteOnTermination, false);
      assert.equal(i?.NetworkInterfaces?.[0]?.PrivateIpAddress, i?.PrivateIpAddress);
    });

    const filterCases: Array<{ name: string; filter: { Name: string; Values: string[] }; expect: string[] }> = [
      { name: 'tag:<key> matches the tag value', filter: { Name: 'tag:vault-cluster', Values: ['prod'] }, expect: ['a', 'b'] },
      { name: 'tag:<key> supports * wildcards', filter: { Name: 'tag:vault-cluster', Values: ['st*'] }, expect: ['c'] },
      { name: 'tag-key matches instances carrying the key', filter: { Name: 'tag-key', Values: ['vault-slot'] }, expect: ['a'] },
      { name: 'availability-zone matches the placement', filter: { Name: 'availability-zone', Values: ['eu-west-1b'] }, expect: ['b'] },
      { name: 'instance-state-name matches the state', filter: { Name: 'instance-state-name', Values: ['running'] }, expect: ['a', 'b', 'c'] },
    ];
    for (const c of filterCases) {
      test(`filter ${c.name}`, async () => {
        await launch({ Name: 'a', 'vault-cluster': 'prod', 'vault-slot': 'vault-a' });
        await launch({ Name: 'b', 'vault-cluster': 'prod' }, 'subnet-0b');
        await launch({ Name: 'c', 'vault-cluster': 'staging' });
        const out = await ec2.send(new DescribeInstancesCommand({ Filters: [c.filter] }));
        const names = out.Reservations!.flatMap((r) => r.Instances!).map((i) => i.Tags!.find((t) => t.Key === 'Name')!.Value).sort();
        assert.deepEqual(names, c.expect);
      });
    }

    test('filter instance-id combined with a tag filter ANDs the two', async () => {
      const a = await launch({ 'vault-cluster': 'prod' });
      await launch({ 'vault-cluster': 'prod' });
      const out = await ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: [a.instanceId] }, { Name: 'tag:vault-cluster', Values: ['prod'] }] }),
      );
      assert.deepEqual(out.Reservations!.flatMap((r) => r.Instances!).map((i) => i.InstanceId), [a.instanceId]);
    });

    test('an unknown filter name is InvalidParameterValue', async () => {
      await rejectsWith(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'no-such-filter', Values: ['x'] }] })), 'InvalidParameterValue');
    });

    test('an unknown instance id is InvalidInstanceID.NotFound with HTTP 400 and a request id', async () => {
      const e = await rejectsWith(
        ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })),
        'InvalidInstanceID.NotFound',
        "'i-0123456789abcdef0'",
      );
      assert.equal(e['name'], 'InvalidInstanceID.NotFound');
    });

    test('our error body parses like the documented EC2 error response', async () => {
      const documented = await parseWithSdk('ec2-error.xml', 400, (c) => c.send(new DescribeInstancesCommand({}))).catch((e: unknown) => e);
      const ours = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })).catch((e: unknown) => e);
      for (const field of ['name', 'Code', '$fault']) {
        assert.equal(typeof (ours as Record<string, unknown>)[field], typeof (documented as Record<string, unknown>)[field], field);
      }
      assert.equal((ours as Record<string, unknown>)['Code'], (documented as Record<string, unknown>)['Code']);
    });

    test('MaxResults pages through every instance exactly once using NextToken', async () => {
      const ids: string[] = [];
      for (let n = 0; n < 7; n++) ids.push((await launch({ n: String(n) })).instanceId);
      const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
      const page1 = first.Reservations!.flatMap((r) => r.Instances!).map((i) => i.InstanceId!);
      assert.equal(page1.length, 5);
      assert.ok(first.NextToken);
      const second = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: first.NextToken }));
      const page2 = second.Reservations!.flatMap((r) => r.Instances!).map((i) => i.InstanceId!);
      assert.equal(second.NextToken, undefined);
      assert.deepEqual([...page1, ...page2].sort(), [...ids].sort());
    });

    test('MaxResults below 5 is InvalidParameterValue', async () => {
      await rejectsWith(ec2.send(new DescribeInstancesCommand({ MaxResults: 3 })), 'InvalidParameterValue');
    });

    test('MaxResults together with InstanceIds is InvalidParameterCombination', async () => {
      const a = await launch({});
      await rejectsWith(ec2.send(new DescribeInstancesCommand({ MaxResults: 5, InstanceIds: [a.instanceId] })), 'InvalidParameterCombination');
    });

    test('a NextToken replayed with different filters is rejected', async () => {
      for (let n = 0; n < 6; n++) await launch({ 'vault-cluster': 'prod' });
      const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
      await rejectsWith(
        ec2.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: first.NextToken, Filters: [{ Name: 'tag-key', Values: ['x'] }] })),
        'InvalidParameterValue',
      );
    });
  });

  describe('instance lifecycle', () => {
    const stateOf = async (id: string): Promise<Instance | undefined> =>
      (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];

    test('RunInstances starts pending, turns running after the pending delay and calls the runtime', async () => {
      const run = await ec2.send(
        new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: ltId, Version: '$Latest' }, SubnetId: 'subnet-0b' }),
      );
      const inst = run.Instances![0]!;
      assert.deepEqual(inst.State, { Code: 0, Name: 'pending' });
      assert.equal(inst.Placement?.AvailabilityZone, 'eu-west-1b');
      assert.ok(inst.Tags?.some((t) => t.Key === 'vault-cluster' && t.Value === 'prod'), 'launch template tags applied');
      const running = await pollUntil(() => stateOf(inst.InstanceId!), (i) => i?.State?.Name === 'running', 'running');
      assert.equal(running?.State?.Code, 16);
      await pollUntil(async () => log.running, (r) => r.includes(inst.InstanceId!), 'onRunning');
    });

    test('StopInstances goes stopping then stopped and calls onStopping; StartInstances brings it back with the same IP', async () => {
      const inst = await launch({});
      const stop = await ec2.send(new StopInstancesCommand({ InstanceIds: [inst.instanceId] }));
      assert.deepEqual(stop.StoppingInstances?.[0]?.PreviousState, { Code: 16, Name: 'running' });
      assert.deepEqual(stop.StoppingInstances?.[0]?.CurrentState, { Code: 64, Name: 'stopping' });
      assert.deepEqual(log.stopping, [inst.instanceId]);
      await pollUntil(() => stateOf(inst.instanceId), (i) => i?.State?.Name === 'stopped', 'stopped');
      const start = await ec2.send(new StartInstancesCommand({ InstanceIds: [inst.instanceId] }));
      assert.equal(start.StartingInstances?.[0]?.CurrentState?.Name, 'pending');
      const back = await pollUntil(() => stateOf(inst.instanceId), (i) => i?.State?.Name === 'running', 'running again');
      assert.equal(back?.PrivateIpAddress, inst.privateIpAddress);
    });

    test('stopping an instance that is shutting down is IncorrectInstanceState', async () => {
      const inst = await launch({});
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [inst.instanceId] }));
      await rejectsWith(ec2.send(new StopInstancesCommand({ InstanceIds: [inst.instanceId] })), 'IncorrectInstanceState');
    });

    test('TerminateInstances goes shutting-down then terminated, stays visible, then disappears', async () => {
      const inst = await launch({});
      const term = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [inst.instanceId] }));
      assert.deepEqual(term.TerminatingInstances?.[0]?.CurrentState, { Code: 32, Name: 'shutting-down' });
      const gone = await pollUntil(() => stateOf(inst.instanceId), (i) => i?.State?.Name === 'terminated', 'terminated');
      assert.equal(gone?.State?.Code, 48);
      await pollUntil(
        () => ec2.send(new DescribeInstancesCommand({ InstanceIds: [inst.instanceId] })).then(() => 'visible', (e: { name?: string }) => e.name),
        (v) => v === 'InvalidInstanceID.NotFound',
        'terminated instance to vanish',
      );
    });
  });

  describe('RunInstances with a reused network interface', () => {
    test('the instance takes the interface and its private IP', async () => {
      const eni = world.addNetworkInterface({ networkInterfaceId: 'eni-0slot', subnetId: 'subnet-0b' });
      const run = await ec2.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          LaunchTemplate: { LaunchTemplateId: ltId },
          Placement: { AvailabilityZone: 'eu-west-1b' },
          NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: eni.networkInterfaceId }],
        }),
      );
      const inst = run.Instances![0]!;
      assert.equal(inst.PrivateIpAddress, eni.privateIpAddress);
      assert.equal(inst.NetworkInterfaces?.[0]?.NetworkInterfaceId, 'eni-0slot');
      const d = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-0slot'] }));
      assert.equal(d.NetworkInterfaces?.[0]?.Status, 'in-use');
      assert.equal(d.NetworkInterfaces?.[0]?.Attachment?.InstanceId, inst.InstanceId);
    });

    test('an interface that is in use is InvalidNetworkInterface.InUse', async () => {
      world.addNetworkInterface({ networkInterfaceId: 'eni-0slot', subnetId: 'subnet-0a' });
      await world.launchInitialInstance({ subnetId: 'subnet-0a', networkInterfaceId: 'eni-0slot' });
      await rejectsWith(
        ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: ltId }, NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0slot' }] })),
        'InvalidNetworkInterface.InUse',
      );
    });

    test('an interface in another AZ than the requested placement is refused', async () => {
      world.addNetworkInterface({ networkInterfaceId: 'eni-0slot', subnetId: 'subnet-0a' });
      await rejectsWith(
        ec2.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            LaunchTemplate: { LaunchTemplateId: ltId },
            Placement: { AvailabilityZone: 'eu-west-1b' },
            NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0slot' }],
          }),
        ),
        'InvalidNetworkInterface.InUse',
      );
    });

    test('SubnetId together with NetworkInterfaces is InvalidParameterCombination', async () => {
      world.addNetworkInterface({ networkInterfaceId: 'eni-0slot', subnetId: 'subnet-0a' });
      await rejectsWith(
        ec2.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            LaunchTemplate: { LaunchTemplateId: ltId },
            SubnetId: 'subnet-0a',
            NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0slot' }],
          }),
        ),
        'InvalidParameterCombination',
      );
    });

    test('after termination the interface is available again and a new instance gets the same IP', async () => {
      const eni = world.addNetworkInterface({ networkInterfaceId: 'eni-0slot', subnetId: 'subnet-0a' });
      const old = await world.launchInitialInstance({ subnetId: 'subnet-0a', networkInterfaceId: 'eni-0slot' });
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [old.instanceId] }));
      await pollUntil(
        async () => (await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-0slot'] }))).NetworkInterfaces?.[0]?.Status,
        (s) => s === 'available',
        'ENI available',
      );
      const run = await ec2.send(
        new RunInstancesCommand({ MinCount: 1, MaxCount: 1, LaunchTemplate: { LaunchTemplateId: ltId }, NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0slot' }] }),
      );
      assert.equal(run.Instances?.[0]?.PrivateIpAddress, eni.privateIpAddress);
      assert.notEqual(run.Instances?.[0]?.InstanceId, old.instanceId);
    });
  });

  describe('RunInstances ClientToken idempotency', () => {
    const params = { MinCount: 1, MaxCount: 1, SubnetId: 'subnet-0a', ClientToken: 'replace-vault-a-1' };

    test('the same token with the same parameters returns the same instance', async () => {
      const a = await ec2.send(new RunInstancesCommand({ ...params, LaunchTemplate: { LaunchTemplateId: ltId } }));
      const b = await ec2.send(new RunInstancesCommand({ ...params, LaunchTemplate: { LaunchTemplateId: ltId } }));
      assert.equal(b.Instances?.[0]?.InstanceId, a.Instances?.[0]?.InstanceId);
      assert.equal(world.instances().length, 1);
    });

    test('the same token with different parameters is IdempotentParameterMismatch', async () => {
      await ec2.send(new RunInstancesCommand({ ...params, LaunchTemplate: { LaunchTemplateId: ltId } }));
      await rejectsWith(
        ec2.send(new RunInstancesCommand({ ...params, SubnetId: 'subnet-0b', LaunchTemplate: { LaunchTemplateId: ltId } })),
        'IdempotentParameterMismatch',
      );
      assert.equal(world.instances().length, 1);
    });

    test('an unknown launch template is InvalidLaunchTemplateId.NotFound', async () => {
      await rejectsWith(
        ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, SubnetId: 'subnet-0a', LaunchTemplate: { LaunchTemplateId: 'lt-0000000000000000' } })),
        'InvalidLaunchTemplateId.NotFound',
      );
    });
  });

  describe('EBS volumes', () => {
    const volumeOf = async (id: string) => (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes?.[0];

    test('AttachVolume to an instance in another AZ is InvalidVolume.ZoneMismatch', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      const b = await launch({}, 'subnet-0b');
      await rejectsWith(ec2.send(new AttachVolumeCommand({ VolumeId: 'vol-0a', InstanceId: b.instanceId, Device: '/dev/sdf' })), 'InvalidVolume.ZoneMismatch');
      assert.equal((await volumeOf('vol-0a'))?.State, 'available');
    });

    test('AttachVolume of a volume attached elsewhere is VolumeInUse', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      await world.launchInitialInstance({ subnetId: 'subnet-0a', volumes: [{ volumeId: 'vol-0a', device: '/dev/sdf' }] });
      const other = await launch({});
      await rejectsWith(ec2.send(new AttachVolumeCommand({ VolumeId: 'vol-0a', InstanceId: other.instanceId, Device: '/dev/sdf' })), 'VolumeInUse');
    });

    test('AttachVolume to a pending instance is IncorrectState', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      const run = await ec2.send(new RunInstancesCommand({ MinCount: 1, MaxCount: 1, SubnetId: 'subnet-0a', LaunchTemplate: { LaunchTemplateId: ltId } }));
      await rejectsWith(
        ec2.send(new AttachVolumeCommand({ VolumeId: 'vol-0a', InstanceId: run.Instances![0]!.InstanceId!, Device: '/dev/sdf' })),
        'IncorrectState',
      );
    });

    test('AttachVolume on a device already in use is InvalidParameterValue', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      world.addVolume({ volumeId: 'vol-0b', availabilityZone: 'eu-west-1a' });
      const inst = await world.launchInitialInstance({ subnetId: 'subnet-0a', volumes: [{ volumeId: 'vol-0a', device: '/dev/sdf' }] });
      await rejectsWith(
        ec2.send(new AttachVolumeCommand({ VolumeId: 'vol-0b', InstanceId: inst.instanceId, Device: '/dev/sdf' })),
        'InvalidParameterValue',
        'already in use',
      );
    });

    test('AttachVolume goes attaching then attached, and the runtime hears of it', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      const inst = await launch({});
      const att = await ec2.send(new AttachVolumeCommand({ VolumeId: 'vol-0a', InstanceId: inst.instanceId, Device: '/dev/sdf' }));
      assert.equal(att.State, 'attaching');
      assert.equal(att.Device, '/dev/sdf');
      const v = await pollUntil(() => volumeOf('vol-0a'), (x) => x?.Attachments?.[0]?.State === 'attached', 'attached');
      assert.equal(v?.State, 'in-use');
      assert.deepEqual(log.attached.at(-1), [inst.instanceId, 'vol-0a', '/dev/sdf']);
      const byInstance = await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [inst.instanceId] }] }));
      assert.ok(byInstance.Volumes?.some((x) => x.VolumeId === 'vol-0a'));
    });

    test('DetachVolume goes detaching then available; detaching an available volume is IncorrectState', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      const inst = await world.launchInitialInstance({ subnetId: 'subnet-0a', volumes: [{ volumeId: 'vol-0a', device: '/dev/sdf' }] });
      const det = await ec2.send(new DetachVolumeCommand({ VolumeId: 'vol-0a', InstanceId: inst.instanceId }));
      assert.equal(det.State, 'detaching');
      await pollUntil(() => volumeOf('vol-0a'), (x) => x?.State === 'available' && (x.Attachments ?? []).length === 0, 'available');
      assert.deepEqual(log.detached, [[inst.instanceId, 'vol-0a']]);
      await rejectsWith(ec2.send(new DetachVolumeCommand({ VolumeId: 'vol-0a' })), 'IncorrectState');
    });

    test('a non-forced detach of a volume the OS still uses stays detaching; Force completes it', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      world.setRuntime({ ...recordingRuntime(log), isVolumeBusy: () => true });
      await world.launchInitialInstance({ subnetId: 'subnet-0a', volumes: [{ volumeId: 'vol-0a', device: '/dev/sdf' }] });
      await ec2.send(new DetachVolumeCommand({ VolumeId: 'vol-0a' }));
      await new Promise((r) => setTimeout(r, world.clock.toRealMs(TIMINGS.volumeDetachMs * 3)));
      assert.equal((await volumeOf('vol-0a'))?.Attachments?.[0]?.State, 'detaching');
      await ec2.send(new DetachVolumeCommand({ VolumeId: 'vol-0a', Force: true }));
      await pollUntil(() => volumeOf('vol-0a'), (x) => x?.State === 'available', 'forced detach');
    });

    test('an unknown volume is InvalidVolume.NotFound', async () => {
      await rejectsWith(ec2.send(new DescribeVolumesCommand({ VolumeIds: ['vol-0nope'] })), 'InvalidVolume.NotFound');
    });

    test('terminating an instance frees its data volume and deletes its root volume', async () => {
      world.addVolume({ volumeId: 'vol-0a', availabilityZone: 'eu-west-1a' });
      const inst = await world.launchInitialInstance({ subnetId: 'subnet-0a', volumes: [{ volumeId: 'vol-0a', device: '/dev/sdf' }] });
      const root = world.attachedVolumes(inst.instanceId).find((v) => v.attachment?.device === '/dev/xvda')!.volumeId;
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [inst.instanceId] }));
      await pollUntil(() => volumeOf('vol-0a'), (x) => x?.State === 'available', 'data volume available');
      await rejectsWith(ec2.send(new DescribeVolumesCommand({ VolumeIds: [root] })), 'InvalidVolume.NotFound');
    });
  });

  describe('DescribeInstanceStatus', () => {
    test('lists only running instances unless IncludeAllInstances is set', async () => {
      const a = await launch({});
      const b = await launch({});
      await ec2.send(new StopInstancesCommand({ InstanceIds: [b.instanceId] }));
      const running = await ec2.send(new DescribeInstanceStatusCommand({}));
      assert.deepEqual(running.InstanceStatuses?.map((s) => s.InstanceId), [a.instanceId]);
      const all = await ec2.send(new DescribeInstanceStatusCommand({ IncludeAllInstances: true }));
      const bStatus = all.InstanceStatuses?.find((s) => s.InstanceId === b.instanceId);
      assert.equal(bStatus?.InstanceState?.Name, 'stopping');
      assert.equal(bStatus?.InstanceStatus?.Status, 'not-applicable');
    });

    test('the fault switch marks the system status check impaired', async () => {
      const a = await launch({});
      world.setStatusCheck(a.instanceId, { system: 'impaired' });
      const out = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [a.instanceId] }));
      const s = out.InstanceStatuses?.[0];
      assert.equal(s?.SystemStatus?.Status, 'impaired');
      assert.equal(s?.SystemStatus?.Details?.[0]?.Status, 'failed');
      assert.ok(s?.SystemStatus?.Details?.[0]?.ImpairedSince instanceof Date);
      assert.equal(s?.InstanceStatus?.Status, 'ok');
    });
  });

  describe('tags, subnets and launch templates', () => {
    test('CreateTags and the runtime tag hook are visible in DescribeInstances', async () => {
      const a = await launch({});
      await ec2.send(new CreateTagsCommand({ Resources: [a.instanceId], Tags: [{ Key: 'vault-slot', Value: 'vault-a' }] }));
      world.setInstanceTag(a.instanceId, 'vault-url', 'http://127.0.0.1:18201');
      const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:vault-slot', Values: ['vault-a'] }] }));
      const tags = out.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
      assert.ok(tags.some((t) => t.Key === 'vault-url' && t.Value === 'http://127.0.0.1:18201'));
    });

    test('CreateTags refuses keys with the reserved aws: prefix', async () => {
      const a = await launch({});
      await rejectsWith(ec2.send(new CreateTagsCommand({ Resources: [a.instanceId], Tags: [{ Key: 'aws:x', Value: 'y' }] })), 'InvalidParameterValue');
    });

    test('DescribeSubnets filters by availability zone', async () => {
      const out = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'availability-zone', Values: ['eu-west-1b'] }] }));
      assert.deepEqual(out.Subnets?.map((s) => [s.SubnetId, s.AvailabilityZone, s.CidrBlock]), [['subnet-0b', 'eu-west-1b', '10.0.2.0/24']]);
    });

    test('DescribeLaunchTemplates finds a registered template and rejects an unknown one', async () => {
      const out = await ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [ltId] }));
      assert.equal(out.LaunchTemplates?.[0]?.LaunchTemplateName, 'vault-node');
      assert.equal(out.LaunchTemplates?.[0]?.LatestVersionNumber, 1);
      await rejectsWith(ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ['lt-0000000000000000'] })), 'InvalidLaunchTemplateId.NotFound');
    });

    test('an injected fault fails the next call of that action only', async () => {
      world.injectFault({ service: 'ec2', action: 'DescribeInstances', code: 'RequestLimitExceeded', message: 'Request limit exceeded.' });
      const client = new EC2Client({ region: 'eu-west-1', endpoint: endpoint.url, credentials, maxAttempts: 1 });
      try {
        await assert.rejects(client.send(new DescribeInstancesCommand({})), { name: 'RequestLimitExceeded' });
        await client.send(new DescribeInstancesCommand({}));
      } finally {
        client.destroy();
      }
    });
  });
});

describe('SDK endpoint configuration', () => {
  let world: World;
  let endpoint: Ec2Endpoint;
  let saved: string | undefined;

  beforeAll(async () => {
    world = new World({ clock: new ScaledClock(SPEED), timings: TIMINGS });
    world.addSubnet({ subnetId: 'subnet-0a', availabilityZone: 'eu-west-1a' });
    endpoint = new Ec2Endpoint(world);
    saved = process.env['AWS_ENDPOINT_URL_EC2'];
    process.env['AWS_ENDPOINT_URL_EC2'] = await endpoint.start();
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env['AWS_ENDPOINT_URL_EC2'];
    else process.env['AWS_ENDPOINT_URL_EC2'] = saved;
    await endpoint.stop();
    await world.dispose();
  });

  test('a client with no endpoint in its config reaches the server through AWS_ENDPOINT_URL_EC2', async () => {
    const inst = await world.launchInitialInstance({ subnetId: 'subnet-0a', tags: { via: 'env' } });
    const client = new EC2Client({ region: 'eu-west-1', credentials, maxAttempts: 1 });
    try {
      const out = await client.send(new DescribeInstancesCommand({ InstanceIds: [inst.instanceId] }));
      assert.equal(out.Reservations?.[0]?.Instances?.[0]?.InstanceId, inst.instanceId);
    } finally {
      client.destroy();
    }
  });
});
