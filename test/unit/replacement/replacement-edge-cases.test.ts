/**
 * replace-node decisions (functions/core/replacement.ts) in the less common
 * shapes: clusters without a replacement section, slots without a volume or
 * interface, auto-unseal, an input naming the instance, EC2 answers with
 * fields missing, and the reports of a completed run and of the failures an
 * operator must act on (lease busy, volume detaching, lease not released).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../functions/config/load.js';
import type { Config } from '../../../functions/config/schema.js';
import { InvalidInputError } from '../../../functions/config/errors.js';
import {
  buildFailureReport,
  buildSuccessReport,
  checkReplaceInput,
  decideInterfaceRelease,
  decideVolumeRelease,
  findCluster,
  findSlot,
  phaseTimeline,
  planReplacement,
  standbyReadiness,
  taskErrorOf,
  volumeLocation,
  type FailureReportInput,
  type PlanContext,
  type ReplacementPlan,
} from '../../../functions/core/replacement.js';
import { failure, node, probe } from '../core/factories.js';
import { config, configDoc, iface, inspection, instance, volume, type ConfigOptions } from './fixtures.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof InvalidInputError, `expected InvalidInputError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected InvalidInputError');
}

/** The fixture config with the first cluster changed by `edit` (still validated by the real schema). */
function configWith(edit: (cluster: Record<string, any>) => void, o: ConfigOptions = {}): Config {
  const doc = configDoc(o) as { clusters: Array<Record<string, any>> };
  edit(doc.clusters[0]!);
  return parseConfig(doc, 'test');
}

const noReplacement = (): Config => configWith((c) => delete c.replacement);
/** vault-b keeps neither a data volume nor an interface. */
const bareSlotConfig = (o: ConfigOptions = {}): Config =>
  configWith((c) => {
    delete c.replacement.slots[1].dataVolume;
    delete c.replacement.slots[1].networkInterfaceId;
  }, o);

describe('input against a cluster without a replacement section', () => {
  it('checkReplaceInput refuses it, naming the cluster field', () => {
    const problems = problemsOf(() => checkReplaceInput({ cluster: 'prod', slot: 'vault-b' }, noReplacement()));
    assert.deepEqual(problems, ['cluster: cluster "prod" has no replacement section (launch template and slots)']);
  });

  it('findSlot says the cluster knows no slot at all', () => {
    const problems = problemsOf(() => findSlot(noReplacement().clusters[0]!, 'vault-b'));
    assert.deepEqual(problems, ['slot: unknown slot "vault-b" in cluster "prod" (known: none)']);
  });

  it('planReplacement refuses to plan rather than guess', () => {
    const cfg = noReplacement();
    const cluster = cfg.clusters[0]!;
    const slot = config().clusters[0]!.replacement!.slots[1]!;
    const problems = problemsOf(() =>
      planReplacement(inspection({ nodes: [] }), { cluster, slot, request: { force: false, dryRun: false }, executionName: 'e' }),
    );
    assert.deepEqual(problems, ['cluster: cluster "prod" has no replacement section']);
  });

  it('findCluster names an unknown cluster', () => {
    assert.deepEqual(problemsOf(() => findCluster(config(), 'staging')), ['cluster: unknown cluster "staging"']);
    assert.equal(findCluster(config(), 'prod').name, 'prod');
  });
});

describe('planReplacement: less common slots and inputs', () => {
  const cluster = config().clusters[0]!;
  const slot = cluster.replacement!.slots[1]!; // vault-b: eu-west-1b, eni-0b, vol-0b
  const ctx = (over: Partial<PlanContext['request']> = {}): PlanContext => ({ cluster, slot, request: { force: false, dryRun: false, ...over }, executionName: 'exec-1' });
  const oldB = instance('i-0b', { volume: { id: 'vol-0b', device: '/dev/sdf' }, eni: { id: 'eni-0b' } });
  const world = (over: Partial<Parameters<typeof inspection>[0]> = {}) =>
    inspection({
      slotInstances: [oldB],
      volume: volume('vol-0b', { attachedTo: 'i-0b' }),
      networkInterface: iface('eni-0b', { attachedTo: 'i-0b' }),
      nodes: [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')],
      verdict: { kind: 'healthy', legitimateActive: 'i-0a', reasons: [] },
      registeredTargets: ['i-0a'],
      ...over,
    });

  it('an input naming the instance replaces it when the slot holds nothing else', () => {
    const d = planReplacement(world({ namedInstance: oldB }), ctx({ instanceId: 'i-0b' }));
    assert.equal(d.kind, 'plan');
    assert.equal(d.plan.oldInstanceId, 'i-0b');
    assert.equal(d.plan.deregisterOld, false, 'not registered: nothing to deregister');
  });

  it('an input naming the instance is found among the slot instances when the inspection did not look it up', () => {
    const d = planReplacement(world(), ctx({ instanceId: 'i-0b' }));
    assert.equal(d.plan.oldInstanceId, 'i-0b');
  });

  it('an input naming one instance of a slot that holds two is refused, naming the duplicate', () => {
    const d = planReplacement(world({ slotInstances: [oldB, instance('i-0b2')] }), ctx({ instanceId: 'i-0b', force: true }));
    assert.equal(d.kind, 'refused');
    assert.ok(d.kind === 'refused' && d.reasons.includes('slot vault-b also holds i-0b2: resolve the duplicate first'), JSON.stringify(d));
  });

  it('warns (but proceeds) when the old instance runs outside the slot\'s AZ', () => {
    const stray = instance('i-0b', { az: 'eu-west-1a', volume: { id: 'vol-0b', device: '/dev/sdf' }, eni: { id: 'eni-0b' } });
    const d = planReplacement(world({ slotInstances: [stray] }), ctx());
    assert.equal(d.kind, 'plan');
    assert.ok(d.plan.warnings.includes('old instance i-0b runs in eu-west-1a, the slot is in eu-west-1b'), d.plan.warnings.join('; '));
  });

  it('an old instance that is no cluster member is of class unknown (and needs no standby to back it)', () => {
    const d = planReplacement(world({ nodes: [node.active('i-0a'), node.sealed('i-0c')] }), ctx());
    assert.equal(d.kind, 'plan');
    assert.equal(d.plan.oldClass, 'unknown');
  });

  it('refuses a data volume that is not available or in-use (e.g. still creating)', () => {
    const d = planReplacement(world({ volume: { ...volume('vol-0b'), state: 'creating' } }), ctx({ force: true }));
    assert.ok(d.kind === 'refused' && d.reasons.includes('data volume vol-0b is creating'), JSON.stringify(d));
  });

  it('refuses a slot interface that does not exist', () => {
    const d = planReplacement(world({ networkInterface: undefined }), ctx({ force: true }));
    assert.ok(d.kind === 'refused' && d.reasons.includes('network interface eni-0b does not exist'), JSON.stringify(d));
  });

  it('treats an attachment without a device index as the primary interface (only termination frees it) under oldInstance "stop"', () => {
    const stopCluster = config({ oldInstance: 'stop' }).clusters[0]!;
    const eni = iface('eni-0b', { attachedTo: 'i-0b' });
    delete eni.attachment!.deviceIndex;
    const d = planReplacement(world({ networkInterface: eni }), { ...ctx(), cluster: stopCluster, slot: stopCluster.replacement!.slots[1]! });
    assert.equal(d.kind, 'refused');
    assert.ok(d.kind === 'refused' && d.reasons.some((r) => r.includes('is the primary interface of i-0b')), JSON.stringify(d));
  });

  it('a slot with neither data volume nor interface plans no waits for them, and says "(no volume)"', () => {
    const cfg = bareSlotConfig();
    const bare = cfg.clusters[0]!;
    const d = planReplacement(world({ volume: undefined, networkInterface: undefined }), { ...ctx(), cluster: bare, slot: bare.replacement!.slots[1]! });
    assert.equal(d.kind, 'plan');
    assert.deepEqual([d.plan.hasVolume, d.plan.volumeId, d.plan.device, d.plan.mountPoint, d.plan.hasInterface, d.plan.networkInterfaceId], [false, '', '', '', false, '']);
    assert.ok(!d.plan.steps.some((s) => /to become available/.test(s)), d.plan.steps.join('\n'));
    assert.ok(d.plan.steps.some((s) => s.includes('run VaultHA-PrepareNode (mount (no volume), start Vault, unseal from /vault/prod/unseal/ on the node)')));
  });

  it('with auto-unseal no shares prefix is passed and the node only verifies auto-unseal', () => {
    const cfg = bareSlotConfig({ unseal: { mode: 'auto' } });
    const auto = cfg.clusters[0]!;
    const d = planReplacement(world({ volume: undefined, networkInterface: undefined }), { ...ctx(), cluster: auto, slot: auto.replacement!.slots[1]! });
    assert.deepEqual([d.plan.unsealMode, d.plan.sharesParameterPrefix], ['auto', '']);
    assert.ok(d.plan.steps.some((s) => s.includes('verify auto-unseal')));
    assert.ok(!d.plan.steps.some((s) => /unseal from/.test(s)));
  });
});

describe('release decisions with EC2 fields missing', () => {
  const budget = { intervalSeconds: 5, maxAttempts: 6 };
  const base = { oldInstanceId: 'i-0b', oldInstanceState: 'terminated' as const, budget, graceAttempts: 3, forced: true };

  it('a volume in-use with no attachment listed is waited for, then reported stuck by its state alone', () => {
    const odd = { ...volume('vol-0b'), state: 'in-use' };
    assert.deepEqual(decideVolumeRelease({ ...base, volume: odd, attempt: 2 }), { kind: 'wait', why: 'vol-0b is in-use' });
    assert.deepEqual(decideVolumeRelease({ ...base, volume: odd, attempt: 9 }), { kind: 'stuck', why: 'vol-0b is still in-use after force-detach' });
  });

  it('a stuck volume names the instance it is still on', () => {
    const v = volume('vol-0b', { attachedTo: 'i-0b', attachState: 'detaching' });
    assert.deepEqual(decideVolumeRelease({ ...base, volume: v, attempt: 9 }), { kind: 'stuck', why: 'vol-0b is still detaching on i-0b after force-detach' });
  });

  it('an interface attachment without a device index is not detached (it may be the primary), only waited for', () => {
    const eni = iface('eni-0b', { attachedTo: 'i-0b', index: 1 });
    delete eni.attachment!.deviceIndex;
    assert.deepEqual(decideInterfaceRelease(eni, 'stopped'), { kind: 'wait', why: 'eni-0b is in-use on i-0b' });
  });

  it('an interface neither available nor attached (detaching, holder already gone) is waited for without naming a holder', () => {
    assert.deepEqual(decideInterfaceRelease(iface('eni-0b', { status: 'detaching' }), 'terminated'), { kind: 'wait', why: 'eni-0b is detaching' });
  });
});

describe('standbyReadiness with unusual answers', () => {
  it('a 429 without a JSON body is judged by its status code (ready standby when a leader is named)', () => {
    const r = standbyReadiness(probe({ status: 429, body: undefined, leaderAddress: 'https://10.0.1.5:8200' }), 'raft');
    assert.deepEqual([r.ready, r.detail, r.statusCode], [true, 'standby', 429]);
  });

  it('a status Vault does not use for an unsealed node (DR secondary 472) is not ready, and says which', () => {
    const r = standbyReadiness(probe({ status: 472 }), 'dynamodb');
    assert.deepEqual([r.ready, r.detail], [false, 'unexpected /v1/sys/health status 472']);
  });

  it('a Raft standby whose leader endpoint failed is not ready (it cannot name a leader)', () => {
    const r = standbyReadiness(probe({ status: 429, leader: failure('timeout') }), 'raft');
    assert.deepEqual([r.ready, r.detail], [false, 'unsealed standby that does not see a Raft leader yet']);
  });
});

describe('volumeLocation', () => {
  it('says the volume could not be described rather than inventing a place', () => {
    assert.equal(volumeLocation(undefined, {}), 'unknown (volume could not be described)');
  });
  it('names the holder\'s role, and leaves the device out when EC2 reports none', () => {
    const v = volume('vol-0b', { attachedTo: 'i-new' });
    delete v.attachments[0]!.device;
    assert.equal(volumeLocation(v, { newInstanceId: 'i-new', oldInstanceId: 'i-0b' }), 'attached to i-new (the replacement)');
    assert.equal(volumeLocation(volume('vol-0b', { attachedTo: 'i-0b' }), { newInstanceId: 'i-new', oldInstanceId: 'i-0b' }), 'attached to i-0b (the old instance) at /dev/sdf');
  });
});

describe('phaseTimeline', () => {
  it('skips a mark whose time is not a date instead of producing NaN durations', () => {
    const phases = phaseTimeline({ validate: { at: '2026-01-01T00:00:00.000Z' }, lease: { at: 'soon' }, inspect: { at: '2026-01-01T00:00:02.000Z' } }, '2026-01-01T00:00:05.000Z');
    assert.deepEqual(phases.map((p) => [p.name, p.durationMs]), [['validate', 2000], ['inspect', 3000]]);
  });
});

describe('reports', () => {
  const cluster = config().clusters[0]!;
  const slot = cluster.replacement!.slots[1]!;
  const planOf = (slotInstances = [instance('i-0b')]): ReplacementPlan =>
    planReplacement(
      inspection({
        slotInstances,
        volume: volume('vol-0b', slotInstances.length ? { attachedTo: 'i-0b' } : {}),
        networkInterface: iface('eni-0b', slotInstances.length ? { attachedTo: 'i-0b' } : {}),
        nodes: [node.active('i-0a'), node.unreachable('i-0b'), node.standby('i-0c', 'i-0a')],
        verdict: { kind: 'healthy', legitimateActive: 'i-0a', reasons: [] },
      }),
      { cluster, slot, request: { force: false, dryRun: false }, executionName: 'e1' },
    ).plan;
  const times = { executionName: 'e1', startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:04:00Z', marks: {} };

  it('a completed replacement names the new instance, the old one and where the volume is', () => {
    const r = buildSuccessReport({ ...times, plan: planOf(), dryRun: false, newInstanceId: 'i-new', reason: 'disk errors', warnings: ['w'] });
    assert.equal(r.result, 'replaced');
    assert.equal(r.outcome, 'slot vault-b of prod now runs i-new as an unsealed standby, replacing i-0b');
    assert.deepEqual(r.newInstance, { instanceId: 'i-new', state: 'running' });
    assert.deepEqual(r.oldInstance, { instanceId: 'i-0b', stateBefore: 'running', classBefore: 'unreachable', action: 'terminate' });
    assert.deepEqual(r.volume, { volumeId: 'vol-0b', device: '/dev/sdf', location: 'attached to i-new' });
    assert.deepEqual(r.networkInterface, { networkInterfaceId: 'eni-0b', reused: true });
    assert.equal(r.reason, 'disk errors');
    assert.equal(r.durationMs, 240_000);
    assert.deepEqual(r.warnings, ['w']);
  });

  it('a completed replacement reports the volume location it was given over the assumed one', () => {
    const r = buildSuccessReport({ ...times, plan: planOf(), dryRun: false, newInstanceId: 'i-new', volumeLocation: 'attached to i-new (the replacement) at /dev/sdf', warnings: [] });
    assert.equal(r.volume?.location, 'attached to i-new (the replacement) at /dev/sdf');
  });

  it('a dry run of an empty slot says so, changes nothing and lists no old instance', () => {
    const plan = planOf([]);
    const r = buildSuccessReport({ ...times, plan, dryRun: true, warnings: [] });
    assert.equal(r.result, 'dry-run');
    assert.equal(r.outcome, `dry run: would replace the empty slot in slot vault-b of prod in ${plan.steps.length} steps; nothing was changed`);
    assert.equal(r.oldInstance, undefined);
    assert.deepEqual(r.networkInterface, { networkInterfaceId: 'eni-0b', reused: false });
    assert.equal(r.volume?.location, 'unchanged');
  });

  it('a dry run with an old instance reports it untouched', () => {
    const r = buildSuccessReport({ ...times, plan: planOf(), dryRun: true, warnings: [] });
    assert.equal(r.oldInstance?.action, 'none (dry run)');
  });

  const failed = (over: Partial<FailureReportInput>): ReturnType<typeof buildFailureReport> =>
    buildFailureReport({
      cluster: 'prod',
      slot: 'vault-b',
      ...times,
      plan: planOf(),
      error: { name: 'WaitTimeoutError', message: 'volume not available' },
      volume: volume('vol-0b'),
      oldInstance: { instanceId: 'i-0b', state: 'running' },
      compensation: [],
      warnings: [],
      onFailure: 'terminate',
      leaseReleased: true,
      ...over,
    });

  it('a busy lease tells the operator to wait for the other operation, and calls no slot empty', () => {
    const r = failed({ error: { name: 'LeaseBusyError', message: 'held by drill' }, oldInstance: { instanceId: 'i-0b', state: 'terminated' } });
    assert.deepEqual(r.nextSteps, ['another replacement or drill holds the cluster lease; wait for it to finish']);
  });

  it('a volume still detaching from the replacement is named, with the instance', () => {
    const r = failed({ volume: volume('vol-0b', { attachedTo: 'i-new', attachState: 'detaching' }), newInstance: { instanceId: 'i-new', state: 'terminated' } });
    assert.ok(r.nextSteps?.includes('vol-0b is detaching from i-new; check it becomes available'), JSON.stringify(r.nextSteps));
    assert.match(r.outcome, /^replacement of slot vault-b of prod failed \(WaitTimeoutError\); volume vol-0b is detaching to i-new \(the replacement\) at \/dev\/sdf$/);
  });

  it('a volume still on the old instance offers the roll back', () => {
    const r = failed({ volume: volume('vol-0b', { attachedTo: 'i-0b' }) });
    assert.ok(r.nextSteps?.includes('vol-0b is still on the old instance i-0b; start it to roll back, or retry the replacement'), JSON.stringify(r.nextSteps));
  });

  it('a free volume will be picked up by the next execution', () => {
    assert.ok(failed({}).nextSteps?.includes('vol-0b is free: a new execution will pick it up'));
  });

  it('a kept (keep-tagged) replacement is to be inspected and terminated before a retry', () => {
    const r = failed({ onFailure: 'keep-tagged', newInstance: { instanceId: 'i-new', state: 'running' }, volume: volume('vol-0b', { attachedTo: 'i-new' }) });
    assert.ok(r.nextSteps?.includes('inspect i-new (tagged vault-ha:failed-replacement), then terminate it before retrying'), JSON.stringify(r.nextSteps));
    assert.deepEqual(r.networkInterface, { networkInterfaceId: 'eni-0b', reused: true });
  });

  it('a lease that could not be released is reported last (it expires by itself)', () => {
    const r = failed({ leaseReleased: false });
    assert.equal(r.nextSteps?.at(-1), 'the operation lease could not be released; it expires by itself (see the control table)');
  });

  it('a failure before the slot was known (bad input) reads "slot ?" and carries no slot field', () => {
    const r = buildFailureReport({
      cluster: 'prod',
      ...times,
      error: { name: 'InvalidInputError', message: 'slot: unknown slot' },
      oldInstance: { instanceId: 'i-0b', state: 'terminated' },
      compensation: [],
      warnings: [],
      onFailure: 'terminate',
      leaseReleased: true,
    });
    assert.equal(r.slot, undefined);
    assert.equal(r.outcome, 'replacement of slot ? of prod failed (InvalidInputError)');
    assert.equal(r.nextSteps?.[0], 'slot ? has no instance now: the cluster is one node short until a replacement succeeds');
    assert.equal(r.volume, undefined);
    assert.equal(r.oldInstance, undefined, 'no plan: the state before is unknown');
  });

  it('a refusal without a slot reads "slot ?" too, and says nothing changed', () => {
    const r = buildFailureReport({ cluster: 'prod', ...times, error: { name: 'RefusedError', message: 'no' }, compensation: [], warnings: [], onFailure: 'terminate', leaseReleased: true });
    assert.equal(r.outcome, 'refused to replace slot ? of prod: no');
    assert.deepEqual(r.nextSteps, ['nothing was changed; address the refusal (or set "force": true) and start a new execution']);
  });
});

describe('taskErrorOf with what a Catch may hand over', () => {
  it('no error object at all is an UnknownError with an empty message', () => {
    assert.deepEqual(taskErrorOf(undefined), { name: 'UnknownError', message: '' });
  });
  it('non-string Error and Cause are not trusted', () => {
    assert.deepEqual(taskErrorOf({ Error: 42, Cause: { errorMessage: 'x' } }), { name: 'UnknownError', message: '' });
  });
  it('a Cause that looks like JSON but is not keeps its raw text', () => {
    assert.deepEqual(taskErrorOf({ Error: 'States.TaskFailed', Cause: '{not json' }), { name: 'States.TaskFailed', message: '{not json' });
  });
  it('a JSON Cause without errorMessage keeps its raw text', () => {
    assert.deepEqual(taskErrorOf({ Error: 'States.Timeout', Cause: '{"trace":[]}' }), { name: 'States.Timeout', message: '{"trace":[]}' });
  });
});
