/**
 * The control-table items behind `vault-ha pause/resume/history/status`
 * (functions/adapters/pause.ts, functions/adapters/control-history.ts),
 * against dynalite with the table layout serverless.yml deploys.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { clearPause, readPause, writePause, PAUSE_INDEX_KEY, PAUSE_SK, PAUSE_TTL_GRACE_SECONDS } from '../../functions/adapters/pause.js';
import {
  listObservations,
  listOperatorEvents,
  listReports,
  listVerdictTransitions,
  recordOperatorEvent,
} from '../../functions/adapters/control-history.js';
import { putReport, recordObservation, recordVerdictTransition } from '../../functions/adapters/control-table.js';
import { ControlItemCorruptError, TableNotFoundError } from '../../functions/adapters/errors.js';
import { createControlTable, startDynalite, type DynaliteHandle } from '../support/dynalite.js';

const TABLE = 'vault-ha-control-test';
const T0 = Date.parse('2026-12-01T12:00:00.000Z');
let db: DynaliteHandle;
let n = 0;
const fresh = (): string => `c${++n}`;

beforeAll(async () => {
  db = await startDynalite();
  await createControlTable(db.client, TABLE);
});
afterAll(async () => {
  await db.close();
});

describe('pause items', () => {
  const index = async () => (await db.client.send(new GetItemCommand({ TableName: TABLE, Key: PAUSE_INDEX_KEY, ConsistentRead: true }))).Item;

  it('a written pause reads back as written, from one index item for every cluster (no TTL on it)', async () => {
    const [a, b] = [fresh(), fresh()];
    const p = { cluster: a, pausedBy: 'arn:aws:sts::111122223333:assumed-role/ops/alice', pausedAtMs: T0, untilMs: T0 + 3_600_000, reason: 'kernel upgrade' };
    await writePause(db.client, TABLE, p);
    await writePause(db.client, TABLE, { cluster: b, pausedBy: 'bob', pausedAtMs: T0, untilMs: T0 + 60_000 });
    assert.deepEqual(await readPause(db.client, TABLE, a), p);
    assert.equal((await readPause(db.client, TABLE, b))?.pausedBy, 'bob');
    const item = await index();
    assert.deepEqual(Object.keys(item?.['clusters']?.M ?? {}).filter((k) => k === a || k === b).sort(), [a, b].sort());
    assert.equal(item?.['expiresAt'], undefined, 'a TTL would delete every pause with it');
    assert.equal((await db.client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `cluster#${a}` }, sk: { S: PAUSE_SK } } }))).Item, undefined, 'no item per cluster');
  });

  it('a second pause replaces the first (one entry per cluster)', async () => {
    const cluster = fresh();
    await writePause(db.client, TABLE, { cluster, pausedBy: 'alice', pausedAtMs: T0, untilMs: T0 + 1000 });
    await writePause(db.client, TABLE, { cluster, pausedBy: 'bob', pausedAtMs: T0 + 10, untilMs: T0 + 2000 });
    assert.equal((await readPause(db.client, TABLE, cluster))?.pausedBy, 'bob');
  });

  it(`a write drops the entries expired more than ${PAUSE_TTL_GRACE_SECONDS / 86_400} days ago, so the index stays the size of the pauses in force`, async () => {
    const [old, recent, now] = [fresh(), fresh(), fresh()];
    const day = 86_400_000;
    await writePause(db.client, TABLE, { cluster: old, pausedBy: 'alice', pausedAtMs: T0 - 10 * day, untilMs: T0 - 9 * day });
    await writePause(db.client, TABLE, { cluster: recent, pausedBy: 'alice', pausedAtMs: T0 - 2 * day, untilMs: T0 - day });
    await writePause(db.client, TABLE, { cluster: now, pausedBy: 'bob', pausedAtMs: T0, untilMs: T0 + day });
    const names = Object.keys((await index())?.['clusters']?.M ?? {});
    assert.ok(!names.includes(old), 'expired 9 days ago: dropped');
    assert.ok(names.includes(recent) && names.includes(now), 'expired yesterday: still readable (who paused last)');
  });

  it('clearPause answers what was stored and leaves nothing; clearing again answers undefined', async () => {
    const cluster = fresh();
    await writePause(db.client, TABLE, { cluster, pausedBy: 'alice', pausedAtMs: T0, untilMs: T0 + 1000 });
    assert.equal((await clearPause(db.client, TABLE, cluster))?.pausedBy, 'alice');
    assert.equal(await readPause(db.client, TABLE, cluster), undefined);
    assert.equal(await clearPause(db.client, TABLE, cluster), undefined);
  });

  it('a pause item of the earlier layout (one item per cluster, an older CLI) is read, and cleared by resume', async () => {
    const cluster = fresh();
    await db.client.send(
      new PutItemCommand({
        TableName: TABLE,
        Item: { pk: { S: `cluster#${cluster}` }, sk: { S: PAUSE_SK }, cluster: { S: cluster }, pausedBy: { S: 'carol' }, pausedAtMs: { N: String(T0) }, untilMs: { N: String(T0 + 1000) } },
      }),
    );
    assert.equal((await readPause(db.client, TABLE, cluster))?.pausedBy, 'carol');
    assert.equal((await clearPause(db.client, TABLE, cluster))?.pausedBy, 'carol');
    assert.equal(await readPause(db.client, TABLE, cluster), undefined);
  });

  it('a hand-edited pause without its fields is ControlItemCorruptError, not a silent "not paused" (either layout)', async () => {
    const cluster = fresh();
    await db.client.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: `cluster#${cluster}` }, sk: { S: PAUSE_SK }, pausedBy: { S: 'x' } } }));
    await assert.rejects(readPause(db.client, TABLE, cluster), ControlItemCorruptError);
    const other = fresh();
    await writePause(db.client, TABLE, { cluster: other, pausedBy: 'alice', pausedAtMs: T0, untilMs: T0 + 1000 });
    await db.client.send(
      new UpdateItemCommand({ TableName: TABLE, Key: PAUSE_INDEX_KEY, UpdateExpression: 'SET #c.#n = :v', ExpressionAttributeNames: { '#c': 'clusters', '#n': other }, ExpressionAttributeValues: { ':v': { M: { pausedBy: { S: 'x' } } } } }),
    );
    await assert.rejects(readPause(db.client, TABLE, other), ControlItemCorruptError);
  });

  it('a missing table is TableNotFoundError (the CLI turns it into exit 3 with the --stage hint)', async () => {
    await assert.rejects(readPause(db.client, 'vault-ha-control', 'x'), TableNotFoundError);
    await assert.rejects(writePause(db.client, 'vault-ha-control', { cluster: 'x', pausedBy: 'a', pausedAtMs: T0, untilMs: T0 + 1 }), TableNotFoundError);
  });
});

describe('history reads', () => {
  it('observations come newest first, bounded by limit, and --since excludes older ticks', async () => {
    const cluster = fresh();
    for (let i = 0; i < 5; i++) await recordObservation(db.client, TABLE, cluster, T0 + i * 1000, { outcome: `tick ${i}`, applied: false }, 3600);
    const latest = await listObservations(db.client, TABLE, cluster, { limit: 2 });
    assert.deepEqual(latest.map((o) => o.report['outcome']), ['tick 4', 'tick 3']);
    const since = await listObservations(db.client, TABLE, cluster, { sinceMs: T0 + 3000, newestFirst: false });
    assert.deepEqual(since.map((o) => o.atMs), [T0 + 3000, T0 + 4000]);
  });

  it('onlyApplied keeps the ticks that changed something (filtered by DynamoDB)', async () => {
    const cluster = fresh();
    await recordObservation(db.client, TABLE, cluster, T0, { outcome: 'no action', applied: false }, 3600);
    await recordObservation(db.client, TABLE, cluster, T0 + 1000, { outcome: 'deregistered i-0a (sealed)', applied: true }, 3600);
    await recordObservation(db.client, TABLE, cluster, T0 + 2000, { outcome: 'no action', applied: false }, 3600);
    const applied = await listObservations(db.client, TABLE, cluster, { onlyApplied: true });
    assert.deepEqual(applied.map((o) => o.report['outcome']), ['deregistered i-0a (sealed)']);
  });

  it('verdict transitions since a time, oldest first, with their reasons', async () => {
    const cluster = fresh();
    await recordVerdictTransition(db.client, TABLE, cluster, { atMs: T0, from: undefined, to: 'healthy', reasons: ['a'] });
    await recordVerdictTransition(db.client, TABLE, cluster, { atMs: T0 + 5000, from: 'healthy', to: 'no-leader', reasons: ['b', 'c'] });
    assert.deepEqual(await listVerdictTransitions(db.client, TABLE, cluster, { sinceMs: T0 + 1 }), [{ atMs: T0 + 5000, from: 'healthy', to: 'no-leader', reasons: ['b', 'c'] }]);
  });

  it('reports of both kinds, by the time they were stored', async () => {
    const cluster = fresh();
    await putReport(db.client, TABLE, cluster, 'drill', 'exec-old', { result: 'passed' }, 3600, T0 - 10_000);
    await putReport(db.client, TABLE, cluster, 'replace', 'exec-r', { result: 'replaced', slot: 'vault-a' }, 3600, T0 + 1000);
    await putReport(db.client, TABLE, cluster, 'drill', 'exec-d', { result: 'failed' }, 3600, T0 + 2000);
    const reports = await listReports(db.client, TABLE, cluster, { sinceMs: T0 });
    assert.deepEqual(reports.map((r) => [r.kind, r.id, r.report['result']]), [['replace', 'exec-r', 'replaced'], ['drill', 'exec-d', 'failed']]);
  });

  it('operator events keep both of two actions in the same millisecond', async () => {
    const cluster = fresh();
    await recordOperatorEvent(db.client, TABLE, cluster, { atMs: T0, kind: 'pause', by: 'alice', detail: 'paused' });
    await recordOperatorEvent(db.client, TABLE, cluster, { atMs: T0, kind: 'unlock', by: 'bob', detail: 'released' });
    const events = await listOperatorEvents(db.client, TABLE, cluster, { sinceMs: T0 });
    assert.deepEqual(events.map((e) => [e.kind, e.by]).sort(), [['pause', 'alice'], ['unlock', 'bob']]);
  });
});
