/**
 * Properties of assess + plan over random clusters (2–5 nodes, random classes,
 * claims, standby views, lock states, histories, target views and failure counts).
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { classifyHealth } from '../../../functions/core/classify.js';
import { planRegistrations } from '../../../functions/core/plan.js';
import type {
  LockObservation,
  NodeClass,
  NodeHealth,
  PlannerPolicy,
  RegistrationPlan,
  SplitBrainVerdict,
  TargetState,
  TargetView,
  TickMemory,
} from '../../../functions/core/types.js';
import {
  addressOf,
  answer,
  apiAddrOf,
  assess,
  applyPlan,
  expiresNs,
  historyOf,
  leaderBody,
  lock,
  NOW_MS,
  node,
  probe,
  registeredIds,
  target,
  tick,
} from './factories.js';

const IDS = ['i-0a', 'i-0b', 'i-0c', 'i-0d', 'i-0e'] as const;
const IDENTITY = 'd0c1a7e4-1111-4e5b-8a2e-6c1f3b0e9a01';
const OTHER_IDENTITY = 'a1b2c3d4-3333-4c4c-8d8d-0e0e0e0e0e02';

const KINDS = [
  'active',
  'standby',
  'perfStandby',
  'haUnhealthy',
  'drSecondary',
  'sealed',
  'uninitialized',
  'removed',
  'unreachable',
  'unknown',
  'stopped',
  'terminated',
  'standbyClaimingSelf',
] as const;
type Kind = (typeof KINDS)[number];

const TARGET_STATES: TargetState[] = ['initial', 'healthy', 'unhealthy', 'unused', 'draining', 'unavailable', 'unhealthy.draining'];

function build(kind: Kind, id: string, leader: string | undefined): NodeHealth {
  switch (kind) {
    case 'active':
      return node.active(id);
    case 'standby':
      return node.standby(id, leader);
    case 'perfStandby':
      return node.perfStandby(id, leader);
    case 'haUnhealthy':
      return node.haUnhealthy(id, leader);
    case 'drSecondary':
      return node.drSecondary(id);
    case 'sealed':
      return node.sealed(id);
    case 'uninitialized':
      return node.uninitialized(id);
    case 'removed':
      return node.removed(id);
    case 'unreachable':
      return node.unreachable(id);
    case 'unknown':
      return node.unknown(id);
    case 'stopped':
      return node.stopped(id, 'stopped');
    case 'terminated':
      return node.stopped(id, 'terminated');
    case 'standbyClaimingSelf':
      return classifyHealth({
        member: { instanceId: id, state: 'running', address: addressOf(id) },
        probe: probe({ status: 429, address: addressOf(id), leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf(id) })) }),
      });
  }
}

interface Scenario {
  nodes: NodeHealth[];
  lock: LockObservation;
  haType: 'dynamodb' | 'raft';
  history: TickMemory[];
  targets: TargetView[];
  failureCounts: Record<string, number>;
  policy: PlannerPolicy;
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.integer({ min: 2, max: 5 }).chain((n) => {
  const slots = (arb: fc.Arbitrary<unknown>) => fc.array(arb, { minLength: n, maxLength: n });
  return fc
    .record({
      kinds: slots(fc.constantFrom(...KINDS)) as fc.Arbitrary<Kind[]>,
      leaders: slots(fc.option(fc.integer({ min: 0, max: n }), { nil: undefined })) as fc.Arbitrary<(number | undefined)[]>,
      targetStates: slots(fc.option(fc.constantFrom(...TARGET_STATES), { nil: undefined })) as fc.Arbitrary<(TargetState | undefined)[]>,
      foreign: fc.option(fc.constantFrom(...TARGET_STATES), { nil: undefined }),
      failures: slots(fc.integer({ min: 0, max: 4 })) as fc.Arbitrary<number[]>,
      lockKind: fc.constantFrom('held', 'held-other', 'expired', 'absent', 'unreadable', 'raft'),
      previous: fc.constantFrom('none', 'advancing', 'stuck', 'other-identity'),
      zombieStreak: fc.integer({ min: 0, max: 3 }),
      pastActives: fc.array(fc.option(fc.integer({ min: 0, max: n - 1 }), { nil: undefined }), { maxLength: 6 }),
      routing: fc.constantFrom('active-only', 'all-unsealed') as fc.Arbitrary<PlannerPolicy['routing']>,
      threshold: fc.integer({ min: 1, max: 3 }),
      dryRun: fc.boolean(),
    })
    .map((r): Scenario => {
      const ids = IDS.slice(0, n);
      // A leader index of n names an address outside the cluster.
      const leaderId = (i: number | undefined): string | undefined => (i === undefined ? undefined : i === n ? 'i-0outside' : ids[i]);
      const nodes = ids.map((id, i) => build(r.kinds[i] as Kind, id, leaderId(r.leaders[i])));
      const obs =
        r.lockKind === 'held'
          ? lock.held(IDENTITY)
          : r.lockKind === 'held-other'
            ? lock.held(OTHER_IDENTITY)
            : r.lockKind === 'expired'
              ? lock.expired()
              : r.lockKind === 'absent'
                ? lock.absent()
                : r.lockKind === 'unreadable'
                  ? lock.unreadable()
                  : lock.raft();
      const history: TickMemory[] = r.pastActives.map((i) => tick(i === undefined ? {} : { activeInstanceId: ids[i] as string }));
      for (let k = 0; k < r.zombieStreak; k += 1) {
        history.push(tick({ verdict: 'zombie-leader', lockState: 'HELD', lockIdentity: IDENTITY, lockExpiresAtNs: expiresNs(NOW_MS + 1_000 * k) }));
      }
      if (r.previous !== 'none') {
        history.push(
          tick({
            lockState: 'HELD',
            lockIdentity: r.previous === 'other-identity' ? OTHER_IDENTITY : IDENTITY,
            lockExpiresAtNs: r.previous === 'stuck' ? obs.expiresAtNs ?? expiresNs(NOW_MS) : expiresNs(NOW_MS + 5_000),
          }),
        );
      }
      const targets: TargetView[] = [];
      ids.forEach((id, i) => {
        const state = r.targetStates[i];
        if (state !== undefined) targets.push(target(id, state));
      });
      if (r.foreign !== undefined) targets.push(target('i-0foreign', r.foreign));
      const failureCounts: Record<string, number> = {};
      ids.forEach((id, i) => {
        const count = r.failures[i] ?? 0;
        if (count > 0) failureCounts[id] = count;
      });
      return {
        nodes,
        lock: obs,
        haType: r.lockKind === 'raft' ? 'raft' : 'dynamodb',
        history,
        targets,
        failureCounts,
        policy: { routing: r.routing, unhealthyThreshold: r.threshold, dryRun: r.dryRun, fencing: 'deregister' },
      };
    });
});

/**
 * Split brains that uniform kinds rarely produce: two nodes claim active, the
 * others are standbys of one of them (so the evidence names a legitimate one),
 * and random registrations, states and routing.
 */
const splitBrainArb: fc.Arbitrary<Scenario> = fc.integer({ min: 2, max: 5 }).chain((n) =>
  fc
    .record({
      pair: fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { minLength: 2, maxLength: 2 }),
      leaderOfStandbys: fc.integer({ min: 0, max: 1 }),
      targetStates: fc.array(fc.option(fc.constantFrom(...TARGET_STATES), { nil: undefined }), { minLength: n, maxLength: n }),
      routing: fc.constantFrom('active-only', 'all-unsealed') as fc.Arbitrary<PlannerPolicy['routing']>,
      threshold: fc.integer({ min: 1, max: 3 }),
    })
    .map((r): Scenario => {
      const ids = IDS.slice(0, n);
      const claimantIds = r.pair.map((i) => ids[i] as string);
      const leader = claimantIds[r.leaderOfStandbys] as string;
      const nodes = ids.map((id) => (claimantIds.includes(id) ? node.active(id) : node.standby(id, leader)));
      const targets: TargetView[] = [];
      ids.forEach((id, i) => {
        const state = r.targetStates[i];
        if (state !== undefined) targets.push(target(id, state));
      });
      return {
        nodes,
        lock: lock.held(IDENTITY),
        haType: 'dynamodb',
        history: [],
        targets,
        failureCounts: {},
        policy: { routing: r.routing, unhealthyThreshold: r.threshold, dryRun: false, fencing: 'deregister' },
      };
    }),
);

function verdictOf(s: Scenario): SplitBrainVerdict {
  return assess(s.nodes, s.lock, { history: historyOf(...s.history), haType: s.haType });
}

function planOf(s: Scenario, verdict: SplitBrainVerdict, targets: TargetView[] = s.targets): RegistrationPlan {
  return planRegistrations({ nodes: s.nodes, verdict, targets, failureCounts: s.failureCounts, policy: s.policy });
}

const PROOF: ReadonlySet<NodeClass> = new Set<NodeClass>(['sealed', 'standby', 'perf-standby', 'uninitialized', 'removed']);
const RUNS = { numRuns: 400 };

describe('planner properties over random clusters', () => {
  it('never leaves two claimants registered (a frozen plan leaves the registration exactly as it was)', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const plan = planOf(s, verdict);
        const after = registeredIds(applyPlan(s.targets, plan));
        if (plan.frozen) {
          assert.deepEqual(after, registeredIds(s.targets));
          return;
        }
        const claimants = new Set(s.nodes.filter((n) => n.claimsActive).map((n) => n.instanceId));
        assert.ok(after.filter((id) => claimants.has(id)).length <= 1, `two claimants registered: ${after.join(',')}`);
      }),
      RUNS,
    );
  });

  it('never changes anything when no member answers the probe', () => {
    const blindArb = scenarioArb.map((s) => ({
      ...s,
      nodes: s.nodes.map((n, i) => (i === 0 ? node.unreachable(n.instanceId) : n.answered ? node.unreachable(n.instanceId, 'refused') : n)),
    }));
    fc.assert(
      fc.property(blindArb, (s) => {
        const verdict = verdictOf(s);
        assert.equal(verdict.kind, 'probe-blind');
        const plan = planOf(s, verdict);
        assert.deepEqual([plan.register, plan.deregister], [[], []]);
        assert.equal(plan.frozen, true);
        assert.ok(plan.alarms.length > 0);
      }),
      RUNS,
    );
  });

  it('never removes the last ALB-healthy targets without the invariant-1 justification', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const plan = planOf(s, verdict);
        const registered = s.targets.filter((t) => t.state !== 'draining' && t.state !== 'unhealthy.draining');
        const healthy = registered.filter((t) => t.state === 'healthy').map((t) => t.instanceId);
        const removed = new Set(plan.deregister.map((c) => c.instanceId));
        const healthyLeft = healthy.filter((id) => !removed.has(id));
        if (healthy.length === 0 || healthyLeft.length > 0) return;
        const after = registeredIds(applyPlan(s.targets, plan));
        const legitRouted = verdict.legitimateActive !== undefined && after.includes(verdict.legitimateActive);
        for (const id of healthy) {
          const n = s.nodes.find((x) => x.instanceId === id);
          const gone = n === undefined ? false : n.instanceState !== 'running';
          const proven = n !== undefined && PROOF.has(n.class);
          // Refused for the threshold while another unsealed node lives to take (and forward) the clients.
          const refusedWithCover =
            n?.refused === true &&
            s.nodes.some((x) => x.instanceId !== id && x.instanceState === 'running' && x.answered && ['active', 'standby', 'perf-standby'].includes(x.class));
          assert.ok(legitRouted || gone || proven || refusedWithCover, `removed healthy ${id} (${n?.class}) without justification: ${plan.outcome}`);
        }
      }),
      RUNS,
    );
  });

  it('never leaves the target group empty while an unsealed node is alive (invariant 11), whatever the verdict', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const plan = planOf(s, verdict);
        const after = registeredIds(applyPlan(s.targets, plan));
        const alive = s.nodes.filter(
          (n) => n.instanceState === 'running' && n.answered && ['active', 'standby', 'perf-standby', 'ha-unhealthy'].includes(n.class),
        );
        if (alive.length === 0) return;
        if (plan.frozen) {
          // Frozen changes nothing at all; it can only keep a group that was already empty.
          assert.deepEqual(after, registeredIds(s.targets));
          return;
        }
        assert.ok(after.length > 0, `empty with ${alive.map((n) => `${n.instanceId}:${n.class}`).join(',')} alive (${verdict.kind}): ${plan.outcome}`);
      }),
      RUNS,
    );
  });

  it('applied call by call in its order, a plan never passes through an empty group, and no failed call adds a second claimant', () => {
    // The adapter makes one call per list (plan-apply.ts): either may fail. Every
    // path is walked: both succeed; the first fails; the second fails (with the
    // planner's undo or register-anyway flags honoured as the adapter does).
    const none = { register: [], deregister: [] };
    let swaps = 0;
    fc.assert(
      fc.property(fc.oneof(scenarioArb, splitBrainArb), (s) => {
        const plan = planOf(s, verdictOf(s));
        if (plan.frozen) return;
        const reg = { ...none, register: plan.register };
        const dereg = { ...none, deregister: plan.deregister };
        const undo = { ...none, deregister: plan.register };
        const before = s.targets;
        const paths: Array<{ name: string; states: TargetView[][] }> = [];
        if (plan.order === 'register-first') {
          const registered = applyPlan(before, reg);
          paths.push({ name: 'both succeed', states: [registered, applyPlan(registered, dereg)] });
          paths.push({ name: 'register fails', states: [before] });
          const kept = plan.undoRegistrationIfDeregisterFails ? applyPlan(registered, undo) : registered;
          paths.push({ name: 'deregister fails', states: [registered, kept] });
        } else {
          const removed = applyPlan(before, dereg);
          paths.push({ name: 'both succeed', states: [removed, applyPlan(removed, reg)] });
          paths.push({ name: 'deregister fails', states: plan.registerEvenIfDeregisterFails ? [applyPlan(before, reg)] : [before] });
          paths.push({ name: 'register fails', states: [removed] });
        }
        const alive = s.nodes.some(
          (n) => n.instanceState === 'running' && n.answered && ['active', 'standby', 'perf-standby', 'ha-unhealthy'].includes(n.class),
        );
        const claimants = new Set(s.nodes.filter((n) => n.claimsActive).map((n) => n.instanceId));
        const claimantsIn = (ts: TargetView[]) => registeredIds(ts).filter((id) => claimants.has(id)).length;
        const wasEmpty = registeredIds(before).length === 0;
        if (plan.deregister.some((c) => claimants.has(c.instanceId)) && plan.register.length > 0) swaps += 1;
        for (const path of paths) {
          for (const [i, state] of path.states.entries()) {
            if (alive && !wasEmpty) {
              assert.ok(registeredIds(state).length > 0, `${path.name}, after call ${i + 1} of ${plan.order}: empty group (${plan.outcome})`);
            }
          }
          // Only the success path's one round trip may hold the rival beside the claimant (as an
          // `initial` target, not routed); where a call failed, the group ends with no more
          // claimants registered than it began with, or one.
          if (path.name !== 'both succeed') {
            const end = path.states.at(-1)!;
            assert.ok(
              claimantsIn(end) <= Math.max(1, claimantsIn(before)),
              `${path.name} (${plan.order}): ${registeredIds(end).join(',')} holds ${claimantsIn(end)} claimants (${plan.outcome})`,
            );
          }
        }
      }),
      RUNS,
    );
    assert.ok(swaps >= 20, `only ${swaps} swaps of a claimant for its rival were tried`);
  });

  it('registers only routable nodes, and of the claimants only the legitimate one', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const plan = planOf(s, verdict);
        for (const change of plan.register) {
          const n = s.nodes.find((x) => x.instanceId === change.instanceId);
          assert.ok(n !== undefined && n.answered && n.instanceState === 'running');
          const keptAlive = /target group is empty/.test(change.reason);
          // A 474 standby comes in only to keep the group non-empty (invariant 11).
          assert.ok(['active', 'standby', 'perf-standby'].includes(n.class) || (keptAlive && n.class === 'ha-unhealthy'), `${n.instanceId} is ${n.class}`);
          // Invariant 11's one exception: the cluster's only claimant, brought in because the group would be empty.
          const soleClaimantKeptAlive =
            s.nodes.filter((x) => x.claimsActive).length === 1 && /target group is empty/.test(change.reason) && plan.register.length === 1;
          if (n.claimsActive && !soleClaimantKeptAlive) assert.equal(n.instanceId, verdict.legitimateActive);
        }
      }),
      RUNS,
    );
  });

  it('converges: after applying only the deregistrations, planning again yields exactly the remaining registrations', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const first = planOf(s, verdict);
        const second = planOf(s, verdict, applyPlan(s.targets, { register: [], deregister: first.deregister }));
        assert.deepEqual(second.register, first.register);
        assert.deepEqual(second.deregister, []);
      }),
      RUNS,
    );
  });

  it('converges: after applying only the registrations, planning again yields exactly the remaining deregistrations', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const first = planOf(s, verdict);
        const second = planOf(s, verdict, applyPlan(s.targets, { register: first.register, deregister: [] }));
        assert.deepEqual(second.register, []);
        assert.deepEqual(second.deregister, first.deregister);
      }),
      RUNS,
    );
  });

  it('converges: after applying a full plan, planning again is empty', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const first = planOf(s, verdict);
        const second = planOf(s, verdict, applyPlan(s.targets, first));
        assert.deepEqual([second.register, second.deregister], [[], []]);
      }),
      RUNS,
    );
  });

  it('dry run computes the same lists and only changes the outcome prefix', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        const wet = planOf({ ...s, policy: { ...s.policy, dryRun: false } }, verdict);
        const dry = planOf({ ...s, policy: { ...s.policy, dryRun: true } }, verdict);
        assert.deepEqual([dry.register, dry.deregister, dry.held, dry.frozen], [wet.register, wet.deregister, wet.held, wet.frozen]);
        assert.ok(dry.outcome.startsWith('dry run: '));
        assert.ok(!wet.outcome.startsWith('dry run'));
      }),
      RUNS,
    );
  });

  it('output lists are sorted by instance id, disjoint, and every change has a reason', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const plan = planOf(s, verdictOf(s));
        for (const list of [plan.register, plan.deregister, plan.held]) {
          const listIds = list.map((c) => c.instanceId);
          assert.deepEqual(listIds, [...listIds].sort());
          for (const c of list) assert.ok(c.reason.length > 0);
        }
        const dereg = new Set(plan.deregister.map((c) => c.instanceId));
        for (const c of [...plan.register, ...plan.held]) assert.ok(!dereg.has(c.instanceId), c.instanceId);
      }),
      RUNS,
    );
  });

  it('the verdict names a legitimate active only if it claims active and answers health as active', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const verdict = verdictOf(s);
        if (verdict.legitimateActive === undefined) return;
        const n = s.nodes.find((x) => x.instanceId === verdict.legitimateActive);
        assert.ok(n !== undefined && n.claimsActive && n.class === 'active');
        assert.ok(['healthy', 'flapping', 'split-brain'].includes(verdict.kind), verdict.kind);
      }),
      RUNS,
    );
  });
});
