/**
 * Shared fixtures for replace-node tests: a config in the documented shape
 * (DESIGN §4.1), and EC2 views in the shapes DescribeInstances /
 * DescribeVolumes / DescribeNetworkInterfaces return.
 */
import { parseConfig } from '../../../functions/config/load.js';
import type { Config } from '../../../functions/config/schema.js';
import type { InstanceView, InterfaceView, SlotInspection, VolumeView } from '../../../functions/core/replacement.js';
import type { InstanceState, NodeHealth } from '../../../functions/core/types.js';

export const TG_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';
export const TOPIC_ARN = 'arn:aws:sns:eu-west-1:111122223333:vault-ha';

export interface ConfigOptions {
  oldInstance?: 'stop' | 'terminate';
  onFailure?: 'terminate' | 'keep-tagged';
  unseal?: { mode: 'shamir'; sharesParameterPrefix: string } | { mode: 'auto' };
  haLock?: { type: 'dynamodb'; table: string } | { type: 'raft' };
  dryRunPolicy?: boolean;
  topic?: boolean;
  vaultAddress?: 'privateIp' | { tag: string };
  volumeDetachTimeoutSeconds?: number;
  standbyTimeoutSeconds?: number;
}

export function configDoc(o: ConfigOptions = {}): Record<string, unknown> {
  return {
    controlTable: 'vault-ha-control',
    ...(o.topic ? { notifications: { topicArn: TOPIC_ARN } } : {}),
    clusters: [
      {
        name: 'prod',
        discovery: { tagKey: 'vault-cluster', tagValue: 'prod', slotTagKey: 'vault-slot' },
        vault: { scheme: 'http', port: 8200, address: o.vaultAddress ?? 'privateIp', probeTimeoutMs: 500 },
        loadBalancer: { targetGroupArn: TG_ARN, routing: 'active-only' },
        haLock: o.haLock ?? { type: 'raft' },
        unseal: o.unseal ?? { mode: 'shamir', sharesParameterPrefix: '/vault/prod/unseal/' },
        replacement: {
          launchTemplate: { id: 'lt-0123456789abcdef0', version: '$Latest' },
          slots: [
            { name: 'vault-a', availabilityZone: 'eu-west-1a', subnetId: 'subnet-0a', networkInterfaceId: 'eni-0a', dataVolume: { volumeId: 'vol-0a', device: '/dev/sdf' } },
            { name: 'vault-b', availabilityZone: 'eu-west-1b', subnetId: 'subnet-0b', networkInterfaceId: 'eni-0b', dataVolume: { volumeId: 'vol-0b', device: '/dev/sdf' } },
            { name: 'vault-c', availabilityZone: 'eu-west-1c', subnetId: 'subnet-0c', dataVolume: { volumeId: 'vol-0c', device: '/dev/sdg' } },
          ],
          oldInstance: o.oldInstance ?? 'terminate',
          onFailure: o.onFailure ?? 'terminate',
          volumeDetachTimeoutSeconds: o.volumeDetachTimeoutSeconds ?? 30,
          standbyTimeoutSeconds: o.standbyTimeoutSeconds ?? 30,
        },
        policy: { dryRun: o.dryRunPolicy ?? false },
      },
    ],
  };
}

export function config(o: ConfigOptions = {}): Config {
  return parseConfig(configDoc(o), 'test');
}

export function instance(
  id: string,
  o: { state?: InstanceState; slot?: string; az?: string; volume?: { id: string; device: string; dot?: boolean }; eni?: { id: string; index?: number; dot?: boolean } } = {},
): InstanceView {
  return {
    instanceId: id,
    state: o.state ?? 'running',
    availabilityZone: o.az ?? 'eu-west-1b',
    subnetId: 'subnet-0b',
    privateIp: '10.0.2.10',
    tags: { 'vault-cluster': 'prod', ...(o.slot !== undefined ? { 'vault-slot': o.slot } : { 'vault-slot': 'vault-b' }) },
    blockDevices: [
      { device: '/dev/xvda', volumeId: 'vol-root', deleteOnTermination: true },
      ...(o.volume ? [{ device: o.volume.device, volumeId: o.volume.id, deleteOnTermination: o.volume.dot ?? false }] : []),
    ],
    interfaces: o.eni ? [{ networkInterfaceId: o.eni.id, deviceIndex: o.eni.index ?? 0, deleteOnTermination: o.eni.dot ?? false }] : [],
  };
}

export function volume(id: string, o: { az?: string; attachedTo?: string; state?: string; attachState?: string; device?: string } = {}): VolumeView {
  return {
    volumeId: id,
    state: o.state ?? (o.attachedTo ? 'in-use' : 'available'),
    availabilityZone: o.az ?? 'eu-west-1b',
    attachments: o.attachedTo ? [{ instanceId: o.attachedTo, state: o.attachState ?? 'attached', device: o.device ?? '/dev/sdf', deleteOnTermination: false }] : [],
  };
}

export function iface(id: string, o: { attachedTo?: string; index?: number; subnet?: string; status?: string } = {}): InterfaceView {
  return {
    networkInterfaceId: id,
    status: o.status ?? (o.attachedTo ? 'in-use' : 'available'),
    availabilityZone: 'eu-west-1b',
    subnetId: o.subnet ?? 'subnet-0b',
    ...(o.attachedTo
      ? { attachment: { instanceId: o.attachedTo, attachmentId: `eni-attach-${o.attachedTo}`, deviceIndex: o.index ?? 0, status: 'attached', deleteOnTermination: false } }
      : {}),
  };
}

export function inspection(o: Partial<SlotInspection> & { nodes: NodeHealth[] }): SlotInspection {
  return {
    slotInstances: [],
    verdict: { kind: 'healthy', reasons: [] },
    registeredTargets: [],
    ...o,
  };
}
