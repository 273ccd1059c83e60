/**
 * The sandbox's Step Functions endpoint (sandbox/aws/sfn.ts) through the
 * unmodified SDK v3 SFNClient: what `vault-ha drill|replace|unlock|status`
 * rely on. Each execution runs a small definition in the real ASL runner, with
 * a Task the test releases by hand, so RUNNING is observable without timing.
 * Rules from the Step Functions API reference (StartExecution: same name and
 * input while open is idempotent, otherwise ExecutionAlreadyExists; names
 * without whitespace or `:`; ListExecutions newest first).
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { SfnEndpoint, type LocalStateMachine } from '../../sandbox/aws/sfn.js';
import { runStateMachine, type AslDefinition } from '../../sandbox/stepfunctions/runner.js';

const DEFINITION = {
  StartAt: 'MarkWork',
  States: {
    MarkWork: { Type: 'Pass', Next: 'Work' },
    Work: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:testTasks', Next: 'MarkDone' },
    MarkDone: { Type: 'Pass', Next: 'Done' },
    Done: { Type: 'Succeed' },
  },
} as unknown as AslDefinition;

/** Each execution's Task waits for the test to release (or fail) it, by execution name. */
const gates = new Map<string, { release: (v: unknown) => void; fail: (e: Error) => void }>();
const gate = (name: string): Promise<unknown> => new Promise((release, fail) => gates.set(name, { release, fail }));
async function waitForGate(name: string): Promise<{ release: (v: unknown) => void; fail: (e: Error) => void }> {
  for (let i = 0; i < 500; i++) {
    const g = gates.get(name);
    if (g) return g;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`the Task of ${name} never started`);
}

const machine: LocalStateMachine = {
  name: 'vault-ha-control-plane-test-replace-node',
  run: (req) =>
    runStateMachine(DEFINITION, req.input, {
      lambdaHandlers: { testTasks: async (event: unknown) => ({ echoed: event, ...((await gate(req.executionName)) as object) }) },
      executionName: req.executionName,
      stateMachineName: 'vault-ha-control-plane-test-replace-node',
      signal: req.signal,
      onHistory: req.onHistory,
      timeoutMs: 30_000,
    }),
};

let endpoint: SfnEndpoint;
let sfn: SFNClient;
let machineArn: string;

beforeAll(async () => {
  endpoint = new SfnEndpoint({ region: 'eu-west-1', accountId: '111122223333', machines: [machine] });
  const url = await endpoint.start();
  sfn = new SFNClient({ endpoint: url, region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  machineArn = endpoint.stateMachineArn(machine.name);
});
afterAll(async () => {
  for (const g of gates.values()) g.release({});
  sfn.destroy();
  await endpoint.stop();
});

const start = (name: string, input: unknown = { cluster: 'c' }) =>
  sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name, input: JSON.stringify(input) }));
const errorName = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    return (e as { name: string }).name;
  }
  return 'no error';
};

describe('sandbox Step Functions endpoint (AWS JSON 1.0, SDK v3 client)', () => {
  it('ListStateMachines lists the local machine under its deployed name and ARN', async () => {
    const out = await sfn.send(new ListStateMachinesCommand({}));
    assert.deepEqual(out.stateMachines?.map((m) => [m.name, m.stateMachineArn, m.type]), [
      [machine.name, `arn:aws:states:eu-west-1:111122223333:stateMachine:${machine.name}`, 'STANDARD'],
    ]);
  });

  it('an execution is RUNNING while its Task runs, its history names the state it is in, and it SUCCEEDS with the output', async () => {
    const { executionArn } = await start('run-1', { cluster: 'c', slot: 'vault-a' });
    assert.equal(executionArn, `arn:aws:states:eu-west-1:111122223333:execution:${machine.name}:run-1`);
    const g = await waitForGate('run-1');
    const running = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    assert.equal(running.status, 'RUNNING');
    assert.equal(running.input, JSON.stringify({ cluster: 'c', slot: 'vault-a' }));
    assert.ok(running.startDate instanceof Date);
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true }));
    const entered = history.events?.filter((e) => e.stateEnteredEventDetails).map((e) => [e.type, e.stateEnteredEventDetails?.name]);
    assert.deepEqual(entered, [['TaskStateEntered', 'Work'], ['PassStateEntered', 'MarkWork']], 'newest first with reverseOrder');
    g.release({ done: true });
    assert.equal(await endpoint.waitFor(executionArn!), 'SUCCEEDED');
    const done = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    assert.equal(done.status, 'SUCCEEDED');
    assert.deepEqual(JSON.parse(done.output ?? 'null'), { echoed: { cluster: 'c', slot: 'vault-a' }, done: true });
    assert.ok(done.stopDate instanceof Date);
    const forward = await sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    assert.equal(forward.events?.[0]?.type, 'ExecutionStarted');
    assert.equal(forward.events?.at(-1)?.type, 'ExecutionSucceeded');
    assert.deepEqual(forward.events?.map((e) => e.id), forward.events?.map((_, i) => i + 1), 'ids count up from 1');
  });

  it('the same name and input while running answers the same execution; another input is ExecutionAlreadyExists; so is any reuse once closed', async () => {
    const first = await start('dup-1', { cluster: 'c' });
    const g = await waitForGate('dup-1');
    const again = await start('dup-1', { cluster: 'c' });
    assert.equal(again.executionArn, first.executionArn);
    assert.equal(await errorName(start('dup-1', { cluster: 'other' })), 'ExecutionAlreadyExists');
    g.release({});
    await endpoint.waitFor(first.executionArn!);
    assert.equal(await errorName(start('dup-1', { cluster: 'c' })), 'ExecutionAlreadyExists');
  });

  it('StopExecution aborts a running execution: ABORTED, and the states after the running one never run', async () => {
    const { executionArn } = await start('stop-1');
    await waitForGate('stop-1');
    const stopped = await sfn.send(new StopExecutionCommand({ executionArn, cause: 'operator' }));
    assert.ok(stopped.stopDate instanceof Date);
    assert.equal((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status, 'ABORTED');
    gates.get('stop-1')!.release({});
    assert.equal(await endpoint.waitFor(executionArn!), 'ABORTED');
    const names = endpoint.execution(executionArn!)?.history.map((h) => h.state);
    assert.ok(!names?.includes('MarkDone'), `states entered: ${names?.join(', ')}`);
    const events = (await sfn.send(new GetExecutionHistoryCommand({ executionArn }))).events ?? [];
    assert.equal(events.at(-1)?.type, 'ExecutionAborted');
  });

  it('a Task error fails the execution with Step Functions’ error and cause', async () => {
    const { executionArn } = await start('fail-1');
    const g = await waitForGate('fail-1');
    g.fail(Object.assign(new Error('the slot is busy'), { name: 'RefusedError' }));
    assert.equal(await endpoint.waitFor(executionArn!), 'FAILED');
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    assert.equal(d.error, 'RefusedError');
    assert.match(d.cause ?? '', /the slot is busy/);
  });

  it('ListExecutions lists the newest first and filters by status', async () => {
    const { executionArn } = await start('list-1');
    await waitForGate('list-1');
    const all = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machineArn }));
    assert.equal(all.executions?.[0]?.name, 'list-1');
    const running = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machineArn, statusFilter: 'RUNNING' }));
    assert.deepEqual(running.executions?.map((e) => e.name), ['list-1']);
    const paged = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machineArn, maxResults: 2 }));
    assert.equal(paged.executions?.length, 2);
    assert.equal(typeof paged.nextToken, 'string');
    gates.get('list-1')!.release({});
    await endpoint.waitFor(executionArn!);
  });

  const refusals: Array<[string, () => Promise<unknown>, string]> = [
    ['a name with a colon', () => start('bad:name'), 'InvalidName'],
    ['a name over 80 characters', () => start('x'.repeat(81)), 'InvalidName'],
    ['input that is not JSON', () => sfn.send(new StartExecutionCommand({ stateMachineArn: machineArn, name: 'bad-input', input: '{nope' })), 'InvalidExecutionInput'],
    ['an unknown state machine', () => sfn.send(new StartExecutionCommand({ stateMachineArn: `${machineArn}-nope`, name: 'x' })), 'StateMachineDoesNotExist'],
    ['an unknown execution', () => sfn.send(new DescribeExecutionCommand({ executionArn: `${machineArn.replace(':stateMachine:', ':execution:')}:nope` })), 'ExecutionDoesNotExist'],
    ['an execution ARN that is not one', () => sfn.send(new DescribeExecutionCommand({ executionArn: 'arn:aws:states:eu-west-1:1:nope' })), 'InvalidArn'],
  ];
  for (const [what, call, expected] of refusals) {
    it(`refuses ${what} with ${expected}`, async () => {
      assert.equal(await errorName(call()), expected);
    });
  }
});
