/**
 * The failover drill's plans, post-checks and timeline in the cases an
 * operator meets less often: an old active without a slot, a slot without an
 * interface, a node gone after the fault, a step-down that left the node
 * sealed, a moment with nothing registered. Each decides what the report tells
 * the operator to do next.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { drillTimeline, planFault, postCheck, preCheck, type DrillPoll, type DrillSnapshot } from '../../../functions/core/drill.js';
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
    const r = preCheck(snap([node.active(A), node.standby(B, A)], [target(A)], A, 'flapping', []), 'kill-active', cluster);
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
    assert.deepEqual([p.slot, p.keepVolumeId, p.keepNetworkInterfaceId], ['', '', '']);
    assert.equal(p.description, `terminate EC2 instance ${A} (TerminateInstances)`);
  });

  it('a slot name the config does not know keeps nothing either (never a guessed volume)', () => {
    const p = planFault({ scenario: 'terminate-active', cluster, oldInstanceId: A, slot: 'vault-z', standbys: [B] });
    assert.deepEqual([p.slot, p.keepVolumeId, p.keepNetworkInterfaceId], ['vault-z', '', '']);
  });
});

describe('postCheck: what is wrong and what to do next', () => {
  it('no registered target claiming active fails, saying "none"', () => {
    const plan = planFault({ scenario: 'kill-active', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B] });
    const p = postCheck(snap([node.unreachable(A), node.active(B), node.standby(C, B)], [target(C)], B), plan, B, 'shamir');
    assert.equal(p.ok, false);
    assert.ok(p.reasons.includes('0 registered targets claim active (none)'), p.reasons.join('; '));
  });

  it('one registered claimant that is not the observed new active fails, naming both', () => {
    const plan = planFault({ scenario: 'kill-active', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B, C] });
    const p = postCheck(snap([node.unreachable(A), node.standby(B, C), node.active(C)], [target(C)], C), plan, B, 'shamir');
    assert.equal(p.ok, false);
    assert.ok(p.reasons.includes(`the registered active is ${C}, not the new active ${B}`), p.reasons.join('; '));
  });

  it('an old node that is no member any more (terminated and gone from EC2) is reported as gone', () => {
    const plan = planFault({ scenario: 'terminate-active', cluster, oldInstanceId: A, standbys: [B] });
    const p = postCheck(snap([node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'shamir');
    assert.equal(p.ok, true, p.reasons.join('; '));
    assert.deepEqual(p.oldNode, { instanceId: A, class: 'gone', instanceState: 'gone' });
    // Without a slot nothing can replace-node it: the operator launches one.
    assert.equal(p.nextStep, `launch a replacement for ${A}`);
  });

  it('a terminated old active with a slot is put back by replace-node on that slot', () => {
    const plan = planFault({ scenario: 'terminate-active', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B] });
    const p = postCheck(snap([node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'shamir');
    assert.match(p.nextStep, /^run replace-node for slot vault-a \(\{"cluster":"prod","slot":"vault-a"\}\)/);
  });

  it('a stepped-down node that did not come back as an unsealed standby is pointed at its log', () => {
    const plan = planFault({ scenario: 'step-down', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B] });
    const sealed = postCheck(snap([node.sealed(A), node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'shamir');
    assert.equal(sealed.nextStep, `${A} is sealed after stepping down: check its Vault log`);
    const rejoined = postCheck(snap([node.standby(A, B), node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'shamir');
    assert.equal(rejoined.nextStep, `none: ${A} rejoined as an unsealed standby`);
  });

  it('a stopped old active is started again, with the unseal path of the cluster', () => {
    const plan = planFault({ scenario: 'stop-active-instance', cluster, oldInstanceId: A, slot: 'vault-a', standbys: [B] });
    const p = postCheck(snap([node.stopped(A), node.active(B), node.standby(C, B)], [target(B)], B), plan, B, 'auto');
    assert.equal(p.nextStep, `start instance ${A} (StartInstances); auto-unseal brings it back as a standby`);
  });
});

describe('drillTimeline', () => {
  const poll = (s: number, legit: string | null, registered: Array<[string, TargetView['state']]>): DrillPoll => ({
    at: at(s),
    verdict: legit ? 'healthy' : 'no-leader',
    legitimateActive: legit,
    claimants: legit ? [legit] : [],
    registered: registered.map(([instanceId, state]) => ({ instanceId, state })),
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
});
