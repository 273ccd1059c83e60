/**
 * The drill's restore plan and readiness (functions/core/drill-restore.ts).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { initialRestoreMark, nestedExecutionName, planRestore, restoredReadiness, restoreExhausted } from '../../../functions/core/drill-restore.js';
import { planFault, restoreBudget, type DrillScenario } from '../../../functions/core/drill.js';
import { config } from '../replacement/fixtures.js';

const A = 'i-0aaaaaaaaaaaaaaa1';
const cluster = config().clusters[0]!;
const fault = (scenario: DrillScenario) => planFault({ scenario, cluster, oldInstanceId: A, slot: 'vault-a', standbys: [] });

describe('planRestore', () => {
  it('brings each fault back the way the node came down', () => {
    const actions = (s: DrillScenario) => planRestore(fault(s), { restore: true, unsealMode: 'shamir' }).actions;
    assert.deepEqual(actions('step-down'), []);
    assert.deepEqual(actions('kill-active'), ['prepare-node']);
    assert.deepEqual(actions('seal-active'), ['prepare-node']);
    assert.deepEqual(actions('stop-active-instance'), ['start-instance', 'prepare-node']);
    assert.deepEqual(actions('terminate-active'), ['replace-node']);
    assert.deepEqual(actions('partition-clients'), ['heal-network']);
    assert.deepEqual(actions('partition-storage'), ['heal-network']);
  });

  it('restore: false does nothing and says what an operator does instead', () => {
    const p = planRestore(fault('kill-active'), { restore: false, unsealMode: 'shamir' });
    assert.deepEqual([p.skipped, p.actions, p.reason], [true, [], 'restore: false in the input']);
    assert.match(p.nextStep, /Action=start.*VaultHA-PrepareNode \(the node reads its shares\)/);
    assert.match(planRestore(fault('stop-active-instance'), { restore: false, unsealMode: 'auto' }).nextStep, /StartInstances.*auto-unseal/);
    assert.match(planRestore(fault('terminate-active'), { restore: true, unsealMode: 'auto' }).nextStep, /^run replace-node for slot vault-a/);
    assert.match(planRestore(fault('partition-clients'), { restore: true, unsealMode: 'auto' }).nextStep, /Action=heal .*heal themselves 1140 s after/);
  });

  it('the loop starts at the first action, or straight at the readiness wait', () => {
    assert.equal(initialRestoreMark('t', planRestore(fault('kill-active'), { restore: true, unsealMode: 'auto' })).phase, 'act');
    const m = initialRestoreMark('t', planRestore(fault('step-down'), { restore: true, unsealMode: 'auto' }));
    assert.deepEqual([m.phase, m.instanceId, m.n, m.done], ['wait-ready', A, 0, false]);
    assert.equal(restoreExhausted({ n: restoreBudget(cluster).maxAttempts }, restoreBudget(cluster)), true);
    assert.equal(restoreExhausted({ n: 1 }, restoreBudget(cluster)), false);
  });

  it('names the nested replace-node after the drill, within Step Functions\' 80 characters', () => {
    assert.equal(nestedExecutionName('drill-1'), 'drill-1-restore');
    assert.equal(nestedExecutionName('x'.repeat(80)).length, 80);
  });
});

describe('restoredReadiness', () => {
  it('is ready as an unsealed standby, or as the active when no one else claims it', () => {
    const r = (o: Partial<Parameters<typeof restoredReadiness>[0]>) => restoredReadiness({ instanceId: A, instanceState: 'running', nodeClass: 'standby', otherClaimants: [], ...o });
    assert.deepEqual(r({}), { ready: true, detail: `${A} is an unsealed standby` });
    assert.equal(r({ nodeClass: 'perf-standby' }).ready, true);
    assert.deepEqual(r({ nodeClass: 'active' }), { ready: true, detail: `${A} is the active again (no other node took over)` });
    assert.deepEqual(r({ nodeClass: 'active', otherClaimants: ['i-0b'] }), { ready: false, detail: `${A} is active` });
    assert.deepEqual(r({ nodeClass: 'sealed' }), { ready: false, detail: `${A} is sealed` });
    assert.deepEqual(r({ nodeClass: undefined }), { ready: false, detail: `${A} has not been probed yet` });
    assert.deepEqual(r({ instanceState: 'pending' }), { ready: false, detail: `${A} is pending` });
    assert.deepEqual(r({ instanceState: 'gone' }), { ready: false, detail: `${A} is gone` });
  });
});
