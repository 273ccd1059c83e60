import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { normaliseAddress, standbyVotes } from '../../../functions/core/assess.js';
import { classifyHealth } from '../../../functions/core/classify.js';
import type { NodeHealth, SplitBrainVerdict, TickMemory } from '../../../functions/core/types.js';
import {
  addressOf,
  answer,
  apiAddrOf,
  assess,
  clusterWithActiveLeader,
  expiresNs,
  historyOf,
  leaderBody,
  lock,
  NOW_MS,
  node,
  probe,
  tick,
} from './factories.js';

const ID_1 = 'd0c1a7e4-1111-4e5b-8a2e-6c1f3b0e9a01';
const ID_2 = 'a1b2c3d4-3333-4c4c-8d8d-0e0e0e0e0e02';

function text(v: SplitBrainVerdict): string {
  return v.reasons.join(' | ');
}

/** A previous tick that saw lock ID_1 expiring `expiresInMs` after that tick's time. */
function sawLock(identity: string, expiresAtMs: number, extra: Partial<TickMemory> = {}): TickMemory {
  return tick({ verdict: 'no-leader', lockState: 'HELD', lockIdentity: identity, lockExpiresAtNs: expiresNs(expiresAtMs), ...extra });
}

describe('normaliseAddress', () => {
  const rows: [string, string][] = [
    ['https://vault-a.internal:8200', 'https://vault-a.internal:8200'],
    ['HTTPS://Vault-A.Internal:8200/', 'https://vault-a.internal:8200'],
    ['https://vault-a.internal', 'https://vault-a.internal:443'],
    ['http://10.0.1.5', 'http://10.0.1.5:80'],
    ['  http://10.0.1.5:8200//  ', 'http://10.0.1.5:8200'],
  ];
  for (const [input, expected] of rows) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(normaliseAddress(input), expected));
  }
});

describe('standbyVotes', () => {
  it('a majority needs strictly more than half of the standbys that name a leader', () => {
    const tie = standbyVotes([node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0d')]);
    assert.equal(tie.majority, undefined);
    const two = standbyVotes([node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a'), node.standby('i-0d', 'i-0e')]);
    assert.equal(two.majority, normaliseAddress(apiAddrOf('i-0a')));
  });

  it('standbys reporting no leader do not vote; perf-standbys and ha-unhealthy standbys do', () => {
    const votes = standbyVotes([node.standby('i-0b'), node.perfStandby('i-0c', 'i-0a'), node.haUnhealthy('i-0d', 'i-0a')]);
    assert.deepEqual(votes.voters.map((n) => n.instanceId), ['i-0c', 'i-0d']);
    assert.equal(votes.majority, normaliseAddress(apiAddrOf('i-0a')));
  });
});

describe('assessLeadership: probe-blind', () => {
  it('running members of which none answered any HTTP is probe-blind, whatever the lock says', () => {
    const v = assess([node.unreachable('i-0a'), node.unreachable('i-0b', 'refused'), node.stopped('i-0c')], lock.held());
    assert.equal(v.kind, 'probe-blind');
    assert.equal(v.legitimateActive, undefined);
    assert.match(text(v), /i-0a/);
    assert.match(text(v), /i-0b/);
  });

  it('one member answering, even sealed, is not probe-blind', () => {
    const v = assess([node.unreachable('i-0a'), node.sealed('i-0b')], lock.absent());
    assert.notEqual(v.kind, 'probe-blind');
  });

  it('no running member at all is not probe-blind (nothing to probe): no-leader', () => {
    const v = assess([node.stopped('i-0a'), node.stopped('i-0b', 'terminated')], lock.expired());
    assert.equal(v.kind, 'no-leader');
  });
});

describe('assessLeadership: healthy', () => {
  it('one active, standbys naming it and the lock held: healthy, legitimate active named', () => {
    const { nodes, lock: held } = clusterWithActiveLeader();
    const v = assess(nodes, held);
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, 'i-0a');
    assert.deepEqual(v.claimants, ['i-0a']);
    assert.equal(v.standbyLeaderAddress, normaliseAddress(apiAddrOf('i-0a')));
    assert.match(text(v), /i-0a/);
    assert.match(text(v), /HELD/);
  });

  it('raft: one active that the standbys name is healthy without any lock', () => {
    const v = assess([node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.perfStandby('i-0c', 'i-0a')], lock.raft(), { haType: 'raft' });
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, 'i-0a');
  });

  it('with no standby voting (others sealed), one active with the lock held is healthy', () => {
    const v = assess([node.active('i-0a'), node.sealed('i-0b'), node.sealed('i-0c')], lock.held());
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, 'i-0a');
  });

  it('standbys naming the active by its api_addr (a DNS name) match even when it is probed by IP', () => {
    const activeByIp = classifyHealth({
      member: { instanceId: 'i-0a', state: 'running', address: 'https://10.0.1.10:8200' },
      probe: probe({ status: 200, address: 'https://10.0.1.10:8200', leaderAddress: 'https://vault-a.example.internal:8200' }),
    });
    const standby = (id: string): NodeHealth =>
      classifyHealth({
        member: { instanceId: id, state: 'running', address: addressOf(id) },
        probe: probe({ status: 429, address: addressOf(id), leaderAddress: 'HTTPS://VAULT-A.example.internal:8200/' }),
      });
    const v = assess([activeByIp, standby('i-0b'), standby('i-0c')], lock.held());
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, 'i-0a');
  });
});

describe('assessLeadership: split-brain', () => {
  it('two claimants, standbys naming one of them and the lock held: that one is legitimate', () => {
    const v = assess([node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b'), node.standby('i-0d', 'i-0b')], lock.held(ID_2));
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, 'i-0b');
    assert.deepEqual(v.claimants, ['i-0a', 'i-0b']);
    assert.match(text(v), /i-0a and i-0b/);
  });

  it('two claimants with the standbys split: no legitimate active', () => {
    const v = assess([node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0a'), node.standby('i-0d', 'i-0b')], lock.held());
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, undefined);
  });

  it('two claimants and no standby voting: no legitimate active', () => {
    const v = assess([node.active('i-0a'), node.active('i-0b')], lock.held());
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, undefined);
  });

  for (const [name, obs] of [
    ['EXPIRED', lock.expired()],
    ['ABSENT', lock.absent()],
    ['UNREADABLE', lock.unreadable()],
  ] as const) {
    it(`DynamoDB: the standbys naming a claimant is not enough when the lock is ${name}`, () => {
      const v = assess([node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b')], obs);
      assert.equal(v.kind, 'split-brain');
      assert.equal(v.legitimateActive, undefined);
      assert.match(text(v), new RegExp(name));
    });
  }

  it("raft: the standbys' majority names the legitimate claimant", () => {
    const v = assess([node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0a')], lock.raft(), { haType: 'raft' });
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, 'i-0a');
  });

  it('a named claimant whose health is not active is not legitimate', () => {
    const standbyClaimingSelf = classifyHealth({
      member: { instanceId: 'i-0b', state: 'running', address: addressOf('i-0b') },
      probe: probe({ status: 429, address: addressOf('i-0b'), leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf('i-0b') })) }),
    });
    const v = assess([node.active('i-0a'), standbyClaimingSelf, node.standby('i-0c', 'i-0b')], lock.held());
    assert.equal(v.kind, 'split-brain');
    assert.equal(v.legitimateActive, undefined);
  });
});

describe('assessLeadership: stale-leader', () => {
  it('DynamoDB: the only claimant while the lock is EXPIRED is stale', () => {
    const v = assess([node.active('i-0a'), node.standby('i-0b', 'i-0a')], lock.expired());
    assert.equal(v.kind, 'stale-leader');
    assert.equal(v.legitimateActive, undefined);
    assert.match(text(v), /i-0a/);
    assert.match(text(v), /EXPIRED/);
  });

  it('DynamoDB: the only claimant while the lock item is ABSENT is stale', () => {
    const v = assess([node.active('i-0a'), node.standby('i-0b', 'i-0a')], lock.absent());
    assert.equal(v.kind, 'stale-leader');
  });

  it("DynamoDB: the standbys' majority naming another node makes the claimant stale", () => {
    const v = assess([node.active('i-0a'), node.unreachable('i-0b'), node.standby('i-0c', 'i-0b'), node.standby('i-0d', 'i-0b')], lock.held(ID_2));
    assert.equal(v.kind, 'stale-leader');
    assert.equal(v.legitimateActive, undefined);
    assert.match(text(v), /i-0b/);
  });
});

describe('assessLeadership: zombie-leader', () => {
  const zombieWorld = (): NodeHealth[] => [node.unreachable('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')];

  it('nobody claims, the same lock identity keeps being renewed, and the named holder does not answer: zombie', () => {
    const v = assess(zombieWorld(), lock.held(ID_1), { history: historyOf(sawLock(ID_1, NOW_MS + 8_000)) });
    assert.equal(v.kind, 'zombie-leader');
    assert.equal(v.legitimateActive, undefined);
    assert.equal(v.fencing, undefined, 'one tick of evidence is not enough to fence');
    assert.match(text(v), /i-0a/);
    assert.match(text(v), new RegExp(ID_1));
  });

  it('still sees a zombie when ticks come faster than renewals (the previous tick showed the same Expires)', () => {
    // Renewals every 5 s, ticks every 2 s: t-4 s saw E, t-2 s saw E again, now E+5 s.
    const history = historyOf(
      sawLock(ID_1, NOW_MS + 8_000, { atMs: NOW_MS - 4_000 }),
      sawLock(ID_1, NOW_MS + 8_000, { atMs: NOW_MS - 2_000 }),
    );
    const v = assess(zombieWorld(), lock.held(ID_1, 13_000), { history });
    assert.equal(v.kind, 'zombie-leader', v.reasons.join('; '));
  });

  it('never calls a holder that died a zombie, although its Expires advanced while it was alive', () => {
    // Renewed while active (claimant present), then killed: no renewal after that.
    const history = historyOf(
      sawLock(ID_1, NOW_MS + 3_000, { verdict: 'healthy', claimants: ['i-0a'], activeInstanceId: 'i-0a' }),
      sawLock(ID_1, NOW_MS + 8_000, { atMs: NOW_MS - 2_000 }),
    );
    const v = assess(zombieWorld(), lock.held(ID_1, 8_000), { history });
    assert.equal(v.kind, 'no-leader', v.reasons.join('; '));
    assert.equal(v.fencing, undefined);
  });

  it('recommends breaking the lock after breakLockAfterTicks consecutive zombie ticks, with the attributes seen now', () => {
    const history = historyOf(
      sawLock(ID_1, NOW_MS + 3_000, { verdict: 'zombie-leader' }),
      sawLock(ID_1, NOW_MS + 8_000, { verdict: 'zombie-leader' }),
    );
    const now = lock.held(ID_1);
    const v = assess(zombieWorld(), now, { history, policy: { breakLockAfterTicks: 3 } });
    assert.equal(v.kind, 'zombie-leader');
    assert.deepEqual(v.fencing && { ...v.fencing, reason: 'x' }, {
      action: 'break-lock',
      identity: ID_1,
      expiresAtNs: now.expiresAtNs,
      zombieInstanceId: 'i-0a',
      reason: 'x',
    });
  });

  it('zombie ticks of another lock identity do not count towards fencing', () => {
    const history = historyOf(
      sawLock(ID_2, NOW_MS + 3_000, { verdict: 'zombie-leader' }),
      sawLock(ID_1, NOW_MS + 8_000, { verdict: 'zombie-leader' }),
    );
    const v = assess(zombieWorld(), lock.held(ID_1), { history, policy: { breakLockAfterTicks: 3 } });
    assert.equal(v.kind, 'zombie-leader');
    assert.equal(v.fencing, undefined);
  });

  it('an interrupted streak restarts the count', () => {
    const history = historyOf(
      sawLock(ID_1, NOW_MS - 2_000, { verdict: 'zombie-leader' }),
      sawLock(ID_1, NOW_MS + 3_000, { verdict: 'no-leader' }),
      sawLock(ID_1, NOW_MS + 8_000, { verdict: 'zombie-leader' }),
    );
    const v = assess(zombieWorld(), lock.held(ID_1), { history, policy: { breakLockAfterTicks: 3 } });
    assert.equal(v.fencing, undefined);
  });

  it('with no standby naming anyone, an advancing lock nobody reachable claims is a zombie with no named instance', () => {
    const v = assess([node.unreachable('i-0a'), node.sealed('i-0b'), node.sealed('i-0c')], lock.held(ID_1), {
      history: historyOf(sawLock(ID_1, NOW_MS + 8_000)),
    });
    assert.equal(v.kind, 'zombie-leader');
    assert.equal(v.fencing, undefined);
  });
});

describe('assessLeadership: no-leader', () => {
  it('lock held but Expires not advancing (the holder just died, TTL running out) is no-leader, not zombie', () => {
    const held = lock.held(ID_1, 6_000);
    const v = assess([node.unreachable('i-0a'), node.standby('i-0b', 'i-0a')], held, {
      history: historyOf(tick({ lockState: 'HELD', lockIdentity: ID_1, lockExpiresAtNs: held.expiresAtNs })),
    });
    assert.equal(v.kind, 'no-leader');
    assert.match(text(v), /not advanced/);
  });

  it('a lock seen for the first time cannot be judged a zombie yet', () => {
    const v = assess([node.unreachable('i-0a'), node.standby('i-0b', 'i-0a')], lock.held(ID_1));
    assert.equal(v.kind, 'no-leader');
  });

  it('a changed lock identity is a takeover in progress, not a zombie', () => {
    const v = assess([node.unreachable('i-0a'), node.standby('i-0b', 'i-0a')], lock.held(ID_2), {
      history: historyOf(sawLock(ID_1, NOW_MS + 8_000)),
    });
    assert.equal(v.kind, 'no-leader');
  });

  it('standbys naming a node that answers but does not claim active is no-leader', () => {
    const v = assess([node.standby('i-0a', 'i-0b'), node.standby('i-0b', 'i-0b'), node.standby('i-0c', 'i-0b')], lock.held(ID_1), {
      history: historyOf(sawLock(ID_1, NOW_MS + 8_000)),
    });
    assert.equal(v.kind, 'no-leader');
  });

  for (const [name, obs] of [
    ['ABSENT', lock.absent()],
    ['EXPIRED', lock.expired()],
    ['UNREADABLE', lock.unreadable()],
  ] as const) {
    it(`all standbys with the lock ${name} is no-leader`, () => {
      const v = assess([node.standby('i-0a'), node.standby('i-0b')], obs);
      assert.equal(v.kind, 'no-leader');
      assert.equal(v.legitimateActive, undefined);
      assert.match(text(v), new RegExp(name));
    });
  }

  it('raft: nobody claiming active is no-leader', () => {
    const v = assess([node.standby('i-0a'), node.sealed('i-0b')], lock.raft(), { haType: 'raft' });
    assert.equal(v.kind, 'no-leader');
  });
});

describe('assessLeadership: leader-disagreement', () => {
  it('one claimant while the standbys split with no majority', () => {
    const v = assess([node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0d'), node.unreachable('i-0d')], lock.held());
    assert.equal(v.kind, 'leader-disagreement');
    assert.equal(v.legitimateActive, undefined);
    assert.match(text(v), /split/);
  });

  it("raft: the standbys' majority naming another node contradicts the claimant", () => {
    const v = assess([node.active('i-0a'), node.unreachable('i-0b'), node.standby('i-0c', 'i-0b'), node.standby('i-0d', 'i-0b')], lock.raft(), {
      haType: 'raft',
    });
    assert.equal(v.kind, 'leader-disagreement');
    assert.equal(v.legitimateActive, undefined);
  });

  it('a claimant whose health says standby but whose /v1/sys/leader says is_self', () => {
    const standbyClaimingSelf = classifyHealth({
      member: { instanceId: 'i-0a', state: 'running', address: addressOf('i-0a') },
      probe: probe({ status: 429, address: addressOf('i-0a'), leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf('i-0a') })) }),
    });
    const v = assess([standbyClaimingSelf, node.standby('i-0b', 'i-0a')], lock.held());
    assert.equal(v.kind, 'leader-disagreement');
    assert.match(text(v), /i-0a/);
  });
});

describe('assessLeadership: lock UNREADABLE in DynamoDB mode', () => {
  it('a single claimant confirmed by the standbys is still named, and the reasons say the lock gave no evidence', () => {
    const v = assess([node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')], lock.unreadable());
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, 'i-0a');
    assert.match(text(v), /UNREADABLE/);
    assert.match(text(v), /no evidence/);
  });

  it('a single claimant nobody confirms, with another member silent, is not named', () => {
    const v = assess([node.active('i-0a'), node.unreachable('i-0b')], lock.unreadable());
    assert.equal(v.kind, 'leader-disagreement');
    assert.equal(v.legitimateActive, undefined);
  });

  it('a single claimant is named when every other member answered definitively and cannot lead', () => {
    const v = assess([node.active('i-0a'), node.sealed('i-0b'), node.stopped('i-0c')], lock.unreadable());
    assert.equal(v.kind, 'healthy');
    assert.equal(v.legitimateActive, 'i-0a');
  });
});

describe('assessLeadership: flapping', () => {
  const healthyNow = (): NodeHealth[] => [node.active('i-0b'), node.standby('i-0a', 'i-0b'), node.standby('i-0c', 'i-0b')];

  it('the legitimate active changing flappingChanges times within the window is flapping, still naming the active', () => {
    const history = historyOf(
      tick({ activeInstanceId: 'i-0a' }),
      tick({ activeInstanceId: 'i-0b' }),
      tick({ activeInstanceId: 'i-0a' }),
    );
    const v = assess(healthyNow(), lock.held(), { history, policy: { flappingChanges: 3, flappingWindowTicks: 12 } });
    assert.equal(v.kind, 'flapping');
    assert.equal(v.legitimateActive, 'i-0b');
    assert.match(text(v), /i-0a → i-0b → i-0a → i-0b/);
  });

  it('lock identity churn is flapping even when the same node keeps winning', () => {
    const history = historyOf(
      tick({ activeInstanceId: 'i-0b', lockIdentity: 'id-1' }),
      tick({ activeInstanceId: 'i-0b', lockIdentity: 'id-2' }),
      tick({ activeInstanceId: 'i-0b', lockIdentity: 'id-3' }),
    );
    const v = assess(healthyNow(), lock.held('id-4'), { history, policy: { flappingChanges: 3 } });
    assert.equal(v.kind, 'flapping');
    assert.equal(v.legitimateActive, 'i-0b');
  });

  it('changes older than the window do not count', () => {
    const old = [tick({ activeInstanceId: 'i-0a' }), tick({ activeInstanceId: 'i-0b' }), tick({ activeInstanceId: 'i-0a' })];
    const recent = Array.from({ length: 5 }, () => tick({ activeInstanceId: 'i-0b' }));
    const v = assess(healthyNow(), lock.held(), { history: historyOf(...old, ...recent), policy: { flappingChanges: 3, flappingWindowTicks: 5 } });
    assert.equal(v.kind, 'healthy');
  });

  it('ticks without a leader between the same active are not changes', () => {
    const history = historyOf(tick({ activeInstanceId: 'i-0b' }), tick({}), tick({ activeInstanceId: 'i-0b' }), tick({}));
    const v = assess(healthyNow(), lock.held(), { history, policy: { flappingChanges: 2 } });
    assert.equal(v.kind, 'healthy');
  });

  it('flapping overrides healthy only: a split brain stays a split brain', () => {
    const history = historyOf(tick({ activeInstanceId: 'i-0a' }), tick({ activeInstanceId: 'i-0b' }), tick({ activeInstanceId: 'i-0a' }));
    const v = assess([node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b')], lock.held(), { history, policy: { flappingChanges: 2 } });
    assert.equal(v.kind, 'split-brain');
  });
});

describe('assessLeadership: reasons carry node findings', () => {
  it('a code/body disagreement on a node appears in the verdict reasons under its instance id', () => {
    const weird = classifyHealth({
      member: { instanceId: 'i-0c', state: 'running', address: addressOf('i-0c') },
      probe: probe({ status: 429, address: addressOf('i-0c'), leaderAddress: apiAddrOf('i-0a'), body: { initialized: true, sealed: false, standby: false } }),
    });
    const v = assess([node.active('i-0a'), node.standby('i-0b', 'i-0a'), weird], lock.held());
    assert.ok(v.reasons.some((r) => r.startsWith('i-0c:') && r.includes('disagrees')));
  });
});
