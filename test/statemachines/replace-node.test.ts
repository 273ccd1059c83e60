/**
 * replace-node, executed: the real ASL definition runs in the local
 * interpreter (sandbox/stepfunctions/runner.ts) with the real task code,
 * against a stateful fake of EC2/ELBv2/SSM/SNS (aws-sdk-client-mock) and an
 * in-process DynamoDB (dynalite) holding the control table. Waits and retry
 * intervals are compressed to 0 ms; every loop stays bounded by its counter.
 */
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { AttachVolumeCommand, DescribeInstancesCommand, DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { loadDefinition, resolveIntrinsics, runStateMachine, type RunStateMachineResult, type SdkClientLike } from '../../sandbox/stepfunctions/runner.js';
import { makeReplaceNodeHandler } from '../../functions/handlers/replace-node.js';
import { acquireLease, readLease, releaseLease } from '../../functions/adapters/control-table.js';
import { DOCUMENT_PARAMETERS } from '../../functions/adapters/ssm-run.js';
import { silentLogger } from '../../functions/handlers/lib/logger.js';
import type { ReplacementReport } from '../../functions/core/replacement.js';
import { createControlTable, startDynalite, type DynaliteHandle } from '../support/dynalite.js';
import { config, type ConfigOptions } from '../unit/replacement/fixtures.js';
import { FakeAws, sdkError, type Faults } from '../unit/replacement/fake-aws.js';
import { A, B, C, MUTATING, TABLE, validateAsl } from './support.js';


const definition = await loadDefinition('statemachines/replace-node.asl.yml');
let dyn: DynaliteHandle;
let aws: FakeAws | undefined;
let extraMocks: Array<AwsClientStub<EC2Client>> = [];
let execSeq = 0;

beforeAll(async () => {
  dyn = await startDynalite();
  await createControlTable(dyn.client, TABLE);
});
afterAll(async () => {
  await dyn.close();
});
afterEach(() => {
  aws?.restore();
  aws = undefined;
  for (const m of extraMocks.splice(0)) m.restore();
});

interface Scenario {
  config?: ConfigOptions;
  faults?: Faults;
  /** Vault state of the slot vault-b's current instance. */
  oldVault?: 'active' | 'standby' | 'sealed' | 'down';
  /** Vault state of the vault-c node. */
  cVault?: 'active' | 'standby' | 'sealed' | 'down';
  /** The EC2 client the state machine's own SDK integrations use (default: the fake's, shared with the task code). */
  sfnEc2?: (fake: FakeAws) => SdkClientLike;
}

/** prod: vault-a (A, active), vault-b (B, standby, vol-0b with DeleteOnTermination=true, eni-0b primary), vault-c (C, standby). */
function world(s: Scenario = {}) {
  const fake = new FakeAws();
  aws = fake;
  fake.faults = s.faults ?? {};
  const oldVault = s.oldVault ?? 'standby';
  fake.addInstance({ id: A, slot: 'vault-a', az: 'eu-west-1a', subnet: 'subnet-0a', vault: oldVault === 'active' ? 'standby' : 'active' });
  fake.addInstance({ id: B, slot: 'vault-b', vault: oldVault });
  fake.addInstance({ id: C, slot: 'vault-c', az: 'eu-west-1c', subnet: 'subnet-0c', vault: s.cVault ?? 'standby' });
  fake.addVolume({ id: 'vol-0a', az: 'eu-west-1a', attachment: { instanceId: A, device: '/dev/sdf', state: 'attached', deleteOnTermination: false } });
  fake.addVolume({ id: 'vol-0b', az: 'eu-west-1b', attachment: { instanceId: B, device: '/dev/sdf', state: 'attached', deleteOnTermination: true } });
  fake.addVolume({ id: 'vol-0c', az: 'eu-west-1c', attachment: { instanceId: C, device: '/dev/sdg', state: 'attached', deleteOnTermination: false } });
  fake.addEni({ id: 'eni-0a', subnet: 'subnet-0a', az: 'eu-west-1a', attachment: { instanceId: A, attachmentId: 'eni-attach-a', deviceIndex: 0, deleteOnTermination: false } });
  fake.addEni({ id: 'eni-0b', subnet: 'subnet-0b', az: 'eu-west-1b', attachment: { instanceId: B, attachmentId: 'eni-attach-b', deviceIndex: 0, deleteOnTermination: false } });
  fake.targets.add(A).add(B);
  const cfg = config(s.config);
  const handler = makeReplaceNodeHandler({
    loadConfig: async () => cfg,
    clients: () => ({ ec2: fake.ec2, elbv2: fake.elbv2, ssm: fake.ssm, ddb: dyn.client }),
    probe: (address) => fake.probe(address),
    nowMs: () => Date.now(),
    sleep: async () => undefined,
    env: {},
    logger: silentLogger,
    compensationSettleMs: 0,
  });
  const run = (input: unknown, executionName = `exec-${process.pid}-${++execSeq}`): Promise<RunStateMachineResult> =>
    runStateMachine(definition, input, {
      lambdaHandlers: { replaceNodeTasks: handler },
      sdkClients: { ec2: s.sfnEc2 ? s.sfnEc2(fake) : fake.ec2, elasticloadbalancingv2: fake.elbv2, ssm: fake.ssm, sns: fake.sns },
      waitTimeOverrides: () => 0,
      retryIntervalOverrides: () => 0,
      executionName,
      stateMachineName: 'replaceNode',
      maxTransitions: 500,
      timeoutMs: 30_000,
    });
  return { fake, run };
}

const mutations = (fake: FakeAws): string[] => fake.callLog.filter((c) => MUTATING.includes(c));
const failureReport = (r: RunStateMachineResult): ReplacementReport => JSON.parse(r.cause ?? '{}') as ReplacementReport;
const output = (r: RunStateMachineResult): ReplacementReport => r.output as ReplacementReport;

async function leaseHolder(): Promise<string | undefined> {
  return (await readLease(dyn.client, TABLE, { cluster: 'prod', scope: 'operation' }))?.owner;
}

describe('replace-node definition', () => {
  it('is valid ASL once the serverless intrinsics are resolved', () => {
    const r = validateAsl(resolveIntrinsics(definition), { checkArn: true, checkPaths: true });
    assert.equal(r.isValid, true, r.errorsText('\n'));
  });

  it('gives every Task a Retry with FULL jitter and a Catch, except Compensate which catches into its own fallback', () => {
    for (const [name, s] of Object.entries(definition.States) as unknown as Array<[string, Record<string, unknown>]>) {
      if (s.Type !== 'Task') continue;
      const retry = s.Retry as Array<{ JitterStrategy?: string; MaxAttempts?: number }> | undefined;
      assert.ok(retry && retry.length > 0, `${name} has no Retry`);
      for (const r of retry) assert.equal(r.JitterStrategy, 'FULL', `${name} retrier without jitter`);
      assert.ok(Array.isArray(s.Catch) && (s.Catch as unknown[]).length > 0, `${name} has no Catch`);
    }
  });
});

describe('replace-node happy path', () => {
  it('replaces the slot\'s node and reports the new instance, the volume on it, and every phase', async () => {
    const { fake, run } = world({ config: { topic: true } });
    const r = await run({ cluster: 'prod', slot: 'vault-b', reason: 'EC2 status check failed' }, 'happy-1');
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    const report = output(r);
    const [newInst] = fake.launched();
    assert.ok(newInst);
    assert.equal(report.result, 'replaced');
    assert.equal(report.newInstance?.instanceId, newInst.id);
    assert.equal(report.oldInstance?.instanceId, B);
    assert.match(report.volume?.location ?? '', new RegExp(`attached to ${newInst.id}`));
    assert.equal(report.networkInterface?.networkInterfaceId, 'eni-0b');
    assert.deepEqual(
      report.phases.map((p) => p.name),
      ['validate', 'acquire-lease', 'inspect', 'retire-old-instance', 'wait-volume-available', 'launch', 'wait-running', 'attach-volume', 'wait-ssm-online', 'prepare-node', 'wait-standby', 'release-lease'],
    );
    for (const p of report.phases) {
      assert.match(p.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(Date.parse(p.end) - Date.parse(p.start), p.durationMs);
    }
    assert.ok(r.transitions >= r.history.length && r.transitions > 20);
  });

  it('launches from the launch template in the slot, reusing the slot interface as primary, with a client token and the slot tags', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', slot: 'vault-b' }, 'happy-launch');
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const { RunInstancesCommand } = await import('@aws-sdk/client-ec2');
    const calls = fake.ec2Mock.commandCalls(RunInstancesCommand);
    assert.equal(calls.length, 1);
    const input = calls[0]!.args[0].input;
    assert.deepEqual(input.LaunchTemplate, { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '$Latest' });
    assert.deepEqual(input.NetworkInterfaces, [{ DeviceIndex: 0, NetworkInterfaceId: 'eni-0b' }]);
    assert.equal(input.SubnetId, undefined, 'a SubnetId beside NetworkInterfaces is rejected by EC2');
    assert.equal(input.Placement?.AvailabilityZone, 'eu-west-1b');
    assert.ok(input.ClientToken && input.ClientToken.includes('happy-launch') && input.ClientToken.length <= 64);
    const tags = Object.fromEntries((input.TagSpecifications?.[0]?.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags['vault-cluster'], 'prod');
    assert.equal(tags['vault-slot'], 'vault-b');
  });

  it('attaches the data volume at the configured device, after the old instance released it', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const { AttachVolumeCommand } = await import('@aws-sdk/client-ec2');
    const [attach] = fake.ec2Mock.commandCalls(AttachVolumeCommand);
    assert.deepEqual(attach?.args[0].input, { VolumeId: 'vol-0b', InstanceId: fake.launched()[0]!.id, Device: '/dev/sdf' });
    assert.ok(fake.callLog.indexOf('TerminateInstances') < fake.callLog.indexOf('AttachVolume'));
  });

  it('keeps the data volume across termination of the old instance (DeleteOnTermination flipped first)', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.equal(fake.volumes.get('vol-0b')?.deleted, undefined);
    assert.ok(fake.callLog.indexOf('ModifyInstanceAttribute') < fake.callLog.indexOf('TerminateInstances'));
  });

  it('deregisters the old instance from the target group before terminating it', async () => {
    const { fake, run } = world();
    await run({ cluster: 'prod', slot: 'vault-b' });
    const { DeregisterTargetsCommand } = await import('@aws-sdk/client-elastic-load-balancing-v2');
    const [call] = fake.elbMock.commandCalls(DeregisterTargetsCommand);
    assert.deepEqual(call?.args[0].input.Targets, [{ Id: B, Port: 8200 }]);
    assert.ok(fake.callLog.indexOf('DeregisterTargets') < fake.callLog.indexOf('TerminateInstances'));
  });

  it('sends PrepareNode with parameter names and paths only, never a share', async () => {
    const { fake, run } = world();
    await run({ cluster: 'prod', slot: 'vault-b' });
    const prepare = fake.commands.find((c) => c.document === 'VaultHA-PrepareNode');
    assert.ok(prepare);
    // Every parameter it sends is one the document declares (SSM rejects any other with InvalidParameters).
    assert.deepEqual(Object.keys(prepare.parameters).sort(), [...DOCUMENT_PARAMETERS.prepareNode].sort());
    assert.deepEqual(prepare.parameters.SharesParameterPrefix, ['/vault/prod/unseal/']);
    assert.deepEqual(prepare.parameters.UnsealMode, ['shamir']);
    // The slot's volume is reattached with its data: never formatted.
    assert.deepEqual(prepare.parameters.AllowFormat, ['false']);
  });

  it('releases the lease and notifies once with the report', async () => {
    const { fake, run } = world({ config: { topic: true } });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.equal(await leaseHolder(), undefined);
    assert.equal(fake.published.length, 1);
    assert.equal((JSON.parse(fake.published[0]!.message ?? '{}') as ReplacementReport).result, 'replaced');
  });

  it('accepts an instanceId input and resolves its slot from the instance tags', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', instanceId: B });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.equal(output(r).slot, 'vault-b');
    assert.equal(fake.instances.get(B)?.state, 'terminated');
  });
});

describe('replace-node dry run', () => {
  it('reports the plan and makes no mutating call at all', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', slot: 'vault-b', dryRun: true });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.equal(output(r).result, 'dry-run');
    assert.ok((output(r).plan ?? []).length >= 5);
    assert.deepEqual(mutations(fake), []);
    assert.equal(await leaseHolder(), undefined);
  });
});

describe('replace-node bad inputs', () => {
  const rows: Array<{ name: string; input: unknown; field: string }> = [
    { name: 'an unknown cluster', input: { cluster: 'staging', slot: 'vault-b' }, field: 'cluster' },
    { name: 'an unknown slot', input: { cluster: 'prod', slot: 'vault-q' }, field: 'slot' },
    { name: 'both slot and instanceId', input: { cluster: 'prod', slot: 'vault-b', instanceId: B }, field: 'instanceId' },
    { name: 'a wrongly typed dryRun', input: { cluster: 'prod', slot: 'vault-b', dryRun: 'true' }, field: 'dryRun' },
  ];
  for (const row of rows) {
    it(`fails ${row.name} at the first state with InvalidInputError naming "${row.field}", calling no AWS API`, async () => {
      const { fake, run } = world();
      const r = await run(row.input);
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'InvalidInputError');
      assert.match(r.cause ?? '', new RegExp(`\\b${row.field}\\b`));
      assert.deepEqual(r.history.map((h) => h.state), ['Validate', 'RejectInput']);
      assert.deepEqual(fake.callLog, []);
    });
  }
});

describe('replace-node lease', () => {
  it('fails fast with LeaseBusyError while another execution holds the cluster lease, changing nothing', async () => {
    const { fake, run } = world();
    await acquireLease(dyn.client, TABLE, { cluster: 'prod', scope: 'operation', owner: 'drill-7', ttlMs: 60_000, nowMs: Date.now() });
    try {
      const r = await run({ cluster: 'prod', slot: 'vault-b' });
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'LeaseBusyError');
      assert.match(r.cause ?? '', /drill-7/);
      assert.deepEqual(mutations(fake), []);
      assert.equal(await leaseHolder(), 'drill-7');
    } finally {
      await releaseLease(dyn.client, TABLE, { cluster: 'prod', scope: 'operation', owner: 'drill-7' });
    }
  });
});

describe('replace-node refusals', () => {
  it('refuses to replace the legitimate active without force, changing nothing and releasing the lease', async () => {
    const { fake, run } = world({ oldVault: 'active' });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'RefusedError');
    assert.match(failureReport(r).outcome, /active/);
    assert.deepEqual(mutations(fake), []);
    assert.equal(await leaseHolder(), undefined);
  });

  it('with force, steps the active down before deregistering and terminating it', async () => {
    const { fake, run } = world({ oldVault: 'active' });
    const r = await run({ cluster: 'prod', slot: 'vault-b', force: true });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const stepDown = fake.commands.find((c) => c.document === 'VaultHA-VaultControl');
    assert.deepEqual(stepDown?.parameters.Action, ['step-down']);
    assert.equal(stepDown?.instanceId, B);
    assert.ok(fake.callLog.indexOf('SendCommand') < fake.callLog.indexOf('DeregisterTargets'));
    assert.ok(output(r).phases.some((p) => p.name === 'step-down-active'));
  });

  it('refuses when the replacement would leave no unsealed standby', async () => {
    const { fake, run } = world({ cVault: 'sealed' });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.error, 'RefusedError');
    assert.deepEqual(mutations(fake), []);
  });
});

describe('replace-node failures and compensation', () => {
  it('launch fails: the volume stays available and the report says so', async () => {
    const { fake, run } = world({ faults: { runInstances: 'InsufficientInstanceCapacity' } });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'LaunchFailedError');
    const report = failureReport(r);
    assert.equal(report.result, 'failed');
    assert.match(report.volume?.location ?? '', /^available/);
    assert.equal(fake.volumes.get('vol-0b')?.attachment, undefined);
    assert.equal(fake.launched().length, 0);
    assert.ok((report.nextSteps ?? []).length > 0);
    assert.equal(await leaseHolder(), undefined);
  });

  it('attach fails (onFailure terminate): the replacement is terminated and the volume is available', async () => {
    const { fake, run } = world({ faults: { attachVolume: 'IncorrectState' } });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'AttachFailedError');
    assert.match(failureReport(r).error?.message ?? '', /IncorrectState/);
    const newId = fake.launched()[0]!.id;
    const { TerminateInstancesCommand } = await import('@aws-sdk/client-ec2');
    assert.ok(fake.ec2Mock.commandCalls(TerminateInstancesCommand).some((c) => c.args[0].input.InstanceIds?.includes(newId)));
    assert.match(failureReport(r).volume?.location ?? '', /^available/);
  });

  it('attach fails (onFailure keep-tagged): the replacement is tagged for inspection, not terminated', async () => {
    const { fake, run } = world({ config: { onFailure: 'keep-tagged' }, faults: { attachVolume: 'IncorrectState' } });
    const r = await run({ cluster: 'prod', slot: 'vault-b' }, 'keep-tagged-1');
    assert.equal(r.status, 'FAILED');
    const newInst = fake.launched()[0]!;
    assert.equal(newInst.tags['vault-ha:failed-replacement'], 'keep-tagged-1');
    assert.notEqual(newInst.state, 'terminated');
    assert.notEqual(newInst.state, 'shutting-down');
    assert.match(failureReport(r).volume?.location ?? '', /^available/);
  });

  it('unseal fails: UnsealFailedError; the volume is detached from the replacement, which is terminated', async () => {
    const { fake, run } = world({ faults: { prepareStatus: 'Failed' } });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'UnsealFailedError');
    const newId = fake.launched()[0]!.id;
    assert.ok(['shutting-down', 'terminated'].includes(fake.instances.get(newId)!.state));
    assert.equal(fake.volumes.get('vol-0b')?.attachment, undefined);
    assert.match(failureReport(r).volume?.location ?? '', /^available/);
    assert.ok(fake.callLog.lastIndexOf('DetachVolume') < fake.callLog.lastIndexOf('TerminateInstances'));
  });

  it('standby timeout: StandbyTimeoutError after standbyTimeoutSeconds worth of checks; compensated', async () => {
    const { fake, run } = world({ faults: { staysSealed: true } });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'StandbyTimeoutError');
    const checks = r.history.filter((h) => h.state === 'CheckStandby').length;
    assert.equal(checks, 3); // standbyTimeoutSeconds 30 / 10 s per check
    assert.equal(fake.volumes.get('vol-0b')?.attachment, undefined);
    assert.equal(await leaseHolder(), undefined);
  });

  it('volume stuck on a stopped old instance: force-detached only after the timeout, and reported', async () => {
    const { fake, run } = world({ config: { oldInstance: 'stop' }, faults: { volumeStuckUnlessForced: true } });
    const r = await run({ cluster: 'prod', slot: 'vault-c' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const { DetachVolumeCommand } = await import('@aws-sdk/client-ec2');
    const detaches = fake.ec2Mock.commandCalls(DetachVolumeCommand).map((c) => c.args[0].input);
    assert.deepEqual(detaches.map((d) => d.Force), [false, true]);
    assert.equal(fake.instances.get(C)?.state, 'stopped');
    assert.ok(output(r).warnings.some((w) => w.includes('force-detached vol-0c')));
    const polls = r.history.filter((h) => h.state === 'PollReleased').length;
    assert.ok(polls >= 2, 'force-detach came after the detach budget of polls');
  });

  it('volume stuck even after force-detach: VolumeStuckError, nothing launched, the report says where the volume is', async () => {
    const { fake, run } = world({ config: { oldInstance: 'stop' }, faults: { volumeStuckForever: true } });
    const r = await run({ cluster: 'prod', slot: 'vault-c' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'VolumeStuckError');
    assert.equal(fake.launched().length, 0);
    assert.match(failureReport(r).volume?.location ?? '', new RegExp(`detaching to ${C} \\(the old instance\\)`));
  });
});

/**
 * EC2 errors on AWS: an SDK integration reports every EC2 failure as
 * Ec2.Ec2Exception with only EC2's message in Cause (the runner does the
 * same), so AttachVolume runs in the task function, which knows the code.
 */
describe('replace-node AttachVolume errors, routed by EC2 error code', () => {
  /** Replaces the fake's AttachVolume with `fn` (called with the call's number, from 1). */
  function attachAnswers(fake: FakeAws, fn: (n: number, input: { VolumeId?: string; InstanceId?: string; Device?: string }) => unknown): void {
    let n = 0;
    fake.ec2Mock.on(AttachVolumeCommand).callsFake(async (input: { VolumeId?: string; InstanceId?: string; Device?: string }) => {
      fake.callLog.push('AttachVolume');
      n += 1;
      return fn(n, input);
    });
  }
  const attachCalls = (fake: FakeAws): number => fake.callLog.filter((c) => c === 'AttachVolume').length;

  it('VolumeInUse because the first, lost-response attach went through to OUR instance: carries on and replaces the node', async () => {
    const { fake, run } = world();
    attachAnswers(fake, (n, input) => {
      const v = fake.volumes.get(input.VolumeId ?? '')!;
      if (n === 1) {
        // EC2 attached the volume, but the response never arrived.
        v.attachment = { instanceId: input.InstanceId ?? '', device: input.Device ?? '', state: 'attaching', deleteOnTermination: false };
        throw Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
      }
      throw sdkError('VolumeInUse', `${v.id} is already attached to an instance`);
    });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    assert.equal(attachCalls(fake), 2);
    const newId = fake.launched()[0]!.id;
    assert.equal(fake.volumes.get('vol-0b')?.attachment?.instanceId, newId);
    assert.match(output(r).volume?.location ?? '', new RegExp(`attached to ${newId}`));
  });

  it('VolumeInUse with the volume on ANOTHER instance: AttachFailedError at once, compensated, no retry', async () => {
    const { fake, run } = world();
    attachAnswers(fake, (_n, input) => {
      // Something else grabbed the volume after it was released.
      fake.volumes.get(input.VolumeId ?? '')!.attachment = { instanceId: C, device: '/dev/sdh', state: 'attached', deleteOnTermination: false };
      throw sdkError('VolumeInUse', `${input.VolumeId} is already attached to an instance`);
    });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'AttachFailedError');
    assert.match(failureReport(r).error?.message ?? '', new RegExp(`VolumeInUse: the volume is attached to ${C}`));
    assert.equal(attachCalls(fake), 1);
    assert.deepEqual(r.history.filter((h) => h.state === 'AttachVolume').map((h) => h.retries), [0]);
    assert.ok(r.history.some((h) => h.state === 'Compensate'));
    const newId = fake.launched()[0]!.id;
    assert.ok(['shutting-down', 'terminated'].includes(fake.instances.get(newId)!.state));
  });

  for (const code of ['InvalidVolume.NotFound', 'UnauthorizedOperation', 'InvalidParameterValue']) {
    it(`a permanent ${code}: one attempt, AttachFailedError naming the code, compensation terminates the replacement`, async () => {
      const { fake, run } = world({ faults: { attachVolume: code } });
      const r = await run({ cluster: 'prod', slot: 'vault-b' });
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'AttachFailedError');
      assert.match(failureReport(r).error?.message ?? '', new RegExp(code.replace('.', '\\.')));
      assert.equal(attachCalls(fake), 1);
      const newId = fake.launched()[0]!.id;
      assert.ok(['shutting-down', 'terminated'].includes(fake.instances.get(newId)!.state));
      assert.match(failureReport(r).volume?.location ?? '', /^available/);
      assert.equal(await leaseHolder(), undefined);
    });
  }

  it('throttled on every attempt: a bounded number of retries (AwsTransientError), then compensation', async () => {
    const { fake, run } = world({ faults: { attachVolume: 'RequestLimitExceeded' } });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'AwsTransientError');
    // The AwsTransientError retrier of the Lambda tasks: MaxAttempts 5, so 6 calls in all.
    assert.equal(attachCalls(fake), 6);
    assert.ok(r.history.some((h) => h.state === 'Compensate'));
    assert.match(failureReport(r).volume?.location ?? '', /^available/);
  });

  it('throttled once: retried and the replacement goes on', async () => {
    const { fake, run } = world();
    attachAnswers(fake, (n, input) => {
      if (n === 1) throw sdkError('RequestLimitExceeded', 'Request limit exceeded.');
      const v = fake.volumes.get(input.VolumeId ?? '')!;
      v.attachment = { instanceId: input.InstanceId ?? '', device: input.Device ?? '', state: 'attaching', deleteOnTermination: false };
      return { VolumeId: v.id, InstanceId: input.InstanceId, Device: input.Device, State: 'attaching' };
    });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    assert.equal(attachCalls(fake), 2);
  });
});

describe('replace-node EC2 describes through the SDK integration (every error is Ec2.Ec2Exception)', () => {
  /** An EC2 client for the state machine whose DescribeInstances fails `failures` times with `code`, then answers as the fake. */
  const flakyDescribe =
    (code: string, failures: number) =>
    (fake: FakeAws): SdkClientLike => {
      const client = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
      const mock = mockClient(client);
      extraMocks.push(mock);
      let n = 0;
      mock.on(DescribeInstancesCommand).callsFake(async (input) => {
        n += 1;
        fake.callLog.push('sfn:DescribeInstances');
        if (n <= failures) throw sdkError(code, `failure ${n}`);
        return fake.ec2.send(new DescribeInstancesCommand(input));
      });
      mock.on(DescribeVolumesCommand).callsFake(async (input) => fake.ec2.send(new DescribeVolumesCommand(input)));
      return client;
    };

  it('a fresh instance id unknown at first (InvalidInstanceID.NotFound) is retried and the replacement goes on', async () => {
    const { fake, run } = world({ sfnEc2: flakyDescribe('InvalidInstanceID.NotFound', 1) });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    assert.equal(r.history.find((h) => h.state === 'DescribeReplacement')?.retries, 1);
    assert.ok(fake.callLog.includes('sfn:DescribeInstances'));
  });

  it('a permanent error (UnauthorizedOperation) is retried a bounded number of times, then compensated', async () => {
    const { fake, run } = world({ sfnEc2: flakyDescribe('UnauthorizedOperation', 1_000) });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'Ec2.Ec2Exception');
    // ec2Retry: MaxAttempts 3, so 4 calls, then Catch -> compensation.
    assert.equal(fake.callLog.filter((c) => c === 'sfn:DescribeInstances').length, 4);
    assert.ok(r.history.some((h) => h.state === 'Compensate'));
    assert.match(failureReport(r).error?.message ?? '', /\(Service: Ec2, Status Code: 400, Request ID: /);
    const newId = fake.launched()[0]!.id;
    assert.ok(['shutting-down', 'terminated'].includes(fake.instances.get(newId)!.state));
  });
});

describe('local runner (sandbox/stepfunctions/runner.ts)', () => {
  it('runs arn:aws:states:::lambda:invoke through the named handler and wraps its result in Payload', async () => {
    const def = {
      StartAt: 'Call',
      States: {
        Call: {
          Type: 'Task',
          Resource: 'arn:aws:states:::lambda:invoke',
          Parameters: { FunctionName: 'arn:aws:lambda:eu-west-1:111122223333:function:vault-ha-dev-echo', 'Payload.$': '$' },
          OutputPath: '$.Payload',
          End: true,
        },
      },
    };
    const r = await runStateMachine(def as never, { n: 1 }, { lambdaHandlers: { echo: async (e: { n: number }) => ({ n: e.n + 1 }) }, executionName: 'invoke-1' });
    assert.equal(r.status, 'SUCCEEDED');
    assert.deepEqual(r.output, { n: 2 });
  });

  it('fails with the thrown error name and counts retries as transitions', async () => {
    let calls = 0;
    const def = {
      StartAt: 'Flaky',
      States: {
        Flaky: {
          Type: 'Task',
          Resource: { 'Fn::GetAtt': ['flaky', 'Arn'] },
          Retry: [{ ErrorEquals: ['NotReadyError'], MaxAttempts: 2, JitterStrategy: 'FULL' }],
          End: true,
        },
      },
    };
    const flaky = async (): Promise<never> => {
      calls += 1;
      throw Object.assign(new Error('not yet'), { name: 'NotReadyError' });
    };
    const r = await runStateMachine(def as never, {}, { lambdaHandlers: { flaky }, retryIntervalOverrides: () => 0 });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'NotReadyError');
    assert.equal(calls, 3);
    assert.equal(r.transitions, 3);
  });
});
