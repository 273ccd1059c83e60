/**
 * The failover drill's post-check, timeline, judgement and report pieces
 * (functions/core/drill-report.ts), including the cases an operator meets less
 * often: a node gone after the fault, a moment with nothing registered, a
 * restore that failed, clients still failing at the end.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { causeOf, clientEvents, clientReport, drillTimeline, drillTimes, invariantReport, judgeDrill, postCheck, type DrillReport } from '../../../functions/core/drill-report.js';
import { tallyClient } from '../../../functions/core/drill-client.js';
import { emptyInvariants, type ObserveMark } from '../../../functions/core/drill-observe.js';
import { planFault, preCheck, type DrillPoll, type DrillSnapshot } from '../../../functions/core/drill.js';
import type { NodeHealth, TargetView } from '../../../functions/core/types.js';
import { config } from '../replacement/fixtures.js';
import { node, target } from './factories.js';

const A = 'i-0aaaaaaaaaaaaaaa1';
const B = 'i-0bbbbbbbbbbbbbbb2';
const C = 'i-0ccccccccccccccc3';
const cluster = config().clusters[0]!;
const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function snap(nodes: NodeHealth[], targets: TargetView[], legitimateActive: string | undefined, kind: DrillSnapshot['verdict']['kind'] = 'healthy', reasons: string[] = []): DrillSnapshot {
  return { nodes, targets, verdict: { kind, reasons, ...(legitimateActive ? { legitimateActive } : {}) }, slotByInstance: { [A]: 'vault-a', [B]: 'vault-b', [C]: 'vault-c' } };
}

describe('preCheck wording', () => {
  it('an unhealthy verdict without reasons is reported without an empty "()"', () => {
    const r = preCheck(snap([node.active(A), node.standby(B, A)], [target(A)], A, 'flapping', []), 'kill-active', cluster, { nowMs: T0 });
    assert.ok(r.kind === 'refused' && r.reasons.includes('verdict is flapping, not healthy'), JSON.stringify(r));
  });
});

describe('planFault for terminate-active', () => {
  it('keeps only what the slot has: vault-c has a data volume but no interface', () => {
    const p = planFault({ scenario: 'terminate-active', cluster, oldInstanceId: C, slot: 'vault-c', standbys: [A, B] });
    assert.deepEqual([p.slot, p.keepVolumeId, p.keepNetworkInterfaceId], ['vault-c', 'vol-0c', '']);
    assert.equal(p.description, `terminate EC2 instance ${C} (TerminateInstances), keeping vol-0c (DeleteOnTermination=false first)`);
  });

  it('an old active without a slot tag keeps nothing and names no slot', () => {
    const p = planFault({ scenario: 'terminate-active', cluster, oldInstanceId: A, standbys: [B] });
    assert.deepEqual([p.slot, p.keepVolumeId, p.keepNetworkInterfaceId, p.volumeId], ['', '', '', '']);
    assert.equal(p.description, `terminate EC2 instance ${A} (TerminateInstances)`);
  });

  it('a slot name the config does not know keeps nothing either (never a guessed volume)', () => {
    const p = planFault({ scenario: 'terminate-active', cluster, oldInstanceId: A, slot: 'vault-z', standbys: [B] });
    assert.deepEqual([p.slot, p.keepVolumeId, p.keepNetworkInterfaceId], ['vault-z', '', '']);
  });
});

describe('postCheck: what is wrong and what to do next', () => {
  const plan = planFault({ scenario: 'kill-active', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B, C] });

  it('passes with a healthy verdict and exactly the new active registered; an old node back as a standby needs nothing', () => {
    const p = postCheck(snap([node.standby(A, B), node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'start Vault');
    assert.equal(p.ok, true, p.reasons.join('; '));
    assert.equal(p.nextStep, `none: ${A} is an unsealed standby`);
  });

  it('an old node not back gets the restore\'s next step', () => {
    const p = postCheck(snap([node.unreachable(A, 'refused'), node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'start Vault on it');
    assert.equal(p.oldNode.class, 'unreachable');
    assert.equal(p.nextStep, 'start Vault on it');
  });

  it('no registered target claiming active fails, saying "none"; two fail too', () => {
    const none = postCheck(snap([node.unreachable(A), node.active(B), node.standby(C, B)], [target(C)], B), plan, B, '');
    assert.ok(none.reasons.includes('0 registered targets claim active (none)'), none.reasons.join('; '));
    const two = postCheck(snap([node.active(A), node.active(B), node.standby(C, B)], [target(A), target(B)], B, 'split-brain'), plan, B, '');
    assert.deepEqual(two.reasons, ['verdict is split-brain', `2 registered targets claim active (${A}, ${B})`]);
  });

  it('one registered claimant that is not the observed new active fails, naming both', () => {
    const p = postCheck(snap([node.unreachable(A), node.standby(B, C), node.active(C)], [target(C)], C), plan, B, '');
    assert.ok(p.reasons.includes(`the registered active is ${C}, not the new active ${B}`), p.reasons.join('; '));
  });

  it('an old node that is no member any more (terminated and gone from EC2) is reported as gone', () => {
    const p = postCheck(snap([node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'run replace-node');
    assert.deepEqual(p.oldNode, { instanceId: A, class: 'gone', instanceState: 'gone' });
    assert.equal(p.nextStep, 'run replace-node');
  });
});

describe('drillTimeline', () => {
  const poll = (s: number, legit: string | null, registered: Array<[string, TargetView['state']]>): DrillPoll => ({
    at: at(s),
    verdict: legit ? 'healthy' : 'no-leader',
    legitimateActive: legit,
    claimants: legit ? [legit] : [],
    registered: registered.map(([instanceId, state]) => ({ instanceId, state })),
    classes: {},
  });

  it('records a moment with no registered target as "none", and the changes around it once each', () => {
    const events = drillTimeline({
      marks: {},
      polls: [poll(1, A, [[A, 'healthy']]), poll(2, null, []), poll(3, null, []), poll(4, B, [[B, 'healthy']])],
      finishedAt: at(5),
    }).map((e) => e.event);
    assert.deepEqual(events, [
      'verdict healthy',
      `legitimate active ${A}`,
      `registered targets ${A}:healthy`,
      'verdict no-leader',
      'legitimate active none',
      'registered targets none',
      'verdict healthy',
      `legitimate active ${B}`,
      `registered targets ${B}:healthy`,
      'report built',
    ]);
  });

  it('orders phase starts, the injection, the routing and extra events by time, the injection phase not repeated', () => {
    const plan = planFault({ scenario: 'kill-active', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B] });
    const events = drillTimeline({
      marks: { validate: { at: at(-3) }, inject: { at: at(-1) }, observe: { at: at(0.5) } },
      polls: [poll(2, B, [[B, 'healthy']])],
      plan,
      injectedAt: at(0),
      routedAt: at(2),
      newActive: B,
      finishedAt: at(9),
      extra: [{ at: at(5), event: 'restored' }],
    }).map((e) => e.event);
    assert.deepEqual(events, [
      'phase validate started',
      `fault injected: ${plan.description}`,
      'phase observe-failover started',
      'verdict healthy',
      `legitimate active ${B}`,
      `registered targets ${B}:healthy`,
      `new active ${B} registered and healthy in the target group`,
      'restored',
      'report built',
    ]);
  });

  it('client transitions become timeline events', () => {
    const t = tallyClient(undefined, [{ atMs: T0 + 1_000, ok: false, detail: 'refused' }, { atMs: T0 + 2_000, ok: true, detail: 'HTTP 200' }]);
    assert.deepEqual(clientEvents(t), [
      { at: at(1), event: 'client requests fail (refused)' },
      { at: at(2), event: 'client requests succeed again (HTTP 200)' },
    ]);
    assert.deepEqual(clientEvents(undefined), []);
  });
});

describe('judgeDrill', () => {
  const plan = planFault({ scenario: 'kill-active', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B, C] });
  const injectedAt = at(0);
  const obs = (o: Partial<ObserveMark> = {}): ObserveMark =>
    ({ at: at(0), n: 9, done: true, stopped: false, outcome: 'failed-over', newActive: B, routedAt: at(31.5), polls: [], droppedPolls: 0, splitSince: '', longestSplitSeconds: 0, invariants: emptyInvariants(), detectedAt: at(3), electedAt: at(20), ...o }) as ObserveMark;
  const okPost = postCheck(snap([node.standby(A, B), node.active(B)], [target(B)], B), plan, B, '');

  it('passes on the routed RTO without a listener, with every moment of the failover', () => {
    const v = judgeDrill({ plan, observe: obs(), injectedAt, maxRtoSeconds: 120, measuresClients: false, post: okPost, restore: { status: 'restored', detail: '' } });
    assert.deepEqual([v.result, v.passed, v.rtoMeasure, v.rtoSeconds, v.routedRtoSeconds, v.clientRtoSeconds, v.failure], ['passed', true, 'routed', 31.5, 31.5, null, undefined]);
    assert.deepEqual([v.times.detectionSeconds, v.times.electionSeconds, v.times.routedSeconds, v.times.clientVisibleSeconds], [3, 20, 31.5, null]);
  });

  it('judges the client-visible RTO when clients were measured', () => {
    const client = tallyClient(undefined, [{ atMs: T0 + 1_000, ok: false, detail: 'x' }, { atMs: T0 + 12_000, ok: true, detail: 'HTTP 200' }]);
    const v = judgeDrill({ plan, observe: obs({ client }), injectedAt, maxRtoSeconds: 20, measuresClients: true });
    assert.deepEqual([v.result, v.rtoMeasure, v.rtoSeconds, v.routedRtoSeconds, v.times.clientRecoveredAt], ['passed', 'client-visible', 12, 31.5, at(12)]);
    assert.match(v.outcome, /clients were served again after 12 s \(routed after 31.5 s\)/);
    const never = judgeDrill({ plan, observe: obs({ client: tallyClient(undefined, [{ atMs: T0 + 1_000, ok: true, detail: '' }]) }), injectedAt, maxRtoSeconds: 20, measuresClients: true });
    assert.deepEqual([never.rtoSeconds, never.times.clientRecoveredAt], [0, injectedAt]);
  });

  it('fails with RtoExceededError past maxRtoSeconds, or when clients still failed at the end', () => {
    const v = judgeDrill({ plan, observe: obs(), injectedAt, maxRtoSeconds: 30, measuresClients: false });
    assert.deepEqual([v.result, v.passed, v.rtoSeconds, v.failure], ['failed', false, 31.5, 'RtoExceededError']);
    const failing = tallyClient(undefined, [{ atMs: T0 + 1_000, ok: false, detail: 'x' }]);
    const c = judgeDrill({ plan, observe: obs({ client: failing, outcome: 'bound-reached' }), injectedAt, maxRtoSeconds: 120, measuresClients: true });
    assert.deepEqual([c.failure, c.rtoSeconds], ['RtoExceededError', null]);
    assert.match(c.outcome, /client requests through the listener still failed/);
  });

  it('fails with NoNewActiveError when nothing was routed and no stop fired', () => {
    const v = judgeDrill({ plan, observe: obs({ outcome: 'bound-reached', newActive: '', routedAt: '' }), injectedAt, maxRtoSeconds: 120, measuresClients: false });
    assert.deepEqual([v.result, v.rtoSeconds, v.failure], ['failed', null, 'NoNewActiveError']);
  });

  it('a stop condition makes it aborted, whatever else', () => {
    const v = judgeDrill({ plan, observe: obs({ stop: { condition: 'alarm', reason: 'x in ALARM', at: at(4) } }), injectedAt, maxRtoSeconds: 120, measuresClients: false, restore: { status: 'failed', detail: 'unseal failed' } });
    assert.deepEqual([v.result, v.passed, v.failure], ['aborted', null, 'DrillAbortedError']);
    assert.match(v.outcome, /stopped by alarm: x in ALARM; the restore failed: unseal failed$/);
  });

  it('fails with InvariantViolatedError, PostCheckFailedError, then RestoreFailedError (failover passed)', () => {
    const broken = { ...emptyInvariants(), emptyWhileUnsealed: 2, sealedRouted: 1, twoActivesRouted: 1 };
    const inv = judgeDrill({ plan, observe: obs({ invariants: broken }), injectedAt, maxRtoSeconds: 120, measuresClients: false });
    assert.equal(inv.failure, 'InvariantViolatedError');
    assert.match(inv.outcome, /two actives routed in 1 polls; empty target group while an unsealed node was alive in 2 polls; a sealed node routed in 1 polls/);
    const onlySealed = judgeDrill({ plan, observe: obs({ invariants: { ...emptyInvariants(), sealedRouted: 3 } }), injectedAt, maxRtoSeconds: 120, measuresClients: false });
    assert.match(onlySealed.outcome, /violated: a sealed node routed in 3 polls$/);
    const badPost = postCheck(snap([node.active(A), node.active(B)], [target(A), target(B)], B, 'split-brain'), plan, B, '');
    assert.equal(judgeDrill({ plan, observe: obs(), injectedAt, maxRtoSeconds: 120, measuresClients: false, post: badPost }).failure, 'PostCheckFailedError');
    const restore = judgeDrill({ plan, observe: obs(), injectedAt, maxRtoSeconds: 120, measuresClients: false, post: okPost, restore: { status: 'failed', detail: 'unseal failed' } });
    assert.deepEqual([restore.result, restore.passed, restore.failure], ['failed', true, 'RestoreFailedError']);
  });
});

describe('report pieces', () => {
  it('invariantReport and clientReport', () => {
    assert.deepEqual(invariantReport(undefined, 0), { held: true, neverTwoActivesRouted: true, neverEmptyWhileUnsealed: true, sealedNeverRouted: true, polls: 0, violations: [] });
    assert.equal(invariantReport({ ...emptyInvariants(), sealedRouted: 1, examples: ['x'] }, 3).sealedNeverRouted, false);
    assert.equal(clientReport('u', undefined), null);
    const t = tallyClient(undefined, [{ atMs: T0, ok: false, detail: '' }, { atMs: T0 + 1_000, ok: true, detail: '' }]);
    assert.deepEqual(clientReport('u', t), { url: 'u', requests: 2, failedRequests: 1, firstFailedAt: at(0), lastFailedAt: at(0), recoveredAt: at(1) });
    assert.equal(drillTimes({ detectedAt: '', electedAt: '', routedAt: '' }, at(0)).detectedAt, null);
    const clean = tallyClient(undefined, [{ atMs: T0, ok: true, detail: '' }]);
    assert.deepEqual(clientReport('u', clean), { url: 'u', requests: 1, failedRequests: 0, firstFailedAt: null, lastFailedAt: null, recoveredAt: null });
  });

  it('causeOf stays under Step Functions\' 32 KiB Cause, dropping polls first', () => {
    const poll: DrillPoll = { at: at(1), verdict: 'no-leader', legitimateActive: null, claimants: [], registered: [{ instanceId: A, state: 'unhealthy' }], classes: { [A]: 'unreachable', [B]: 'standby', [C]: 'standby' } };
    const report = { kind: 'failover-drill', verdicts: Array.from({ length: 120 }, () => poll), timeline: Array.from({ length: 400 }, (_, i) => ({ at: at(i), event: `event ${i} ${'x'.repeat(60)}` })) } as unknown as DrillReport;
    const cause = causeOf(report);
    assert.ok(cause.length <= 32_000);
    assert.equal((JSON.parse(cause) as DrillReport).verdicts.length, 5);
    const small = { kind: 'failover-drill', verdicts: [poll], timeline: [] } as unknown as DrillReport;
    assert.equal(causeOf(small), JSON.stringify(small));
    const huge = { ...report, warnings: ['x'.repeat(40_000)] } as unknown as DrillReport;
    const cut = causeOf(huge);
    assert.ok(cut.length <= 32_000);
    assert.ok(cut.length === 32_000, 'the last resort is a cut');
  });
});
