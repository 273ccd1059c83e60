/**
 * The sandbox's live view (sandbox/view.ts): what the status, lock and client
 * lines say, and how line mode reads a command. Pure functions of a view.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import type { NodeView } from '../../../sandbox/environment.js';
import {
  currentPhase,
  lockColumns,
  lockLine,
  parseLineCommand,
  renderView,
  withoutNegativeTimes,
  workflowFailure,
  workflowLine,
  wrap,
  type LiveView,
} from '../../../sandbox/view.js';

const SLOTS = ['vault-a', 'vault-b', 'vault-c'];

function node(slot: string, o: Partial<NodeView> = {}): NodeView {
  return {
    slot,
    availabilityZone: 'eu-west-1a',
    instanceId: `i-${slot.slice(-1)}000`,
    instanceState: 'running',
    url: undefined,
    running: true,
    sealed: false,
    claimsActive: false,
    holdsLock: false,
    class: 'standby',
    targetState: undefined,
    faults: [],
    ...o,
  };
}

function view(o: Partial<LiveView> = {}): LiveView {
  return {
    atMs: Date.parse('2026-11-30T13:00:00Z'),
    ha: 'dynamodb',
    speed: 20,
    nodes: [node('vault-a', { claimsActive: true, holdsLock: true, class: 'active' }), node('vault-b'), node('vault-c')],
    verdict: 'healthy',
    verdictReasons: ['i-a000 is the only claimant'],
    outcome: 'no action: i-a000 is the active with the lock',
    ticks: 10,
    lastTickAtMs: Date.parse('2026-11-30T12:59:59Z'),
    lastTickError: undefined,
    client: { successRate: 1, samples: 40, windowSeconds: 10, sent: 196 },
    listenerUrl: 'http://127.0.0.1:1',
    controllerBlind: false,
    events: [],
    ...o,
  };
}

const lockCell = (frame: string, slot: string): string => {
  const row = frame.split('\n').find((l) => l.includes(` ${slot} `))!;
  return row;
};

describe('line mode: a command acts on the node it names, or is refused whole', () => {
  const rows: Array<{ line: string; expected: ReturnType<typeof parseLineCommand> | RegExp }> = [
    { line: 'kill b', expected: { kind: 'action', key: 'k', command: 'kill', slot: 'vault-b' } },
    { line: 'kill vault-c', expected: { kind: 'action', key: 'k', command: 'kill', slot: 'vault-c' } },
    { line: '  stop   a ', expected: { kind: 'action', key: 'x', command: 'stop', slot: 'vault-a' } },
    { line: 'kill', expected: { kind: 'action', key: 'k', command: 'kill' } },
    { line: 'select c', expected: { kind: 'select', slot: 'vault-c' } },
    { line: 'quit', expected: { kind: 'quit' } },
    { line: '', expected: { kind: 'none' } },
    // "x" is the stop-instance key; as a node name it is unknown, so nothing is stopped or killed.
    { line: 'kill x', expected: /unknown node "x".*nothing done/ },
    // An unknown command must not select its argument first.
    { line: 'foo b', expected: /unknown command "foo".*nothing done/ },
    { line: 'kill a b', expected: /takes one node/ },
    { line: 'select', expected: /select needs a node/ },
    { line: 'quit now', expected: /takes no node/ },
  ];
  for (const row of rows) {
    it(JSON.stringify(row.line), () => {
      const got = parseLineCommand(row.line, SLOTS);
      if (row.expected instanceof RegExp) {
        assert.equal(got.kind, 'refused');
        assert.match((got as { message: string }).message, row.expected);
      } else assert.deepEqual(got, row.expected);
    });
  }
});

describe('status line: the running workflow and its phase', () => {
  it('shows the phase of each running workflow instead of the last action', () => {
    const frame = renderView(
      view({ workflows: [{ label: 'replace-node vault-b', status: 'RUNNING', phase: 'WaitVolumeAvailable', phaseMs: 2000, elapsedMs: 12_500 }] }),
      { status: 'replace-node (state machine) vault-b…' },
    );
    assert.match(frame, /replace-node vault-b: WaitVolumeAvailable for 2\.0 s \(12\.5 s in total\)/);
    assert.doesNotMatch(frame, /replace-node \(state machine\) vault-b…/);
  });

  it('the phase is the state entered and not yet left', () => {
    const history = [
      { state: 'Validate', type: 'Task', enteredAtMs: 0, exitedAtMs: 100, retries: 0 },
      { state: 'WaitVolumeAvailable', type: 'Wait', enteredAtMs: 100, retries: 0 },
    ];
    assert.deepEqual(currentPhase(history, 1100), { phase: 'WaitVolumeAvailable', phaseMs: 1000 });
    assert.deepEqual(currentPhase(history.slice(0, 1), 1100), { phase: 'Validate', phaseMs: 100 });
    assert.deepEqual(currentPhase([], 0), {});
    assert.equal(workflowLine({ label: 'failover-drill step-down', status: 'RUNNING', elapsedMs: 500 }), 'failover-drill step-down: starting (0.5 s)');
  });
});

describe('a refused replacement: its reason once, whole', () => {
  const outcome =
    'refused to replace slot vault-b of sandbox: refused to replace slot vault-b of sandbox: i-b000 is the legitimate active node: set "force": true to replace it anyway (the replacement stops Vault on it and the cluster fails over first)';
  const cause = JSON.stringify({ kind: 'replace-node', result: 'failed', outcome, nextSteps: ['nothing was changed'] });

  it('reads the reason from the failure report and says a repeated clause once', () => {
    const reason = workflowFailure('RefusedError', cause);
    assert.equal(
      reason,
      'RefusedError: refused to replace slot vault-b of sandbox: i-b000 is the legitimate active node: set "force": true to replace it anyway (the replacement stops Vault on it and the cluster fails over first)',
    );
    assert.equal(reason.match(/refused to replace/g)?.length, 1);
    assert.equal(workflowFailure('States.Timeout', undefined), 'States.Timeout');
    assert.equal(workflowFailure(undefined, 'plain text cause'), 'plain text cause');
  });

  it('the status line wraps a long reason instead of cutting it', () => {
    const status = `replace-node (state machine) vault-b: failed — FAILED: ${workflowFailure('RefusedError', cause)}`;
    const frame = renderView(view(), { status, width: 80 });
    const joined = frame.replace(/\n {2}/g, ' ');
    assert.ok(joined.includes('(the replacement stops Vault on it and the cluster fails over first)'), frame);
    assert.ok(!frame.includes('…\n'), 'nothing truncated');
    const lines = frame.split('\n');
    const statusLines = lines.slice(lines.findIndex((l) => l.startsWith('replace-node (state machine)')), -1);
    assert.ok(statusLines.length > 1, 'wrapped over several lines');
    assert.ok(statusLines.every((l) => l.length <= 80), statusLines.join('\n'));
    assert.deepEqual(wrap('a b c', 20), ['a b c']);
  });
});

describe('lock: never two holders, never a negative time left', () => {
  it('a storage-partitioned old holder that still believes it holds the lock "claims" it, it is not a second holder', () => {
    const v = view({
      nodes: [node('vault-a', { holdsLock: true, claimsActive: true, faults: ['storage-cut'] }), node('vault-b', { holdsLock: true, claimsActive: true }), node('vault-c')],
      lock: { state: 'HELD', identity: 'id-b', remainingMs: 12_000 },
      lockIdentities: { 'vault-a': 'id-a', 'vault-b': 'id-b', 'vault-c': undefined },
    });
    assert.deepEqual([...lockColumns(v)], [
      ['vault-a', 'claims'],
      ['vault-b', 'holder'],
    ]);
    const frame = renderView(v);
    assert.equal(frame.match(/ holder /g)?.length, 1);
    assert.match(lockCell(frame, 'vault-a'), / claims /);
    assert.match(frame, /lock {6}HELD by vault-b, 12\.0 s left at the last tick/);
  });

  it('without the lock item, two believers are each "holder?" (never two plain holders)', () => {
    const v = view({ nodes: [node('vault-a', { holdsLock: true }), node('vault-b', { holdsLock: true }), node('vault-c')] });
    assert.deepEqual([...lockColumns(v).values()], ['holder?', 'holder?']);
    const raft = view({ ha: 'raft', nodes: [node('vault-a', { holdsLock: true }), node('vault-b')] });
    assert.deepEqual([...lockColumns(raft)], [['vault-a', 'leader']]);
  });

  it('a lock held within the skew tolerance says how long ago Expires passed, not "-300 ms left"', () => {
    assert.equal(lockLine({ state: 'HELD', identity: 'id-a', remainingMs: -300 }, 'vault-a'), 'HELD by vault-a, Expires passed 0.3 s ago (within the clock-skew tolerance): not renewed');
    assert.equal(lockLine({ state: 'EXPIRED', identity: 'id-a', remainingMs: -2100 }, undefined), 'EXPIRED 2.1 s ago (last held by identity id-a…)');
    assert.equal(lockLine({ state: 'ABSENT' }, undefined), 'ABSENT: nobody holds the lock');
    const reason = 'no member claims active; lock HELD by identity e2908f3e (-300 ms left)';
    const frame = renderView(view({ verdict: 'no-leader', verdictReasons: [reason], lock: { state: 'HELD', identity: 'x', remainingMs: -300 } }));
    assert.doesNotMatch(frame, /-\d+ ms left|-\d+(\.\d+)? s left/);
    assert.match(withoutNegativeTimes(reason), /\(300 ms past Expires, within the skew tolerance\)/);
  });
});

describe('clients: one window', () => {
  it('the rate and its request count are both of the last window, with no running total beside them', () => {
    const frame = renderView(view({ client: { successRate: 0.975, samples: 40, windowSeconds: 10, sent: 196 } }));
    const line = frame.split('\n').find((l) => l.startsWith('clients'))!;
    assert.equal(line, 'clients   97.5% of 40 requests through the listener ok over the last 10 s of simulated time');
    assert.doesNotMatch(line, /196|sent/);
  });

  it('before any request completed it says so instead of a 100% of nothing', () => {
    const frame = renderView(view({ speed: 1, client: { successRate: 1, samples: 0, windowSeconds: 10, sent: 3 } }));
    assert.match(frame, /^clients {3}no request through the listener completed over the last 10 s$/m);
  });
});
