/**
 * replace-node end to end in the sandbox: the REAL state machine definition
 * and task code in the local ASL interpreter against the local EC2/ELBv2/SSM
 * endpoints and dynalite, once on the happy path and once for each injected
 * failure. The world is gone when runScenario returns, so world-side facts
 * are asserted through the scenario's own checks (which read the EC2 world,
 * the control table and the SSM audit before the sandbox stops) and through
 * the timeline the world emitted while it ran.
 */
import assert from 'node:assert/strict';
import { describe, test } from '@jest/globals';
import { PHASES } from '../../functions/core/replacement.js';
import { INSUFFICIENT_CAPACITY_FAULT, locationAgrees, runScenario, type ScenarioRun } from '../../sandbox/scenarios.js';

const FAST = { fast: true } as const;
const PHASE_ORDER: readonly string[] = PHASES.map(([, name]) => name);

function failedChecks(run: ScenarioRun): string {
  return JSON.stringify(
    run.result.checks.filter((c) => !c.passed),
    null,
    1,
  );
}

/** The scenario verified this against the world before the sandbox stopped (and it held). */
function assertCheckPassed(run: ScenarioRun, name: RegExp): void {
  const found = run.result.checks.filter((c) => name.test(c.name));
  assert.ok(found.length > 0, `the scenario ran a check matching ${name}`);
  for (const c of found) assert.equal(c.passed, true, `${c.name}: ${c.detail}`);
}

/** Phases come in workflow order, each with a non-negative duration, and fit in the run. */
function assertPhasesWellFormed(run: ScenarioRun): string[] {
  const phases = run.result.phases ?? [];
  assert.ok(phases.length > 0, 'the report carries phase timings');
  const names = phases.map((p) => p.name);
  const positions = names.map((n) => PHASE_ORDER.indexOf(n));
  assert.ok(positions.every((p) => p >= 0), `known phase names: ${names.join(', ')}`);
  assert.deepEqual(
    positions,
    [...positions].sort((a, b) => a - b),
    'phases in workflow order',
  );
  assert.ok(phases.every((p) => Number.isInteger(p.durationMs) && p.durationMs >= 0));
  const total = phases.reduce((s, p) => s + p.durationMs, 0);
  assert.ok(total <= run.result.durationMs, `phases (${total} ms) fit in the scenario (${run.result.durationMs} ms)`);
  return names;
}

function instanceEvents(run: ScenarioRun, instanceId: string): string[] {
  return run.timeline.filter((e) => e.kind === 'instance' && e.detail.startsWith(`${instanceId} `)).map((e) => e.detail);
}

function afterFault(run: ScenarioRun) {
  return run.timeline.filter((e) => run.faultAtMs !== undefined && e.atMs >= run.faultAtMs);
}

describe('locationAgrees: the report names the place EC2 reports for the volume', () => {
  const attached = { volumeId: 'vol-0a', state: 'in-use' as const, attachment: { instanceId: 'i-0b', device: '/dev/sdf', state: 'attached' as const, attachTimeMs: 0, deleteOnTermination: false } };
  const free = { volumeId: 'vol-0a', state: 'available' as const };
  const rows: Array<{ name: string; location: string | undefined; vol: Parameters<typeof locationAgrees>[1]; ok: boolean }> = [
    { name: 'a free volume reported available', location: 'available in eu-west-1b', vol: free, ok: true },
    { name: 'a free volume reported on an instance', location: 'attached to i-0b at /dev/sdf', vol: free, ok: false },
    { name: 'an attached volume reported on its instance', location: 'attached to i-0b (the replacement) at /dev/sdf', vol: attached, ok: true },
    { name: 'an attached volume reported on another instance', location: 'attached to i-0c at /dev/sdf', vol: attached, ok: false },
    { name: 'an attached volume reported available', location: 'available in eu-west-1b', vol: attached, ok: false },
    { name: 'a detaching volume reported attached', location: 'attached to i-0b', vol: { ...attached, attachment: { ...attached.attachment, state: 'detaching' as const } }, ok: false },
    { name: 'no location in the report', location: undefined, vol: free, ok: false },
    { name: 'a volume EC2 does not know', location: 'available in eu-west-1b', vol: undefined, ok: false },
  ];
  for (const row of rows) {
    test(`${row.name} → ${row.ok ? 'agrees' : 'disagrees'}`, () => {
      assert.equal(locationAgrees(row.location, row.vol).ok, row.ok);
    });
  }
});

describe('sandbox replace-node (the real state machine in the local interpreter, compressed timings)', () => {
  test('replace-node: a standby slot gets a new instance with its volume and ENI, and the report says where the volume is', async () => {
    const run = await runScenario('replace-node', FAST);
    const r = run.result;
    assert.equal(r.passed, true, failedChecks(run));
    assert.equal(r.executionStatus, 'SUCCEEDED');
    assert.equal(r.result, 'replaced');
    assert.equal(r.error, undefined);
    assert.ok(r.transitions !== undefined && r.transitions > 0);
    const oldId = r.oldInstance?.instanceId;
    const newId = r.newInstance?.instanceId;
    assert.ok(oldId !== undefined && newId !== undefined && oldId !== newId, `${oldId} → ${newId}`);
    assert.ok(r.volume?.location.includes(newId), `volume location "${r.volume?.location}" names the replacement`);
    assert.equal(r.networkInterface?.reused, true);
    assertCheckPassed(run, /report says where the volume is/);
    assertCheckPassed(run, /operation lease is released/);
    const names = assertPhasesWellFormed(run);
    assert.ok(['launch', 'attach-volume', 'prepare-node', 'wait-standby'].every((n) => names.includes(n)), names.join(', '));
    assert.ok(!names.includes('compensate'), 'nothing was compensated');
    assert.ok(instanceEvents(run, newId).some((d) => d.endsWith('pending → running')), 'the world saw the replacement start');
    assert.ok(instanceEvents(run, oldId).some((d) => d.endsWith('→ shutting-down')), 'the world saw the old instance go');
  });

  test('replace-node-launch-fails: no capacity for RunInstances → FAILED, volume free and reported, lease released, nothing launched', async () => {
    const run = await runScenario('replace-node-launch-fails', FAST);
    const r = run.result;
    assert.equal(r.passed, true, failedChecks(run));
    assert.equal(r.executionStatus, 'FAILED');
    assert.equal(r.result, 'failed');
    assert.ok(typeof r.error === 'object' && r.error.message.includes(INSUFFICIENT_CAPACITY_FAULT.code), JSON.stringify(r.error));
    // The old standby was already retired when the launch failed: the volume is free in its AZ, on no instance.
    assert.match(r.volume?.location ?? '', /^available /);
    assert.doesNotMatch(r.volume?.location ?? '', /\bi-[0-9a-f]+/);
    assert.equal(r.newInstance, undefined);
    assert.ok(Array.isArray(r.compensation));
    assert.ok((r.nextSteps ?? []).length > 0, 'the report says what to do next');
    assert.ok(
      afterFault(run).every((e) => !(e.kind === 'instance' && / new → /.test(e.detail))),
      'the world never saw a new instance',
    );
    for (const check of [/volume is accounted for/, /report says where the volume is/, /no instance is left half-launched/, /operation lease is released/]) {
      assertCheckPassed(run, check);
    }
    const names = assertPhasesWellFormed(run);
    assert.equal(names.at(-1), 'compensate');
    assert.ok(names.includes('launch') && !names.includes('wait-running'), names.join(', '));
  });

  test('replace-node-unseal-fails: shares unreadable on the node → UnsealFailedError, replacement terminated, volume free and reported, no share leaked', async () => {
    const run = await runScenario('replace-node-unseal-fails', FAST);
    const r = run.result;
    assert.equal(r.passed, true, failedChecks(run));
    assert.equal(r.executionStatus, 'FAILED');
    assert.ok(typeof r.error === 'object' && r.error.name === 'UnsealFailedError', JSON.stringify(r.error));
    const newId = r.newInstance?.instanceId;
    assert.ok(newId !== undefined, 'the report names the half-launched replacement');
    assert.ok(instanceEvents(run, newId).some((d) => d.endsWith('→ shutting-down')), 'the world saw the replacement terminated');
    assert.ok((r.compensation ?? []).some((c) => c.includes(newId)), `compensation names ${newId}: ${JSON.stringify(r.compensation)}`);
    // Available, or attached to exactly one instance — and the report says which.
    const instancesNamed = (r.volume?.location ?? '').match(/\bi-[0-9a-f]+/g) ?? [];
    assert.ok(/^available /.test(r.volume?.location ?? '') ? instancesNamed.length === 0 : instancesNamed.length === 1, r.volume?.location);
    assert.ok((r.nextSteps ?? []).length > 0);
    assert.ok(
      afterFault(run).every((e) => !(e.kind === 'vault' && / unsealed /.test(e.detail))),
      'the replaced node never became unsealed',
    );
    for (const check of [
      /volume is accounted for/,
      /report says where the volume is/,
      /half-launched replacement is terminated/,
      /no instance is left half-launched/,
      /operation lease is released/,
      /no unseal share reached SSM/,
    ]) {
      assertCheckPassed(run, check);
    }
    const names = assertPhasesWellFormed(run);
    assert.equal(names.at(-1), 'compensate');
    assert.ok(names.includes('prepare-node') && !names.includes('wait-standby'), names.join(', '));
  });
});
