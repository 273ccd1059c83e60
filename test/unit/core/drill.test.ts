/**
 * Pure decisions of the failover drill, part 1 (functions/core/drill.ts): the
 * input, the budgets, when a drill may start, and what it injects.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  checkDrillInput,
  drillLeaseTtlMs,
  drillPhases,
  MAX_PROBE_WINDOW_SECONDS,
  MAX_RECORDED_POLLS,
  observeBudget,
  planFault,
  pollOf,
  postCheckBudget,
  preCheck,
  restoreBudget,
  secondsSince,
  storageKindOf,
  type DrillScenario,
  type DrillSnapshot,
} from '../../../functions/core/drill.js';
import { parseConfig } from '../../../functions/config/load.js';
import { InvalidInputError } from '../../../functions/config/errors.js';
import type { NodeHealth, TargetView } from '../../../functions/core/types.js';
import { config, configDoc } from '../replacement/fixtures.js';
import { node, target } from './factories.js';

const A = 'i-0aaaaaaaaaaaaaaa1';
const B = 'i-0bbbbbbbbbbbbbbb2';
const C = 'i-0ccccccccccccccc3';
const cluster = config().clusters[0]!;
const T0 = Date.parse('2026-11-22T10:00:00.000Z');

function snap(nodes: NodeHealth[], targets: TargetView[], legitimateActive: string | undefined, kind: DrillSnapshot['verdict']['kind'] = 'healthy', slots: Record<string, string> = { [A]: 'vault-a', [B]: 'vault-b', [C]: 'vault-c' }): DrillSnapshot {
  return { nodes, targets, verdict: { kind, reasons: kind === 'healthy' ? [] : ['because'], ...(legitimateActive ? { legitimateActive } : {}) }, slotByInstance: slots };
}

const steady = (): DrillSnapshot => snap([node.active(A), node.standby(B, A), node.standby(C, A)], [target(A)], A);

/** A config document with the cluster's sections changed (the fixture's is raft, active-only, fencing deregister). */
function clusterWith(change: (c: Record<string, unknown>) => void) {
  const doc = configDoc() as { clusters: Array<Record<string, unknown>> };
  change(doc.clusters[0]!);
  return parseConfig(doc, 'test');
}

describe('checkDrillInput', () => {
  it('applies the contract defaults (dryRun false, maxRtoSeconds 120, restore, no alarms, split-brain 20 s)', () => {
    assert.deepEqual(checkDrillInput({ cluster: 'prod', scenario: 'kill-active' }, config()), {
      cluster: 'prod',
      scenario: 'kill-active',
      dryRun: false,
      dryRunFromPolicy: false,
      maxRtoSeconds: 120,
      stopOnAlarms: [],
      restore: true,
      maxSplitBrainSeconds: 20,
    });
  });

  it('takes the new optional fields and drops duplicate alarm names', () => {
    const r = checkDrillInput({ cluster: 'prod', scenario: 'seal-active', stopOnAlarms: ['a', 'b', 'a'], restore: false, maxSplitBrainSeconds: 5 }, config());
    assert.deepEqual([r.stopOnAlarms, r.restore, r.maxSplitBrainSeconds], [['a', 'b'], false, 5]);
  });

  it('turns a drill into a dry run when the cluster policy says dryRun', () => {
    const r = checkDrillInput({ cluster: 'prod', scenario: 'step-down' }, config({ dryRunPolicy: true }));
    assert.equal(r.dryRun, true);
    assert.equal(r.dryRunFromPolicy, true);
  });

  it('refuses partition-storage for storage whose endpoint is unknown (haLock none), naming the scenario', () => {
    const cfg = clusterWith((c) => (c.haLock = { type: 'none' }));
    assert.throws(() => checkDrillInput({ cluster: 'prod', scenario: 'partition-storage' }, cfg), (e: unknown) => e instanceof InvalidInputError && /^scenario: partition-storage needs haLock/.test(e.problems[0] ?? ''));
    assert.equal(checkDrillInput({ cluster: 'prod', scenario: 'partition-clients' }, cfg).scenario, 'partition-clients');
  });

  for (const [input, field] of [
    [{ cluster: 'prod', scenario: 'reboot' }, 'scenario'],
    [{ cluster: 'prod', scenario: 'kill-active', maxRtoSeconds: 0 }, 'maxRtoSeconds'],
    [{ cluster: 'prod', scenario: 'kill-active', dryRun: 'yes' }, 'dryRun'],
    [{ cluster: 'prod', scenario: 'kill-active', stopOnAlarms: Array.from({ length: 21 }, (_, i) => `a${i}`) }, 'stopOnAlarms'],
    [{ cluster: 'prod', scenario: 'kill-active', stopOnAlarms: ['bad\u0007name'] }, 'stopOnAlarms[0]'],
    [{ cluster: 'prod', scenario: 'kill-active', maxSplitBrainSeconds: 3601 }, 'maxSplitBrainSeconds'],
    [{ scenario: 'kill-active' }, 'cluster'],
    [{ cluster: 'elsewhere', scenario: 'kill-active' }, 'cluster'],
  ] as const) {
    it(`rejects ${JSON.stringify(input)} naming ${field}`, () => {
      assert.throws(() => checkDrillInput(input, config()), (e: unknown) => e instanceof InvalidInputError && e.problems.some((p) => p.startsWith(`${field}:`)));
    });
  }

  it('storageKindOf names what a storage partition cuts', () => {
    assert.equal(storageKindOf(cluster), 'raft');
    assert.equal(storageKindOf(config({ haLock: { type: 'dynamodb', table: 't' } }).clusters[0]!), 'dynamodb');
  });
});

describe('budgets', () => {
  it('observes until maxRtoSeconds × 2 (the no-new-active stop), every few seconds, in a bounded number of polls', () => {
    for (const max of [1, 30, 120, 600, 3600]) {
      const b = observeBudget(max);
      assert.equal(b.boundSeconds, Math.ceil(max * 2));
      assert.ok(b.intervalSeconds >= 3 && Number.isInteger(b.intervalSeconds));
      assert.ok(b.maxPolls * b.intervalSeconds >= b.boundSeconds, `${max}: ${JSON.stringify(b)}`);
      assert.ok(b.maxPolls <= MAX_RECORDED_POLLS, `${max}: ${b.maxPolls} polls`);
      assert.equal(b.probeWindowMs, 0);
    }
  });

  it('with a listener, the observe task probes clients for the whole step (no Wait), bounded in time and requests', () => {
    for (const max of [1, 120, 3600]) {
      const b = observeBudget(max, { clientProbe: true });
      assert.equal(b.intervalSeconds, 0);
      assert.ok(b.probeWindowMs >= 3_000 && b.probeWindowMs <= MAX_PROBE_WINDOW_SECONDS * 1000);
      assert.equal(b.maxProbesPerPoll, Math.ceil(b.probeWindowMs / b.probeEveryMs) + 1);
      assert.equal(b.maxPolls, observeBudget(max).maxPolls);
    }
  });

  it('the lease outlives observation, restore and post-check', () => {
    const o = observeBudget(120);
    const p = postCheckBudget();
    const r = restoreBudget(cluster);
    const ttl = drillLeaseTtlMs(o, p, r);
    assert.ok(ttl > (o.boundSeconds + r.intervalSeconds * r.maxAttempts + p.intervalSeconds * p.maxAttempts) * 1000);
    assert.ok(drillLeaseTtlMs(o, p) < ttl);
    assert.equal(restoreBudget({}).maxAttempts, Math.ceil((300 + 600 + 600) / 5));
  });
});

describe('preCheck', () => {
  it('accepts a steady cluster, names the legitimate active and the standbys, and records the steady state', () => {
    const r = preCheck(steady(), 'kill-active', cluster, { nowMs: T0 });
    assert.ok(r.kind === 'ok');
    assert.deepEqual([r.oldActive, r.standbys, r.warnings], [A, [B, C], []]);
    assert.deepEqual(r.steady, { at: new Date(T0).toISOString(), verdict: 'healthy', active: A, standbys: [B, C], registered: [{ instanceId: A, state: 'healthy' }], alarms: [] });
  });

  const refusals: Array<{ name: string; s: DrillSnapshot; reason: RegExp }> = [
    { name: 'the verdict is not healthy', s: snap([node.active(A), node.standby(B, A)], [target(A)], A, 'flapping'), reason: /verdict is flapping, not healthy \(because\)/ },
    { name: 'no legitimate active can be named', s: snap([node.standby(B), node.standby(C)], [target(B)], undefined, 'no-leader'), reason: /no legitimate active/ },
    { name: 'the active is not registered', s: snap([node.active(A), node.standby(B, A)], [target(B)], A), reason: /not registered/ },
    { name: 'the active is unhealthy in the load balancer', s: snap([node.active(A), node.standby(B, A)], [target(A, 'initial')], A), reason: /is initial in the load balancer/ },
    { name: 'only sealed nodes could take over', s: snap([node.active(A), node.sealed(B), node.unreachable(C)], [target(A)], A), reason: /no unsealed standby/ },
  ];
  for (const row of refusals) {
    it(`refuses when ${row.name}`, () => {
      const r = preCheck(row.s, 'kill-active', cluster, { nowMs: T0 });
      assert.ok(r.kind === 'refused' && r.reasons.some((x) => row.reason.test(x)), JSON.stringify(r));
    });
  }

  it('refuses terminate-active for a node without a configured slot (nothing could restore it)', () => {
    const s = { ...steady(), slotByInstance: {} };
    const r = preCheck(s, 'terminate-active', cluster, { nowMs: T0 });
    assert.ok(r.kind === 'refused' && r.reasons.some((x) => /replacement slot/.test(x)));
    assert.equal(preCheck(s, 'kill-active', cluster, { nowMs: T0 }).kind, 'ok');
  });

  it('refuses when a stop-condition alarm is missing or already in ALARM, and keeps the alarms in the steady state', () => {
    const missing = preCheck(steady(), 'kill-active', cluster, { nowMs: T0, stopOnAlarms: ['a'], alarms: [] });
    assert.ok(missing.kind === 'refused' && /alarm "a" does not exist/.test(missing.reasons[0] ?? ''));
    const firing = preCheck(steady(), 'kill-active', cluster, { nowMs: T0, stopOnAlarms: ['a'], alarms: [{ name: 'a', state: 'ALARM', reason: 'too many 5xx' }] });
    assert.ok(firing.kind === 'refused' && firing.reasons[0] === 'stop-condition alarm "a" is already in ALARM (too many 5xx)');
    const bare = preCheck(steady(), 'kill-active', cluster, { nowMs: T0, stopOnAlarms: ['a'], alarms: [{ name: 'a', state: 'ALARM' }] });
    assert.ok(bare.kind === 'refused' && bare.reasons[0] === 'stop-condition alarm "a" is already in ALARM');
    const none = preCheck(steady(), 'kill-active', cluster, { nowMs: T0, alarms: [{ name: 'a', state: 'ALARM' }] });
    assert.ok(none.kind === 'ok' && none.steady.alarms.length === 0, 'alarms not named as stop conditions do not matter');
    const ok = preCheck(steady(), 'kill-active', cluster, { nowMs: T0, stopOnAlarms: ['a'], alarms: [{ name: 'a', state: 'INSUFFICIENT_DATA' }, { name: 'other', state: 'ALARM' }] });
    assert.ok(ok.kind === 'ok');
    assert.deepEqual(ok.steady.alarms, [{ name: 'a', state: 'INSUFFICIENT_DATA' }]);
  });

  it('warns that a zombie leader is not expected to lose its lock without break-lock fencing (DynamoDB)', () => {
    const dynamo = config({ haLock: { type: 'dynamodb', table: 't' } }).clusters[0]!;
    const r = preCheck(steady(), 'partition-clients', dynamo, { nowMs: T0 });
    assert.ok(r.kind === 'ok' && /policy.fencing is "deregister": .*only "break-lock"/.test(r.warnings[0] ?? ''));
    const withBreak = clusterWith((c) => {
      c.haLock = { type: 'dynamodb', table: 't' };
      (c.policy as Record<string, unknown>).fencing = 'break-lock';
    }).clusters[0]!;
    const ok = preCheck(steady(), 'partition-clients', withBreak, { nowMs: T0 });
    assert.ok(ok.kind === 'ok' && ok.warnings.length === 0);
  });
});

describe('planFault', () => {
  const plan = (scenario: DrillScenario, c = cluster) => planFault({ scenario, cluster: c, oldInstanceId: A, slot: 'vault-a', standbys: [B], maxRtoSeconds: 60 });

  it('maps each scenario to its injection on the old active', () => {
    assert.deepEqual([plan('step-down').kind, plan('step-down').controlAction], ['vault-control', 'step-down']);
    assert.deepEqual([plan('kill-active').kind, plan('kill-active').controlAction], ['vault-control', 'kill']);
    assert.deepEqual([plan('seal-active').kind, plan('seal-active').controlAction], ['vault-control', 'seal']);
    assert.deepEqual([plan('partition-clients').kind, plan('partition-clients').controlAction], ['vault-control', 'partition-clients']);
    assert.deepEqual([plan('partition-storage').kind, plan('partition-storage').controlAction], ['vault-control', 'partition-storage']);
    assert.equal(plan('stop-active-instance').kind, 'stop-instance');
    const t = plan('terminate-active');
    assert.equal(t.kind, 'terminate-instance');
    assert.deepEqual([t.keepVolumeId, t.keepNetworkInterfaceId], ['vol-0a', 'eni-0a']);
    for (const s of ['step-down', 'kill-active', 'stop-active-instance', 'terminate-active', 'partition-clients', 'partition-storage', 'seal-active'] as const) {
      assert.ok(plan(s).description.includes(A), s);
      assert.deepEqual([plan(s).volumeId, plan(s).mountPoint], ['vol-0a', '/opt/vault/data']);
    }
  });

  it('network faults carry the ports, what storage means, and a self-heal after the whole drill', () => {
    const p = plan('partition-storage');
    assert.deepEqual([p.apiPort, p.clusterPort, p.storage, p.faultDurationSeconds], [8200, 8201, 'raft', 60 * 2 + 900]);
    assert.match(p.description, /cut the Raft cluster port 8201 in both directions/);
    const dynamo = config({ haLock: { type: 'dynamodb', table: 't' } }).clusters[0]!;
    assert.match(plan('partition-storage', dynamo).description, /cut the Vault process from DynamoDB/);
    assert.equal(plan('partition-clients', clusterWith((c) => (c.haLock = { type: 'none' })).clusters[0]!).storage, '');
    assert.equal(planFault({ scenario: 'partition-clients', cluster, oldInstanceId: A, standbys: [B], maxRtoSeconds: 3600 }).faultDurationSeconds, 3600 * 2 + 900);
    assert.equal(planFault({ scenario: 'partition-clients', cluster, oldInstanceId: A, standbys: [B] }).faultDurationSeconds, 120 * 2 + 900);
  });

  it('names the load balancer it routes through (target group ARN, or a Classic Load Balancer name)', () => {
    assert.match(plan('kill-active').loadBalancer, /^arn:aws:elasticloadbalancing:.*:targetgroup\//);
    const classic = clusterWith((c) => (c.loadBalancer = { type: 'classic', loadBalancerName: 'vault-prod' })).clusters[0]!;
    assert.equal(plan('kill-active', classic).loadBalancer, 'vault-prod');
  });
});

describe('pollOf, phases and times', () => {
  it('pollOf leaves draining targets out of the registered list and keeps each node\'s class', () => {
    const p = pollOf(snap([node.active(B), node.sealed(C)], [target(A, 'draining'), target(B)], B), T0);
    assert.deepEqual(p.registered, [{ instanceId: B, state: 'healthy' }]);
    assert.deepEqual(p.classes, { [B]: 'active', [C]: 'sealed' });
    assert.equal(pollOf(snap([node.standby(B)], [], undefined, 'no-leader'), T0).legitimateActive, null);
  });

  it('ends each phase where the next recorded one starts and the last at the end', () => {
    const at = (s: number) => new Date(T0 + s * 1000).toISOString();
    const phases = drillPhases({ validate: { at: at(0) }, lease: { at: at(1) }, preCheck: { at: at(2) }, inject: { at: at(3) }, observe: { at: at(4) }, restore: { at: at(30) }, release: { at: at(40) } }, at(41));
    assert.deepEqual(
      phases.map((p) => [p.name, p.durationMs]),
      [['validate', 1000], ['acquire-lease', 1000], ['pre-check', 1000], ['inject-fault', 1000], ['observe-failover', 26000], ['restore', 10000], ['release-lease', 1000]],
    );
  });

  it('secondsSince counts from the injection with ms resolution, never negative', () => {
    assert.equal(secondsSince(new Date(T0).toISOString(), new Date(T0 + 1_234).toISOString()), 1.234);
    assert.equal(secondsSince(new Date(T0).toISOString(), new Date(T0 - 5).toISOString()), 0);
  });
});
