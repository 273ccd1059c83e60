/**
 * replace-node with `loadBalancer.type: classic`, executed: the real ASL
 * definition and task code in the local interpreter, the stateful EC2/SSM fake
 * (test/unit/replacement/fake-aws.ts) and a fake Classic Load Balancer behind
 * the real `@aws-sdk/client-elastic-load-balancing` (aws-sdk-client-mock, every
 * instance of the client class: the task code's per-container client and the
 * state machine's SDK integration alike).
 *
 * DeregisterOldClassic is Step Functions' AWS SDK integration
 * `aws-sdk:elasticloadbalancing:deregisterInstancesFromLoadBalancer`
 * ("Elastic Load Balancing V1", error prefix `ElasticLoadBalancing`, in AWS's
 * "Learning to use AWS service SDK integrations in Step Functions"). The errors
 * the API reference declares for DeregisterInstancesFromLoadBalancer are
 * InvalidInstance and LoadBalancerNotFound, whose shapes (and the AWS SDK for
 * Java's classes, which Step Functions names errors after) are
 * InvalidEndPointException and AccessPointNotFoundException; anything else
 * (Throttling, AccessDenied) is the generic ElasticLoadBalancingException.
 */
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AccessPointNotFoundException,
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  ElasticLoadBalancingClient,
  ElasticLoadBalancingServiceException,
  InvalidEndPointException,
} from '@aws-sdk/client-elastic-load-balancing';
import { loadDefinition, runStateMachine, integrationErrorNames, type RunStateMachineResult } from '../../sandbox/stepfunctions/runner.js';
import { makeReplaceNodeHandler } from '../../functions/handlers/replace-node.js';
import { readLease } from '../../functions/adapters/control-table.js';
import { parseConfig } from '../../functions/config/load.js';
import { silentLogger } from '../../functions/handlers/lib/logger.js';
import type { ReplacementReport } from '../../functions/core/replacement.js';
import { createControlTable, startDynalite, type DynaliteHandle } from '../support/dynalite.js';
import { configDoc } from '../unit/replacement/fixtures.js';
import { FakeAws } from '../unit/replacement/fake-aws.js';
import { A, B, C, MUTATING, TABLE } from './support.js';

const LB_NAME = 'vault-prod';
const definition = await loadDefinition('statemachines/replace-node.asl.yml');
// Every instance of the class: the task code builds its own (classic-elb.ts's per-container client).
const classicMock = mockClient(ElasticLoadBalancingClient);
const creds = { region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
let dyn: DynaliteHandle;
let aws: FakeAws | undefined;
let execSeq = 0;

beforeAll(async () => {
  dyn = await startDynalite();
  await createControlTable(dyn.client, TABLE);
});
afterAll(async () => {
  classicMock.restore();
  await dyn.close();
});
afterEach(() => {
  aws?.restore();
  aws = undefined;
  classicMock.reset();
});

const metadata = { httpStatusCode: 400, requestId: 'req-classic-1' };
/** What the SDK raises for ELB's `InvalidInstance` (checked against the sandbox endpoint: name = shape, Code = wire code). */
const invalidInstance = (id: string): Error =>
  Object.assign(new InvalidEndPointException({ message: `Could not find EC2 instance ${id}.`, $metadata: metadata }), { Code: 'InvalidInstance' });
const loadBalancerNotFound = (name: string): Error =>
  Object.assign(new AccessPointNotFoundException({ message: `There is no ACTIVE Load Balancer named '${name}'`, $metadata: metadata }), { Code: 'LoadBalancerNotFound' });
/** An error the model does not declare: SDK v3 names it by its code. */
const undeclared = (code: string, message: string): Error =>
  Object.assign(new ElasticLoadBalancingServiceException({ name: code, $fault: 'client', message, $metadata: metadata }), { Code: code });
const throttling = (): Error => undeclared('Throttling', 'Rate exceeded');
const accessDenied = (): Error =>
  undeclared(
    'AccessDenied',
    `User: arn:aws:sts::111122223333:assumed-role/replaceNode/x is not authorized to perform: elasticloadbalancing:DeregisterInstancesFromLoadBalancer on resource: arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/${LB_NAME}`,
  );

interface ClassicWorld {
  fake: FakeAws;
  /** Instances registered with the Classic Load Balancer. */
  registered: Set<string>;
  /** Every DeregisterInstancesFromLoadBalancer request, in order. */
  deregisters: Array<{ LoadBalancerName?: string; Instances?: Array<{ InstanceId?: string }> }>;
  run: (input: unknown) => Promise<RunStateMachineResult>;
}

/**
 * prod behind Classic Load Balancer vault-prod: vault-a (A, active), vault-b
 * (B, standby), vault-c (C, standby), all registered unless `registered` says
 * otherwise. `deregisterAnswers` scripts the first DeregisterInstancesFromLoadBalancer
 * answers (an error, or 'gone': the controller removed the instance just before);
 * after them the fake behaves as ELB does.
 */
function world(o: { registered?: string[]; deregisterAnswers?: Array<Error | 'gone'> } = {}): ClassicWorld {
  const fake = new FakeAws();
  aws = fake;
  fake.addInstance({ id: A, slot: 'vault-a', az: 'eu-west-1a', subnet: 'subnet-0a', vault: 'active' });
  fake.addInstance({ id: B, slot: 'vault-b', vault: 'standby' });
  fake.addInstance({ id: C, slot: 'vault-c', az: 'eu-west-1c', subnet: 'subnet-0c', vault: 'standby' });
  fake.addVolume({ id: 'vol-0a', az: 'eu-west-1a', attachment: { instanceId: A, device: '/dev/sdf', state: 'attached', deleteOnTermination: false } });
  fake.addVolume({ id: 'vol-0b', az: 'eu-west-1b', attachment: { instanceId: B, device: '/dev/sdf', state: 'attached', deleteOnTermination: false } });
  fake.addVolume({ id: 'vol-0c', az: 'eu-west-1c', attachment: { instanceId: C, device: '/dev/sdg', state: 'attached', deleteOnTermination: false } });
  fake.addEni({ id: 'eni-0a', subnet: 'subnet-0a', az: 'eu-west-1a', attachment: { instanceId: A, attachmentId: 'eni-attach-a', deviceIndex: 0, deleteOnTermination: false } });
  fake.addEni({ id: 'eni-0b', subnet: 'subnet-0b', az: 'eu-west-1b', attachment: { instanceId: B, attachmentId: 'eni-attach-b', deviceIndex: 0, deleteOnTermination: false } });
  const registered = new Set(o.registered ?? [A, B, C]);
  const deregisters: ClassicWorld['deregisters'] = [];
  const answers = [...(o.deregisterAnswers ?? [])];
  classicMock.on(DescribeInstanceHealthCommand).callsFake(async () => {
    fake.callLog.push('DescribeInstanceHealth');
    return { InstanceStates: [...registered].map((InstanceId) => ({ InstanceId, State: 'InService', ReasonCode: 'N/A', Description: 'N/A' })) };
  });
  classicMock.on(DeregisterInstancesFromLoadBalancerCommand).callsFake(async (input: ClassicWorld['deregisters'][number]) => {
    fake.callLog.push('DeregisterInstancesFromLoadBalancer');
    deregisters.push(input);
    if (input.LoadBalancerName !== LB_NAME) throw loadBalancerNotFound(input.LoadBalancerName ?? '');
    const ids = (input.Instances ?? []).map((i) => i.InstanceId ?? '');
    const scripted = answers.shift();
    if (scripted === 'gone') for (const id of ids) registered.delete(id);
    else if (scripted !== undefined) throw scripted;
    // ELB refuses the whole call when one instance is not registered (boto/boto#2274).
    const missing = ids.find((id) => !registered.has(id));
    if (missing !== undefined) throw invalidInstance(missing);
    for (const id of ids) registered.delete(id);
    return { Instances: [...registered].map((InstanceId) => ({ InstanceId })) };
  });

  const doc = configDoc() as { clusters: Array<Record<string, unknown>> };
  doc.clusters[0]!.loadBalancer = { type: 'classic', loadBalancerName: LB_NAME, routing: 'all-unsealed' };
  const cfg = parseConfig(doc, 'test');
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
  const classicClient = new ElasticLoadBalancingClient(creds);
  const run = (input: unknown): Promise<RunStateMachineResult> =>
    runStateMachine(definition, input, {
      lambdaHandlers: { replaceNodeTasks: handler },
      sdkClients: { ec2: fake.ec2, elasticloadbalancingv2: fake.elbv2, elasticloadbalancing: classicClient, ssm: fake.ssm, sns: fake.sns },
      waitTimeOverrides: () => 0,
      retryIntervalOverrides: () => 0,
      executionName: `classic-${process.pid}-${++execSeq}`,
      stateMachineName: 'replaceNode',
      maxTransitions: 500,
      timeoutMs: 30_000,
    });
  return { fake, registered, deregisters, run };
}

const CLASSIC_MUTATING = [...MUTATING, 'DeregisterInstancesFromLoadBalancer'];
const mutations = (fake: FakeAws): string[] => fake.callLog.filter((c) => CLASSIC_MUTATING.includes(c));
const output = (r: RunStateMachineResult): ReplacementReport => r.output as ReplacementReport;
const failureReport = (r: RunStateMachineResult): ReplacementReport => JSON.parse(r.cause ?? '{}') as ReplacementReport;
const visits = (r: RunStateMachineResult, state: string) => r.history.filter((h) => h.state === state);

describe('replace-node behind a Classic Load Balancer', () => {
  it('deregisters the old instance from the Classic Load Balancer before terminating it, never through ELBv2', async () => {
    const { fake, registered, deregisters, run } = world();
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    assert.deepEqual(deregisters, [{ LoadBalancerName: LB_NAME, Instances: [{ InstanceId: B }] }]);
    assert.equal(registered.has(B), false);
    const log = fake.callLog;
    assert.ok(log.indexOf('DeregisterInstancesFromLoadBalancer') < log.indexOf('TerminateInstances'), log.join(' '));
    assert.equal(log.includes('DeregisterTargets'), false);
    assert.deepEqual(visits(r, 'DeregisterOld'), []);
    assert.equal(visits(r, 'DeregisterOldClassic')[0]?.error, undefined);
    assert.equal(output(r).result, 'replaced');
    assert.ok(!output(r).warnings.some((w) => /stays registered/.test(w)), output(r).warnings.join('\n'));
  });

  it('an instance the controller removed in the meantime (InvalidInstance) counts as deregistered: the replacement carries on', async () => {
    const { fake, deregisters, run } = world({ deregisterAnswers: ['gone'] });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    assert.equal(deregisters.length, 1, 'caught at once, not retried');
    const [visit] = visits(r, 'DeregisterOldClassic');
    assert.equal(visit?.error, 'ElasticLoadBalancing.InvalidEndPointException');
    assert.equal(visit?.retries, 0);
    assert.ok(fake.callLog.includes('TerminateInstances'));
  });

  it('throttled (ElasticLoadBalancing.ElasticLoadBalancingException) then accepted: retried, and the replacement succeeds', async () => {
    const { registered, deregisters, run } = world({ deregisterAnswers: [throttling(), throttling()] });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    assert.equal(deregisters.length, 3);
    assert.equal(visits(r, 'DeregisterOldClassic')[0]?.retries, 2);
    assert.equal(registered.has(B), false);
  });

  it('access denied: bounded retries, then compensation; the old instance is left running and registered, nothing launched', async () => {
    const denied = Array.from({ length: 10 }, accessDenied);
    const { fake, registered, deregisters, run } = world({ deregisterAnswers: denied });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'FAILED');
    assert.equal(r.error, 'ElasticLoadBalancing.ElasticLoadBalancingException');
    assert.equal(deregisters.length, 5, 'one call and MaxAttempts 4 retries');
    assert.ok(r.history.some((h) => h.state === 'Compensate'));
    const report = failureReport(r);
    assert.equal(report.result, 'failed');
    assert.match(report.error?.message ?? '', /not authorized to perform: elasticloadbalancing:DeregisterInstancesFromLoadBalancer/);
    assert.equal(fake.instances.get(B)?.state, 'running');
    assert.ok(registered.has(B));
    assert.equal(fake.launched().length, 0);
    assert.equal(fake.callLog.includes('TerminateInstances'), false);
    assert.equal((await readLease(dyn.client, TABLE, { cluster: 'prod', scope: 'operation' }))?.owner, undefined);
  });

  it('an old instance that is not registered (active-only routing keeps standbys out) is not deregistered at all', async () => {
    const { deregisters, run } = world({ registered: [A] });
    const r = await run({ cluster: 'prod', slot: 'vault-b' });
    assert.equal(r.status, 'SUCCEEDED', `${r.error}: ${r.cause}`);
    assert.deepEqual(deregisters, []);
    assert.deepEqual(visits(r, 'DeregisterOldClassic'), []);
  });

  it('dry run: the plan names the Classic Load Balancer step, and nothing is called that changes anything', async () => {
    const { fake, run } = world();
    const r = await run({ cluster: 'prod', slot: 'vault-b', dryRun: true });
    assert.equal(r.status, 'SUCCEEDED', r.cause);
    assert.ok((output(r).plan ?? []).includes(`deregister ${B} from Classic Load Balancer ${LB_NAME}`), (output(r).plan ?? []).join('\n'));
    assert.deepEqual(mutations(fake), []);
  });
});

/**
 * The runner names Classic ELB errors as Step Functions does: after the error
 * SHAPE, which for this service differs from the wire code (awsQueryError:
 * InvalidInstance → InvalidEndPointException, LoadBalancerNotFound →
 * AccessPointNotFoundException). A runner that went by the code would report
 * the generic exception and let a Catch on InvalidEndPointException pass here
 * that matches on AWS — or the reverse.
 */
describe('runner: Classic ELB (aws-sdk:elasticloadbalancing) error names', () => {
  const client = new ElasticLoadBalancingClient(creds);
  const rows: Array<{ name: string; error: () => Error; expected: string }> = [
    { name: 'InvalidInstance', error: () => invalidInstance(B), expected: 'ElasticLoadBalancing.InvalidEndPointException' },
    { name: 'LoadBalancerNotFound', error: () => loadBalancerNotFound(LB_NAME), expected: 'ElasticLoadBalancing.AccessPointNotFoundException' },
    { name: 'Throttling (not declared by the model)', error: throttling, expected: 'ElasticLoadBalancing.ElasticLoadBalancingException' },
  ];
  for (const row of rows) {
    it(`${row.name} → ${row.expected}, Cause in the AWS SDK for Java v2 format`, async () => {
      classicMock.on(DeregisterInstancesFromLoadBalancerCommand).rejects(row.error());
      const def = {
        StartAt: 'Call',
        States: {
          Call: {
            Type: 'Task',
            Resource: 'arn:aws:states:::aws-sdk:elasticloadbalancing:deregisterInstancesFromLoadBalancer',
            Parameters: { LoadBalancerName: LB_NAME, Instances: [{ InstanceId: B }] },
            Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }],
            End: true,
          },
          Caught: { Type: 'Pass', End: true },
        },
      };
      const r = await runStateMachine(def as never, {}, { lambdaHandlers: {}, sdkClients: { elasticloadbalancing: client } });
      const error = (r.output as { error: { Error: string; Cause: string } }).error;
      assert.equal(error.Error, row.expected);
      assert.match(error.Cause, /\(Service: ElasticLoadBalancing, Status Code: 400, Request ID: req-classic-1\)$/);
    });
  }

  it('every name the ASL matches on is one the integration can report', async () => {
    const names = await integrationErrorNames('elasticloadbalancing', 'aws-sdk');
    for (const n of ['ElasticLoadBalancing.InvalidEndPointException', 'ElasticLoadBalancing.AccessPointNotFoundException', 'ElasticLoadBalancing.ElasticLoadBalancingException']) {
      assert.ok(names.has(n), n);
    }
    assert.equal(names.has('ElasticLoadBalancing.InvalidInstanceException'), false);
  });
});
