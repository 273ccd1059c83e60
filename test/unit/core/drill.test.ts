/**
 * Pure decisions of the failover drill (functions/core/drill.ts): when a drill
 * may start, what it injects, when observation stops, and how it is judged.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  checkDrillInput,
  drillPhases,
  judgeDrill,
  MAX_RECORDED_POLLS,
  observeBudget,
  observeStep,
  planFault,
  pollOf,
  postCheck,
  preCheck,
  routedNewActive,
  type DrillPoll,
  type DrillSnapshot,
} from '../../../functions/core/drill.js';
import { InvalidInputError } from '../../../functions/config/errors.js';
import type { NodeHealth, TargetView } from '../../../functions/core/types.js';
import { config } from '../replacement/fixtures.js';
import { node, target } from './factories.js';

const A = 'i-0aaaaaaaaaaaaaaa1';
const B = 'i-0bbbbbbbbbbbbbbb2';
const C = 'i-0ccccccccccccccc3';
const cluster = config().clusters[0]!;
const T0 = Date.parse('2026-11-22T10:00:00.000Z');

function snap(nodes: NodeHealth[], targets: TargetView[], legitimateActive: string | undefined, kind: DrillSnapshot['verdict']['kind'] = 'healthy', slots: Record<string, string> = { [A]: 'vault-a', [B]: 'vault-b', [C]: 'vault-c' }): DrillSnapshot {
  return { nodes, targets, verdict: { kind, reasons: kind === 'healthy' ? [] : ['because'], ...(legitimateActive ? { legitimateActive } : {}) }, slotByInstance: slots };
}

const steady = (): DrillSnapshot => snap([node.active(A), node.standby(B, A), node.standby(C, A)], [target(A)], A);

describe('checkDrillInput', () => {
  it('applies the contract defaults (dryRun false, maxRtoSeconds 120)', () => {
    assert.deepEqual(checkDrillInput({ cluster: 'prod', scenario: 'kill-active' }, config()), {
      cluster: 'prod',
      scenario: 'kill-active',
      dryRun: false,
      dryRunFromPolicy: false,
      maxRtoSeconds: 120,
    });
  });

  it('turns a drill into a dry run when the cluster policy says dryRun', () => {
    const r = checkDrillInput({ cluster: 'prod', scenario: 'step-down' }, config({ dryRunPolicy: true }));
    assert.equal(r.dryRun, true);
    assert.equal(r.dryRunFromPolicy, true);
  });

  for (const [input, field] of [
    [{ cluster: 'prod', scenario: 'reboot' }, 'scenario'],
    [{ cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: 0 }, 'maxRtoSeconds'],
    [{ cluster: 'prod', scenario: 'kill-active', dryRun: 'yes' }, 'dryRun'],
    [{ scenario: 'kill-active' }, 'cluster'],
  ] as const) {
    it(`rejects ${JSON.stringify(input)} naming ${field}`, () => {
      assert.throws(() => checkDrillInput(input, config()), (e: unknown) => e instanceof InvalidInputError && e.problems.some((p) => p.startsWith(`${field}:`)));
    });
  }
});

describe('preCheck', () => {
  it('accepts a steady cluster and names the legitimate active and the standbys', () => {
    assert.deepEqual(preCheck(steady(), 'kill-active', cluster), { kind: 'ok', oldActive: A, standbys: [B, C] });
  });

  const refusals: Array<{ name: string; s: DrillSnapshot; reason: RegExp }> = [
    { name: 'the verdict is not healthy', s: snap([node.active(A), node.standby(B, A)], [target(A)], A, 'flapping'), reason: /verdict is flapping/ },
    { name: 'no legitimate active can be named', s: snap([node.standby(B), node.standby(C)], [target(B)], undefined, 'no-leader'), reason: /no legitimate active/ },
    { name: 'the active is not registered', s: snap([node.active(A), node.standby(B, A)], [target(B)], A), reason: /not registered/ },
    { name: 'the active is unhealthy in the ALB', s: snap([node.active(A), node.standby(B, A)], [target(A, 'initial')], A), reason: /is initial in the target group/ },
    { name: 'only sealed nodes could take over', s: snap([node.active(A), node.sealed(B), node.unreachable(C)], [target(A)], A), reason: /no unsealed standby/ },
  ];
  for (const row of refusals) {
    it(`refuses when ${row.name}`, () => {
      const r = preCheck(row.s, 'kill-active', cluster);
      assert.equal(r.kind, 'refused');
      assert.ok(r.kind === 'refused' && r.reasons.some((x) => row.reason.test(x)), JSON.stringify(r));
    });
  }

  it('refuses terminate-active for a node without a configured slot (nothing could restore it)', () => {
    const s = { ...steady(), slotByInstance: {} };
    const r = preCheck(s, 'terminate-active', cluster);
    assert.ok(r.kind === 'refused' && r.reasons.some((x) => /replacement slot/.test(x)));
    assert.equal(preCheck(s, 'kill-active', cluster).kind, 'ok');
  });
});

describe('planFault', () => {
  it('maps each scenario to its injection on the old active', () => {
    const plan = (scenario: 'step-down' | 'kill-active' | 'stop-active-instance' | 'terminate-active') =>
      planFault({ scenario, cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B] });
    assert.deepEqual([plan('step-down').kind, plan('step-down').controlAction], ['vault-control', 'step-down']);
    assert.deepEqual([plan('kill-active').kind, plan('kill-active').controlAction], ['vault-control', 'kill']);
    assert.equal(plan('stop-active-instance').kind, 'stop-instance');
    const t = plan('terminate-active');
    assert.equal(t.kind, 'terminate-instance');
    assert.deepEqual([t.keepVolumeId, t.keepNetworkInterfaceId], ['vol-0a', 'eni-0a']);
    for (const s of ['step-down', 'kill-active', 'stop-active-instance', 'terminate-active'] as const) assert.ok(plan(s).description.includes(A));
  });
});

describe('observation', () => {
  const poll = (atMs: number, legit: string | null, registered: Array<[string, TargetView['state']]>): DrillPoll => ({
    at: new Date(atMs).toISOString(),
    verdict: legit ? 'healthy' : 'no-leader',
    legitimateActive: legit,
    claimants: legit ? [legit] : [],
    registered: registered.map(([instanceId, state]) => ({ instanceId, state })),
  });
  const fault = { oldInstanceId: A, injectedAt: new Date(T0).toISOString() };
  const budget = observeBudget(120);

  it('is done only when a new legitimate active is registered AND healthy', () => {
    assert.equal(routedNewActive(poll(T0, A, [[A, 'healthy']]), A), undefined);
    assert.equal(routedNewActive(poll(T0, B, [[B, 'initial']]), A), undefined);
    assert.equal(routedNewActive(poll(T0, B, [[A, 'healthy']]), A), undefined);
    assert.equal(routedNewActive(poll(T0, B, [[A, 'unhealthy'], [B, 'healthy']]), A), B);
  });

  it('stops at the first routed poll and records when it was seen', () => {
    const m = observeStep({ at: fault.injectedAt, n: 2, polls: [] }, poll(T0 + 9_000, B, [[B, 'healthy']]), T0 + 9_000, fault, budget);
    assert.deepEqual([m.done, m.outcome, m.newActive, m.routedAt, m.n], [true, 'failed-over', B, new Date(T0 + 9_000).toISOString(), 3]);
  });

  it('stops at the time bound (maxRtoSeconds + margin) and at the poll-count bound, whichever comes first', () => {
    const byTime = observeStep({ at: '' }, poll(T0, null, []), T0 + budget.boundSeconds * 1000, fault, budget);
    assert.deepEqual([byTime.done, byTime.outcome], [true, 'bound-reached']);
    const byCount = observeStep({ at: '', n: budget.maxPolls - 1 }, poll(T0, null, []), T0 + 1_000, fault, budget);
    assert.deepEqual([byCount.done, byCount.outcome], [true, 'bound-reached']);
    const early = observeStep({ at: '' }, poll(T0, null, []), T0 + 1_000, fault, budget);
    assert.equal(early.done, false);
  });

  it('keeps the recorded polls bounded, keeping the first ones and the latest', () => {
    let m = observeStep({ at: '' }, poll(T0, null, []), T0, fault, { ...budget, maxPolls: 10_000, boundSeconds: 10_000 });
    for (let i = 1; i < MAX_RECORDED_POLLS + 25; i++) m = observeStep(m, poll(T0 + i * 1000, null, []), T0 + i * 1000, fault, { ...budget, maxPolls: 10_000, boundSeconds: 10_000 });
    assert.equal(m.polls.length, MAX_RECORDED_POLLS);
    assert.equal(m.droppedPolls, 25);
    assert.equal(m.polls[0]?.at, new Date(T0).toISOString());
    assert.equal(m.polls.at(-1)?.at, new Date(T0 + (MAX_RECORDED_POLLS + 24) * 1000).toISOString());
  });

  it('polls at least every few seconds and within the bound, whatever maxRtoSeconds is', () => {
    for (const max of [1, 30, 120, 600, 3600]) {
      const b = observeBudget(max);
      assert.ok(b.intervalSeconds >= 1 && Number.isInteger(b.intervalSeconds));
      assert.ok(b.boundSeconds > max);
      assert.ok(b.maxPolls * b.intervalSeconds >= b.boundSeconds, `${max}: ${JSON.stringify(b)}`);
      assert.ok(b.maxPolls <= MAX_RECORDED_POLLS, `${max}: ${b.maxPolls} polls`);
    }
  });

  it('pollOf leaves draining targets out of the registered list', () => {
    const p = pollOf(snap([node.active(B)], [target(A, 'draining'), target(B)], B), T0);
    assert.deepEqual(p.registered, [{ instanceId: B, state: 'healthy' }]);
  });
});

describe('postCheck and judgement', () => {
  const plan = planFault({ scenario: 'kill-active', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B, C] });
  const after = (): DrillSnapshot => snap([node.unreachable(A, 'refused'), node.active(B), node.standby(C, B)], [target(B)], B);

  it('passes with a healthy verdict and exactly the new active registered, and says what to do with the old node', () => {
    const p = postCheck(after(), plan, B, 'shamir');
    assert.equal(p.ok, true, p.reasons.join('; '));
    assert.equal(p.oldNode.class, 'unreachable');
    assert.match(p.nextStep, /Action=start/);
    assert.match(p.nextStep, /sealed/);
    assert.doesNotMatch(postCheck(after(), plan, B, 'auto').nextStep, /sealed \(shamir\)/);
  });

  it('fails when two registered targets claim active', () => {
    const s = snap([node.active(A), node.active(B), node.standby(C, B)], [target(A), target(B)], B, 'split-brain');
    const p = postCheck(s, plan, B, 'shamir');
    assert.equal(p.ok, false);
    assert.ok(p.reasons.some((r) => /2 registered targets claim active/.test(r)));
  });

  const injectedAt = new Date(T0).toISOString();
  it('passes when the new active is routed within maxRtoSeconds', () => {
    const v = judgeDrill({ plan, observe: { outcome: 'failed-over', newActive: B, routedAt: new Date(T0 + 31_500).toISOString(), n: 9 }, injectedAt, maxRtoSeconds: 120 });
    assert.deepEqual([v.result, v.rtoSeconds, v.failure], ['passed', 31.5, undefined]);
  });

  it('fails with RtoExceededError past maxRtoSeconds, keeping the measured RTO', () => {
    const v = judgeDrill({ plan, observe: { outcome: 'failed-over', newActive: B, routedAt: new Date(T0 + 31_500).toISOString(), n: 9 }, injectedAt, maxRtoSeconds: 30 });
    assert.deepEqual([v.result, v.rtoSeconds, v.failure], ['failed', 31.5, 'RtoExceededError']);
  });

  it('fails with NoNewActiveError when the bound was reached', () => {
    const v = judgeDrill({ plan, observe: { outcome: 'bound-reached', newActive: '', routedAt: '', n: 52 }, injectedAt, maxRtoSeconds: 120 });
    assert.deepEqual([v.result, v.rtoSeconds, v.failure], ['failed', null, 'NoNewActiveError']);
  });

  it('fails with PostCheckFailedError when the failover was fast but the end state is wrong', () => {
    const bad = postCheck(snap([node.active(A), node.active(B)], [target(A), target(B)], B, 'split-brain'), plan, B, 'shamir');
    const v = judgeDrill({ plan, observe: { outcome: 'failed-over', newActive: B, routedAt: new Date(T0 + 5_000).toISOString(), n: 2 }, injectedAt, maxRtoSeconds: 120, post: bad });
    assert.deepEqual([v.result, v.failure], ['failed', 'PostCheckFailedError']);
  });
});

describe('drillPhases', () => {
  it('ends each phase where the next recorded one starts and the last at the end', () => {
    const at = (s: number) => new Date(T0 + s * 1000).toISOString();
    const phases = drillPhases({ validate: { at: at(0) }, lease: { at: at(1) }, preCheck: { at: at(2) }, inject: { at: at(3) }, observe: { at: at(4) }, release: { at: at(40) } }, at(41));
    assert.deepEqual(
      phases.map((p) => [p.name, p.durationMs]),
      [['validate', 1000], ['acquire-lease', 1000], ['pre-check', 1000], ['inject-fault', 1000], ['observe-failover', 36000], ['release-lease', 1000]],
    );
  });
});
