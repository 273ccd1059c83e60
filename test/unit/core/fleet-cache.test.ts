import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { FLEET_CACHE_INTERVALS, fleetCacheUsable, membersToProbe, observationChanged, tickWasQuiet, type PreviousTick } from '../../../functions/core/fleet-cache.js';
import type { Member } from '../../../functions/core/types.js';

const quiet = (over: Partial<PreviousTick> = {}): PreviousTick => ({
  verdict: { kind: 'healthy' },
  nodes: [
    { instanceId: 'i-a', class: 'active', instanceState: 'running' },
    { instanceId: 'i-b', class: 'standby', instanceState: 'running' },
  ],
  plan: { register: [], deregister: [] },
  held: [],
  ...over,
});

const member = (instanceId: string, address: string | undefined): Member => ({ instanceId, state: 'running', address });

describe('tickWasQuiet', () => {
  it('a healthy tick that planned, held and did nothing, every instance running, is quiet', () => {
    assert.equal(tickWasQuiet(quiet()), true);
  });

  it.each<[string, Partial<PreviousTick>]>([
    ['a verdict other than healthy', { verdict: { kind: 'degraded' } }],
    ['a planned registration', { plan: { register: ['i-b'], deregister: [] } }],
    ['a planned deregistration', { plan: { register: [], deregister: ['i-b'] } }],
    ['a held change', { held: [{ instanceId: 'i-c', reason: 'x' }] }],
    ['an error', { error: 'AwsTransientError: x' }],
    ['a skip', { skipped: { holder: 'operator:alice', untilMs: 1 } }],
    ['a mutation', { mutations: { registered: ['i-b'], deregistered: [] } }],
    ['a takeover', { takeover: { result: 'skipped' } }],
    ['fencing', { fencing: { action: 'break-lock' } }],
    ['an auto-replace started', { autoReplace: { started: { slot: 'vault-a' } } }],
    ['an instance not running', { nodes: [{ instanceId: 'i-a', class: 'active', instanceState: 'running' }, { instanceId: 'i-b', class: 'unreachable', instanceState: 'stopping' }] }],
    ['no member at all', { nodes: [] }],
  ])('%s is not quiet', (_what, over) => {
    assert.equal(tickWasQuiet(quiet(over)), false);
  });

  it('no previous tick is not quiet', () => {
    assert.equal(tickWasQuiet(undefined), false);
  });
});

describe('fleetCacheUsable', () => {
  const base = { readAtMs: 0, nowMs: 5_000, intervalMs: 5_000, clusters: [{ cached: true, previous: quiet() }] };

  it(`holds for ${FLEET_CACHE_INTERVALS} intervals after the read, while every cluster is quiet`, () => {
    assert.equal(fleetCacheUsable(base), true);
    assert.equal(fleetCacheUsable({ ...base, nowMs: FLEET_CACHE_INTERVALS * 5_000 - 1 }), true);
    assert.equal(fleetCacheUsable({ ...base, nowMs: FLEET_CACHE_INTERVALS * 5_000 }), false);
  });

  it('never without a read, for a cluster it did not read, with a clock gone backwards, or when one cluster moved', () => {
    assert.equal(fleetCacheUsable({ ...base, readAtMs: undefined }), false);
    assert.equal(fleetCacheUsable({ ...base, clusters: [...base.clusters, { cached: false, previous: quiet() }] }), false);
    assert.equal(fleetCacheUsable({ ...base, nowMs: -1 }), false);
    assert.equal(fleetCacheUsable({ ...base, clusters: [...base.clusters, { cached: true, previous: quiet({ verdict: { kind: 'split-brain' } }) }] }), false);
    assert.equal(fleetCacheUsable({ ...base, clusters: [] }), false);
  });
});

describe('observationChanged', () => {
  const before = quiet().nodes;
  it('the same members in the same classes: no change', () => {
    assert.equal(observationChanged(before, [{ instanceId: 'i-b', class: 'standby' }, { instanceId: 'i-a', class: 'active' }]), false);
  });
  it('a class changed, a member came or went: a change', () => {
    assert.equal(observationChanged(before, [{ instanceId: 'i-a', class: 'unreachable' }, { instanceId: 'i-b', class: 'standby' }]), true);
    assert.equal(observationChanged(before, [{ instanceId: 'i-a', class: 'active' }]), true);
    assert.equal(observationChanged(before, [{ instanceId: 'i-a', class: 'active' }, { instanceId: 'i-c', class: 'standby' }]), true);
  });
});

describe('membersToProbe', () => {
  it('the members the probes did not reach: new ones, and known ones at a new address', () => {
    const probed = [member('i-a', 'https://10.0.0.1:8200'), member('i-b', 'https://10.0.0.2:8200')];
    const fresh = [member('i-a', 'https://10.0.0.1:8200'), member('i-b', 'https://10.0.0.9:8200'), member('i-c', undefined)];
    assert.deepEqual(membersToProbe(probed, fresh).map((m) => m.instanceId), ['i-b', 'i-c']);
    assert.deepEqual(membersToProbe(probed, probed), []);
  });
});
