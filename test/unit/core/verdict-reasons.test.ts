/**
 * What the verdicts, plans and classifications SAY in the less travelled
 * cases: an operator reads these reasons in the tick report, the log and the
 * SNS alarm, so a missing field must read as "?" (never "undefined") and odd
 * inputs must neither crash the tick nor change the decision.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { normaliseAddress } from '../../../functions/core/assess.js';
import { decideAutoReplace, type AutoReplaceInput } from '../../../functions/core/auto-replace.js';
import { classifyHealth } from '../../../functions/core/classify.js';
import { planRegistrations } from '../../../functions/core/plan.js';
import type { LockObservation, Member, NodeHealth, SplitBrainVerdict } from '../../../functions/core/types.js';
import type { VaultHealthBody } from '../../../functions/core/vault-api.js';
import {
  addressOf,
  answer,
  apiAddrOf,
  assess,
  expiresNs,
  failure,
  historyOf,
  leaderBody,
  lock,
  NOW_MS,
  node,
  plannerPolicy,
  probe,
  tick,
} from './factories.js';

const A = 'i-0a';
const B = 'i-0b';
const C = 'i-0c';
const ID_1 = 'd0c1a7e4-1111-4e5b-8a2e-6c1f3b0e9a01';

const text = (v: SplitBrainVerdict): string => v.reasons.join(' | ');

describe('normaliseAddress: addresses that are not http(s) URLs', () => {
  it('invents no default port for another scheme, but still lowercases the host', () => {
    assert.equal(normaliseAddress('tcp://Vault-A'), 'tcp://vault-a');
    assert.equal(normaliseAddress('tcp://Vault-A.Internal:8200/'), 'tcp://vault-a.internal:8200');
  });

  it('keeps a value that is not a URL at all comparable: trimmed, lowercased, no trailing slash', () => {
    assert.equal(normaliseAddress(' 10.0.1.5:8200/ '), '10.0.1.5:8200');
    assert.equal(normaliseAddress('VAULT-A.internal/'), 'vault-a.internal');
    // Two spellings of the same non-URL name are one vote.
    assert.equal(normaliseAddress('Vault-B.internal//'), normaliseAddress('vault-b.INTERNAL'));
  });
});

describe('assessLeadership: how the lock is described when the observation lacks details', () => {
  const confirmedActive = (): NodeHealth[] => [node.active(A), node.standby(B, A), node.standby(C, A)];

  it('a HELD lock without identity or remaining time reads "?" and the confirmed claimant stays healthy', () => {
    const v = assess(confirmedActive(), { state: 'HELD' });
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, A);
    assert.ok(v.reasons.includes('lock HELD by identity ? (? ms left)'), text(v));
    assert.doesNotMatch(text(v), /undefined/);
  });

  it('an EXPIRED lock without identity or remaining time reads "?" and 0 ms, and the claimant is stale', () => {
    const v = assess(confirmedActive(), { state: 'EXPIRED' });
    assert.equal(v.kind, 'stale-leader');
    assert.match(text(v), /the lock EXPIRED \(identity \?, 0 ms ago\)/);
    assert.doesNotMatch(text(v), /undefined|NaN/);
  });

  it('an UNREADABLE lock without detail is named as such, and is not evidence against a confirmed claimant', () => {
    const v = assess(confirmedActive(), { state: 'UNREADABLE' });
    assert.equal(v.kind, 'healthy');
    assert.ok(v.reasons.includes('lock UNREADABLE'), text(v));
    assert.match(text(v), /named on the standbys' confirmation alone/);
  });

  it('a DynamoDB cluster whose lock observation says "not applicable" (misconfigured haLock) gives no evidence either', () => {
    const v = assess(confirmedActive(), lock.raft(), { haType: 'dynamodb' });
    assert.equal(v.kind, 'healthy');
    assert.ok(v.reasons.includes('no lock item (integrated storage)'), text(v));
  });
});

describe('assessLeadership: how claimants and votes are described', () => {
  it('a claimant whose health probe timed out (only /v1/sys/leader says is_self) is described without an HTTP status', () => {
    const timedOut = classifyHealth({
      member: { instanceId: B, state: 'running', address: addressOf(B), privateIp: '10.0.1.11' },
      probe: { address: addressOf(B), health: failure('timeout', 'after 2000 ms'), leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf(B) })) },
    });
    assert.equal(timedOut.claimsActive, true);
    assert.equal(timedOut.statusCode, undefined);
    const v = assess([node.active(A), timedOut, node.standby(C, A)], lock.held());
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, A, 'the standbys name A while the lock is held');
    assert.match(v.reasons[0] ?? '', /i-0a \(active, HTTP 200\), i-0b \(unknown\)$/);
  });

  it('standbys split three ways are listed in address order, each with the member its address names', () => {
    // Voters sorted by id name c, a, b: the report must not follow that order.
    const v = assess([node.standby('i-0d', C), node.standby('i-0e', A), node.standby('i-0f', B)], lock.raft());
    assert.equal(v.kind, 'no-leader');
    const votes = v.reasons.find((r) => r.startsWith('standbys split with no majority')) ?? '';
    const at = (leader: string) => votes.indexOf(normaliseAddress(apiAddrOf(leader)));
    assert.ok(at(A) > 0 && at(A) < at(B) && at(B) < at(C), votes);
    assert.match(votes, /i-0e → https:\/\/i-0a\.vault\.internal:8200 \(no member\)/);
  });
});

describe('assessLeadership: a corrupt Expires remembered in the history', () => {
  const leaderless = (): NodeHealth[] => [node.unreachable(A), node.standby(B, A), node.standby(C, A)];
  const heldNow = (): LockObservation => lock.held(ID_1, 13_000);

  it('is not taken as proof of renewal (no zombie verdict, no fencing), and does not break the tick', () => {
    const history = historyOf(tick({ verdict: 'no-leader', lockState: 'HELD', lockIdentity: ID_1, lockExpiresAtNs: 'not-a-number' }));
    const v = assess(leaderless(), heldNow(), { history });
    assert.equal(v.kind, 'no-leader');
    assert.equal(v.fencing, undefined);
    assert.match(text(v), /Expires has not advanced/);
  });

  it('while the same history with a readable, older Expires is renewal evidence (zombie)', () => {
    const history = historyOf(tick({ verdict: 'no-leader', lockState: 'HELD', lockIdentity: ID_1, lockExpiresAtNs: expiresNs(NOW_MS + 8_000) }));
    assert.equal(assess(leaderless(), heldNow(), { history }).kind, 'zombie-leader');
  });
});

describe('planRegistrations: the alarm of a verdict that gives no reason', () => {
  it('says so instead of printing undefined', () => {
    const verdict: SplitBrainVerdict = { kind: 'no-leader', reasons: [], claimants: [], lock: lock.absent() };
    const plan = planRegistrations({ nodes: [node.standby(B), node.standby(C)], verdict, targets: [], failureCounts: {}, policy: plannerPolicy() });
    assert.equal(plan.alarms[0], 'no-leader: no reason given');
  });
});

describe('classifyHealth: bodies that say less than usual', () => {
  const member = { instanceId: A, state: 'running' as const, address: addressOf(A), privateIp: '10.0.1.10' };

  it('a health body without the state fields (an error body) leaves the status code in charge, without a disagreement finding', () => {
    const errorBody = { errors: ['context deadline exceeded'] } as unknown as VaultHealthBody;
    const n = classifyHealth({ member, probe: probe({ status: 429, body: errorBody, address: addressOf(A), leaderAddress: apiAddrOf(B) }) });
    assert.equal(n.class, 'standby');
    assert.equal(n.claimsActive, false);
    assert.ok(!n.findings.some((f) => /disagrees/.test(f)), n.findings.join('; '));
  });

  it('a leader endpoint reporting ha_enabled=false is a finding (HA is off on that node)', () => {
    const n = classifyHealth({ member, probe: probe({ status: 429, address: addressOf(A), leader: answer(200, { ...leaderBody({ isSelf: false }), ha_enabled: false }) }) });
    assert.ok(n.findings.includes('leader says ha_enabled=false'), n.findings.join('; '));
  });
});

describe('decideAutoReplace: the legitimate active and ties', () => {
  const member = (instanceId: string, slot: string, state: Member['state'] = 'running'): Member => ({ instanceId, slot, state, address: addressOf(instanceId) });
  const input = (overrides: Partial<AutoReplaceInput>): AutoReplaceInput => ({
    cluster: 'prod',
    enabled: true,
    afterSeconds: 600,
    slots: ['vault-a', 'vault-b', 'vault-c'],
    members: [member(A, 'vault-a'), member(B, 'vault-b'), member(C, 'vault-c')],
    nodes: [node.active(A), node.standby(B, A), node.standby(C, A)],
    statusChecks: { [A]: 'ok', [B]: 'ok', [C]: 'ok' },
    goneSinceMs: {},
    verdict: 'healthy',
    legitimateActive: A,
    nowMs: NOW_MS,
    ...overrides,
  });

  it('never replaces the node the verdict names as the legitimate active, and says why', () => {
    const d = decideAutoReplace(
      input({
        nodes: [node.unreachable(A), node.standby(B, A), node.standby(C, A)],
        statusChecks: { [A]: 'impaired', [B]: 'ok', [C]: 'ok' },
        goneSinceMs: { 'vault-a': NOW_MS - 3_600_000 },
      }),
    );
    assert.equal(d.start, undefined);
    assert.ok(d.notes.includes(`auto-replace held for vault-a: ${A} is the legitimate active`), d.notes.join('; '));
  });

  it('of two slots gone since the same moment, replaces the first by name and makes the other wait', () => {
    const since = NOW_MS - 900_000;
    const d = decideAutoReplace(
      input({
        members: [member(A, 'vault-a'), member(B, 'vault-b', 'stopped'), member(C, 'vault-c', 'stopped')],
        goneSinceMs: { 'vault-c': since, 'vault-b': since },
        slots: ['vault-c', 'vault-b', 'vault-a'],
      }),
    );
    assert.equal(d.start?.slot, 'vault-b');
    assert.ok(d.notes.includes('one replacement at a time: vault-c wait'), d.notes.join('; '));
  });
});
