/**
 * When the controller writes (functions/core/bookkeeping.ts, issue #9): lease
 * renewal only when due, state only when what the next run decides from
 * changed (or at the end of a run), observations on change plus a heartbeat.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  DECISIVE_FAILURE_COUNT,
  OBSERVATION_HEARTBEAT_MS,
  leaseCoversTick,
  leaseRenewalDue,
  observationDue,
  observationSignature,
  stateFingerprint,
  stateText,
  stateWriteDue,
  type ObservedTick,
  type StateForWrite,
} from '../../../functions/core/bookkeeping.js';
import { NOW_MS, tick } from './factories.js';
import { policySchema } from '../../../functions/config/schema.js';

describe('leaseRenewalDue / leaseCoversTick', () => {
  const clock = { nowMs: NOW_MS, intervalMs: 5_000, tickBudgetMs: 7_000 };
  it.each([
    ['a fresh 27 s lease', 27_000, false],
    ['12 s left: the next tick would still find a whole tick budget', 12_000, false],
    ['11.9 s left: the next tick would not', 11_900, true],
    ['already expired', -1, true],
  ])('%s → renew: %s', (_name, leftMs, due) => {
    assert.equal(leaseRenewalDue({ ...clock, expiresAtMs: NOW_MS + (leftMs as number) }), due);
  });
  it('a tick may act only when the lease outlives its budget', () => {
    assert.equal(leaseCoversTick({ nowMs: NOW_MS, tickBudgetMs: 7_000, expiresAtMs: NOW_MS + 7_000 }), true);
    assert.equal(leaseCoversTick({ nowMs: NOW_MS, tickBudgetMs: 7_000, expiresAtMs: NOW_MS + 6_999 }), false);
  });
});

const state = (over: Partial<StateForWrite> = {}): StateForWrite => ({
  history: { ticks: [tick({ atMs: NOW_MS, verdict: 'healthy', activeInstanceId: 'i-0a', claimants: ['i-0a'], lockIdentity: 'id-1', lockExpiresAtNs: '1' })], failureCounts: {} },
  lastVerdict: 'healthy',
  lastVerdictSinceMs: NOW_MS - 60_000,
  goneSinceMs: {},
  ...over,
});
const written = (s: StateForWrite) => ({ fingerprint: stateFingerprint(s), text: stateText(s) });

describe('stateWriteDue', () => {
  const before = state();
  const laterSameTick = state({
    history: { ticks: [...before.history.ticks, tick({ atMs: NOW_MS + 5_000, verdict: 'healthy', activeInstanceId: 'i-0a', claimants: ['i-0a'], lockIdentity: 'id-1', lockExpiresAtNs: '2' })], failureCounts: {} },
  });
  it.each<[string, StateForWrite, boolean, ReturnType<typeof stateWriteDue>]>([
    ['nothing stored yet', before, false, 'changed'],
    ['a new tick with the same decision inputs (only its time and the lock Expires moved)', laterSameTick, false, 'none'],
    ['the same at the end of the run', laterSameTick, true, 'end-of-run'],
    ['a hysteresis count', state({ history: { ...before.history, failureCounts: { 'i-0b': 1 } } }), false, 'changed'],
    ['the verdict', state({ lastVerdict: 'no-leader' }), false, 'changed'],
    ['the notified verdict', state({ lastNotifiedVerdict: 'split-brain' }), false, 'changed'],
    ['a gone-since clock', state({ goneSinceMs: { 'vault-a': NOW_MS } }), false, 'changed'],
    ['the lock identity of the newest tick', state({ history: { ticks: [tick({ atMs: NOW_MS, verdict: 'healthy', activeInstanceId: 'i-0a', claimants: ['i-0a'], lockIdentity: 'id-2' })], failureCounts: {} } }), false, 'changed'],
    ['the active named by the newest tick', state({ history: { ticks: [tick({ atMs: NOW_MS, verdict: 'healthy', activeInstanceId: 'i-0b', claimants: ['i-0b'], lockIdentity: 'id-1' })], failureCounts: {} } }), false, 'changed'],
  ])('%s', (_name, next, endOfRun, expected) => {
    const last = _name === 'nothing stored yet' ? undefined : written(before);
    assert.equal(stateWriteDue(last, next, endOfRun), expected);
  });
  it('a node that keeps hanging past every threshold is no reason to write each tick; reaching the cap is', () => {
    const counted = (n: number) => state({ history: { ...before.history, failureCounts: { 'i-0b': n } } });
    assert.equal(stateWriteDue(written(counted(DECISIVE_FAILURE_COUNT)), counted(DECISIVE_FAILURE_COUNT + 1), false), 'none');
    assert.equal(stateWriteDue(written(counted(DECISIVE_FAILURE_COUNT + 7)), counted(DECISIVE_FAILURE_COUNT + 8), false), 'none');
    assert.equal(stateWriteDue(written(counted(DECISIVE_FAILURE_COUNT - 1)), counted(DECISIVE_FAILURE_COUNT), false), 'changed');
  });
  it('the cap covers the largest unhealthyThreshold the config accepts', () => {
    assert.equal(policySchema.safeParse({ unhealthyThreshold: DECISIVE_FAILURE_COUNT }).success, true);
    assert.equal(policySchema.safeParse({ unhealthyThreshold: DECISIVE_FAILURE_COUNT + 1 }).success, false);
  });
  it('an unchanged state is not written even at the end of the run', () => {
    assert.equal(stateWriteDue(written(before), state(), true), 'none');
  });
  it('the text ignores the order in which fields were set', () => {
    const a = state({ goneSinceMs: { x: 1, y: 2 } });
    const b = { ...state(), goneSinceMs: { y: 2, x: 1 } };
    assert.equal(stateText(a), stateText(b));
  });
});

describe('observationDue', () => {
  const steady: ObservedTick = {
    verdict: 'healthy',
    plan: { register: [], deregister: [] },
    nodes: [
      { instanceId: 'i-0a', class: 'active', instanceState: 'running' },
      { instanceId: 'i-0b', class: 'standby', instanceState: 'running' },
    ],
    applied: false,
  };
  const last = { signature: observationSignature(steady), atMs: NOW_MS };
  it.each<[string, ObservedTick, number, boolean]>([
    ['nothing changed, heartbeat not due', steady, NOW_MS + 5_000, false],
    ['nothing changed, heartbeat due', steady, NOW_MS + OBSERVATION_HEARTBEAT_MS, true],
    ['the verdict changed', { ...steady, verdict: 'no-leader' }, NOW_MS + 5_000, true],
    ['a class changed', { ...steady, nodes: [steady.nodes[0]!, { instanceId: 'i-0b', class: 'sealed', instanceState: 'running' }] }, NOW_MS + 5_000, true],
    ['the plan changed', { ...steady, plan: { register: [], deregister: ['i-0b'] } }, NOW_MS + 5_000, true],
    ['the tick acted', { ...steady, applied: true }, NOW_MS + 5_000, true],
    ['the tick failed', { ...steady, error: 'saving the cluster state: throttled' }, NOW_MS + 5_000, true],
    ['a fencing result', { ...steady, fencing: { result: 'skipped' } }, NOW_MS + 5_000, true],
    ['the clock went back', steady, NOW_MS - 1, true],
  ])('%s → %s', (_name, t, nowMs, due) => {
    assert.equal(observationDue(last, t, nowMs), due);
  });
  it('always when none was written yet', () => {
    assert.equal(observationDue(undefined, steady, NOW_MS), true);
  });
  it('node order does not make a change', () => {
    assert.equal(observationSignature({ ...steady, nodes: [...steady.nodes].reverse() }), last.signature);
  });
});
