import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { DeleteTableCommand, GetItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { breakLock, readLock } from '../../functions/adapters/lock-reader.js';
import { LOCK_ITEM_KEY } from '../../functions/core/ha-lock.js';
import { createVaultLockTable, startDynalite, type DynaliteHandle } from '../support/dynalite.js';

let db: DynaliteHandle;
let tableNo = 0;

beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db.close();
});

async function freshTable(): Promise<string> {
  const name = `vault-data-${++tableNo}`;
  await createVaultLockTable(db.client, name);
  return name;
}

const key = { Path: { S: LOCK_ITEM_KEY.Path }, Key: { S: LOCK_ITEM_KEY.Key } };
const enc = new TextEncoder();
const SECOND_NS = 1_000_000_000n;

/**
 * Takes or renews the lock the way Vault's physical/dynamodb backend does:
 * one UpdateItem writing Value and Identity as bytes and Expires as Unix ns,
 * conditional on the item being absent, ours, or expired.
 */
async function vaultTakesLock(client: DynamoDBClient, table: string, o: { identity: string; value: string; nowNs: bigint }): Promise<string> {
  const expires = (o.nowNs + 15n * SECOND_NS).toString();
  await client.send(
    new UpdateItemCommand({
      TableName: table,
      Key: key,
      UpdateExpression: 'SET #value=:value, #identity=:identity, #expires=:expires',
      ConditionExpression:
        'attribute_not_exists(#path) or attribute_not_exists(#key) or (attribute_not_exists(#identity) or #identity = :identity or #expires <= :now)',
      ExpressionAttributeNames: { '#path': 'Path', '#key': 'Key', '#identity': 'Identity', '#expires': 'Expires', '#value': 'Value' },
      ExpressionAttributeValues: {
        ':identity': { B: enc.encode(o.identity) },
        ':value': { B: enc.encode(o.value) },
        ':now': { N: o.nowNs.toString() },
        ':expires': { N: expires },
      },
    }),
  );
  return expires;
}

const IDENTITY = '6d0b5c4e-8f1a-4c7e-9b1d-2a3f4e5d6c7b';
const LEADER_UUID = 'b1f1c3a2-5e6d-4f70-8a9b-0c1d2e3f4a5b';
// A realistic Expires: beyond 2^53, so any trip through a JS number would change it.
const NOW_NS = 1_795_000_000_123_456_789n;

async function lockItemExists(table: string): Promise<boolean> {
  const out = await db.client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return out.Item !== undefined;
}

describe('readLock', () => {
  test('decodes the item Vault wrote: binary Value and Identity as UTF-8, Expires as the exact decimal string', async () => {
    const table = await freshTable();
    const expires = await vaultTakesLock(db.client, table, { identity: IDENTITY, value: LEADER_UUID, nowNs: NOW_NS });
    const read = await readLock(db.client, table);
    assert.deepEqual(read, { type: 'dynamodb', table, present: true, identity: IDENTITY, value: LEADER_UUID, expiresAtNs: expires });
    assert.equal(expires, '1795000015123456789');
  });

  test('reports an absent lock item as not present', async () => {
    const table = await freshTable();
    assert.deepEqual(await readLock(db.client, table), { type: 'dynamodb', table, present: false });
  });

  test('returns the error variant, not an exception, when the table does not exist', async () => {
    const read = await readLock(db.client, 'no-such-table');
    assert.ok('error' in read, JSON.stringify(read));
    assert.equal(read.table, 'no-such-table');
    assert.match(read.error, /TableNotFoundError|ResourceNotFound/);
  });

  test('returns the error variant when the table is deleted', async () => {
    const table = await freshTable();
    await db.client.send(new DeleteTableCommand({ TableName: table }));
    const read = await readLock(db.client, table);
    assert.ok('error' in read);
  });
});

describe('breakLock', () => {
  test('deletes the lock when Identity and Expires are exactly the observed ones', async () => {
    const table = await freshTable();
    const expires = await vaultTakesLock(db.client, table, { identity: IDENTITY, value: LEADER_UUID, nowNs: NOW_NS });
    assert.equal(await breakLock(db.client, table, { identity: IDENTITY, expiresAtNs: expires }), 'deleted');
    assert.equal(await lockItemExists(table), false);
  });

  test('leaves the lock alone and says changed after the holder renewed it', async () => {
    const table = await freshTable();
    const observed = await vaultTakesLock(db.client, table, { identity: IDENTITY, value: LEADER_UUID, nowNs: NOW_NS });
    await vaultTakesLock(db.client, table, { identity: IDENTITY, value: LEADER_UUID, nowNs: NOW_NS + 5n * SECOND_NS });
    assert.equal(await breakLock(db.client, table, { identity: IDENTITY, expiresAtNs: observed }), 'changed');
    assert.equal(await lockItemExists(table), true);
  });

  test('leaves the lock alone and says changed after another node took it over', async () => {
    const table = await freshTable();
    const observed = await vaultTakesLock(db.client, table, { identity: IDENTITY, value: LEADER_UUID, nowNs: NOW_NS });
    // The contender's clock reaches the observed Expires: Vault lets it take the expired lock.
    await vaultTakesLock(db.client, table, { identity: 'f0e1d2c3-b4a5-4968-8776-655443322110', value: 'new-leader-uuid', nowNs: BigInt(observed) });
    assert.equal(await breakLock(db.client, table, { identity: IDENTITY, expiresAtNs: observed }), 'changed');
    const read = await readLock(db.client, table);
    assert.ok('present' in read && read.present);
    assert.equal(read.identity, 'f0e1d2c3-b4a5-4968-8776-655443322110');
  });

  test('says changed when the lock item is already gone', async () => {
    const table = await freshTable();
    assert.equal(await breakLock(db.client, table, { identity: IDENTITY, expiresAtNs: '1' }), 'changed');
  });

  test('an Expires differing only beyond double precision does not match', async () => {
    const table = await freshTable();
    const expires = await vaultTakesLock(db.client, table, { identity: IDENTITY, value: LEADER_UUID, nowNs: NOW_NS });
    const offByOne = (BigInt(expires) + 1n).toString();
    assert.equal(Number(offByOne), Number(expires), 'indistinguishable as JS numbers');
    assert.equal(await breakLock(db.client, table, { identity: IDENTITY, expiresAtNs: offByOne }), 'changed');
    assert.equal(await lockItemExists(table), true);
  });
});
