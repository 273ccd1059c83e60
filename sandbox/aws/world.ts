/**
 * In-memory model of the EC2 resources the control plane touches (subnets, launch
 * templates, instances, EBS volumes, network interfaces) plus the clock every delay
 * goes through. The EC2 endpoint is a thin wire layer over this model; the ALB data
 * plane and the sandbox read it directly.
 *
 * Semantics follow EC2 where the control plane's safety depends on them:
 * lifecycle transitions take time (pending → running, stopping → stopped,
 * shutting-down → terminated), a volume attaches only in its own AZ and to one
 * instance, a reused network interface keeps its private IP and comes back
 * `available` when its instance terminates, and RunInstances is idempotent per
 * ClientToken. Operations either fail before changing anything or apply fully.
 */
import { randomBytes } from 'node:crypto';
import type { InstanceState } from '../../functions/core/types.js';
import { AwsApiError } from './query-protocol.js';

/* ------------------------------------------------------------------ */
/* Clock                                                               */
/* ------------------------------------------------------------------ */

export interface TimerHandle {
  readonly id: number;
}

/** Simulated time: real time scaled by `speed`, so scenarios can compress minutes into seconds. */
export interface SimClock {
  readonly speed: number;
  /** Simulated epoch milliseconds. */
  nowMs(): number;
  /** Runs `fn` after `simMs` simulated milliseconds. */
  setTimer(fn: () => void, simMs: number): TimerHandle;
  clearTimer(handle: TimerHandle | undefined): void;
  /** Resolves after `simMs` simulated milliseconds, or rejects with the signal's reason. */
  sleep(simMs: number, signal?: AbortSignal): Promise<void>;
  /** Real milliseconds that `simMs` simulated milliseconds take. */
  toRealMs(simMs: number): number;
  /** Clears every pending timer; the clock still tells time afterwards. */
  dispose(): void;
}

export class ScaledClock implements SimClock {
  private readonly realStart = Date.now();
  private readonly simStart: number;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private nextId = 1;

  constructor(
    readonly speed = 1,
    startMs?: number,
  ) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`clock speed must be a positive number, got ${speed}`);
    this.simStart = startMs ?? this.realStart;
  }

  nowMs(): number {
    return Math.floor(this.simStart + (Date.now() - this.realStart) * this.speed);
  }

  toRealMs(simMs: number): number {
    return Math.max(0, simMs / this.speed);
  }

  setTimer(fn: () => void, simMs: number): TimerHandle {
    const id = this.nextId++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, this.toRealMs(simMs));
    this.timers.set(id, t);
    return { id };
  }

  clearTimer(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    const t = this.timers.get(handle.id);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(handle.id);
  }

  sleep(simMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        this.clearTimer(handle);
        reject(signal?.reason);
      };
      const handle = this.setTimer(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, simMs);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  pendingTimers(): number {
    return this.timers.size;
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

/* ------------------------------------------------------------------ */
/* Resources                                                           */
/* ------------------------------------------------------------------ */

export type Tags = Record<string, string>;

export interface SimSubnet {
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  availabilityZoneId: string;
  cidrBlock: string;
  tags: Tags;
}

export interface SimLaunchTemplate {
  launchTemplateId: string;
  launchTemplateName: string;
  imageId: string;
  instanceType: string;
  latestVersionNumber: number;
  defaultVersionNumber: number;
  createTimeMs: number;
  /** Tags the template's TagSpecifications put on launched instances. */
  instanceTags: Tags;
  tags: Tags;
}

export type NetworkInterfaceStatus = 'available' | 'in-use' | 'attaching' | 'detaching';

export interface SimNetworkInterface {
  networkInterfaceId: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  privateIpAddress: string;
  privateDnsName: string;
  macAddress: string;
  description: string;
  status: NetworkInterfaceStatus;
  attachment?: {
    attachmentId: string;
    instanceId: string;
    deviceIndex: number;
    deleteOnTermination: boolean;
    status: 'attaching' | 'attached' | 'detaching' | 'detached';
    attachTimeMs: number;
  };
  tags: Tags;
}

export type VolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
export type VolumeAttachmentState = 'attaching' | 'attached' | 'detaching';

export interface SimVolume {
  volumeId: string;
  availabilityZone: string;
  sizeGiB: number;
  volumeType: string;
  createTimeMs: number;
  state: VolumeState;
  attachment?: {
    instanceId: string;
    device: string;
    state: VolumeAttachmentState;
    attachTimeMs: number;
    deleteOnTermination: boolean;
  };
  tags: Tags;
}

export type StatusCheck = 'ok' | 'impaired';

export interface SimInstance {
  instanceId: string;
  reservationId: string;
  state: InstanceState;
  launchTimeMs: number;
  availabilityZone: string;
  subnetId: string;
  vpcId: string;
  imageId: string;
  instanceType: string;
  privateIpAddress: string;
  privateDnsName: string;
  primaryNetworkInterfaceId: string;
  rootDeviceName: string;
  tags: Tags;
  launchTemplate?: { launchTemplateId: string; version: string };
  clientToken?: string;
  /** `StateTransitionReason`, e.g. `User initiated (2026-11-22 10:00:00 GMT)`. */
  stateTransitionReason: string;
  stateReason?: { code: string; message: string };
  /** When the instance last entered `running` (simulated ms). */
  runningSinceMs?: number;
  statusChecks: { system: StatusCheck; instance: StatusCheck; impairedSinceMs?: number };
}

/** EC2 `InstanceState.Code` values. */
export const INSTANCE_STATE_CODE: Record<InstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

/**
 * What the sandbox plugs in to make an instance "boot": typically it starts or
 * stops a simulated Vault node and then tags the instance with the node's URL
 * through `World.setInstanceTag`.
 */
export interface InstanceRuntime {
  onRunning(instance: SimInstance): Promise<void>;
  onStopping(instance: SimInstance): Promise<void>;
  onVolumeAttached?(instance: SimInstance, volume: SimVolume, device: string): void;
  onVolumeDetached?(instance: SimInstance, volume: SimVolume): void;
  /**
   * True while the OS on a running instance still uses the volume (mounted). A
   * non-forced DetachVolume then stays `detaching` until it is released, as on EC2.
   */
  isVolumeBusy?(instance: SimInstance, volume: SimVolume): boolean;
}

/** Simulated durations; defaults are in the range EC2 shows for small Nitro instances. */
export interface WorldTimings {
  pendingMs: number;
  stoppingMs: number;
  shuttingDownMs: number;
  /** How long a terminated instance stays visible in DescribeInstances. */
  terminatedVisibleMs: number;
  volumeAttachMs: number;
  volumeDetachMs: number;
  /** Status checks report `initializing` this long after an instance enters `running`. */
  statusInitializingMs: number;
}

export const DEFAULT_TIMINGS: WorldTimings = {
  pendingMs: 15_000,
  stoppingMs: 20_000,
  shuttingDownMs: 20_000,
  terminatedVisibleMs: 3_600_000,
  volumeAttachMs: 3_000,
  volumeDetachMs: 5_000,
  statusInitializingMs: 30_000,
};

export type WorldEvent =
  | { type: 'instance-state'; instanceId: string; from: InstanceState | undefined; to: InstanceState; atMs: number }
  | { type: 'volume-state'; volumeId: string; state: VolumeState; attachment?: VolumeAttachmentState; instanceId?: string; atMs: number }
  | { type: 'network-interface'; networkInterfaceId: string; status: NetworkInterfaceStatus; atMs: number }
  | { type: 'tags'; resourceId: string; atMs: number }
  | { type: 'runtime-error'; instanceId: string; hook: string; error: string; atMs: number };

/** A fault a test or scenario injects into the API: the next `times` calls of `action` fail with it. */
export interface ApiFault {
  service: 'ec2' | 'elbv2' | 'elb' | 'sns';
  action: string;
  code: string;
  message: string;
  httpStatus?: number;
  times?: number;
}

export interface RunInstancesInput {
  minCount: number;
  maxCount: number;
  launchTemplate?: { launchTemplateId?: string; launchTemplateName?: string; version?: string };
  imageId?: string;
  instanceType?: string;
  subnetId?: string;
  availabilityZone?: string;
  privateIpAddress?: string;
  networkInterfaces?: Array<{
    deviceIndex?: number;
    networkInterfaceId?: string;
    subnetId?: string;
    privateIpAddress?: string;
    deleteOnTermination?: boolean;
  }>;
  tagSpecifications?: Array<{ resourceType: string; tags: Tags }>;
  clientToken?: string;
}

export interface StateChange {
  instanceId: string;
  previousState: InstanceState;
  currentState: InstanceState;
}

export interface WorldOptions {
  region?: string;
  accountId?: string;
  clock?: SimClock;
  timings?: Partial<WorldTimings>;
  runtime?: InstanceRuntime;
  /** EBS volumes an instance may have attached (Nitro instances share 28 slots with ENIs). */
  maxVolumesPerInstance?: number;
}

/** Device names EBS accepts for data volumes on Linux instances. */
const DEVICE_NAME = /^\/dev\/(sd|xvd)[b-z]([a-z]|[1-9]|1[0-5])?$/;

function hexId(prefix: string): string {
  // 17 hex digits, the current EC2 id length.
  return `${prefix}-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

function gmtStamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' GMT');
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function notFoundList(ids: string[], singular: string, plural: string): string {
  const quoted = ids.map((i) => `'${i}'`).join(', ');
  return ids.length === 1 ? `The ${singular} ${quoted} does not exist` : `The ${plural} ${quoted} do not exist`;
}

export class World {
  readonly region: string;
  readonly accountId: string;
  readonly clock: SimClock;
  readonly timings: WorldTimings;
  readonly maxVolumesPerInstance: number;
  private runtime: InstanceRuntime | undefined;

  private readonly subnets = new Map<string, SimSubnet>();
  private readonly templates = new Map<string, SimLaunchTemplate>();
  private readonly instancesById = new Map<string, SimInstance>();
  private readonly volumes = new Map<string, SimVolume>();
  private readonly enis = new Map<string, SimNetworkInterface>();
  private readonly nextHost = new Map<string, number>();
  private readonly tokens = new Map<string, { fingerprint: string; instanceId: string }>();
  /** Purged terminated instances, kept only so a ClientToken replay still answers. */
  private readonly tombstones = new Map<string, SimInstance>();
  private readonly transitionTimers = new Map<string, TimerHandle>();
  private readonly volumeTimers = new Map<string, TimerHandle>();
  private readonly listeners = new Set<(e: WorldEvent) => void>();
  private readonly faults: ApiFault[] = [];
  private readonly pendingHooks = new Set<Promise<void>>();
  private disposed = false;

  constructor(opts: WorldOptions = {}) {
    this.region = opts.region ?? 'eu-west-1';
    this.accountId = opts.accountId ?? '111122223333';
    this.clock = opts.clock ?? new ScaledClock(1);
    this.timings = { ...DEFAULT_TIMINGS, ...opts.timings };
    this.runtime = opts.runtime;
    this.maxVolumesPerInstance = opts.maxVolumesPerInstance ?? 27;
  }

  /* ---------------- wiring ---------------- */

  setRuntime(runtime: InstanceRuntime | undefined): void {
    this.runtime = runtime;
  }

  on(listener: (e: WorldEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: WorldEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a broken view must not break the world */
      }
    }
  }

  injectFault(fault: ApiFault): void {
    this.faults.push({ ...fault, times: fault.times ?? 1 });
  }

  /** Consumes an injected fault for this call, if any (used by the endpoints). */
  takeFault(service: ApiFault['service'], action: string): AwsApiError | undefined {
    const i = this.faults.findIndex((f) => f.service === service && f.action === action);
    if (i < 0) return undefined;
    const f = this.faults[i]!;
    f.times = (f.times ?? 1) - 1;
    if (f.times <= 0) this.faults.splice(i, 1);
    return new AwsApiError(f.code, f.message, f.httpStatus ?? 400, (f.httpStatus ?? 400) >= 500 ? 'Receiver' : 'Sender');
  }

  /** Stops every transition timer and waits for runtime hooks already started. */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const h of this.transitionTimers.values()) this.clock.clearTimer(h);
    for (const h of this.volumeTimers.values()) this.clock.clearTimer(h);
    this.transitionTimers.clear();
    this.volumeTimers.clear();
    await Promise.allSettled([...this.pendingHooks]);
    this.clock.dispose();
  }

  /* ---------------- programmatic setup ---------------- */

  addSubnet(opts: { subnetId?: string; availabilityZone: string; cidrBlock?: string; vpcId?: string; tags?: Tags }): SimSubnet {
    const index = this.subnets.size;
    const subnet: SimSubnet = {
      subnetId: opts.subnetId ?? hexId('subnet'),
      vpcId: opts.vpcId ?? 'vpc-0sandbox00000000',
      availabilityZone: opts.availabilityZone,
      availabilityZoneId: `${this.region.split('-').map((p) => p[0]).join('')}${this.region.slice(-1)}-az${index + 1}`,
      cidrBlock: opts.cidrBlock ?? `10.0.${index + 1}.0/24`,
      tags: { ...opts.tags },
    };
    if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(subnet.cidrBlock)) throw new RangeError(`bad CIDR ${subnet.cidrBlock}`);
    if (this.subnets.has(subnet.subnetId)) throw new RangeError(`subnet ${subnet.subnetId} already exists`);
    this.subnets.set(subnet.subnetId, subnet);
    return subnet;
  }

  addLaunchTemplate(opts: {
    launchTemplateId?: string;
    launchTemplateName: string;
    imageId?: string;
    instanceType?: string;
    instanceTags?: Tags;
    tags?: Tags;
    versions?: number;
  }): SimLaunchTemplate {
    const lt: SimLaunchTemplate = {
      launchTemplateId: opts.launchTemplateId ?? hexId('lt'),
      launchTemplateName: opts.launchTemplateName,
      imageId: opts.imageId ?? 'ami-0sandbox0vault000',
      instanceType: opts.instanceType ?? 't3.small',
      latestVersionNumber: opts.versions ?? 1,
      defaultVersionNumber: 1,
      createTimeMs: this.clock.nowMs(),
      instanceTags: { ...opts.instanceTags },
      tags: { ...opts.tags },
    };
    this.templates.set(lt.launchTemplateId, lt);
    return lt;
  }

  addVolume(opts: { volumeId?: string; availabilityZone: string; sizeGiB?: number; volumeType?: string; tags?: Tags }): SimVolume {
    const vol: SimVolume = {
      volumeId: opts.volumeId ?? hexId('vol'),
      availabilityZone: opts.availabilityZone,
      sizeGiB: opts.sizeGiB ?? 20,
      volumeType: opts.volumeType ?? 'gp3',
      createTimeMs: this.clock.nowMs(),
      state: 'available',
      tags: { ...opts.tags },
    };
    if (this.volumes.has(vol.volumeId)) throw new RangeError(`volume ${vol.volumeId} already exists`);
    this.volumes.set(vol.volumeId, vol);
    return vol;
  }

  addNetworkInterface(opts: {
    networkInterfaceId?: string;
    subnetId: string;
    privateIpAddress?: string;
    description?: string;
    tags?: Tags;
  }): SimNetworkInterface {
    const subnet = this.requireSubnet(opts.subnetId);
    const ip = opts.privateIpAddress ?? this.allocateIp(subnet);
    const eni: SimNetworkInterface = {
      networkInterfaceId: opts.networkInterfaceId ?? hexId('eni'),
      subnetId: subnet.subnetId,
      vpcId: subnet.vpcId,
      availabilityZone: subnet.availabilityZone,
      privateIpAddress: ip,
      privateDnsName: this.dnsName(ip),
      macAddress: this.macAddress(),
      description: opts.description ?? '',
      status: 'available',
      tags: { ...opts.tags },
    };
    if (this.enis.has(eni.networkInterfaceId)) throw new RangeError(`network interface ${eni.networkInterfaceId} already exists`);
    this.enis.set(eni.networkInterfaceId, eni);
    return eni;
  }

  /**
   * Creates an instance that is already `running` (the cluster as it exists before
   * the sandbox starts), with its volumes attached at boot. Awaits the runtime's
   * `onRunning` so the caller knows the node is up.
   */
  async launchInitialInstance(opts: {
    subnetId: string;
    tags?: Tags;
    networkInterfaceId?: string;
    volumes?: Array<{ volumeId: string; device: string }>;
    launchTemplateId?: string;
    instanceId?: string;
  }): Promise<SimInstance> {
    const input: RunInstancesInput = {
      minCount: 1,
      maxCount: 1,
      ...(opts.launchTemplateId !== undefined
        ? { launchTemplate: { launchTemplateId: opts.launchTemplateId } }
        : { imageId: 'ami-0sandbox0vault000' }),
      ...(opts.networkInterfaceId !== undefined
        ? { networkInterfaces: [{ deviceIndex: 0, networkInterfaceId: opts.networkInterfaceId }] }
        : { subnetId: opts.subnetId }),
      tagSpecifications: [{ resourceType: 'instance', tags: { ...opts.tags } }],
    };
    for (const v of opts.volumes ?? []) {
      const vol = this.requireVolume(v.volumeId);
      if (vol.state !== 'available') throw new AwsApiError('VolumeInUse', `${vol.volumeId} is already attached to an instance`);
    }
    const inst = this.createInstance(input, opts.instanceId);
    this.clock.clearTimer(this.transitionTimers.get(inst.instanceId));
    this.transitionTimers.delete(inst.instanceId);
    const now = this.clock.nowMs();
    for (const v of opts.volumes ?? []) {
      const vol = this.volumes.get(v.volumeId)!;
      vol.state = 'in-use';
      vol.attachment = { instanceId: inst.instanceId, device: v.device, state: 'attached', attachTimeMs: now, deleteOnTermination: false };
      this.emitVolume(vol);
      this.callHookSync(inst, 'onVolumeAttached', () => this.runtime?.onVolumeAttached?.(inst, vol, v.device));
    }
    // Boot checks are long done for a node that predates the sandbox.
    delete inst.stateReason;
    this.setState(inst, 'running');
    inst.runningSinceMs = now - this.timings.statusInitializingMs;
    await this.callHook(inst, 'onRunning', (rt) => rt.onRunning(inst));
    return inst;
  }

  /** Lets the runtime (or a scenario) set a tag, e.g. `vault-url` with the simulated node's base URL. */
  setInstanceTag(instanceId: string, key: string, value: string): void {
    const inst = this.requireInstances([instanceId])[0]!;
    inst.tags[key] = value;
    this.emit({ type: 'tags', resourceId: instanceId, atMs: this.clock.nowMs() });
  }

  /** Fault switch: marks an instance's system or instance status check impaired (or ok again). */
  setStatusCheck(instanceId: string, checks: { system?: StatusCheck; instance?: StatusCheck }): void {
    const inst = this.requireInstances([instanceId])[0]!;
    const wasOk = inst.statusChecks.system === 'ok' && inst.statusChecks.instance === 'ok';
    if (checks.system) inst.statusChecks.system = checks.system;
    if (checks.instance) inst.statusChecks.instance = checks.instance;
    const isOk = inst.statusChecks.system === 'ok' && inst.statusChecks.instance === 'ok';
    if (wasOk && !isOk) inst.statusChecks.impairedSinceMs = this.clock.nowMs();
    if (isOk) delete inst.statusChecks.impairedSinceMs;
  }

  /* ---------------- reads ---------------- */

  instance(instanceId: string): SimInstance | undefined {
    return this.instancesById.get(instanceId);
  }

  /** Instances in launch order, terminated ones included while they stay visible. */
  instances(): SimInstance[] {
    return [...this.instancesById.values()];
  }

  volume(volumeId: string): SimVolume | undefined {
    return this.volumes.get(volumeId);
  }

  allVolumes(): SimVolume[] {
    return [...this.volumes.values()];
  }

  networkInterface(id: string): SimNetworkInterface | undefined {
    return this.enis.get(id);
  }

  allNetworkInterfaces(): SimNetworkInterface[] {
    return [...this.enis.values()];
  }

  subnet(id: string): SimSubnet | undefined {
    return this.subnets.get(id);
  }

  allSubnets(): SimSubnet[] {
    return [...this.subnets.values()];
  }

  launchTemplate(id: string): SimLaunchTemplate | undefined {
    return this.templates.get(id);
  }

  allLaunchTemplates(): SimLaunchTemplate[] {
    return [...this.templates.values()];
  }

  /** Volumes attached (in any attachment state) to an instance, by device. */
  attachedVolumes(instanceId: string): SimVolume[] {
    const root = this.instancesById.get(instanceId)?.rootDeviceName;
    return [...this.volumes.values()]
      .filter((v) => v.attachment?.instanceId === instanceId)
      .sort((a, b) =>
        a.attachment!.device === root ? -1 : b.attachment!.device === root ? 1 : a.attachment!.device.localeCompare(b.attachment!.device),
      );
  }

  attachedNetworkInterfaces(instanceId: string): SimNetworkInterface[] {
    return [...this.enis.values()]
      .filter((e) => e.attachment?.instanceId === instanceId)
      .sort((a, b) => a.attachment!.deviceIndex - b.attachment!.deviceIndex);
  }

  /** Status check view for DescribeInstanceStatus. */
  statusOf(inst: SimInstance): { system: 'ok' | 'impaired' | 'initializing' | 'not-applicable'; instance: 'ok' | 'impaired' | 'initializing' | 'not-applicable' } {
    if (inst.state !== 'running') return { system: 'not-applicable', instance: 'not-applicable' };
    const initializing = (inst.runningSinceMs ?? 0) + this.timings.statusInitializingMs > this.clock.nowMs();
    const view = (c: StatusCheck): 'ok' | 'impaired' | 'initializing' => (c === 'impaired' ? 'impaired' : initializing ? 'initializing' : 'ok');
    return { system: view(inst.statusChecks.system), instance: view(inst.statusChecks.instance) };
  }

  /** Compact view for the sandbox display and tests. */
  snapshot(): {
    atMs: number;
    instances: Array<{ instanceId: string; state: InstanceState; az: string; privateIp: string; tags: Tags; volumes: string[] }>;
    volumes: Array<{ volumeId: string; az: string; state: VolumeState; attachedTo?: string; attachment?: VolumeAttachmentState }>;
    networkInterfaces: Array<{ networkInterfaceId: string; status: NetworkInterfaceStatus; privateIp: string; attachedTo?: string }>;
  } {
    return {
      atMs: this.clock.nowMs(),
      instances: this.instances().map((i) => ({
        instanceId: i.instanceId,
        state: i.state,
        az: i.availabilityZone,
        privateIp: i.privateIpAddress,
        tags: { ...i.tags },
        volumes: this.attachedVolumes(i.instanceId).map((v) => v.volumeId),
      })),
      volumes: this.allVolumes().map((v) => ({
        volumeId: v.volumeId,
        az: v.availabilityZone,
        state: v.state,
        ...(v.attachment ? { attachedTo: v.attachment.instanceId, attachment: v.attachment.state } : {}),
      })),
      networkInterfaces: this.allNetworkInterfaces().map((e) => ({
        networkInterfaceId: e.networkInterfaceId,
        status: e.status,
        privateIp: e.privateIpAddress,
        ...(e.attachment ? { attachedTo: e.attachment.instanceId } : {}),
      })),
    };
  }

  /* ---------------- lookups that throw AWS errors ---------------- */

  requireInstances(ids: string[]): SimInstance[] {
    const malformed = ids.filter((id) => !/^i-[0-9a-f]{8}([0-9a-f]{9})?$/.test(id));
    if (malformed.length > 0) throw new AwsApiError('InvalidInstanceID.Malformed', `Invalid id: "${malformed[0]}"`);
    const missing = ids.filter((id) => !this.instancesById.has(id));
    if (missing.length > 0) {
      throw new AwsApiError('InvalidInstanceID.NotFound', notFoundList(missing, 'instance ID', 'instance IDs'));
    }
    return ids.map((id) => this.instancesById.get(id)!);
  }

  requireVolume(volumeId: string): SimVolume {
    if (!/^vol-[0-9a-z]+$/.test(volumeId)) throw new AwsApiError('InvalidVolumeID.Malformed', `Invalid id: "${volumeId}"`);
    const v = this.volumes.get(volumeId);
    if (v === undefined) throw new AwsApiError('InvalidVolume.NotFound', `The volume '${volumeId}' does not exist.`);
    return v;
  }

  requireSubnet(subnetId: string): SimSubnet {
    const s = this.subnets.get(subnetId);
    if (s === undefined) throw new AwsApiError('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
    return s;
  }

  requireNetworkInterface(id: string): SimNetworkInterface {
    const e = this.enis.get(id);
    if (e === undefined) throw new AwsApiError('InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${id}' does not exist`);
    return e;
  }

  /* ---------------- EC2 actions ---------------- */

  /**
   * RunInstances for one instance. A repeated ClientToken with the same parameters
   * returns the instance launched the first time (even if it has since
   * terminated); with different parameters it fails with IdempotentParameterMismatch.
   */
  runInstances(input: RunInstancesInput): SimInstance {
    const fingerprint = canonicalJson({ ...input, clientToken: undefined });
    if (input.clientToken !== undefined) {
      if (input.clientToken.length > 64) {
        throw new AwsApiError('InvalidParameterValue', 'Value for parameter clientToken is invalid. Length must be at most 64 characters.');
      }
      const prior = this.tokens.get(input.clientToken);
      if (prior !== undefined) {
        if (prior.fingerprint !== fingerprint) {
          throw new AwsApiError(
            'IdempotentParameterMismatch',
            'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).',
          );
        }
        return this.instancesById.get(prior.instanceId) ?? this.tombstones.get(prior.instanceId)!;
      }
    }
    const inst = this.createInstance(input);
    if (input.clientToken !== undefined) this.tokens.set(input.clientToken, { fingerprint, instanceId: inst.instanceId });
    return inst;
  }

  stopInstances(ids: string[], opts: { force?: boolean } = {}): StateChange[] {
    const insts = this.requireInstances(ids);
    for (const i of insts) {
      if (i.state === 'pending' || i.state === 'shutting-down' || i.state === 'terminated') {
        throw new AwsApiError('IncorrectInstanceState', `The instance '${i.instanceId}' is not in a state from which it can be stopped.`);
      }
    }
    return insts.map((i) => {
      const previousState = i.state;
      if (i.state === 'running') {
        const now = this.clock.nowMs();
        i.stateTransitionReason = `User initiated (${gmtStamp(now)})`;
        i.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
        this.setState(i, 'stopping');
        void this.callHook(i, 'onStopping', (rt) => rt.onStopping(i));
        // Force skips the OS shutdown, so the instance stops sooner.
        const delay = opts.force ? this.timings.stoppingMs / 2 : this.timings.stoppingMs;
        this.schedule(i, delay, () => this.setState(i, 'stopped'));
      }
      return { instanceId: i.instanceId, previousState, currentState: i.state };
    });
  }

  startInstances(ids: string[]): StateChange[] {
    const insts = this.requireInstances(ids);
    for (const i of insts) {
      if (i.state === 'stopping' || i.state === 'shutting-down' || i.state === 'terminated') {
        throw new AwsApiError('IncorrectInstanceState', `The instance '${i.instanceId}' is not in a state from which it can be started.`);
      }
    }
    return insts.map((i) => {
      const previousState = i.state;
      if (i.state === 'stopped') {
        delete i.stateReason;
        i.stateTransitionReason = '';
        this.setState(i, 'pending');
        this.schedule(i, this.timings.pendingMs, () => this.becomeRunning(i));
      }
      return { instanceId: i.instanceId, previousState, currentState: i.state };
    });
  }

  terminateInstances(ids: string[], opts: { force?: boolean } = {}): StateChange[] {
    const insts = this.requireInstances(ids);
    return insts.map((i) => {
      const previousState = i.state;
      if (i.state !== 'shutting-down' && i.state !== 'terminated') {
        const wasUp = i.state === 'running' || i.state === 'pending' || i.state === 'stopping';
        const now = this.clock.nowMs();
        i.stateTransitionReason = `User initiated (${gmtStamp(now)})`;
        i.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
        this.clock.clearTimer(this.transitionTimers.get(i.instanceId));
        this.setState(i, 'shutting-down');
        if (wasUp) void this.callHook(i, 'onStopping', (rt) => rt.onStopping(i));
        const delay = opts.force ? this.timings.shuttingDownMs / 2 : this.timings.shuttingDownMs;
        this.schedule(i, delay, () => this.finishTermination(i));
      }
      return { instanceId: i.instanceId, previousState, currentState: i.state };
    });
  }

  attachVolume(volumeId: string, instanceId: string, device: string): SimVolume {
    const vol = this.requireVolume(volumeId);
    const inst = this.requireInstances([instanceId])[0]!;
    if (!DEVICE_NAME.test(device)) {
      throw new AwsApiError('InvalidParameterValue', `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`);
    }
    if (vol.state === 'in-use' || vol.attachment !== undefined) {
      throw new AwsApiError('VolumeInUse', `${volumeId} is already attached to an instance`);
    }
    if (vol.state !== 'available') throw new AwsApiError('IncorrectState', `${volumeId} is not 'available'.`);
    if (vol.availabilityZone !== inst.availabilityZone) {
      throw new AwsApiError(
        'InvalidVolume.ZoneMismatch',
        `The volume '${volumeId}' is not in the same availability zone as instance '${instanceId}'`,
      );
    }
    if (inst.state !== 'running' && inst.state !== 'stopped') {
      throw new AwsApiError('IncorrectState', `Instance '${instanceId}' is not 'running'.`);
    }
    const attached = this.attachedVolumes(instanceId);
    if (device === inst.rootDeviceName || attached.some((v) => v.attachment!.device === device)) {
      throw new AwsApiError('InvalidParameterValue', `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`);
    }
    if (attached.length >= this.maxVolumesPerInstance) {
      throw new AwsApiError('AttachmentLimitExceeded', `The maximum number of attachments for instance '${instanceId}' has been reached.`);
    }
    vol.state = 'in-use';
    vol.attachment = { instanceId, device, state: 'attaching', attachTimeMs: this.clock.nowMs(), deleteOnTermination: false };
    this.emitVolume(vol);
    this.scheduleVolume(vol, this.timings.volumeAttachMs, () => {
      if (vol.attachment?.state !== 'attaching') return;
      vol.attachment.state = 'attached';
      this.emitVolume(vol);
      const owner = this.instancesById.get(instanceId);
      if (owner) this.callHookSync(owner, 'onVolumeAttached', () => this.runtime?.onVolumeAttached?.(owner, vol, device));
    });
    return vol;
  }

  /**
   * DetachVolume. The returned attachment is `detaching`; the volume becomes
   * `available` after the detach delay — unless the instance still uses it and
   * Force is not set, in which case it stays `detaching` (EC2's "stuck detaching").
   */
  detachVolume(volumeId: string, opts: { instanceId?: string; device?: string; force?: boolean } = {}): { volume: SimVolume; attachment: NonNullable<SimVolume['attachment']> } {
    const vol = this.requireVolume(volumeId);
    if (opts.instanceId !== undefined) this.requireInstances([opts.instanceId]);
    const att = vol.attachment;
    if (att === undefined) throw new AwsApiError('IncorrectState', `Volume '${volumeId}' is in the '${vol.state}' state.`);
    if ((opts.instanceId !== undefined && opts.instanceId !== att.instanceId) || (opts.device !== undefined && opts.device !== att.device)) {
      throw new AwsApiError(
        'InvalidAttachment.NotFound',
        `Volume '${volumeId}' is not attached to instance '${opts.instanceId ?? att.instanceId}' as device '${opts.device ?? att.device}'`,
      );
    }
    const inst = this.instancesById.get(att.instanceId);
    if (inst !== undefined && att.device === inst.rootDeviceName && inst.state !== 'stopped') {
      throw new AwsApiError('IncorrectState', `Unable to detach root volume '${volumeId}' from instance '${inst.instanceId}'`);
    }
    if (att.state === 'detaching' && !opts.force) return { volume: vol, attachment: { ...att } };
    att.state = 'detaching';
    this.emitVolume(vol);
    const tryFinish = (): void => {
      const owner = this.instancesById.get(att.instanceId);
      const busy = !opts.force && owner?.state === 'running' && this.runtime?.isVolumeBusy?.(owner, vol) === true;
      if (busy) {
        this.scheduleVolume(vol, this.timings.volumeDetachMs, tryFinish);
        return;
      }
      this.completeDetach(vol);
    };
    this.scheduleVolume(vol, this.timings.volumeDetachMs, tryFinish);
    return { volume: vol, attachment: { ...att } };
  }

  /** CreateTags for instances, volumes, network interfaces, subnets and launch templates. */
  createTags(resourceIds: string[], tags: Tags): void {
    const targets = resourceIds.map((id) => this.taggable(id));
    for (const t of targets) Object.assign(t, tags);
    const now = this.clock.nowMs();
    for (const id of resourceIds) this.emit({ type: 'tags', resourceId: id, atMs: now });
  }

  deleteTags(resourceIds: string[], keys: Array<{ key: string; value?: string }>): void {
    const targets = resourceIds.map((id) => this.taggable(id));
    for (const t of targets) {
      for (const k of keys) if (k.value === undefined || t[k.key] === k.value) delete t[k.key];
    }
  }

  private taggable(id: string): Tags {
    if (id.startsWith('i-')) return this.requireInstances([id])[0]!.tags;
    if (id.startsWith('vol-')) return this.requireVolume(id).tags;
    if (id.startsWith('eni-')) return this.requireNetworkInterface(id).tags;
    if (id.startsWith('subnet-')) return this.requireSubnet(id).tags;
    if (id.startsWith('lt-')) {
      const lt = this.templates.get(id);
      if (lt) return lt.tags;
      throw new AwsApiError('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${id}, does not exist.`);
    }
    throw new AwsApiError('InvalidID', `The ID '${id}' is not valid`);
  }

  /* ---------------- internals ---------------- */

  private createInstance(input: RunInstancesInput, forcedId?: string): SimInstance {
    if (input.minCount < 1 || input.maxCount < 1) {
      throw new AwsApiError('InvalidParameterValue', 'Value for parameter MinCount and MaxCount must be at least 1.');
    }
    if (input.minCount > input.maxCount) {
      throw new AwsApiError('InvalidParameterValue', 'Value for parameter MinCount must be less than or equal to MaxCount.');
    }
    if (input.minCount !== 1 || input.maxCount !== 1) {
      throw new AwsApiError('Unsupported', 'The sandbox launches one instance per request (MinCount=MaxCount=1).');
    }
    const lt = this.resolveTemplate(input.launchTemplate);
    const imageId = input.imageId ?? lt?.imageId;
    if (imageId === undefined) throw new AwsApiError('MissingParameter', 'The request must contain the parameter ImageId');
    const nis = input.networkInterfaces ?? [];
    if (nis.length > 0 && input.subnetId !== undefined) {
      throw new AwsApiError(
        'InvalidParameterCombination',
        'Network interfaces and an instance-level subnet ID may not be specified on the same request',
      );
    }
    if (nis.length > 1) throw new AwsApiError('Unsupported', 'The sandbox supports only the primary network interface (DeviceIndex 0).');

    let subnet: SimSubnet;
    let reusedEni: SimNetworkInterface | undefined;
    const primarySpec = nis[0];
    if (primarySpec !== undefined) {
      if (primarySpec.deviceIndex !== 0) {
        throw new AwsApiError('InvalidParameterValue', 'Each network interface requires a device index and the primary interface must use device index 0.');
      }
      if (primarySpec.networkInterfaceId !== undefined) {
        if (primarySpec.subnetId !== undefined || primarySpec.privateIpAddress !== undefined) {
          throw new AwsApiError(
            'InvalidParameterCombination',
            'A network interface ID and a subnet ID or private IP address may not be specified on the same network interface',
          );
        }
        reusedEni = this.requireNetworkInterface(primarySpec.networkInterfaceId);
        subnet = this.requireSubnet(reusedEni.subnetId);
        if (reusedEni.status !== 'available') {
          throw new AwsApiError('InvalidNetworkInterface.InUse', `Interface: [${reusedEni.networkInterfaceId}] in use.`);
        }
      } else if (primarySpec.subnetId !== undefined) {
        subnet = this.requireSubnet(primarySpec.subnetId);
      } else {
        throw new AwsApiError('InvalidParameterCombination', 'A network interface needs a NetworkInterfaceId or a SubnetId');
      }
    } else if (input.subnetId !== undefined) {
      subnet = this.requireSubnet(input.subnetId);
    } else {
      const candidates = this.allSubnets().filter((s) => input.availabilityZone === undefined || s.availabilityZone === input.availabilityZone);
      const first = candidates[0];
      if (first === undefined) {
        throw new AwsApiError('MissingInput', 'No subnets found for the default VPC. Please specify a subnet.');
      }
      subnet = first;
    }
    if (input.availabilityZone !== undefined && input.availabilityZone !== subnet.availabilityZone) {
      // A reused ENI pins the AZ just like a subnet does: it cannot follow the instance.
      if (reusedEni !== undefined) {
        throw new AwsApiError(
          'InvalidNetworkInterface.InUse',
          `Interface: [${reusedEni.networkInterfaceId}] is in availability zone ${reusedEni.availabilityZone}, not ${input.availabilityZone}.`,
        );
      }
      throw new AwsApiError(
        'InvalidParameterValue',
        `Value (${input.availabilityZone}) for parameter availabilityZone is invalid. Subnet '${subnet.subnetId}' is in the availability zone ${subnet.availabilityZone}`,
      );
    }
    const tagsFor = (type: string): Tags => {
      const out: Tags = {};
      for (const ts of input.tagSpecifications ?? []) if (ts.resourceType === type) Object.assign(out, ts.tags);
      return out;
    };
    for (const ts of input.tagSpecifications ?? []) {
      if (!['instance', 'volume', 'network-interface'].includes(ts.resourceType)) {
        throw new AwsApiError('InvalidParameterValue', `'${ts.resourceType}' is not a valid taggable resource type for this operation.`);
      }
    }
    if (input.privateIpAddress !== undefined && reusedEni === undefined) {
      if (this.allNetworkInterfaces().some((e) => e.privateIpAddress === input.privateIpAddress)) {
        throw new AwsApiError('InvalidIPAddress.InUse', `Address ${input.privateIpAddress} is in use.`);
      }
    }

    // Validation done: from here on the launch cannot fail half-way.
    const now = this.clock.nowMs();
    const instanceId = forcedId ?? hexId('i');
    let eni: SimNetworkInterface;
    let deleteEniOnTermination: boolean;
    if (reusedEni !== undefined) {
      eni = reusedEni;
      deleteEniOnTermination = primarySpec?.deleteOnTermination ?? false;
    } else {
      eni = this.addNetworkInterface({
        subnetId: subnet.subnetId,
        privateIpAddress: primarySpec?.privateIpAddress ?? input.privateIpAddress,
        description: '',
        tags: tagsFor('network-interface'),
      });
      deleteEniOnTermination = primarySpec?.deleteOnTermination ?? true;
    }
    eni.status = 'in-use';
    eni.attachment = {
      attachmentId: hexId('eni-attach'),
      instanceId,
      deviceIndex: 0,
      deleteOnTermination: deleteEniOnTermination,
      status: 'attached',
      attachTimeMs: now,
    };
    this.emit({ type: 'network-interface', networkInterfaceId: eni.networkInterfaceId, status: eni.status, atMs: now });

    const rootDeviceName = '/dev/xvda';
    const root = this.addVolume({ availabilityZone: subnet.availabilityZone, sizeGiB: 8, tags: tagsFor('volume') });
    root.state = 'in-use';
    root.attachment = { instanceId, device: rootDeviceName, state: 'attached', attachTimeMs: now, deleteOnTermination: true };

    const inst: SimInstance = {
      instanceId,
      reservationId: hexId('r'),
      state: 'pending',
      launchTimeMs: now,
      availabilityZone: subnet.availabilityZone,
      subnetId: subnet.subnetId,
      vpcId: subnet.vpcId,
      imageId,
      instanceType: input.instanceType ?? lt?.instanceType ?? 't3.small',
      privateIpAddress: eni.privateIpAddress,
      privateDnsName: eni.privateDnsName,
      primaryNetworkInterfaceId: eni.networkInterfaceId,
      rootDeviceName,
      tags: { ...lt?.instanceTags, ...tagsFor('instance') },
      ...(lt ? { launchTemplate: { launchTemplateId: lt.launchTemplateId, version: this.templateVersion(lt, input.launchTemplate?.version) } } : {}),
      ...(input.clientToken !== undefined ? { clientToken: input.clientToken } : {}),
      stateTransitionReason: '',
      stateReason: { code: 'pending', message: 'pending' },
      statusChecks: { system: 'ok', instance: 'ok' },
    };
    if (lt) inst.tags['aws:ec2launchtemplate:id'] = lt.launchTemplateId;
    if (lt) inst.tags['aws:ec2launchtemplate:version'] = inst.launchTemplate!.version;
    this.instancesById.set(instanceId, inst);
    this.emit({ type: 'instance-state', instanceId, from: undefined, to: 'pending', atMs: now });
    this.schedule(inst, this.timings.pendingMs, () => this.becomeRunning(inst));
    return inst;
  }

  private resolveTemplate(spec: RunInstancesInput['launchTemplate']): SimLaunchTemplate | undefined {
    if (spec === undefined) return undefined;
    if (spec.launchTemplateId !== undefined && spec.launchTemplateName !== undefined) {
      throw new AwsApiError('InvalidParameterCombination', 'Only one of LaunchTemplateId or LaunchTemplateName may be specified.');
    }
    let lt: SimLaunchTemplate | undefined;
    if (spec.launchTemplateId !== undefined) {
      lt = this.templates.get(spec.launchTemplateId);
      if (lt === undefined) {
        throw new AwsApiError(
          'InvalidLaunchTemplateId.NotFound',
          `The specified launch template, with template ID ${spec.launchTemplateId}, does not exist.`,
        );
      }
    } else if (spec.launchTemplateName !== undefined) {
      lt = this.allLaunchTemplates().find((t) => t.launchTemplateName === spec.launchTemplateName);
      if (lt === undefined) {
        throw new AwsApiError(
          'InvalidLaunchTemplateName.NotFoundException',
          `The specified launch template, with template name ${spec.launchTemplateName}, does not exist.`,
        );
      }
    } else {
      throw new AwsApiError('MissingParameter', 'The request must contain the parameter LaunchTemplateId or LaunchTemplateName');
    }
    this.templateVersion(lt, spec.version);
    return lt;
  }

  private templateVersion(lt: SimLaunchTemplate, version: string | undefined): string {
    if (version === undefined || version === '$Default') return String(lt.defaultVersionNumber);
    if (version === '$Latest') return String(lt.latestVersionNumber);
    if (/^\d+$/.test(version) && Number(version) >= 1 && Number(version) <= lt.latestVersionNumber) return version;
    throw new AwsApiError(
      'InvalidLaunchTemplateId.VersionNotFound',
      `Could not find launch template version ${version} for launch template ID ${lt.launchTemplateId}.`,
    );
  }

  private becomeRunning(inst: SimInstance): void {
    if (inst.state !== 'pending') return;
    delete inst.stateReason;
    inst.runningSinceMs = this.clock.nowMs();
    this.setState(inst, 'running');
    void this.callHook(inst, 'onRunning', (rt) => rt.onRunning(inst));
  }

  private finishTermination(inst: SimInstance): void {
    const now = this.clock.nowMs();
    for (const vol of this.attachedVolumes(inst.instanceId)) {
      this.clock.clearTimer(this.volumeTimers.get(vol.volumeId));
      this.volumeTimers.delete(vol.volumeId);
      if (vol.attachment!.deleteOnTermination) {
        vol.state = 'deleted';
        delete vol.attachment;
        this.volumes.delete(vol.volumeId);
        this.emitVolume(vol);
      } else {
        this.completeDetach(vol);
      }
    }
    for (const eni of this.attachedNetworkInterfaces(inst.instanceId)) {
      if (eni.attachment!.deleteOnTermination) {
        this.enis.delete(eni.networkInterfaceId);
      } else {
        delete eni.attachment;
        eni.status = 'available';
        this.emit({ type: 'network-interface', networkInterfaceId: eni.networkInterfaceId, status: eni.status, atMs: now });
      }
    }
    inst.stateReason = { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' };
    this.setState(inst, 'terminated');
    this.schedule(inst, this.timings.terminatedVisibleMs, () => {
      this.instancesById.delete(inst.instanceId);
      this.transitionTimers.delete(inst.instanceId);
      if (inst.clientToken !== undefined) this.tombstones.set(inst.instanceId, inst);
    });
  }

  private completeDetach(vol: SimVolume): void {
    const att = vol.attachment;
    if (att === undefined) return;
    this.volumeTimers.delete(vol.volumeId);
    delete vol.attachment;
    vol.state = 'available';
    this.emitVolume(vol);
    const owner = this.instancesById.get(att.instanceId);
    if (owner) this.callHookSync(owner, 'onVolumeDetached', () => this.runtime?.onVolumeDetached?.(owner, vol));
  }

  private setState(inst: SimInstance, to: InstanceState): void {
    const from = inst.state;
    inst.state = to;
    if (from !== to || to === 'pending') this.emit({ type: 'instance-state', instanceId: inst.instanceId, from, to, atMs: this.clock.nowMs() });
  }

  private schedule(inst: SimInstance, simMs: number, fn: () => void): void {
    if (this.disposed) return;
    this.clock.clearTimer(this.transitionTimers.get(inst.instanceId));
    const handle = this.clock.setTimer(() => {
      if (this.transitionTimers.get(inst.instanceId) === handle) this.transitionTimers.delete(inst.instanceId);
      fn();
    }, simMs);
    this.transitionTimers.set(inst.instanceId, handle);
  }

  private scheduleVolume(vol: SimVolume, simMs: number, fn: () => void): void {
    if (this.disposed) return;
    this.clock.clearTimer(this.volumeTimers.get(vol.volumeId));
    const handle = this.clock.setTimer(() => {
      if (this.volumeTimers.get(vol.volumeId) === handle) this.volumeTimers.delete(vol.volumeId);
      fn();
    }, simMs);
    this.volumeTimers.set(vol.volumeId, handle);
  }

  private callHook(inst: SimInstance, hook: string, run: (rt: InstanceRuntime) => Promise<void>): Promise<void> {
    const rt = this.runtime;
    if (rt === undefined || this.disposed) return Promise.resolve();
    const p = Promise.resolve()
      .then(() => run(rt))
      .catch((err: unknown) => {
        this.emit({ type: 'runtime-error', instanceId: inst.instanceId, hook, error: String(err), atMs: this.clock.nowMs() });
      })
      .finally(() => this.pendingHooks.delete(p));
    this.pendingHooks.add(p);
    return p;
  }

  private callHookSync(inst: SimInstance, hook: string, run: () => void): void {
    try {
      run();
    } catch (err) {
      this.emit({ type: 'runtime-error', instanceId: inst.instanceId, hook, error: String(err), atMs: this.clock.nowMs() });
    }
  }

  private emitVolume(vol: SimVolume): void {
    this.emit({
      type: 'volume-state',
      volumeId: vol.volumeId,
      state: vol.state,
      ...(vol.attachment ? { attachment: vol.attachment.state, instanceId: vol.attachment.instanceId } : {}),
      atMs: this.clock.nowMs(),
    });
  }

  private allocateIp(subnet: SimSubnet): string {
    const [base, bitsStr] = subnet.cidrBlock.split('/') as [string, string];
    const size = 2 ** (32 - Number(bitsStr));
    const start = ipToInt(base);
    const used = new Set(this.allNetworkInterfaces().map((e) => e.privateIpAddress));
    // AWS reserves the first four addresses and the last one of every subnet.
    for (let host = this.nextHost.get(subnet.subnetId) ?? 4; host < size - 1; host++) {
      const ip = intToIp(start + host);
      if (!used.has(ip)) {
        this.nextHost.set(subnet.subnetId, host + 1);
        return ip;
      }
    }
    throw new AwsApiError('InsufficientFreeAddressesInSubnet', `The specified subnet ${subnet.subnetId} has insufficient free addresses`);
  }

  private dnsName(ip: string): string {
    const domain = this.region === 'us-east-1' ? 'ec2.internal' : `${this.region}.compute.internal`;
    return `ip-${ip.replaceAll('.', '-')}.${domain}`;
  }

  private macAddress(): string {
    const b = randomBytes(5);
    return ['0a', ...[...b].map((x) => x.toString(16).padStart(2, '0'))].join(':');
  }
}
