/**
 * The maintenance pause in the control table (layout in control-table.ts):
 *
 *   pk = cluster#<name>, sk = pause       the pause in force (one item; overwritten by a new pause)
 *
 * The controller reads it every tick (batched with the tick's other reads,
 * tick-reads.ts) and the CLI
 * writes or deletes it. Expiry is compared by the reader (core/pause.ts
 * activePause): DynamoDB's TTL deletes late, so an item past `untilMs` is
 * simply not in force. Decides nothing.
 */
import { DeleteItemCommand, GetItemCommand, PutItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { PauseRecord } from '../core/pause.js';
import { clusterPk } from './control-table.js';
import { ControlItemCorruptError, toAdapterError } from './errors.js';

export const PAUSE_SK = 'pause';
/** An expired pause stays readable this long (who paused last), then TTL may delete it. */
export const PAUSE_TTL_GRACE_SECONDS = 7 * 24 * 3600;

const key = (cluster: string): Record<string, AttributeValue> => ({ pk: { S: clusterPk(cluster) }, sk: { S: PAUSE_SK } });
/** The pause item's key (for batched reads: functions/adapters/tick-reads.ts). */
export const pauseKey = key;

export async function writePause(ddb: DynamoDBClient, table: string, p: PauseRecord): Promise<void> {
  try {
    await ddb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          ...key(p.cluster),
          cluster: { S: p.cluster },
          pausedBy: { S: p.pausedBy },
          pausedAtMs: { N: String(p.pausedAtMs) },
          untilMs: { N: String(p.untilMs) },
          ...(p.reason ? { reason: { S: p.reason } } : {}),
          expiresAt: { N: String(Math.ceil(p.untilMs / 1000) + PAUSE_TTL_GRACE_SECONDS) },
        },
      }),
    );
  } catch (err) {
    throw toAdapterError(err, table);
  }
}

/** The stored pause, in force or expired (compare `untilMs` with your clock), or undefined. */
export async function readPause(ddb: DynamoDBClient, table: string, cluster: string): Promise<PauseRecord | undefined> {
  let item: Record<string, AttributeValue> | undefined;
  try {
    item = (await ddb.send(new GetItemCommand({ TableName: table, Key: key(cluster), ConsistentRead: true }))).Item;
  } catch (err) {
    throw toAdapterError(err, table);
  }
  return item ? decodePause(item, table) : undefined;
}

/** Deletes the pause; answers what was stored (undefined when there was none). */
export async function clearPause(ddb: DynamoDBClient, table: string, cluster: string): Promise<PauseRecord | undefined> {
  try {
    const out = await ddb.send(new DeleteItemCommand({ TableName: table, Key: key(cluster), ReturnValues: 'ALL_OLD' }));
    return out.Attributes ? decodePause(out.Attributes, table) : undefined;
  } catch (err) {
    throw toAdapterError(err, table);
  }
}

export function decodePause(item: Record<string, AttributeValue>, table: string): PauseRecord {
  const cluster = item['cluster']?.S;
  const pausedBy = item['pausedBy']?.S;
  const pausedAtMs = Number(item['pausedAtMs']?.N);
  const untilMs = Number(item['untilMs']?.N);
  if (!cluster || !pausedBy || !Number.isFinite(pausedAtMs) || !Number.isFinite(untilMs)) {
    const resource = `${table}:${item['pk']?.S}/${PAUSE_SK}`;
    throw new ControlItemCorruptError(`${resource}: pause item is malformed`, { resource, code: 'MalformedPause' });
  }
  const reason = item['reason']?.S;
  return { cluster, pausedBy, pausedAtMs, untilMs, ...(reason ? { reason } : {}) };
}
