/**
 * `serverless package` (osls) must work offline and produce a template that
 * deploys what DESIGN §2/§4 promise: the controller on a one-minute schedule
 * that cannot overlap itself, the control table, the topic and the alarms.
 */
import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { packagedService, repoRoot as root, TEST_CLUSTER_TAG_VALUES } from '../support/packaged-service.js';
import { invokedFunction, stateMachinesOf, tasksOf, TemplateResolver, type CfnTemplate } from '../support/iam-policy.js';

const HAS_CFN_LINT = spawnSync('cfn-lint', ['--version'], { stdio: 'ignore' }).status === 0;
const run = promisify(execFile);
type Template = { Resources: Record<string, { Type: string; Properties: Record<string, any>; DependsOn?: string | string[] }> };

let template: Template;
let templatePath: string;
let buildResults: Array<{ name: string; bundleBytes: number; zipBytes: number }>;

beforeAll(async () => {
  const { buildAll } = await import('../../scripts/build.mjs');
  buildResults = await buildAll({ quiet: true });
  // Packaged once per process into a private copy (test/support/packaged-service.ts), so
  // test files running in parallel never share a .serverless/ directory.
  const packaged = await packagedService();
  template = packaged.template as Template;
  templatePath = packaged.templatePath;
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
    // Overlap at the boundary is by design (lease handover): a run outlives the
    // period so its successor can take over without a gap, and two may run at once.
    assert.equal(fn.Properties.ReservedConcurrentExecutions, 2);
    assert.ok(fn.Properties.Timeout > 60 && fn.Properties.Timeout <= 120, `timeout ${fn.Properties.Timeout} s: must outlive the 60 s period, not by minutes`);
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

  it('alarms watch only their own stage: the Stage value they name is the one every function emits', async () => {
    const { formatMetrics, STAGE_ENV } = await import('../../functions/adapters/metrics.js');
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties).filter((a) => a.Namespace === 'VaultHA');
    assert.ok(alarms.length >= 2);
    for (const [id, fn] of ofType('AWS::Lambda::Function')) {
      const stage = fn.Properties.Environment?.Variables?.[STAGE_ENV];
      assert.equal(typeof stage, 'string', `${id} has no ${STAGE_ENV}`);
      const line = JSON.parse(formatMetrics({
        cluster: 'prod', stage, verdict: 'probe-blind', counts: {}, registeredTargets: 0, changes: 0,
        tickDurationMs: 10, probeBlind: true, nonHealthy: true, timestampMs: Date.now(),
      })) as Record<string, unknown>;
      for (const alarm of alarms) {
        const dims = (alarm.Dimensions ?? []) as Array<{ Name: string; Value: unknown }>;
        assert.deepEqual(dims.find((d) => d.Name === 'Stage')?.Value, line['Stage'], `${alarm.AlarmName} vs ${id}`);
      }
    }
  });

  /** Every Allow statement of every role in the template, resolved (Fn::Sub, Fn::Split, …). */
  const allowStatements = (): Array<{ role: string; st: any }> => {
    const resolver = new TemplateResolver(template as CfnTemplate);
    return ofType('AWS::IAM::Role').flatMap(([id]) => resolver.roleStatements(id).filter((st) => st.Effect === 'Allow').map((st) => ({ role: id, st })));
  };
  /** Actions that only read (IAM access levels List and Read). */
  const READ_ONLY = /^[a-z0-9-]+:(Describe|Get|List|BatchGet|Query|Scan)[A-Za-z]*$/;
  /**
   * Mutating actions AWS authorizes only on "*": the CloudWatch Logs delivery calls Step Functions
   * makes to set up execution logging (Step Functions Developer Guide, "IAM policies for logging
   * to CloudWatch Logs": "Resource": "*").
   */
  const ONLY_ON_STAR = new Set(['logs:CreateLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:PutResourcePolicy']);

  it('allows no mutating action on Resource "*" without a condition (tag, key or service)', () => {
    const problems: string[] = [];
    for (const { role, st } of allowStatements()) {
      const resources = [st.Resource ?? []].flat();
      if (!resources.includes('*')) continue;
      for (const action of [st.Action ?? []].flat() as string[]) {
        if (READ_ONLY.test(action) || ONLY_ON_STAR.has(action)) continue;
        if (st.Condition === undefined) problems.push(`${role}:${st.Sid ?? '?'} allows ${action} on "*" with no condition`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('scopes every mutating EC2 and SSM action on instances, volumes and interfaces to this stage\'s cluster tag values', () => {
    const scopedTypes = /:(instance|volume|network-interface|launch-template)\/\*$/;
    const checked: string[] = [];
    const problems: string[] = [];
    for (const { role, st } of allowStatements()) {
      const actions = ([st.Action ?? []].flat() as string[]).filter((a) => /^(ec2|ssm):/.test(a) && !READ_ONLY.test(a));
      const resources = ([st.Resource ?? []].flat() as string[]).filter((r) => scopedTypes.test(r));
      if (actions.length === 0 || resources.length === 0) continue;
      // Lambda's own VPC network interfaces (denied to the functions' code: iam-policy.test.ts).
      if (st.Sid === 'LambdaVpcNetworkInterfaces') continue;
      // Tags requested in a launch (ec2:CreateAction RunInstances): the launch itself is tag-scoped.
      if (st.Condition?.StringEquals?.['ec2:CreateAction'] === 'RunInstances') continue;
      // RunInstances' read-only inputs and its new root volume (RunInstances never attaches an
      // existing volume): a launch needs the instance requested with the cluster tag as well,
      // which the role's RunInstances statement on instance/* requires (checked here as any other).
      if (actions.every((a) => a === 'ec2:RunInstances') && resources.every((r) => r.endsWith(':volume/*'))) continue;
      checked.push(`${role}:${st.Sid}`);
      const tagValues = Object.values(st.Condition ?? {}).flatMap((block: any) =>
        Object.entries(block).filter(([k]) => /^(aws:ResourceTag|aws:RequestTag|ssm:resourceTag)\/vault-cluster$/.test(k)).map(([, v]) => [v].flat()),
      );
      if (tagValues.length === 0) problems.push(`${role}:${st.Sid} allows ${actions.join(', ')} on ${resources.join(', ')} with no vault-cluster condition`);
      for (const values of tagValues) {
        if (JSON.stringify([...values].sort()) !== JSON.stringify([...TEST_CLUSTER_TAG_VALUES].sort())) {
          problems.push(`${role}:${st.Sid}: vault-cluster must be one of params.clusterTagValues (${TEST_CLUSTER_TAG_VALUES.join(', ')}), not ${JSON.stringify(values)}`);
        }
      }
      assert.ok(!Object.keys(st.Condition ?? {}).some((op) => /Like/.test(op) && JSON.stringify(st.Condition[op]).includes('vault-cluster')), `${role}:${st.Sid}: a pattern on vault-cluster would admit other stages`);
    }
    assert.ok(checked.length >= 4, `found only ${checked.join(', ')}`);
    assert.deepEqual(problems, []);
  });

  it('scopes target registration and DynamoDB to the configured resources, never "*"', () => {
    for (const { role, st } of allowStatements()) {
      const actions = [st.Action ?? []].flat() as string[];
      if (actions.some((a) => /RegisterTargets|DeregisterTargets|InstancesWithLoadBalancer|InstancesFromLoadBalancer|^dynamodb:/.test(a))) {
        assert.ok(![st.Resource].flat().includes('*'), `${role}:${st.Sid} on "*"`);
      }
    }
  });

  it('logs both state machines\' executions to their own log groups, without input or output data', () => {
    for (const id of ['ReplaceNodeStateMachine', 'FailoverDrillStateMachine']) {
      const logging = template.Resources[id]!.Properties.LoggingConfiguration;
      assert.ok(logging, `${id} has no LoggingConfiguration`);
      assert.ok(['ALL', 'ERROR'].includes(logging.Level), logging.Level);
      assert.equal(logging.IncludeExecutionData, false);
      const groups = logging.Destinations.map((d: any) => d.CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt']?.[0]);
      assert.equal(groups.length, 1);
      assert.equal(template.Resources[groups[0]]?.Type, 'AWS::Logs::LogGroup', `${id} logs to ${groups[0]}`);
      assert.match(String(template.Resources[groups[0]]!.Properties.LogGroupName), /^\/aws\/vendedlogs\/states\//);
    }
  });

  it('declares the replaceNode state machine with its task function, its own role and the SSM documents', () => {
    const machines = ofType('AWS::StepFunctions::StateMachine');
    assert.deepEqual(machines.map(([id]) => id).sort(), ['FailoverDrillStateMachine', 'ReplaceNodeStateMachine']);
    const [, sm] = machines.find(([id]) => id === 'ReplaceNodeStateMachine')!;
    assert.deepEqual(sm.Properties.RoleArn, { 'Fn::GetAtt': ['ReplaceNodeStateMachineRole', 'Arn'] });
    assert.ok(JSON.stringify(sm.Properties).includes('ReplaceNodeTasksLambdaFunction'));
    assert.equal(template.Resources.ReplaceNodeTasksLambdaFunction?.Properties.Handler, 'functions/handlers/replace-node.handler');
    // The functions find the documents through their environment, whatever the documents are named.
    const docs = ofType('AWS::SSM::Document').map(([id]) => id).sort();
    assert.deepEqual(docs, ['VaultHAPrepareNodeDocument', 'VaultHAVaultControlDocument']);
    const env = template.Resources.ReplaceNodeTasksLambdaFunction!.Properties.Environment.Variables;
    assert.deepEqual(env.VAULT_HA_PREPARE_DOCUMENT, { Ref: 'VaultHAPrepareNodeDocument' });
    assert.deepEqual(env.VAULT_HA_CONTROL_DOCUMENT, { Ref: 'VaultHAVaultControlDocument' });
  });

  it('declares the failoverDrill state machine with its task function and its own role', () => {
    const sm = template.Resources.FailoverDrillStateMachine!;
    assert.deepEqual(sm.Properties.RoleArn, { 'Fn::GetAtt': ['FailoverDrillStateMachineRole', 'Arn'] });
    assert.ok(JSON.stringify(sm.Properties).includes('FailoverDrillTasksLambdaFunction'));
    assert.equal(template.Resources.FailoverDrillTasksLambdaFunction?.Properties.Handler, 'functions/handlers/failover-drill.handler');
  });

  // Step Functions does not stop a Lambda invocation when its Task times out: a Task shorter than
  // its function lets a late invocation keep changing EC2 after the workflow moved on (to
  // compensation, say). The Task must outlast the function (Step Functions Developer Guide,
  // "Task" state: TimeoutSeconds; Lambda Developer Guide, "Configure Lambda function timeout").
  it('gives every Task that invokes one of our functions a TimeoutSeconds longer than the function\'s timeout', () => {
    const resolver = new TemplateResolver(template as CfnTemplate);
    const machines = stateMachinesOf(resolver);
    assert.equal(machines.length, 2);
    const problems: string[] = [];
    let checked = 0;
    for (const sm of machines) {
      for (const task of tasksOf(sm.definition)) {
        const fn = invokedFunction(resolver, task);
        if (fn === undefined) continue;
        checked += 1;
        const fnTimeout = Number(template.Resources[fn]!.Properties.Timeout ?? 6);
        if (task.TimeoutSeconds === undefined) problems.push(`${sm.logicalId}.${task.path}: no TimeoutSeconds (function ${fn} runs up to ${fnTimeout} s)`);
        else if (!(task.TimeoutSeconds > fnTimeout)) problems.push(`${sm.logicalId}.${task.path}: TimeoutSeconds ${task.TimeoutSeconds} <= ${fn} Timeout ${fnTimeout}`);
      }
    }
    assert.ok(checked >= 10, `only ${checked} Lambda tasks found: is the definition parsed?`);
    assert.deepEqual(problems, []);
  });

  // AWS re:Post, "How do I configure a CloudWatch alarm with an encrypted SNS topic?": the AWS
  // managed key alias/aws/sns cannot be used by CloudWatch alarms.
  it('encrypts the topic with a rotating customer managed key that CloudWatch alarms may use', () => {
    const topic = template.Resources.NotificationsTopic!;
    const keyRef = topic.Properties.KmsMasterKeyId as { Ref?: string } | string;
    assert.ok(typeof keyRef === 'object' && keyRef.Ref, `KmsMasterKeyId must reference a key of the stack, got ${JSON.stringify(keyRef)}`);
    const key = template.Resources[keyRef.Ref]!;
    assert.equal(key.Type, 'AWS::KMS::Key');
    assert.equal(key.Properties.EnableKeyRotation, true);
    const statements = key.Properties.KeyPolicy.Statement as Array<{ Principal?: { Service?: string }; Action: string | string[]; Condition?: Record<string, Record<string, unknown>> }>;
    const cw = statements.find((s) => s.Principal?.Service === 'cloudwatch.amazonaws.com');
    assert.ok(cw, 'the key policy must allow cloudwatch.amazonaws.com');
    assert.deepEqual([cw.Action].flat().sort(), ['kms:Decrypt', 'kms:GenerateDataKey*']);
    assert.ok(cw.Condition?.StringEquals?.['aws:SourceAccount'], 'CloudWatch is scoped to this account (aws:SourceAccount)');
    assert.ok(ofType('AWS::KMS::Alias').some(([, a]) => JSON.stringify(a.Properties.TargetKeyId) === JSON.stringify({ Ref: keyRef.Ref })));
    const policies = ofType('AWS::SNS::TopicPolicy').filter(([, p]) => JSON.stringify(p.Properties.Topics).includes('NotificationsTopic'));
    assert.equal(policies.length, 1, 'the topic has a policy letting CloudWatch publish');
  });

  it('has no dependency cycle between its resources', () => {
    const deps = new Map<string, Set<string>>();
    const collect = (v: unknown, into: Set<string>): void => {
      if (Array.isArray(v)) v.forEach((x) => collect(x, into));
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'Ref' && typeof x === 'string' && x in template.Resources) into.add(x);
          else if (k === 'Fn::GetAtt') into.add(Array.isArray(x) ? String(x[0]) : String(x).split('.')[0]!);
          else if (k === 'Fn::Sub') {
            const text = Array.isArray(x) ? String(x[0]) : String(x);
            for (const m of text.matchAll(/\$\{([^!}][^}.]*)[^}]*\}/g)) if (m[1]! in template.Resources) into.add(m[1]!);
            if (Array.isArray(x)) collect(x[1], into);
          } else collect(x, into);
        }
      }
    };
    for (const [id, r] of Object.entries(template.Resources)) {
      const set = new Set<string>([r.DependsOn ?? []].flat());
      collect(r.Properties, set);
      deps.set(id, set);
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (id: string, trail: string[]): void => {
      if (state.get(id) === 'done') return;
      assert.notEqual(state.get(id), 'visiting', `dependency cycle: ${[...trail, id].join(' -> ')}`);
      state.set(id, 'visiting');
      for (const d of deps.get(id) ?? []) visit(d, [...trail, id]);
      state.set(id, 'done');
    };
    for (const id of deps.keys()) visit(id, []);
  });

  // cfn-lint is an optional extra (TOOLCHAIN.md): decided when the file loads, so an
  // absent linter shows as a skipped test, not as a pass.
  (HAS_CFN_LINT ? it : it.skip)('passes cfn-lint without errors (skipped when cfn-lint is not installed)', async () => {
    try {
      await run('cfn-lint', [templatePath], { timeout: 120_000 });
    } catch (e) {
      const err = e as { code?: number; stdout?: string };
      // cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
      assert.equal((err.code ?? 0) & 2, 0, `cfn-lint reported errors:\n${err.stdout}`);
    }
  });
});
