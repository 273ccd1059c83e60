/**
 * Contract tests of the local CloudWatch endpoint (sandbox/aws/cloudwatch.ts)
 * through the unmodified `@aws-sdk/client-cloudwatch` (AWS JSON 1.0 with
 * awsQueryCompatible) and through the drill's own adapter
 * (functions/adapters/alarms.ts describeAlarmStates). Rules from the
 * CloudWatch API reference: DescribeAlarms returns only metric alarms unless
 * AlarmTypes asks for composite ones, refuses AlarmNames with
 * AlarmNamePrefix, omits names that match nothing, pages with MaxRecords /
 * NextToken; SetAlarmState needs an existing alarm (ResourceNotFound, 404)
 * and JSON StateReasonData (InvalidFormat).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from '@jest/globals';
import { CloudWatchClient, DescribeAlarmsCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { describeAlarmStates } from '../../../functions/adapters/alarms.js';
import { LocalAws, SANDBOX_ALARMS } from '../../../sandbox/aws/index.js';

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

describe('local CloudWatch endpoint', () => {
  let aws: LocalAws;
  let cw: CloudWatchClient;

  beforeEach(async () => {
    aws = new LocalAws({
      alarms: [
        { name: 'vault-prod-5xx', description: '5xx through the ALB', state: 'OK', reason: 'fine' },
        { name: 'vault-prod-latency' },
        { name: 'vault-prod-any', alarmRule: 'ALARM("vault-prod-5xx") OR ALARM("vault-prod-latency")', state: 'OK', reason: 'children fine' },
      ],
    });
    const endpoints = await aws.start();
    cw = new CloudWatchClient({ region: 'eu-west-1', endpoint: endpoints.cloudwatch, credentials, maxAttempts: 1 });
  });

  afterEach(async () => {
    cw.destroy();
    await aws.stop();
  });

  const rejectsWith = async (p: Promise<unknown>, name: string, code: string, status: number): Promise<void> => {
    await assert.rejects(p, (e: Record<string, unknown>) => {
      assert.equal(e['name'], name);
      assert.equal(e['Code'], code, 'the query-compatible code from x-amzn-query-error');
      assert.equal((e['$metadata'] as { httpStatusCode: number }).httpStatusCode, status);
      return true;
    });
  };

  test('endpointEnv names it with the SDK standard variable, and a default sandbox knows its 5xx alarm', async () => {
    assert.equal(aws.endpointEnv()['AWS_ENDPOINT_URL_CLOUDWATCH'], aws.cloudwatch.url);
    const plain = new LocalAws();
    assert.deepEqual(plain.cloudwatch.alarms.map((a) => [a.name, a.state]), SANDBOX_ALARMS.map((a) => [a.name, 'OK']));
    await plain.stop();
  });

  test('DescribeAlarms by name answers the MetricAlarm shape; a name that matches nothing is absent, not an error', async () => {
    const out = await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['vault-prod-5xx', 'no-such-alarm'] }));
    assert.equal(out.MetricAlarms?.length, 1);
    assert.deepEqual(out.CompositeAlarms, []);
    const a = out.MetricAlarms![0]!;
    assert.equal(a.AlarmName, 'vault-prod-5xx');
    assert.equal(a.AlarmArn, 'arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vault-prod-5xx');
    assert.equal(a.AlarmDescription, '5xx through the ALB');
    assert.equal(a.StateValue, 'OK');
    assert.equal(a.StateReason, 'fine');
    assert.ok(a.StateUpdatedTimestamp instanceof Date, 'epoch seconds on the wire become a Date');
    assert.ok(a.StateTransitionedTimestamp instanceof Date);
    assert.equal(typeof a.Threshold, 'number');
    assert.equal(typeof a.EvaluationPeriods, 'number');
    assert.ok(a.MetricName && a.Namespace && a.ComparisonOperator);
  });

  test('a new alarm starts in INSUFFICIENT_DATA, as on AWS', async () => {
    const out = await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['vault-prod-latency'] }));
    assert.equal(out.MetricAlarms?.[0]?.StateValue, 'INSUFFICIENT_DATA');
    assert.equal(out.MetricAlarms?.[0]?.StateReason, 'Unchecked: Initial alarm creation');
  });

  test('without AlarmTypes only metric alarms come back; with CompositeAlarm the composite one too', async () => {
    const metricOnly = await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['vault-prod-any', 'vault-prod-5xx'] }));
    assert.deepEqual(metricOnly.MetricAlarms?.map((a) => a.AlarmName), ['vault-prod-5xx']);
    assert.deepEqual(metricOnly.CompositeAlarms, []);
    const both = await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['vault-prod-any', 'vault-prod-5xx'], AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
    assert.deepEqual(both.CompositeAlarms?.map((a) => [a.AlarmName, a.AlarmRule, a.StateValue]), [['vault-prod-any', 'ALARM("vault-prod-5xx") OR ALARM("vault-prod-latency")', 'OK']]);
  });

  test('SetAlarmState changes what DescribeAlarms reports (state, reason, reason data, transition time) and is recorded', async () => {
    const before = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['vault-prod-5xx'] }))).MetricAlarms![0]!;
    await cw.send(new SetAlarmStateCommand({ AlarmName: 'vault-prod-5xx', StateValue: 'ALARM', StateReason: 'drill test', StateReasonData: '{"version":"1.0"}' }));
    const after = (await cw.send(new DescribeAlarmsCommand({ AlarmNames: ['vault-prod-5xx'], StateValue: 'ALARM' }))).MetricAlarms![0]!;
    assert.equal(after.StateValue, 'ALARM');
    assert.equal(after.StateReason, 'drill test');
    assert.equal(after.StateReasonData, '{"version":"1.0"}');
    assert.ok(after.StateTransitionedTimestamp!.getTime() >= before.StateTransitionedTimestamp!.getTime());
    assert.deepEqual(aws.cloudwatch.history.map((c) => [c.name, c.from, c.to, c.reason]), [['vault-prod-5xx', 'OK', 'ALARM', 'drill test']]);
    const okOnes = await cw.send(new DescribeAlarmsCommand({ StateValue: 'OK', AlarmTypes: ['MetricAlarm', 'CompositeAlarm'] }));
    assert.deepEqual([...(okOnes.MetricAlarms ?? []), ...(okOnes.CompositeAlarms ?? [])].map((a) => a.AlarmName), ['vault-prod-any']);
  });

  test('the drill adapter reads the states through the real client: metric and composite, ALARM with its reason', async () => {
    aws.cloudwatch.setAlarmState('vault-prod-any', 'ALARM', 'child in ALARM');
    const states = await describeAlarmStates(cw, ['vault-prod-5xx', 'vault-prod-any', 'missing']);
    assert.deepEqual(states, [
      { name: 'vault-prod-5xx', state: 'OK', reason: 'fine' },
      { name: 'vault-prod-any', state: 'ALARM', reason: 'child in ALARM' },
    ]);
  });

  test('AlarmNamePrefix and MaxRecords/NextToken page through alarms sorted by name', async () => {
    for (let i = 0; i < 5; i++) aws.cloudwatch.putAlarm({ name: `page-${i}`, state: 'OK' });
    const first = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'page-', MaxRecords: 2 }));
    assert.deepEqual(first.MetricAlarms?.map((a) => a.AlarmName), ['page-0', 'page-1']);
    assert.ok(first.NextToken);
    const second = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'page-', MaxRecords: 2, NextToken: first.NextToken }));
    assert.deepEqual(second.MetricAlarms?.map((a) => a.AlarmName), ['page-2', 'page-3']);
    const last = await cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'page-', MaxRecords: 2, NextToken: second.NextToken }));
    assert.deepEqual(last.MetricAlarms?.map((a) => a.AlarmName), ['page-4']);
    assert.equal(last.NextToken, undefined);
    await rejectsWith(cw.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'vault-', NextToken: first.NextToken })), 'InvalidNextToken', 'InvalidNextToken', 400);
  });

  test('errors carry the service codes: names with a prefix, too many names, MaxRecords out of range', async () => {
    await rejectsWith(cw.send(new DescribeAlarmsCommand({ AlarmNames: ['a'], AlarmNamePrefix: 'a' })), 'InvalidParameterCombinationException', 'InvalidParameterCombination', 400);
    await rejectsWith(cw.send(new DescribeAlarmsCommand({ AlarmNames: Array.from({ length: 101 }, (_, i) => `a${i}`) })), 'InvalidParameterValueException', 'InvalidParameterValue', 400);
    await rejectsWith(cw.send(new DescribeAlarmsCommand({ MaxRecords: 101 })), 'InvalidParameterValueException', 'InvalidParameterValue', 400);
  });

  test('SetAlarmState on an unknown alarm is ResourceNotFound (404); StateReasonData that is not JSON is InvalidFormat; nothing changes', async () => {
    await rejectsWith(cw.send(new SetAlarmStateCommand({ AlarmName: 'nope', StateValue: 'ALARM', StateReason: 'x' })), 'ResourceNotFound', 'ResourceNotFound', 404);
    await rejectsWith(cw.send(new SetAlarmStateCommand({ AlarmName: 'vault-prod-5xx', StateValue: 'ALARM', StateReason: 'x', StateReasonData: 'not json' })), 'InvalidFormatFault', 'InvalidFormat', 400);
    assert.equal(aws.cloudwatch.alarm('vault-prod-5xx')?.state, 'OK');
    assert.deepEqual(aws.cloudwatch.history, []);
  });
});
