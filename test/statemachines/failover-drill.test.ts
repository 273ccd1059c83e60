/**
 * failover-drill, executed: the real ASL definition runs in the local
 * interpreter (sandbox/stepfunctions/runner.ts) with the real task code,
 * against the stateful EC2/ELBv2/SSM/SNS fake of the replace-node tests, an
 * in-process DynamoDB (dynalite) holding the control table, CloudWatch
 * DescribeAlarms through aws-sdk-client-mock (the real adapter), and — for
 * terminate-active's restore — the real replace-node definition as the nested
 * execution.
 *
 * The drill only injects a fault, watches and restores; in production the
 * Vault nodes elect a new active and the controller re-routes the ALB. Here
 * `world` plays both, one step per DescribeTargetHealth call (one drill poll):
 * after `electAfterPolls` polls a running standby becomes active,
 * `routeAfterPolls` later the "controller" registers it alone, and a fresh
 * target answers `initial` for one poll before `healthy`, as an ALB does. A
 * VaultControl command takes effect on the node at the next look (poll or
 * probe). Wait states are compressed to 0 ms; instead the handler's clock
 * jumps by the observation interval at each poll (and by each pause between
 * client requests), so RTOs are in simulated seconds. Client requests through
 * the listener succeed while a running active is registered and healthy.
 */
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ModifyInstanceAttributeCommand, ModifyNetworkInterfaceAttributeCommand, StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { loadDefinition, resolveIntrinsics, runStateMachine, type RunStateMachineResult } from '../../sandbox/stepfunctions/runner.js';
import { makeFailoverDrillHandler } from '../../functions/handlers/failover-drill.js';
import { makeReplaceNodeHandler } from '../../functions/handlers/replace-node.js';
import { describeAlarmStates } from '../../functions/adapters/alarms.js';
import { acquireLease, getReport, readLease, recordObservation, releaseLease } from '../../functions/adapters/control-table.js';
import { parseConfig } from '../../functions/config/load.js';
import type { Logger } from '../../functions/handlers/lib/logger.js';
import type { DrillReport } from '../../functions/core/drill-report.js';
import { createControlTable, startDynalite, type DynaliteHandle } from '../support/dynalite.js';
import { configDoc, type ConfigOptions } from '../unit/replacement/fixtures.js';
import { FakeAws, sdkError, type FakeInstance } from '../unit/replacement/fake-aws.js';
import { A, B, C, MUTATING, TABLE, validateAsl } from './support.js';

const definition = await loadDefinition('statemachines/failover-drill.asl.yml');
const replaceDefinition = await loadDefinition('statemachines/replace-node.asl.yml');
const REPLACE_NODE_ARN = 'arn:aws:states:eu-west-1:111122223333:stateMachine:vault-ha-control-plane-dev-replace-node';
const LISTENER = 'https://vault.prod.internal/v1/secret/data/drill-probe';
let dyn: DynaliteHandle;
let aws: FakeAws | undefined;
const cw = new CloudWatchClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const cwMock = mockClient(cw);
let execSeq = 0;

beforeAll(async () => {
  dyn = await startDynalite();
  await createControlTable(dyn.client, TABLE);
});
afterAll(async () => {
  cwMock.restore();
  await dyn.close();
});
afterEach(() => {
  aws?.restore();
  aws = undefined;
  cwMock.reset();
});

interface WorldOptions {
  config?: ConfigOptions & { listener?: boolean; fencing?: 'none' | 'deregister' | 'break-lock'; haLock?: { type: 'dynamodb'; table: string } | { type: 'raft' } };
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
  /** partition-storage: the cut holder keeps claiming active this many polls after another node took over. */
  staleLeaderPolls?: number;
  /** The "controller" routes the new active without removing the stale holder (a broken controller). */
  keepOldRegistered?: boolean;
  /** CloudWatch alarms: name → state per DescribeAlarms call (the last one repeats); absent names do not exist. */
  alarms?: Record<string, string[]>;
  /** VaultHA-PrepareNode fails on the node (the restore cannot unseal). */
  prepareFails?: boolean;
  /** RunInstances fails (the nested replace-node cannot refill the slot). */
  runInstancesFails?: boolean;
}

/**
 * The simulated cluster: A active (slot vault-a, vol-0a and eni-0a both with
 * DeleteOnTermination=true), B and C standbys; only A registered.
 */
function world(o: WorldOptions = {}) {
  const fake = new FakeAws();
  aws = fake;
  if (o.prepareFails) fake.faults.prepareStatus = 'Failed';
  if (o.runInstancesFails) fake.faults.runInstances = 'InsufficientInstanceCapacity';
  fake.addInstance({ id: A, slot: 'vault-a', az: 'eu-west-1a', subnet: 'subnet-0a', vault: 'active' });
  fake.addInstance({ id: B, slot: 'vault-b', vault: o.bVault ?? 'standby' });
  fake.addInstance({ id: C, slot: 'vault-c', az: 'eu-west-1c', subnet: 'subnet-0c', vault: o.cVault ?? 'standby' });
  fake.addVolume({ id: 'vol-0a', az: 'eu-west-1a', attachment: { instanceId: A, device: '/dev/sdf', state: 'attached', deleteOnTermination: true } });
  fake.addEni({ id: 'eni-0a', subnet: 'subnet-0a', az: 'eu-west-1a', attachment: { instanceId: A, attachmentId: 'eni-attach-a', deviceIndex: 0, deleteOnTermination: true } });
  if (!o.activeUnregistered) fake.targets.add(A);
  fake.ec2Mock.on(StartInstancesCommand).callsFake((i: { InstanceIds?: string[] }) => {
    fake.callLog.push('StartInstances');
    for (const id of i.InstanceIds ?? []) {
      const inst = fake.instances.get(id);
      // A started instance boots with Vault up and sealed (Shamir): the restore unseals it.
      if (inst && inst.state === 'stopped') {
        inst.state = 'pending';
        inst.vault = 'sealed';
      }
    }
    return { StartingInstances: [] };
  });

  const electAfter = o.electAfterPolls ?? 1;
  const routeAfter = o.routeAfterPolls ?? 1;
  const applied = new Set<string>();
  const stale = new Set<string>();
  const targetAge = new Map<string, number>([[A, 99]]);
  let faultPoll: number | undefined;
  let electedPoll: number | undefined;
  let polls = 0;
  const running = (i: FakeInstance): boolean => i.state === 'running';
  const activeNow = (): FakeInstance | undefined => [...fake.instances.values()].find((i) => i.vault === 'active' && running(i) && !stale.has(i.id));
  /** VaultControl commands take effect on their node. */
  const applyCommands = (): void => {
    for (const cmd of fake.commands) {
      if (applied.has(cmd.id) || cmd.document !== 'VaultHA-VaultControl') continue;
      applied.add(cmd.id);
      const inst = fake.instances.get(cmd.instanceId);
      if (!inst) continue;
      const action = cmd.parameters.Action?.[0];
      if (action === 'kill') inst.vault = 'down';
      if (action === 'step-down') inst.vault = 'standby';
      if (action === 'seal') inst.vault = 'sealed';
      // A zombie: unreachable (its lock broken by the controller in this world).
      if (action === 'partition-clients') inst.vault = 'down';
      if (action === 'partition-storage') {
        if (o.staleLeaderPolls) stale.add(inst.id);
        else inst.vault = 'standby';
      }
      if (action === 'heal') {
        stale.delete(inst.id);
        inst.vault = 'standby';
      }
    }
  };
  // One step of the world per DescribeTargetHealth (i.e. per drill observation).
  fake.elbMock.on(DescribeTargetHealthCommand).callsFake(() => {
    fake.callLog.push('DescribeTargetHealth');
    polls += 1;
    applyCommands();
    const a = fake.instances.get(A)!;
    if (faultPoll === undefined && (a.vault !== 'active' || !running(a) || stale.has(A))) faultPoll = polls;
    if (faultPoll !== undefined && !activeNow() && !o.neverElect && polls - faultPoll >= electAfter) {
      const next = [...fake.instances.values()].find((i) => i.id !== A && i.vault === 'standby' && running(i));
      if (next) {
        next.vault = 'active';
        electedPoll = polls;
      }
    }
    if (electedPoll !== undefined && o.staleLeaderPolls !== undefined && polls - electedPoll >= o.staleLeaderPolls) {
      for (const id of stale) fake.instances.get(id)!.vault = 'standby';
      stale.clear();
    }
    const act = activeNow();
    if (electedPoll !== undefined && act && polls - electedPoll >= routeAfter && !fake.targets.has(act.id)) {
      // The controller in active-only routing: register the legitimate active, drop the rest.
      if (!o.keepOldRegistered) fake.targets.clear();
      fake.targets.add(act.id);
      targetAge.set(act.id, 0);
    }
    return {
      TargetHealthDescriptions: [...fake.targets].map((id) => {
        const age = targetAge.get(id) ?? 99;
        targetAge.set(id, age + 1);
        return { Target: { Id: id, Port: 8200 }, TargetHealth: age === 0 ? { State: 'initial', Reason: 'Elb.RegistrationInProgress' } : { State: 'healthy' } };
      }),
    };
  });

  const alarmCalls = new Map<string, number>();
  cwMock.on(DescribeAlarmsCommand).callsFake((i: { AlarmNames?: string[] }) => ({
    MetricAlarms: (i.AlarmNames ?? []).flatMap((name) => {
      const states = o.alarms?.[name];
      if (!states) return [];
      const n = alarmCalls.get(name) ?? 0;
      alarmCalls.set(name, n + 1);
      const state = states[Math.min(n, states.length - 1)]!;
      return [{ AlarmName: name, StateValue: state, StateReason: state === 'ALARM' ? 'Threshold Crossed: 1 datapoint [5.0] was greater than the threshold (1.0)' : 'ok' }];
    }),
  }));

  const doc = configDoc(o.config) as { clusters: Array<{ loadBalancer: Record<string, unknown>; policy: Record<string, unknown> }> };
  if (o.config?.listener) doc.clusters[0]!.loadBalancer.listenerUrl = LISTENER;
  if (o.config?.fencing) doc.clusters[0]!.policy.fencing = o.config.fencing;
  const cfg = parseConfig(doc, 'test');
  // Simulated clock: each observation (or post-check) happens one interval after the previous one.
  let skewMs = 0;
  const nowMs = (): number => Date.now() + skewMs;
  const metrics: string[] = [];
  const logger: Logger = { log() {}, raw: (line) => metrics.push(line) };
  const clients = () => ({ ec2: fake.ec2, elbv2: fake.elbv2, ssm: fake.ssm, ddb: dyn.client });
  const probe = (address: string) => {
    applyCommands();
    return fake.probe(address);
  };
  const handler = makeFailoverDrillHandler({
    loadConfig: async () => cfg,
    clients,
    probe,
    nowMs,
    sleep: async (ms) => {
      skewMs += ms;
    },
    env: { VAULT_HA_REPLACE_NODE_ARN: REPLACE_NODE_ARN },
    logger,
    alarms: (names) => describeAlarmStates(cw, names),
    listenerProbe: async () => {
      const act = activeNow();
      const ok = act !== undefined && fake.targets.has(act.id) && (targetAge.get(act.id) ?? 99) > 1;
      return { atMs: nowMs(), ok, detail: ok ? 'HTTP 200' : 'HTTP 503' };
    },
  });
  const clocked = async (event: { action?: string; ctx?: { observe?: { intervalSeconds: number }; postCheck?: { intervalSeconds: number } } }, context: unknown) => {
    if (event.action === 'observe') skewMs += (event.ctx?.observe?.intervalSeconds ?? 0) * 1000;
    if (event.action === 'postCheck') skewMs += (event.ctx?.postCheck?.intervalSeconds ?? 0) * 1000;
    return handler(event, context as never);
  };
  const replaceHandler = makeReplaceNodeHandler({
    loadConfig: async () => cfg,
    clients,
    probe,
    nowMs,
    sleep: async () => undefined,
    env: {},
    logger: { log() {}, raw() {} },
    compensationSettleMs: 0,
  });
  const nested: Array<{ stateMachineArn: string; name: string; input: unknown }> = [];
  const sdkClients = { ec2: fake.ec2, elasticloadbalancingv2: fake.elbv2, ssm: fake.ssm, sns: fake.sns };
  const run = (input: unknown, executionName = `drill-${process.pid}-${++execSeq}`): Promise<RunStateMachineResult> =>
    runStateMachine(definition, input, {
      lambdaHandlers: { failoverDrillTasks: clocked },
      sdkClients,
      waitTimeOverrides: () => 0,
      retryIntervalOverrides: () => 0,
      executionName,
      stateMachineName: 'failoverDrill',
      maxTransitions: 2_000,
      timeoutMs: 60_000,
      startExecution: (req) => {
        nested.push(req);
        return runStateMachine(replaceDefinition, req.input, {
          lambdaHandlers: { replaceNodeTasks: replaceHandler },
          sdkClients,
          waitTimeOverrides: () => 0,
          retryIntervalOverrides: () => 0,
          executionName: req.name,
          stateMachineName: 'replaceNode',
          maxTransitions: 1_000,
          timeoutMs: 30_000,
        });
      },
    });
  return { fake, run, metrics, nested, config: cfg };
}

/** The document's own parameters (SSM's standard `executionTimeout` aside). */
function documentParameters(p: Record<string, string[]> | undefined): Record<string, string[]> {
  const { executionTimeout: _timeout, ...rest } = p ?? {};
  return rest;
}

const mutations = (fake: FakeAws): string[] => fake.callLog.filter((c) => MUTATING.includes(c));
const failureReport = (r: RunStateMachineResult): DrillReport => JSON.parse(r.cause ?? '{}') as DrillReport;
const output = (r: RunStateMachineResult): DrillReport => r.output as DrillReport;
const sent = (fake: FakeAws) => fake.ssmMock.commandCalls(SendCommandCommand).map((c) => ({ document: c.args[0].input.DocumentName, instance: c.args[0].input.InstanceIds?.[0], parameters: documentParameters(c.args[0].input.Parameters) }));

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

  it('never retries a failed nested replace-node (only a refused start), and waits longer than the child can run', () => {
    const s = (definition.States as Record<string, { Resource?: string; Retry?: Array<{ ErrorEquals: string[] }>; TimeoutSeconds?: number }>).RestoreReplaceNode;
    assert.equal(s?.Resource, 'arn:aws:states:::states:startExecution.sync:2');
    assert.deepEqual(s?.Retry?.flatMap((r) => r.ErrorEquals), ['StepFunctions.ExecutionLimitExceededException']);
    assert.ok((s?.TimeoutSeconds ?? 0) > (replaceDefinition as { TimeoutSeconds?: number }).TimeoutSeconds!);
  });
});

describe('failover-drill per scenario: inject, observe, restore', () => {
  const rows: Array<{ scenario: string; injected: string; check: (fake: FakeAws) => void; restore: (fake: FakeAws, report: DrillReport, nested: unknown[]) => void }> = [
    {
      scenario: 'step-down',
      injected: 'SendCommand',
      check: (fake) => assert.deepEqual(sent(fake)[0], { document: 'VaultHA-VaultControl', instance: A, parameters: { Action: ['step-down'], TokenParameterName: ['/vault-ha/prod/step-down-token'] } }),
      restore: (fake, report) => {
        assert.equal(sent(fake).length, 1, 'a stepped-down node needs nothing but time');
        assert.match(report.restore.actions.join('; '), /unsealed standby/);
      },
    },
    {
      scenario: 'kill-active',
      injected: 'SendCommand',
      check: (fake) => assert.deepEqual(sent(fake)[0], { document: 'VaultHA-VaultControl', instance: A, parameters: { Action: ['kill'] } }),
      restore: (fake) => {
        // The same document replace-node uses: names and paths only, never a share (invariant 7).
        assert.deepEqual(sent(fake)[1], {
          document: 'VaultHA-PrepareNode',
          instance: A,
          parameters: { VolumeId: ['vol-0a'], MountPoint: ['/opt/vault/data'], UnsealMode: ['shamir'], SharesParameterPrefix: ['/vault/prod/unseal/'], VaultAddr: ['http://127.0.0.1:8200'], AllowFormat: ['false'] },
        });
      },
    },
    {
      scenario: 'seal-active',
      injected: 'SendCommand',
      check: (fake) => assert.deepEqual(sent(fake)[0], { document: 'VaultHA-VaultControl', instance: A, parameters: { Action: ['seal'], TokenParameterName: ['/vault-ha/prod/step-down-token'] } }),
      restore: (fake) => assert.equal(sent(fake)[1]?.document, 'VaultHA-PrepareNode'),
    },
    {
      scenario: 'partition-clients',
      injected: 'SendCommand',
      check: (fake) =>
        assert.deepEqual(sent(fake)[0], {
          document: 'VaultHA-VaultControl',
          instance: A,
          // The network fault heals itself on the node after 2 × maxRtoSeconds + 900 s.
          parameters: { Action: ['partition-clients'], ApiPort: ['8200'], ClusterPort: ['8201'], FaultDurationSeconds: ['1140'] },
        }),
      restore: (fake) => assert.deepEqual(sent(fake)[1], { document: 'VaultHA-VaultControl', instance: A, parameters: { Action: ['heal'] } }),
    },
    {
      scenario: 'partition-storage',
      injected: 'SendCommand',
      check: (fake) =>
        assert.deepEqual(sent(fake)[0]?.parameters, { Action: ['partition-storage'], ApiPort: ['8200'], ClusterPort: ['8201'], HaStorage: ['raft'], FaultDurationSeconds: ['1140'] }),
      restore: (fake) => assert.deepEqual(sent(fake)[1]?.parameters, { Action: ['heal'] }),
    },
    {
      scenario: 'stop-active-instance',
      injected: 'StopInstances',
      check: (fake) => assert.deepEqual(fake.ec2Mock.commandCalls(StopInstancesCommand)[0]?.args[0].input.InstanceIds, [A]),
      restore: (fake) => {
        assert.deepEqual(fake.ec2Mock.commandCalls(StartInstancesCommand)[0]?.args[0].input.InstanceIds, [A]);
        const log = fake.callLog;
        assert.ok(log.indexOf('StartInstances') < log.lastIndexOf('SendCommand'), 'Vault is unsealed after the instance runs');
        assert.equal(sent(fake)[0]?.document, 'VaultHA-PrepareNode');
      },
    },
    {
      scenario: 'terminate-active',
      injected: 'TerminateInstances',
      check: (fake) => assert.deepEqual(fake.ec2Mock.commandCalls(TerminateInstancesCommand)[0]?.args[0].input.InstanceIds, [A]),
      restore: (fake, report, nested) => {
        assert.equal(nested.length, 1);
        const [newInst] = fake.launched();
        assert.ok(newInst, 'the nested replace-node launched a replacement');
        assert.equal(newInst.tags['vault-slot'], 'vault-a');
        assert.equal(fake.volumes.get('vol-0a')?.attachment?.instanceId, newInst.id, 'the kept data volume follows the slot');
        assert.equal(report.restore.instanceId, newInst.id);
        assert.equal(report.restore.nestedExecution?.status, 'SUCCEEDED');
      },
    },
  ];
  for (const row of rows) {
    it(`${row.scenario}: injects on the legitimate active, reports the routed and client-visible RTOs, restores the node as an unsealed standby`, async () => {
      const { fake, run, nested } = world({ config: { listener: true, haLock: { type: 'raft' } } });
      const r = await run({ cluster: 'prod', scenario: row.scenario });
      assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
      const report = output(r);
      assert.equal(report.result, 'passed');
      assert.equal(report.passed, true);
      assert.equal(report.scenario, row.scenario);
      assert.equal(report.oldActive, A);
      assert.ok(report.newActive === B || report.newActive === C, String(report.newActive));
      assert.ok(fake.callLog.includes(row.injected));
      row.check(fake);
      assert.equal(report.rtoMeasure, 'client-visible');
      assert.equal(report.rtoSeconds, report.clientRtoSeconds);
      assert.ok(report.routedRtoSeconds !== null && report.routedRtoSeconds > 0 && report.routedRtoSeconds <= report.maxRtoSeconds, String(report.routedRtoSeconds));
      assert.ok(report.clientRtoSeconds !== null && report.clientRtoSeconds > 0, String(report.clientRtoSeconds));
      assert.ok(report.failedRequests !== null && report.failedRequests > 0 && report.clientProbe?.url === LISTENER);
      assert.equal(report.restored, true, JSON.stringify(report.restore));
      assert.equal(report.restore.status, 'restored');
      row.restore(fake, report, nested);
      const restored = fake.instances.get(report.restore.instanceId);
      assert.equal(restored?.vault, 'standby');
      assert.equal(restored?.state, 'running');
      assert.equal(report.invariants?.held, true);
      assert.equal(await leaseHolder(), undefined, 'the drill (or its nested replace-node) released the lease');
    });
  }

  it('measures the routed RTO from the injection to the first poll that sees the new active healthy in the target group', async () => {
    // Elected at poll 2 after the fault, registered at poll 4 (initial), healthy at poll 5.
    const { run } = world({ electAfterPolls: 2, routeAfterPolls: 2 });
    const r = await run({ cluster: 'prod', scenario: 'kill-active' });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const report = output(r);
    const polls = report.verdicts;
    const routedIdx = polls.findIndex((p) => p.registered.some((t) => t.instanceId === report.newActive && t.state === 'healthy'));
    assert.equal(routedIdx, polls.length - 1, 'observation stops at the first routed poll');
    assert.ok(polls.slice(0, routedIdx).some((p) => p.registered.some((t) => t.instanceId === report.newActive && t.state === 'initial')), 'an initial target does not count');
    const injectedAt = report.times?.injectedAt;
    assert.ok(injectedAt);
    assert.equal(report.routedRtoSeconds, (Date.parse(polls[routedIdx]!.at) - Date.parse(injectedAt)) / 1000);
    assert.ok(report.times!.detectionSeconds! <= report.times!.electionSeconds! && report.times!.electionSeconds! <= report.times!.routedSeconds!);
  });

  it('without loadBalancer.listenerUrl judges the routed RTO and says which measure it used', async () => {
    const { run } = world();
    const report = output(await run({ cluster: 'prod', scenario: 'kill-active' }));
    assert.equal(report.rtoMeasure, 'routed');
    assert.equal(report.rtoSeconds, report.routedRtoSeconds);
    assert.equal(report.clientRtoSeconds, null);
    assert.equal(report.failedRequests, null);
    assert.ok(report.warnings.some((w) => /no loadBalancer\.listenerUrl configured: the RTO is "routed"/.test(w)));
  });

  it('client-visible RTO: from the injection to the first client success after the last failure, with the failed-request count', async () => {
    const { run } = world({ config: { listener: true }, electAfterPolls: 2, routeAfterPolls: 1 });
    const report = output(await run({ cluster: 'prod', scenario: 'kill-active' }));
    const c = report.clientProbe!;
    assert.ok(c.requests > c.failedRequests && c.failedRequests > 0);
    assert.ok(c.recoveredAt && c.lastFailedAt && Date.parse(c.recoveredAt) > Date.parse(c.lastFailedAt));
    assert.equal(report.clientRtoSeconds, (Date.parse(c.recoveredAt) - Date.parse(report.times!.injectedAt)) / 1000);
    const events = report.timeline.map((e) => e.event);
    assert.ok(events.some((e) => e.startsWith('client requests fail')));
    assert.ok(events.some((e) => e.startsWith('client requests succeed again')));
  });

  it('writes the report: hypothesis, steady state, ISO timeline, invariants, expected and seen verdicts and actions', async () => {
    const { run } = world({ electAfterPolls: 2 });
    const report = output(await run({ cluster: 'prod', scenario: 'kill-active' }));
    assert.match(report.hypothesis, /kill the Vault process .* a standby takes over .* within 120 s; .*never routes two actives/);
    assert.equal(report.steadyState?.active, A);
    assert.deepEqual(report.steadyState?.registered, [{ instanceId: A, state: 'healthy' }]);
    for (const e of report.timeline) assert.match(e.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const times = report.timeline.map((e) => Date.parse(e.at));
    assert.deepEqual(times, [...times].sort((x, y) => x - y));
    assert.deepEqual(report.invariants, { held: true, neverTwoActivesRouted: true, neverEmptyWhileUnsealed: true, sealedNeverRouted: true, polls: report.invariants!.polls, violations: [] });
    const rows = report.expectations!.rows.map((x) => `${x.kind} ${x.expected} ${x.seen}`);
    // Raft: nobody claims active until the election; active-only routing swaps the registration.
    assert.ok(rows.includes('verdict no-leader true'), rows.join('; '));
    assert.ok(rows.includes('action register-new-active true') && rows.includes('action deregister-old true'), rows.join('; '));
    assert.ok(report.expectations!.verdictsSeen.includes('no-leader'));
  });

  it('reads the controller\'s own ticks since the injection for "seen", and names a verdict the fault should not provoke', async () => {
    const { run } = world({ electAfterPolls: 1 });
    // A controller tick as reconcile records it, stamped after the injection (and removed afterwards:
    // the control table is shared by the tests).
    const atMs = Date.now() + 60_000;
    await recordObservation(dyn.client, TABLE, 'prod', atMs, { verdict: { kind: 'split-brain' }, mutations: { registered: [], deregistered: [A] } }, 3600);
    try {
      const report = output(await run({ cluster: 'prod', scenario: 'kill-active' }));
      assert.ok(report.expectations!.controllerTicks >= 1);
      assert.ok(report.expectations!.verdictsSeen.includes('split-brain'));
      assert.deepEqual(report.expectations!.unexpectedVerdicts, ['split-brain']);
      assert.ok(report.warnings.some((w) => /verdicts the fault should not provoke were seen: split-brain/.test(w)));
    } finally {
      await dyn.client.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: { S: 'cluster#prod' }, sk: { S: `obs#${new Date(atMs).toISOString()}` } } }));
    }
  });

  it('releases the operation lease, stores the report in the control table, notifies, and emits DrillRtoSeconds for the scenario', async () => {
    const { fake, run, metrics } = world({ config: { topic: true, listener: true } });
    const r = await run({ cluster: 'prod', scenario: 'kill-active' }, 'drill-stored');
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.equal(await leaseHolder(), undefined);
    const stored = (await getReport(dyn.client, TABLE, 'prod', 'drill', 'drill-stored')) as DrillReport;
    assert.equal(stored.result, 'passed');
    assert.equal(stored.restored, true);
    assert.equal(fake.published.length, 1);
    assert.match(fake.published[0]?.subject ?? '', /failover-drill kill-active PASSED/);
    assert.equal((JSON.parse(fake.published[0]?.message ?? '{}') as DrillReport).clientRtoSeconds, output(r).clientRtoSeconds);
    const emf = metrics.map((m) => JSON.parse(m) as Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> } });
    assert.equal(emf.length, 1);
    assert.deepEqual(emf[0]!._aws.CloudWatchMetrics, [{ Namespace: 'VaultHA', Dimensions: [['Stage', 'Cluster', 'Scenario']], Metrics: [{ Name: 'DrillRtoSeconds', Unit: 'Seconds' }] }]);
    assert.equal(emf[0]!.DrillRtoSeconds, output(r).rtoSeconds);
    assert.equal(emf[0]!.Scenario, 'kill-active');
    assert.equal(emf[0]!.Cluster, 'prod');
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
  });

  it('restore: false leaves the faulted node as the fault left it and says what to do', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', scenario: 'kill-active', restore: false });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const report = output(r);
    assert.equal(report.restore.status, 'skipped');
    assert.equal(report.restored, null);
    assert.equal(sent(fake).length, 1, 'only the kill was sent');
    assert.equal(fake.instances.get(A)?.vault, 'down');
    assert.match(report.postCheck?.nextStep ?? '', /Action=start/);
  });
});

describe('failover-drill stop conditions: checked on every observation, then restore and report aborted', () => {
  it('a stopOnAlarms alarm going into ALARM stops the drill', async () => {
    const { fake, run } = world({ electAfterPolls: 20, alarms: { 'vault-5xx': ['OK', 'OK', 'ALARM'] } });
    const r = await run({ cluster: 'prod', scenario: 'kill-active', stopOnAlarms: ['vault-5xx'] });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'DrillAbortedError');
    const report = failureReport(r);
    assert.equal(report.result, 'aborted');
    assert.equal(report.passed, null);
    assert.equal(report.stop?.condition, 'alarm');
    assert.match(report.stop?.reason ?? '', /"vault-5xx" \(Threshold Crossed/);
    assert.match(report.outcome, /stopped by alarm/);
    assert.equal(report.verdicts.length, 2, 'stopped at the second observation');
    assert.equal(report.restore.status, 'restored', 'the killed node was still brought back');
    assert.equal(sent(fake)[1]?.document, 'VaultHA-PrepareNode');
    assert.deepEqual(report.stopConditions.alarms, ['vault-5xx']);
    assert.equal(await leaseHolder(), undefined);
  });

  it('two nodes claiming active for longer than maxSplitBrainSeconds stops the drill', async () => {
    const { run } = world({ config: { haLock: { type: 'raft' } }, staleLeaderPolls: 50, electAfterPolls: 1 });
    const r = await run({ cluster: 'prod', scenario: 'partition-storage', maxSplitBrainSeconds: 5 });
    assert.equal(r.error, 'DrillAbortedError');
    const report = failureReport(r);
    assert.equal(report.stop?.condition, 'split-brain');
    assert.match(report.stop?.reason ?? '', /claimed active together since .* > maxSplitBrainSeconds 5\)/);
    assert.equal(report.restore.status, 'restored');
  });

  it('a split brain shorter than maxSplitBrainSeconds does not stop the drill', async () => {
    const { run } = world({ config: { haLock: { type: 'raft' } }, staleLeaderPolls: 1, electAfterPolls: 1 });
    const r = await run({ cluster: 'prod', scenario: 'partition-storage', maxSplitBrainSeconds: 20 });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.ok(output(r).verdicts.some((p) => p.claimants.length === 2), 'there was a split brain');
  });

  it('two actives routed for longer than two controller ticks stops the drill', async () => {
    const { run } = world({ config: { haLock: { type: 'raft' } }, staleLeaderPolls: 50, keepOldRegistered: true, electAfterPolls: 1, routeAfterPolls: 1 });
    const r = await run({ cluster: 'prod', scenario: 'partition-storage', maxSplitBrainSeconds: 600 });
    assert.equal(r.error, 'DrillAbortedError');
    const report = failureReport(r);
    assert.equal(report.stop?.condition, 'two-actives-routed');
    assert.equal(report.invariants?.neverTwoActivesRouted, false);
    assert.equal(report.restore.status, 'restored');
  });

  it('no new active within maxRtoSeconds × 2 stops the drill there, and polling stops too', async () => {
    const { run } = world({ neverElect: true });
    const r = await run({ cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: 10 });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'DrillAbortedError');
    const report = failureReport(r);
    assert.equal(report.stop?.condition, 'no-new-active');
    assert.equal(report.newActive, null);
    assert.equal(report.rtoSeconds, null);
    const last = report.verdicts.at(-1);
    assert.ok(last && Date.parse(last.at) - Date.parse(report.times!.injectedAt) >= 20_000, 'observed for maxRtoSeconds × 2');
    assert.ok(report.verdicts.length < 12, `${report.verdicts.length} polls`);
    assert.equal(report.restore.status, 'restored');
    assert.equal(await leaseHolder(), undefined);
  });

  it('fails with RtoExceededError when the new active is routed after maxRtoSeconds but before the stop', async () => {
    // Fault seen at poll 1 (3 s), elected at poll 3, registered at poll 4, healthy at poll 5: 15 s, inside the 16 s stop.
    const { run } = world({ electAfterPolls: 2, routeAfterPolls: 1 });
    const r = await run({ cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: 8 });
    assert.equal(r.error, 'RtoExceededError');
    const report = failureReport(r);
    assert.equal(report.result, 'failed');
    assert.equal(report.passed, false);
    assert.ok(report.rtoSeconds !== null && report.rtoSeconds > 8, String(report.rtoSeconds));
    assert.equal(report.restored, true);
  });
});

describe('failover-drill restore failures', () => {
  it('a restore that cannot unseal fails the execution with RestoreFailedError, after the failover passed', async () => {
    const { fake, run } = world({ prepareFails: true });
    const r = await run({ cluster: 'prod', scenario: 'kill-active' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'RestoreFailedError');
    const report = failureReport(r);
    assert.equal(report.result, 'failed');
    assert.equal(report.passed, true, 'the failover itself met the hypothesis');
    assert.equal(report.restored, false);
    assert.equal(report.restore.status, 'failed');
    assert.match(report.restore.detail, /RestoreFailedError: restore of .* failed at prepare-node: command .* ended Failed/);
    assert.match(report.restore.nextStep ?? '', /start Vault on/);
    assert.ok(report.postCheck, 'the post-check still ran');
    assert.equal(fake.instances.get(A)?.vault, 'down');
    assert.equal(await leaseHolder(), undefined);
  });

  it('a nested replace-node that fails names its own error and leaves the lease free', async () => {
    const { run, nested } = world({ runInstancesFails: true });
    const r = await run({ cluster: 'prod', scenario: 'terminate-active' });
    assert.equal(r.error, 'RestoreFailedError');
    const report = failureReport(r);
    assert.equal(nested.length, 1);
    assert.equal(report.restore.status, 'failed');
    assert.equal(report.restore.error?.name, 'LaunchFailedError');
    assert.match(report.restore.error?.message ?? '', /nested replace-node .*-restore failed/);
    assert.equal(report.restore.nestedExecution?.status, 'FAILED');
    assert.equal(await leaseHolder(), undefined, 'the nested execution released the lease it was handed');
  });
});

describe('failover-drill refusals and bad input', () => {
  const refusals: Array<{ name: string; opts: WorldOptions; input?: Record<string, unknown>; reason: RegExp }> = [
    { name: 'no unsealed standby could take over', opts: { bVault: 'sealed', cVault: 'sealed' }, reason: /no unsealed standby/ },
    { name: 'the active is not registered in the target group', opts: { activeUnregistered: true }, reason: /not registered in the load balancer/ },
    { name: 'a stop-condition alarm does not exist', opts: { alarms: {} }, input: { stopOnAlarms: ['vault-5xxx'] }, reason: /alarm "vault-5xxx" does not exist/ },
    { name: 'a stop-condition alarm is already in ALARM', opts: { alarms: { 'vault-5xx': ['ALARM'] } }, input: { stopOnAlarms: ['vault-5xx'] }, reason: /alarm "vault-5xx" is already in ALARM/ },
  ];
  for (const row of refusals) {
    it(`refuses without injecting anything when ${row.name}`, async () => {
      const { fake, run } = world(row.opts);
      const r = await run({ cluster: 'prod', scenario: 'kill-active', ...row.input });
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'RefusedError');
      assert.deepEqual(mutations(fake), []);
      const report = failureReport(r);
      assert.equal(report.result, 'failed');
      assert.equal(report.injected, null);
      assert.equal(report.restore.status, 'not-attempted');
      assert.match(report.error?.message ?? '', row.reason);
      assert.equal(await leaseHolder(), undefined);
    });
  }

  it('dry run reports what would be injected and restored, on which instance, and changes nothing', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', scenario: 'terminate-active', dryRun: true });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    const report = output(r);
    assert.equal(report.result, 'dry-run');
    assert.equal(report.oldActive, A);
    assert.match(report.plannedFault ?? '', new RegExp(`terminate EC2 instance ${A}.*vol-0a and eni-0a`));
    assert.match(report.plannedRestore ?? '', /nested replace-node execution/);
    assert.equal(report.rtoSeconds, null);
    assert.deepEqual(mutations(fake), []);
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

  const badInputs: Array<{ input: unknown; field: RegExp; world?: WorldOptions }> = [
    { input: { cluster: 'prod' }, field: /scenario/ },
    { input: { cluster: 'prod', scenario: 'pull-the-plug' }, field: /scenario/ },
    { input: { cluster: 'nope', scenario: 'kill-active' }, field: /cluster: unknown cluster "nope"/ },
    { input: { cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: -1 }, field: /maxRtoSeconds/ },
    { input: { cluster: 'prod', scenario: 'kill-active', slot: 'vault-a' }, field: /unknown field\(s\) "slot"/ },
    { input: { cluster: 'prod', scenario: 'kill-active', stopOnAlarms: 'vault-5xx' }, field: /stopOnAlarms/ },
    { input: { cluster: 'prod', scenario: 'kill-active', stopOnAlarms: [''] }, field: /stopOnAlarms\[0\]: must be a CloudWatch alarm name/ },
    { input: { cluster: 'prod', scenario: 'kill-active', restore: 'yes' }, field: /restore/ },
    { input: { cluster: 'prod', scenario: 'kill-active', maxSplitBrainSeconds: 0 }, field: /maxSplitBrainSeconds/ },
  ];
  for (const row of badInputs) {
    it(`fails at Validate with InvalidInputError naming the field for ${JSON.stringify(row.input)}`, async () => {
      const { fake, run } = world(row.world);
      const r = await run(row.input);
      assert.equal(r.status, 'FAILED');
      assert.equal(r.error, 'InvalidInputError');
      assert.match(r.cause ?? '', row.field);
      assert.deepEqual(r.history.map((h) => h.state), ['Validate', 'RejectInput']);
      assert.deepEqual(fake.callLog, []);
      assert.equal(await leaseHolder(), undefined);
    });
  }

  it('an AWS error while observing still restores the node before reporting the failure', async () => {
    const { fake, run } = world({ electAfterPolls: 5 });
    let polls = 0;
    fake.elbMock.on(DescribeTargetHealthCommand).callsFake(() => {
      polls += 1;
      // After the pre-check: the target group is gone (a permanent error, not retried).
      if (polls >= 2) throw sdkError('TargetGroupNotFound', 'One or more target groups not found');
      return { TargetHealthDescriptions: [{ Target: { Id: A, Port: 8200 }, TargetHealth: { State: 'healthy' } }] };
    });
    const r = await run({ cluster: 'prod', scenario: 'kill-active' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'TargetGroupNotFoundError');
    const report = failureReport(r);
    assert.equal(report.result, 'failed');
    assert.match(report.outcome, /failed while observing/);
    assert.equal(report.restore.status, 'restored');
    assert.equal(sent(fake)[1]?.document, 'VaultHA-PrepareNode');
  });
});
