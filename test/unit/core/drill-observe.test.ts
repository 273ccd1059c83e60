/**
 * The drill's observation loop (functions/core/drill-observe.ts): when it is
 * done, each stop condition, the routing invariants over every poll, and the
 * bounded poll list.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { checkInvariants, invariantsHeld, observeStep, registeredClaimants, routedNewActive, type ObserveInput, type ObserveMark } from '../../../functions/core/drill-observe.js';
import { MAX_RECORDED_POLLS, observeBudget, type DrillPoll } from '../../../functions/core/drill.js';
import type { NodeClass, TargetState } from '../../../functions/core/types.js';

const A = 'i-0aaaaaaaaaaaaaaa1';
const B = 'i-0bbbbbbbbbbbbbbb2';
const C = 'i-0ccccccccccccccc3';
const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

function poll(s: number, o: { legit?: string | null; claimants?: string[]; registered?: Array<[string, TargetState]>; classes?: Record<string, NodeClass> } = {}): DrillPoll {
  const legit = o.legit === undefined ? null : o.legit;
  return {
    at: iso(s),
    verdict: legit ? 'healthy' : 'no-leader',
    legitimateActive: legit,
    claimants: o.claimants ?? (legit ? [legit] : []),
    registered: (o.registered ?? []).map(([instanceId, state]) => ({ instanceId, state })),
    classes: o.classes ?? { [A]: 'unreachable', [B]: legit === B ? 'active' : 'standby', [C]: 'standby' },
  };
}

const fault = { oldInstanceId: A, injectedAt: iso(0) };
const budget = observeBudget(60);

function input(p: DrillPoll, o: Partial<ObserveInput> = {}): ObserveInput {
  return { poll: p, nowMs: Date.parse(p.at), fault, budget, maxSplitBrainSeconds: 20, alarms: [], measuresClients: false, sealedGraceMs: 10_000, ...o };
}

/** Runs the loop over the polls, as the ASL would, until done. */
function loop(polls: DrillPoll[], o: Partial<ObserveInput> = {}): ObserveMark {
  let m: ObserveMark | undefined;
  for (const p of polls) {
    m = observeStep(m ?? { at: iso(0) }, input(p, o));
    if (m.done) break;
  }
  return m!;
}

describe('routedNewActive', () => {
  it('is a new legitimate active registered AND healthy', () => {
    assert.equal(routedNewActive(poll(1, { legit: A, registered: [[A, 'healthy']] }), A), undefined);
    assert.equal(routedNewActive(poll(1, { legit: B, registered: [[B, 'initial']] }), A), undefined);
    assert.equal(routedNewActive(poll(1, { legit: B, registered: [[A, 'healthy']] }), A), undefined);
    assert.equal(routedNewActive(poll(1, { legit: B, registered: [[A, 'unhealthy'], [B, 'healthy']] }), A), B);
  });
});

describe('observeStep', () => {
  it('stops at the first routed poll and records detection, election and routing', () => {
    const m = loop([poll(3), poll(6, { claimants: [B] }), poll(9, { legit: B, registered: [[B, 'initial']] }), poll(12, { legit: B, registered: [[B, 'healthy']] })]);
    assert.deepEqual([m.done, m.stopped, m.outcome, m.newActive, m.routedAt, m.n], [true, false, 'failed-over', B, iso(12), 4]);
    assert.deepEqual([m.detectedAt, m.electedAt], [iso(3), iso(6)]);
  });

  it('with client measurement, waits until clients are served too (routed first, clients later)', () => {
    const routed = poll(6, { legit: B, registered: [[B, 'healthy']] });
    const failing = observeStep({ at: iso(0) }, input(routed, { measuresClients: true, clientSamples: [{ atMs: T0 + 5_000, ok: false, detail: 'HTTP 503' }] }));
    assert.deepEqual([failing.done, failing.routedAt], [false, iso(6)]);
    const served = observeStep(failing, input(poll(9, { legit: B, registered: [[B, 'healthy']] }), { measuresClients: true, clientSamples: [{ atMs: T0 + 8_000, ok: true, detail: 'HTTP 200' }] }));
    assert.deepEqual([served.done, served.outcome, served.routedAt, served.client?.recoveredAt], [true, 'failed-over', iso(6), iso(8)]);
  });

  it('measuring clients with no request sent this poll keeps the tally as it was', () => {
    const m = observeStep({ at: iso(0) }, input(poll(3), { measuresClients: true }));
    assert.deepEqual([m.client?.sent, m.client?.lastOk], [0, null]);
  });

  it('ends at the poll-count bound even when the clock says otherwise', () => {
    const m = observeStep({ at: iso(0), n: budget.maxPolls - 1 }, input(poll(1)));
    assert.deepEqual([m.done, m.stopped, m.outcome], [true, false, 'bound-reached']);
    assert.equal(observeStep({ at: iso(0) }, input(poll(1))).done, false);
  });

  it('routed but clients still failing at the clock bound ends the observation without a stop', () => {
    const p = poll(budget.boundSeconds, { legit: B, registered: [[B, 'healthy']] });
    const m = observeStep({ at: iso(0) }, input(p, { measuresClients: true, clientSamples: [{ atMs: Date.parse(p.at), ok: false, detail: 'timeout' }] }));
    assert.deepEqual([m.done, m.stopped, m.outcome, m.newActive], [true, false, 'bound-reached', B]);
  });

  it('keeps the recorded polls bounded, keeping the first ones and the latest', () => {
    const wide = { ...budget, maxPolls: 10_000, boundSeconds: 10_000 };
    let m = observeStep({ at: iso(0) }, input(poll(0), { budget: wide }));
    for (let i = 1; i < MAX_RECORDED_POLLS + 25; i++) m = observeStep(m, input(poll(i), { budget: wide }));
    assert.equal(m.polls.length, MAX_RECORDED_POLLS);
    assert.equal(m.droppedPolls, 25);
    assert.equal(m.polls[0]?.at, iso(0));
    assert.equal(m.polls.at(-1)?.at, iso(MAX_RECORDED_POLLS + 24));
    assert.equal(m.invariants.twoActivesRouted + m.invariants.emptyWhileUnsealed, MAX_RECORDED_POLLS + 25 - 0, 'every poll is counted, recorded or not');
  });
});

describe('stop conditions', () => {
  it('two actives routed for longer than two controller ticks stops; a shorter overlap (the controller\'s next tick fixes it) does not', () => {
    const two = (s: number) => poll(s, { legit: B, claimants: [A, B], registered: [[A, 'healthy'], [B, 'healthy']], classes: { [A]: 'active', [B]: 'active' } });
    const brief = loop([two(3), two(6), poll(9, { legit: B, registered: [[B, 'healthy']] })], { sealedGraceMs: 10_000 });
    assert.deepEqual([brief.stopped, brief.outcome, brief.invariants.twoActivesRouted], [false, 'failed-over', 0]);
    const m = loop([two(3), two(6), two(9), two(12), two(15)], { sealedGraceMs: 10_000 });
    assert.deepEqual([m.done, m.stopped, m.outcome, m.stop?.condition, m.stop?.at, m.n], [true, true, 'stopped', 'two-actives-routed', iso(15), 5]);
    assert.match(m.stop!.reason, new RegExp(`since ${iso(3)}, longer than two controller ticks \\(10 s\\): ${A} and ${B}`));
  });

  it('a stop-condition alarm in ALARM stops; OK and INSUFFICIENT_DATA do not', () => {
    assert.equal(loop([poll(3)], { alarms: [{ name: 'x', state: 'OK' }, { name: 'y', state: 'INSUFFICIENT_DATA' }] }).stopped, false);
    const m = loop([poll(3)], { alarms: [{ name: 'x', state: 'ALARM', reason: '5xx' }, { name: 'y', state: 'ALARM' }] });
    assert.deepEqual([m.stop?.condition, m.stop?.reason, m.stop?.at], ['alarm', 'stop-condition alarm "x" (5xx), "y" in ALARM', iso(3)]);
  });

  it('split brain stops only once it lasted longer than maxSplitBrainSeconds, and a break resets it', () => {
    const split = (s: number) => poll(s, { legit: A, claimants: [A, B], registered: [[A, 'healthy']], classes: { [A]: 'active', [B]: 'active' } });
    const brief = loop([split(3), split(6), poll(9, { claimants: [] }), split(12), split(15)], { maxSplitBrainSeconds: 5 });
    assert.equal(brief.stopped, false);
    assert.equal(brief.longestSplitSeconds, 3);
    const long = loop([split(3), split(6), split(9)], { maxSplitBrainSeconds: 5 });
    assert.deepEqual([long.stop?.condition, long.stop?.at], ['split-brain', iso(9)]);
    assert.match(long.stop!.reason, /since .*10:00:03.000Z \(6 s > maxSplitBrainSeconds 5\)/);
  });

  it('no new active within maxRtoSeconds × 2 stops there', () => {
    const m = observeStep({ at: iso(0) }, input(poll(budget.boundSeconds), { nowMs: T0 + budget.boundSeconds * 1000 }));
    assert.deepEqual([m.stop?.condition, m.outcome], ['no-new-active', 'stopped']);
    assert.match(m.stop!.reason, /within 120 s \(maxRtoSeconds × 2\)/);
  });
});

describe('routing invariants', () => {
  it('counts two actives routed (past the grace) and an empty target group while an unsealed node lives', () => {
    const two = (s: number) => poll(s, { claimants: [A, B], registered: [[A, 'healthy'], [B, 'healthy']], classes: { [A]: 'active', [B]: 'active' } });
    let t = checkInvariants(undefined, two(0), 1_000);
    assert.deepEqual([t.twoActivesRouted, t.twoActivesSince], [0, iso(0)]);
    t = checkInvariants(t, two(1.5), 1_000);
    t = checkInvariants(t, poll(2, { registered: [], classes: { [A]: 'unreachable', [B]: 'standby' } }), 10_000);
    assert.equal(t.twoActivesSince, '');
    t = checkInvariants(t, poll(3, { registered: [], classes: { [A]: 'unreachable', [B]: 'sealed' } }), 10_000);
    assert.deepEqual([t.twoActivesRouted, t.emptyWhileUnsealed, t.sealedRouted], [1, 1, 0]);
    assert.equal(invariantsHeld(t), false);
    assert.match(t.examples.join('\n'), /two actives routed .*\n.*no target registered while .* is unsealed/);
    assert.deepEqual(registeredClaimants(poll(1, { claimants: [A, B], registered: [[B, 'healthy'], [C, 'healthy']] })), [B]);
  });

  it('tolerates a sealed node routed for two controller ticks, not longer', () => {
    const sealedRouted = (s: number) => poll(s, { legit: B, registered: [[A, 'healthy'], [B, 'healthy']], classes: { [A]: 'sealed', [B]: 'active' } });
    let t = checkInvariants(undefined, sealedRouted(1), 10_000);
    t = checkInvariants(t, sealedRouted(10), 10_000);
    assert.equal(t.sealedRouted, 0, 'within the grace');
    t = checkInvariants(t, sealedRouted(12), 10_000);
    assert.equal(t.sealedRouted, 1);
    // Deregistered: the clock restarts if it is ever routed again.
    t = checkInvariants(t, poll(13, { legit: B, registered: [[B, 'healthy']], classes: { [A]: 'sealed', [B]: 'active' } }), 10_000);
    assert.deepEqual(t.sealedRoutedSince, {});
    assert.equal(checkInvariants(t, sealedRouted(14), 10_000).sealedRouted, 1);
    assert.equal(invariantsHeld(undefined), true);
  });

  it('keeps only the first few violations in words', () => {
    let t = checkInvariants(undefined, poll(0, { registered: [] }), 1);
    for (let i = 1; i < 30; i++) t = checkInvariants(t, poll(i, { registered: [] }), 1);
    assert.equal(t.emptyWhileUnsealed, 30);
    assert.equal(t.examples.length, 10);
  });
});
