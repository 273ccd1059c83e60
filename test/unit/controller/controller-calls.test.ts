/**
 * What the controller sends per tick (issue #9 "Fewer calls"): the real
 * runController over aws-sdk-client-mock clients and a manual clock
 * (fake-world.ts). Before this work a steady tick sent, per cluster,
 * DescribeInstances, DescribeTargetHealth, lock GetItem, pause GetItem, lease
 * PutItem, state PutItem and observation PutItem (7); now DescribeTargetHealth
 * per cluster, one DescribeInstances and one BatchGetItem per tick, and the
 * run lease's renewal every few ticks.
 */
import { afterEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { DynamoDBClient, PutItemCommand, type BatchGetItemCommandInput, type PutItemCommandInput, type UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { PAUSE_INDEX_KEY } from '../../../functions/adapters/pause.js';
import type { DescribeInstancesCommandInput } from '@aws-sdk/client-ec2';
import { RUN_LEASE_INTERVALS, runController } from '../../../functions/handlers/controller.js';
import type { ControllerDeps } from '../../../functions/handlers/lib/reconcile.js';
import { OBSERVATION_HEARTBEAT_MS } from '../../../functions/core/bookkeeping.js';
import { FLEET_CACHE_INTERVALS } from '../../../functions/core/fleet-cache.js';
import type { Member } from '../../../functions/core/types.js';
import { CONTROL_TABLE, FakeWorld, fakeConfig, type FakeCluster } from './fake-world.js';

let w: FakeWorld | undefined;
afterEach(() => {
  w?.restore();
  w = undefined;
});

function world(clusters: FakeCluster[], policy: Record<string, unknown> = {}): FakeWorld {
  w = new FakeWorld(fakeConfig(clusters, policy), clusters);
  return w;
}

const three = (): FakeCluster[] => [
  { name: 'alpha', nodes: 3 },
  { name: 'beta', nodes: 3 },
  { name: 'gamma', nodes: 5 },
];

/** The ticks' batches: without the run's read of its claims (a batch of lease#controller keys only). */
function tickBatches(fw: FakeWorld): BatchGetItemCommandInput[] {
  return (fw.commands('BatchGetItem') as BatchGetItemCommandInput[]).filter((b) => !Object.values(b.RequestItems ?? {}).every((r) => (r.Keys ?? []).every((k) => k['sk']?.S === 'lease#controller')));
}

/**
 * The world's deps with `atTick(tick, members)` run as each tick of cluster `of`
 * (default: every cluster, one tick per probe) begins to probe.
 */
function hookedDeps(fw: FakeWorld, atTick: (tick: number, members: Member[]) => void | Promise<void>, of?: string): ControllerDeps {
  const deps = fw.deps();
  const probe = deps.probe;
  let ticks = 0;
  deps.probe = async (members, cluster) => {
    if (of === undefined || cluster.name === of) await atTick(++ticks, members);
    return probe(members, cluster);
  };
  return deps;
}

async function runFor(world: FakeWorld, budgetMs: number, requestId = 'run-1') {
  return runController(world.config, world.deps(), world.context(requestId, budgetMs), { sleep: world.sleep });
}

describe('controller calls per tick (issue #9)', () => {
  it('a steady tick sends DescribeTargetHealth per cluster and one BatchGetItem, DescribeInstances every FLEET_CACHE_INTERVALS ticks, and nothing else (no state or observation write)', async () => {
    const fw = world(three());
    const report = await runFor(fw, 60_000);
    assert.ok(report.ticks >= 10, `ticks: ${report.ticks}`);
    assert.deepEqual(report.clusters.map((c) => c.verdict.kind), ['healthy', 'healthy', 'healthy']);
    const ticks = fw.countsByTick();
    // Ticks 2..n-1 (the first takes the claims, the last also ends the run).
    const withFleetRead: number[] = [];
    for (const [i, counts] of ticks.slice(1, -1).entries()) {
      const { UpdateItem = 0, DescribeInstances = 0, ...rest } = counts;
      assert.deepEqual(rest, { DescribeTargetHealth: 3, BatchGetItem: 1 }, `tick ${i + 2}: ${JSON.stringify(counts)}`);
      assert.ok(UpdateItem <= 1 && DescribeInstances <= 1);
      if (DescribeInstances === 1) withFleetRead.push(i + 2);
    }
    // Tick 1 read the members; every FLEET_CACHE_INTERVALS-th tick after it reads them again.
    const expected = ticks.slice(1, -1).map((_, i) => i + 2).filter((n) => (n - 1) % FLEET_CACHE_INTERVALS === 0);
    assert.deepEqual(withFleetRead, expected);
  });

  it('a change seen on cached members: that tick reads the members again after the probes and decides on what EC2 says now', async () => {
    const fw = world([{ name: 'alpha', nodes: 3 }]);
    // Tick 3 runs on the members tick 1 read: the standby …01 has just been stopped.
    const deps = hookedDeps(fw, (tick) => void (tick === 3 && fw.stopped.add(`i-${'1'.padStart(17, '0')}`)));
    await runController(fw.config, deps, fw.context('run-1', 30_000), { sleep: fw.sleep });
    const third = fw.countsByTick()[2]!;
    assert.equal(third['DescribeInstances'], 1, `tick 3 read the members after its probes: ${JSON.stringify(third)}`);
    const fourth = fw.countsByTick()[3]!;
    assert.equal(fourth['DescribeInstances'], 1, 'the tick after a change reads them again (it was not quiet)');
    // The decision of tick 3 saw the instance stopped, not the cached "running" (its observation, written on the change, says so).
    const thirdAt = [...new Set(fw.log.map((e) => e.atMs))][2]!;
    const obs = (fw.commands('PutItem') as PutItemCommandInput[]).find((p) => p.Item!['sk']!.S!.startsWith('obs#') && Number(p.Item!['atMs']!.N) === thirdAt);
    assert.ok(obs, 'an observation in tick 3');
    const nodes = (JSON.parse(obs.Item!['observation']!.S!) as { nodes: Array<{ instanceId: string; instanceState: string }> }).nodes;
    assert.equal(nodes.find((n) => n.instanceId === `i-${'1'.padStart(17, '0')}`)?.instanceState, 'stopped', JSON.stringify(nodes));
  });

  it('a new instance, which no probe reveals, is found within FLEET_CACHE_INTERVALS ticks and probed', async () => {
    const clusters = [{ name: 'alpha', nodes: 3 }];
    const fw = world(clusters);
    const probedAt = new Map<string, number>();
    const deps = hookedDeps(fw, (tick, members) => {
      if (tick === 2) clusters[0]!.nodes = 4;
      for (const m of members) if (!probedAt.has(m.instanceId)) probedAt.set(m.instanceId, tick);
    });
    const report = await runController(fw.config, deps, fw.context('run-1', 60_000), { sleep: fw.sleep });
    assert.equal(report.clusters[0]!.nodes.length, 4);
    const first = probedAt.get(`i-${'3'.padStart(17, '0')}`);
    assert.ok(first !== undefined && first >= 2 && first <= 1 + FLEET_CACHE_INTERVALS, `first probed at tick ${first}`);
  });

  it('the run lease is renewed only when its expiry needs it: one UpdateItem every few ticks, for all clusters together', async () => {
    const fw = world(three());
    const report = await runFor(fw, 60_000);
    const renewals = fw.commands('UpdateItem') as UpdateItemCommandInput[];
    // 5 s interval, lease of 4 intervals + a tick budget: renewed every 4th tick.
    assert.equal(renewals.length, Math.floor((report.ticks - 1) / RUN_LEASE_INTERVALS));
    for (const r of renewals) {
      assert.deepEqual(r.Key, { pk: { S: 'controller:run-1'.replace(/^/, 'run#') }, sk: { S: 'lease#run' } });
      assert.match(r.ConditionExpression ?? '', /#expiresAtMs >= :now AND attribute_not_exists\(#handover\)/);
    }
  });

  it('one BatchGetItem reads every lock table, the pause index (one key for every cluster) and the run lease, consistently', async () => {
    const fw = world(three());
    await runFor(fw, 12_000);
    const batches = tickBatches(fw);
    const steady = batches[1]!;
    const items = steady.RequestItems!;
    for (const name of ['alpha', 'beta', 'gamma']) {
      assert.deepEqual(items[`vault-data-${name}`], { Keys: [{ Path: { S: 'core' }, Key: { S: '_lock' } }], ConsistentRead: true });
    }
    assert.equal(items[CONTROL_TABLE]!.ConsistentRead, true);
    assert.deepEqual(
      items[CONTROL_TABLE]!.Keys!.map((k) => `${k['pk']!.S}/${k['sk']!.S}`),
      ['pauses/index', 'run#controller:run-1/lease#run'],
    );
    // The first tick's batch also loads each cluster's state, and its pause item of the earlier layout.
    const firstKeys = batches[0]!.RequestItems![CONTROL_TABLE]!.Keys!.map((k) => k['sk']!.S);
    assert.equal(firstKeys.filter((sk) => sk === 'state').length, 3);
    assert.equal(firstKeys.filter((sk) => sk === 'pause').length, 3);
  });

  it('clusters sharing a tag key are read with one DescribeInstances filter holding all their tag values; another key gets its own', async () => {
    const fw = world([...three(), { name: 'delta', nodes: 3, tagKey: 'team-vault' }]);
    const report = await runFor(fw, 6_000);
    assert.equal(report.ticks, 1);
    const calls = fw.commands('DescribeInstances') as DescribeInstancesCommandInput[];
    assert.equal(calls.length, 2);
    const filters = calls.map((c) => c.Filters![0]).sort((a, b) => a!.Name!.localeCompare(b!.Name!));
    assert.deepEqual(filters, [
      { Name: 'tag:team-vault', Values: ['delta'] },
      { Name: 'tag:vault-cluster', Values: ['alpha', 'beta', 'gamma'] },
    ]);
    // Members were split by their own tag value.
    assert.deepEqual(report.clusters.map((c) => c.nodes.length), [3, 3, 5, 3]);
  });

  it('the first tick reads the claims in one batch, takes one run lease and one claim per cluster; the end of the run saves what changed and deletes only the run lease (the claims stay)', async () => {
    const fw = world(three());
    await runFor(fw, 6_000);
    const first = fw.commands('BatchGetItem')[0] as BatchGetItemCommandInput;
    assert.deepEqual(
      first.RequestItems![CONTROL_TABLE]!.Keys!.map((k) => `${k['pk']!.S}/${k['sk']!.S}`),
      ['cluster#alpha/lease#controller', 'cluster#beta/lease#controller', 'cluster#gamma/lease#controller'],
    );
    assert.equal(first.RequestItems![CONTROL_TABLE]!.ConsistentRead, true);
    const puts = (fw.commands('PutItem') as PutItemCommandInput[]).map((p) => `${p.Item!['pk']!.S}/${p.Item!['sk']!.S}`);
    assert.equal(puts[0], 'run#controller:run-1/lease#run');
    assert.deepEqual(puts.filter((k) => k.endsWith('/lease#controller')).sort(), ['cluster#alpha/lease#controller', 'cluster#beta/lease#controller', 'cluster#gamma/lease#controller']);
    const deletes = fw.log.filter((e) => e.command === 'DeleteItem').map((e) => (e.input as { Key: Record<string, { S: string }> }).Key);
    assert.deepEqual(deletes, [{ pk: { S: 'run#controller:run-1' }, sk: { S: 'lease#run' } }]);
    assert.equal(fw.item(CONTROL_TABLE, { pk: { S: 'cluster#alpha' }, sk: { S: 'lease#controller' } })?.['owner']?.S, 'controller:run-1', 'the claim is kept');
  });

  it('a claim read that fails costs nothing but the shortcut: the conditional puts take the claims as before', async () => {
    const fw = world(three());
    fw.deniedTable = CONTROL_TABLE;
    fw.faultClaimReads = true;
    const report = await runFor(fw, 1_000);
    const claimReads = (fw.commands('BatchGetItem') as BatchGetItemCommandInput[]).length - tickBatches(fw).length;
    assert.equal(claimReads, 1, 'the claims were asked for, and refused');
    const claimPuts = (fw.commands('PutItem') as PutItemCommandInput[]).filter((p) => p.Item!['sk']!.S === 'lease#controller');
    assert.equal(claimPuts.length, 3);
    // The tick's own batch is refused too (the same table): it fails, and acts on nothing.
    for (const c of report.clusters) assert.match(c.error ?? '', /AccessDenied/, c.name);
  });

  it('the next run takes the kept claims over by naming the run that is over, at its first put: two writes per cluster and run (claim, state)', async () => {
    const fw = world(three());
    await runFor(fw, 6_000, 'run-1');
    const before = fw.log.length;
    await runFor(fw, 30_000, 'run-2');
    const log = fw.log.slice(before);
    // The predecessor's run lease is read once (gone: its run is over), whatever the number of clusters it held.
    const runLeaseReads = log.filter((e) => e.command === 'GetItem' && (e.input as { Key: Record<string, { S: string }> }).Key['pk']!.S === 'run#controller:run-1');
    assert.equal(runLeaseReads.length, 1);
    const claimPuts = log.filter((e) => e.command === 'PutItem' && (e.input as PutItemCommandInput).Item!['sk']!.S === 'lease#controller').map((e) => e.input as PutItemCommandInput);
    assert.equal(claimPuts.length, 3, 'one put per cluster: none refused and asked again');
    for (const p of claimPuts) {
      assert.match(p.ConditionExpression ?? '', / OR #owner = :from$/);
      assert.deepEqual(p.ExpressionAttributeValues?.[':from'], { S: 'controller:run-1' });
    }
    const perCluster = log.filter((e) => ['PutItem', 'UpdateItem', 'DeleteItem'].includes(e.command)).map((e) => {
      const input = e.input as { Item?: Record<string, { S?: string }>; Key?: Record<string, { S?: string }> };
      return `${e.command} ${(input.Item ?? input.Key)!['sk']!.S!.replace(/#.*$/, '#')}`;
    });
    const count = (w: string) => perCluster.filter((x) => x === w).length;
    assert.deepEqual(
      { claims: count('PutItem lease#'), states: count('PutItem state'), observations: count('PutItem obs#'), claimDeletes: log.filter((e) => e.command === 'DeleteItem' && (e.input as { Key: Record<string, { S: string }> }).Key['sk']!.S === 'lease#controller').length },
      { claims: 3 + 1, states: 3, observations: 0, claimDeletes: 0 },
      perCluster.join(', '),
    );
  });

  it('a state item is written only when what the next run decides from changed: none on unchanged ticks, one at the end of the run', async () => {
    const fw = world([{ name: 'alpha', nodes: 3 }]);
    await runFor(fw, 60_000);
    const stateWrites = fw.log.filter((e) => e.command === 'PutItem' && (e.input as PutItemCommandInput).Item!['sk']!.S === 'state');
    // The first tick (no state stored yet) and the end of the run.
    assert.equal(stateWrites.length, 2);
    assert.equal(stateWrites[0]!.atMs, fw.log[0]!.atMs);
    assert.equal(stateWrites[1]!.atMs, fw.log.at(-1)!.atMs);
  });

  it('a change of the active writes the state and an observation in that tick', async () => {
    const fw = world([{ name: 'alpha', nodes: 3 }]);
    const deps = hookedDeps(fw, (tick) => void (tick === 5 && fw.active.set('alpha', 1)));
    await runController(fw.config, deps, fw.context('run-1', 60_000), { sleep: fw.sleep });
    const writesAt = (sk: (s: string) => boolean) =>
      fw.log.filter((e) => e.command === 'PutItem' && sk((e.input as PutItemCommandInput).Item!['sk']!.S!)).map((e) => e.atMs);
    const fifthTickAt = [...new Set(fw.log.map((e) => e.atMs))][4]!;
    assert.ok(writesAt((s) => s === 'state').includes(fifthTickAt), 'no state write when the active changed');
    assert.ok(writesAt((s) => s.startsWith('obs#')).includes(fifthTickAt), 'no observation when the active changed');
  });

  it(`observations: one when the run starts with nothing recorded, then only a heartbeat every ${OBSERVATION_HEARTBEAT_MS / 60_000} minutes while nothing changes`, async () => {
    const fw = world([{ name: 'alpha', nodes: 3 }]);
    await runFor(fw, 600_000);
    const obs = fw.log.filter((e) => e.command === 'PutItem' && (e.input as PutItemCommandInput).Item!['sk']!.S!.startsWith('obs#')).map((e) => e.atMs);
    assert.equal(obs.length, 3, JSON.stringify(obs));
    assert.ok(obs[1]! - obs[0]! >= OBSERVATION_HEARTBEAT_MS && obs[1]! - obs[0]! < OBSERVATION_HEARTBEAT_MS + 6_000);
  });

  it('a pause in the index, written mid-run, is honoured from the next tick; a pause item of the earlier layout from the run that starts after it', async () => {
    const fw = world([{ name: 'alpha', nodes: 3 }, { name: 'beta', nodes: 3 }]);
    const ddb = new DynamoDBClient({});
    // beta: an older CLI's item, there before the run.
    await ddb.send(
      new PutItemCommand({
        TableName: CONTROL_TABLE,
        Item: { pk: { S: 'cluster#beta' }, sk: { S: 'pause' }, cluster: { S: 'beta' }, pausedBy: { S: 'carol' }, pausedAtMs: { N: '0' }, untilMs: { N: String(fw.nowMs + 3_600_000) } },
      }),
    );
    let pausedAtTick: number | undefined;
    const deps = hookedDeps(
      fw,
      async (tick) => {
        if (tick !== 3) return;
        pausedAtTick = tick;
        await ddb.send(
          new PutItemCommand({
            TableName: CONTROL_TABLE,
            Item: { ...PAUSE_INDEX_KEY, clusters: { M: { alpha: { M: { pausedBy: { S: 'alice' }, pausedAtMs: { N: String(fw.nowMs) }, untilMs: { N: String(fw.nowMs + 3_600_000) } } } } } },
          }),
        );
      },
      'alpha',
    );
    const report = await runController(fw.config, deps, fw.context('run-1', 30_000), { sleep: fw.sleep });
    assert.equal(pausedAtTick, 3);
    const byName = new Map(report.clusters.map((c) => [c.name, c]));
    assert.equal(byName.get('alpha')?.paused?.by, 'alice');
    assert.equal(byName.get('beta')?.paused?.by, 'carol');
    // The earlier layout is read once per run (its first tick), the index every tick.
    const legacyReads = tickBatches(fw).filter((b) => (b.RequestItems![CONTROL_TABLE]!.Keys ?? []).some((k) => k['sk']!.S === 'pause')).length;
    assert.equal(legacyReads, 1);
  });

  it('ticks that AWS throttles back off (1, 2, then 4 intervals) instead of ticking fast, so the loop sends fewer of the refused calls', async () => {
    const fw = world([{ name: 'alpha', nodes: 3 }]);
    fw.throttleTargetHealth = true;
    const report = await runFor(fw, 60_000);
    assert.match(report.clusters[0]!.error ?? '', /ThrottlingException|Rate exceeded/);
    const at = [...new Set(fw.log.filter((e) => e.command === 'DescribeTargetHealth').map((e) => e.atMs))];
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    // 5 s interval: 5, 10, 20, 20 … s apart; unthrottled but failing, the fast window would tick every second.
    assert.deepEqual(gaps.slice(0, 4), [5_000, 10_000, 20_000, 20_000].slice(0, Math.min(4, gaps.length)), `gaps ${gaps.join(', ')}`);
    assert.ok(at.length <= 5, `${at.length} ticks in 60 s`);
  });

  it('keys DynamoDB leaves unprocessed are asked again (bounded), and the tick still acts on what it read', async () => {
    const fw = world(three());
    fw.unprocessedRounds = 2;
    const report = await runFor(fw, 1_000);
    assert.equal(report.ticks, 1);
    const batches = tickBatches(fw);
    assert.equal(batches.length, 3);
    // The retries ask for exactly what was left: the last key of each table.
    assert.deepEqual(Object.keys(batches[1]!.RequestItems!).sort(), [CONTROL_TABLE, 'vault-data-alpha', 'vault-data-beta', 'vault-data-gamma'].sort());
    assert.ok(Object.values(batches[1]!.RequestItems!).every((r) => r.Keys!.length === 1));
    assert.deepEqual(report.clusters.map((c) => c.verdict.kind), ['healthy', 'healthy', 'healthy']);
  });

  it('a lock key still unprocessed after the bounded retries reads as UNREADABLE for its cluster only', async () => {
    const fw = world(three());
    fw.unprocessedRounds = 10;
    const report = await runFor(fw, 1_000);
    assert.equal(report.clusters.length, 3);
    assert.equal(tickBatches(fw).length, 4);
    for (const c of report.clusters) assert.equal(c.lock.state, 'UNREADABLE', c.name);
  });

  it('a lock table that refuses the batch costs only its own cluster: the batch is asked again per table, its lock reads UNREADABLE', async () => {
    const fw = world(three());
    fw.deniedTable = 'vault-data-beta';
    const report = await runFor(fw, 1_000);
    const batches = tickBatches(fw);
    // The whole batch, then one per table (control table and three lock tables).
    assert.equal(batches.length, 5);
    assert.deepEqual(batches.slice(1).map((b) => Object.keys(b.RequestItems!)).flat().sort(), [CONTROL_TABLE, 'vault-data-alpha', 'vault-data-beta', 'vault-data-gamma'].sort());
    const beta = report.clusters.find((c) => c.name === 'beta')!;
    assert.equal(beta.lock.state, 'UNREADABLE');
    assert.deepEqual(report.clusters.filter((c) => c.name !== 'beta').map((c) => c.lock.state), ['HELD', 'HELD']);
  });

  it('a control table that refuses the batch fails every tick: no cluster acts or writes without its pause, state and run lease read', async () => {
    const fw = world(three());
    fw.deniedTable = CONTROL_TABLE;
    const report = await runFor(fw, 1_000);
    assert.equal(report.ticks, 1);
    for (const c of report.clusters) assert.match(c.error ?? '', /AccessDenied/, c.name);
    const bookkeeping = (fw.commands('PutItem') as PutItemCommandInput[]).map((p) => p.Item!['sk']!.S!).filter((sk) => !sk.startsWith('lease#'));
    assert.deepEqual(bookkeeping, []);
  });

  it('a steady healthy cluster logs its outcome sentence once, not every tick (the EMF line carries each tick)', async () => {
    const fw = world([{ name: 'alpha', nodes: 3 }]);
    const lines: Array<{ level: string; message: string; cluster?: unknown }> = [];
    const raw: string[] = [];
    const deps = {
      ...fw.deps(),
      logger: { log: (level: string, message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, cluster: fields?.['cluster'] }), raw: (line: string) => void raw.push(line) },
    };
    const report = await runController(fw.config, deps as never, fw.context('run-1', 60_000), { sleep: fw.sleep });
    assert.ok(report.ticks >= 10, `ticks: ${report.ticks}`);
    const outcomes = lines.filter((l) => l.cluster === 'alpha' && /^no action/.test(l.message));
    assert.equal(outcomes.length, 1, outcomes.map((l) => l.message).join('\n'));
    assert.equal(raw.filter((l) => l.includes('"_aws"')).length, report.ticks, 'one EMF line per tick');
  });
});
