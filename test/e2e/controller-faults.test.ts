/**
 * A tick that mutates and then meets a failure still says what it did and keeps
 * its state (invariant 12): a failing DeregisterTargets does not keep the new
 * active out, and failing control-table writes after a mutation neither hide
 * the mutation nor stop the hysteresis. Real handler, simulated Vault nodes on
 * a dynalite lock, mocked EC2/ELBv2 (support/controller-harness.ts).
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import type { Context } from 'aws-lambda';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DeregisterTargetsCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ElasticLoadBalancingV2ServiceException } from '@aws-sdk/client-elastic-load-balancing-v2';
import { waitFor } from '../../sandbox/sim/index.js';
import { ControllerHarness } from './support/controller-harness.js';
import { ControllerFailedError, createControllerHandler, type ControllerReport } from '../../functions/handlers/controller.js';
import { createClients, destroyClients, type AwsClients } from '../../functions/adapters/aws-clients.js';
import { defaultProbe } from '../../functions/handlers/lib/reconcile.js';
import { silentLogger } from '../../functions/handlers/lib/logger.js';
import { scaledTimings } from '../../sandbox/sim/index.js';

let h: ControllerHarness | undefined;
const own: AwsClients[] = [];
afterEach(async () => {
  for (const c of own.splice(0)) destroyClients(c);
  await h?.stop();
  h = undefined;
});

async function steady(opts: ConstructorParameters<typeof ControllerHarness>[0] = {}): Promise<ControllerHarness> {
  h = new ControllerHarness({ deadLeaderTakeover: false, ...opts });
  await h.start();
  await waitFor(() => h!.activeInstances().length === 1, { timeoutMs: 5_000, intervalMs: 20 });
  const leader = h.node(h.activeInstances()[0]!).apiAddr();
  await waitFor(() => h!.fleet.every((f) => f.node.isActive() || f.node.status().leaderAddress === leader), { timeoutMs: 5_000, intervalMs: 20 });
  await h.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && h!.registered.size === 1, { maxTicks: 10 });
  return h;
}

/** A handler whose DynamoDB client fails every PutItem of the control table's state and observation items. */
function handlerWithFailingBookkeeping() {
  return createControllerHandler(() => {
    const clients = createClients();
    own.push(clients);
    clients.ddb.middlewareStack.add(
      (next) => async (args) => {
        const input = (args as { input: { Item?: Record<string, { S?: string }> } }).input;
        const sk = input.Item?.['sk']?.S ?? '';
        if (args.input && (sk === 'state' || sk.startsWith('obs#'))) {
          throw Object.assign(new Error('Throughput exceeds the current capacity of your table'), {
            name: 'ProvisionedThroughputExceededException',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failControlTableWrites' },
    );
    return { ...clients, probe: defaultProbe, now: Date.now, logger: silentLogger, lockTimings: scaledTimings(0.1) };
  });
}

async function invoke(handler: ReturnType<typeof createControllerHandler>, remainingMs: number): Promise<ControllerReport> {
  const deadline = Date.now() + remainingMs;
  const context = { awsRequestId: `faults-${Date.now()}`, functionName: 'controller', getRemainingTimeInMillis: () => deadline - Date.now() } as unknown as Context;
  try {
    return (await handler({}, context)) as ControllerReport;
  } catch (err) {
    if (err instanceof ControllerFailedError) return err.report;
    throw err;
  }
}

describe('controller: a failure after a mutation hides nothing', () => {
  it('a failing DeregisterTargets does not keep the new active out when the old one is gone; the report lists exactly what changed', async () => {
    const harness = await steady();
    const old = harness.activeInstances()[0]!;
    harness.fleet.find((f) => f.instanceId === old)!.state = 'stopped';
    await harness.node(old).kill();
    harness.elb.on(DeregisterTargetsCommand).rejects(
      new ElasticLoadBalancingV2ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'not authorized to perform: elasticloadbalancing:DeregisterTargets' }),
    );
    await waitFor(() => harness.activeInstances().some((id) => id !== old), { timeoutMs: 10_000, intervalMs: 20 });
    const now = harness.activeInstances().find((id) => id !== old)!;
    await waitFor(() => harness.fleet.every((f) => f.state !== 'running' || f.instanceId === now || f.node.status().leaderAddress === harness.node(now).apiAddr()), {
      timeoutMs: 5_000,
      intervalMs: 20,
    });

    let c: ControllerReport['clusters'][number] | undefined;
    for (let i = 0; i < 10 && !harness.registered.has(now); i++) {
      try {
        c = (await harness.tick()).clusters[0];
      } catch (err) {
        assert.ok(err instanceof ControllerFailedError, String(err));
        c = err.report.clusters[0];
      }
    }
    assert.ok(c);
    assert.ok(harness.registered.has(now), `new active not registered: ${c.outcome}`);
    assert.deepEqual(c.mutations, { registered: [now], deregistered: [] });
    assert.equal(c.applied, true);
    assert.match(c.error ?? '', /deregister/);
    assert.match(c.outcome, /deregister failed \(AwsAccessDeniedError/);
    assert.notEqual(c.verdict.kind, 'probe-blind');
  });

  it('a split-brain swap of the only target never empties the group; a failing deregistration of the claimant undoes the registration of its rival', async () => {
    const harness = await steady();
    const old = harness.activeInstances()[0]!;
    await harness.node(old).stepDown();
    await waitFor(() => (harness.lockHolder() ?? old) !== old, { timeoutMs: 10_000, intervalMs: 20 });
    const legit = harness.lockHolder()!;
    await waitFor(() => harness.fleet.every((f) => f.instanceId === legit || f.node.status().leaderAddress === harness.node(legit).apiAddr()), {
      timeoutMs: 5_000,
      intervalMs: 20,
    });
    // The old active goes on claiming active beside the lock holder (a stale leader).
    harness.node(old).forceActive(true);
    assert.deepEqual([...harness.registered], [old]);

    const seen: string[][] = [];
    const deregisterFails = { on: true };
    harness.elb.on(RegisterTargetsCommand).callsFake((input: { Targets?: Array<{ Id?: string }> }) => {
      for (const t of input.Targets ?? []) harness.registered.add(t.Id!);
      seen.push([...harness.registered].sort());
      return {};
    });
    harness.elb.on(DeregisterTargetsCommand).callsFake((input: { Targets?: Array<{ Id?: string }> }) => {
      const ids = (input.Targets ?? []).map((t) => t.Id!);
      if (deregisterFails.on && ids.includes(old)) {
        throw new ElasticLoadBalancingV2ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'not authorized' });
      }
      for (const id of ids) harness.registered.delete(id);
      seen.push([...harness.registered].sort());
      return {};
    });

    let c: ControllerReport['clusters'][number];
    try {
      c = (await harness.tick()).clusters[0]!;
    } catch (err) {
      assert.ok(err instanceof ControllerFailedError, String(err));
      c = err.report.clusters[0]!;
    }
    assert.equal(c.verdict.kind, 'split-brain', c.verdict.reasons.join('; '));
    assert.equal(c.verdict.legitimateActive, legit);
    assert.deepEqual(c.mutations, { registered: [legit], deregistered: [legit] });
    assert.match(c.outcome, new RegExp(`registration of ${legit} undone`));
    assert.deepEqual([...harness.registered], [old], 'the claimant alone, as before the tick');

    deregisterFails.on = false;
    seen.length = 0;
    const next = (await harness.tick()).clusters[0]!;
    assert.deepEqual(next.mutations, { registered: [legit], deregistered: [old] });
    assert.deepEqual([...harness.registered], [legit]);
    // Register first: the group held the claimant and the (initial) rival, then the rival alone.
    assert.deepEqual(seen, [[legit, old].sort(), [legit]]);
  });

  it('failing control-table writes after a mutation: the report keeps the mutation and the hysteresis still advances within the run', async () => {
    const harness = await steady({ unhealthyThreshold: 2 });
    const old = harness.activeInstances()[0]!;
    // Hangs: absence evidence, so only the hysteresis (kept in the run's state) removes it.
    await harness.node(old).partitionClients(true, 'hang');
    const report = await invoke(handlerWithFailingBookkeeping(), 6_000);

    const c = report.clusters[0]!;
    assert.match(c.error ?? '', /saving the cluster state: AwsTransientError: .*ProvisionedThroughputExceededException/);
    assert.ok(report.ticks >= 3, `ticks: ${report.ticks}`);
    // The old active left after two observations although no state item was ever saved.
    assert.ok(!harness.registered.has(old), `still registered after ${report.ticks} ticks: ${c.outcome}`);
    assert.notEqual(c.verdict.kind, 'probe-blind');
  });
});
