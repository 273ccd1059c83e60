/**
 * A small, stateful fake of the EC2 / ELBv2 / SSM / SNS calls replace-node
 * makes, wired into real SDK clients with aws-sdk-client-mock. Shapes follow
 * the API references (DescribeInstances, DescribeVolumes, RunInstances,
 * GetCommandInvocation...). State advances one step per describe call, the way
 * a real volume goes attached → detaching → available across polls.
 * Failures are injected per test through `faults`.
 */
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVolumesCommand,
  DetachNetworkInterfaceCommand,
  DetachVolumeCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type Instance,
} from '@aws-sdk/client-ec2';
import { DeregisterTargetsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeInstanceInformationCommand, GetCommandInvocationCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { InstanceState, ProbeResult } from '../../../functions/core/types.js';
import { probe } from '../core/factories.js';

const creds = { region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };

export type VaultState = 'active' | 'standby' | 'sealed' | 'down';

export interface FakeInstance {
  id: string;
  state: InstanceState;
  az: string;
  subnet: string;
  ip: string;
  tags: Record<string, string>;
  clientToken?: string;
  rootVolume: string;
  vault: VaultState;
}

export interface FakeVolume {
  id: string;
  az: string;
  deleted?: boolean;
  attachment?: { instanceId: string; device: string; state: 'attaching' | 'attached' | 'detaching'; deleteOnTermination: boolean };
}

export interface FakeEni {
  id: string;
  subnet: string;
  az: string;
  deleted?: boolean;
  attachment?: { instanceId: string; attachmentId: string; deviceIndex: number; deleteOnTermination: boolean };
}

export interface Faults {
  runInstances?: string;
  attachVolume?: string;
  /** Detach never completes unless forced. */
  volumeStuckUnlessForced?: boolean;
  /** Not even a forced detach completes. */
  volumeStuckForever?: boolean;
  prepareStatus?: 'Failed' | 'Success';
  /** The new node never becomes a standby (stays sealed). */
  staysSealed?: boolean;
}

export interface Command {
  id: string;
  document: string;
  instanceId: string;
  parameters: Record<string, string[]>;
  polls: number;
}

export function sdkError(code: string, message = code): Error {
  return Object.assign(new Error(message), { name: code, Code: code, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

export class FakeAws {
  readonly ec2 = new EC2Client(creds);
  readonly elbv2 = new ElasticLoadBalancingV2Client(creds);
  readonly ssm = new SSMClient(creds);
  readonly sns = new SNSClient(creds);
  readonly ec2Mock: AwsClientStub<EC2Client>;
  readonly elbMock: AwsClientStub<ElasticLoadBalancingV2Client>;
  readonly ssmMock: AwsClientStub<SSMClient>;
  readonly snsMock: AwsClientStub<SNSClient>;

  readonly instances = new Map<string, FakeInstance>();
  readonly volumes = new Map<string, FakeVolume>();
  readonly enis = new Map<string, FakeEni>();
  readonly targets = new Set<string>();
  readonly commands: Command[] = [];
  readonly published: Array<{ subject?: string; message?: string }> = [];
  /** Every call in order, `<Command>` names, for ordering assertions. */
  readonly callLog: string[] = [];
  faults: Faults = {};
  private seq = 0;

  constructor() {
    this.ec2Mock = mockClient(this.ec2);
    this.elbMock = mockClient(this.elbv2);
    this.ssmMock = mockClient(this.ssm);
    this.snsMock = mockClient(this.sns);
    const log =
      <I, O>(name: string, fn: (input: I) => O) =>
      async (input: I): Promise<O> => {
        this.callLog.push(name);
        return fn(input);
      };
    this.ec2Mock.on(DescribeInstancesCommand).callsFake(log('DescribeInstances', (i) => this.describeInstances(i)));
    this.ec2Mock.on(DescribeVolumesCommand).callsFake(log('DescribeVolumes', (i) => this.describeVolumes(i)));
    this.ec2Mock.on(DescribeNetworkInterfacesCommand).callsFake(log('DescribeNetworkInterfaces', (i) => this.describeEnis(i)));
    this.ec2Mock.on(RunInstancesCommand).callsFake(log('RunInstances', (i) => this.runInstances(i)));
    this.ec2Mock.on(TerminateInstancesCommand).callsFake(log('TerminateInstances', (i) => this.setState(i.InstanceIds ?? [], 'shutting-down')));
    this.ec2Mock.on(StopInstancesCommand).callsFake(log('StopInstances', (i) => this.setState(i.InstanceIds ?? [], 'stopping')));
    this.ec2Mock.on(AttachVolumeCommand).callsFake(log('AttachVolume', (i) => this.attachVolume(i)));
    this.ec2Mock.on(DetachVolumeCommand).callsFake(log('DetachVolume', (i) => this.detachVolume(i)));
    this.ec2Mock.on(DetachNetworkInterfaceCommand).callsFake(log('DetachNetworkInterface', () => ({})));
    this.ec2Mock.on(ModifyInstanceAttributeCommand).callsFake(log('ModifyInstanceAttribute', (i) => this.modifyInstance(i)));
    this.ec2Mock.on(ModifyNetworkInterfaceAttributeCommand).callsFake(log('ModifyNetworkInterfaceAttribute', (i) => this.modifyEni(i)));
    this.ec2Mock.on(CreateTagsCommand).callsFake(log('CreateTags', (i) => this.createTags(i)));
    this.elbMock.on(DescribeTargetHealthCommand).callsFake(
      log('DescribeTargetHealth', () => ({
        TargetHealthDescriptions: [...this.targets].map((id) => ({ Target: { Id: id, Port: 8200 }, TargetHealth: { State: 'healthy' } })),
      })),
    );
    this.elbMock.on(DeregisterTargetsCommand).callsFake(
      log('DeregisterTargets', (i) => {
        for (const t of i.Targets ?? []) if (t.Id) this.targets.delete(t.Id);
        return {};
      }),
    );
    this.ssmMock.on(DescribeInstanceInformationCommand).callsFake(
      log('DescribeInstanceInformation', (i: { Filters?: Array<{ Key?: string; Values?: string[] }> }) => {
        const ids: string[] = i.Filters?.find((f) => f.Key === 'InstanceIds')?.Values ?? [];
        return {
          InstanceInformationList: ids
            .map((id) => this.instances.get(id))
            .filter((x): x is FakeInstance => x !== undefined && x.state === 'running')
            .map((x) => ({ InstanceId: x.id, PingStatus: 'Online', PlatformType: 'Linux', IPAddress: x.ip })),
        };
      }),
    );
    this.ssmMock.on(SendCommandCommand).callsFake(
      log('SendCommand', (i) => {
        const cmd: Command = {
          id: `cmd-${++this.seq}`,
          document: i.DocumentName ?? '',
          instanceId: i.InstanceIds?.[0] ?? '',
          parameters: (i.Parameters ?? {}) as Record<string, string[]>,
          polls: 0,
        };
        this.commands.push(cmd);
        return { Command: { CommandId: cmd.id, DocumentName: cmd.document, Status: 'Pending' } };
      }),
    );
    this.ssmMock.on(GetCommandInvocationCommand).callsFake(log('GetCommandInvocation', (i) => this.invocation(i.CommandId ?? '', i.InstanceId ?? '')));
    this.snsMock.on(PublishCommand).callsFake(
      log('Publish', (i) => {
        this.published.push({ ...(i.Subject ? { subject: i.Subject } : {}), ...(i.Message ? { message: i.Message } : {}) });
        return { MessageId: `m-${++this.seq}` };
      }),
    );
  }

  restore(): void {
    for (const m of [this.ec2Mock, this.elbMock, this.ssmMock, this.snsMock]) m.restore();
  }

  /* ----------------------------------------------------------- world setup */

  addInstance(i: Partial<FakeInstance> & { id: string; slot?: string }): FakeInstance {
    const inst: FakeInstance = {
      state: 'running',
      az: 'eu-west-1b',
      subnet: 'subnet-0b',
      ip: `10.0.9.${this.instances.size + 10}`,
      rootVolume: `vol-root-${i.id}`,
      vault: 'standby',
      ...i,
      tags: { 'vault-cluster': 'prod', ...(i.slot ? { 'vault-slot': i.slot } : {}), ...(i.tags ?? {}) },
    };
    this.instances.set(inst.id, inst);
    return inst;
  }

  addVolume(v: FakeVolume): void {
    this.volumes.set(v.id, v);
  }

  addEni(e: FakeEni): void {
    this.enis.set(e.id, e);
  }

  /** Instances launched by RunInstances. */
  launched(): FakeInstance[] {
    return [...this.instances.values()].filter((i) => i.clientToken !== undefined);
  }

  /** The probe the task code uses: answers from each instance's simulated Vault. */
  readonly probe = async (address: string): Promise<ProbeResult> => {
    const inst = [...this.instances.values()].find((i) => address.includes(i.ip));
    const active = [...this.instances.values()].find((i) => i.vault === 'active' && i.state === 'running');
    const activeAddr = active ? `http://${active.ip}:8200` : undefined;
    if (!inst || inst.state !== 'running' || inst.vault === 'down') {
      return { address, health: { ok: false, reason: 'refused', detail: 'ECONNREFUSED', latencyMs: 1 }, leader: { ok: false, reason: 'refused', detail: 'ECONNREFUSED', latencyMs: 1 } };
    }
    const status = inst.vault === 'active' ? 200 : inst.vault === 'standby' ? 429 : 503;
    return probe({ status, address, ...(status === 200 ? { leaderAddress: address } : activeAddr ? { leaderAddress: activeAddr } : {}) });
  };

  /* ---------------------------------------------------------------- EC2 */

  private instanceShape(i: FakeInstance): Instance {
    const vols = [...this.volumes.values()].filter((v) => v.attachment?.instanceId === i.id);
    const enis = [...this.enis.values()].filter((e) => e.attachment?.instanceId === i.id);
    return {
      InstanceId: i.id,
      State: { Name: i.state, Code: 16 },
      Placement: { AvailabilityZone: i.az },
      SubnetId: i.subnet,
      ...(i.state !== 'terminated' ? { PrivateIpAddress: i.ip } : {}),
      Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { VolumeId: i.rootVolume, Status: 'attached', DeleteOnTermination: true } },
        ...vols.map((v) => ({ DeviceName: v.attachment!.device, Ebs: { VolumeId: v.id, Status: v.attachment!.state, DeleteOnTermination: v.attachment!.deleteOnTermination } })),
      ],
      NetworkInterfaces: enis.map((e) => ({
        NetworkInterfaceId: e.id,
        Attachment: { AttachmentId: e.attachment!.attachmentId, DeviceIndex: e.attachment!.deviceIndex, DeleteOnTermination: e.attachment!.deleteOnTermination, Status: 'attached' },
      })),
      ...(i.clientToken ? { ClientToken: i.clientToken } : {}),
    };
  }

  /** One step of every transition in flight (what time does between two polls). */
  private advance(): void {
    for (const i of this.instances.values()) {
      if (i.state === 'pending') i.state = 'running';
      else if (i.state === 'stopping') i.state = 'stopped';
      else if (i.state === 'shutting-down') {
        i.state = 'terminated';
        i.vault = 'down';
        for (const v of this.volumes.values()) {
          if (v.attachment?.instanceId === i.id) {
            if (v.attachment.deleteOnTermination) v.deleted = true;
            v.attachment = undefined;
          }
        }
        for (const e of this.enis.values()) {
          if (e.attachment?.instanceId === i.id) {
            if (e.attachment.deleteOnTermination) e.deleted = true;
            e.attachment = undefined;
          }
        }
      }
    }
    for (const v of this.volumes.values()) {
      if (v.attachment?.state === 'attaching') v.attachment.state = 'attached';
      else if (v.attachment?.state === 'detaching' && !this.faults.volumeStuckForever && !(this.faults.volumeStuckUnlessForced && !(v as { forced?: boolean }).forced)) {
        v.attachment = undefined;
      }
    }
  }

  private matches(i: FakeInstance, filters: Filter[] | undefined): boolean {
    for (const f of filters ?? []) {
      const vals = f.Values ?? [];
      if (f.Name?.startsWith('tag:')) {
        const v = i.tags[f.Name.slice(4)];
        if (v === undefined || !vals.includes(v)) return false;
      } else if (f.Name === 'instance-state-name') {
        if (!vals.includes(i.state)) return false;
      } else if (f.Name === 'client-token') {
        if (!i.clientToken || !vals.includes(i.clientToken)) return false;
      }
    }
    return true;
  }

  private describeInstances(input: { InstanceIds?: string[]; Filters?: Filter[] }) {
    this.advance();
    let list = [...this.instances.values()];
    if (input.InstanceIds?.length) {
      for (const id of input.InstanceIds) if (!this.instances.has(id)) throw sdkError('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
      list = list.filter((i) => input.InstanceIds!.includes(i.id));
    }
    list = list.filter((i) => this.matches(i, input.Filters));
    return { Reservations: list.map((i) => ({ ReservationId: `r-${i.id}`, Instances: [this.instanceShape(i)] })) };
  }

  private describeVolumes(input: { VolumeIds?: string[] }) {
    this.advance();
    return {
      Volumes: (input.VolumeIds ?? []).map((id) => {
        const v = this.volumes.get(id);
        if (!v || v.deleted) throw sdkError('InvalidVolume.NotFound', `The volume '${id}' does not exist.`);
        return {
          VolumeId: v.id,
          AvailabilityZone: v.az,
          Size: 20,
          VolumeType: 'gp3',
          State: v.attachment ? 'in-use' : 'available',
          Attachments: v.attachment
            ? [{ VolumeId: v.id, InstanceId: v.attachment.instanceId, Device: v.attachment.device, State: v.attachment.state, DeleteOnTermination: v.attachment.deleteOnTermination }]
            : [],
        };
      }),
    };
  }

  private describeEnis(input: { NetworkInterfaceIds?: string[] }) {
    return {
      NetworkInterfaces: (input.NetworkInterfaceIds ?? []).map((id) => {
        const e = this.enis.get(id);
        if (!e || e.deleted) throw sdkError('InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${id}' does not exist`);
        return {
          NetworkInterfaceId: e.id,
          SubnetId: e.subnet,
          AvailabilityZone: e.az,
          Status: e.attachment ? 'in-use' : 'available',
          ...(e.attachment
            ? { Attachment: { AttachmentId: e.attachment.attachmentId, InstanceId: e.attachment.instanceId, DeviceIndex: e.attachment.deviceIndex, Status: 'attached', DeleteOnTermination: e.attachment.deleteOnTermination } }
            : {}),
        };
      }),
    };
  }

  private runInstances(input: {
    ClientToken?: string;
    NetworkInterfaces?: Array<{ NetworkInterfaceId?: string; DeviceIndex?: number }>;
    SubnetId?: string;
    Placement?: { AvailabilityZone?: string };
    TagSpecifications?: Array<{ Tags?: Array<{ Key?: string; Value?: string }> }>;
  }) {
    const existing = [...this.instances.values()].find((i) => i.clientToken !== undefined && i.clientToken === input.ClientToken);
    if (existing) return { Instances: [this.instanceShape(existing)] };
    if (this.faults.runInstances) throw sdkError(this.faults.runInstances, 'We currently do not have sufficient capacity in the Availability Zone you requested.');
    const eniId = input.NetworkInterfaces?.[0]?.NetworkInterfaceId;
    const eni = eniId ? this.enis.get(eniId) : undefined;
    if (eniId && (!eni || eni.attachment)) throw sdkError('InvalidNetworkInterface.InUse', `Interface ${eniId} in use`);
    const tags: Record<string, string> = {};
    for (const t of input.TagSpecifications?.[0]?.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
    const id = `i-0new${(++this.seq).toString(16).padStart(12, '0')}`;
    const inst: FakeInstance = {
      id,
      state: 'pending',
      az: input.Placement?.AvailabilityZone ?? 'eu-west-1b',
      subnet: eni?.subnet ?? input.SubnetId ?? '',
      ip: `10.0.9.${200 + this.seq}`,
      tags,
      rootVolume: `vol-root-${id}`,
      vault: 'down',
      ...(input.ClientToken ? { clientToken: input.ClientToken } : {}),
    };
    this.instances.set(id, inst);
    if (eni) eni.attachment = { instanceId: id, attachmentId: `eni-attach-${id}`, deviceIndex: 0, deleteOnTermination: false };
    return { Instances: [this.instanceShape(inst)] };
  }

  private setState(ids: string[], state: InstanceState) {
    for (const id of ids) {
      const i = this.instances.get(id);
      if (!i) throw sdkError('InvalidInstanceID.NotFound');
      if (i.state !== 'terminated' && !(state === 'stopping' && i.state === 'stopped')) i.state = state;
      if (state === 'stopping') i.vault = 'down';
    }
    return { TerminatingInstances: [], StoppingInstances: [] };
  }

  private attachVolume(input: { VolumeId?: string; InstanceId?: string; Device?: string }) {
    if (this.faults.attachVolume) throw sdkError(this.faults.attachVolume, `volume ${input.VolumeId} cannot be attached`);
    const v = this.volumes.get(input.VolumeId ?? '');
    const i = this.instances.get(input.InstanceId ?? '');
    if (!v || !i) throw sdkError('InvalidVolume.NotFound');
    if (v.attachment) throw sdkError('VolumeInUse', `vol ${v.id} is already attached to an instance`);
    if (v.az !== i.az) throw sdkError('InvalidVolume.ZoneMismatch');
    v.attachment = { instanceId: i.id, device: input.Device ?? '', state: 'attaching', deleteOnTermination: false };
    return { VolumeId: v.id, InstanceId: i.id, Device: input.Device, State: 'attaching' };
  }

  private detachVolume(input: { VolumeId?: string; InstanceId?: string; Force?: boolean }) {
    const v = this.volumes.get(input.VolumeId ?? '');
    if (!v) throw sdkError('InvalidVolume.NotFound');
    if (!v.attachment) throw sdkError('IncorrectState', `Volume '${v.id}' is in the 'available' state.`);
    v.attachment.state = 'detaching';
    if (input.Force) (v as { forced?: boolean }).forced = true;
    return { VolumeId: v.id, State: 'detaching' };
  }

  private modifyInstance(input: { InstanceId?: string; BlockDeviceMappings?: Array<{ DeviceName?: string; Ebs?: { DeleteOnTermination?: boolean } }> }) {
    for (const m of input.BlockDeviceMappings ?? []) {
      for (const v of this.volumes.values()) {
        const a = v.attachment;
        if (a && a.instanceId === input.InstanceId && a.device === m.DeviceName && m.Ebs?.DeleteOnTermination !== undefined) {
          a.deleteOnTermination = m.Ebs.DeleteOnTermination;
        }
      }
    }
    return {};
  }

  private modifyEni(input: { NetworkInterfaceId?: string; Attachment?: { DeleteOnTermination?: boolean } }) {
    const e = this.enis.get(input.NetworkInterfaceId ?? '');
    if (e?.attachment && input.Attachment?.DeleteOnTermination !== undefined) e.attachment.deleteOnTermination = input.Attachment.DeleteOnTermination;
    return {};
  }

  private createTags(input: { Resources?: string[]; Tags?: Array<{ Key?: string; Value?: string }> }) {
    for (const r of input.Resources ?? []) {
      const i = this.instances.get(r);
      if (i) for (const t of input.Tags ?? []) if (t.Key) i.tags[t.Key] = t.Value ?? '';
    }
    return {};
  }

  /* ---------------------------------------------------------------- SSM */

  private invocation(commandId: string, instanceId: string) {
    const cmd = this.commands.find((c) => c.id === commandId && c.instanceId === instanceId);
    // Right after SendCommand, SSM does not know the invocation yet.
    if (!cmd || cmd.polls++ === 0) throw sdkError('InvocationDoesNotExist');
    if (cmd.polls < 3) return { CommandId: cmd.id, InstanceId: instanceId, Status: 'InProgress', StatusDetails: 'InProgress', ResponseCode: -1 };
    const inst = this.instances.get(instanceId);
    if (cmd.document === 'VaultHA-PrepareNode') {
      const status = this.faults.prepareStatus ?? 'Success';
      if (status === 'Success' && inst && !this.faults.staysSealed) inst.vault = 'standby';
      if (status === 'Success' && inst && this.faults.staysSealed) inst.vault = 'sealed';
      return {
        CommandId: cmd.id,
        InstanceId: instanceId,
        Status: status,
        StatusDetails: status,
        ResponseCode: status === 'Success' ? 0 : 5,
        StandardOutputContent: status === 'Success' ? 'mounted /opt/vault/data\nunseal progress 1/3\nunseal progress 2/3\nsealed=false\n' : 'unseal progress 1/3\nvault is still sealed (mode shamir)\n',
        StandardErrorContent: '',
      };
    }
    if (cmd.document === 'VaultHA-VaultControl' && cmd.parameters.Action?.[0] === 'step-down' && inst) {
      inst.vault = 'standby';
      const next = [...this.instances.values()].find((x) => x.id !== inst.id && x.vault === 'standby' && x.state === 'running');
      if (next) next.vault = 'active';
    }
    return { CommandId: cmd.id, InstanceId: instanceId, Status: 'Success', StatusDetails: 'Success', ResponseCode: 0, StandardOutputContent: 'step-down http 204\n' };
  }
}
