/**
 * The safety invariants of DESIGN §5, checked against the sandbox's ground
 * truth (the simulated nodes, the EC2 world, the target group), not against
 * what the controller believes:
 *
 *  - on every sample: never two targets the balancer routes to whose node
 *    claims active (§5.3; ELB's rule: healthy targets, or every unhealthy one
 *    when none is healthy — a new `initial` target gets no traffic); never
 *    an empty target group while an unsealed node that answers lives (§5.11); a sealed or uninitialized node does not stay routed
 *    (§5.1, §5.4: a definitive answer acts at once; `sealedGraceMs` covers the
 *    tick that has to see it); every data volume exists, in its AZ, attached
 *    to at most one instance that is not gone (§5.6);
 *  - on every mutating call the controller makes, at the moment it makes it:
 *    no deregistration that empties the group while an unsealed node answers
 *    (§5.11: one round trip of an empty group is shorter than a sample);
 *    none in dry run (§5.9); none while probe-blind (§5.2, after a grace for
 *    the tick that probed before the cut); no target registered whose node was
 *    sealed or uninitialized when its tick probed it; the lock item deleted
 *    only with §5.10's evidence (the holder dead: instance not running, Vault
 *    not running, or refusing connections; or a zombie under
 *    `fencing: break-lock`), never blind, never in dry run;
 *  - at the end: no unseal share or token in anything the control plane
 *    logged, reported, notified, stored or sent (§5.7).
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Sandbox } from '../environment.js';
import type { AwsCall, CallObserver } from './aws-faults.js';

export interface Violation {
  invariant: string;
  atMs: number;
  detail: string;
}

export interface MonitorOptions {
  /** policy.dryRun of the controller under test. */
  dryRun: boolean;
  /** policy.fencing of the controller under test. */
  fencing: string;
  /** The Vault lock table (DynamoDB HA) and the control table. */
  lockTable: string | undefined;
  controlTable: string;
  /** Real ms a sealed node may stay registered (the tick that sees it, plus one). */
  sealedGraceMs: number;
  /** Real ms after the cut during which a mutation may still come from a tick that probed before it. */
  blindGraceMs: number;
}

const MUTATIONS = new Set(['RegisterTargets', 'DeregisterTargets', 'RegisterInstancesWithLoadBalancer', 'DeregisterInstancesFromLoadBalancer']);

export class InvariantMonitor implements CallObserver {
  checks = 0;
  readonly violations: Violation[] = [];
  /** Mutating calls the controller made (successful ones), for the report. */
  mutations = 0;
  private blindSinceMs: number | undefined;
  /** Slots whose node's answers are faulted on purpose (partitioned, garbage...): not "an unsealed node that answers". */
  private readonly muted = new Set<string>();
  /** instance id → since when (real ms) its node has been seen sealed while registered. */
  private readonly sealedRegistered = new Map<string, number>();
  /** node name → since when (real ms) it has been seen sealed or uninitialized. */
  private readonly sealedSince = new Map<string, number>();
  /** Extra strings the run produced (state machine outputs, CLI output...), searched for secrets at the end. */
  private readonly artefacts: string[] = [];
  private readonly logLines: string[] = [];

  constructor(
    private readonly sb: Sandbox,
    private readonly opts: MonitorOptions,
  ) {}

  /* ------------------------------------------------------------ fault bookkeeping */

  /** The controller runs with policy.dryRun (from its next invocation on). */
  setDryRun(on: boolean): void {
    this.opts.dryRun = on;
  }

  setBlind(on: boolean, atMs = Date.now()): void {
    this.blindSinceMs = on ? atMs : undefined;
  }

  mute(slot: string, on: boolean): void {
    if (on) this.muted.add(slot);
    else this.muted.delete(slot);
  }

  addArtefact(text: string): void {
    this.artefacts.push(text);
  }

  addLogLine(text: string): void {
    this.logLines.push(text);
    if (this.logLines.length > 50_000) this.logLines.splice(0, 10_000);
  }

  private violate(invariant: string, detail: string, atMs = Date.now()): void {
    // One record per distinct breach is enough for the report; all are counted.
    this.violations.push({ invariant, atMs, detail: detail.slice(0, 500) });
  }

  private check(ok: boolean, invariant: string, detail: () => string): void {
    this.checks += 1;
    if (!ok) this.violate(invariant, detail());
  }

  /* ------------------------------------------------------------ every sample */

  sample(): void {
    const sb = this.sb;
    const s = sb.sample();
    if (!s) return;
    const now = s.atMs;
    this.trackSealed(now);
    this.check(s.routedClaimants.length <= 1, 'never two actives routed', () => `routed claimants ${s.routedClaimants.join(', ')} (registered ${ids(s.registered)})`);

    const answering = this.answeringUnsealed();
    this.check(
      s.registered.length > 0 || answering.length === 0,
      'never an empty target group while an unsealed node lives',
      () => `no registered target while ${answering.map((a) => a.name).join(', ')} unsealed and answering`,
    );

    for (const r of s.registered) {
      const node = sb.runtime.nodeHostedOn(r.instanceId);
      const st = node?.status();
      const sealed = st !== undefined && st.running && (st.sealed || !st.initialized);
      if (!sealed) {
        this.sealedRegistered.delete(r.instanceId);
        continue;
      }
      const since = this.sealedRegistered.get(r.instanceId) ?? now;
      this.sealedRegistered.set(r.instanceId, since);
      this.check(now - since <= this.opts.sealedGraceMs, 'sealed or uninitialized never routed', () => `${r.instanceId} (${node!.name}) sealed and registered for ${now - since} ms`);
      if (now - since > this.opts.sealedGraceMs) this.sealedRegistered.set(r.instanceId, now); // one violation per grace period
    }

    this.checkVolumes();
  }

  /** Unsealed nodes that answer clients on a running instance (not faulted on purpose). */
  private answeringUnsealed(): Sandbox['slots'] {
    const sb = this.sb;
    return sb.slots.filter((slot) => {
      const st = slot.node.status();
      const host = sb.runtime.hostOf(slot.node);
      const inst = host ? sb.aws.world.instance(host) : undefined;
      return st.running && !st.sealed && st.initialized && st.clientPartition === 'none' && !this.muted.has(slot.name) && inst?.state === 'running';
    });
  }

  private trackSealed(now: number): void {
    for (const slot of this.sb.slots) {
      const st = slot.node.status();
      const sealed = st.running && (st.sealed || !st.initialized);
      if (!sealed) this.sealedSince.delete(slot.node.name);
      else if (!this.sealedSince.has(slot.node.name)) this.sealedSince.set(slot.node.name, now);
    }
  }

  /** §5.6: every data volume exists, stays in its AZ and is attached to at most one instance that is not gone. */
  checkVolumes(): void {
    const world = this.sb.aws.world;
    const seen = new Map<string, string>();
    for (const inst of world.instances()) {
      for (const v of world.attachedVolumes(inst.instanceId)) {
        const other = seen.get(v.volumeId);
        this.check(other === undefined, 'a data volume is attached to at most one instance', () => `${v.volumeId} on ${other} and ${inst.instanceId}`);
        seen.set(v.volumeId, inst.instanceId);
      }
    }
    for (const slot of this.sb.slots) {
      const vol = world.volume(slot.volumeId);
      this.check(vol !== undefined && vol.state !== 'deleted', 'a data volume is never lost', () => `${slot.volumeId} of ${slot.name}: ${vol?.state ?? 'gone'}`);
      if (!vol) continue;
      this.check(vol.availabilityZone === slot.availabilityZone, 'a data volume stays in its AZ', () => `${slot.volumeId} in ${vol.availabilityZone}, slot in ${slot.availabilityZone}`);
      const att = vol.attachment;
      if (att === undefined) continue;
      const holder = world.instance(att.instanceId);
      this.check(
        holder !== undefined && holder.state !== 'terminated' && holder.availabilityZone === vol.availabilityZone,
        'a data volume is attached only to a live instance in its AZ',
        () => `${slot.volumeId} ${att.state} to ${att.instanceId} (${holder?.state ?? 'unknown'}, ${holder?.availabilityZone ?? '?'})`,
      );
    }
  }

  /* ------------------------------------------------------------ every mutating call */

  before(call: AwsCall): void {
    const lockDelete = call.service === 'dynamodb' && call.operation === 'DeleteItem' && this.opts.lockTable !== undefined && call.input['TableName'] === this.opts.lockTable;
    const targetChange = call.service === 'elbv2' && MUTATIONS.has(call.operation);
    if (!lockDelete && !targetChange) return;
    const what = `${call.operation}${targetChange ? ` ${targetIds(call).join(',')}` : ''}`;

    this.check(!this.opts.dryRun, 'dry run mutates nothing', () => `${what} in dry run`);
    const blindFor = this.blindSinceMs === undefined ? 0 : call.atMs - this.blindSinceMs;
    this.check(this.blindSinceMs === undefined || blindFor <= this.opts.blindGraceMs, 'probe-blind changes nothing', () => `${what} ${blindFor} ms into probe blindness`);

    if (call.operation === 'RegisterTargets') {
      for (const id of targetIds(call)) {
        const node = this.sb.runtime.nodeHostedOn(id);
        const since = node ? this.sealedSince.get(node.name) : undefined;
        const sealedFor = since === undefined ? 0 : call.atMs - since;
        this.check(sealedFor <= this.opts.sealedGraceMs, 'sealed or uninitialized never registered', () => `RegisterTargets ${id}: ${node?.name} sealed for ${sealedFor} ms`);
      }
    }
    if (call.operation === 'DeregisterTargets' || call.operation === 'DeregisterInstancesFromLoadBalancer') this.checkDeregistration(call);
    if (lockDelete) this.checkLockDelete(call);
  }

  /**
   * §5.11 at the moment of the call, not only at the 100 ms samples: a
   * deregistration that would leave no registered target while an unsealed node
   * answers (one API round trip of an empty group is shorter than a sample).
   */
  private checkDeregistration(call: AwsCall): void {
    const leaving = new Set(targetIds(call).map((id) => this.sb.instanceOfTarget(id)));
    const remaining = this.sb.registeredTargets().filter((r) => !leaving.has(r.instanceId));
    const answering = this.answeringUnsealed();
    this.check(
      remaining.length > 0 || answering.length === 0,
      'never an empty target group while an unsealed node lives',
      () => `${call.operation} ${[...leaving].join(',')} leaves no registered target while ${answering.map((a) => a.name).join(', ')} unsealed and answering`,
    );
  }

  after(call: AwsCall, ok: boolean): void {
    if (!ok) return;
    if ((call.service === 'elbv2' && MUTATIONS.has(call.operation)) || (call.operation === 'DeleteItem' && call.input['TableName'] === this.opts.lockTable)) this.mutations += 1;
  }

  /** §5.10 (and break-lock fencing): whose lock is being deleted, and is the evidence there right now? */
  private checkLockDelete(call: AwsCall): void {
    const values = call.input['ExpressionAttributeValues'] as Record<string, { B?: Uint8Array; N?: string }> | undefined;
    const raw = values?.[':identity']?.B;
    const identity = raw ? new TextDecoder().decode(raw) : undefined;
    this.check(identity !== undefined, 'the lock is deleted only conditionally on the observed Identity', () => `DeleteItem on ${this.opts.lockTable} without an Identity condition`);
    const holder = this.sb.slots.find((s) => s.node.status().lockIdentity === identity);
    if (!holder) {
      // No live process holds that Identity: the holder is dead (a restarted
      // node gets a new Identity) or already lost the lock; the condition decides.
      this.checks += 1;
      return;
    }
    const st = holder.node.status();
    const host = this.sb.runtime.hostOf(holder.node);
    const inst = host ? this.sb.aws.world.instance(host) : undefined;
    const dead = !st.running || inst === undefined || inst.state !== 'running' || st.clientPartition === 'refuse';
    const zombie = this.opts.fencing === 'break-lock' && st.clientPartition !== 'none';
    this.check(
      dead || zombie,
      'the lock is deleted only with the §5.10 evidence',
      () => `DeleteItem of ${holder.name}'s lock (Identity ${identity}) while it runs (${inst?.state ?? '?'}), answers (${st.clientPartition}) and holds the lock`,
    );
  }

  /* ------------------------------------------------------------ at the end */

  /** §5.7: no share and no token in any log line, report, notification, control-table item, SSM command or run output. */
  async checkSecrets(): Promise<void> {
    const sb = this.sb;
    const secrets = [...sb.shares, sb.rootToken];
    const haystacks: Array<[string, string]> = [
      ['controller reports', JSON.stringify(sb.controller.ticks)],
      ['controller tick log', JSON.stringify(sb.controller.tickLog)],
      ['controller log lines', this.logLines.join('\n')],
      ['SNS notifications', JSON.stringify(sb.aws.sns.messages())],
      ['run outputs', this.artefacts.join('\n')],
      ['Lambda environment', JSON.stringify(process.env)],
    ];
    try {
      const items: unknown[] = [];
      let start: Record<string, unknown> | undefined;
      for (let page = 0; page < 100; page++) {
        const out = await sb.dynamo.client.send(new ScanCommand({ TableName: this.opts.controlTable, ...(start ? { ExclusiveStartKey: start as never } : {}) }));
        items.push(...(out.Items ?? []));
        start = out.LastEvaluatedKey;
        if (!start) break;
      }
      haystacks.push(['control table items', JSON.stringify(items)]);
    } catch (err) {
      this.violate('no secret in logs or payloads', `could not scan the control table: ${String(err)}`);
    }
    for (const [where, text] of haystacks) {
      this.check(!secrets.some((x) => text.includes(x)), 'no secret in logs or payloads', () => `an unseal share or token appears in the ${where}`);
    }
    this.check(!sb.ssm.auditContainsAny(secrets), 'no secret in logs or payloads', () => 'an unseal share or token appears in an SSM command or its output');
  }
}

function targetIds(call: AwsCall): string[] {
  const targets = call.input['Targets'] as Array<{ Id?: string }> | undefined;
  const instances = call.input['Instances'] as Array<{ InstanceId?: string }> | undefined;
  return [...(targets ?? []).map((t) => t.Id ?? '?'), ...(instances ?? []).map((i) => i.InstanceId ?? '?')];
}

function ids(xs: Array<{ instanceId: string }>): string {
  return xs.map((x) => x.instanceId).join(', ') || '(none)';
}
