/**
 * The failover drill's small adapters: one client request through the
 * listener (a real HTTP server on 127.0.0.1), the stop-condition alarms
 * (DescribeAlarms, mocked), the DrillRtoSeconds metric line (EMF).
 */
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { probeListener } from '../../../functions/adapters/listener-probe.js';
import { cloudWatchClient, describeAlarmStates } from '../../../functions/adapters/alarms.js';
import { DRILL_METRIC, formatDrillMetric } from '../../../functions/adapters/drill-metrics.js';
import { config } from '../replacement/fixtures.js';

const cluster = config().clusters[0]!;

describe('probeListener', () => {
  let server: http.Server;
  let base = '';
  const seen: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      const status = Number(/status=(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: status === 200 ? undefined : ['x'] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends the URL\'s path and query, and counts 2xx and 403 as served', async () => {
    const ok = await probeListener(`${base}/v1/secret/data/probe?status=200`, cluster, () => 42);
    assert.deepEqual(ok, { atMs: 42, ok: true, detail: 'HTTP 200' });
    assert.equal(seen.at(-1), '/v1/secret/data/probe?status=200');
    assert.equal((await probeListener(`${base}/v1/sys/mounts?status=403`, cluster)).ok, true);
    const down = await probeListener(`${base}/x?status=503`, cluster);
    assert.deepEqual([down.ok, down.detail], [false, 'HTTP 503']);
  });

  it('a refused connection is a failed request with its reason, never an exception', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await probeListener(`http://127.0.0.1:${port}/v1/sys/health`, cluster);
    assert.deepEqual([r.ok, r.detail], [false, 'refused']);
  });
});

describe('describeAlarmStates', () => {
  const cw = new CloudWatchClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const mock = mockClient(cw);
  afterEach(() => {
    mock.reset();
  });
  afterAll(() => {
    mock.restore();
  });

  it('asks for exactly the named alarms, metric and composite, and keeps name, state and reason', async () => {
    mock.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [{ AlarmName: 'a', StateValue: 'ALARM', StateReason: 'r'.repeat(500) }, { AlarmName: 'odd', StateValue: 'UNKNOWN' as never }],
      CompositeAlarms: [{ AlarmName: 'c', StateValue: 'OK' }],
    });
    const states = await describeAlarmStates(cw, ['a', 'c', 'odd']);
    assert.deepEqual(states.map((s) => [s.name, s.state]), [['a', 'ALARM'], ['c', 'OK']]);
    assert.equal(states[0]!.reason?.length, 200);
    const input = mock.commandCalls(DescribeAlarmsCommand)[0]!.args[0].input;
    assert.deepEqual([input.AlarmNames, input.AlarmTypes], [['a', 'c', 'odd'], ['MetricAlarm', 'CompositeAlarm']]);
  });

  it('makes no call for no alarm, and shares one client per container', async () => {
    assert.deepEqual(await describeAlarmStates(cw, []), []);
    assert.equal(mock.calls().length, 0);
    assert.equal(cloudWatchClient(), cloudWatchClient());
  });

  it('turns a throttle into the named transient error the state machine retries', async () => {
    mock.on(DescribeAlarmsCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $fault: 'client', $metadata: { httpStatusCode: 400 } }));
    await assert.rejects(describeAlarmStates(cw, ['a']), { name: 'AwsTransientError' });
  });
});

describe('formatDrillMetric', () => {
  it('is one EMF line: DrillRtoSeconds in seconds per Stage, Cluster and Scenario, the rest as properties', () => {
    const line = JSON.parse(
      formatDrillMetric({ cluster: 'prod', scenario: 'kill-active', stage: 'prod', rtoSeconds: 4.5, rtoMeasure: 'client-visible', routedRtoSeconds: 5.5, clientRtoSeconds: 4.5, failedRequests: 18, result: 'passed', executionName: 'e', timestampMs: 1 }),
    ) as Record<string, unknown> & { _aws: { Timestamp: number; CloudWatchMetrics: unknown } };
    assert.deepEqual(line._aws, { Timestamp: 1, CloudWatchMetrics: [{ Namespace: 'VaultHA', Dimensions: [['Stage', 'Cluster', 'Scenario']], Metrics: [{ Name: DRILL_METRIC, Unit: 'Seconds' }] }] });
    assert.deepEqual([line.Stage, line.Cluster, line.Scenario, line.DrillRtoSeconds, line.RoutedRtoSeconds, line.FailedRequests], ['prod', 'prod', 'kill-active', 4.5, 5.5, 18]);
  });
});
