/**
 * failover-drill, executed: the real ASL definition runs in the local
 * interpreter (sandbox/stepfunctions/runner.ts) with the real task code,
 * against the stateful EC2/ELBv2/SSM/SNS fake of the replace-node tests and an
 * in-process DynamoDB (dynalite) holding the control table.
 *
 * The drill only injects a fault and watches; in production the Vault nodes
 * elect a new active and the controller re-routes the ALB. Here `DrillWorld`
 * plays both, one step per DescribeTargetHealth call (one drill poll): after
 * `electAfterPolls` polls a running standby becomes active, `routeAfterPolls`
 * later the "controller" registers it alone, and a fresh target answers
 * `initial` for one poll before `healthy`, as an ALB does. Wait states are
 * compressed to 0 ms; instead the handler's clock jumps by the observation
 * interval at each poll, so RTOs are in simulated seconds.
 */
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ModifyInstanceAttributeCommand, ModifyNetworkInterfaceAttributeCommand, StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { loadDefinition, resolveIntrinsics, runStateMachine, type RunStateMachineResult } from '../../sandbox/stepfunctions/runner.js';
import { makeFailoverDrillHandler } from '../../functions/handlers/failover-drill.js';
import { acquireLease, getReport, readLease, releaseLease } from '../../functions/adapters/control-table.js';
import { silentLogger } from '../../functions/handlers/lib/logger.js';
import type { DrillReport } from '../../functions/core/drill.js';
import { createControlTable, startDynalite, type DynaliteHandle } from '../support/dynalite.js';
import { config, TOPIC_ARN, type ConfigOptions } from '../unit/replacement/fixtures.js';
import { FakeAws, type FakeInstance } from '../unit/replacement/fake-aws.js';
import { A, B, C, MUTATING, TABLE, validateAsl } from './support.js';


const definition = await loadDefinition('statemachines/failover-drill.asl.yml');
let dyn: DynaliteHandle;
let aws: FakeAws | undefined;
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
});

interface WorldOptions {
  config?: ConfigOptions;
  /** Polls after the fault until a running standby wins the election (default 1). */
  electAfterPolls?: number;
  /** No standby ever takes over. */
  neverElect?: boolean;
  /** Polls after the election until the controller has registered the new active. */
  routeAfterPolls?: number;
  bVault?: FakeInstance['vault'];
  cVault?: FakeInstance['vault'];
  /** The active A is not registered in the target group at the start. */
  activeUnregistered?: boolean;
}

/**
 * The simulated cluster: A active (slot vault-a, vol-0a and eni-0a both with
 * DeleteOnTermination=true), B and C standbys; only A registered.
 */
function world(o: WorldOptions = {}) {
  const fake = new FakeAws();
  aws = fake;
  fake.addInstance({ id: A, slot: 'vault-a', az: 'eu-west-1a', subnet: 'subnet-0a', vault: 'active' });
  fake.addInstance({ id: B, slot: 'vault-b', vault: o.bVault ?? 'standby' });
  fake.addInstance({ id: C, slot: 'vault-c', az: 'eu-west-1c', subnet: 'subnet-0c', vault: o.cVault ?? 'standby' });
  fake.addVolume({ id: 'vol-0a', az: 'eu-west-1a', attachment: { instanceId: A, device: '/dev/sdf', state: 'attached', deleteOnTermination: true } });
  fake.addEni({ id: 'eni-0a', subnet: 'subnet-0a', az: 'eu-west-1a', attachment: { instanceId: A, attachmentId: 'eni-attach-a', deviceIndex: 0, deleteOnTermination: true } });
  if (!o.activeUnregistered) fake.targets.add(A);

  const electAfter = o.electAfterPolls ?? 1;
  const routeAfter = o.routeAfterPolls ?? 1;
  const applied = new Set<string>();
  const targetAge = new Map<string, number>([[A, 99]]);
  let faultPoll: number | undefined;
  let electedPoll: number | undefined;
  let polls = 0;
  const running = (i: FakeInstance): boolean => i.state === 'running';
  const activeNow = (): FakeInstance | undefined => [...fake.instances.values()].find((i) => i.vault === 'active' && running(i));
  // One step of the world per DescribeTargetHealth (i.e. per drill observation).
  fake.elbMock.on(DescribeTargetHealthCommand).callsFake(() => {
    fake.callLog.push('DescribeTargetHealth');
    polls += 1;
    for (const cmd of fake.commands) {
      if (applied.has(cmd.id) || cmd.document !== 'VaultHA-VaultControl') continue;
      applied.add(cmd.id);
      const inst = fake.instances.get(cmd.instanceId);
      const action = cmd.parameters.Action?.[0];
      if (inst && action === 'kill') inst.vault = 'down';
      if (inst && action === 'step-down') inst.vault = 'standby';
    }
    const a = fake.instances.get(A)!;
    if (faultPoll === undefined && (a.vault !== 'active' || !running(a))) faultPoll = polls;
    if (faultPoll !== undefined && !activeNow() && !o.neverElect && polls - faultPoll >= electAfter) {
      const next = [...fake.instances.values()].find((i) => i.id !== A && i.vault === 'standby' && running(i));
      if (next) {
        next.vault = 'active';
        electedPoll = polls;
      }
    }
    const act = activeNow();
    if (electedPoll !== undefined && act && polls - electedPoll >= routeAfter && !fake.targets.has(act.id)) {
      // The controller in active-only routing: register the legitimate active, drop the rest.
      fake.targets.clear();
      fake.targets.add(act.id);
      targetAge.set(act.id, 0);
    }
    const answer = {
      TargetHealthDescriptions: [...fake.targets].map((id) => {
        const age = targetAge.get(id) ?? 99;
        targetAge.set(id, age + 1);
        return { Target: { Id: id, Port: 8200 }, TargetHealth: age === 0 ? { State: 'initial', Reason: 'Elb.RegistrationInProgress' } : { State: 'healthy' } };
      }),
    };
    return answer;
  });

  const cfg = config(o.config);
  // Simulated clock: each observation (or post-check) happens one interval after the previous one.
  let skewMs = 0;
  const handler = makeFailoverDrillHandler({
    loadConfig: async () => cfg,
    clients: () => ({ ec2: fake.ec2, elbv2: fake.elbv2, ssm: fake.ssm, ddb: dyn.client }),
    probe: (address) => fake.probe(address),
    nowMs: () => Date.now() + skewMs,
    env: {},
    logger: silentLogger,
  });
  const clocked = async (event: { action?: string; ctx?: { observe?: { intervalSeconds: number }; postCheck?: { intervalSeconds: number } } }, context: unknown) => {
    if (event.action === 'observe') skewMs += (event.ctx?.observe?.intervalSeconds ?? 0) * 1000;
    if (event.action === 'postCheck') skewMs += (event.ctx?.postCheck?.intervalSeconds ?? 0) * 1000;
    return handler(event, context as never);
  };
  const run = (input: unknown, executionName = `drill-${process.pid}-${++execSeq}`): Promise<RunStateMachineResult> =>
    runStateMachine(definition, input, {
      lambdaHandlers: { failoverDrillTasks: clocked },
      sdkClients: { ec2: fake.ec2, elasticloadbalancingv2: fake.elbv2, ssm: fake.ssm, sns: fake.sns },
      waitTimeOverrides: () => 0,
      retryIntervalOverrides: () => 0,
      executionName,
      stateMachineName: 'failoverDrill',
      maxTransitions: 1_000,
      timeoutMs: 30_000,
    });
  return { fake, run };
}

/** The document's own parameters (SSM's standard `executionTimeout` aside). */
function documentParameters(p: Record<string, string[]> | undefined): Record<string, string[]> {
  const { executionTimeout: _timeout, ...rest } = p ?? {};
  return rest;
}

const mutations = (fake: FakeAws): string[] => fake.callLog.filter((c) => MUTATING.includes(c));
const failureReport = (r: RunStateMachineResult): DrillReport => JSON.parse(r.cause ?? '{}') as DrillReport;
const output = (r: RunStateMachineResult): DrillReport => r.output as DrillReport;

async function leaseHolder(): Promise<string | undefined> {
  const lease = await readLease(dyn.client, TABLE, { cluster: 'prod', scope: 'operation' });
  return lease && lease.expiresAtMs > Date.now() ? lease.owner : undefined;
}

describe('failover-drill definition', () => {
  it('is valid ASL once the serverless intrinsics are resolved', () => {
    const r = validateAsl(resolveIntrinsics(definition), { checkArn: true, checkPaths: true });
    assert.equal(r.isValid, true, r.errorsText('\n'));
  });

  it('gives every Task a Retry with FULL jitter and a Catch', () => {
    for (const [name, s] of Object.entries(definition.States) as unknown as Array<[string, Record<string, unknown>]>) {
      if (s.Type !== 'Task') continue;
      const retry = s.Retry as Array<{ JitterStrategy?: string }> | undefined;
      assert.ok(retry && retry.length > 0, `${name} has no Retry`);
      for (const r of retry) assert.equal(r.JitterStrategy, 'FULL', `${name} retrier without jitter`);
      assert.ok(Array.isArray(s.Catch) && (s.Catch as unknown[]).length > 0, `${name} has no Catch`);
    }
  });

  it('never retries the injection on a task error (a repeated step-down would be forwarded to the new active)', () => {
    const inject = (definition.States as Record<string, { Retry?: Array<{ ErrorEquals: string[] }> }>).Inject;
    const names = (inject?.Retry ?? []).flatMap((r) => r.ErrorEquals);
    assert.ok(names.length > 0);
    assert.ok(names.every((n) => n.startsWith('Lambda.')), names.join(', '));
  });
});

describe('failover-drill happy path, per scenario', () => {
  const rows: Array<{ scenario: string; injected: string; check: (fake: FakeAws) => void }> = [
    {
      scenario: 'step-down',
      injected: 'SendCommand',
      check: (fake) => {
        const [send] = fake.ssmMock.commandCalls(SendCommandCommand);
        assert.equal(send?.args[0].input.DocumentName, 'VaultHA-VaultControl');
        assert.deepEqual(send?.args[0].input.InstanceIds, [A]);
        // A parameter NAME only: the node reads the token itself.
        assert.deepEqual(documentParameters(send?.args[0].input.Parameters), { Action: ['step-down'], TokenParameterName: ['/vault-ha/prod/step-down-token'] });
      },
    },
    {
      scenario: 'kill-active',
      injected: 'SendCommand',
      check: (fake) => {
        const [send] = fake.ssmMock.commandCalls(SendCommandCommand);
        assert.equal(send?.args[0].input.DocumentName, 'VaultHA-VaultControl');
        assert.deepEqual(send?.args[0].input.InstanceIds, [A]);
        assert.deepEqual(documentParameters(send?.args[0].input.Parameters), { Action: ['kill'] });
      },
    },
    {
      scenario: 'stop-active-instance',
      injected: 'StopInstances',
      check: (fake) => assert.deepEqual(fake.ec2Mock.commandCalls(StopInstancesCommand)[0]?.args[0].input.InstanceIds, [A]),
    },
    {
      scenario: 'terminate-active',
      injected: 'TerminateInstances',
      check: (fake) => assert.deepEqual(fake.ec2Mock.commandCalls(TerminateInstancesCommand)[0]?.args[0].input.InstanceIds, [A]),
    },
  ];
  for (const row of rows) {
    it(`${row.scenario}: injects on the legitimate active and reports the new active routed, with its RTO`, async () => {
      const { fake, run } = world({ electAfterPolls: 1, routeAfterPolls: 1 });
      const r = await run({ cluster: 'prod', scenario: row.scenario });
      assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
      const report = output(r);
      assert.equal(report.kind, 'failover-drill');
      assert.equal(report.result, 'passed');
      assert.equal(report.scenario, row.scenario);
      assert.equal(report.oldActive, A);
      assert.ok(report.newActive === B || report.newActive === C, String(report.newActive));
      assert.deepEqual([...fake.targets], [report.newActive]);
      assert.ok(fake.callLog.includes(row.injected));
      row.check(fake);
      assert.ok(report.rtoSeconds !== null && report.rtoSeconds > 0 && report.rtoSeconds <= report.maxRtoSeconds, String(report.rtoSeconds));
      assert.equal(report.maxRtoSeconds, 120);
    });
  }

  it('measures RTO from the injection to the first poll that sees the new active healthy in the target group', async () => {
    // Elected at poll 2 after the fault, registered at poll 4 (initial), healthy at poll 5.
    const { run } = world({ electAfterPolls: 2, routeAfterPolls: 2 });
    const r = await run({ cluster: 'prod', scenario: 'kill-active' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const report = output(r);
    const polls = report.verdicts;
    const routedIdx = polls.findIndex((p) => p.registered.some((t) => t.instanceId === report.newActive && t.state === 'healthy'));
    assert.equal(routedIdx, polls.length - 1, 'observation stops at the first routed poll');
    assert.ok(polls.slice(0, routedIdx).some((p) => p.registered.some((t) => t.instanceId === report.newActive && t.state === 'initial')), 'an initial target does not count');
    const injectedAt = report.timeline.find((e) => e.event.startsWith('fault injected'))?.at;
    assert.ok(injectedAt);
    assert.equal(report.rtoSeconds, (Date.parse(polls[routedIdx]!.at) - Date.parse(injectedAt)) / 1000);
  });

  it('records each poll\'s verdict, legitimate active and registered targets, and the verdict changes in the timeline', async () => {
    const { run } = world({ electAfterPolls: 2, routeAfterPolls: 1 });
    const r = await run({ cluster: 'prod', scenario: 'kill-active' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const report = output(r);
    assert.ok(report.verdicts.length >= 3);
    assert.ok(report.verdicts.some((p) => p.legitimateActive === null), 'a no-leader moment is recorded');
    for (const p of report.verdicts) assert.match(p.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const events = report.timeline.map((e) => e.event);
    assert.ok(events.some((e) => e.startsWith('fault injected: kill the Vault process on')));
    assert.ok(events.some((e) => e.startsWith('verdict ') && e !== 'verdict healthy'));
    assert.ok(events.some((e) => e.startsWith(`new active ${report.newActive}`)));
    const times = report.timeline.map((e) => Date.parse(e.at));
    assert.deepEqual(times, [...times].sort((x, y) => x - y));
  });

  it('reports the phases in order with their durations', async () => {
    const { run } = world();
    const r = await run({ cluster: 'prod', scenario: 'stop-active-instance' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const report = output(r);
    assert.deepEqual(
      report.phases.map((p) => p.name),
      ['validate', 'acquire-lease', 'pre-check', 'inject-fault', 'observe-failover', 'post-check', 'release-lease'],
    );
    for (const p of report.phases) assert.equal(Date.parse(p.endedAt) - Date.parse(p.startedAt), p.durationMs);
  });

  it('releases the operation lease, stores the report in the control table and notifies', async () => {
    const { fake, run } = world({ config: { topic: true } });
    const r = await run({ cluster: 'prod', scenario: 'kill-active' }, 'drill-stored');
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.equal(await leaseHolder(), undefined);
    const stored = (await getReport(dyn.client, TABLE, 'prod', 'drill', 'drill-stored')) as DrillReport;
    assert.equal(stored.result, 'passed');
    assert.equal(stored.newActive, output(r).newActive);
    assert.equal(fake.published.length, 1);
    assert.match(fake.published[0]?.subject ?? '', /failover-drill kill-active PASSED/);
    assert.equal((JSON.parse(fake.published[0]?.message ?? '{}') as DrillReport).rtoSeconds, output(r).rtoSeconds);
  });

  it('terminate-active switches DeleteOnTermination off on the slot volume and interface before terminating', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', scenario: 'terminate-active' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const log = fake.callLog;
    assert.ok(log.indexOf('ModifyInstanceAttribute') >= 0 && log.indexOf('ModifyInstanceAttribute') < log.indexOf('TerminateInstances'));
    assert.ok(log.indexOf('ModifyNetworkInterfaceAttribute') >= 0 && log.indexOf('ModifyNetworkInterfaceAttribute') < log.indexOf('TerminateInstances'));
    const [bdm] = fake.ec2Mock.commandCalls(ModifyInstanceAttributeCommand);
    assert.deepEqual(bdm?.args[0].input.BlockDeviceMappings, [{ DeviceName: '/dev/sdf', Ebs: { DeleteOnTermination: false } }]);
    assert.equal(fake.ec2Mock.commandCalls(ModifyNetworkInterfaceAttributeCommand)[0]?.args[0].input.NetworkInterfaceId, 'eni-0a');
    assert.equal(fake.instances.get(A)?.state, 'terminated');
    assert.equal(fake.volumes.get('vol-0a')?.deleted, undefined, 'the data volume survived');
    assert.equal(fake.enis.get('eni-0a')?.deleted, undefined, 'the interface survived');
    assert.match(output(r).postCheck?.nextStep ?? '', /replace-node for slot vault-a/);
  });

  it('kill-active reports the old node down and the next step, without restarting or unsealing it', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', scenario: 'kill-active' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const post = output(r).postCheck;
    assert.equal(post?.ok, true);
    assert.equal(post?.oldNode.instanceId, A);
    assert.equal(post?.oldNode.class, 'unreachable');
    assert.match(post?.nextStep ?? '', /Action=start/);
    assert.match(post?.nextStep ?? '', /sealed/);
    assert.equal(fake.commands.length, 1, 'only the kill was sent');
  });
});

describe('failover-drill refusals and failures', () => {
  const refusals: Array<{ name: string; opts: WorldOptions; reason: RegExp }> = [
    { name: 'no unsealed standby could take over', opts: { bVault: 'sealed', cVault: 'sealed' }, reason: /no unsealed standby/ },
    { name: 'the active is not registered in the target group', opts: { activeUnregistered: true }, reason: /not registered in the target group/ },
  ];
  for (const row of refusals) {
    it(`refuses without injecting anything when ${row.name}`, async () => {
      const { fake, run } = world(row.opts);
      const r = await run({ cluster: 'prod', scenario: 'kill-active' });
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'RefusedError');
      assert.deepEqual(mutations(fake), []);
      const report = failureReport(r);
      assert.equal(report.result, 'failed');
      assert.equal(report.injected, null);
      assert.match(report.error?.message ?? '', row.reason);
      assert.equal(await leaseHolder(), undefined);
    });
  }

  it('dry run reports what would be injected on which instance and changes nothing', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', scenario: 'terminate-active', dryRun: true });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const report = output(r);
    assert.equal(report.result, 'dry-run');
    assert.equal(report.oldActive, A);
    assert.match(report.plannedFault ?? '', new RegExp(`terminate EC2 instance ${A}.*vol-0a and eni-0a`));
    assert.equal(report.rtoSeconds, null);
    assert.deepEqual(mutations(fake), []);
    assert.equal(await leaseHolder(), undefined);
  });

  it('fails with RtoExceededError and a failed report when the new active is routed after maxRtoSeconds', async () => {
    const { run } = world({ electAfterPolls: 3, routeAfterPolls: 2 });
    const r = await run({ cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: 5 });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'RtoExceededError');
    const report = failureReport(r);
    assert.equal(report.result, 'failed');
    assert.ok(report.newActive === B || report.newActive === C);
    assert.ok(report.rtoSeconds !== null && report.rtoSeconds > 5, String(report.rtoSeconds));
    assert.equal(await leaseHolder(), undefined);
  });

  it('fails with NoNewActiveError when no new active is routed within the bound, and stops polling there', async () => {
    const { run } = world({ neverElect: true });
    const r = await run({ cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: 10 });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'NoNewActiveError');
    const report = failureReport(r);
    assert.equal(report.newActive, null);
    assert.equal(report.rtoSeconds, null);
    const last = report.verdicts.at(-1);
    const injectedAt = Date.parse(report.timeline.find((e) => e.event.startsWith('fault injected'))?.at ?? '');
    assert.ok(last && Date.parse(last.at) - injectedAt >= (10 + 30) * 1000, 'observed for maxRtoSeconds plus the margin');
    assert.ok(report.verdicts.length < 30, `${report.verdicts.length} polls`);
    assert.equal(await leaseHolder(), undefined);
  });

  it('fails with LeaseBusyError and changes nothing while another execution holds the operation lease', async () => {
    const { fake, run } = world();
    await acquireLease(dyn.client, TABLE, { cluster: 'prod', scope: 'operation', owner: 'replace-elsewhere', ttlMs: 60_000, nowMs: Date.now(), purpose: 'test' });
    try {
      const r = await run({ cluster: 'prod', scenario: 'kill-active' });
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'LeaseBusyError');
      assert.deepEqual(mutations(fake), []);
      assert.equal(await leaseHolder(), 'replace-elsewhere');
    } finally {
      await releaseLease(dyn.client, TABLE, { cluster: 'prod', scope: 'operation', owner: 'replace-elsewhere' });
    }
  });

  const badInputs: Array<{ input: unknown; field: RegExp }> = [
    { input: { cluster: 'prod' }, field: /scenario/ },
    { input: { cluster: 'prod', scenario: 'pull-the-plug' }, field: /scenario/ },
    { input: { cluster: 'nope', scenario: 'kill-active' }, field: /cluster: unknown cluster "nope"/ },
    { input: { cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: -1 }, field: /maxRtoSeconds/ },
    { input: { cluster: 'prod', scenario: 'kill-active', slot: 'vault-a' }, field: /unknown field\(s\) "slot"/ },
  ];
  for (const row of badInputs) {
    it(`fails at Validate with InvalidInputError naming the field for ${JSON.stringify(row.input)}`, async () => {
      const { fake, run } = world();
      const r = await run(row.input);
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'InvalidInputError');
      assert.match(r.cause ?? '', row.field);
      assert.deepEqual(r.history.map((h) => h.state), ['Validate', 'RejectInput']);
      assert.deepEqual(fake.callLog, []);
      assert.equal(await leaseHolder(), undefined);
    });
  }
});
