/**
 * What each fault should provoke, what was seen, and the hypothesis in words
 * (functions/core/drill-expect.ts).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { compareEffects, effectsSeen, expectedEffects, hypothesis, type ObservedTick } from '../../../functions/core/drill-expect.js';
import { planFault, type DrillPoll, type DrillScenario } from '../../../functions/core/drill.js';
import { parseConfig } from '../../../functions/config/load.js';
import { VERDICT_KINDS } from '../../../functions/core/types.js';
import { config, configDoc } from '../replacement/fixtures.js';

const A = 'i-0aaaaaaaaaaaaaaa1';
const B = 'i-0bbbbbbbbbbbbbbb2';
const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

function cluster(o: { ha?: 'dynamodb' | 'raft'; fencing?: string; routing?: string; takeover?: boolean } = {}) {
  const doc = configDoc({ haLock: o.ha === 'dynamodb' ? { type: 'dynamodb', table: 'vault-data' } : { type: 'raft' } }) as { clusters: Array<Record<string, Record<string, unknown>>> };
  const c = doc.clusters[0]!;
  if (o.fencing) c.policy!.fencing = o.fencing;
  if (o.takeover === false) c.policy!.deadLeaderTakeover = false;
  if (o.routing) c.loadBalancer!.routing = o.routing;
  return parseConfig(doc, 'test').clusters[0]!;
}

const rows = (s: DrillScenario, c = cluster()) => {
  const e = expectedEffects(s, c);
  return [...e.verdicts.map((v) => `verdict ${v.anyOf.join('|')}`), ...e.actions.map((a) => `action ${a.anyOf.join('|')}`)];
};

describe('expectedEffects', () => {
  it('a dead active (kill, stop, terminate) on DynamoDB with takeover: the controller deletes the dead holder\'s lock and re-routes', () => {
    for (const s of ['kill-active', 'stop-active-instance', 'terminate-active'] as const) {
      assert.deepEqual(rows(s, cluster({ ha: 'dynamodb' })), ['action dead-leader-takeover', 'action register-new-active', 'action deregister-old']);
    }
    assert.deepEqual(rows('kill-active', cluster({ ha: 'dynamodb', takeover: false })), ['verdict no-leader', 'action register-new-active', 'action deregister-old']);
  });

  it('all-unsealed routing expects no registration of the new active (it was registered as a standby already)', () => {
    assert.deepEqual(rows('kill-active', cluster({ routing: 'all-unsealed' })), ['verdict no-leader', 'action deregister-old']);
    assert.deepEqual(rows('step-down', cluster({ routing: 'all-unsealed' })), []);
    assert.deepEqual(rows('step-down'), ['action register-new-active', 'action deregister-old']);
  });

  it('a zombie (partition-clients) on DynamoDB: zombie-leader, and break-lock only with that fencing', () => {
    assert.deepEqual(rows('partition-clients', cluster({ ha: 'dynamodb', fencing: 'break-lock' })), ['verdict zombie-leader', 'action break-lock', 'action register-new-active', 'action deregister-old']);
    assert.deepEqual(rows('partition-clients', cluster({ ha: 'dynamodb' })), ['verdict zombie-leader', 'action deregister-old']);
    assert.deepEqual(rows('partition-clients'), ['action deregister-old']);
  });

  it('a stale leader (partition-storage) and a sealed active', () => {
    assert.deepEqual(rows('partition-storage', cluster({ ha: 'dynamodb' })), ['verdict stale-leader|split-brain', 'action register-new-active', 'action deregister-old']);
    assert.deepEqual(rows('partition-storage'), ['verdict leader-disagreement|split-brain|no-leader', 'action register-new-active', 'action deregister-old']);
    assert.deepEqual(rows('seal-active'), ['action register-new-active', 'action deregister-old']);
    assert.ok(expectedEffects('partition-storage', cluster()).allowedVerdicts.includes('split-brain'));
    assert.ok(!expectedEffects('kill-active', cluster()).allowedVerdicts.includes('split-brain'));
  });
});

describe('effectsSeen and compareEffects', () => {
  const poll = (s: number, verdict: DrillPoll['verdict'], registered: string[]): DrillPoll => ({ at: iso(s), verdict, legitimateActive: null, claimants: [], registered: registered.map((instanceId) => ({ instanceId, state: 'healthy' })), classes: {} });

  it('reads verdicts and actions from the controller\'s ticks after the injection, and from the polls', () => {
    const ticks: ObservedTick[] = [
      { atMs: T0 - 5_000, verdict: 'probe-blind' },
      { atMs: T0 + 1_000, verdict: 'zombie-leader', fencing: { result: 'deleted' } },
      { atMs: T0 + 2_000, verdict: 'zombie-leader', takeover: { result: 'skipped' }, mutations: { registered: [B], deregistered: [A] } },
      { atMs: T0 + 3_000, verdict: 'not-a-verdict', takeover: { result: 'deleted' } },
    ];
    const seen = effectsSeen({ ticks, polls: [poll(1, 'no-leader', [A]), poll(4, 'healthy', [B])], registeredBefore: [A], oldInstanceId: A, newActive: B, injectedAtMs: T0, knownVerdicts: VERDICT_KINDS });
    assert.deepEqual(seen.verdicts, ['zombie-leader', 'no-leader', 'healthy']);
    assert.deepEqual([...seen.actions].sort(), ['break-lock', 'dead-leader-takeover', 'deregister-old', 'register-new-active']);
    assert.equal(seen.controllerTicks, 3);
    const report = compareEffects(expectedEffects('partition-clients', cluster({ ha: 'dynamodb', fencing: 'break-lock' })), seen);
    assert.ok(report.rows.every((r) => r.seen), JSON.stringify(report.rows));
    assert.deepEqual(report.unexpectedVerdicts, []);
  });

  it('without controller ticks, the registrations the polls saw change still count', () => {
    const seen = effectsSeen({ ticks: [], polls: [poll(1, 'no-leader', []), poll(2, 'healthy', [B])], registeredBefore: [A], oldInstanceId: A, newActive: B, injectedAtMs: T0, knownVerdicts: VERDICT_KINDS });
    assert.deepEqual([...seen.actions].sort(), ['deregister-old', 'register-new-active']);
    const none = effectsSeen({ ticks: [], polls: [poll(1, 'healthy', [A, B])], registeredBefore: [A, B], oldInstanceId: A, newActive: B, injectedAtMs: T0, knownVerdicts: VERDICT_KINDS });
    assert.deepEqual(none.actions, []);
  });

  it('names what was expected and not seen, and verdicts the fault should not provoke', () => {
    const report = compareEffects(expectedEffects('kill-active', cluster()), { verdicts: ['split-brain', 'healthy'], actions: ['deregister-old'], controllerTicks: 0 });
    assert.deepEqual(report.rows.map((r) => [r.expected, r.seen]), [['no-leader', false], ['register-new-active', false], ['deregister-old', true]]);
    assert.deepEqual(report.unexpectedVerdicts, ['split-brain']);
  });
});

describe('hypothesis', () => {
  it('says what is injected, what recovery means, the bound, the invariants and the restore', () => {
    const c = config().clusters[0]!;
    const f = planFault({ scenario: 'kill-active', cluster: c, oldInstanceId: A, slot: 'vault-a', standbys: [B] });
    const h = hypothesis(f, c, { maxRtoSeconds: 60, measuresClients: true, restore: true });
    assert.match(h, /^When the fault "kill the Vault process with SIGKILL on i-0a.*" hits the active i-0a.*, a standby takes over and clients are served again through the load balancer within 60 s; /);
    assert.match(h, /never routes two actives, is never left empty while an unsealed node is alive, and never keeps routing a sealed node\. The restore brings .* back as an unsealed standby\.$/);
    assert.match(hypothesis(f, c, { maxRtoSeconds: 60, measuresClients: false, restore: false }), /a new active is registered and healthy in the load balancer within 60 s;.*sealed node\.$/);
    const zombie = planFault({ scenario: 'partition-clients', cluster: cluster({ ha: 'dynamodb' }), oldInstanceId: A, standbys: [B] });
    assert.match(hypothesis(zombie, cluster({ ha: 'dynamodb' }), { maxRtoSeconds: 60, measuresClients: true, restore: true }), /with policy.fencing "deregister" no new active is expected/);
  });
});
