/**
 * The controller end to end: real handler, simulated Vault nodes over HTTP on a
 * real (dynalite) DynamoDB HA lock, mocked EC2/ELBv2/SNS. Lock timings are
 * compressed 10× (TTL 1.5 s), so a failover takes a fraction of a second.
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DeregisterTargetsCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { PublishCommand } from '@aws-sdk/client-sns';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { waitFor } from '../../sandbox/sim/index.js';
import { ControllerHarness, type HarnessOptions } from './support/controller-harness.js';
import { ConfigError } from '../../functions/config/errors.js';

let h: ControllerHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function steadyCluster(opts: HarnessOptions = {}): Promise<ControllerHarness> {
  h = new ControllerHarness(opts);
  await h.start();
  await waitFor(() => h!.activeInstances().length === 1, { timeoutMs: 5_000, intervalMs: 20 });
  // Standbys learn the leader from storage on their own refresh cycle.
  const leader = h.node(h.activeInstances()[0]!).apiAddr();
  await waitFor(() => h!.fleet.every((f) => f.node.isActive() || f.node.status().leaderAddress === leader), { timeoutMs: 5_000, intervalMs: 20 });
  const expected = opts.routing === 'all-unsealed' ? 3 : 1;
  await h.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && h!.registered.size === expected, { maxTicks: 10 });
  return h;
}

/** Safety invariant 3 over the whole timeline. */
function assertNeverTwoActivesRegistered(harness: ControllerHarness): void {
  for (const [i, s] of harness.samples.entries()) {
    assert.ok(s.registeredClaimants.length <= 1, `tick ${i + 1}: two registered nodes claim active: ${s.registeredClaimants.join(', ')}`);
  }
}

describe('controller end to end (simulated Vault, dynalite lock)', () => {
  it('steady state, active-only: registers exactly the lock holder and reports healthy', async () => {
    const harness = await steadyCluster();
    const active = harness.activeInstances()[0]!;
    const report = await harness.tick();
    const c = report.clusters[0]!;

    assert.equal(report.ticks, 1);
    assert.equal(c.name, 'e2e');
    assert.equal(c.verdict.kind, 'healthy', c.verdict.reasons.join('; '));
    assert.deepEqual([...harness.registered], [active]);
    assert.equal(harness.lockHolder(), active);
    assert.deepEqual(c.plan, { register: [], deregister: [] });
    assert.equal(c.applied, false);
    assert.match(c.outcome, /no action/);
    assert.deepEqual(
      c.nodes.map((n) => n.class).sort(),
      ['active', 'standby', 'standby'],
    );
    for (const n of c.nodes) assert.match(n.address ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    console.info(`one tick took ${c.tickDurationMs} ms`);
  });

  it('steady state, all-unsealed: registers every unsealed node', async () => {
    const harness = await steadyCluster({ routing: 'all-unsealed' });
    const c = (await harness.tick()).clusters[0]!;
    assert.equal(c.verdict.kind, 'healthy');
    assert.deepEqual([...harness.registered].sort(), harness.fleet.map((f) => f.instanceId).sort());
  });

  it('graceful step-down: make before break — the old node leaves once the new active passes the ALB check, never two', async () => {
    const harness = await steadyCluster();
    const old = harness.activeInstances()[0]!;
    await harness.node(old).stepDown();
    await waitFor(() => harness.activeInstances().some((id) => id !== old), { timeoutMs: 5_000, intervalMs: 20 });
    const now = harness.activeInstances().find((id) => id !== old)!;
    const leader = harness.node(now).apiAddr();
    await waitFor(() => harness.fleet.every((f) => f.instanceId === now || f.node.status().leaderAddress === leader), {
      timeoutMs: 5_000,
      intervalMs: 20,
    });

    // First tick: the new active is registered; the old node (now a standby that
    // forwards to it) stays until the ALB reports the new target healthy.
    const first = (await harness.tick()).clusters[0]!;
    assert.equal(first.verdict.kind, 'healthy', first.verdict.reasons.join('; '));
    assert.deepEqual(first.plan.register, [now]);
    assert.deepEqual(first.plan.deregister, []);
    assert.match(first.held.find((x) => x.instanceId === old)?.reason ?? '', /kept until .* passes the ALB health check/);
    assert.deepEqual([...harness.registered].sort(), [now, old].sort());

    // Next tick: the ALB sees the new target healthy, so the standby goes.
    const second = (await harness.tick()).clusters[0]!;
    assert.deepEqual(second.plan.deregister, [old]);
    assert.deepEqual([...harness.registered], [now]);
    assertNeverTwoActivesRegistered(harness);
  });

  it('hard kill: the dead active leaves after the hysteresis, the new lock holder is registered, never two', async () => {
    const harness = await steadyCluster({ unhealthyThreshold: 2 });
    const old = harness.activeInstances()[0]!;
    await harness.node(old).kill();

    const first = (await harness.tick()).clusters[0]!;
    // One observation of absence is not enough to act on (the ALB still sees it, the lock may still be held).
    assert.ok(harness.registered.has(old) || harness.activeInstances().length === 1, 'not removed on a single timeout unless replaced');
    assert.ok(first.held.some((x) => x.instanceId === old) || first.plan.deregister.includes(old));

    await harness.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && !harness.registered.has(old) && harness.registered.size === 1, {
      maxTicks: 30,
    });
    const now = harness.lockHolder();
    assert.ok(now && now !== old);
    assert.deepEqual([...harness.registered], [now]);
    const removedAt = harness.samples.findIndex((s) => !s.registered.includes(old));
    assert.ok(removedAt >= 1, 'the dead node survived at least one tick (hysteresis)');
    assertNeverTwoActivesRegistered(harness);
  });

  it('split brain: a standby that forces itself active is never routed; the lock holder stays registered', async () => {
    const harness = await steadyCluster();
    const legit = harness.activeInstances()[0]!;
    const rogue = harness.fleet.find((f) => f.instanceId !== legit)!.instanceId;
    harness.node(rogue).forceActive(true);
    await waitFor(() => harness.activeInstances().length === 2, { timeoutMs: 2_000, intervalMs: 20 });

    const c = (await harness.tick()).clusters[0]!;
    assert.equal(c.verdict.kind, 'split-brain');
    assert.equal(c.verdict.legitimateActive, legit, c.verdict.reasons.join('; '));
    assert.deepEqual([...harness.registered], [legit]);
    assert.ok(!c.plan.register.includes(rogue));
    assertNeverTwoActivesRegistered(harness);
  });

  it('zombie leader with break-lock: the lock is deleted after the evidence persists and a standby takes over', async () => {
    const harness = await steadyCluster({ fencing: 'break-lock', breakLockAfterTicks: 2 });
    const zombie = harness.activeInstances()[0]!;
    await harness.node(zombie).partitionClients(true, 'refuse');

    const reports = await harness.tickUntil((r) => r.clusters[0]!.fencing?.result === 'deleted', { maxTicks: 15, pauseMs: 150 });
    const verdicts = reports.map((r) => r.clusters[0]!.verdict.kind);
    assert.ok(verdicts.includes('zombie-leader'), verdicts.join(','));
    // Fencing never acts on the first sighting.
    assert.notEqual(reports[0]!.clusters[0]!.fencing?.result, 'deleted');

    await harness.tickUntil(
      (r) => r.clusters[0]!.verdict.kind === 'healthy' && harness.registered.size === 1 && !harness.registered.has(zombie),
      { maxTicks: 30, pauseMs: 150 },
    );
    const now = [...harness.registered][0]!;
    assert.notEqual(now, zombie);
    assert.ok(harness.node(now).status().holdsLeadership, 'the registered node holds the lock');
    assertNeverTwoActivesRegistered(harness);
  });

  it('probe blindness: when no member answers, nothing changes and the report says so', async () => {
    const harness = await steadyCluster();
    const before = [...harness.registered];
    const regCalls = harness.registerCalls().length;
    const deregCalls = harness.deregisterCalls().length;
    for (const f of harness.fleet) await f.node.partitionClients(true, 'hang');

    for (let i = 0; i < 3; i++) {
      const c = (await harness.tick()).clusters[0]!;
      assert.equal(c.verdict.kind, 'probe-blind');
      assert.deepEqual(c.plan, { register: [], deregister: [] });
      assert.equal(c.applied, false);
    }
    assert.deepEqual([...harness.registered], before);
    assert.equal(harness.registerCalls().length, regCalls);
    assert.equal(harness.deregisterCalls().length, deregCalls);
    // Transition to a non-healthy verdict is notified once, not every tick.
    const subjects = harness.sns.commandCalls(PublishCommand).map((c) => c.args[0].input.Subject);
    assert.equal(subjects.filter((s) => s?.includes('probe-blind')).length, 1);
  });

  it('sealed standby in all-unsealed routing: deregistered in the first tick that sees it sealed', async () => {
    const harness = await steadyCluster({ routing: 'all-unsealed' });
    const active = harness.activeInstances()[0]!;
    const victim = harness.fleet.find((f) => f.instanceId !== active)!.instanceId;
    await harness.node(victim).seal();

    const c = (await harness.tick()).clusters[0]!;
    assert.equal(c.nodes.find((n) => n.instanceId === victim)?.class, 'sealed');
    assert.deepEqual(c.plan.deregister, [victim]);
    assert.equal(c.applied, true);
    assert.equal(harness.registered.has(victim), false);
    assert.equal(harness.registered.has(active), true);
  });

  it('dry run: computes and reports the plan but sends no mutation', async () => {
    const harness = await steadyCluster({ routing: 'all-unsealed' });
    harness.setConfig({ routing: 'all-unsealed', dryRun: true });
    const active = harness.activeInstances()[0]!;
    const victim = harness.fleet.find((f) => f.instanceId !== active)!.instanceId;
    const regCalls = harness.registerCalls().length;
    const deregCalls = harness.deregisterCalls().length;
    await harness.node(victim).seal();

    const c = (await harness.tick()).clusters[0]!;
    assert.deepEqual(c.plan.deregister, [victim]);
    assert.equal(c.applied, false);
    assert.match(c.outcome, /^dry run/);
    assert.equal(harness.registerCalls().length, regCalls);
    assert.equal(harness.deregisterCalls().length, deregCalls);
    assert.equal(harness.registered.has(victim), true);
  });

  it('invalid config: fails fast naming the field, before any AWS call', async () => {
    h = new ControllerHarness();
    await h.start();
    const bad = h.config() as { clusters: Array<{ loadBalancer: Record<string, unknown> }> };
    delete bad.clusters[0]!.loadBalancer.targetGroupArn;
    process.env.VAULT_HA_CONFIG = JSON.stringify(bad);
    const ctx = { awsRequestId: 'bad', getRemainingTimeInMillis: () => 1_000 } as unknown as Context;

    await assert.rejects(
      h.handler({}, ctx),
      (e: unknown) => e instanceof ConfigError && e.message.includes('clusters[0].loadBalancer.targetGroupArn: Required'),
    );
    assert.equal(h.ec2.commandCalls(DescribeInstancesCommand).length, 0);
    assert.equal(h.elb.commandCalls(RegisterTargetsCommand).length + h.elb.commandCalls(DeregisterTargetsCommand).length, 0);
  });

  it('runs several ticks while time remains and exactly one when little is left', async () => {
    const harness = await steadyCluster();
    let remaining = 4_600;
    const started = Date.now();
    const ctx = {
      awsRequestId: 'multi',
      getRemainingTimeInMillis: () => remaining - (Date.now() - started),
    } as unknown as Context;
    const report = await harness.handler({}, ctx);
    // probeIntervalSeconds 1, margin 3 s, probe timeout 300 ms: 4.6 s leaves room for one more tick only.
    assert.equal(report.ticks, 2);
    remaining = 500;
    const one = await harness.handler({}, { ...ctx, awsRequestId: 'one', getRemainingTimeInMillis: () => 500 } as unknown as Context);
    assert.equal(one.ticks, 1);
    // Even a context that claims almost no time left gets its one tick (no early-timeout race).
    const last = await harness.handler({}, { ...ctx, awsRequestId: 'last', getRemainingTimeInMillis: () => 1 } as unknown as Context);
    assert.equal(last.ticks, 1);
    assert.equal(last.clusters[0]?.verdict.kind, 'healthy');
  });

  it('auto-replace: starts replace-node once for a slot whose instance has been stopped long enough', async () => {
    const harness = await steadyCluster({ routing: 'all-unsealed', autoReplace: true });
    const active = harness.activeInstances()[0]!;
    const victim = harness.fleet.find((f) => f.instanceId !== active)!;
    victim.state = 'stopped';
    await victim.node.kill();
    const slot = victim.node.status().name;

    const first = (await harness.tick()).clusters[0]!;
    assert.equal(first.autoReplace?.started, undefined, 'not before autoReplaceAfterSeconds');
    assert.ok(first.plan.deregister.includes(victim.instanceId), 'a stopped instance leaves the target group at once');

    await harness.seedGoneSince(slot, Date.now() - 61_000);
    const due = (await harness.tick()).clusters[0]!;
    assert.equal(due.autoReplace?.started?.slot, slot);
    assert.equal(due.autoReplace?.started?.result, 'started');
    const calls = harness.sfn.commandCalls(StartExecutionCommand);
    assert.equal(calls.length, 1);
    const input = calls[0]!.args[0].input;
    assert.equal(input.name, due.autoReplace?.started?.executionName);
    assert.deepEqual({ ...JSON.parse(input.input!), reason: undefined }, { cluster: 'e2e', slot, reason: undefined });
    assert.match(due.outcome, /started replace-node/);

    // The next tick asks again under the same name: Step Functions de-duplicates it.
    harness.sfn.on(StartExecutionCommand).rejects(Object.assign(new Error('exists'), { name: 'ExecutionAlreadyExists' }));
    const again = (await harness.tick()).clusters[0]!;
    assert.equal(again.autoReplace?.started?.executionName, due.autoReplace?.started?.executionName);
    assert.equal(again.autoReplace?.started?.result, 'already-started');
  });
});
