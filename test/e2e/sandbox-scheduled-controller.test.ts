/**
 * The sandbox's scheduled controller mode end to end: the REAL controller
 * handler invoked the way EventBridge + Lambda invoke it as serverless.yml
 * deploys it (schedule, timeout, reserved concurrency), compressed ×8, across
 * invocation boundaries. In a steady cluster every invocation succeeds, every
 * tick says healthy and the target group keeps exactly the active.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { startSandbox, type Sandbox } from '../../sandbox/environment.js';
import { readControllerDeployment } from '../../sandbox/controller-loop.js';
import { waitFor } from '../../sandbox/sim/index.js';

describe('scheduled controller (EventBridge + Lambda as deployed)', () => {
  let sb: Sandbox;
  const deployment = readControllerDeployment();
  // ×8, not ×20: at ×20 the probe timeout is 100 ms, and a loaded CI machine's
  // stall of that length made one tick see no node answer (probe-blind).
  const speed = 8;

  beforeAll(async () => {
    // Phase 0: the first scheduled event fires as the sandbox starts.
    sb = await startSandbox({ ha: 'dynamodb', fast: true, speed, controller: 'scheduled', schedule: { deployment, phase: 0 } });
  });
  afterAll(async () => {
    await sb?.stop();
  });

  test('two schedule periods: each event invokes the real handler, which ticks until its time runs out or its successor takes over', async () => {
    const periodRealMs = (deployment.schedulePeriodSeconds * 1000) / speed;
    const registeredIds = new Set<string>();
    let samples = 0;
    // Two full periods and a bit (bounded in count and time).
    await waitFor(
      () => {
        samples += 1;
        for (const r of sb.sample()?.registered ?? []) registeredIds.add(r.instanceId);
        return sb.controller.lambdaEvents.filter((e) => e.kind === 'invoked').length >= 3;
      },
      { timeoutMs: periodRealMs * 3 + 20_000, intervalMs: 20, description: 'three scheduled invocations' },
    );
    const events = sb.controller.lambdaEvents;
    assert.deepEqual(
      events.filter((e) => e.kind === 'failed' || e.kind === 'timed-out' || e.kind === 'dropped'),
      [],
      'no invocation failed, timed out or was dropped',
    );
    const invoked = events.filter((e) => e.kind === 'invoked');
    assert.equal(new Set(invoked.map((e) => e.eventId)).size, invoked.length, 'one invocation per scheduled event');

    const ticks = sb.controller.tickLog;
    const byInvocation = new Set(ticks.map((t) => t.invocation));
    assert.ok(byInvocation.size >= 2, `ticks came from ${byInvocation.size} invocation(s)`);
    assert.deepEqual(
      [...new Set(ticks.map((t) => t.verdict))],
      ['healthy'],
      ticks
        .filter((t) => t.verdict !== 'healthy')
        .map((t) => `${t.verdict}: ${t.outcome}`)
        .join('\n'),
    );
    assert.deepEqual(
      ticks.filter((t) => t.applied),
      [],
      'a steady cluster needs no change',
    );

    const active = sb.activeSlot();
    assert.ok(active);
    assert.deepEqual([...registeredIds], [sb.instanceOf(active.name)], `only the active was registered over ${samples} samples`);
  });
});
