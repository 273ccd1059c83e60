/**
 * The drill's stop condition `stopOnAlarms` end to end (issue 11), with no
 * mock: the real `vault-ha drill --stop-on-alarm` (bin/vault-ha.mjs, a child
 * process) starts failover-drill on the sandbox's Step Functions endpoint,
 * which runs the REAL definition and task code; the drill reads the alarm
 * through the real adapter (functions/adapters/alarms.ts) and SDK client from
 * the sandbox's CloudWatch endpoint (sandbox/aws/cloudwatch.ts), while the
 * real controller reconciles.
 *
 * partition-clients under the sandbox's default fencing (`deregister`) leaves
 * a zombie leader and no new active (DESIGN §3.4), so the observation goes on
 * for maxRtoSeconds × 2 — long enough for the test to put the alarm into ALARM
 * after the first observation, without racing a timer. The drill must then
 * stop on the alarm (`aborted`, the reason naming it) and still restore the
 * node (heal). Compressed timings (×8).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { SANDBOX_STAGE, stateMachineName } from '../../cli/lib/stack.js';
import { CLUSTER_NAME, Sandbox } from '../../sandbox/environment.js';
import { startOperatorEndpoints, type OperatorEndpoints } from '../../sandbox/operator-endpoints.js';
import { REPLACE_NODE_MAX_SPEED } from '../../sandbox/scenarios.js';

const BIN = fileURLToPath(new URL('../../bin/vault-ha.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ALARM = 'vault-sandbox-5xx';

let sb: Sandbox;
let ops: OperatorEndpoints;
let sfn: SFNClient;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, timeout: timeoutMs, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', USER: 'operator-under-test', NO_COLOR: '1', ...ops.cliEnv } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) break;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

beforeAll(async () => {
  sb = new Sandbox({ ha: 'dynamodb', fast: true, speed: REPLACE_NODE_MAX_SPEED });
  await sb.start();
  ops = await startOperatorEndpoints(sb);
  sfn = new SFNClient({ endpoint: ops.sfn.url, region: sb.aws.world.region, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 2 });
  await until('a healthy cluster', 30_000, () => sb.controller.last?.report?.clusters[0]?.verdict.kind === 'healthy' || undefined);
});

afterAll(async () => {
  sfn?.destroy();
  await ops?.stop();
  await sb?.stop();
});

describe('failover-drill stopOnAlarms against the sandbox CloudWatch endpoint', () => {
  it('the alarm goes into ALARM during the observation: the drill reports aborted naming it, and the restore ran', async () => {
    assert.equal(sb.aws.cloudwatch.alarm(ALARM)?.state, 'OK', 'the pre-check refuses an alarm already in ALARM');
    const running = cli(['drill', '--cluster', CLUSTER_NAME, '--scenario', 'partition-clients', '--stop-on-alarm', ALARM, '--poll', '200ms', '--json'], 150_000);

    // The execution, then its first completed observation (the fault is in, the drill is watching).
    const machineArn = ops.sfn.stateMachineArn(stateMachineName(SANDBOX_STAGE, 'failover-drill'));
    const arn = await until('the drill execution', 30_000, async () => (await sfn.send(new ListExecutionsCommand({ stateMachineArn: machineArn }))).executions?.[0]?.executionArn);
    await until('the first observation', 60_000, () => ops.sfn.execution(arn)?.history.some((h) => h.state === 'Observe' && h.exitedAtMs !== undefined) || undefined);
    assert.equal(ops.sfn.execution(arn)?.status, 'RUNNING', 'still observing: no new active is expected for a zombie under deregister fencing');
    sb.aws.cloudwatch.setAlarmState(ALARM, 'ALARM', 'e2e: clients see 5xx');

    const run = await running;
    assert.equal(run.code, 1, `exit ${run.code}: ${run.stderr.slice(-2000)}`);
    const doc = JSON.parse(run.stdout) as { status: string; error?: string; report: Record<string, unknown> };
    assert.equal(doc.status, 'FAILED');
    assert.equal(doc.error, 'DrillAbortedError');
    const report = doc.report as {
      result: string;
      passed: boolean | null;
      stop: { condition: string; reason: string } | null;
      stopConditions: { alarms: string[] };
      restore: { status: string; actions: string[] };
      restored: boolean | null;
    };
    assert.equal(report.result, 'aborted');
    assert.equal(report.passed, null);
    assert.equal(report.stop?.condition, 'alarm');
    assert.match(report.stop?.reason ?? '', new RegExp(`"${ALARM}" \\(e2e: clients see 5xx\\) in ALARM`));
    assert.deepEqual(report.stopConditions.alarms, [ALARM]);
    assert.equal(report.restore.status, 'restored', JSON.stringify(report.restore));
    assert.ok(report.restore.actions.length > 0, 'the restore did something (heal)');
    assert.equal(report.restored, true);

    // The CLI sent the flag as the contract's field, and the drill read the alarm on every observation, not only at the pre-check.
    const exec = await until('the execution to end', 10_000, () => (ops.sfn.execution(arn)?.status !== 'RUNNING' ? ops.sfn.execution(arn) : undefined));
    assert.equal(exec.status, 'FAILED');
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
    assert.deepEqual(JSON.parse(described.input ?? '{}'), { cluster: CLUSTER_NAME, scenario: 'partition-clients', stopOnAlarms: [ALARM] });
    assert.ok(sb.aws.cloudwatch.describeCalls >= 3, `DescribeAlarms calls: ${sb.aws.cloudwatch.describeCalls}`);
  });
});
