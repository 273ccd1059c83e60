import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { rememberTick, tickMemoryOf, updateFailureCounts } from '../../../functions/core/history.js';
import type { SplitBrainVerdict } from '../../../functions/core/types.js';
import { NOW_MS, emptyHistory, lock, node, tick } from './factories.js';

describe('updateFailureCounts', () => {
  it('counts consecutive absence-evidence ticks per instance', () => {
    const once = updateFailureCounts({}, [node.unreachable('i-0a'), node.active('i-0b')]);
    const twice = updateFailureCounts(once, [node.unreachable('i-0a'), node.active('i-0b')]);
    assert.equal(once['i-0a'], 1);
    assert.equal(twice['i-0a'], 2);
  });

  it('counts an unknown answer as absence', () => {
    assert.equal(updateFailureCounts({ 'i-0a': 1 }, [node.unknown('i-0a')])['i-0a'], 2);
  });

  it('resets on any definitive answer, including a sealed one', () => {
    const counts = updateFailureCounts({ 'i-0a': 3, 'i-0b': 1 }, [node.sealed('i-0a'), node.standby('i-0b', 'i-0c')]);
    assert.equal(counts['i-0a'] ?? 0, 0);
    assert.equal(counts['i-0b'] ?? 0, 0);
  });

  it('resets when EC2 says the instance is stopped (definitive, not absence)', () => {
    assert.equal(updateFailureCounts({ 'i-0a': 1 }, [node.stopped('i-0a')])['i-0a'] ?? 0, 0);
  });

  it('drops instances no longer present', () => {
    const counts = updateFailureCounts({ 'i-gone': 4 }, [node.unreachable('i-0a')]);
    assert.deepEqual(Object.keys(counts), ['i-0a']);
  });

  it('does not mutate its input', () => {
    const prev = { 'i-0a': 1 };
    updateFailureCounts(prev, [node.unreachable('i-0a')]);
    assert.deepEqual(prev, { 'i-0a': 1 });
  });
});

describe('rememberTick', () => {
  it('appends oldest first', () => {
    const h = rememberTick(rememberTick(emptyHistory(), tick({ atMs: 1 })), tick({ atMs: 2 }));
    assert.deepEqual(h.ticks.map((t) => t.atMs), [1, 2]);
  });

  it('keeps only the newest maxTicks', () => {
    let h = emptyHistory();
    for (let i = 1; i <= 7; i += 1) h = rememberTick(h, tick({ atMs: i }), 3);
    assert.deepEqual(h.ticks.map((t) => t.atMs), [5, 6, 7]);
  });

  it('is bounded at 50 by default', () => {
    let h = emptyHistory();
    for (let i = 0; i < 60; i += 1) h = rememberTick(h, tick({ atMs: i }));
    assert.equal(h.ticks.length, 50);
    assert.equal(h.ticks[0]?.atMs, 10);
  });

  it('does not mutate the history it is given and keeps its failure counts', () => {
    const before = { ticks: [tick({ atMs: 1 })], failureCounts: { 'i-0a': 2 } };
    const after = rememberTick(before, tick({ atMs: 2 }));
    assert.equal(before.ticks.length, 1);
    assert.deepEqual(after.failureCounts, { 'i-0a': 2 });
  });
});

describe('tickMemoryOf', () => {
  it('records the verdict, legitimate active, claimants, lock attributes and standby view', () => {
    const held = lock.held();
    const verdict: SplitBrainVerdict = {
      kind: 'healthy',
      reasons: ['x'],
      legitimateActive: 'i-0a',
      claimants: ['i-0a'],
      standbyLeaderAddress: 'https://i-0a.vault.internal:8200',
      lock: held,
    };
    assert.deepEqual(tickMemoryOf(verdict, NOW_MS), {
      atMs: NOW_MS,
      verdict: 'healthy',
      activeInstanceId: 'i-0a',
      claimants: ['i-0a'],
      lockState: 'HELD',
      lockIdentity: held.identity,
      lockValue: held.value,
      lockExpiresAtNs: held.expiresAtNs,
      standbyLeaderAddress: 'https://i-0a.vault.internal:8200',
    });
  });

  it('omits what was not observed instead of storing undefined', () => {
    const memory = tickMemoryOf({ kind: 'no-leader', reasons: [], claimants: [], lock: lock.raft() }, NOW_MS);
    assert.deepEqual(Object.keys(memory).sort(), ['atMs', 'claimants', 'lockState', 'verdict']);
  });
});
