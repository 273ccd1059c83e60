import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { InvalidInputError } from '../../../functions/config/errors.js';
import {
  attachmentsToProtect,
  buildFailureReport,
  buildSuccessReport,
  checkReplaceInput,
  commandOutcome,
  decideInterfaceRelease,
  decideVolumeRelease,
  launchClientToken,
  operationLeaseTtlMs,
  phaseTimeline,
  planCompensation,
  planReplacement,
  slotOfInstance,
  standbyReadiness,
  taskErrorOf,
  totalWaitSeconds,
  waitBudgets,
  type PlanContext,
} from '../../../functions/core/replacement.js';
import { answer, failure, leaderBody, node, probe } from '../core/factories.js';
import { config, iface, inspection, instance, volume } from './fixtures.js';

function invalidFields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InvalidInputError, `expected InvalidInputError, got ${(e as Error).name}`);
    return e.problems.map((p) => p.split(':')[0] ?? '');
  }
  assert.fail('expected InvalidInputError');
}

describe('checkReplaceInput', () => {
  const cfg = config();
  const rows: Array<{ name: string; input: unknown; field: string }> = [
    { name: 'unknown cluster', input: { cluster: 'staging', slot: 'vault-a' }, field: 'cluster' },
    { name: 'unknown slot', input: { cluster: 'prod', slot: 'vault-z' }, field: 'slot' },
    { name: 'both slot and instanceId', input: { cluster: 'prod', slot: 'vault-a', instanceId: 'i-0123456789abcdef0' }, field: 'instanceId' },
    { name: 'neither slot nor instanceId', input: { cluster: 'prod' }, field: 'slot' },
    { name: 'dryRun that is not a boolean', input: { cluster: 'prod', slot: 'vault-a', dryRun: 'yes' }, field: 'dryRun' },
    { name: 'force that is not a boolean', input: { cluster: 'prod', slot: 'vault-a', force: 1 }, field: 'force' },
    { name: 'cluster that is not a string', input: { cluster: 7, slot: 'vault-a' }, field: 'cluster' },
    { name: 'malformed instanceId', input: { cluster: 'prod', instanceId: 'vault-a' }, field: 'instanceId' },
    { name: 'unknown field', input: { cluster: 'prod', slot: 'vault-a', slots: 'x' }, field: '(root)' },
  ];
  for (const row of rows) {
    it(`rejects ${row.name}, naming the field "${row.field}"`, () => {
      assert.ok(invalidFields(() => checkReplaceInput(row.input, cfg)).includes(row.field));
    });
  }

  it('accepts a slot input and defaults dryRun and force to false', () => {
    const r = checkReplaceInput({ cluster: 'prod', slot: 'vault-b' }, cfg);
    assert.deepEqual([r.cluster, r.slot, r.dryRun, r.force], ['prod', 'vault-b', false, false]);
  });

  it('turns a replacement into a dry run when the cluster policy says dryRun', () => {
    const r = checkReplaceInput({ cluster: 'prod', slot: 'vault-b' }, config({ dryRunPolicy: true }));
    assert.equal(r.dryRun, true);
    assert.equal(r.dryRunFromPolicy, true);
  });
});

describe('slotOfInstance', () => {
  const cluster = config().clusters[0]!;
  it('maps an instance to the slot its slot tag names', () => {
    assert.equal(slotOfInstance(cluster, 'i-0b', { 'vault-cluster': 'prod', 'vault-slot': 'vault-b' }).name, 'vault-b');
  });
  const rows: Array<{ name: string; tags: Record<string, string> | undefined }> = [
    { name: 'an instance that does not exist', tags: undefined },
    { name: 'an instance of another cluster', tags: { 'vault-cluster': 'dev', 'vault-slot': 'vault-b' } },
    { name: 'an instance without a slot tag', tags: { 'vault-cluster': 'prod' } },
    { name: 'an instance tagged for an unconfigured slot', tags: { 'vault-cluster': 'prod', 'vault-slot': 'vault-q' } },
  ];
  for (const row of rows) {
    it(`rejects ${row.name}, naming instanceId`, () => {
      assert.deepEqual(invalidFields(() => slotOfInstance(cluster, 'i-0b', row.tags)), ['instanceId']);
    });
  }
});

describe('launchClientToken', () => {
  it('is stable for one execution and slot (a retried launch reuses the instance)', () => {
    assert.equal(launchClientToken('exec-1', 'vault-b'), launchClientToken('exec-1', 'vault-b'));
  });
  it('differs between executions', () => {
    assert.notEqual(launchClientToken('exec-1', 'vault-b'), launchClientToken('exec-2', 'vault-b'));
  });
  it('stays within EC2\'s 64 ASCII characters for the longest execution names, and still differs', () => {
    const a = launchClientToken(`${'x'.repeat(79)}a`, 'vault-b');
    const b = launchClientToken(`${'x'.repeat(79)}b`, 'vault-b');
    assert.ok(a.length <= 64 && b.length <= 64);
    assert.match(a, /^[\x20-\x7e]+$/);
    assert.notEqual(a, b);
  });
});

describe('wait budgets and the lease', () => {
  const replacement = config({ volumeDetachTimeoutSeconds: 300, standbyTimeoutSeconds: 600 }).clusters[0]!.replacement!;
  const b = waitBudgets(replacement);
  it('polls the volume for at least volumeDetachTimeoutSeconds before force-detaching', () => {
    assert.ok(b.released.maxAttempts * b.released.intervalSeconds >= 300);
  });
  it('waits for the standby for at least standbyTimeoutSeconds', () => {
    assert.ok(b.standby.maxAttempts * b.standby.intervalSeconds >= 600);
  });
  it('takes a lease that outlives every bounded wait', () => {
    assert.ok(operationLeaseTtlMs(b) > totalWaitSeconds(b) * 1000);
  });
});

describe('planReplacement', () => {
  const cluster = config().clusters[0]!;
  const slot = cluster.replacement!.slots[1]!; // vault-b
  const ctx = (over: Partial<PlanContext['request']> = {}): PlanContext => ({ cluster, slot, request: { force: false, dryRun: false, ...over }, executionName: 'exec-1' });
  const oldB = instance('i-0b', { volume: { id: 'vol-0b', device: '/dev/sdf' }, eni: { id: 'eni-0b' } });
  const healthyStandbySlot = () =>
    inspection({
      slotInstances: [oldB],
      volume: volume('vol-0b', { attachedTo: 'i-0b' }),
      networkInterface: iface('eni-0b', { attachedTo: 'i-0b' }),
      nodes: [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')],
      verdict: { kind: 'healthy', legitimateActive: 'i-0a', reasons: [] },
      registeredTargets: ['i-0a', 'i-0b'],
    });

  it('plans to deregister and terminate a standby that another standby backs up', () => {
    const d = planReplacement(healthyStandbySlot(), ctx());
    assert.equal(d.kind, 'plan');
    assert.equal(d.plan.oldInstanceId, 'i-0b');
    assert.equal(d.plan.deregisterOld, true);
    assert.equal(d.plan.oldAction, 'terminate');
    assert.equal(d.plan.stepDownFirst, false);
  });

  it('places the replacement in the slot\'s AZ, subnet and interface', () => {
    const { plan } = planReplacement(healthyStandbySlot(), ctx());
    assert.deepEqual([plan.availabilityZone, plan.subnetId, plan.networkInterfaceId, plan.volumeId, plan.device], ['eu-west-1b', 'subnet-0b', 'eni-0b', 'vol-0b', '/dev/sdf']);
  });

  it('refuses to replace the legitimate active without force', () => {
    const world = inspection({
      ...healthyStandbySlot(),
      nodes: [node.active('i-0b'), node.standby('i-0a', 'i-0b'), node.standby('i-0c', 'i-0b')],
      verdict: { kind: 'healthy', legitimateActive: 'i-0b', reasons: [] },
    });
    const d = planReplacement(world, ctx());
    assert.equal(d.kind, 'refused');
    assert.ok(d.kind === 'refused' && d.reasons.some((r) => r.includes('i-0b') && r.includes('active')));
  });

  it('with force, steps the legitimate active down first', () => {
    const world = inspection({
      ...healthyStandbySlot(),
      nodes: [node.active('i-0b'), node.standby('i-0a', 'i-0b'), node.standby('i-0c', 'i-0b')],
      verdict: { kind: 'healthy', legitimateActive: 'i-0b', reasons: [] },
    });
    const d = planReplacement(world, ctx({ force: true }));
    assert.equal(d.kind, 'plan');
    assert.equal(d.plan.stepDownFirst, true);
  });

  it('refuses when replacing a live standby leaves no unsealed standby, unless forced', () => {
    const world = inspection({ ...healthyStandbySlot(), nodes: [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.sealed('i-0c')] });
    assert.equal(planReplacement(world, ctx()).kind, 'refused');
    assert.equal(planReplacement(world, ctx({ force: true })).kind, 'plan');
  });

  it('replaces a dead node even when no other standby exists (it serves nothing)', () => {
    const world = inspection({ ...healthyStandbySlot(), nodes: [node.active('i-0a'), node.unreachable('i-0b'), node.sealed('i-0c')] });
    assert.equal(planReplacement(world, ctx()).kind, 'plan');
  });

  const refusalRows: Array<{ name: string; patch: Parameters<typeof inspection>[0] extends infer T ? Partial<T> : never; needle: string }> = [
    { name: 'a data volume in another AZ', patch: { volume: volume('vol-0b', { az: 'eu-west-1a', attachedTo: 'i-0b' }) }, needle: 'eu-west-1a' },
    { name: 'a data volume attached to a foreign instance', patch: { volume: volume('vol-0b', { attachedTo: 'i-0zz' }) }, needle: 'i-0zz' },
    { name: 'a missing data volume', patch: { volume: undefined }, needle: 'vol-0b' },
    { name: 'an interface held by a foreign instance', patch: { networkInterface: iface('eni-0b', { attachedTo: 'i-0zz' }) }, needle: 'eni-0b' },
    { name: 'an interface in another subnet', patch: { networkInterface: iface('eni-0b', { attachedTo: 'i-0b', subnet: 'subnet-0a' }) }, needle: 'subnet-0a' },
    { name: 'two instances in the slot', patch: { slotInstances: [oldB, instance('i-0b2')] }, needle: 'i-0b2' },
  ];
  for (const row of refusalRows) {
    it(`refuses ${row.name}`, () => {
      const d = planReplacement({ ...healthyStandbySlot(), ...row.patch } as ReturnType<typeof healthyStandbySlot>, ctx({ force: true }));
      assert.equal(d.kind, 'refused');
      assert.ok(d.kind === 'refused' && d.reasons.some((r) => r.includes(row.needle)), JSON.stringify(d));
    });
  }

  it('refuses oldInstance "stop" when the slot interface is the old instance\'s primary (only termination frees it)', () => {
    const stopCluster = config({ oldInstance: 'stop' }).clusters[0]!;
    const d = planReplacement(healthyStandbySlot(), { ...ctx(), cluster: stopCluster, slot: stopCluster.replacement!.slots[1]! });
    assert.equal(d.kind, 'refused');
  });

  it('plans nothing to retire for an empty slot', () => {
    const world = inspection({ volume: volume('vol-0b'), networkInterface: iface('eni-0b'), nodes: [node.active('i-0a'), node.standby('i-0c', 'i-0a')] });
    const d = planReplacement(world, ctx());
    assert.equal(d.kind, 'plan');
    assert.deepEqual([d.plan.oldInstanceId, d.plan.oldAction, d.plan.deregisterOld], ['', 'none', false]);
  });

  it('does not stop an already stopped old instance again', () => {
    const stopCluster = config({ oldInstance: 'stop' }).clusters[0]!;
    const slotC = stopCluster.replacement!.slots[2]!; // no interface
    const oldC = instance('i-0c', { state: 'stopped', az: 'eu-west-1c', slot: 'vault-c', volume: { id: 'vol-0c', device: '/dev/sdg' } });
    const world = inspection({ slotInstances: [oldC], volume: volume('vol-0c', { az: 'eu-west-1c', attachedTo: 'i-0c' }), nodes: [node.active('i-0a'), node.stopped('i-0c')] });
    const d = planReplacement(world, { cluster: stopCluster, slot: slotC, request: { force: false, dryRun: false }, executionName: 'e' });
    assert.equal(d.kind, 'plan');
    assert.equal(d.plan.oldAction, 'none');
  });
});

describe('attachmentsToProtect', () => {
  it('flags a data volume and interface that would be deleted with the instance', () => {
    const old = instance('i-0b', { volume: { id: 'vol-0b', device: '/dev/sdf', dot: true }, eni: { id: 'eni-0b', dot: true } });
    assert.deepEqual(attachmentsToProtect(old, { volumeId: 'vol-0b', networkInterfaceId: 'eni-0b' }), { volumeDevice: '/dev/sdf', interfaceAttachment: true });
  });
  it('flags nothing when both survive termination already', () => {
    const old = instance('i-0b', { volume: { id: 'vol-0b', device: '/dev/sdf' }, eni: { id: 'eni-0b' } });
    assert.deepEqual(attachmentsToProtect(old, { volumeId: 'vol-0b', networkInterfaceId: 'eni-0b' }), {});
  });
});

describe('decideVolumeRelease', () => {
  const budget = { intervalSeconds: 5, maxAttempts: 6 };
  const base = { oldInstanceId: 'i-0b', budget, graceAttempts: 3, forced: false };
  const rows: Array<{ name: string; args: Partial<Parameters<typeof decideVolumeRelease>[0]>; kind: string }> = [
    { name: 'an available volume is done', args: { volume: volume('vol-0b'), oldInstanceState: 'terminated', attempt: 1 }, kind: 'done' },
    { name: 'a volume on a stopped old instance is detached (stop keeps EBS attached)', args: { volume: volume('vol-0b', { attachedTo: 'i-0b' }), oldInstanceState: 'stopped', attempt: 1 }, kind: 'detach' },
    { name: 'a volume on a shutting-down instance is waited for', args: { volume: volume('vol-0b', { attachedTo: 'i-0b' }), oldInstanceState: 'shutting-down', attempt: 2 }, kind: 'wait' },
    { name: 'a detaching volume is waited for', args: { volume: volume('vol-0b', { attachedTo: 'i-0b', attachState: 'detaching' }), oldInstanceState: 'stopped', attempt: 2 }, kind: 'wait' },
    { name: 'a volume still attached after the budget is force-detached', args: { volume: volume('vol-0b', { attachedTo: 'i-0b', attachState: 'detaching' }), oldInstanceState: 'stopped', attempt: 6 }, kind: 'force-detach' },
    { name: 'force-detach is issued only once', args: { volume: volume('vol-0b', { attachedTo: 'i-0b', attachState: 'detaching' }), oldInstanceState: 'stopped', attempt: 7, forced: true }, kind: 'wait' },
    { name: 'a volume still attached after the grace period is stuck', args: { volume: volume('vol-0b', { attachedTo: 'i-0b', attachState: 'busy' }), oldInstanceState: 'stopped', attempt: 9, forced: true }, kind: 'stuck' },
  ];
  for (const row of rows) {
    it(row.name, () => {
      assert.equal(decideVolumeRelease({ ...base, ...row.args } as Parameters<typeof decideVolumeRelease>[0]).kind, row.kind);
    });
  }
});

describe('decideInterfaceRelease', () => {
  it('is done once the interface is available', () => assert.equal(decideInterfaceRelease(iface('eni-0b'), 'terminated').kind, 'done'));
  it('detaches a secondary interface from a stopped instance', () =>
    assert.equal(decideInterfaceRelease(iface('eni-0b', { attachedTo: 'i-0b', index: 1 }), 'stopped').kind, 'detach'));
  it('waits for a primary interface to be freed by termination', () =>
    assert.equal(decideInterfaceRelease(iface('eni-0b', { attachedTo: 'i-0b', index: 0 }), 'shutting-down').kind, 'wait'));
});

describe('commandOutcome', () => {
  const rows: Array<[string | undefined, string]> = [
    ['Pending', 'pending'],
    ['InProgress', 'pending'],
    ['Delayed', 'pending'],
    [undefined, 'pending'],
    ['Success', 'success'],
    ['Failed', 'failed'],
    ['TimedOut', 'failed'],
    ['Cancelled', 'failed'],
  ];
  for (const [status, outcome] of rows) it(`${status ?? '(none)'} → ${outcome}`, () => assert.equal(commandOutcome(status), outcome));
});

describe('standbyReadiness', () => {
  const rows: Array<{ name: string; p: Parameters<typeof standbyReadiness>[0]; ha: 'raft' | 'dynamodb'; ready: boolean }> = [
    { name: 'an unsealed standby (429) that names the leader', p: probe({ status: 429, leaderAddress: 'https://10.0.1.5:8200' }), ha: 'raft', ready: true },
    { name: 'a performance standby (473)', p: probe({ status: 473, leaderAddress: 'https://10.0.1.5:8200' }), ha: 'raft', ready: true },
    { name: 'a sealed node (503)', p: probe({ status: 503 }), ha: 'dynamodb', ready: false },
    { name: 'an uninitialized node (501)', p: probe({ status: 501 }), ha: 'dynamodb', ready: false },
    { name: 'a standby whose HA connection is unhealthy (474)', p: probe({ status: 474 }), ha: 'dynamodb', ready: false },
    {
      name: 'a 429 whose body says ha_connection_healthy=false',
      p: probe({ status: 429, body: { initialized: true, sealed: false, standby: true, ha_connection_healthy: false } }),
      ha: 'dynamodb',
      ready: false,
    },
    { name: 'a Raft standby that does not see a leader yet', p: probe({ status: 429, leader: answer(200, leaderBody({ isSelf: false })) }), ha: 'raft', ready: false },
    { name: 'a DynamoDB-HA standby without leader address (OpenBao-like)', p: probe({ status: 429, leader: answer(200, leaderBody({ isSelf: false })) }), ha: 'dynamodb', ready: true },
    { name: 'an unreachable node', p: { address: 'x', health: failure('refused'), leader: failure('refused') }, ha: 'raft', ready: false },
  ];
  for (const row of rows) it(`${row.ready ? 'accepts' : 'rejects'} ${row.name}`, () => assert.equal(standbyReadiness(row.p, row.ha).ready, row.ready));

  it('accepts a node that came back active, with a warning', () => {
    const r = standbyReadiness(probe({ status: 200 }), 'raft');
    assert.equal(r.ready, true);
    assert.ok(r.warning);
  });
});

describe('planCompensation', () => {
  it('detaches the volume from a half-launched replacement before terminating it', () => {
    const actions = planCompensation({ onFailure: 'terminate', newInstance: { instanceId: 'i-new', state: 'running' }, volume: volume('vol-0b', { attachedTo: 'i-new' }) });
    assert.deepEqual(actions.map((a) => a.kind), ['detach-volume', 'terminate-instance']);
  });
  it('tags a failed replacement and leaves it (with the volume) for inspection with keep-tagged', () => {
    const actions = planCompensation({ onFailure: 'keep-tagged', newInstance: { instanceId: 'i-new', state: 'running' }, volume: volume('vol-0b', { attachedTo: 'i-new' }) });
    assert.deepEqual(actions, [{ kind: 'tag-instance', instanceId: 'i-new' }]);
  });
  it('terminates a replacement that does not hold the volume without touching the volume', () => {
    const actions = planCompensation({ onFailure: 'terminate', newInstance: { instanceId: 'i-new', state: 'pending' }, volume: volume('vol-0b') });
    assert.deepEqual(actions, [{ kind: 'terminate-instance', instanceId: 'i-new' }]);
  });
  it('does nothing when no replacement was launched', () => {
    assert.deepEqual(planCompensation({ onFailure: 'terminate', volume: volume('vol-0b', { attachedTo: 'i-0b' }) }), []);
  });
});

describe('phaseTimeline', () => {
  const marks = {
    validate: { at: '2026-01-01T00:00:00.000Z' },
    lease: { at: '2026-01-01T00:00:01.000Z' },
    inspect: { at: '2026-01-01T00:00:02.500Z' },
    launch: { at: '2026-01-01T00:00:10.000Z' },
  };
  const phases = phaseTimeline(marks, '2026-01-01T00:01:00.000Z');
  it('lists the recorded phases in order', () => assert.deepEqual(phases.map((p) => p.name), ['validate', 'acquire-lease', 'inspect', 'launch']));
  it('ends each phase where the next starts, and the last at the end time', () => {
    assert.deepEqual(phases.map((p) => p.durationMs), [1000, 1500, 7500, 50_000]);
    assert.equal(phases.at(-1)?.end, '2026-01-01T00:01:00.000Z');
  });
});

describe('reports', () => {
  const cluster = config().clusters[0]!;
  const slot = cluster.replacement!.slots[1]!;
  const { plan } = planReplacement(
    inspection({
      slotInstances: [instance('i-0b')],
      volume: volume('vol-0b', { attachedTo: 'i-0b' }),
      networkInterface: iface('eni-0b', { attachedTo: 'i-0b' }),
      nodes: [node.active('i-0a'), node.unreachable('i-0b')],
      verdict: { kind: 'healthy', legitimateActive: 'i-0a', reasons: [] },
    }),
    { cluster, slot, request: { force: false, dryRun: false }, executionName: 'e1' },
  );

  it('a dry-run report lists the plan steps and says nothing changed', () => {
    const r = buildSuccessReport({ plan, executionName: 'e1', dryRun: true, startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:03Z', marks: {}, warnings: [] });
    assert.equal(r.result, 'dry-run');
    assert.deepEqual(r.plan, plan.steps);
    assert.match(r.outcome, /nothing was changed/);
  });

  it('a failure report says where the volume is and what to do next', () => {
    const r = buildFailureReport({
      cluster: 'prod',
      slot: 'vault-b',
      executionName: 'e1',
      startedAt: '2026-01-01T00:00:00Z',
      finishedAt: '2026-01-01T00:05:00Z',
      marks: {},
      plan,
      error: { name: 'UnsealFailedError', message: 'boom' },
      newInstance: { instanceId: 'i-new', state: 'shutting-down' },
      volume: volume('vol-0b'),
      oldInstance: { instanceId: 'i-0b', state: 'terminated' },
      compensation: ['terminated replacement i-new'],
      warnings: [],
      onFailure: 'terminate',
      leaseReleased: true,
    });
    assert.equal(r.volume?.location, 'available in eu-west-1b');
    assert.ok((r.nextSteps ?? []).length > 0);
    assert.equal(r.error?.name, 'UnsealFailedError');
    // The old node is terminated and the replacement too: the operator must hear the slot is empty.
    assert.match(r.nextSteps?.[0] ?? '', /^slot vault-b has no instance now/);
  });

  it('does not call the slot empty when the old instance was only stopped (it can be started to roll back)', () => {
    const r = buildFailureReport({
      cluster: 'prod',
      slot: 'vault-b',
      executionName: 'e1',
      startedAt: '2026-01-01T00:00:00Z',
      finishedAt: '2026-01-01T00:05:00Z',
      marks: {},
      plan,
      error: { name: 'LaunchFailedError', message: 'no capacity' },
      volume: volume('vol-0b'),
      oldInstance: { instanceId: 'i-0b', state: 'stopped' },
      compensation: [],
      warnings: [],
      onFailure: 'terminate',
      leaseReleased: true,
    });
    assert.ok(!(r.nextSteps ?? []).some((n) => /has no instance now/.test(n)));
    assert.ok((r.nextSteps ?? []).some((n) => /can be started to roll back/.test(n)));
  });
});

describe('taskErrorOf', () => {
  it('reads the errorMessage of a Lambda error Cause (JSON on AWS)', () => {
    const cause = JSON.stringify({ errorType: 'VolumeStuckError', errorMessage: 'volume vol-0b is stuck', trace: [] });
    assert.deepEqual(taskErrorOf({ Error: 'VolumeStuckError', Cause: cause }), { name: 'VolumeStuckError', message: 'volume vol-0b is stuck' });
  });
  it('keeps a plain-text Cause as the message', () => {
    assert.deepEqual(taskErrorOf({ Error: 'WaitTimeoutError', Cause: 'not attached' }), { name: 'WaitTimeoutError', message: 'not attached' });
  });
});
