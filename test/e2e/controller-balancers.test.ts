/**
 * The controller end to end on each load balancer type and on haLock "none":
 * steady state, graceful step-down (make before break), hard kill and a sealed
 * standby. Real handler, simulated Vault nodes over HTTP on a real (dynalite)
 * DynamoDB HA lock, the balancer mocked statefully (test/e2e/support/controller-harness.ts):
 *  - `ip`: a target group of `ip` targets; the controller must register and
 *    deregister the nodes' private IPs, and read them back as instances;
 *  - `classic`: a Classic Load Balancer (RegisterInstancesWithLoadBalancer /
 *    DeregisterInstancesFromLoadBalancer / DescribeInstanceHealth), never ELBv2;
 *  - haLock `none`: leadership from the nodes' own views only; no lock read,
 *    no fencing, no dead-leader takeover.
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { DeregisterTargetsCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeInstanceHealthCommand } from '@aws-sdk/client-elastic-load-balancing';
import { waitFor } from '../../sandbox/sim/index.js';
import { ControllerHarness, type HarnessOptions } from './support/controller-harness.js';

let h: ControllerHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function steadyCluster(opts: HarnessOptions): Promise<ControllerHarness> {
  h = new ControllerHarness(opts);
  await h.start();
  await waitFor(() => h!.activeInstances().length === 1, { timeoutMs: 5_000, intervalMs: 20 });
  const leader = h.node(h.activeInstances()[0]!).apiAddr();
  await waitFor(() => h!.fleet.every((f) => f.node.isActive() || f.node.status().leaderAddress === leader), { timeoutMs: 5_000, intervalMs: 20 });
  const expected = opts.routing === 'all-unsealed' ? 3 : 1;
  await h.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && h!.registered.size === expected, { maxTicks: 10 });
  return h;
}

function assertNeverTwoActivesRegistered(harness: ControllerHarness): void {
  for (const [i, s] of harness.samples.entries()) {
    assert.ok(s.registeredClaimants.length <= 1, `tick ${i + 1}: two registered nodes claim active: ${s.registeredClaimants.join(', ')}`);
  }
}

const VARIANTS: Array<{ name: string; opts: HarnessOptions }> = [
  { name: 'NLB/ALB target group of ip targets', opts: { balancer: 'ip' } },
  { name: 'Classic Load Balancer', opts: { balancer: 'classic' } },
  { name: 'haLock none (target group of instances)', opts: { haLock: 'none' } },
];

for (const variant of VARIANTS) {
  describe(`controller end to end: ${variant.name}`, () => {
    it('steady state: registers exactly the active and reports healthy, with the balancer\'s own ids', async () => {
      const harness = await steadyCluster(variant.opts);
      const active = harness.activeInstances()[0]!;
      const c = (await harness.tick()).clusters[0]!;
      assert.equal(c.verdict.kind, 'healthy', c.verdict.reasons.join('; '));
      assert.deepEqual([...harness.registered], [active]);
      assert.deepEqual(c.plan, { register: [], deregister: [] });
      assert.match(c.outcome, /no action/);
      // What the balancer was sent: the IP for ip targets, the instance id otherwise.
      assert.deepEqual(harness.registerCalls().flat(), [variant.opts.balancer === 'ip' ? harness.ipOf(active) : active]);
      if (variant.opts.balancer === 'classic') {
        assert.equal(harness.elb.commandCalls(RegisterTargetsCommand).length + harness.elb.commandCalls(DeregisterTargetsCommand).length, 0, 'no ELBv2 call');
      }
      if (variant.opts.haLock === 'none') {
        assert.equal(c.lock.state, 'NOT_APPLICABLE');
        assert.ok(c.verdict.reasons.some((r) => /haLock "none"/.test(r)), c.verdict.reasons.join(' | '));
      }
    });

    it('graceful step-down: make before break — the old node leaves once the new active is healthy, never two', async () => {
      const harness = await steadyCluster(variant.opts);
      const old = harness.activeInstances()[0]!;
      await harness.node(old).stepDown();
      await waitFor(() => harness.activeInstances().some((id) => id !== old), { timeoutMs: 5_000, intervalMs: 20 });
      const now = harness.activeInstances().find((id) => id !== old)!;
      const leader = harness.node(now).apiAddr();
      await waitFor(() => harness.fleet.every((f) => f.instanceId === now || f.node.status().leaderAddress === leader), { timeoutMs: 5_000, intervalMs: 20 });

      const first = (await harness.tick()).clusters[0]!;
      assert.equal(first.verdict.kind, 'healthy', first.verdict.reasons.join('; '));
      assert.deepEqual(first.plan.register, [now]);
      assert.deepEqual(first.plan.deregister, []);
      assert.deepEqual([...harness.registered].sort(), [now, old].sort());

      const second = (await harness.tick()).clusters[0]!;
      assert.deepEqual(second.plan.deregister, [old]);
      assert.deepEqual([...harness.registered], [now]);
      assert.deepEqual(harness.deregisterCalls().flat(), [variant.opts.balancer === 'ip' ? harness.ipOf(old) : old]);
      assertNeverTwoActivesRegistered(harness);
    });

    it('hard kill: the dead active leaves, the new active is registered, never two', async () => {
      const harness = await steadyCluster({ ...variant.opts, unhealthyThreshold: 2 });
      const old = harness.activeInstances()[0]!;
      await harness.node(old).kill();
      const reports = await harness.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && !harness.registered.has(old) && harness.registered.size === 1, {
        maxTicks: 40,
      });
      const now = harness.lockHolder();
      assert.ok(now && now !== old);
      assert.deepEqual([...harness.registered], [now]);
      assertNeverTwoActivesRegistered(harness);
      // Invariant 11: never empty while an unsealed node lives.
      for (const [i, s] of harness.samples.entries()) assert.ok(s.registered.length > 0, `tick ${i + 1}: empty balancer`);
      if (variant.opts.haLock === 'none') {
        // No lock read: no dead-leader takeover, no fencing; Vault's own TTL moved the lock.
        assert.ok(reports.every((r) => r.clusters[0]!.takeover === undefined && r.clusters[0]!.fencing === undefined));
      }
    });

    it('sealed standby in all-unsealed routing: deregistered in the first tick that sees it sealed', async () => {
      const harness = await steadyCluster({ ...variant.opts, routing: 'all-unsealed' });
      const active = harness.activeInstances()[0]!;
      const victim = harness.fleet.find((f) => f.instanceId !== active)!.instanceId;
      await harness.node(victim).seal();
      const c = (await harness.tick()).clusters[0]!;
      assert.equal(c.nodes.find((n) => n.instanceId === victim)?.class, 'sealed');
      assert.deepEqual(c.plan.deregister, [victim]);
      assert.deepEqual(c.mutations?.deregistered, [victim]);
      assert.equal(harness.registered.has(victim), false);
      assert.equal(harness.registered.has(active), true);
      assert.deepEqual(harness.deregisterCalls().flat(), [variant.opts.balancer === 'ip' ? harness.ipOf(victim) : victim]);
    });
  });
}

describe('controller end to end: what haLock none gives up', () => {
  it('a zombie holding the lock is never named zombie nor fenced, even with break-lock; it is still removed and a standby keeps the balancer non-empty', async () => {
    const harness = await steadyCluster({ haLock: 'none', fencing: 'break-lock', breakLockAfterTicks: 2 });
    const zombie = harness.activeInstances()[0]!;
    await harness.node(zombie).partitionClients(true, 'refuse');
    const reports = await harness.tickUntil((r) => !harness.registered.has(zombie) && harness.registered.size >= 1, { maxTicks: 15, pauseMs: 150 });
    const verdicts = reports.map((r) => r.clusters[0]!.verdict.kind);
    assert.ok(!verdicts.includes('zombie-leader'), verdicts.join(','));
    assert.ok(reports.every((r) => r.clusters[0]!.fencing === undefined));
    // The zombie still holds Vault's lock: the controller could not see it, and did not touch it.
    assert.equal(harness.lockHolder(), zombie);
    assertNeverTwoActivesRegistered(harness);
  });
});

describe('controller end to end: Classic deregistration is idempotent', () => {
  it('an instance the balancer no longer has (InvalidInstance) does not stop the others from leaving, and is no error', async () => {
    const harness = await steadyCluster({ balancer: 'classic', routing: 'all-unsealed' });
    const active = harness.activeInstances()[0]!;
    const [victim, other] = harness.fleet.map((f) => f.instanceId).filter((id) => id !== active) as [string, string];
    await harness.node(victim).seal();
    await harness.node(other).seal();
    // Someone deregistered `victim` by hand after the controller's describe saw it.
    let stale = true;
    const health = (id: string) => (harness as unknown as { instanceHealth(id: string): Promise<unknown> }).instanceHealth(id);
    harness.classicElb.on(DescribeInstanceHealthCommand).callsFake(async () => {
      const ids = stale ? [active, other, victim] : [...harness.registered];
      stale = false;
      return { InstanceStates: await Promise.all(ids.sort().map(health)) };
    });
    harness.registered.delete(victim);

    const c = (await harness.tick()).clusters[0]!;
    assert.deepEqual([...c.plan.deregister].sort(), [other, victim].sort());
    assert.equal(c.error, undefined, c.error);
    assert.deepEqual([...(c.mutations?.deregistered ?? [])].sort(), [other, victim].sort());
    assert.deepEqual([...harness.registered], [active]);
    // The batch was refused whole, then retried one by one.
    assert.deepEqual(harness.deregisterCalls().map((ids) => ids.length).sort(), [1, 1, 2]);
  });
});
