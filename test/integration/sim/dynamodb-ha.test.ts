/**
 * Simulated Vault nodes taking Vault's DynamoDB HA lock (DESIGN §3.4) on an
 * in-process DynamoDB, with timings compressed 33× (TTL 450 ms).
 */
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCK_ATTR, LOCK_ITEM_KEY, NS_PER_MS, type LockTimings } from '../../../functions/core/ha-lock.js';
import { HEALTH_STATUS, VAULT_PATHS, type VaultHealthBody, type VaultLeaderBody } from '../../../functions/core/vault-api.js';
import { SimulatedVaultNode } from '../../../sandbox/sim/vault-node.js';
import { scaledTimings } from '../../../sandbox/sim/timings.js';
import { waitFor } from '../../../sandbox/sim/wait.js';
import { simRequest, SimHttpError } from '../../../sandbox/sim/probe.js';
import { createVaultLockTable, startDynalite, type DynaliteHandle } from '../../support/dynalite.js';

// 0.05 → TTL 750 ms: short enough for seconds-long tests, long enough that a
// loaded 2-core CI box does not starve renewals into spurious takeovers.
const T = scaledTimings(0.05);
const WAIT = { timeoutMs: 5000, intervalMs: 5 };
/**
 * For behaviours that are not about takeover timing: a TTL of 12 renewal
 * intervals, so a starved CI event loop cannot turn a late renewal into a
 * (legitimate) takeover that the test would misread.
 */
const PARTITION = scaledTimings(0.1);
const STEADY: LockTimings = { ...T, ttlMs: T.renewIntervalMs * 12 };

let ddb: DynaliteHandle;
let tableSeq = 0;
let nodes: SimulatedVaultNode[] = [];

beforeAll(async () => {
  ddb = await startDynalite();
});
afterAll(async () => {
  await ddb.close();
});
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.kill()));
  nodes = [];
});

async function newTable(): Promise<string> {
  const table = `vault-ha-${++tableSeq}`;
  await createVaultLockTable(ddb.client, table);
  return table;
}

function node(table: string, name: string, extra: { clockOffsetMs?: number; timings?: LockTimings } = {}): SimulatedVaultNode {
  const { timings = T, ...rest } = extra;
  const n = new SimulatedVaultNode({
    name,
    ha: { type: 'dynamodb', client: ddb.client, table, timings },
    seal: { type: 'auto' },
    ...rest,
  });
  nodes.push(n);
  return n;
}

async function cluster(count: number, timings: LockTimings = T): Promise<{ table: string; members: SimulatedVaultNode[] }> {
  const table = await newTable();
  const members = Array.from({ length: count }, (_, i) => node(table, `vault-${'abc'[i] ?? i}`, { timings }));
  await Promise.all(members.map((m) => m.start()));
  return { table, members };
}

function actives(members: SimulatedVaultNode[]): SimulatedVaultNode[] {
  return members.filter((m) => m.status().isActive);
}

/** Compare nodes by name only: an assertion diff of node objects would inspect sockets and SDK clients. */
function activeNames(members: SimulatedVaultNode[]): string[] {
  return actives(members).map((m) => m.name);
}

async function soleActive(members: SimulatedVaultNode[], exclude?: SimulatedVaultNode): Promise<SimulatedVaultNode> {
  return waitFor(
    () => {
      const a = actives(members);
      return a.length === 1 && a[0] !== exclude ? a[0] : undefined;
    },
    { ...WAIT, description: 'exactly one active node' },
  );
}

async function readLock(table: string) {
  const out = await ddb.client.send(
    new GetItemCommand({ TableName: table, Key: { Path: { S: LOCK_ITEM_KEY.Path }, Key: { S: LOCK_ITEM_KEY.Key } }, ConsistentRead: true }),
  );
  const item = out.Item;
  if (!item) return undefined;
  return {
    raw: item,
    identity: new TextDecoder().decode(item[LOCK_ATTR.identity]?.B),
    value: new TextDecoder().decode(item[LOCK_ATTR.value]?.B),
    expiresNs: BigInt(item[LOCK_ATTR.expires]?.N ?? '0'),
  };
}

function nsToMs(ns: bigint): number {
  return Number(ns / NS_PER_MS);
}

async function health(n: SimulatedVaultNode): Promise<{ status: number; body: VaultHealthBody }> {
  const answer = await simRequest(`${n.baseUrl}${VAULT_PATHS.health}`, { timeoutMs: 1000 });
  return { status: answer.status, body: answer.json as VaultHealthBody };
}

async function leader(n: SimulatedVaultNode): Promise<VaultLeaderBody> {
  return (await simRequest(`${n.baseUrl}${VAULT_PATHS.leader}`, { timeoutMs: 1000 })).json as VaultLeaderBody;
}

describe('DynamoDB HA election', () => {
  it('three unsealed nodes elect exactly one active, and it stays the only one', async () => {
    const { members } = await cluster(3, STEADY);
    const first = await soleActive(members);
    const deadline = Date.now() + 4 * T.renewIntervalMs;
    while (Date.now() < deadline) {
      assert.deepEqual(activeNames(members), [first.name]);
      await new Promise((r) => setTimeout(r, 10));
    }
    const codes = await Promise.all(members.map(async (m) => (await health(m)).status));
    assert.deepEqual(
      codes.sort(),
      [HEALTH_STATUS.active, HEALTH_STATUS.standby, HEALTH_STATUS.standby].sort(),
    );
  });

  it('the lock item carries binary Value and Identity of the holder and Expires in ns near its clock + TTL', async () => {
    const { table, members } = await cluster(3, STEADY);
    const active = await soleActive(members);
    const status = active.status();
    const lock = await readLock(table);
    assert.ok(lock, 'lock item present');
    assert.ok(lock.raw[LOCK_ATTR.value]?.B instanceof Uint8Array, 'Value is a binary attribute');
    assert.ok(lock.raw[LOCK_ATTR.identity]?.B instanceof Uint8Array, 'Identity is a binary attribute');
    assert.equal(lock.identity, status.lockIdentity);
    assert.equal(lock.value, status.leaderUuid);
    assert.notEqual(lock.identity, lock.value);
    const remainingMs = nsToMs(lock.expiresNs) - Date.now();
    assert.ok(remainingMs > 0, `a held lock has not expired (remaining ${remainingMs} ms)`);
    assert.ok(remainingMs <= STEADY.ttlMs + 50, `Expires is at most one TTL ahead (remaining ${remainingMs} ms)`);
  });

  it("Expires is written with the holder's own clock", async () => {
    const table = await newTable();
    const offsetMs = 60_000;
    const skewed = node(table, 'vault-skewed', { clockOffsetMs: offsetMs });
    await skewed.start();
    await soleActive([skewed]);
    const lock = await readLock(table);
    assert.ok(lock);
    const aheadMs = nsToMs(lock.expiresNs) - Date.now();
    assert.ok(aheadMs > offsetMs, `Expires is ${aheadMs} ms ahead of the real clock`);
    assert.ok(aheadMs <= offsetMs + T.ttlMs + 50);
  });

  it("standbys report the active's api_addr as leader_address", async () => {
    const { members } = await cluster(3, STEADY);
    const active = await soleActive(members);
    const standbys = members.filter((m) => m !== active);
    const views = await waitFor(
      async () => {
        const bodies = await Promise.all(standbys.map(leader));
        return bodies.every((b) => b.leader_address === active.apiAddr()) ? bodies : undefined;
      },
      { ...WAIT, description: 'standbys to learn the leader' },
    );
    for (const view of views) assert.equal(view.is_self, false);
    const own = await leader(active);
    assert.equal(own.is_self, true);
    assert.equal(own.leader_address, active.apiAddr());
  });
});

describe('DynamoDB HA failover', () => {
  it('after the active is killed a standby takes the lock only once its Expires has passed, with a new Identity and Value', async () => {
    const { table, members } = await cluster(3);
    const old = await soleActive(members);
    await old.kill();
    const before = await readLock(table);
    assert.ok(before);
    const successor = await soleActive(members, old);
    const took = successor.status();
    assert.ok(took.activeSinceMs !== undefined);
    assert.ok(
      took.activeSinceMs >= nsToMs(before.expiresNs),
      `took over at ${took.activeSinceMs}, lock expired at ${nsToMs(before.expiresNs)}`,
    );
    const afterLock = await readLock(table);
    assert.ok(afterLock);
    assert.notEqual(afterLock.identity, before.identity);
    assert.notEqual(afterLock.value, before.value);
    assert.equal(afterLock.identity, took.lockIdentity);
  });

  it('a standby with a clock ahead takes over before the holder-written Expires by up to its skew', async () => {
    const table = await newTable();
    const holder = node(table, 'vault-a');
    await holder.start();
    await soleActive([holder]);
    const skewMs = Math.round(T.ttlMs / 2);
    const contender = node(table, 'vault-b', { clockOffsetMs: skewMs });
    await contender.start();
    await new Promise((r) => setTimeout(r, 2 * T.retryIntervalMs));
    assert.equal(contender.status().isActive, false, 'contender waits while the holder renews');
    await holder.kill();
    const before = await readLock(table);
    assert.ok(before);
    await soleActive([holder, contender], holder);
    const since = contender.status().activeSinceMs;
    assert.ok(since !== undefined);
    const expiresMs = nsToMs(before.expiresNs);
    assert.ok(since < expiresMs, `took over at ${since}, before the real expiry ${expiresMs}`);
    assert.ok(since >= expiresMs - skewMs, 'but not before the skew allows');
  });

  it('after a step-down another node takes over and the old active does not compete during the backoff', async () => {
    const { table, members } = await cluster(3);
    const old = await soleActive(members);
    const oldIdentity = old.status().lockIdentity;
    const steppedAt = Date.now();
    assert.equal(await old.stepDown(), true);
    const successor = await soleActive(members, old);
    while (Date.now() < steppedAt + T.stepDownBackoffMs) {
      assert.equal(old.status().isActive, false);
      await new Promise((r) => setTimeout(r, 5));
    }
    const lock = await readLock(table);
    assert.ok(lock);
    assert.notEqual(lock.identity, oldIdentity);
    assert.equal(lock.identity, successor.status().lockIdentity);
  });

  it('a step-down released the lock at once: the successor did not wait for the TTL', async () => {
    const { members } = await cluster(2);
    const old = await soleActive(members);
    const steppedAt = Date.now();
    await old.stepDown();
    const successor = await soleActive(members, old);
    const since = successor.status().activeSinceMs ?? Infinity;
    assert.ok(since - steppedAt < T.ttlMs, `took ${since - steppedAt} ms`);
  });
});

describe('DynamoDB HA faults', () => {
  it('an active cut off from DynamoDB keeps claiming active for ~watchMaxFailures × watchRetryInterval while another node takes the lock after the TTL', async () => {
    // Vault's ratios at 1/10 speed (TTL 1.5 s, gives up after 5 × 500 ms): the
    // ~1 s overlap stays observable even when dynalite answers slowly under load.
    const T = PARTITION;
    const { table, members } = await cluster(3, T);
    const cut = await soleActive(members);
    const lastLock = await readLock(table);
    assert.ok(lastLock);
    const partitionedAt = Date.now();
    cut.partitionStorage(true);

    let splitSeenAt: number | undefined;
    let splitHealth: number[] | undefined;
    let cutStoppedAt: number | undefined;
    const deadline = partitionedAt + 10_000;
    while (Date.now() < deadline && cutStoppedAt === undefined) {
      const claimants = actives(members);
      if (claimants.length === 2 && splitSeenAt === undefined) {
        splitSeenAt = Date.now();
        splitHealth = await Promise.all(claimants.map(async (c) => (await health(c)).status));
      }
      if (!cut.status().isActive) cutStoppedAt = Date.now();
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(splitSeenAt !== undefined, 'two nodes claimed active at the same time');
    assert.deepEqual(splitHealth, [HEALTH_STATUS.active, HEALTH_STATUS.active]);
    assert.ok(cutStoppedAt !== undefined, 'the cut-off node gave up leadership');
    const window = T.watchMaxFailures * T.watchRetryIntervalMs;
    const heldFor = cutStoppedAt - partitionedAt;
    assert.ok(heldFor >= window - T.watchRetryIntervalMs, `kept claiming for ${heldFor} ms`);
    assert.ok(heldFor <= window + T.watchRetryIntervalMs + 200, `gave up after ${heldFor} ms`);
    assert.ok(splitSeenAt - partitionedAt < heldFor);

    const successor = await soleActive(members);
    assert.notEqual(successor.name, cut.name);
    assert.ok((successor.status().activeSinceMs ?? 0) >= nsToMs(lastLock.expiresNs));
  });

  it('once healed, a node that lost the lock through a storage partition stays standby behind the new holder', async () => {
    const { members } = await cluster(2);
    const cut = await soleActive(members);
    cut.partitionStorage(true);
    const successor = await soleActive(members, cut);
    cut.partitionStorage(false);
    const deadline = Date.now() + 3 * T.ttlMs;
    while (Date.now() < deadline) {
      assert.deepEqual(activeNames(members), [successor.name]);
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  it('an active whose clients are cut off keeps renewing its lock while answering no HTTP (zombie leader)', async () => {
    const { table, members } = await cluster(3);
    const zombie = await soleActive(members);
    await zombie.partitionClients(true, 'refuse');
    const first = await readLock(table);
    assert.ok(first);
    await new Promise((r) => setTimeout(r, 2 * T.ttlMs));
    const later = await readLock(table);
    assert.ok(later);
    assert.equal(later.identity, first.identity);
    assert.ok(later.expiresNs > first.expiresNs, 'Expires keeps advancing');
    await assert.rejects(health(zombie), (err: unknown) => err instanceof SimHttpError && err.reason === 'network');
    assert.deepEqual(activeNames(members), [zombie.name]);
    for (const standby of members.filter((m) => m !== zombie)) {
      assert.equal((await leader(standby)).leader_address, zombie.apiAddr(), 'standbys still name the zombie');
    }
  });

  it("a 'hang' client partition accepts connections but never answers, and healing restores answers", async () => {
    const { members } = await cluster(1);
    const only = await soleActive(members);
    await only.partitionClients(true, 'hang');
    await assert.rejects(
      simRequest(`${only.baseUrl}${VAULT_PATHS.health}`, { timeoutMs: 150 }),
      (err: unknown) => err instanceof SimHttpError && err.reason === 'timeout',
    );
    await only.partitionClients(false);
    assert.equal((await health(only)).status, HEALTH_STATUS.active);
  });

  it('a forced-active standby and the lock holder both answer 200 (split brain)', async () => {
    const { table, members } = await cluster(2, STEADY);
    const holder = await soleActive(members);
    const rogue = members.find((m) => m !== holder);
    assert.ok(rogue);
    rogue.forceActive(true);
    const codes = await Promise.all(members.map(async (m) => (await health(m)).status));
    assert.deepEqual(codes, [HEALTH_STATUS.active, HEALTH_STATUS.active]);
    assert.equal((await leader(rogue)).is_self, true);
    assert.equal((await readLock(table))?.identity, holder.status().lockIdentity, 'the lock still names the holder');
  });

  it('a graceful stop of the active deletes the lock item so a standby takes over without waiting for the TTL', async () => {
    const { members } = await cluster(2);
    const old = await soleActive(members);
    const stoppedAt = Date.now();
    await old.stop();
    const successor = await soleActive(members, old);
    assert.ok((successor.status().activeSinceMs ?? Infinity) - stoppedAt < T.ttlMs);
  });
});
