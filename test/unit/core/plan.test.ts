import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { planRegistrations } from '../../../functions/core/plan.js';
import type { NodeHealth, PlannerPolicy, SplitBrainVerdict, TargetView } from '../../../functions/core/types.js';
import { classifyHealth } from '../../../functions/core/classify.js';
import {
  addressOf,
  answer,
  apiAddrOf,
  applyPlan,
  assess,
  clusterAfterFailover,
  clusterWithActiveLeader,
  expiresNs,
  historyOf,
  ids,
  leaderBody,
  lock,
  NOW_MS,
  node,
  planFor,
  plannerPolicy,
  probe,
  registeredIds,
  target,
  tick,
  type World,
} from './factories.js';

function world(nodes: NodeHealth[], targets: TargetView[], extra: Partial<World> = {}): World {
  return { nodes, targets, lock: lock.held(), failureCounts: {}, history: historyOf(), ...extra };
}

function plan(w: World, policy: Partial<PlannerPolicy> = {}, verdict?: SplitBrainVerdict) {
  return planFor(w, policy, verdict);
}

describe('planRegistrations: active-only routing', () => {
  it('a registered active with the lock needs no action, and the outcome says why', () => {
    const p = plan(clusterWithActiveLeader());
    assert.deepEqual([p.register, p.deregister, p.held], [[], [], []]);
    assert.equal(p.outcome, 'no action: i-0a is the active with the lock');
    assert.equal(p.frozen, false);
    assert.deepEqual(p.alarms, []);
  });

  it('a sole legitimate active missing from the target group is registered at once', () => {
    const p = plan({ ...clusterWithActiveLeader(), targets: [] });
    assert.deepEqual(p.register, [{ instanceId: 'i-0a', reason: 'legitimate active' }]);
    assert.equal(p.outcome, 'registered i-0a (legitimate active)');
  });

  it('registered standbys and perf-standbys leave at once (definitive answer)', () => {
    const w = world(
      [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.perfStandby('i-0c', 'i-0a')],
      [target('i-0a'), target('i-0b', 'unhealthy'), target('i-0c', 'unhealthy')],
    );
    const p = plan(w);
    assert.deepEqual(ids(p.deregister), ['i-0b', 'i-0c']);
    assert.deepEqual(p.register, []);
  });

  it('make before break: after a step-down the old node (now a standby) stays until the new active is ALB-healthy', () => {
    const nodes = [node.standby('i-0a', 'i-0b'), node.active('i-0b'), node.standby('i-0c', 'i-0b')];
    const notYet = plan(world(nodes, [target('i-0a', 'healthy')]));
    assert.deepEqual(ids(notYet.register), ['i-0b']);
    assert.deepEqual(notYet.deregister, []);
    assert.match(notYet.held[0]?.reason ?? '', /^standby kept until i-0b passes the ALB health check/);

    const initial = plan(world(nodes, [target('i-0a', 'unhealthy'), target('i-0b', 'initial')]));
    assert.deepEqual(initial.deregister, []);
    assert.deepEqual(ids(initial.held), ['i-0a']);

    const healthy = plan(world(nodes, [target('i-0a', 'unhealthy'), target('i-0b', 'healthy')]));
    assert.deepEqual(ids(healthy.deregister), ['i-0a']);
  });

  it('a registered standby stays while no legitimate active is known (a tick during an election): it forwards to whoever wins', () => {
    const nodes = [node.standby('i-0a'), node.standby('i-0b'), node.standby('i-0c')];
    const p = plan(world(nodes, [target('i-0a', 'healthy')]));
    assert.deepEqual(p.deregister, []);
    assert.deepEqual(ids(p.held), ['i-0a']);
    assert.match(p.held[0]?.reason ?? '', /no legitimate active is routed \(no-leader\)/);
  });

  it('a tick right after a step-down (no-leader, lock absent) leaves the stepped-down node registered', () => {
    const nodes = [node.standby('i-0a', 'i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')];
    const p = plan(world(nodes, [target('i-0a', 'healthy')], { lock: lock.absent() }));
    assert.deepEqual(p.deregister, []);
    assert.deepEqual(p.register, []);
  });

  it('after a failover the new active is registered and the old one held below the threshold', () => {
    const p = plan(clusterAfterFailover(1));
    assert.deepEqual(ids(p.register), ['i-0b']);
    assert.deepEqual(p.held, [{ instanceId: 'i-0a', reason: 'unreachable 1/2 ticks' }]);
    assert.equal(p.outcome, 'registered i-0b (legitimate active); kept i-0a (unreachable 1/2 ticks)');
  });

  it('after a failover the old active is deregistered once the threshold is reached', () => {
    const p = plan(clusterAfterFailover(2));
    assert.equal(p.outcome, 'registered i-0b (legitimate active); deregistered i-0a (unreachable 2/2 ticks)');
  });
});

describe('planRegistrations: all-unsealed routing', () => {
  const mixed = (): NodeHealth[] => [
    node.active('i-0a'),
    node.standby('i-0b', 'i-0a'),
    node.perfStandby('i-0c', 'i-0a'),
    node.haUnhealthy('i-0d', 'i-0a'),
    node.sealed('i-0e'),
    node.drSecondary('i-0f'),
    node.uninitialized('i-0g'),
  ];

  it('registers the active and every answering standby and perf-standby, nothing else', () => {
    const p = plan(world(mixed(), []), { routing: 'all-unsealed' });
    assert.deepEqual(ids(p.register), ['i-0a', 'i-0b', 'i-0c']);
  });

  it('removes ha-unhealthy, sealed, dr-secondary and uninitialized targets at once', () => {
    const all = mixed().map((n) => target(n.instanceId, n.class === 'active' ? 'healthy' : 'unhealthy'));
    const p = plan(world(mixed(), all), { routing: 'all-unsealed' });
    assert.deepEqual(ids(p.deregister), ['i-0d', 'i-0e', 'i-0f', 'i-0g']);
    assert.deepEqual(p.register, []);
  });

  it('keeps registered standbys registered', () => {
    const p = plan(world(mixed().slice(0, 3), [target('i-0a'), target('i-0b', 'unhealthy'), target('i-0c', 'unhealthy')]), {
      routing: 'all-unsealed',
    });
    assert.deepEqual([p.register, p.deregister], [[], []]);
  });

  it('of two claimants only the legitimate one is desired; the other is removed at once', () => {
    const nodes = [node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b'), node.standby('i-0d', 'i-0b')];
    const p = plan(world(nodes, [target('i-0a'), target('i-0b'), target('i-0c', 'unhealthy')]), { routing: 'all-unsealed' });
    assert.deepEqual(ids(p.deregister), ['i-0a']);
    assert.deepEqual(ids(p.register), ['i-0d']);
  });
});

describe('planRegistrations: invariant 1 — the last ALB-healthy target', () => {
  it('is kept, with an alarm, when only absence evidence speaks against it and no legitimate active replaces it', () => {
    const w = world([node.unreachable('i-0a'), node.standby('i-0b'), node.standby('i-0c')], [target('i-0a', 'healthy')], {
      lock: lock.expired(),
      failureCounts: { 'i-0a': 5 },
    });
    const p = plan(w);
    assert.deepEqual(p.deregister, []);
    assert.deepEqual(ids(p.held), ['i-0a']);
    assert.ok(p.alarms.some((a) => a.includes('only target the ALB reports healthy')));
  });

  for (const [name, make] of [
    ['sealed', node.sealed],
    ['uninitialized', node.uninitialized],
    ['removed', node.removed],
  ] as const) {
    it(`is removed when the probe proves it ${name}, and a live standby comes in so the group is not empty (invariant 11)`, () => {
      const w = world([make('i-0a'), node.standby('i-0b')], [target('i-0a', 'healthy')], { lock: lock.absent() });
      const p = plan(w);
      assert.deepEqual(ids(p.deregister), ['i-0a']);
      assert.deepEqual(ids(p.register), ['i-0b']);
    });
  }

  for (const [name, make] of [
    ['standby', (id: string) => node.standby(id)],
    ['perf-standby', (id: string) => node.perfStandby(id)],
  ] as const) {
    it(`is removed when the probe proves it ${name} and the legitimate active is ALB-healthy`, () => {
      const w = world([make('i-0a'), node.active('i-0b')], [target('i-0a', 'healthy'), target('i-0b', 'healthy')]);
      assert.deepEqual(ids(plan(w).deregister), ['i-0a']);
    });

    it(`is kept when the probe proves it ${name} but no active is routed: removing it would empty the group`, () => {
      const w = world([make('i-0a'), node.standby('i-0b')], [target('i-0a', 'healthy')], { lock: lock.absent() });
      const p = plan(w);
      assert.deepEqual(p.deregister, []);
      assert.deepEqual(ids(p.held), ['i-0a']);
    });
  }

  it('a node refusing every connection for the threshold is gone: removed although the ALB still reports it healthy (all-unsealed)', () => {
    const nodes = [node.unreachable('i-0a', 'refused'), node.standby('i-0b'), node.standby('i-0c')];
    const w = world(nodes, [target('i-0a', 'healthy'), target('i-0b', 'unhealthy'), target('i-0c', 'unhealthy')], {
      lock: lock.held(),
      failureCounts: { 'i-0a': 2 },
    });
    const p = plan(w, { routing: 'all-unsealed' });
    assert.deepEqual(ids(p.deregister), ['i-0a']);
    assert.match(p.deregister[0]?.reason ?? '', /connection refused/);
  });

  it('a refusing node with no other live node to take the clients is left to the ALB', () => {
    const nodes = [node.unreachable('i-0a', 'refused'), node.sealed('i-0b')];
    const w = world(nodes, [target('i-0a', 'healthy')], { lock: lock.held(), failureCounts: { 'i-0a': 3 } });
    const p = plan(w, { routing: 'all-unsealed' });
    assert.deepEqual(p.deregister, []);
    assert.deepEqual(ids(p.held), ['i-0a']);
  });

  it('a refusing node is still held below the threshold (a refusal is absence evidence, invariant 4)', () => {
    const nodes = [node.unreachable('i-0a', 'refused'), node.standby('i-0b')];
    const w = world(nodes, [target('i-0a', 'healthy'), target('i-0b', 'unhealthy')], { lock: lock.held(), failureCounts: { 'i-0a': 1 } });
    assert.deepEqual(ids(plan(w, { routing: 'all-unsealed' }).held), ['i-0a']);
  });

  it('a node that only times out stays as the last ALB-healthy target: the fault may be our own network path', () => {
    const nodes = [node.unreachable('i-0a', 'timeout'), node.standby('i-0b')];
    const w = world(nodes, [target('i-0a', 'healthy'), target('i-0b', 'unhealthy')], { lock: lock.held(), failureCounts: { 'i-0a': 5 } });
    const p = plan(w, { routing: 'all-unsealed' });
    assert.deepEqual(p.deregister, []);
    assert.ok(p.held.some((c) => c.instanceId === 'i-0a'));
  });

  it('is kept when it answers ha-unhealthy (not on the proof list) and nothing replaces it', () => {
    const w = world([node.haUnhealthy('i-0a'), node.standby('i-0b')], [target('i-0a', 'healthy')], { lock: lock.absent() });
    const p = plan(w);
    assert.deepEqual(ids(p.held), ['i-0a']);
  });

  it('is removed when a legitimate active replaces it in the same plan', () => {
    const p = plan(clusterAfterFailover(2));
    assert.deepEqual(ids(p.deregister), ['i-0a']);
    assert.deepEqual(ids(p.register), ['i-0b']);
  });

  it('is removed when the legitimate active is already registered (still initial)', () => {
    const w = { ...clusterAfterFailover(2), targets: [target('i-0a', 'healthy'), target('i-0b', 'initial')] };
    assert.deepEqual(ids(plan(w).deregister), ['i-0a']);
  });

  for (const state of ['stopped', 'stopping', 'terminated', 'shutting-down'] as const) {
    it(`a gone node (instance ${state}) is removed at once even as the last target`, () => {
      const w = world([node.stopped('i-0a', state), node.standby('i-0b')], [target('i-0a', 'healthy')], { lock: lock.expired() });
      const p = plan(w);
      assert.deepEqual(p.deregister, [{ instanceId: 'i-0a', reason: `instance ${state}` }]);
    });
  }

  for (const state of ['unhealthy', 'unused', 'unavailable'] as const) {
    it(`a node unreachable by the probe and ${state} at the ALB is removed as the last target once the threshold is reached`, () => {
      const w = world([node.unreachable('i-0a'), node.standby('i-0b')], [target('i-0a', state)], { lock: lock.expired(), failureCounts: { 'i-0a': 2 } });
      assert.deepEqual(ids(plan(w).deregister), ['i-0a']);
    });
  }

  it('two healthy targets removed on absence evidence in one plan are both kept (the set may not empty)', () => {
    const w = world([node.unreachable('i-0a'), node.unreachable('i-0b'), node.standby('i-0c')], [target('i-0a'), target('i-0b')], {
      lock: lock.expired(),
      failureCounts: { 'i-0a': 3, 'i-0b': 3 },
    });
    const p = plan(w);
    assert.deepEqual(p.deregister, []);
    assert.deepEqual(ids(p.held), ['i-0a', 'i-0b']);
  });

  it('a healthy target is removed on absence evidence when another healthy target stays', () => {
    const w = world([node.unreachable('i-0a'), node.standby('i-0b', 'i-0c'), node.active('i-0c')], [target('i-0a'), target('i-0c')], {
      failureCounts: { 'i-0a': 2 },
    });
    assert.deepEqual(ids(plan(w).deregister), ['i-0a']);
  });
});

describe('planRegistrations: invariant 2 — probe blindness', () => {
  it('changes nothing, freezes and alarms when no member answers', () => {
    const w = world([node.unreachable('i-0a'), node.unreachable('i-0b')], [target('i-0a', 'unhealthy'), target('i-0b', 'unhealthy')], {
      failureCounts: { 'i-0a': 9, 'i-0b': 9 },
    });
    const p = plan(w);
    assert.deepEqual([p.register, p.deregister], [[], []]);
    assert.equal(p.frozen, true);
    assert.equal(p.outcome, 'frozen: probe blind, no member answered; nothing changed');
    assert.ok(p.alarms.some((a) => a.startsWith('probe-blind')));
  });
});

describe('planRegistrations: invariant 3 — never two actives', () => {
  const twoClaimants = (votesFor: string[]): NodeHealth[] => [
    node.active('i-0a'),
    node.active('i-0b'),
    ...votesFor.map((leader, i) => node.standby(`i-0${String.fromCharCode(99 + i)}`, leader)),
  ];

  it('split brain with a legitimate active: only it is routed; the other claimant leaves at once even as the only healthy target', () => {
    const p = plan(world(twoClaimants(['i-0b', 'i-0b']), [target('i-0a', 'healthy')]));
    assert.deepEqual(p.register, [{ instanceId: 'i-0b', reason: 'legitimate active' }]);
    assert.deepEqual(ids(p.deregister), ['i-0a']);
    assert.equal(p.frozen, false);
    assert.ok(p.alarms.some((a) => a.startsWith('split-brain')));
  });

  it('all-unsealed: a standby that claims active through /v1/sys/leader is not registered beside the legitimate active', () => {
    const standbyClaimingSelf = classifyHealth({
      member: { instanceId: 'i-0c', state: 'running', address: addressOf('i-0c') },
      probe: probe({ status: 429, address: addressOf('i-0c'), leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf('i-0c') })) }),
    });
    const nodes = [node.active('i-0a'), node.standby('i-0b', 'i-0a'), standbyClaimingSelf, node.standby('i-0d', 'i-0a')];
    const p = plan(world(nodes, [target('i-0a'), target('i-0c', 'unhealthy')]), { routing: 'all-unsealed' });
    assert.deepEqual(ids(p.register), ['i-0b', 'i-0d']);
    assert.deepEqual(p.deregister, [{ instanceId: 'i-0c', reason: 'claims active but i-0a is the legitimate active' }]);
  });

  it('split brain with no legitimate active: frozen, registrations unchanged, alarm', () => {
    const p = plan(world(twoClaimants(['i-0a', 'i-0b']), [target('i-0a'), target('i-0b')]));
    assert.equal(p.frozen, true);
    assert.deepEqual([p.register, p.deregister], [[], []]);
    assert.equal(p.outcome, 'frozen: split brain between i-0a and i-0b with no legitimate active; nothing changed');
    assert.ok(p.alarms.length >= 1);
  });
});

describe('planRegistrations: invariant 4 — hysteresis', () => {
  const rows = [
    { count: 0, deregistered: false, reason: 'unreachable 0/3 ticks' },
    { count: 1, deregistered: false, reason: 'unreachable 1/3 ticks' },
    { count: 2, deregistered: false, reason: 'unreachable 2/3 ticks' },
    { count: 3, deregistered: true, reason: 'unreachable 3/3 ticks' },
    { count: 4, deregistered: true, reason: 'unreachable 4/3 ticks' },
  ];
  for (const row of rows) {
    it(`an unreachable standby target with ${row.count} consecutive failures (threshold 3) is ${row.deregistered ? 'removed' : 'held'}`, () => {
      const w = world([node.active('i-0a'), node.unreachable('i-0b'), node.standby('i-0c', 'i-0a')], [target('i-0a'), target('i-0b', 'unhealthy')], {
        failureCounts: row.count > 0 ? { 'i-0b': row.count } : {},
      });
      const p = plan(w, { routing: 'all-unsealed', unhealthyThreshold: 3 });
      const list = row.deregistered ? p.deregister : p.held;
      assert.deepEqual(list.filter((c) => c.instanceId === 'i-0b'), [{ instanceId: 'i-0b', reason: row.reason }]);
    });
  }

  it('an unknown answer is absence evidence too', () => {
    const w = world([node.active('i-0a'), node.unknown('i-0b'), node.standby('i-0c', 'i-0a')], [target('i-0a'), target('i-0b')], {
      failureCounts: { 'i-0b': 1 },
    });
    assert.deepEqual(plan(w, { routing: 'all-unsealed' }).held, [{ instanceId: 'i-0b', reason: 'unknown 1/2 ticks' }]);
  });

  it('a definitive answer (sealed) acts at once without any failure count', () => {
    const w = world([node.active('i-0a'), node.sealed('i-0b'), node.standby('i-0c', 'i-0a')], [target('i-0a'), target('i-0b')]);
    assert.deepEqual(plan(w, { routing: 'all-unsealed' }).deregister, [{ instanceId: 'i-0b', reason: 'sealed' }]);
  });
});

describe('planRegistrations: invariant 9 — dry run', () => {
  it('computes the same plan and says what would be done', () => {
    const real = plan(clusterAfterFailover(2));
    const dry = plan(clusterAfterFailover(2), { dryRun: true });
    assert.deepEqual([dry.register, dry.deregister, dry.held], [real.register, real.deregister, real.held]);
    assert.equal(dry.outcome, 'dry run: would register i-0b (legitimate active); would deregister i-0a (unreachable 2/2 ticks)');
  });

  it('says so when there is nothing to do', () => {
    assert.equal(plan(clusterWithActiveLeader(), { dryRun: true }).outcome, 'dry run: no action: i-0a is the active with the lock');
  });

  it('says so when frozen', () => {
    const w = world([node.unreachable('i-0a')], [target('i-0a')]);
    assert.equal(plan(w, { dryRun: true }).outcome, 'dry run: frozen: probe blind, no member answered; nothing would change');
  });
});

describe('planRegistrations: verdicts without a legitimate active register nothing', () => {
  it('stale-leader: the stale claimant keeps its registration, nothing new is registered', () => {
    const nodes = [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')];
    const p = plan(world(nodes, [target('i-0a')], { lock: lock.expired() }), { routing: 'all-unsealed' });
    assert.deepEqual(p.register, []);
    assert.deepEqual(p.deregister, []);
    assert.deepEqual(ids(p.held), ['i-0a']);
    assert.ok(p.alarms.some((a) => a.startsWith('stale-leader')));
  });

  it('leader-disagreement: nothing registered, definitive removals still happen', () => {
    const nodes = [node.active('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0d'), node.unreachable('i-0d'), node.sealed('i-0e')];
    const p = plan(world(nodes, [target('i-0a'), target('i-0e', 'unhealthy')]));
    assert.equal(assess(nodes, lock.held()).kind, 'leader-disagreement');
    assert.deepEqual(p.register, []);
    assert.deepEqual(ids(p.deregister), ['i-0e']);
  });

  it('no-leader: standbys are not newly registered even in all-unsealed while one is routed', () => {
    const p = plan(world([node.standby('i-0a'), node.standby('i-0b')], [target('i-0a', 'unhealthy')], { lock: lock.absent() }), {
      routing: 'all-unsealed',
    });
    assert.deepEqual(p.register, []);
    assert.deepEqual(p.deregister, []);
    assert.equal(p.outcome, 'no action: no member is active; nothing to register');
  });

  it('no-leader with an empty target group: exactly one live standby is registered (invariant 11)', () => {
    const p = plan(world([node.standby('i-0b'), node.standby('i-0a'), node.sealed('i-0c')], [], { lock: lock.absent() }));
    assert.deepEqual(p.register, [{ instanceId: 'i-0a', reason: 'standby: the target group is empty while it is alive' }]);
  });

  it('an empty target group stays empty when no unsealed node is alive', () => {
    const p = plan(world([node.sealed('i-0a'), node.unreachable('i-0b')], [], { lock: lock.absent() }));
    assert.deepEqual(p.register, []);
  });

  it('zombie-leader: nothing registered; a fencing recommendation is an alarm naming the lock identity and the policy', () => {
    const identity = 'd0c1a7e4-1111-4e5b-8a2e-6c1f3b0e9a01';
    const nodes = [node.unreachable('i-0a'), node.standby('i-0b', 'i-0a'), node.standby('i-0c', 'i-0a')];
    const history = historyOf(
      tick({ verdict: 'zombie-leader', lockIdentity: identity, lockExpiresAtNs: expiresNs(NOW_MS + 3_000) }),
      tick({ verdict: 'zombie-leader', lockIdentity: identity, lockExpiresAtNs: expiresNs(NOW_MS + 8_000) }),
    );
    const w = world(nodes, [target('i-0a', 'unhealthy')], { lock: lock.held(identity), history, failureCounts: { 'i-0a': 3 } });
    const p = plan(w, { fencing: 'none' });
    // Nothing is registered as the active; a live standby keeps the group non-empty (invariant 11).
    assert.deepEqual(ids(p.register), ['i-0b']);
    assert.match(p.register[0]?.reason ?? '', /target group is empty/);
    assert.deepEqual(ids(p.deregister), ['i-0a']);
    assert.ok(p.alarms.some((a) => a.includes(identity) && a.includes('policy.fencing is none')));
  });
});

describe('planRegistrations: targets outside the cluster and draining targets', () => {
  it('a registered non-member the ALB reports healthy is held with an alarm', () => {
    const w = { ...clusterWithActiveLeader(), targets: [target('i-0a'), target('i-0zz', 'healthy')] };
    const p = plan(w);
    assert.deepEqual(ids(p.held), ['i-0zz']);
    assert.ok(p.alarms.some((a) => a.includes('i-0zz')));
  });

  it('a registered non-member the ALB does not report healthy is removed', () => {
    const w = { ...clusterWithActiveLeader(), targets: [target('i-0a'), target('i-0zz', 'unhealthy')] };
    assert.deepEqual(ids(plan(w).deregister), ['i-0zz']);
  });

  it('a draining target counts as not registered: a draining legitimate active is registered again', () => {
    const w = { ...clusterWithActiveLeader(), targets: [target('i-0a', 'draining')] };
    assert.deepEqual(ids(plan(w).register), ['i-0a']);
  });

  it('a draining target that is not desired is not deregistered again', () => {
    const w = { ...clusterWithActiveLeader(), targets: [target('i-0a'), target('i-0b', 'draining'), target('i-0c', 'unhealthy.draining')] };
    assert.deepEqual(plan(w).deregister, []);
  });
});

describe('planRegistrations: output', () => {
  it('lists are ordered by instance id whatever the input order', () => {
    const nodes = [node.sealed('i-0z'), node.active('i-0m'), node.sealed('i-0b'), node.standby('i-0y', 'i-0m'), node.standby('i-0c', 'i-0m')];
    const p = plan(world(nodes, [target('i-0z', 'unhealthy'), target('i-0b', 'unhealthy')]), { routing: 'all-unsealed' });
    assert.deepEqual(ids(p.register), ['i-0c', 'i-0m', 'i-0y']);
    assert.deepEqual(ids(p.deregister), ['i-0b', 'i-0z']);
  });

  it('every change carries a non-empty reason', () => {
    const p = plan(clusterAfterFailover(2), { routing: 'all-unsealed' });
    for (const change of [...p.register, ...p.deregister, ...p.held]) assert.ok(change.reason.length > 0, change.instanceId);
  });

  it('the outcome is one sentence (no line breaks, no full stop in the middle)', () => {
    const p = plan(clusterAfterFailover(1), { routing: 'all-unsealed' });
    assert.doesNotMatch(p.outcome, /\n|\.\s/);
  });

  it('flapping still routes to the named active and alarms', () => {
    const w = world([node.active('i-0b'), node.standby('i-0a', 'i-0b')], [target('i-0a', 'unhealthy')], {
      history: historyOf(tick({ activeInstanceId: 'i-0a' }), tick({ activeInstanceId: 'i-0b' }), tick({ activeInstanceId: 'i-0a' })),
    });
    const p = plan(w);
    assert.deepEqual(ids(p.register), ['i-0b']);
    assert.ok(p.alarms.some((a) => a.startsWith('flapping')));
  });

  it('applying a full plan and planning again yields no changes', () => {
    const w = clusterAfterFailover(2);
    const first = plan(w, { routing: 'all-unsealed' });
    const second = planRegistrations({
      nodes: w.nodes,
      verdict: assess(w.nodes, w.lock),
      targets: applyPlan(w.targets, first),
      failureCounts: w.failureCounts,
      policy: plannerPolicy({ routing: 'all-unsealed' }),
    });
    assert.deepEqual([second.register, second.deregister], [[], []]);
    assert.deepEqual(registeredIds(applyPlan(w.targets, first)), ['i-0b', 'i-0c']);
  });
});

describe('planRegistrations: the order of the changes', () => {
  it('a split-brain swap of the only target registers the legitimate active first (never empty), and undoes it if the claimant cannot leave', () => {
    // Deregistering first emptied the group for one API round trip (chaos, "-20 s clock skew").
    // The new target is `initial` until its first passed check and gets no traffic (DESIGN §3.5).
    const nodes = [node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b'), node.standby('i-0d', 'i-0b')];
    const p = plan(world(nodes, [target('i-0a', 'healthy')]));
    assert.deepEqual(ids(p.deregister), ['i-0a']);
    assert.deepEqual(ids(p.register), ['i-0b']);
    assert.equal(p.order, 'register-first');
    assert.equal(p.undoRegistrationIfDeregisterFails, true);
    assert.equal(p.registerEvenIfDeregisterFails, false);
  });

  it('deregister first when a node that claims active leaves while another registration stays (never two actives, never empty)', () => {
    const nodes = [node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b')];
    const p = plan(world(nodes, [target('i-0a', 'healthy'), target('i-0c', 'healthy')]), { routing: 'all-unsealed' });
    assert.deepEqual(ids(p.deregister), ['i-0a']);
    assert.deepEqual(ids(p.register), ['i-0b']);
    assert.equal(p.order, 'deregister-first');
    // The claimant is live: if it cannot leave, its rival must not come in beside it.
    assert.equal(p.registerEvenIfDeregisterFails, false);
    assert.equal(p.undoRegistrationIfDeregisterFails, false);
  });

  it('applying any swap plan in its order never passes through an empty group nor two registered claimants outside an initial target', () => {
    // Step through the plan's calls one at a time, as the adapter makes them.
    const cases: Array<{ targets: TargetView[]; routing: PlannerPolicy['routing'] }> = [
      { targets: [target('i-0a', 'healthy')], routing: 'active-only' },
      { targets: [target('i-0a', 'healthy'), target('i-0c', 'healthy')], routing: 'all-unsealed' },
      { targets: [target('i-0a', 'healthy'), target('i-0c', 'healthy')], routing: 'active-only' },
    ];
    const nodes = [node.active('i-0a'), node.active('i-0b'), node.standby('i-0c', 'i-0b')];
    for (const c of cases) {
      const p = plan(world(nodes, c.targets), { routing: c.routing });
      const steps = p.order === 'register-first' ? ['register', 'deregister'] : ['deregister', 'register'];
      let now = c.targets.map((t) => ({ id: t.instanceId, state: t.state as string }));
      for (const step of steps) {
        if (step === 'register') now = [...now, ...ids(p.register).map((id) => ({ id, state: 'initial' }))];
        else now = now.filter((t) => !ids(p.deregister).includes(t.id));
        assert.ok(now.length > 0, `${c.routing} ${ids(c.targets)}: empty after ${step}`);
        const routedClaimants = now.filter((t) => t.state === 'healthy' && (t.id === 'i-0a' || t.id === 'i-0b'));
        assert.ok(routedClaimants.length <= 1, `${c.routing} ${ids(c.targets)}: two actives routed after ${step}`);
      }
    }
  });

  it('register first when only standbys or dead nodes leave: the group never passes through empty', () => {
    const p = plan(clusterAfterFailover(2));
    assert.deepEqual([ids(p.register), ids(p.deregister)], [['i-0b'], ['i-0a']]);
    assert.equal(p.order, 'register-first');
  });

  it('registrations go ahead despite a failed deregistration only when every removal is dead or proven non-routable', () => {
    const stopped = plan(world([node.stopped('i-0a'), node.active('i-0b')], [target('i-0a', 'healthy')]));
    assert.equal(stopped.registerEvenIfDeregisterFails, true);
    assert.equal(stopped.undoRegistrationIfDeregisterFails, false);
    const hysteresisOnly = plan(clusterAfterFailover(2));
    assert.equal(hysteresisOnly.registerEvenIfDeregisterFails, false);
    assert.equal(hysteresisOnly.undoRegistrationIfDeregisterFails, false);
  });
});
