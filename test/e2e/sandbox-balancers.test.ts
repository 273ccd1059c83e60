/**
 * The sandbox's scenarios behind each load balancer and on haLock "none"
 * (`npm start -- --lb classic|nlb-ip`, `--ha none`), compressed timings: the
 * real controller against the local Classic ELB endpoint, an NLB target group
 * of `ip` targets, or with a lock it must not read. Every scenario of the CLI
 * passes on each (README "Sandbox"); here the failover ones, with the safety
 * invariants re-checked over the raw routing samples.
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import { runScenario, type ScenarioOptions, type ScenarioRun } from '../../sandbox/scenarios.js';

function failedChecks(run: ScenarioRun): string {
  return JSON.stringify(run.result.checks.filter((c) => !c.passed), null, 1);
}

function assertInvariants(run: ScenarioRun): void {
  assert.ok(run.samples.length > 0, 'the scenario took routing samples');
  const two = run.samples.find((s) => s.routedClaimants.length > 1);
  assert.equal(two, undefined, 'two actives routed in one sample');
}

// ×10 rather than the CLI's ×20, as sandbox-scenarios.test.ts: at ×20 the lock TTL is 750 ms
// and the probe timeout 100 ms, which a loaded CI machine can miss (a step-down then looked slow).
const SPEED = 10;

const VARIANTS: Array<{ name: string; opts: ScenarioOptions }> = [
  { name: 'Classic Load Balancer', opts: { lb: 'classic' } },
  { name: 'NLB target group of ip targets', opts: { lb: 'nlb-ip' } },
  { name: 'haLock none', opts: { ha: 'none' } },
];

for (const v of VARIANTS) {
  describe(`sandbox scenarios: ${v.name}`, () => {
    for (const scenario of ['kill-active', 'step-down', 'zombie-leader'] as const) {
      test(`${scenario} passes and never routes two actives`, async () => {
        const run = await runScenario(scenario, { ...v.opts, fast: true, speed: SPEED });
        assert.equal(run.result.passed, true, failedChecks(run));
        assert.equal(run.result.lb, v.opts.lb ?? 'alb');
        assert.equal(run.result.ha, v.opts.ha ?? 'dynamodb');
        assertInvariants(run);
        if (v.opts.ha === 'none') {
          // Nothing read or deleted the lock: no fencing, no takeover, ever.
          assert.ok(!run.result.verdicts.includes('zombie-leader'), run.result.verdicts.join(','));
        }
      });
    }
  });
}
