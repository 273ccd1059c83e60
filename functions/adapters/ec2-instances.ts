/**
 * EC2 calls the workflows make on existing instances, volumes and interfaces:
 * the reads, stop and terminate, and keeping a slot's volume and interface on
 * termination. failover-drill needs only these; replace-node adds the launch,
 * attach, detach and tagging calls of ec2-replacement.ts. Thin: each function
 * is one or two SDK calls mapped to the core's views; "not found" is a value
 * (undefined).
 */
import {
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVolumesCommand,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
  type NetworkInterface,
  type Volume,
} from '@aws-sdk/client-ec2';
import type { InstanceState } from '../core/types.js';
import type { InstanceView, InterfaceView, VolumeView } from '../core/replacement.js';
import { awsCall, errorCode } from './aws-call.js';

/** EC2 codes meaning the resource does not exist (any more). */
export const NOT_FOUND_CODES = new Set([
  'InvalidInstanceID.NotFound',
  'InvalidInstanceID.Malformed',
  'InvalidVolume.NotFound',
  'InvalidNetworkInterfaceID.NotFound',
]);

function instanceView(i: Instance): InstanceView {
  const tags: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  return {
    instanceId: i.InstanceId ?? '',
    state: (i.State?.Name ?? 'pending') as InstanceState,
    ...(i.Placement?.AvailabilityZone ? { availabilityZone: i.Placement.AvailabilityZone } : {}),
    ...(i.SubnetId ? { subnetId: i.SubnetId } : {}),
    ...(i.PrivateIpAddress ? { privateIp: i.PrivateIpAddress } : {}),
    tags,
    blockDevices: (i.BlockDeviceMappings ?? [])
      .filter((b) => b.Ebs?.VolumeId !== undefined)
      .map((b) => ({ device: b.DeviceName ?? '', volumeId: b.Ebs?.VolumeId ?? '', deleteOnTermination: b.Ebs?.DeleteOnTermination === true })),
    interfaces: (i.NetworkInterfaces ?? []).map((n) => ({
      networkInterfaceId: n.NetworkInterfaceId ?? '',
      deviceIndex: n.Attachment?.DeviceIndex ?? 0,
      deleteOnTermination: n.Attachment?.DeleteOnTermination === true,
    })),
  };
}

function volumeView(v: Volume): VolumeView {
  return {
    volumeId: v.VolumeId ?? '',
    state: v.State ?? 'unknown',
    availabilityZone: v.AvailabilityZone ?? '',
    attachments: (v.Attachments ?? [])
      // A `detached` attachment record is history, not a holder.
      .filter((a) => a.State !== 'detached')
      .map((a) => ({
        instanceId: a.InstanceId ?? '',
        state: a.State ?? 'unknown',
        ...(a.Device ? { device: a.Device } : {}),
        ...(a.DeleteOnTermination !== undefined ? { deleteOnTermination: a.DeleteOnTermination } : {}),
      })),
  };
}

function interfaceView(n: NetworkInterface): InterfaceView {
  const a = n.Attachment;
  return {
    networkInterfaceId: n.NetworkInterfaceId ?? '',
    status: n.Status ?? 'unknown',
    ...(n.AvailabilityZone ? { availabilityZone: n.AvailabilityZone } : {}),
    ...(n.SubnetId ? { subnetId: n.SubnetId } : {}),
    ...(a && a.Status !== 'detached'
      ? {
          attachment: {
            ...(a.InstanceId ? { instanceId: a.InstanceId } : {}),
            ...(a.AttachmentId ? { attachmentId: a.AttachmentId } : {}),
            ...(a.DeviceIndex !== undefined ? { deviceIndex: a.DeviceIndex } : {}),
            ...(a.Status ? { status: a.Status } : {}),
            ...(a.DeleteOnTermination !== undefined ? { deleteOnTermination: a.DeleteOnTermination } : {}),
          },
        }
      : {}),
  };
}

async function describeInstancesWhere(ec2: EC2Client, input: ConstructorParameters<typeof DescribeInstancesCommand>[0], op: string): Promise<InstanceView[]> {
  const out: InstanceView[] = [];
  let token: string | undefined;
  // Bounded: a slot or a client token matches a handful of instances at most.
  for (let page = 0; page < 20; page += 1) {
    const res = await awsCall(op, () => ec2.send(new DescribeInstancesCommand({ ...input, ...(token ? { NextToken: token } : {}) })));
    for (const r of res.Reservations ?? []) for (const i of r.Instances ?? []) out.push(instanceView(i));
    token = res.NextToken;
    if (!token) break;
  }
  return out;
}

export async function describeInstance(ec2: EC2Client, instanceId: string): Promise<InstanceView | undefined> {
  try {
    const found = await describeInstancesWhere(ec2, { InstanceIds: [instanceId] }, `DescribeInstances ${instanceId}`);
    return found[0];
  } catch (e) {
    if (NOT_FOUND_CODES.has(errorCode(e))) return undefined;
    throw e;
  }
}

/** Instances (not terminated) carrying the cluster tag and the slot tag. */
export async function describeSlotInstances(
  ec2: EC2Client,
  discovery: { tagKey: string; tagValue: string; slotTagKey: string },
  slot: string,
): Promise<InstanceView[]> {
  return describeInstancesWhere(
    ec2,
    {
      Filters: [
        { Name: `tag:${discovery.tagKey}`, Values: [discovery.tagValue] },
        { Name: `tag:${discovery.slotTagKey}`, Values: [slot] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
    },
    `DescribeInstances slot ${slot}`,
  );
}

/** Instances a RunInstances with this client token created (so a lost response never loses the instance). */
export async function findInstancesByClientToken(ec2: EC2Client, clientToken: string): Promise<InstanceView[]> {
  return describeInstancesWhere(ec2, { Filters: [{ Name: 'client-token', Values: [clientToken] }] }, `DescribeInstances client-token`);
}

export async function describeVolume(ec2: EC2Client, volumeId: string): Promise<VolumeView | undefined> {
  try {
    const res = await awsCall(`DescribeVolumes ${volumeId}`, () => ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })));
    const v = res.Volumes?.[0];
    return v ? volumeView(v) : undefined;
  } catch (e) {
    if (NOT_FOUND_CODES.has(errorCode(e))) return undefined;
    throw e;
  }
}

export async function describeInterface(ec2: EC2Client, networkInterfaceId: string): Promise<InterfaceView | undefined> {
  try {
    const res = await awsCall(`DescribeNetworkInterfaces ${networkInterfaceId}`, () =>
      ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [networkInterfaceId] })),
    );
    const n = res.NetworkInterfaces?.[0];
    return n ? interfaceView(n) : undefined;
  } catch (e) {
    if (NOT_FOUND_CODES.has(errorCode(e))) return undefined;
    throw e;
  }
}

/** Sets DeleteOnTermination=false on the data volume's mapping so terminating the instance cannot delete it. */
export async function keepVolumeOnTermination(ec2: EC2Client, instanceId: string, device: string): Promise<void> {
  await awsCall(`ModifyInstanceAttribute ${instanceId}`, () =>
    ec2.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: instanceId,
        BlockDeviceMappings: [{ DeviceName: device, Ebs: { DeleteOnTermination: false } }],
      }),
    ),
  );
}

/** Sets DeleteOnTermination=false on the slot interface's attachment so terminating the instance frees it instead of deleting it. */
export async function keepInterfaceOnTermination(ec2: EC2Client, networkInterfaceId: string, attachmentId: string): Promise<void> {
  await awsCall(`ModifyNetworkInterfaceAttribute ${networkInterfaceId}`, () =>
    ec2.send(
      new ModifyNetworkInterfaceAttributeCommand({
        NetworkInterfaceId: networkInterfaceId,
        Attachment: { AttachmentId: attachmentId, DeleteOnTermination: false },
      }),
    ),
  );
}

/** Stopping a stopped instance is a no-op on EC2: safe to repeat. */
export async function stopInstance(ec2: EC2Client, instanceId: string): Promise<void> {
  await awsCall(`StopInstances ${instanceId}`, () => ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] })));
}

/** Terminating a terminated instance is a no-op on EC2: safe to repeat. */
export async function terminateInstance(ec2: EC2Client, instanceId: string): Promise<void> {
  try {
    await awsCall(`TerminateInstances ${instanceId}`, () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
  } catch (e) {
    if (NOT_FOUND_CODES.has(errorCode(e))) return; // gone already: done
    throw e;
  }
}
