/**
 * Binds the EC2 world to simulated Vault nodes: what "booting an instance"
 * means in the sandbox, and the SSM agent each running instance offers to the
 * project's documents.
 *
 * A Vault node's identity and data belong to its slot's DATA VOLUME, not to an
 * instance (Raft data, the node id, the file audit log all live there). So a
 * replacement instance that gets the volume attached, mounts it and starts
 * Vault (the VaultHA-PrepareNode document) brings back the same node — same
 * name, same port when free — sealed under Shamir, to be unsealed from the
 * SecureString shares the document reads on the node.
 *
 * What the OS on an instance does, modelled after a systemd unit with the
 * volume in /etc/fstab:
 *  - boot with the data volume attached (first boot of the pre-existing
 *    cluster, or a stop/start): mount it and start Vault (sealed);
 *  - OS shutdown (StopInstances / TerminateInstances): Vault stops gracefully
 *    (steps down and releases the lock, as systemd's SIGTERM makes it do), the
 *    SSM agent goes ConnectionLost;
 *  - a volume that disappears under a running Vault (forced detach): the
 *    process dies with its storage.
 */
import type { InstanceRuntime, SimInstance, SimVolume, World } from './aws/world.js';
import type { SsmServer } from './aws/ssm.js';
import type { SimAgent, VaultStopSignal } from './aws/ssm-documents.js';
import type { SimulatedVaultNode } from './sim/index.js';

export const DEFAULT_URL_TAG_KEY = 'vault-url';

export interface RuntimeEvent {
  atMs: number;
  instanceId: string;
  kind: 'agent-online' | 'agent-lost' | 'mounted' | 'unmounted' | 'vault-started' | 'vault-stopped' | 'vault-killed' | 'error';
  detail: string;
}

export interface SandboxRuntimeOptions {
  world: World;
  ssm: SsmServer;
  /** The simulated node that lives on each data volume (volume id → node). */
  nodesByVolume: ReadonlyMap<string, SimulatedVaultNode>;
  urlTagKey?: string;
  /** Where a data volume is mounted when the OS mounts it at boot (fstab). */
  defaultMountPoint?: string;
  onEvent?: (event: RuntimeEvent) => void;
}

export class NoDataVolumeMountedError extends Error {
  override readonly name = 'NoDataVolumeMountedError';
  constructor(readonly instanceId: string) {
    super(`no Vault data volume is mounted on ${instanceId}: Vault would start with empty storage (not simulated)`);
  }
}

export class VolumeNotAttachedError extends Error {
  override readonly name = 'VolumeNotAttachedError';
  constructor(
    readonly instanceId: string,
    readonly volumeId: string,
  ) {
    super(`volume ${volumeId} is not attached to ${instanceId}`);
  }
}

export class VaultHostedElsewhereError extends Error {
  override readonly name = 'VaultHostedElsewhereError';
  constructor(
    readonly volumeId: string,
    readonly instanceId: string,
    readonly hostInstanceId: string,
  ) {
    super(`the Vault node of ${volumeId} still runs on ${hostInstanceId}; cannot start it on ${instanceId}`);
  }
}

export class SandboxRuntime implements InstanceRuntime {
  private readonly world: World;
  private readonly ssm: SsmServer;
  private readonly nodesByVolume: ReadonlyMap<string, SimulatedVaultNode>;
  private readonly urlTagKey: string;
  private readonly defaultMountPoint: string;
  private readonly onEvent: ((event: RuntimeEvent) => void) | undefined;
  /** instance id → (volume id → mount point). */
  private readonly mounts = new Map<string, Map<string, string>>();
  /** volume id → instance id whose Vault process runs the volume's node. */
  private readonly hosts = new Map<string, string>();
  /**
   * Runs after Vault started at boot. The pre-existing cluster is unsealed by
   * the sandbox set-up here (it "was unsealed before the sandbox started");
   * unset afterwards, so every later boot comes up sealed.
   */
  afterBootStart: ((node: SimulatedVaultNode) => Promise<void>) | undefined;

  constructor(opts: SandboxRuntimeOptions) {
    this.world = opts.world;
    this.ssm = opts.ssm;
    this.nodesByVolume = opts.nodesByVolume;
    this.urlTagKey = opts.urlTagKey ?? DEFAULT_URL_TAG_KEY;
    this.defaultMountPoint = opts.defaultMountPoint ?? '/opt/vault/data';
    this.onEvent = opts.onEvent;
  }

  // ------------------------------------------------------------ InstanceRuntime

  async onRunning(instance: SimInstance): Promise<void> {
    const id = instance.instanceId;
    this.ssm.registerAgent(id, this.agentFor(id));
    this.emit(id, 'agent-online', 'SSM agent Online');
    // fstab + an enabled vault unit: a data volume attached at boot is mounted and Vault starts.
    const atBoot = this.world.attachedVolumes(id).filter((v) => v.attachment?.state === 'attached' && this.nodesByVolume.has(v.volumeId));
    for (const vol of atBoot) this.mount(id, vol.volumeId, this.defaultMountPoint);
    if (atBoot.length > 0) {
      const node = await this.startVault(id);
      if (this.afterBootStart) await this.afterBootStart(node);
    }
  }

  async onStopping(instance: SimInstance): Promise<void> {
    const id = instance.instanceId;
    this.ssm.unregisterAgent(id);
    this.emit(id, 'agent-lost', 'SSM agent ConnectionLost (OS shutdown)');
    const node = this.nodeHostedOn(id);
    if (node) {
      await node.stop();
      this.emit(id, 'vault-stopped', `${node.name} stopped by the OS shutdown`);
    }
    for (const [volumeId, host] of this.hosts) if (host === id) this.hosts.delete(volumeId);
    this.mounts.delete(id);
  }

  onVolumeDetached(instance: SimInstance, volume: SimVolume): void {
    const id = instance.instanceId;
    const wasMounted = this.mounts.get(id)?.delete(volume.volumeId) ?? false;
    if (wasMounted) this.emit(id, 'unmounted', `${volume.volumeId} vanished (detached)`);
    if (this.hosts.get(volume.volumeId) === id) {
      this.hosts.delete(volume.volumeId);
      const node = this.nodesByVolume.get(volume.volumeId);
      if (node) {
        // Storage gone under a running process: it dies, leaving the lock to expire.
        void node.kill().then(() => this.emit(id, 'vault-killed', `${node.name} lost its storage`));
      }
    }
  }

  isVolumeBusy(instance: SimInstance, volume: SimVolume): boolean {
    return this.mounts.get(instance.instanceId)?.has(volume.volumeId) ?? false;
  }

  // ------------------------------------------------------------ what the OS offers

  /** The simulated node whose Vault process runs on this instance, if any. */
  nodeHostedOn(instanceId: string): SimulatedVaultNode | undefined {
    for (const [volumeId, host] of this.hosts) if (host === instanceId) return this.nodesByVolume.get(volumeId);
    return undefined;
  }

  /** The instance currently hosting the node (its Vault process may be stopped). */
  hostOf(node: SimulatedVaultNode): string | undefined {
    for (const [volumeId, n] of this.nodesByVolume) if (n === node) return this.hosts.get(volumeId);
    return undefined;
  }

  /** The node stored on a data volume mounted on this instance, if any. */
  nodeMountedOn(instanceId: string): { volumeId: string; node: SimulatedVaultNode } | undefined {
    for (const volumeId of this.mounts.get(instanceId)?.keys() ?? []) {
      const node = this.nodesByVolume.get(volumeId);
      if (node) return { volumeId, node };
    }
    return undefined;
  }

  hasVolume(instanceId: string, volumeId: string): boolean {
    const vol = this.world.volume(volumeId);
    return vol?.attachment?.instanceId === instanceId && vol.attachment.state === 'attached';
  }

  mount(instanceId: string, volumeId: string, mountPoint: string): void {
    if (!this.hasVolume(instanceId, volumeId)) throw new VolumeNotAttachedError(instanceId, volumeId);
    let m = this.mounts.get(instanceId);
    if (!m) {
      m = new Map();
      this.mounts.set(instanceId, m);
    }
    if (m.get(volumeId) === mountPoint) return;
    m.set(volumeId, mountPoint);
    this.emit(instanceId, 'mounted', `${volumeId} on ${mountPoint}`);
  }

  /**
   * `systemctl start vault`: starts the node whose data volume is mounted here
   * (sealed under Shamir) and publishes its URL as the instance's address tag.
   * Idempotent while it runs.
   */
  async startVault(instanceId: string): Promise<SimulatedVaultNode> {
    const mounted = this.nodeMountedOn(instanceId);
    if (!mounted) throw new NoDataVolumeMountedError(instanceId);
    const { volumeId, node } = mounted;
    const host = this.hosts.get(volumeId);
    if (host !== undefined && host !== instanceId && node.status().running) throw new VaultHostedElsewhereError(volumeId, instanceId, host);
    this.hosts.set(volumeId, instanceId);
    if (!node.status().running) {
      // restart() keeps the node's port when it is free, so its address survives a new instance.
      const url = node.baseUrl === undefined ? await node.start() : await node.restart();
      this.emit(instanceId, 'vault-started', `${node.name} listening on ${url}`);
    }
    const url = node.baseUrl;
    if (url !== undefined && this.world.instance(instanceId)?.tags[this.urlTagKey] !== url) {
      this.world.setInstanceTag(instanceId, this.urlTagKey, url);
    }
    return node;
  }

  async stopVault(instanceId: string, signal: VaultStopSignal): Promise<void> {
    const node = this.nodeHostedOn(instanceId);
    if (!node) return;
    if (signal === 'SIGKILL') {
      await node.kill();
      this.emit(instanceId, 'vault-killed', `${node.name} killed (SIGKILL)`);
    } else {
      await node.stop();
      this.emit(instanceId, 'vault-stopped', `${node.name} stopped (SIGTERM)`);
    }
  }

  agentFor(instanceId: string): SimAgent {
    const runtime = this;
    const inst = this.world.instance(instanceId);
    return {
      instanceId,
      ...(inst ? { ipAddress: inst.privateIpAddress, computerName: inst.privateDnsName } : {}),
      get vault() {
        const node = runtime.nodeHostedOn(instanceId);
        const url = node?.baseUrl;
        return node && url !== undefined && node.status().running ? { baseUrl: url } : undefined;
      },
      hasVolume: (volumeId) => runtime.hasVolume(instanceId, volumeId),
      mount: async (volumeId, mountPoint) => runtime.mount(instanceId, volumeId, mountPoint),
      startVault: async () => {
        await runtime.startVault(instanceId);
      },
      stopVault: (signal) => runtime.stopVault(instanceId, signal),
      drill: {
        seal: async () => {
          const node = runtime.nodeHostedOn(instanceId);
          if (!node || !node.status().running) return 'down';
          if (!node.isActive()) return 'standby';
          await node.seal();
          return 'sealed';
        },
        partitionClients: async (on) => {
          await runtime.nodeHostedOn(instanceId)?.partitionClients(on, 'refuse');
        },
        partitionStorage: (on) => runtime.nodeHostedOn(instanceId)?.partitionStorage(on),
      },
    };
  }

  private emit(instanceId: string, kind: RuntimeEvent['kind'], detail: string): void {
    this.onEvent?.({ atMs: Date.now(), instanceId, kind, detail });
  }
}
