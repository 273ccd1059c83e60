/**
 * EC2 calls of the replace-node workflow (launch, attach, detach, tag). Thin: each function is one or two
 * SDK calls mapped to the core's views (`InstanceView`, `VolumeView`,
 * `InterfaceView`). "Not found" is a value (undefined), throttling and 5xx
 * become AwsTransientError (the ASL retries it), everything else propagates.
 */
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  DetachNetworkInterfaceCommand,
  DetachVolumeCommand,
  RunInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import type { InstanceState } from '../core/types.js';
import { awsCall, errorCode } from './aws-call.js';
import { NOT_FOUND_CODES } from './ec2-instances.js';

// The reads, stop/terminate and keep-on-termination calls live in ec2-instances.ts (failover-drill
// bundles only those), the error mapping in aws-call.ts; re-exported for replace-node's callers.
export { awsCall, errorCode, isTransientAwsError } from './aws-call.js';
export {
  describeInstance,
  describeInterface,
  describeSlotInstances,
  describeVolume,
  findInstancesByClientToken,
  keepInterfaceOnTermination,
  keepVolumeOnTermination,
  stopInstance,
  terminateInstance,
} from './ec2-instances.js';

/** Tag left on a replacement that failed half-way with `onFailure: keep-tagged`. */
export const FAILED_REPLACEMENT_TAG = 'vault-ha:failed-replacement';
/** Tag naming the execution that launched an instance (for audits and for compensation lookups). */
export const REPLACED_BY_TAG = 'vault-ha:replace-execution';

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
