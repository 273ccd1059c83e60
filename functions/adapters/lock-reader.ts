/**
 * Reads (and, for fencing, conditionally deletes) Vault's DynamoDB HA lock
 * item. Attribute names and types match Vault's `physical/dynamodb/dynamodb.go`
 * (checked against hashicorp/vault): the lock for key `core/lock` is stored at
 * Path `core`, Key `_lock`, with `Value` (B), `Identity` (B) and `Expires`
 * (N, Unix nanoseconds); see functions/core/ha-lock.ts.
 */
import { DeleteItemCommand, GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LOCK_ATTR, LOCK_ITEM_KEY } from '../core/ha-lock.js';
import type { LockItemRead } from '../core/types.js';
import { isAwsError, toAdapterError } from './errors.js';

const lockKey = (): Record<string, AttributeValue> => ({
  [LOCK_ATTR.path]: { S: LOCK_ITEM_KEY.Path },
  [LOCK_ATTR.key]: { S: LOCK_ITEM_KEY.Key },
});

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/**
 * Never throws: an unreadable lock is evidence for the assessor (UNREADABLE),
 * not a reason to abort the tick.
 */
export async function readLock(ddb: DynamoDBClient, table: string): Promise<LockItemRead> {
  let item: Record<string, AttributeValue> | undefined;
  try {
    // Consistent: an eventually consistent read can return a lock the holder
    // already renewed or released, which would look like a stale leader.
    const out = await ddb.send(new GetItemCommand({ TableName: table, Key: lockKey(), ConsistentRead: true }));
    item = out.Item;
  } catch (err) {
    return lockReadError(table, err);
  }
  return decodeLockItem(table, item);
}

/** The key of Vault's lock item (for batched reads: functions/adapters/tick-reads.ts). */
export const LOCK_KEY: Readonly<Record<string, AttributeValue>> = lockKey();

/** A failed read of the lock, as evidence (UNREADABLE) rather than an exception. */
export function lockReadError(table: string, err: unknown): LockItemRead {
  const mapped = toAdapterError(err, table);
  return { type: 'dynamodb', table, error: `${mapped.name}: ${mapped.message}` };
}

/** The lock item as read (absent: undefined) in the assessor's terms. */
export function decodeLockItem(table: string, item: Record<string, AttributeValue> | undefined): LockItemRead {
  if (!item) return { type: 'dynamodb', table, present: false };

  const identity = binaryAttr(item[LOCK_ATTR.identity]);
  const value = binaryAttr(item[LOCK_ATTR.value]);
  const expires = item[LOCK_ATTR.expires]?.N;
  // Vault writes all three attributes in one UpdateItem; a lock item without
  // them was written by something else (or a pre-Identity Vault) and cannot be
  // reasoned about or fenced safely.
  if (identity === undefined) return { type: 'dynamodb', table, error: `lock item has no binary ${LOCK_ATTR.identity} attribute` };
  if (expires === undefined || !/^-?\d+$/.test(expires)) {
    return { type: 'dynamodb', table, error: `lock item has no integer ${LOCK_ATTR.expires} attribute` };
  }
  return { type: 'dynamodb', table, present: true, identity, value: value ?? '', expiresAtNs: expires };
}

function binaryAttr(attr: AttributeValue | undefined): string | undefined {
  return attr?.B === undefined ? undefined : decoder.decode(attr.B);
}

export interface ObservedLock {
  identity: string;
  /** Exactly as read: a decimal string, never a JS number (ns exceed 2^53). */
  expiresAtNs: string;
}

/**
 * Deletes the lock item only if it is still exactly the one observed. If the
 * holder renewed it (new Expires) or another node took it (new Identity), the
 * condition fails and nothing happens: 'changed'. Deleting a live holder's
 * lock would only cause a needless leadership change.
 */
export async function breakLock(ddb: DynamoDBClient, table: string, observed: ObservedLock): Promise<'deleted' | 'changed'> {
  try {
    await ddb.send(
      new DeleteItemCommand({
        TableName: table,
        Key: lockKey(),
        ConditionExpression: '#identity = :identity AND #expires = :expires',
        ExpressionAttributeNames: { '#identity': LOCK_ATTR.identity, '#expires': LOCK_ATTR.expires },
        ExpressionAttributeValues: {
          // Vault writes Identity as bytes ([]byte(uuid)); the comparison is type-sensitive.
          ':identity': { B: encoder.encode(observed.identity) },
          ':expires': { N: observed.expiresAtNs },
        },
      }),
    );
    return 'deleted';
  } catch (err) {
    if (isAwsError(err, 'ConditionalCheckFailedException')) return 'changed';
    throw toAdapterError(err, table);
  }
}

/** The cluster's lock item, or the marker of a cluster with no lock to read (Raft, or haLock "none"). */
export function readClusterLock(ddb: DynamoDBClient, haLock: { type: 'dynamodb'; table: string } | { type: 'raft' } | { type: 'none' }): Promise<LockItemRead> {
  return haLock.type === 'dynamodb' ? readLock(ddb, haLock.table) : Promise.resolve({ type: haLock.type });
}
