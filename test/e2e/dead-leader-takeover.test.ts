/**
 * Dead-leader takeover end to end (DESIGN §5.10): the real controller handler,
 * simulated Vault nodes over real HTTP taking Vault's DynamoDB lock in
 * dynalite, mocked EC2/ELBv2/SNS. Lock timings are compressed 2× (TTL 7.5 s,
 * renewals every 2.5 s, retries every 500 ms) and the controller is given the
 * same timings, as the sandbox does. Nothing here is timed: each test ticks
 * (bounded) until the behaviour shows, then checks what the controller
 * reported and what the lock table and the nodes say.
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { PublishCommand } from '@aws-sdk/client-sns';
import { waitFor } from '../../sandbox/sim/index.js';
import type { ClusterReport } from '../../functions/handlers/lib/reconcile.js';
import type { ControllerReport } from '../../functions/handlers/controller.js';
import { ControllerHarness, type HarnessOptions } from './support/controller-harness.js';

/** TTL 7.5 s, renew 2.5 s; skew tolerance 500 ms: a renewal is missed 3 s after the last one. */
const TIMING: HarnessOptions = { timeScale: 0.5, skewToleranceMs: 500 };

let h: ControllerHarness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function steadyCluster(opts: HarnessOptions = {}): Promise<ControllerHarness> {
  h = new ControllerHarness({ ...TIMING, ...opts });
  await h.start();
  await waitFor(() => h!.activeInstances().length === 1, { timeoutMs: 10_000, intervalMs: 20 });
  const leader = h.node(h.activeInstances()[0]!).apiAddr();
  await waitFor(() => h!.fleet.every((f) => f.node.isActive() || f.node.status().leaderAddress === leader), { timeoutMs: 10_000, intervalMs: 20 });
  // Healthy ticks are what ties the lock (Identity, Value) to the active in the controller's history.
  await h.tickUntil((r) => r.clusters[0]!.verdict.kind === 'healthy' && h!.registered.size === 1, { maxTicks: 10 });
  return h;
}

const cluster = (r: ControllerReport): ClusterReport => r.clusters[0]!;

function takeovers(harness: ControllerHarness): NonNullable<ClusterReport['takeover']>[] {
  return harness.samples.map((s) => cluster(s.report).takeover).filter((t): t is NonNullable<ClusterReport['takeover']> => t !== undefined);
}

function assertNeverTwoActivesRegistered(harness: ControllerHarness): void {
  for (const [i, s] of harness.samples.entries()) {
    assert.ok(s.registeredClaimants.length <= 1, `tick ${i + 1}: two registered nodes claim active: ${s.registeredClaimants.join(', ')}`);
  }
}

/** After the takeover: a standby holds a new lock and is the only registered target. */
async function assertNewActiveRouted(harness: ControllerHarness, old: string, oldIdentity: string, standbys: string[]): Promise<string> {
  await harness.tickUntil(
    (r) => cluster(r).verdict.kind === 'healthy' && harness.registered.size === 1 && !harness.registered.has(old),
    { maxTicks: 40, pauseMs: 100 },
  );
  const now = harness.lockHolder();
  assert.ok(now !== undefined && now !== old, `lock holder after the takeover: ${now}`);
  assert.ok(standbys.includes(now), `${now} was one of the standbys named in the evidence (${standbys.join(', ')})`);
  assert.deepEqual([...harness.registered], [now]);
  const item = await harness.readLockItem();
  assert.ok('present' in item && item.present, 'a lock item exists again');
  assert.notEqual(item.identity, oldIdentity, 'the new lock is a new acquisition');
  return now;
}

describe('dead-leader takeover end to end (simulated Vault, dynalite lock)', () => {
  it('hard kill of the active: the refused holder that missed a renewal loses its lock before the TTL; a standby takes it and is routed', async () => {
    const harness = await steadyCluster();
    const old = harness.activeInstances()[0]!;
    const before = await harness.readLockItem();
    assert.ok('present' in before && before.present);
    await harness.node(old).kill();

    const reports = await harness.tickUntil((r) => cluster(r).takeover?.result === 'deleted', { maxTicks: 80, pauseMs: 100 });
    const done = cluster(reports.at(-1)!);
    const ev = done.takeover!.evidence!;
    assert.equal(ev.holder, old);
    assert.equal(ev.proof, 'api-refused');
    assert.equal(ev.identity, before.identity, 'deleted on exactly the Identity observed');
    assert.equal(ev.expiresAtNs, before.expiresAtNs, 'a killed holder renews nothing: the Expires observed is its last write');
    assert.ok(ev.msSinceLastRenewal! > ev.renewalDeadlineMs!, `missed a renewal: ${ev.msSinceLastRenewal} > ${ev.renewalDeadlineMs}`);
    assert.ok(ev.lockRemainingMs! > 0, `deleted before the TTL ran out (${ev.lockRemainingMs} ms left)`);
    assert.ok((ev.standbys ?? []).length > 0);
    assert.equal(done.applied, true);
    assert.match(done.outcome, new RegExp(`dead-leader takeover: deleted the lock item of dead ${old}`));
    // Ticks before it did not delete anything.
    assert.equal(reports.filter((r) => cluster(r).takeover?.result === 'deleted').length, 1);

    // The SNS message says what was deleted and on which evidence.
    const published = harness.sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    const msg = published.find((p) => p.Subject?.includes('dead-leader takeover'));
    assert.ok(msg, `no takeover notification among: ${published.map((p) => p.Subject).join(' | ')}`);
    // MessageStructure json: the machine-readable rendering is what SQS/Lambda/HTTP subscribers get.
    const body = JSON.parse((JSON.parse(msg.Message!) as { sqs: string }).sqs) as { deleted: { identity: string; expiresAtNs: string }; evidence: { holder: string; proof: string } };
    assert.deepEqual({ ...body.deleted, value: undefined }, { identity: before.identity, expiresAtNs: before.expiresAtNs, value: undefined });
    assert.equal(body.evidence.holder, old);
    assert.equal(body.evidence.proof, 'api-refused');

    await assertNewActiveRouted(harness, old, before.identity, ev.standbys!);
    assertNeverTwoActivesRegistered(harness);
  });

  it('a client-partitioned holder that keeps renewing (zombie) is never taken over, although it refuses connections', async () => {
    const harness = await steadyCluster();
    const zombie = harness.activeInstances()[0]!;
    const before = await harness.readLockItem();
    assert.ok('present' in before && before.present);
    await harness.node(zombie).partitionClients(true, 'refuse');

    // Until the controller has seen the lock renewed while the holder refuses: zombie-leader (Expires advanced).
    await harness.tickUntil((r) => cluster(r).verdict.kind === 'zombie-leader', { maxTicks: 80, pauseMs: 100 });
    for (let i = 0; i < 5; i++) {
      await harness.tick();
      await new Promise((res) => setTimeout(res, 100));
    }

    const seen = takeovers(harness);
    assert.equal(seen.filter((t) => t.result === 'deleted' || t.result === 'changed').length, 0, JSON.stringify(seen.at(-1)));
    // The refusal was proof enough of a dead API; the fresh renewals are what held the takeover back.
    assert.ok(
      seen.some((t) => t.evidence?.proof === 'api-refused' && /last renewed the lock \d+ ms ago, within/.test(t.reason)),
      seen.map((t) => t.reason).join(' | '),
    );
    const after = await harness.readLockItem();
    assert.ok('present' in after && after.present);
    assert.equal(after.identity, before.identity, 'the zombie still holds its lock');
    assert.equal(harness.lockHolder(), zombie);
  });

  it('a holder whose API hangs is not taken over on timeouts, even after it missed renewals; once its instance stops, it is', async () => {
    // The standbys' heartbeat to a hung active fails too; keep them reporting a
    // healthy HA connection for the length of the test so that the only
    // condition that changes is the proof of death (Vault flips to 474 after ~10 s).
    const harness = await steadyCluster({ heartbeat: { unhealthyAfterMs: 60_000 } });
    const old = harness.activeInstances()[0]!;
    const before = await harness.readLockItem();
    assert.ok('present' in before && before.present);
    const holder = harness.node(old);
    await holder.partitionClients(true, 'hang');
    holder.partitionStorage(true); // its renewals now fail: it misses them

    const missed = await harness.tickUntil(
      (r) => {
        const ev = cluster(r).takeover?.evidence;
        return ev?.msSinceLastRenewal !== undefined && ev.msSinceLastRenewal > ev.renewalDeadlineMs!;
      },
      { maxTicks: 60, pauseMs: 50 },
    );
    const waiting = cluster(missed.at(-1)!).takeover!;
    assert.equal(waiting.result, 'skipped');
    assert.equal(waiting.evidence?.holder, old);
    assert.equal(waiting.evidence?.proof, undefined);
    assert.match(waiting.reason, /not proven dead \(health timeout, leader timeout\)/);
    assert.equal(takeovers(harness).filter((t) => t.result === 'deleted').length, 0);

    // EC2 now says the instance is stopped (and its process is gone with it).
    harness.fleet.find((f) => f.instanceId === old)!.state = 'stopped';
    await holder.kill();
    const reports = await harness.tickUntil((r) => cluster(r).takeover?.result === 'deleted', { maxTicks: 10, pauseMs: 50 });
    const ev = cluster(reports.at(-1)!).takeover!.evidence!;
    assert.equal(ev.holder, old);
    assert.equal(ev.proof, 'instance-not-running');
    assert.equal(ev.proofDetail, 'instance is stopped');
    assert.equal(ev.identity, before.identity);

    await assertNewActiveRouted(harness, old, before.identity, ev.standbys!);
    assertNeverTwoActivesRegistered(harness);
  });

  it('policy.deadLeaderTakeover false: a killed holder keeps its lock until the TTL, and the report says why', async () => {
    const harness = await steadyCluster({ deadLeaderTakeover: false });
    const old = harness.activeInstances()[0]!;
    const before = await harness.readLockItem();
    assert.ok('present' in before && before.present);
    await harness.node(old).kill();

    await harness.tickUntil((r) => cluster(r).verdict.kind === 'healthy' && !harness.registered.has(old) && harness.registered.size === 1, {
      maxTicks: 120,
      pauseMs: 100,
    });
    const seen = takeovers(harness);
    assert.ok(seen.length > 0, 'the question arose while nobody held a live lock');
    assert.ok(seen.every((t) => t.result === 'skipped' && t.reason === 'policy.deadLeaderTakeover is false'));
    assert.equal(harness.sns.commandCalls(PublishCommand).filter((c) => c.args[0].input.Subject?.includes('dead-leader takeover')).length, 0);
  });
});
