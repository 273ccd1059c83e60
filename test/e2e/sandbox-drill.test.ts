/**
 * failover-drill end to end in the sandbox: the REAL state machine definition
 * and task code in the local ASL interpreter against the local EC2/ELBv2/SSM
 * endpoints, dynalite, simulated Vault nodes taking the DynamoDB HA lock, and
 * the REAL controller re-routing the ALB (the drill only injects and watches).
 * The scenario's own checks read the world before the sandbox stops.
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import { DRILL_PHASES } from '../../functions/core/drill.js';
import { runScenario, type ScenarioRun } from '../../sandbox/scenarios.js';

const PHASE_ORDER: readonly string[] = DRILL_PHASES.map(([, name]) => name);

function failedChecks(run: ScenarioRun): string {
  return JSON.stringify(
    run.result.checks.filter((c) => !c.passed),
    null,
    1,
  );
}

function assertDrillFigures(run: ScenarioRun): void {
  const r = run.result;
  assert.equal(r.executionStatus, 'SUCCEEDED');
  assert.equal(r.result, 'passed');
  assert.ok(typeof r.rtoSeconds === 'number' && r.rtoSeconds > 0, `rtoSeconds ${r.rtoSeconds}`);
  assert.ok(r.maxRtoSeconds !== undefined && r.rtoSeconds <= r.maxRtoSeconds);
  assert.ok(r.oldActive && r.newActive && r.oldActive !== r.newActive);
  assert.equal(r.maxRegisteredActives, 1, 'never two registered targets claiming active');
  const names = (r.phases ?? []).map((p) => p.name);
  assert.deepEqual(names, ['validate', 'acquire-lease', 'pre-check', 'inject-fault', 'observe-failover', 'post-check', 'release-lease']);
  assert.deepEqual(
    names.map((n) => PHASE_ORDER.indexOf(n)),
    [...names.map((n) => PHASE_ORDER.indexOf(n))].sort((a, b) => a - b),
  );
}

describe('failover-drill in the sandbox (fast)', () => {
  test('drill-kill-active: the killed active is replaced by a routed new active, and the drill reports the RTO', async () => {
    const run = await runScenario('drill-kill-active', { fast: true });
    assert.equal(run.result.passed, true, failedChecks(run));
    assertDrillFigures(run);
    // The fault the drill injected shows in the world's own timeline (the simulated node died).
    assert.ok(run.timeline.some((e) => e.kind === 'vault' && /killed/.test(e.detail)), 'the node was killed through SSM');
  }, 60_000);

  test('drill-step-down: the stepped-down active stays an unsealed standby while another node is routed', async () => {
    const run = await runScenario('drill-step-down', { fast: true });
    assert.equal(run.result.passed, true, failedChecks(run));
    assertDrillFigures(run);
    assert.ok(run.result.checks.some((c) => c.name === 'the stepped-down node is an unsealed standby' && c.passed));
  }, 60_000);
});
