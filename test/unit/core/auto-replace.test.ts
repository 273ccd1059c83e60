import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { autoReplaceExecutionName, decideAutoReplace, type AutoReplaceInput } from '../../../functions/core/auto-replace.js';
import type { Member } from '../../../functions/core/types.js';
import { NOW_MS, node } from './factories.js';

const member = (instanceId: string, slot: string, state: Member['state'] = 'running'): Member => ({
  instanceId,
  slot,
  state,
  address: `https://${instanceId}.vault.internal:8200`,
});

function input(overrides: Partial<AutoReplaceInput> = {}): AutoReplaceInput {
  return {
    cluster: 'prod',
    enabled: true,
    afterSeconds: 600,
    slots: ['vault-a', 'vault-b', 'vault-c'],
    members: [member('i-0a', 'vault-a'), member('i-0b', 'vault-b'), member('i-0c', 'vault-c')],
    nodes: [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')],
    statusChecks: { 'i-0a': 'ok', 'i-0b': 'ok', 'i-0c': 'ok' },
    goneSinceMs: {},
    verdict: 'healthy',
    legitimateActive: 'i-0a',
    nowMs: NOW_MS,
    ...overrides,
  };
}

describe('auto-replace decision', () => {
  it('starts nothing and remembers nothing while every slot has its node', () => {
    const d = decideAutoReplace(input());
    assert.deepEqual(d.goneSinceMs, {});
    assert.equal(d.start, undefined);
  });

  it('starts the clock when a slot instance stops, and does not act before the configured time', () => {
    const world = input({ members: [member('i-0a', 'vault-a'), member('i-0b', 'vault-b', 'stopped'), member('i-0c', 'vault-c')] });
    const first = decideAutoReplace(world);
    assert.deepEqual(first.goneSinceMs, { 'vault-b': NOW_MS });
    assert.equal(first.start, undefined);
    const later = decideAutoReplace({ ...world, goneSinceMs: first.goneSinceMs, nowMs: NOW_MS + 599_000 });
    assert.equal(later.start, undefined);
  });

  it('starts replace-node for the slot once it has been gone long enough, named after the outage', () => {
    const world = input({
      members: [member('i-0a', 'vault-a'), member('i-0b', 'vault-b', 'terminated'), member('i-0c', 'vault-c')],
      goneSinceMs: { 'vault-b': NOW_MS - 600_000 },
    });
    const d = decideAutoReplace(world);
    assert.equal(d.start?.slot, 'vault-b');
    assert.equal(d.start?.executionName, autoReplaceExecutionName('prod', 'vault-b', NOW_MS - 600_000));
    // The same outage gives the same name on every tick: Step Functions dedupes the start.
    const again = decideAutoReplace({ ...world, nowMs: NOW_MS + 5_000 });
    assert.equal(again.start?.executionName, d.start?.executionName);
  });

  it('treats unreachable alone as not enough: the EC2 status check must have failed too', () => {
    const nodes = [node.active('i-0a'), node.unreachable('i-0b'), node.standby('i-0c', 'i-0a')];
    const ok = decideAutoReplace(input({ nodes, goneSinceMs: { 'vault-b': NOW_MS - 3_600_000 } }));
    assert.equal(ok.start, undefined);
    assert.deepEqual(ok.goneSinceMs, {});
    const impaired = decideAutoReplace(input({ nodes, statusChecks: { 'i-0b': 'impaired' }, goneSinceMs: { 'vault-b': NOW_MS - 3_600_000 } }));
    assert.equal(impaired.start?.slot, 'vault-b');
    assert.equal(impaired.start?.instanceId, 'i-0b');
  });

  it('never starts when the controller is probe blind', () => {
    const d = decideAutoReplace(
      input({
        verdict: 'probe-blind',
        members: [member('i-0a', 'vault-a'), member('i-0b', 'vault-b', 'stopped'), member('i-0c', 'vault-c')],
        goneSinceMs: { 'vault-b': NOW_MS - 3_600_000 },
      }),
    );
    assert.equal(d.start, undefined);
    assert.match(d.notes.join(' '), /probe blind/);
  });

  it('starts at most one replacement per tick, the longest-gone slot first', () => {
    const d = decideAutoReplace(
      input({
        members: [member('i-0a', 'vault-a'), member('i-0b', 'vault-b', 'stopped'), member('i-0c', 'vault-c', 'stopped')],
        goneSinceMs: { 'vault-b': NOW_MS - 700_000, 'vault-c': NOW_MS - 900_000 },
      }),
    );
    assert.equal(d.start?.slot, 'vault-c');
    assert.match(d.notes.join(' '), /vault-b wait/);
  });

  it('counts a slot with no instance at all as gone', () => {
    const d = decideAutoReplace(input({ members: [member('i-0a', 'vault-a'), member('i-0c', 'vault-c')], goneSinceMs: { 'vault-b': NOW_MS - 600_000 } }));
    assert.equal(d.start?.slot, 'vault-b');
    assert.equal(d.start?.instanceId, undefined);
  });

  it('forgets the gone-since time when the slot recovers, and still tracks it when disabled', () => {
    assert.deepEqual(decideAutoReplace(input({ goneSinceMs: { 'vault-b': NOW_MS - 100 } })).goneSinceMs, {});
    const disabled = decideAutoReplace(
      input({ enabled: false, members: [member('i-0a', 'vault-a'), member('i-0b', 'vault-b', 'stopped')], goneSinceMs: { 'vault-b': NOW_MS - 3_600_000 } }),
    );
    assert.equal(disabled.start, undefined);
    assert.equal(disabled.goneSinceMs['vault-b'], NOW_MS - 3_600_000);
  });

  it('produces valid Step Functions execution names', () => {
    const name = autoReplaceExecutionName('prod.eu/1', 'vault a'.repeat(20), NOW_MS);
    assert.match(name, /^[A-Za-z0-9_-]{1,80}$/);
  });
});
