/**
 * `npm run chaos`, a bounded subset (the whole catalogue takes minutes): the
 * invariant monitor catches a world that breaks each invariant; a few faults
 * run end to end, short, against the real controller in its scheduled mode
 * and the real replace-node state machine, with no violation and a
 * recovery; the hostile-input sweep; and the CLI's contract (a table, then a
 * last line of JSON that tools outside the repository read).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { CONTROL_TABLE, LOCK_TABLE, Sandbox } from '../../sandbox/environment.js';
import { waitFor } from '../../sandbox/sim/index.js';
import { InvariantMonitor } from '../../sandbox/chaos/invariants.js';
import { garbageOverride, oversizedOverride, type HostileCounter } from '../../sandbox/chaos/hostile-answers.js';
import { vaultRequest } from '../../functions/adapters/vault-http.js';
import { CONTROLLER_FAULTS } from '../../sandbox/chaos/controller-faults.js';
import { runControllerFault, type FaultRow } from '../../sandbox/chaos/controller-run.js';
import { REPLACE_NODE_FAULTS, runReplaceNodeFault } from '../../sandbox/chaos/replace-node-faults.js';
import { runHostileSweep } from '../../sandbox/chaos/hostile-inputs.js';
import { formatTable, summarise } from '../../sandbox/chaos/suite.js';
import { seededRandom } from '../../bench/failover-run.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function fault<T extends { name: string }>(list: readonly T[], name: string): T {
  const f = list.find((x) => x.name === name);
  assert.ok(f, `no fault named ${name}`);
  return f;
}

function assertClean(row: FaultRow): void {
  assert.equal(row.error, undefined, row.error);
  assert.deepEqual(row.violations, [], formatTable([row]).join('\n'));
  assert.ok(row.checks > 100, `only ${row.checks} checks`);
}

describe('the invariant monitor catches a world that breaks each invariant', () => {
  let sb: Sandbox;
  let m: InvariantMonitor;
  beforeAll(async () => {
    sb = new Sandbox({ ha: 'dynamodb', fast: true, speed: 20, controller: 'scheduled', startController: false, clientProbe: false });
    await sb.start();
    m = new InvariantMonitor(sb, { dryRun: false, fencing: 'deregister', lockTable: LOCK_TABLE, controlTable: CONTROL_TABLE, sealedGraceMs: 50, blindGraceMs: 50 });
  });
  afterAll(async () => {
    await sb?.stop();
  });

  it('a steady sandbox breaks nothing', () => {
    m.sample();
    assert.deepEqual(m.violations, []);
    assert.ok(m.checks > 0);
  });

  it('two routed claimants, a sealed target kept past the grace, an empty group: each is a violation', async () => {
    const active = sb.activeSlot()!;
    const rogue = sb.slots.find((s) => s !== active)!;
    const tg = sb.targetGroupArn;
    const rogueId = sb.instanceOf(rogue.name)!;
    sb.forceActive(rogue.name, true);
    sb.aws.targetGroups.register(tg, [{ id: rogueId }]);
    // A new target is `initial` and gets no traffic (DESIGN §3.5): registered beside the active, not routed.
    m.sample();
    assert.ok(!m.violations.some((v) => v.invariant === 'never two actives routed'), JSON.stringify(m.violations));
    await waitFor(() => sb.targetState(rogueId) === 'healthy', { timeoutMs: 10_000, intervalMs: 10 });
    m.sample();
    assert.ok(m.violations.some((v) => v.invariant === 'never two actives routed'), JSON.stringify(m.violations));
    sb.forceActive(rogue.name, false);

    await rogue.node.seal();
    m.sample();
    await new Promise((r) => setTimeout(r, 100));
    m.sample();
    assert.ok(m.violations.some((v) => v.invariant === 'sealed or uninitialized never routed'), JSON.stringify(m.violations));

    sb.aws.targetGroups.deregister(tg, [{ id: sb.instanceOf(active.name)! }, { id: sb.instanceOf(rogue.name)! }]);
    await waitFor(() => (sb.sample()?.registered.length ?? 1) === 0, { timeoutMs: 5_000, intervalMs: 10 });
    m.sample();
    assert.ok(m.violations.some((v) => v.invariant === 'never an empty target group while an unsealed node lives'), JSON.stringify(m.violations));
  });

  it('a node\'s reply override: 50 MB answers are cut by the probe, garbage is a failure value, healing restores Vault\'s answer', async () => {
    const slot = sb.slots.find((s) => s.node.status().running && !s.node.status().sealed)!;
    const url = slot.node.baseUrl!;
    const counter: HostileCounter = { cases: 0 };
    const ask = () => vaultRequest<unknown>(url, '/v1/sys/health', { timeoutMs: 2_000, maxResponseBytes: 65_536 });
    slot.node.setReplyOverride(oversizedOverride(counter));
    const big = [await ask(), await ask()];
    assert.deepEqual(big.map((a) => (a.ok ? `ok ${a.status}` : a.reason)), ['oversized', 'oversized']);
    slot.node.setReplyOverride(garbageOverride(seededRandom(7), counter));
    for (let i = 0; i < 20; i++) {
      const a = await ask();
      assert.ok(!a.ok || a.body === undefined || (typeof a.body === 'object' && a.body !== null && !Array.isArray(a.body)), JSON.stringify(a).slice(0, 200));
    }
    assert.equal(counter.cases, 22);
    slot.node.setReplyOverride(undefined);
    const healed = await ask();
    assert.ok(healed.ok && (healed.status === 200 || healed.status === 429), JSON.stringify(healed).slice(0, 200));
  });

  it('a deregistration that would empty the group while a node answers is a violation at the call, before any sample', async () => {
    const active = sb.activeSlot()!;
    const id = sb.instanceOf(active.name)!;
    if (!sb.registeredTargets().some((r) => r.instanceId === id)) sb.aws.targetGroups.register(sb.targetGroupArn, [{ id }]);
    const standby = sb.slots.find((s) => s !== active && s.node.status().running && !s.node.status().sealed)!;
    const standbyId = sb.instanceOf(standby.name)!;
    sb.aws.targetGroups.register(sb.targetGroupArn, [{ id: standbyId }]);
    await waitFor(() => sb.registeredTargets().length === 2, { timeoutMs: 5_000, intervalMs: 10 });
    const before = m.violations.length;
    m.before({ service: 'elbv2', operation: 'DeregisterTargets', input: { Targets: [{ Id: standbyId }] }, atMs: Date.now() });
    assert.equal(m.violations.length, before, 'one target stays: not a violation');
    m.before({ service: 'elbv2', operation: 'DeregisterTargets', input: { Targets: [{ Id: id }, { Id: standbyId }] }, atMs: Date.now() });
    assert.deepEqual(
      m.violations.slice(before).map((v) => v.invariant),
      ['never an empty target group while an unsealed node lives'],
    );
  });

  it('a mutation in dry run or while blind, and deleting a live holder\'s lock: each is a violation', () => {
    const active = sb.activeSlot()!;
    const identity = active.node.status().lockIdentity!;
    const before = m.violations.length;
    m.setDryRun(true);
    m.before({ service: 'elbv2', operation: 'RegisterTargets', input: { Targets: [{ Id: 'i-x' }] }, atMs: Date.now() });
    m.setDryRun(false);
    m.setBlind(true, Date.now() - 1_000);
    m.before({ service: 'elbv2', operation: 'DeregisterTargets', input: { Targets: [{ Id: 'i-x' }] }, atMs: Date.now() });
    m.setBlind(false);
    m.before({
      service: 'dynamodb',
      operation: 'DeleteItem',
      input: { TableName: LOCK_TABLE, ExpressionAttributeValues: { ':identity': { B: new TextEncoder().encode(identity) }, ':expires': { N: '1' } } },
      atMs: Date.now(),
    });
    assert.deepEqual(
      m.violations.slice(before).map((v) => v.invariant),
      ['dry run mutates nothing', 'probe-blind changes nothing', 'the lock is deleted only with the §5.10 evidence'],
    );
  });
});

describe('chaos faults, short, end to end (0 violations, recovered)', () => {
  const rows: FaultRow[] = [];

  it.each(['DeregisterTargets fails for a minute', 'a run killed mid-tick', 'node answers garbage (active)'])('%s', async (name) => {
    const row = await runControllerFault(fault(CONTROLLER_FAULTS, name), { random: seededRandom(42), durationS: 20 });
    rows.push(row);
    assertClean(row);
    assert.notEqual(row.recoveryS, null, `not recovered: ${row.notes.join('; ')}`);
    // The fault took effect: calls failed by injection, garbage answers served, a killed run's lease release refused.
    assert.ok(row.fuzzCases > 0, `no hostile case was generated: ${row.notes.join('; ')}`);
  });

  it('stale leader (active cut from DynamoDB): the split-brain swap never empties the group nor routes two actives', async () => {
    // Deregistering the claimant first emptied the group for one round trip; the
    // monitor checks every deregistration at the call, so that fails here every time.
    // 40 s: the cut active claims active for ~25 s (TTL, then Vault's failed lock reads).
    const row = await runControllerFault(fault(CONTROLLER_FAULTS, 'stale leader (active cut from DynamoDB)'), { random: seededRandom(42), durationS: 40 });
    rows.push(row);
    assertClean(row);
    assert.notEqual(row.recoveryS, null, `not recovered: ${row.notes.join('; ')}`);
    assert.ok(row.notes.some((n) => /split-brain/.test(n) && /[1-9]\d* applied/.test(n)), `no split-brain swap happened: ${row.notes.join('; ')}`);
  });

  it('replaceNode: unseal fails — the execution compensates, the volume is accounted for, nothing leaks', async () => {
    const row = await runReplaceNodeFault(fault(REPLACE_NODE_FAULTS, 'replaceNode: unseal fails (share parameters gone)'), { random: seededRandom(42) });
    rows.push(row);
    assertClean(row);
  });

  it('the hostile-input sweep: every property holds on the cases it tries, and they are counted', async () => {
    const row = await runHostileSweep({ seed: 42, numRuns: 40 });
    rows.push(row);
    // Only the reported KNOWN DEFECT F1 (a lock Identity echoed unbounded) may show here until it is fixed.
    assert.deepEqual(row.violations.filter((v) => !/characters/.test(v.detail)), [], formatTable([row]).join('\n'));
    assert.ok(row.fuzzCases >= 200, `${row.fuzzCases} cases`);
  });

  it('the table and the summary add the rows up', () => {
    const s = summarise(rows);
    assert.equal(s.faults, rows.length);
    assert.equal(s.checks, rows.reduce((n, r) => n + r.checks, 0));
    const table = formatTable(rows);
    assert.match(table[0]!, /^fault\s+duration\s+checks\s+violations\s+recovery\s+fuzz cases$/);
    assert.equal(table.filter((l) => rows.some((r) => l.startsWith(r.fault))).length >= rows.length, true);
  });
});

describe('npm run chaos (the CLI)', () => {
  it('prints the table, and its last line is the JSON summary', async () => {
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'sandbox/chaos/cli.ts', '--only', 'control table unreachable', '--duration', '10'],
        { cwd: ROOT, timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      );
    });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0]!, /^fault\s+duration\s+checks\s+violations\s+recovery\s+fuzz cases$/);
    assert.match(run.stdout, /^control table unreachable\s+10 s\s+\d+\s+0\s+\d+\.\d s\s+\d+$/m);
    const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(summary), ['faults', 'checks', 'violations', 'fuzzCases']);
    assert.equal(summary['faults'], 1);
    assert.equal(summary['violations'], 0);
    assert.ok((summary['checks'] as number) > 0);
  });
});
