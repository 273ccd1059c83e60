/**
 * EC2 calls of the replace-node workflow. Thin: each function is one or two
 * SDK calls mapped to the core's views (`InstanceView`, `VolumeView`,
 * `InterfaceView`). "Not found" is a value (undefined), throttling and 5xx
 * become AwsTransientError (the ASL retries it), everything else propagates.
 */
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVolumesCommand,
  DetachNetworkInterfaceCommand,
  DetachVolumeCommand,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance,
  type NetworkInterface,
  type Volume,
} from '@aws-sdk/client-ec2';
import type { InstanceState } from '../core/types.js';
import type { InstanceView, InterfaceView, VolumeView } from '../core/replacement.js';
import { AwsTransientError, awsErrorCode, toAdapterError } from './errors.js';

/**
 * AWS error code of a failure: the original code kept on an adapter error, or
 * the SDK exception's own code.
 */
export function errorCode(e: unknown): string {
  if (typeof e === 'object' && e !== null && typeof (e as { resource?: unknown }).resource === 'string') {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return awsErrorCode(e);
}

/** Throttling, 5xx and dropped connections (the ASL retries AwsTransientError with backoff). */
export function isTransientAwsError(e: unknown): boolean {
  return e instanceof AwsTransientError || toAdapterError(e, '') instanceof AwsTransientError;
}

/** Runs one AWS call; failures become the named adapter errors, keeping the AWS code and the cause. */
export async function awsCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw toAdapterError(e, operation);
  }
}

/** Tag left on a replacement that failed half-way with `onFailure: keep-tagged`. */
export const FAILED_REPLACEMENT_TAG = 'vault-ha:failed-replacement';
/** Tag naming the execution that launched an instance (for audits and for compensation lookups). */
export const REPLACED_BY_TAG = 'vault-ha:replace-execution';

const NOT_FOUND_CODES = new Set([
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

/**
 * Detaches the data volume from one named instance. `force` skips the
 * instance's cooperation (no flush, no unmount) and is used only after the
 * detach timeout. Detaching an already detaching/detached volume is done.
 */
export async function detachVolume(ec2: EC2Client, volumeId: string, instanceId: string, force: boolean): Promise<void> {
  try {
    await awsCall(`DetachVolume ${volumeId}`, () => ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Force: force })));
  } catch (e) {
    const code = errorCode(e);
    if (code === 'IncorrectState' || code === 'InvalidAttachment.NotFound' || NOT_FOUND_CODES.has(code)) return;
    throw e;
  }
}

export async function detachInterface(ec2: EC2Client, attachmentId: string): Promise<void> {
  try {
    await awsCall(`DetachNetworkInterface ${attachmentId}`, () => ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId })));
  } catch (e) {
    if (errorCode(e) === 'InvalidAttachmentID.NotFound') return;
    throw e;
  }
}

export interface LaunchSpec {
  launchTemplateId: string;
  launchTemplateVersion: string;
  availabilityZone: string;
  subnetId: string;
  /** The slot's interface, reused as the primary (device index 0) so the node keeps its address. */
  networkInterfaceId?: string;
  clientToken: string;
  tags: Record<string, string>;
}

/**
 * RunInstances from the launch template in the slot's placement. Idempotent
 * through the ClientToken: a repeated call returns the instance of the first.
 * With a reused interface, the subnet comes from the interface (EC2 rejects a
 * top-level SubnetId next to NetworkInterfaces).
 */
export async function launchReplacement(ec2: EC2Client, spec: LaunchSpec): Promise<{ instanceId: string; state: InstanceState }> {
  const tags = Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value }));
  const res = await awsCall(`RunInstances ${spec.clientToken}`, () =>
    ec2.send(
      new RunInstancesCommand({
        LaunchTemplate: { LaunchTemplateId: spec.launchTemplateId, Version: spec.launchTemplateVersion },
        MinCount: 1,
        MaxCount: 1,
        ClientToken: spec.clientToken,
        Placement: { AvailabilityZone: spec.availabilityZone },
        ...(spec.networkInterfaceId
          ? { NetworkInterfaces: [{ DeviceIndex: 0, NetworkInterfaceId: spec.networkInterfaceId }] }
          : { SubnetId: spec.subnetId }),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          // A launch into the subnet creates the primary interface: requesting the cluster's tags
          // for it is what IAM authorizes the new interface by (aws:RequestTag; a resource being
          // created has no aws:ResourceTag). EC2 rejects interface tags when no interface is created.
          ...(spec.networkInterfaceId ? [] : [{ ResourceType: 'network-interface' as const, Tags: tags }]),
        ],
      }),
    ),
  );
  const i = res.Instances?.[0];
  if (!i?.InstanceId) throw new Error(`RunInstances returned no instance for client token ${spec.clientToken}`);
  return { instanceId: i.InstanceId, state: (i.State?.Name ?? 'pending') as InstanceState };
}

export async function attachVolume(ec2: EC2Client, volumeId: string, instanceId: string, device: string): Promise<void> {
  await awsCall(`AttachVolume ${volumeId}`, () => ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })));
}

export async function tagInstance(ec2: EC2Client, instanceId: string, tags: Record<string, string>): Promise<void> {
  await awsCall(`CreateTags ${instanceId}`, () =>
    ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) })),
  );
}
