/**
 * `serverless package` (osls) must work offline and produce a template that
 * deploys what DESIGN §2/§4 promise: the controller on a one-minute schedule
 * that cannot overlap itself, the control table, the topic and the alarms.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
type Template = { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };

let template: Template;
let buildResults: Array<{ name: string; bundleBytes: number; zipBytes: number }>;

before(async () => {
  const { buildAll } = await import('../../scripts/build.mjs');
  buildResults = await buildAll({ quiet: true });
  const env = {
    ...process.env,
    // Offline: no credentials lookup may leave the machine.
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_REGION: 'eu-west-1',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  await run(path.join(root, 'node_modules/.bin/serverless'), ['package', '--stage', 'citest'], { cwd: root, env, timeout: 120_000 });
  template = JSON.parse(await readFile(path.join(root, '.serverless/cloudformation-template-update-stack.json'), 'utf8'));
});

const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

describe('serverless package', () => {
  it('bundles every function as minified ESM under the handler path serverless.yml names', async () => {
    assert.ok(buildResults.some((r) => r.name === 'controller'));
    for (const r of buildResults) {
      assert.ok(existsSync(path.join(root, '.build', `${r.name}.zip`)), r.name);
      assert.ok(r.zipBytes < 1_500_000, `${r.name} zip is ${r.zipBytes} bytes`);
    }
  });

  it('declares the controller on nodejs22.x with a one-minute schedule and no overlap', () => {
    const fn = template.Resources.ControllerLambdaFunction!;
    assert.equal(fn.Properties.Runtime, 'nodejs22.x');
    assert.equal(fn.Properties.Handler, 'functions/handlers/controller.handler');
    assert.equal(fn.Properties.ReservedConcurrentExecutions, 1);
    assert.ok(fn.Properties.Timeout < 60, 'timeout must be shorter than the schedule period');
    const [, invokeConfig] = ofType('AWS::Lambda::EventInvokeConfig').find(([, c]) => c.Properties.FunctionName?.Ref === 'ControllerLambdaFunction')!;
    assert.equal(invokeConfig.Properties.MaximumRetryAttempts, 0, 'a failed run is not retried behind the next schedule');
    const rules = ofType('AWS::Events::Rule');
    assert.ok(rules.some(([, r]) => r.Properties.ScheduleExpression === 'rate(1 minute)'));
  });

  it('creates the control table with pk/sk, TTL on expiresAt, PITR and encryption', () => {
    const [, table] = ofType('AWS::DynamoDB::Table')[0]!;
    assert.deepEqual(table.Properties.KeySchema, [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    assert.deepEqual(table.Properties.TimeToLiveSpecification, { AttributeName: 'expiresAt', Enabled: true });
    assert.equal(table.Properties.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
    assert.equal(table.Properties.SSESpecification.SSEEnabled, true);
  });

  it('has alarms for a non-healthy verdict over two minutes, probe blindness and controller errors', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const verdict = alarms.find((a) => a.MetricName === 'VerdictNonHealthy');
    assert.ok(verdict);
    assert.equal(verdict.Period * verdict.EvaluationPeriods, 120);
    assert.ok(alarms.find((a) => a.MetricName === 'ProbeBlind'));
    assert.ok(alarms.find((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda'));
    assert.ok(ofType('AWS::SNS::Topic').length >= 1);
  });

  it('alarms watch metric series the controller actually emits (name and dimension set)', async () => {
    const { formatMetrics } = await import('../../functions/adapters/metrics.js');
    const line = formatMetrics({
      cluster: 'prod', verdict: 'probe-blind', counts: { active: 1 }, registeredTargets: 1, changes: 0,
      tickDurationMs: 10, probeBlind: true, nonHealthy: true, timestampMs: Date.now(),
    });
    const emf = JSON.parse(line) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> } };
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties).filter((a) => a.Namespace === 'VaultHA');
    assert.ok(alarms.length >= 2);
    for (const alarm of alarms) {
      const dims = ((alarm.Dimensions ?? []) as Array<{ Name: string }>).map((d) => d.Name).sort();
      const emitted = emf._aws.CloudWatchMetrics.some(
        (d) => d.Namespace === alarm.Namespace && d.Metrics.some((m) => m.Name === alarm.MetricName) && d.Dimensions.some((set) => JSON.stringify([...set].sort()) === JSON.stringify(dims)),
      );
      assert.ok(emitted, `${alarm.AlarmName}: ${alarm.MetricName} with dimensions [${dims.join(',')}] is never emitted`);
    }
  });

  it('scopes target registration to the configured target groups, never "*"', () => {
    const role = ofType('AWS::IAM::Role').find(([id]) => id === 'IamRoleLambdaExecution')![1];
    const statements: any[] = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    const mutating = statements.filter((s) => [s.Action].flat().some((a: string) => /RegisterTargets|DeregisterTargets/.test(a)));
    assert.ok(mutating.length > 0);
    for (const s of mutating) assert.notEqual(s.Resource, '*');
    const ddb = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('dynamodb:')));
    for (const s of ddb) assert.notEqual(s.Resource, '*');
  });

  it('declares the replaceNode state machine with its task function, its own role and the SSM documents', () => {
    const machines = ofType('AWS::StepFunctions::StateMachine');
    assert.deepEqual(machines.map(([id]) => id).sort(), ['FailoverDrillStateMachine', 'ReplaceNodeStateMachine']);
    const [, sm] = machines.find(([id]) => id === 'ReplaceNodeStateMachine')!;
    assert.deepEqual(sm.Properties.RoleArn, { 'Fn::GetAtt': ['ReplaceNodeStateMachineRole', 'Arn'] });
    assert.ok(JSON.stringify(sm.Properties).includes('ReplaceNodeTasksLambdaFunction'));
    assert.equal(template.Resources.ReplaceNodeTasksLambdaFunction?.Properties.Handler, 'functions/handlers/replace-node.handler');
    const docs = ofType('AWS::SSM::Document').map(([, d]) => d.Properties.Name);
    assert.deepEqual(docs.sort(), ['VaultHA-PrepareNode', 'VaultHA-VaultControl']);
  });

  it('declares the failoverDrill state machine with its task function and its own role', () => {
    const sm = template.Resources.FailoverDrillStateMachine!;
    assert.deepEqual(sm.Properties.RoleArn, { 'Fn::GetAtt': ['FailoverDrillStateMachineRole', 'Arn'] });
    assert.ok(JSON.stringify(sm.Properties).includes('FailoverDrillTasksLambdaFunction'));
    assert.equal(template.Resources.FailoverDrillTasksLambdaFunction?.Properties.Handler, 'functions/handlers/failover-drill.handler');
  });

  it('scopes every mutating EC2 action of replace-node to resources carrying the cluster tag', () => {
    const role = ofType('AWS::IAM::Role').find(([id]) => id === 'IamRoleLambdaExecution')![1];
    const statements: any[] = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    const mutating = /^ec2:(StopInstances|TerminateInstances|DetachVolume|AttachVolume|ModifyInstanceAttribute|ModifyNetworkInterfaceAttribute|DetachNetworkInterface)$/;
    const scoped = statements.filter((s) => [s.Action].flat().some((a: string) => mutating.test(a)));
    assert.ok(scoped.length > 0);
    for (const s of scoped) assert.ok(s.Condition?.StringLike?.['aws:ResourceTag/vault-cluster'], JSON.stringify(s));
  });

  it('passes cfn-lint without errors when cfn-lint is installed', async (t) => {
    try {
      await run('cfn-lint', ['--version']);
    } catch {
      t.skip('cfn-lint is not installed on this machine');
      return;
    }
    try {
      await run('cfn-lint', [path.join(root, '.serverless/cloudformation-template-update-stack.json')], { timeout: 120_000 });
    } catch (e) {
      const err = e as { code?: number; stdout?: string };
      // cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
      assert.equal((err.code ?? 0) & 2, 0, `cfn-lint reported errors:\n${err.stdout}`);
    }
  });
});
