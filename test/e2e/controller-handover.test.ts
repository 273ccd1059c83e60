/**
 * The controller across the moments that used to leave clients with nothing:
 * a tick in the first instant of an election after a step-down (DESIGN §5.11),
 * and the boundary between two scheduled invocations (§3.5: no blind spot).
 * Real handler, simulated Vault nodes over HTTP on a dynalite lock (timings
 * compressed 10×), mocked EC2/ELBv2.
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import type { Context } from 'aws-lambda';
import { waitFor } from '../../sandbox/sim/index.js';
import { ControllerHarness } from './support/controller-harness.js';
import { createControllerHandler, type ControllerReport } from '../../functions/handlers/controller.js';
import { createClients, destroyClients, type AwsClients } from '../../functions/adapters/aws-clients.js';
import { defaultProbe } from '../../functions/handlers/lib/reconcile.js';
import { silentLogger } from '../../functions/handlers/lib/logger.js';
import { readLease } from '../../functions/adapters/control-table.js';
import { CONTROL_TABLE } from './support/controller-harness.js';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { shardOf } from '../../functions/core/shard.js';

let h: ControllerHarness | undefined;
const extraClients: AwsClients[] = [];
afterEach(async () => {
  for (const c of extraClients.splice(0)) destroyClients(c);
  await h?.stop();
  h = undefined;
});

async function steady(): Promise<ControllerHarness> {
  h = new ControllerHarness();
  await h.start();
  await waitFor(() => h!.activeInstances().length === 1, { timeoutMs: 5_000, intervalMs: 20 });
  const leader = h.node(h.activeInstances()[0]!).apiAddr();
  await waitFor(() => h!.fleet.every((f) => f.node.isActive() || f.node.status().leaderAddress === leader), { timeoutMs: 5_000, intervalMs: 20 });
  await h.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && h!.registered.size === 1, { maxTicks: 10 });
  return h;
}

/** A handler of its own (one container) whose probe notes when each of its ticks ran. */
function recordingRun(name: string, ticks: Array<{ run: string; atMs: number }>) {
  return createControllerHandler(() => {
    const clients = createClients();
    extraClients.push(clients);
    return {
      ...clients,
      probe: async (members, cluster) => {
        ticks.push({ run: name, atMs: Date.now() });
        return defaultProbe(members, cluster);
      },
      now: Date.now,
      logger: silentLogger,
    };
  });
}

function lambdaContext(requestId: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    awsRequestId: requestId,
    functionName: 'controller',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  } as unknown as Context;
}

describe('controller: no empty target group, no blind spot', () => {
  it('a tick right after a step-down (no leader yet) leaves the stepped-down node registered, and the group is never empty', async () => {
    const harness = await steady();
    const old = harness.activeInstances()[0]!;
    await harness.node(old).stepDown();
    // At once: the old node is a standby, nobody holds the lock yet or the
    // standbys have not learnt the winner.
    const first = (await harness.tick()).clusters[0]!;
    assert.notEqual(first.verdict.legitimateActive, old);
    assert.ok(!first.plan.deregister.includes(old) || first.plan.register.length > 0, `${first.verdict.kind}: ${first.outcome}`);
    assert.ok(harness.registered.size > 0, `empty target group after the first tick: ${first.outcome}`);

    // Through the election until the new active is routed: never empty.
    await harness.tickUntil(
      (r) => r.clusters[0]!.verdict.kind === 'healthy' && harness.registered.size === 1 && !harness.registered.has(old),
      { maxTicks: 40, pauseMs: 50 },
    );
    for (const [i, s] of harness.samples.entries()) assert.ok(s.registered.length > 0, `tick ${i + 1}: empty target group`);
    for (const [i, s] of harness.samples.entries()) assert.ok(s.registeredClaimants.length <= 1, `tick ${i + 1}: two actives routed`);
  });

  it('two invocations overlapping at the schedule boundary: the first hands over, exactly one run ticks at a time, no gap', async () => {
    const harness = await steady();
    const ticks: Array<{ run: string; atMs: number }> = [];
    const first = recordingRun('first', ticks);
    const second = recordingRun('second', ticks);

    // probeIntervalSeconds is 1 in the harness: the first run alone would tick ~6 times.
    const firstRun = first({}, lambdaContext('run-1', 9_000)) as Promise<ControllerReport>;
    await new Promise((r) => setTimeout(r, 2_300));
    const secondRun = second({}, lambdaContext('run-2', 6_000)) as Promise<ControllerReport>;
    const [a, b] = await Promise.all([firstRun, secondRun]);

    const ofFirst = ticks.filter((t) => t.run === 'first').map((t) => t.atMs);
    const ofSecond = ticks.filter((t) => t.run === 'second').map((t) => t.atMs);
    assert.ok(ofFirst.length >= 2 && ofSecond.length >= 1, `ticks: first ${ofFirst.length}, second ${ofSecond.length}`);
    // Handed over: the first run stopped early instead of running out its 9 s.
    assert.ok(a.ticks < 6, `first run ticked ${a.ticks} times`);
    assert.equal(a.ticks, ofFirst.length);
    assert.equal(b.ticks, ofSecond.length);
    // Exactly one run at a time: every tick of the first precedes every tick of the second.
    assert.ok(Math.max(...ofFirst) < Math.min(...ofSecond), 'the runs ticked interleaved');
    // No blind spot: the successor's first tick follows the predecessor's last within
    // one interval plus the handover (generous bound for a loaded machine).
    const gapMs = Math.min(...ofSecond) - Math.max(...ofFirst);
    assert.ok(gapMs <= 1_000 + 1_500, `gap at the handover was ${gapMs} ms`);
    assert.equal(b.clusters[0]!.verdict.kind, 'healthy');
    // The claim is kept, not deleted (issue #9): the second run took it over by name, and holds it on its way out.
    const claim = await readLease(harness.ddbClient(), CONTROL_TABLE, { cluster: 'e2e', scope: 'controller' });
    assert.equal(claim?.owner, 'controller:run-2');
    assert.equal(claim?.runLease, true);
  });

  it('a run that finds the lease held by an operator (not a controller run) does not ask it to hand over and reports the skip', async () => {
    const harness = await steady();
    const { acquireLease, releaseLease } = await import('../../functions/adapters/control-table.js');
    // The steady run's claim is kept after it (issue #9); the operator takes the lease once it is free.
    const kept = await readLease(harness.ddbClient(), CONTROL_TABLE, { cluster: 'e2e', scope: 'controller' });
    if (kept) assert.equal(await releaseLease(harness.ddbClient(), CONTROL_TABLE, { cluster: 'e2e', scope: 'controller', owner: kept.owner }), true);
    await acquireLease(harness.ddbClient(), CONTROL_TABLE, {
      cluster: 'e2e',
      scope: 'controller',
      owner: 'operator:alice',
      ttlMs: 60_000,
      nowMs: Date.now(),
    });
    const registerCallsBefore = harness.registerCalls().length;
    const report = await harness.tick();
    const c = report.clusters[0]!;
    assert.equal(c.outcome, 'skipped: operator:alice holds the lease for e2e; nothing changed');
    assert.equal(c.skipped?.holder, 'operator:alice');
    assert.equal(c.applied, false);
    assert.equal(harness.registerCalls().length, registerCallsBefore);
    // Nobody asked the operator to hand over.
    const lease = await readLease(harness.ddbClient(), CONTROL_TABLE, { cluster: 'e2e', scope: 'controller' });
    assert.equal(lease?.owner, 'operator:alice');
    assert.equal(lease?.handoverRequestedBy, undefined);
  });

  it('a shard rule ticks only the clusters of its shard; the other shard makes no AWS call', async () => {
    const harness = await steady();
    const mine = shardOf('e2e', 2);
    const callsBefore = harness.ec2.commandCalls(DescribeInstancesCommand).length;
    const context = lambdaContext('shard-other', 1_000);
    const other = (await harness.handler({ shard: 1 - mine, of: 2 }, context)) as ControllerReport;
    assert.deepEqual(other, { ticks: 0, clusters: [] });
    assert.equal(harness.ec2.commandCalls(DescribeInstancesCommand).length, callsBefore);
    const own = (await harness.handler({ shard: mine, of: 2 }, lambdaContext('shard-mine', 1_000))) as ControllerReport;
    assert.deepEqual(own.clusters.map((c) => c.name), ['e2e']);
    assert.equal(own.clusters[0]!.verdict.kind, 'healthy');
  });
});
