/**
 * A controller run killed at any point still lets the next run converge
 * (issue #9: fewer writes must not lose what the safety invariants need).
 * Each case abandons a run at one point (its next call or probe never
 * returns, as when Lambda freezes or kills it), changes the world (the active
 * node dies), and starts a fresh run: that run must take the cluster over
 * once the dead run's lease expires, and route to the new active only.
 * Real handler, simulated Vault nodes on a dynalite lock, mocked EC2/ELBv2
 * (support/controller-harness.ts); the loop compressed 5× (timeScale 0.2).
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import type { Context } from 'aws-lambda';
import { waitFor } from '../../sandbox/sim/index.js';
import { scaledTimings } from '../../sandbox/sim/index.js';
import { CONTROL_TABLE, ControllerHarness } from './support/controller-harness.js';
import { createControllerHandler, loopTimings, type ControllerReport } from '../../functions/handlers/controller.js';
import { createClients, destroyClients, type AwsClients } from '../../functions/adapters/aws-clients.js';
import { defaultProbe } from '../../functions/handlers/lib/reconcile.js';
import { silentLogger } from '../../functions/handlers/lib/logger.js';
import { acquireLease, putRunLease, readLease } from '../../functions/adapters/control-table.js';
import { parseConfig } from '../../functions/config/load.js';

let h: ControllerHarness | undefined;
const own: AwsClients[] = [];
afterEach(async () => {
  for (const c of own.splice(0)) destroyClients(c);
  await h?.stop();
  h = undefined;
});

const TIME_SCALE = 0.2;
const never = new Promise<never>(() => {});

async function steady(): Promise<ControllerHarness> {
  h = new ControllerHarness({ deadLeaderTakeover: false });
  await h.start();
  await waitFor(() => h!.activeInstances().length === 1, { timeoutMs: 5_000, intervalMs: 20 });
  const leader = h.node(h.activeInstances()[0]!).apiAddr();
  await waitFor(() => h!.fleet.every((f) => f.node.isActive() || f.node.status().leaderAddress === leader), { timeoutMs: 5_000, intervalMs: 20 });
  await h.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && h!.registered.size === 1, { maxTicks: 10 });
  return h;
}

type KillPoint = 'taking its claim' | 'probing (mid-tick)' | 'after a mutation, before the state write' | 'between two ticks' | 'ending, before deleting its run lease';

/** A run that stops dead at `point`: `reached` settles when it gets there. */
function doomedRun(point: KillPoint): { handler: ReturnType<typeof createControllerHandler>; reached: Promise<void> } {
  let reach!: () => void;
  const reached = new Promise<void>((r) => (reach = r));
  let batches = 0;
  const handler = createControllerHandler(
    () => {
      const clients = createClients();
      own.push(clients);
      clients.ddb.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { Item?: Record<string, { S?: string }>; Key?: Record<string, { S?: string }> };
          const sk = input.Item?.['sk']?.S ?? input.Key?.['sk']?.S;
          const op = context.commandName;
          const hang =
            (point === 'taking its claim' && op === 'PutItemCommand' && sk === 'lease#controller') ||
            (point === 'after a mutation, before the state write' && op === 'PutItemCommand' && sk === 'state') ||
            (point === 'between two ticks' && op === 'BatchGetItemCommand' && ++batches === 2) ||
            (point === 'ending, before deleting its run lease' && op === 'DeleteItemCommand' && sk === 'lease#run');
          if (hang) {
            reach();
            return never;
          }
          return next(args);
        },
        { step: 'initialize', name: 'killHere' },
      );
      return {
        ...clients,
        probe: (members, cluster) => {
          if (point === 'probing (mid-tick)') {
            reach();
            return never;
          }
          return defaultProbe(members, cluster);
        },
        now: Date.now,
        logger: silentLogger,
        lockTimings: scaledTimings(0.1),
      };
    },
    { timeScale: TIME_SCALE },
  );
  return { handler, reached };
}

function context(requestId: string, remainingMs: number): Context {
  const deadline = Date.now() + remainingMs;
  return { awsRequestId: requestId, functionName: 'controller', getRemainingTimeInMillis: () => deadline - Date.now() } as unknown as Context;
}

/** The active dies (its instance stopped); resolves once another node is active and the standbys know it. */
async function activeDies(harness: ControllerHarness): Promise<{ old: string; now: string }> {
  const old = harness.activeInstances()[0]!;
  harness.fleet.find((f) => f.instanceId === old)!.state = 'stopped';
  await harness.node(old).kill();
  await waitFor(() => harness.activeInstances().some((id) => id !== old), { timeoutMs: 10_000, intervalMs: 20 });
  const now = harness.activeInstances().find((id) => id !== old)!;
  await waitFor(
    () => harness.fleet.every((f) => f.state !== 'running' || f.instanceId === now || f.node.status().leaderAddress === harness.node(now).apiAddr()),
    { timeoutMs: 5_000, intervalMs: 20 },
  );
  return { old, now };
}

describe('controller: a run killed at any point, and the next run converges', () => {
  it.each<KillPoint>(['taking its claim', 'probing (mid-tick)', 'after a mutation, before the state write', 'between two ticks', 'ending, before deleting its run lease'])(
    'killed %s',
    async (point) => {
      const harness = await steady();
      const mutatesFirst = point === 'after a mutation, before the state write';
      const failover = mutatesFirst ? await activeDies(harness) : undefined;
      const doomed = doomedRun(point);
      // Little time left makes the run end after one tick (the end-of-run case); otherwise it would tick on.
      const budget = point === 'ending, before deleting its run lease' ? 1_000 : 30_000;
      void doomed.handler({}, context(`doomed-${point}`, budget));
      await doomed.reached;
      if (mutatesFirst) assert.ok(harness.registered.has(failover!.now), 'the doomed run did not apply its mutation');
      const { old, now } = failover ?? (await activeDies(harness));

      // The next scheduled run: waits out the dead run's lease (≈2 s at this scale), then ticks.
      const lines: string[] = [];
      const report = (await createControllerHandler(
        () => {
          const clients = createClients();
          own.push(clients);
          return { ...clients, probe: defaultProbe, now: Date.now, logger: { ...silentLogger, log: (level: string, msg: string, fields?: unknown) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) }, lockTimings: scaledTimings(0.1) };
        },
        { timeScale: TIME_SCALE },
        // Room for the dead run's lease to expire and a few ticks, on a loaded machine too.
      )({}, context(`next-${point}`, 12_000))) as ControllerReport;

      const c = report.clusters[0];
      assert.ok(c, `the next run reported no cluster: ${JSON.stringify(report).slice(0, 500)}\n${lines.slice(-20).join('\n').slice(0, 3000)}`);
      assert.equal(c.skipped, undefined, c.outcome);
      assert.equal(c.verdict.kind, 'healthy', c.outcome);
      assert.equal(c.verdict.legitimateActive, now);
      assert.deepEqual([...harness.registered], [now], `registered: ${[...harness.registered].join(', ')}; old ${old}`);
      // It took the dead run's claim over (and keeps it on its way out, for its own successor to take by name).
      assert.equal((await readLease(harness.ddbClient(), CONTROL_TABLE, { cluster: 'e2e', scope: 'controller' }))?.owner, `controller:next-${point}`);
    },
    30_000,
  );

  it('a live predecessor whose lease outlives this run\'s own: the run keeps its lease alive while it waits, then routes', async () => {
    const harness = await steady();
    const t = loopTimings(parseConfig(harness.config()), TIME_SCALE);
    const clients = createClients();
    own.push(clients);
    // A run that holds the cluster, never hands over and never renews: its lease lives 1.5 times
    // as long as the new run's own, so the new run waits longer than its lease would last.
    const stuck = 'controller:stuck';
    const nowMs = Date.now();
    await putRunLease(clients.ddb, CONTROL_TABLE, { owner: stuck, nowMs, ttlMs: Math.round(1.5 * t.leaseTtlMs) });
    // It took the claim the steady run kept (that run is over: its run lease is gone).
    const kept = await readLease(clients.ddb, CONTROL_TABLE, { cluster: 'e2e', scope: 'controller' });
    await acquireLease(clients.ddb, CONTROL_TABLE, { cluster: 'e2e', scope: 'controller', owner: stuck, ttlMs: 4 * t.leaseTtlMs, nowMs, purpose: 'controller', runLease: true, ...(kept ? { takeFrom: kept.owner } : {}) });

    const lines: string[] = [];
    const report = (await createControllerHandler(
      () => {
        const c = createClients();
        own.push(c);
        return { ...c, probe: defaultProbe, now: Date.now, logger: { ...silentLogger, log: (level: string, msg: string, fields?: unknown) => void lines.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`) }, lockTimings: scaledTimings(0.1) };
      },
      { timeScale: TIME_SCALE },
    )({}, context('next-after-stuck', Math.round(3 * t.leaseTtlMs)))) as ControllerReport;

    const c = report.clusters[0];
    assert.ok(c, `no cluster reported: ${lines.slice(-10).join('\n')}`);
    assert.equal(c.skipped, undefined, `${c.outcome}\n${lines.slice(-10).join('\n')}`);
    assert.equal(c.verdict.kind, 'healthy', c.outcome);
    assert.ok(lines.some((l) => l.includes('asked the running controller to hand over')), 'it asked the predecessor first');
    assert.ok(!lines.some((l) => l.includes('lost its lease')), lines.filter((l) => l.includes('lease')).join('\n'));
  });
});
