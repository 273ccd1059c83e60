/**
 * `vault-ha drill`'s flags (issue 11): the StartExecution input the CLI sends
 * for every drill input field the state machine accepts
 * (failoverDrillInputSchema), only what the operator gave (the state machine
 * applies the defaults), and bad values refused as usage errors naming the
 * field, its flag and the expected type before any AWS call. SDK clients
 * mocked with aws-sdk-client-mock (real shapes); the config is a file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, ListStateMachinesCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DRILL_SCENARIOS, failoverDrillInputSchema } from '../../functions/config/schema.js';
import { EXIT } from '../../cli/lib/errors.js';
import { run, USAGE } from '../../cli/vault-ha.js';
import { DRILL_INPUT_FLAGS, DRILL_USAGE } from '../../cli/workflow.js';

const sfn = mockClient(SFNClient);
const ddb = mockClient(DynamoDBClient);
const MACHINE = 'arn:aws:states:eu-west-1:210987654321:stateMachine:vault-ha-control-plane-prod-failover-drill';
const EXECUTION = 'arn:aws:states:eu-west-1:210987654321:execution:vault-ha-control-plane-prod-failover-drill:cli-drill-prod-x';

let dir: string;
let configFile: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vault-ha-drill-flags-'));
  configFile = path.join(dir, 'config.json');
  await writeFile(
    configFile,
    JSON.stringify({
      controlTable: 'vault-ha-control-test',
      clusters: [
        {
          name: 'prod',
          discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
          loadBalancer: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/vault/6d0ecf831eec9f09' },
          haLock: { type: 'dynamodb', table: 'vault-data' },
        },
      ],
    }),
  );
});
afterAll(async () => {
  sfn.restore();
  ddb.restore();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  sfn.on(ListStateMachinesCommand).resolves({ stateMachines: [{ name: 'vault-ha-control-plane-prod-failover-drill', stateMachineArn: MACHINE, type: 'STANDARD', creationDate: new Date() }] });
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
  // No lease, no pause: GetItem answers without an Item.
  ddb.on(GetItemCommand).resolves({});
});
afterEach(() => {
  sfn.reset();
  ddb.reset();
});

function io() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { ...process.env, VAULT_HA_CONFIG: '', VAULT_HA_CONFIG_FILE: '', VAULT_HA_CONFIG_PARAMETER: '' } },
    out: () => out,
    err: () => err,
  };
}

const drill = (...flags: string[]) => ['drill', '--cluster', 'prod', '--config', configFile, ...flags];

/** Runs `vault-ha drill ... --no-wait` and returns the input StartExecution carried. */
async function sentInput(...flags: string[]): Promise<Record<string, unknown>> {
  const t = io();
  const code = await run(drill(...flags, '--no-wait'), t.io);
  assert.equal(code, EXIT.ok, t.err());
  const calls = sfn.commandCalls(StartExecutionCommand);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.args[0].input.stateMachineArn, MACHINE);
  return JSON.parse(calls[0]!.args[0].input.input ?? 'null') as Record<string, unknown>;
}

describe('vault-ha drill: the input it starts the state machine with', () => {
  const rows: Array<[string, string[], Record<string, unknown>]> = [
    ['only cluster and scenario: the defaults are the state machine\'s', ['--scenario', 'kill-active'], { cluster: 'prod', scenario: 'kill-active' }],
    ['--max-rto and --max-split-brain as numbers', ['--scenario', 'step-down', '--max-rto', '45', '--max-split-brain', '12.5'], { cluster: 'prod', scenario: 'step-down', maxRtoSeconds: 45, maxSplitBrainSeconds: 12.5 }],
    ['--stop-on-alarm repeated and as a comma list, in order', ['--scenario', 'partition-clients', '--stop-on-alarm', 'vault-prod-5xx', '--stop-on-alarm', 'vault-prod-latency, vault-prod-errors'], { cluster: 'prod', scenario: 'partition-clients', stopOnAlarms: ['vault-prod-5xx', 'vault-prod-latency', 'vault-prod-errors'] }],
    ['--no-restore', ['--scenario', 'seal-active', '--no-restore'], { cluster: 'prod', scenario: 'seal-active', restore: false }],
    ['--restore (explicit)', ['--scenario', 'partition-storage', '--restore'], { cluster: 'prod', scenario: 'partition-storage', restore: true }],
    ['--dry-run', ['--scenario', 'terminate-active', '--dry-run'], { cluster: 'prod', scenario: 'terminate-active', dryRun: true }],
    [
      'every flag at once',
      ['--scenario', 'partition-storage', '--max-rto', '60', '--max-split-brain', '20', '--stop-on-alarm', 'a,b', '--no-restore', '--dry-run'],
      { cluster: 'prod', scenario: 'partition-storage', maxRtoSeconds: 60, maxSplitBrainSeconds: 20, stopOnAlarms: ['a', 'b'], restore: false, dryRun: true },
    ],
  ];
  for (const [what, flags, expected] of rows) {
    it(`${what} → ${JSON.stringify(expected)}`, async () => {
      const input = await sentInput(...flags);
      assert.deepEqual(input, expected);
      // What the CLI sends, the state machine accepts.
      assert.ok(failoverDrillInputSchema.safeParse(input).success);
    });
  }

  it('every scenario the state machine knows is accepted', async () => {
    for (const scenario of DRILL_SCENARIOS) {
      sfn.resetHistory();
      assert.equal((await sentInput('--scenario', scenario))['scenario'], scenario);
    }
  });
});

describe('vault-ha drill: bad values are usage errors naming the field, the flag and the expected type, before any AWS call', () => {
  const rows: Array<[string, string[], RegExp]> = [
    ['an unknown scenario', ['--scenario', 'explode'], /scenario \(--scenario\): .*expected one of .*partition-clients.*seal-active/],
    ['a --max-rto that is no number', ['--scenario', 'step-down', '--max-rto', 'soon'], /maxRtoSeconds \(--max-rto, given "soon"\): expected number, got string/],
    ['a --max-rto in hex', ['--scenario', 'step-down', '--max-rto', '0x10'], /maxRtoSeconds \(--max-rto, given "0x10"\): expected number/],
    ['a --max-rto above 3600', ['--scenario', 'step-down', '--max-rto', '7200'], /maxRtoSeconds \(--max-rto\): .*3600/],
    ['a --max-split-brain of 0', ['--scenario', 'step-down', '--max-split-brain', '0'], /maxSplitBrainSeconds \(--max-split-brain\): .*1/],
    ['an empty alarm name in the list', ['--scenario', 'step-down', '--stop-on-alarm', 'a,,b'], /stopOnAlarms\[1\] \(--stop-on-alarm\): must be a CloudWatch alarm name/],
    ['more than 20 alarms', ['--scenario', 'step-down', '--stop-on-alarm', Array.from({ length: 21 }, (_, i) => `a${i}`).join(',')], /stopOnAlarms \(--stop-on-alarm\): .*20/],
    ['--restore with --no-restore', ['--scenario', 'step-down', '--restore', '--no-restore'], /--restore and --no-restore together/],
    ['--max-rto twice', ['--scenario', 'step-down', '--max-rto', '1', '--max-rto', '2'], /--max-rto given twice/],
  ];
  for (const [what, flags, message] of rows) {
    it(`${what}: exit 2, ${message}`, async () => {
      const t = io();
      const code = await run(drill(...flags), t.io);
      assert.equal(code, EXIT.usage, t.err());
      assert.match(t.err(), message);
      assert.equal(sfn.calls().length + ddb.calls().length, 0, 'no AWS call');
    });
  }
});

describe('vault-ha drill: usage and report', () => {
  it('a flag for every optional field the state machine input accepts', () => {
    const fields = Object.keys(failoverDrillInputSchema.shape).filter((k) => k !== 'cluster' && k !== 'scenario').sort();
    assert.deepEqual(DRILL_INPUT_FLAGS.map((f) => f.field).sort(), fields);
  });

  it('the usage names every scenario and every input flag', () => {
    for (const s of DRILL_SCENARIOS) assert.ok(DRILL_USAGE.includes(s), s);
    for (const f of DRILL_INPUT_FLAGS) assert.ok(DRILL_USAGE.includes(`--${f.flag}`), f.flag);
    assert.ok(USAGE.includes(DRILL_USAGE));
  });

  it('an aborted drill: exit 1, the stop condition naming the alarm and the restore in the printed report', async () => {
    const report = {
      kind: 'failover-drill',
      result: 'aborted',
      outcome: 'partition-clients on i-0a stopped by alarm: stop-condition alarm "vault-prod-5xx" (drill test) in ALARM',
      oldActive: 'i-0a',
      newActive: null,
      rtoSeconds: null,
      maxRtoSeconds: 60,
      stop: { condition: 'alarm', reason: 'stop-condition alarm "vault-prod-5xx" (drill test) in ALARM', at: '2026-12-01T12:00:05.000Z' },
      restore: { status: 'restored', durationSeconds: 9.5, detail: 'i-0a is an unsealed standby again' },
    };
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION, status: 'FAILED', error: 'DrillAbortedError', cause: JSON.stringify(report), startDate: new Date() });
    const t = io();
    const code = await run(drill('--scenario', 'partition-clients', '--stop-on-alarm', 'vault-prod-5xx', '--poll', '100ms'), t.io);
    assert.equal(code, EXIT.failed, t.err());
    assert.match(t.out(), /result: {2}aborted/);
    assert.match(t.out(), /stopped: alarm: stop-condition alarm "vault-prod-5xx" \(drill test\) in ALARM/);
    assert.match(t.out(), /restore: restored in 9\.5 s \(i-0a is an unsealed standby again\)/);
  });
});
