/**
 * The sandbox's scripted scenarios, end to end with compressed timings: the real
 * controller handler on its loop against the local EC2/ELBv2/SSM endpoints,
 * dynalite and simulated Vault nodes. Besides each scenario's own verdict, the
 * safety invariants of DESIGN §5 are re-checked here over the raw routing
 * samples and the timeline.
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import { runScenario, type ScenarioName, type ScenarioRun } from '../../sandbox/scenarios.js';

// ×10 rather than the CLI's ×20: at ×20 the lock TTL is 750 ms, which a loaded CI machine can miss.
const FAST = { fast: true, speed: 10 } as const;

function failedChecks(run: ScenarioRun): string {
  return JSON.stringify(
    run.result.checks.filter((c) => !c.passed),
    null,
    1,
  );
}

/** Invariant 3: no routing sample ever routes to two targets whose nodes claim active (a new target is `initial`: not routed). */
function assertNeverTwoActivesRouted(run: ScenarioRun): void {
  assert.ok(run.samples.length > 0, 'the scenario took routing samples');
  const bad = run.samples.find((s) => s.routedClaimants.length > 1);
  assert.equal(bad, undefined, `two actives routed at ${bad ? new Date(bad.atMs).toISOString() : ''}`);
}

function registeredAfter(run: ScenarioRun, atMs: number): string[] {
  const last = run.samples.filter((s) => s.atMs >= atMs).at(-1);
  return last?.registered.map((r) => r.instanceId) ?? [];
}

describe('sandbox scenarios (DynamoDB HA, compressed timings)', () => {
  test('steady: the active stays the only registered target and every tick is healthy', async () => {
    const run = await runScenario('steady', FAST);
    assert.equal(run.result.passed, true, failedChecks(run));
    assert.deepEqual(run.result.verdicts, ['healthy']);
    assert.equal(run.timeline.filter((e) => e.kind === 'registration' || e.kind === 'fault').length, 0);
    assert.ok(run.samples.every((s) => s.registered.length === 1), 'exactly one target registered in every sample');
    assertNeverTwoActivesRouted(run);
  });

  for (const scenario of ['kill-active', 'step-down'] as const satisfies readonly ScenarioName[]) {
    test(`${scenario}: a new active is registered and serves clients, the old one is removed`, async () => {
      const run = await runScenario(scenario, FAST);
      assert.equal(run.result.passed, true, failedChecks(run));
      assert.ok(run.faultAtMs !== undefined);
      assert.ok(run.result.rtoMs !== undefined && run.result.rtoMs > 0, 'an RTO was measured');
      // Compressed ×20: 120 s of real-world time is the outer bound for a failover.
      assert.ok(run.result.rtoMs < 6_000, `rto ${run.result.rtoMs} ms`);
      const before = run.samples.find((s) => s.atMs <= run.faultAtMs!) ?? run.samples[0]!;
      const oldActive = before.claimants[0]!;
      const end = registeredAfter(run, run.faultAtMs!);
      assert.equal(end.length, 1, 'one target registered at the end');
      assert.notEqual(end[0], oldActive, 'the old active is no longer registered');
      const kinds = run.timeline.map((e) => e.kind);
      assert.ok(kinds.indexOf('fault') < kinds.lastIndexOf('registration'), 'the registration change follows the fault');
      assert.ok(run.timeline.some((e) => e.kind === 'client' && e.detail.startsWith('first client success after failover')));
      assertNeverTwoActivesRouted(run);
    });
  }

  test('zombie-leader: with break-lock fencing the zombie lock is broken and a standby takes over', async () => {
    const run = await runScenario('zombie-leader', FAST);
    assert.equal(run.result.passed, true, failedChecks(run));
    assert.ok(run.result.verdicts.includes('zombie-leader'), `verdicts: ${run.result.verdicts.join(', ')}`);
    assert.ok(run.timeline.some((e) => e.kind === 'controller' && e.detail.includes('broke the zombie lock')));
    assert.ok(run.result.rtoMs !== undefined);
    assertNeverTwoActivesRouted(run);
  });

  test('split-brain: the rogue claimant is never routed to while the lock holder keeps serving', async () => {
    const run = await runScenario('split-brain', FAST);
    assert.equal(run.result.passed, true, failedChecks(run));
    assert.ok(run.result.verdicts.includes('split-brain'));
    // Two nodes claimed active at once, yet only one was ever routed to.
    assert.ok(run.samples.some((s) => s.claimants.length === 2), 'the fault produced two claimants');
    assert.equal(run.timeline.filter((e) => e.kind === 'registration').length, 0, 'registrations never changed');
    assertNeverTwoActivesRouted(run);
  });

  test('probe-blind: nothing changes while the controller cannot see the nodes', async () => {
    const run = await runScenario('probe-blind', FAST);
    assert.equal(run.result.passed, true, failedChecks(run));
    assert.ok(run.result.verdicts.includes('probe-blind'));
    const keys = new Set(run.samples.map((s) => s.registered.map((r) => r.instanceId).join(',')));
    assert.equal(keys.size, 1, 'the same registration in every sample');
    assert.equal(run.timeline.filter((e) => e.kind === 'controller').length, 0, 'the controller applied nothing');
    assertNeverTwoActivesRouted(run);
  });
});

// replace-node and its failure variants: test/e2e/sandbox-replace.test.ts.

describe('sandbox scenarios (integrated storage, compressed timings)', () => {
  test('kill-active under Raft: a newly elected leader is registered and the dead one removed', async () => {
    const run = await runScenario('kill-active', { ...FAST, ha: 'raft' });
    assert.equal(run.result.passed, true, failedChecks(run));
    assert.equal(run.result.ha, 'raft');
    assertNeverTwoActivesRouted(run);
  });

  test('zombie-leader under Raft: the unreachable leader is removed, a forwarding standby keeps the group non-empty, never two actives', async () => {
    const run = await runScenario('zombie-leader', { ...FAST, ha: 'raft' });
    assert.equal(run.result.passed, true, failedChecks(run));
    assertNeverTwoActivesRouted(run);
  });
});
