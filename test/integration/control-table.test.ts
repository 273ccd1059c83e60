import { afterAll, beforeAll, describe, test } from '@jest/globals';
import { deflateRawSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { GetItemCommand, ListTablesCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import {
  acquireLease,
  getReport,
  loadClusterState,
  putReport,
  readLease,
  recordObservation,
  recordVerdictTransition,
  releaseLease,
  requestHandover,
  saveClusterState,
  STATE_PACKED_ATTRIBUTE,
  type ClusterState,
} from '../../functions/adapters/control-table.js';
import { makeClients } from '../../functions/adapters/aws-clients.js';
import { readClaims } from '../../functions/adapters/tick-reads.js';
import { ControlItemCorruptError, HandoverRequestedError, ItemTooLargeError, LeaseBusyError, TableNotFoundError } from '../../functions/adapters/errors.js';
import { createControlTable, startDynalite, type DynaliteHandle } from '../support/dynalite.js';

let db: DynaliteHandle;
const TABLE = 'vault-ha-control';
const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const MINUTE = 60_000;

beforeAll(async () => {
  db = await startDynalite();
  await createControlTable(db.client, TABLE);
});
afterAll(async () => {
  await db.close();
});

let clusterNo = 0;
const freshCluster = (): string => `c${++clusterNo}`;

async function item(cluster: string, sk: string) {
  const out = await db.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `cluster#${cluster}` }, sk: { S: sk } }, ConsistentRead: true }));
  return out.Item;
}

describe('leases', () => {
  test('a free lease is acquired and recorded with its expiry', async () => {
    const cluster = freshCluster();
    const lease = await acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-a', ttlMs: MINUTE, nowMs: T0, purpose: 'controller' });
    assert.deepEqual(lease, { cluster, scope: 'controller', owner: 'run-a', acquiredAtMs: T0, expiresAtMs: T0 + MINUTE, purpose: 'controller' });
    assert.deepEqual(await readLease(db.client, TABLE, { cluster, scope: 'controller' }), lease);
    const stored = await item(cluster, 'lease#controller');
    assert.ok(Number(stored?.['expiresAt']?.N) >= (T0 + MINUTE) / 1000, 'TTL attribute in seconds, not before the lease expires');
    assert.ok(Number(stored?.['expiresAt']?.N) < (T0 + MINUTE) / 1000 + 7 * 24 * 3600, 'TTL attribute is seconds, not milliseconds');
  });

  test('a second owner gets LeaseBusyError carrying the current holder', async () => {
    const cluster = freshCluster();
    const held = await acquireLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-1', ttlMs: MINUTE, nowMs: T0, purpose: 'replace vault-a' });
    await assert.rejects(
      acquireLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-2', ttlMs: MINUTE, nowMs: T0 + 1000 }),
      (e: unknown) => e instanceof LeaseBusyError && e.name === 'LeaseBusyError' && JSON.stringify(e.holder) === JSON.stringify(held),
    );
    assert.equal((await readLease(db.client, TABLE, { cluster, scope: 'operation' }))?.owner, 'exec-1');
  });

  test('an expired lease can be taken over by another owner', async () => {
    const cluster = freshCluster();
    await acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-a', ttlMs: MINUTE, nowMs: T0 });
    const taken = await acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-b', ttlMs: MINUTE, nowMs: T0 + MINUTE + 1 });
    assert.equal(taken.owner, 'run-b');
    assert.equal((await readLease(db.client, TABLE, { cluster, scope: 'controller' }))?.owner, 'run-b');
  });

  test('a lease is not taken over at the very millisecond it expires', async () => {
    const cluster = freshCluster();
    await acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-a', ttlMs: MINUTE, nowMs: T0 });
    await assert.rejects(acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-b', ttlMs: MINUTE, nowMs: T0 + MINUTE }), LeaseBusyError);
  });

  test('the same owner re-acquires its unexpired lease, extending it', async () => {
    const cluster = freshCluster();
    await acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-a', ttlMs: MINUTE, nowMs: T0 });
    const renewed = await acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-a', ttlMs: MINUTE, nowMs: T0 + 10_000 });
    assert.equal(renewed.expiresAtMs, T0 + 10_000 + MINUTE);
    assert.equal((await readLease(db.client, TABLE, { cluster, scope: 'controller' }))?.expiresAtMs, T0 + 10_000 + MINUTE);
  });

  test('scopes are independent: the controller lease does not block an operation lease', async () => {
    const cluster = freshCluster();
    await acquireLease(db.client, TABLE, { cluster, scope: 'controller', owner: 'run-a', ttlMs: MINUTE, nowMs: T0 });
    const op = await acquireLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-1', ttlMs: MINUTE, nowMs: T0 });
    assert.equal(op.owner, 'exec-1');
  });

  test('only the owner releases a lease; anyone else gets false and the lease stays', async () => {
    const cluster = freshCluster();
    await acquireLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-1', ttlMs: MINUTE, nowMs: T0 });
    assert.equal(await releaseLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-2' }), false);
    assert.equal((await readLease(db.client, TABLE, { cluster, scope: 'operation' }))?.owner, 'exec-1');
    assert.equal(await releaseLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-1' }), true);
    assert.equal(await readLease(db.client, TABLE, { cluster, scope: 'operation' }), undefined);
  });

  test('releasing an absent lease returns false', async () => {
    assert.equal(await releaseLease(db.client, TABLE, { cluster: freshCluster(), scope: 'operation', owner: 'exec-1' }), false);
  });

  test('after a release another owner acquires at once', async () => {
    const cluster = freshCluster();
    await acquireLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-1', ttlMs: MINUTE, nowMs: T0 });
    await releaseLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-1' });
    const next = await acquireLease(db.client, TABLE, { cluster, scope: 'operation', owner: 'exec-2', ttlMs: MINUTE, nowMs: T0 + 1 });
    assert.equal(next.owner, 'exec-2');
  });

  test('a missing control table is TableNotFoundError', async () => {
    await assert.rejects(
      acquireLease(db.client, 'no-such-table', { cluster: 'c', scope: 'controller', owner: 'o', ttlMs: MINUTE, nowMs: T0 }),
      (e: unknown) => e instanceof TableNotFoundError && e.resource === 'no-such-table',
    );
  });
});

describe('readClaims (a run reads every claim in one batch before taking them)', () => {
  test('each cluster: its claim as stored, undefined when none, an Error for a malformed item (the conditional put decides then)', async () => {
    const [held, free, broken] = [freshCluster(), freshCluster(), freshCluster()];
    await acquireLease(db.client, TABLE, { cluster: held, scope: 'controller', owner: 'controller:old', ttlMs: MINUTE, nowMs: T0, purpose: 'controller', runLease: true });
    await db.client.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: `cluster#${broken}` }, sk: { S: 'lease#controller' }, owner: { N: '7' } } }));
    const claims = await readClaims(db.client, TABLE, [held, free, broken]);
    assert.deepEqual([...claims.keys()], [held, free, broken]);
    const h = claims.get(held);
    assert.ok(h && !(h instanceof Error));
    assert.deepEqual([h.owner, h.runLease, h.expiresAtMs], ['controller:old', true, T0 + MINUTE]);
    assert.equal(claims.get(free), undefined);
    assert.ok(claims.get(broken) instanceof ControlItemCorruptError);
  });
});

describe('lease handover between controller runs', () => {
  const lease = (cluster: string, owner: string, nowMs: number, yieldToSuccessor = false) => ({
    cluster,
    scope: 'controller',
    owner,
    ttlMs: MINUTE,
    nowMs,
    ...(yieldToSuccessor ? { yieldToSuccessor } : {}),
  });

  test('a successor asks the live holder; the holder renewing with yieldToSuccessor learns it and nobody else gets in meanwhile', async () => {
    const c = freshCluster();
    await acquireLease(db.client, TABLE, lease(c, 'controller:old', T0));
    assert.equal(await requestHandover(db.client, TABLE, { cluster: c, scope: 'controller', holder: 'controller:old', requester: 'controller:new', nowMs: T0 + 1_000 }), true);
    assert.equal((await readLease(db.client, TABLE, { cluster: c, scope: 'controller' }))?.handoverRequestedBy, 'controller:new');

    await assert.rejects(acquireLease(db.client, TABLE, lease(c, 'controller:new', T0 + 1_100)), LeaseBusyError);
    await assert.rejects(acquireLease(db.client, TABLE, lease(c, 'controller:old', T0 + 2_000, true)), (err: unknown) => {
      assert.ok(err instanceof HandoverRequestedError);
      assert.equal(err.requester, 'controller:new');
      return true;
    });
    assert.equal(await releaseLease(db.client, TABLE, { cluster: c, scope: 'controller', owner: 'controller:old' }), true);
    const taken = await acquireLease(db.client, TABLE, lease(c, 'controller:new', T0 + 2_100));
    assert.equal(taken.owner, 'controller:new');
    // The new holder's item carries no stale request: its own renewals go through.
    await acquireLease(db.client, TABLE, lease(c, 'controller:new', T0 + 3_000, true));
  });

  test('renewing with yieldToSuccessor succeeds while nobody asked', async () => {
    const c = freshCluster();
    await acquireLease(db.client, TABLE, lease(c, 'controller:old', T0));
    const renewed = await acquireLease(db.client, TABLE, lease(c, 'controller:old', T0 + 5_000, true));
    assert.equal(renewed.expiresAtMs, T0 + 5_000 + MINUTE);
  });

  test('asking an expired or different holder does nothing (plain acquisition is the way in)', async () => {
    const c = freshCluster();
    await acquireLease(db.client, TABLE, lease(c, 'controller:old', T0));
    const ask = (holder: string, nowMs: number) =>
      requestHandover(db.client, TABLE, { cluster: c, scope: 'controller', holder, requester: 'controller:new', nowMs });
    assert.equal(await ask('controller:someone-else', T0 + 1_000), false);
    assert.equal(await ask('controller:old', T0 + MINUTE + 1), false);
    assert.equal((await readLease(db.client, TABLE, { cluster: c, scope: 'controller' }))?.handoverRequestedBy, undefined);
  });
});

describe('cluster state', () => {
  test('an absent state loads as empty defaults', async () => {
    assert.deepEqual(await loadClusterState(db.client, TABLE, freshCluster()), { history: { ticks: [], failureCounts: {} }, goneSinceMs: {} });
  });

  test('a saved state loads back unchanged', async () => {
    const cluster = freshCluster();
    const state: ClusterState = {
      history: {
        ticks: [
          { atMs: T0, verdict: 'healthy', activeInstanceId: 'i-0a', claimants: ['i-0a'], lockState: 'HELD', lockIdentity: 'id-1', lockExpiresAtNs: '1795000015123456789' },
          { atMs: T0 + 5000, verdict: 'split-brain', claimants: ['i-0a', 'i-0b'] },
        ],
        failureCounts: { 'i-0c': 2 },
      },
      lastVerdict: 'split-brain',
      lastVerdictSinceMs: T0 + 5000,
      lastNotifiedVerdict: 'healthy',
      goneSinceMs: { 'i-0d': T0 - MINUTE },
    };
    await saveClusterState(db.client, TABLE, cluster, state);
    assert.deepEqual(await loadClusterState(db.client, TABLE, cluster), state);
  });

  test('a state item that is not valid JSON is ControlItemCorruptError', async () => {
    const cluster = freshCluster();
    await db.client.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: `cluster#${cluster}` }, sk: { S: 'state' }, state: { S: '{not json' } } }));
    await assert.rejects(loadClusterState(db.client, TABLE, cluster), ControlItemCorruptError);
  });

  test('the state is stored deflated: a full 5-node history costs a tenth of its JSON in write units', async () => {
    const cluster = freshCluster();
    // DEFAULT_MAX_TICKS (50) ticks as a steady cluster writes them: the same verdict, active, lock identity.
    const ticks = Array.from({ length: 50 }, (_, i) => ({
      atMs: T0 + i * 5000,
      verdict: 'healthy' as const,
      activeInstanceId: 'i-0a1b2c3d4e5f60001',
      claimants: ['i-0a1b2c3d4e5f60001'],
      lockState: 'HELD' as const,
      lockIdentity: '4f0c9d2e-7a31-4b8e-9c55-1d2e3f405162',
      lockValue: 'https://10.0.1.11:8200',
      lockExpiresAtNs: String(1_795_000_015_000_000_000n + BigInt(i) * 5_000_000_000n),
      standbyLeaderAddress: 'https://10.0.1.11:8200',
    }));
    const state: ClusterState = { history: { ticks, failureCounts: { 'i-0a1b2c3d4e5f60004': 1 } }, lastVerdict: 'healthy', lastVerdictSinceMs: T0, goneSinceMs: {} };
    await saveClusterState(db.client, TABLE, cluster, state);
    const stored = await item(cluster, 'state');
    const json = Buffer.byteLength(JSON.stringify(state));
    const packed = stored?.[STATE_PACKED_ATTRIBUTE]?.B;
    assert.ok(packed instanceof Uint8Array, 'a binary attribute');
    assert.equal(stored?.['state'], undefined, 'no plain copy next to it');
    assert.ok(json > 10_000 && packed.byteLength * 5 < json, `${packed.byteLength} bytes deflated for ${json} bytes of JSON`);
    assert.deepEqual(await loadClusterState(db.client, TABLE, cluster), state);
  });

  test('a state an older controller wrote as plain JSON is still read', async () => {
    const cluster = freshCluster();
    const state: ClusterState = { history: { ticks: [{ atMs: T0, verdict: 'no-leader', claimants: [] }], failureCounts: {} }, lastVerdict: 'no-leader', goneSinceMs: {} };
    await db.client.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: `cluster#${cluster}` }, sk: { S: 'state' }, state: { S: JSON.stringify(state) } } }));
    assert.deepEqual(await loadClusterState(db.client, TABLE, cluster), state);
  });

  test('a packed state that inflates past one item\'s JSON budget, or is not deflate data, is ControlItemCorruptError', async () => {
    for (const packed of [deflateRawSync(Buffer.alloc(2 * 1024 * 1024, 0x20)), Buffer.from('not deflate data')]) {
      const cluster = freshCluster();
      await db.client.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: `cluster#${cluster}` }, sk: { S: 'state' }, [STATE_PACKED_ATTRIBUTE]: { B: packed } } }));
      await assert.rejects(loadClusterState(db.client, TABLE, cluster), (e: unknown) => e instanceof ControlItemCorruptError && /deflated JSON/.test(e.message));
    }
  });

  test('a state too large for one DynamoDB item is refused before the call', async () => {
    const cluster = freshCluster();
    const ticks = Array.from({ length: 5000 }, (_, i) => ({ atMs: T0 + i, verdict: 'healthy' as const, claimants: ['i-0'.padEnd(80, 'x')] }));
    await assert.rejects(saveClusterState(db.client, TABLE, cluster, { history: { ticks, failureCounts: {} }, goneSinceMs: {} }), ItemTooLargeError);
    assert.equal(await item(cluster, 'state'), undefined);
  });
});

describe('observations, verdict transitions and reports', () => {
  test('an observation is stored under obs#<ISO time> with expiresAt in Unix seconds', async () => {
    const cluster = freshCluster();
    await recordObservation(db.client, TABLE, cluster, T0, { verdict: 'healthy', nodes: 3 }, 3600);
    const stored = await item(cluster, 'obs#2026-11-22T10:00:00.000Z');
    assert.ok(stored);
    assert.equal(Number(stored['expiresAt']?.N), T0 / 1000 + 3600);
    assert.deepEqual(JSON.parse(stored['observation']?.S ?? ''), { verdict: 'healthy', nodes: 3 });
  });

  test('a verdict transition is stored under verdict#<ISO time> and kept 90 days', async () => {
    const cluster = freshCluster();
    await recordVerdictTransition(db.client, TABLE, cluster, { atMs: T0, from: 'healthy', to: 'split-brain', reasons: ['i-0a and i-0b claim active'] });
    const stored = await item(cluster, 'verdict#2026-11-22T10:00:00.000Z');
    assert.equal(stored?.['from']?.S, 'healthy');
    assert.equal(stored?.['to']?.S, 'split-brain');
    assert.deepEqual(stored?.['reasons']?.L?.map((r) => r.S), ['i-0a and i-0b claim active']);
    assert.equal(Number(stored?.['expiresAt']?.N), T0 / 1000 + 90 * 24 * 3600);
  });

  test('the history of one cluster is queryable in time order by sort key prefix', async () => {
    const cluster = freshCluster();
    for (const [i, to] of (['no-leader', 'healthy', 'flapping'] as const).entries()) {
      await recordVerdictTransition(db.client, TABLE, cluster, { atMs: T0 + (2 - i) * MINUTE, from: undefined, to, reasons: [] });
    }
    const out = await db.client.send(
      new QueryCommand({
        TableName: TABLE,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':pk': { S: `cluster#${cluster}` }, ':p': { S: 'verdict#' } },
      }),
    );
    assert.deepEqual(out.Items?.map((i) => i['to']?.S), ['flapping', 'healthy', 'no-leader']);
  });

  test('a report is stored per kind and id and read back', async () => {
    const cluster = freshCluster();
    const report = { result: 'succeeded', timeline: [{ at: '2026-11-22T10:00:00.000Z', phase: 'lease' }] };
    await putReport(db.client, TABLE, cluster, 'drill', 'exec-7', report, 3600, T0);
    assert.deepEqual(await getReport(db.client, TABLE, cluster, 'drill', 'exec-7'), report);
    assert.equal(await getReport(db.client, TABLE, cluster, 'replace', 'exec-7'), undefined);
    assert.equal(Number((await item(cluster, 'report#drill#exec-7'))?.['expiresAt']?.N), T0 / 1000 + 3600);
  });
});

describe('makeClients', () => {
  test('reaches DynamoDB through the standard AWS_ENDPOINT_URL_DYNAMODB variable', async () => {
    process.env['AWS_ENDPOINT_URL_DYNAMODB'] = db.endpoint;
    process.env['AWS_REGION'] = 'us-east-1';
    process.env['AWS_ACCESS_KEY_ID'] = 'x';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'x';
    const { ddb } = makeClients();
    try {
      const out = await ddb.send(new ListTablesCommand({}));
      assert.ok(out.TableNames?.includes(TABLE));
    } finally {
      ddb.destroy();
    }
  });
});
