/**
 * Dead-leader takeover (DESIGN §5.10) as a specification: each row removes one
 * condition from a world in which the takeover is due and names the reason the
 * decision gives; the properties hold over random worlds. Nodes are classified
 * and the verdict assessed by the real core, from realistic probe answers.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { assessLeadership } from '../../../functions/core/assess.js';
import { classifyHealth } from '../../../functions/core/classify.js';
import { REAL_LOCK_TIMINGS, type LockTimings } from '../../../functions/core/ha-lock.js';
import { observeLock } from '../../../functions/core/lock.js';
import { decideTakeover, tieLockToMember } from '../../../functions/core/takeover.js';
import type {
  ClusterHistory,
  InstanceState,
  LockItemRead,
  ProbeFailureReason,
  ProbeResult,
  SplitBrainVerdict,
  TakeoverDecision,
  TakeoverEvidence,
  TickMemory,
} from '../../../functions/core/types.js';
import type { VaultHealthBody, VaultLeaderBody } from '../../../functions/core/vault-api.js';
import { scaledTimings } from '../../../sandbox/sim/timings.js';
import { addressOf, apiAddrOf, assessPolicy, expiresNs, failure, historyOf, NOW_MS, probe, tick } from './factories.js';

const IDENTITY = 'd0c1a7e4-1111-4e5b-8a2e-6c1f3b0e9a01';
const VALUE = 'c0a8f3e2-2222-4f0b-9d6e-7a2b4c5d6e01';
const OTHER_IDENTITY = 'a1b2c3d4-3333-4c4c-8d8d-0e0e0e0e0e02';
const OTHER_VALUE = 'f00dfeed-4444-4aaa-8bbb-0c0c0c0c0c03';
const SKEW_MS = 1_000;
/** Real timings: renew 5 s + skew 1 s. */
const DEADLINE_MS = REAL_LOCK_TIMINGS.renewIntervalMs + SKEW_MS;

/** How a member shows up this tick. */
type Shape =
  | { kind: 'standby'; leader?: string }
  | { kind: 'perfStandby'; leader?: string }
  | { kind: 'haUnhealthy'; leader?: string }
  | { kind: 'active' }
  | { kind: 'sealed' }
  | { kind: 'fails'; health: ProbeFailureReason; leader?: ProbeFailureReason }
  | { kind: 'notRunning'; state: InstanceState };

interface World {
  members: Record<string, Shape>;
  /** now − (Expires − TTL). */
  msSinceLastRenewal: number;
  lockIdentity?: string;
  lockValue?: string;
  lockRead?: LockItemRead;
  history: ClusterHistory;
  haType?: string;
  timings?: LockTimings;
  skewToleranceMs?: number;
  enabled?: boolean;
  dryRun?: boolean;
  /** When the lock was read, if before the decision (the tick's batch read precedes the probes). */
  lockReadAtMs?: number;
}

function probeOf(id: string, shape: Shape): ProbeResult | undefined {
  const address = addressOf(id);
  switch (shape.kind) {
    case 'standby':
      return probe({ status: 429, address, leaderAddress: apiAddrOf(shape.leader ?? 'i-0a') });
    case 'perfStandby':
      return probe({ status: 473, address, leaderAddress: apiAddrOf(shape.leader ?? 'i-0a') });
    case 'haUnhealthy':
      return probe({ status: 474, address, leaderAddress: apiAddrOf(shape.leader ?? 'i-0a') });
    case 'active':
      return probe({ status: 200, address, leaderAddress: apiAddrOf(id) });
    case 'sealed':
      return probe({ status: 503, address });
    case 'fails':
      return {
        address,
        health: failure<VaultHealthBody>(shape.health, shape.health === 'refused' ? 'connect ECONNREFUSED 10.0.1.10:8200' : 'x'),
        leader: failure<VaultLeaderBody>(shape.leader ?? shape.health, 'x'),
      };
    case 'notRunning':
      return undefined;
  }
}

function verdictOf(w: World): SplitBrainVerdict {
  return observe(w).verdict;
}

function decide(w: World): TakeoverDecision {
  const { nodes, probes, verdict, lock, timings, skew, haType } = observe(w);
  return decideTakeover({
    haType,
    nodes,
    probes,
    verdict,
    lock,
    history: w.history,
    nowMs: NOW_MS,
    ...(w.lockReadAtMs !== undefined ? { lockReadAtMs: w.lockReadAtMs } : {}),
    timings,
    skewToleranceMs: skew,
    policy: { enabled: w.enabled ?? true, dryRun: w.dryRun ?? false },
  });
}

function observe(w: World) {
  const timings = w.timings ?? REAL_LOCK_TIMINGS;
  const skew = w.skewToleranceMs ?? SKEW_MS;
  const probes = new Map<string, ProbeResult>();
  const nodes = Object.entries(w.members).map(([id, shape]) => {
    const p = probeOf(id, shape);
    if (p) probes.set(id, p);
    const state = shape.kind === 'notRunning' ? shape.state : 'running';
    return classifyHealth({ member: { instanceId: id, state, address: addressOf(id) }, ...(p ? { probe: p } : {}) });
  });
  const read: LockItemRead = w.lockRead ?? {
    type: 'dynamodb',
    table: 'vault-data',
    present: true,
    identity: w.lockIdentity ?? IDENTITY,
    value: w.lockValue ?? VALUE,
    expiresAtNs: expiresNs(NOW_MS - w.msSinceLastRenewal + timings.ttlMs),
  };
  const lock = observeLock(read, NOW_MS, skew);
  const haType = w.haType ?? 'dynamodb';
  const verdict = assessLeadership({
    nodes,
    lock,
    history: w.history,
    haType: haType === 'raft' ? 'raft' : 'dynamodb',
    nowMs: NOW_MS,
    policy: assessPolicy(),
  });
  return { nodes, probes, verdict, lock, timings, skew, haType };
}

/** Earlier ticks saw i-0a active under the lock (IDENTITY, VALUE), then nobody. */
function sawActive(id = 'i-0a', identity = IDENTITY, value = VALUE): TickMemory[] {
  return [
    tick({ atMs: NOW_MS - 9_000, verdict: 'healthy', claimants: [id], activeInstanceId: id, lockState: 'HELD', lockIdentity: identity, lockValue: value }),
    tick({ atMs: NOW_MS - 4_000, verdict: 'no-leader', claimants: [], lockState: 'HELD', lockIdentity: identity, lockValue: value }),
  ];
}

/** The world in which a takeover is due: i-0a refuses, missed a renewal, i-0b and i-0c are healthy standbys naming it. */
function dueWorld(overrides: Partial<World> = {}): World {
  return {
    members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } },
    msSinceLastRenewal: 7_000,
    history: historyOf(...sawActive()),
    ...overrides,
  };
}

/** The decision's evidence, failing the test unless it is `action`. */
function evidenceOf(d: TakeoverDecision, action: 'delete' | 'dry-run' = 'delete'): TakeoverEvidence {
  if (d.action === 'skip') assert.fail(`expected ${action}, got skip: ${d.reason}`);
  assert.equal(d.action, action, d.reason);
  return d.evidence;
}

function skipReason(d: TakeoverDecision): string {
  assert.equal(d.action, 'skip', `expected no takeover, got ${d.action}: ${d.reason}`);
  return d.reason;
}

describe('decideTakeover: the takeover is due', () => {
  it('a holder that refuses connections and missed a renewal, with healthy standbys: delete on the exact Identity and Expires', () => {
    const d = decide(dueWorld());
    const ev = evidenceOf(d);
    assert.equal(ev.holder, 'i-0a');
    assert.equal(ev.proof, 'api-refused');
    assert.match(ev.proofDetail, /refused.*ECONNREFUSED/);
    assert.equal(ev.identity, IDENTITY);
    assert.equal(ev.value, VALUE);
    assert.equal(ev.expiresAtNs, expiresNs(NOW_MS - 7_000 + 15_000));
    assert.equal(ev.msSinceLastRenewal, 7_000);
    assert.equal(ev.renewalDeadlineMs, DEADLINE_MS);
    assert.equal(ev.lockRemainingMs, 8_000);
    assert.deepEqual(ev.standbys, ['i-0b', 'i-0c']);
    assert.match(d.reason, /i-0a holds the lock .* is dead .* last renewed 7000 ms ago/);
  });

  it('the missed renewal is judged when the lock was read, not after the probes: a renewal not yet due then proves nothing', () => {
    // Last renewal 7 s before the decision, but the item was read 3 s before it: at the read
    // only 4 s had passed (< 5 s renew + 1 s skew), and the holder may have renewed since.
    assert.match(skipReason(decide(dueWorld({ lockReadAtMs: NOW_MS - 3_000 }))), /last renewed the lock 4000 ms ago, within the renew interval plus skew tolerance/);
    // Read 0.5 s before the decision: 6.5 s had passed at the read, a renewal was missed.
    assert.equal(evidenceOf(decide(dueWorld({ lockReadAtMs: NOW_MS - 500 }))).msSinceLastRenewal, 6_500);
  });

  for (const state of ['stopped', 'stopping', 'shutting-down', 'terminated', 'pending'] as InstanceState[]) {
    it(`a holder whose instance is ${state} (EC2 DescribeInstances State.Name) is proven dead`, () => {
      const d = decide(dueWorld({ members: { 'i-0a': { kind: 'notRunning', state }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }));
      const ev = evidenceOf(d);
      assert.equal(ev.proof, 'instance-not-running');
      assert.equal(ev.proofDetail, `instance is ${state}`);
    });
  }

  it('a performance standby alone can take over', () => {
    const d = decide(dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'perfStandby' } } }));
    assert.equal(d.action, 'delete', d.reason);
  });

  it('one healthy standby is enough while the others are ha-unhealthy or sealed', () => {
    const d = decide(
      dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'haUnhealthy' }, 'i-0c': { kind: 'sealed' }, 'i-0d': { kind: 'standby' } } }),
    );
    assert.deepEqual(evidenceOf(d).standbys, ['i-0d']);
  });

  it('an item already past its Expires is still deleted for a dead holder (contenders compare it with their own clocks)', () => {
    const d = decide(dueWorld({ msSinceLastRenewal: 16_000 }));
    assert.equal(evidenceOf(d).lockRemainingMs, -1_000);
  });

  it('the renewal deadline follows the timings the nodes run (compressed in the sandbox)', () => {
    const timings = scaledTimings(0.1); // renew 500 ms, TTL 1.5 s
    assert.equal(decide(dueWorld({ timings, skewToleranceMs: 250, msSinceLastRenewal: 751 })).action, 'delete');
    assert.equal(decide(dueWorld({ timings, skewToleranceMs: 250, msSinceLastRenewal: 750 })).action, 'skip');
  });
});

describe('decideTakeover: each missing condition means no takeover, with the reason', () => {
  const rows: Array<{ name: string; world: World; reason: RegExp; applicable?: boolean }> = [
    // (a) proven dead
    { name: 'the holder times out (a partition or a wedged process, never proof)', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'timeout' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /not proven dead \(health timeout, leader timeout\).*never a timeout/ },
    { name: 'health refused but leader timed out', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused', leader: 'timeout' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /not proven dead \(health refused, leader timeout\)/ },
    { name: 'a TLS failure', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'tls' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /not proven dead \(health tls/ },
    { name: 'a garbage answer', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'bad-json' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /not proven dead \(health bad-json/ },
    { name: 'a network error', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'network' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /not proven dead \(health network/ },
    { name: 'no address to probe', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'no-address' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /not proven dead/ },
    { name: 'the holder answers (sealed)', world: dueWorld({ members: { 'i-0a': { kind: 'sealed' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /not proven dead \(health answered HTTP 503/ },
    // (b) missed renewal
    { name: 'renewed exactly renew interval + skew ago', world: dueWorld({ msSinceLastRenewal: DEADLINE_MS }), reason: /last renewed the lock 6000 ms ago, within .* \(6000 ms\)/ },
    { name: 'renewed just now', world: dueWorld({ msSinceLastRenewal: 200 }), reason: /last renewed the lock 200 ms ago/ },
    { name: 'a larger skew tolerance covers the gap', world: dueWorld({ skewToleranceMs: 3_000 }), reason: /within the renew interval plus skew tolerance \(8000 ms\)/ },
    // (c) someone to take over
    { name: 'the only standby is ha-unhealthy (474)', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'haUnhealthy' } } }), reason: /no unsealed standby with a healthy HA connection/ },
    { name: 'the others are sealed', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'sealed' }, 'i-0c': { kind: 'sealed' } } }), reason: /no unsealed standby/ },
    { name: 'the other is stopped', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'notRunning', state: 'stopped' }, 'i-0c': { kind: 'sealed' } } }), reason: /no unsealed standby/ },
    // (d) guards
    { name: 'probe-blind (nobody answers at all)', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'fails', health: 'timeout' }, 'i-0c': { kind: 'fails', health: 'timeout' } } }), reason: /probe-blind/ },
    { name: 'policy.deadLeaderTakeover is false', world: dueWorld({ enabled: false }), reason: /policy\.deadLeaderTakeover is false/ },
    // holder identification
    { name: 'no remembered tick saw anyone active', world: dueWorld({ history: historyOf() }), reason: /cannot be tied to a member/ },
    { name: 'the lock changed hands after the last active was seen (new Identity)', world: dueWorld({ history: historyOf(...sawActive('i-0a', OTHER_IDENTITY, OTHER_VALUE)) }), reason: /taken after i-0a was last seen active .*never observed/ },
    { name: 'same Identity, another leader UUID (Value)', world: dueWorld({ history: historyOf(...sawActive('i-0a', IDENTITY, OTHER_VALUE)) }), reason: /never observed/ },
    {
      name: 'the last tick with claimants named none legitimate',
      world: dueWorld({ history: historyOf(tick({ atMs: NOW_MS - 3_000, verdict: 'split-brain', claimants: ['i-0a', 'i-0b'], lockIdentity: IDENTITY, lockValue: VALUE })) }),
      reason: /saw i-0a and i-0b claim active and named none/,
    },
    {
      name: 'ticks under this lock named two different actives',
      world: dueWorld({
        history: historyOf(
          tick({ atMs: NOW_MS - 9_000, claimants: ['i-0c'], activeInstanceId: 'i-0c', lockIdentity: IDENTITY, lockValue: VALUE }),
          ...sawActive(),
        ),
      }),
      reason: /named both i-0a and i-0c active/,
    },
    { name: 'the holder is no longer a member', world: dueWorld({ members: { 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } }), reason: /tied to i-0a, which is no longer a member/ },
    {
      name: "the standbys' majority names another member that answers",
      world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'standby', leader: 'i-0d' }, 'i-0c': { kind: 'standby', leader: 'i-0d' }, 'i-0d': { kind: 'standby' } } }),
      reason: /standbys' majority names .*i-0d.*not i-0a/,
    },
    // the question does not arise
    { name: 'a member claims active', world: dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'refused' }, 'i-0b': { kind: 'active' }, 'i-0c': { kind: 'standby', leader: 'i-0b' } } }), reason: /i-0b claims active/, applicable: false },
    { name: 'no lock item', world: dueWorld({ lockRead: { type: 'dynamodb', table: 'vault-data', present: false } }), reason: /lock ABSENT/, applicable: false },
    { name: 'the lock is unreadable', world: dueWorld({ lockRead: { type: 'dynamodb', table: 'vault-data', error: 'AccessDeniedException' } }), reason: /lock UNREADABLE/, applicable: false },
    { name: 'integrated storage (raft)', world: dueWorld({ haType: 'raft', lockRead: { type: 'raft' } }), reason: /haLock type "raft"/, applicable: false },
    { name: 'a haLock type without a readable lock', world: dueWorld({ haType: 'none' }), reason: /haLock type "none"/, applicable: false },
  ];
  for (const row of rows) {
    it(`${row.name} → no takeover`, () => {
      const d = decide(row.world);
      assert.match(skipReason(d), row.reason);
      if (d.action === 'skip') assert.equal(d.applicable, row.applicable ?? true);
    });
  }

  it('a holder that only times out is not taken over even long after it stopped renewing; the report shows both facts', () => {
    const d = decide(dueWorld({ members: { 'i-0a': { kind: 'fails', health: 'timeout' }, 'i-0b': { kind: 'standby' } }, msSinceLastRenewal: 14_000 }));
    assert.match(skipReason(d), /timeout/);
    if (d.action === 'skip') {
      assert.equal(d.evidence?.holder, 'i-0a');
      assert.equal(d.evidence?.msSinceLastRenewal, 14_000);
      assert.equal(d.evidence?.proof, undefined);
    }
  });

  it('a zombie leader that keeps renewing is not taken over: its fresh renewal is the reason', () => {
    // The previous leaderless tick saw the same lock with an earlier Expires: the holder renews.
    const history = historyOf(
      ...sawActive(),
      tick({ atMs: NOW_MS - 2_000, verdict: 'no-leader', claimants: [], lockState: 'HELD', lockIdentity: IDENTITY, lockValue: VALUE, lockExpiresAtNs: expiresNs(NOW_MS + 8_000) }),
    );
    const w = dueWorld({ history, msSinceLastRenewal: 1_000 });
    assert.equal(verdictOf(w).kind, 'zombie-leader');
    assert.match(skipReason(decide(w)), /last renewed the lock 1000 ms ago/);
  });

  it('a holder that renewed while unreachable (zombie) and then stopped and missed a renewal is taken over', () => {
    const history = historyOf(
      ...sawActive(),
      tick({ atMs: NOW_MS - 9_000, verdict: 'no-leader', claimants: [], lockState: 'HELD', lockIdentity: IDENTITY, lockValue: VALUE, lockExpiresAtNs: expiresNs(NOW_MS + 2_000) }),
    );
    const w = dueWorld({ history, members: { 'i-0a': { kind: 'notRunning', state: 'stopped' }, 'i-0b': { kind: 'standby' }, 'i-0c': { kind: 'standby' } } });
    assert.equal(verdictOf(w).kind, 'zombie-leader');
    assert.equal(evidenceOf(decide(w)).proof, 'instance-not-running');
  });

  it('dry run reports what would be deleted, with the full evidence, and deletes nothing', () => {
    const d = decide(dueWorld({ dryRun: true }));
    const ev = evidenceOf(d, 'dry-run');
    assert.match(d.reason, /^dry run: would delete the lock item/);
    assert.equal(ev.identity, IDENTITY);
    assert.deepEqual(ev.standbys, ['i-0b', 'i-0c']);
  });
});

describe('tieLockToMember', () => {
  it('takes the legitimate active of the newest tick with a claimant when it saw this very lock', () => {
    assert.deepEqual(
      tieLockToMember(historyOf(...sawActive('i-0b')), IDENTITY, VALUE, NOW_MS),
      { holder: 'i-0b', how: 'seen active under this Identity and Value 9000 ms ago' },
    );
  });

  it('a sole claimant counts when no legitimate active was named (e.g. the lock was unreadable that tick but the values match)', () => {
    const t = tick({ atMs: NOW_MS - 1_000, verdict: 'stale-leader', claimants: ['i-0c'], lockIdentity: IDENTITY, lockValue: VALUE });
    const tie = tieLockToMember(historyOf(t), IDENTITY, VALUE, NOW_MS);
    assert.ok('holder' in tie && tie.holder === 'i-0c');
  });

  it('an older active under another lock does not count once a newer tick saw a different claimant', () => {
    const tie = tieLockToMember(
      historyOf(...sawActive('i-0a'), tick({ atMs: NOW_MS - 1_000, claimants: ['i-0b'], activeInstanceId: 'i-0b', lockIdentity: OTHER_IDENTITY, lockValue: OTHER_VALUE })),
      IDENTITY,
      VALUE,
      NOW_MS,
    );
    assert.ok('reason' in tie);
  });
});

/* ---------------- properties over random worlds ---------------- */

const FAILURES: ProbeFailureReason[] = ['refused', 'timeout', 'tls', 'bad-json', 'oversized', 'dns', 'network', 'no-address'];
const STATES: InstanceState[] = ['running', 'pending', 'stopping', 'stopped', 'shutting-down', 'terminated'];

const holderShape: fc.Arbitrary<Shape> = fc.oneof(
  fc.record({ kind: fc.constant('fails' as const), health: fc.constantFrom(...FAILURES), leader: fc.constantFrom(...FAILURES) }),
  fc.record({ kind: fc.constant('fails' as const), health: fc.constant('refused' as const) }),
  fc.record({ kind: fc.constant('notRunning' as const), state: fc.constantFrom(...STATES.filter((s) => s !== 'running')) }),
  fc.constantFrom<Shape>({ kind: 'sealed' }, { kind: 'standby' }, { kind: 'active' }),
);
const otherShape: fc.Arbitrary<Shape> = fc.oneof(
  fc.constantFrom<Shape>({ kind: 'standby' }, { kind: 'perfStandby' }, { kind: 'haUnhealthy' }, { kind: 'sealed' }, { kind: 'standby', leader: 'i-0b' }),
  fc.record({ kind: fc.constant('fails' as const), health: fc.constantFrom(...FAILURES) }),
  fc.record({ kind: fc.constant('notRunning' as const), state: fc.constantFrom(...STATES.filter((s) => s !== 'running')) }),
);
const timingsArb = fc.constantFrom(REAL_LOCK_TIMINGS, scaledTimings(0.1), scaledTimings(0.5), scaledTimings(2));
const historyArb = fc.constantFrom(
  historyOf(...sawActive()),
  historyOf(...sawActive('i-0a', OTHER_IDENTITY, OTHER_VALUE)),
  historyOf(),
  historyOf(
    ...sawActive(),
    tick({ atMs: NOW_MS - 1_000, verdict: 'no-leader', claimants: [], lockState: 'HELD', lockIdentity: IDENTITY, lockValue: VALUE, lockExpiresAtNs: expiresNs(NOW_MS) }),
  ),
);

const worldArb: fc.Arbitrary<World> = fc.record({
  members: fc
    .tuple(holderShape, fc.array(otherShape, { minLength: 1, maxLength: 4 }))
    .map(([holder, others]) => Object.fromEntries([['i-0a', holder], ...others.map((s, i) => [`i-0${'bcde'[i]}`, s])]) as Record<string, Shape>),
  msSinceLastRenewal: fc.integer({ min: -5_000, max: 40_000 }),
  history: historyArb,
  timings: timingsArb,
  skewToleranceMs: fc.integer({ min: 0, max: 5_000 }),
  enabled: fc.boolean(),
  dryRun: fc.boolean(),
});

const RUNS = { numRuns: 400 };

describe('decideTakeover properties', () => {
  it('never deletes a lock whose holder renewed within the renew interval plus the skew tolerance', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const deadline = (w.timings ?? REAL_LOCK_TIMINGS).renewIntervalMs + (w.skewToleranceMs ?? SKEW_MS);
        fc.pre(w.msSinceLastRenewal <= deadline);
        const d = decide(w);
        assert.ok(d.action === 'skip', `${d.action} after a renewal ${w.msSinceLastRenewal} ms ago (deadline ${deadline} ms): ${d.reason}`);
      }),
      RUNS,
    );
  });

  it('never deletes on a timeout alone: a running holder is proof of nothing unless both requests were refused', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const holder = w.members['i-0a']!;
        fc.pre(holder.kind !== 'notRunning' && !(holder.kind === 'fails' && holder.health === 'refused' && (holder.leader ?? 'refused') === 'refused'));
        assert.equal(decide(w).action, 'skip');
      }),
      RUNS,
    );
  });

  it('never deletes while probe-blind, in dry run or with the policy off', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const d = decide(w);
        const everyoneSilent = Object.values(w.members).every((s) => s.kind === 'fails' || s.kind === 'notRunning');
        if (everyoneSilent || w.dryRun || w.enabled === false) assert.notEqual(d.action, 'delete', d.reason);
        if (w.enabled === false) assert.equal(d.action, 'skip');
      }),
      RUNS,
    );
  });

  it('a delete always rests on the whole evidence, and on exactly the attributes observed', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const d = decide(w);
        if (d.action === 'skip') return;
        const timings = w.timings ?? REAL_LOCK_TIMINGS;
        const ev = d.evidence;
        assert.equal(ev.holder, 'i-0a');
        assert.equal(ev.identity, IDENTITY);
        assert.equal(ev.value, VALUE);
        assert.equal(ev.expiresAtNs, expiresNs(NOW_MS - w.msSinceLastRenewal + timings.ttlMs));
        assert.ok(ev.msSinceLastRenewal > timings.renewIntervalMs + (w.skewToleranceMs ?? SKEW_MS));
        const holder = w.members['i-0a']!;
        assert.ok(holder.kind === 'notRunning' || (holder.kind === 'fails' && holder.health === 'refused'));
        assert.ok(ev.standbys.length > 0);
        for (const id of ev.standbys) assert.ok(['standby', 'perfStandby'].includes(w.members[id]!.kind), `${id} is ${w.members[id]!.kind}`);
        assert.equal(d.action === 'dry-run', w.dryRun === true);
      }),
      RUNS,
    );
  });

  it('some random worlds do take over (the properties above are not vacuous)', () => {
    const samples = fc.sample(worldArb, { numRuns: 2_000, seed: 7 });
    assert.ok(samples.some((w) => decide(w).action === 'delete'));
  });
});
