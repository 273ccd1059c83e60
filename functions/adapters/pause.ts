/**
 * The maintenance pause in the control table (layout in control-table.ts):
 *
 *   pk = pauses, sk = index             every cluster's pause in force, in one item: a map
 *                                       `clusters` of cluster name → { pausedBy, pausedAtMs,
 *                                       untilMs, reason? } (no TTL: the item is never deleted)
 *   pk = cluster#<name>, sk = pause     a pause as releases before the index wrote it (read
 *                                       only: on a run's first tick, and by status)
 *
 * The controller reads the index every tick in the tick's one BatchGetItem
 * (tick-reads.ts): one key for all clusters, where a key per cluster made a
 * shard of more than 49 clusters need a second BatchGetItem (issue #9). The
 * CLI writes and clears entries with nested updates, dropping entries expired
 * longer than PAUSE_TTL_GRACE_SECONDS as it writes, so the item stays the size
 * of the pauses in force. Expiry is compared by the reader (core/pause.ts
 * activePause). Decides nothing.
 */
import { DeleteItemCommand, GetItemCommand, PutItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { PauseRecord } from '../core/pause.js';
import { clusterPk } from './control-table.js';
import { AwsTransientError, ControlItemCorruptError, isAwsError, toAdapterError } from './errors.js';

export const PAUSE_SK = 'pause';
/** An expired pause stays readable this long (who paused last), then a later write drops it. */
export const PAUSE_TTL_GRACE_SECONDS = 7 * 24 * 3600;
/** The pause index's key. */
export const PAUSE_INDEX_KEY: Record<string, AttributeValue> = { pk: { S: 'pauses' }, sk: { S: 'index' } };
const CLUSTERS = 'clusters';

type Item = Record<string, AttributeValue>;

const legacyKey = (cluster: string): Item => ({ pk: { S: clusterPk(cluster) }, sk: { S: PAUSE_SK } });
/** A pause item of the earlier layout (for batched reads: functions/adapters/tick-reads.ts). */
export const legacyPauseKey = legacyKey;

function entryOf(p: PauseRecord): AttributeValue {
  return {
    M: {
      pausedBy: { S: p.pausedBy },
      pausedAtMs: { N: String(p.pausedAtMs) },
      untilMs: { N: String(p.untilMs) },
      ...(p.reason ? { reason: { S: p.reason } } : {}),
    },
  };
}

/** Writes (or replaces) the cluster's pause in the index; drops entries long expired. */
export async function writePause(ddb: DynamoDBClient, table: string, p: PauseRecord, nowMs: number = p.pausedAtMs): Promise<void> {
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const index = await readIndex(ddb, table);
      if (index === undefined) {
        try {
          await ddb.send(
            new PutItemCommand({ TableName: table, Item: { ...PAUSE_INDEX_KEY, [CLUSTERS]: { M: { [p.cluster]: entryOf(p) } } }, ConditionExpression: 'attribute_not_exists(pk)' }),
          );
          return;
        } catch (err) {
          if (isAwsError(err, 'ConditionalCheckFailedException')) continue; // created meanwhile: update it
          throw err;
        }
      }
      const stale = [...index.entries()].filter(([name, e]) => name !== p.cluster && !(e instanceof Error) && e.untilMs + PAUSE_TTL_GRACE_SECONDS * 1000 < nowMs).map(([name]) => name);
      const names: Record<string, string> = { '#c': CLUSTERS, '#n': p.cluster };
      stale.forEach((name, i) => (names[`#s${i}`] = name));
      try {
        await ddb.send(
          new UpdateItemCommand({
            TableName: table,
            Key: PAUSE_INDEX_KEY,
            UpdateExpression: `SET #c.#n = :p${stale.length > 0 ? ` REMOVE ${stale.map((_, i) => `#c.#s${i}`).join(', ')}` : ''}`,
            ConditionExpression: 'attribute_exists(#c)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':p': entryOf(p) },
          }),
        );
        return;
      } catch (err) {
        if (isAwsError(err, 'ConditionalCheckFailedException')) continue; // deleted meanwhile: create it
        throw err;
      }
    }
    throw new AwsTransientError(`${table}: the pause index kept changing under the write; try again`, { resource: `${table}:pauses/index`, code: 'PauseIndexContended' });
  } catch (err) {
    throw toAdapterError(err, table);
  }
}

/** The stored pause, in force or expired (compare `untilMs` with your clock), or undefined: the index first, then the earlier layout. */
export async function readPause(ddb: DynamoDBClient, table: string, cluster: string): Promise<PauseRecord | undefined> {
  let legacy: Item | undefined;
  let index: Map<string, PauseRecord | Error> | undefined;
  try {
    [index, legacy] = await Promise.all([
      readIndex(ddb, table),
      ddb.send(new GetItemCommand({ TableName: table, Key: legacyKey(cluster), ConsistentRead: true })).then((o) => o.Item),
    ]);
  } catch (err) {
    throw toAdapterError(err, table);
  }
  const entry = index?.get(cluster);
  if (entry instanceof Error) throw entry;
  return entry ?? (legacy ? decodePause(legacy, table) : undefined);
}

/** Deletes the cluster's pause (its index entry and any item of the earlier layout); answers what was stored. */
export async function clearPause(ddb: DynamoDBClient, table: string, cluster: string): Promise<PauseRecord | undefined> {
  try {
    let fromIndex: PauseRecord | undefined;
    try {
      const out = await ddb.send(
        new UpdateItemCommand({
          TableName: table,
          Key: PAUSE_INDEX_KEY,
          UpdateExpression: 'REMOVE #c.#n',
          ConditionExpression: 'attribute_exists(#c.#n)',
          ExpressionAttributeNames: { '#c': CLUSTERS, '#n': cluster },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      const old = out.Attributes?.[CLUSTERS]?.M?.[cluster];
      if (old) fromIndex = decodeEntry(cluster, old, table);
    } catch (err) {
      if (!isAwsError(err, 'ConditionalCheckFailedException')) throw err; // no entry: nothing to remove there
    }
    const legacy = await ddb.send(new DeleteItemCommand({ TableName: table, Key: legacyKey(cluster), ReturnValues: 'ALL_OLD' }));
    return fromIndex ?? (legacy.Attributes ? decodePause(legacy.Attributes, table) : undefined);
  } catch (err) {
    throw toAdapterError(err, table);
  }
}

async function readIndex(ddb: DynamoDBClient, table: string): Promise<Map<string, PauseRecord | Error> | undefined> {
  const item = (await ddb.send(new GetItemCommand({ TableName: table, Key: PAUSE_INDEX_KEY, ConsistentRead: true }))).Item;
  return item ? decodePauseIndex(item, table) : undefined;
}

/** The index item → each cluster's pause (an Error for a malformed entry, which costs only that cluster). */
export function decodePauseIndex(item: Item, table: string): Map<string, PauseRecord | Error> {
  const m = item[CLUSTERS]?.M;
  if (m === undefined) {
    const resource = `${table}:pauses/index`;
    throw new ControlItemCorruptError(`${resource}: pause index has no "${CLUSTERS}" map`, { resource, code: 'MalformedPause' });
  }
  const out = new Map<string, PauseRecord | Error>();
  for (const [cluster, v] of Object.entries(m)) {
    try {
      out.set(cluster, decodeEntry(cluster, v, table));
    } catch (err) {
      out.set(cluster, err as Error);
    }
  }
  return out;
}

function decodeEntry(cluster: string, v: AttributeValue, table: string): PauseRecord {
  return pauseOf(cluster, v.M, `${table}:pauses/index#${cluster}`, 'pause entry');
}

/** A pause item of the earlier layout. */
export function decodePause(item: Item, table: string): PauseRecord {
  return pauseOf(item['cluster']?.S, item, `${table}:${item['pk']?.S}/${PAUSE_SK}`, 'pause item');
}

/** The pause's fields, the same in an index entry and an item of the earlier layout. */
function pauseOf(cluster: string | undefined, attrs: Item | undefined, resource: string, what: string): PauseRecord {
  const pausedBy = attrs?.['pausedBy']?.S;
  const pausedAtMs = Number(attrs?.['pausedAtMs']?.N);
  const untilMs = Number(attrs?.['untilMs']?.N);
  if (!cluster || !pausedBy || !Number.isFinite(pausedAtMs) || !Number.isFinite(untilMs)) {
    throw new ControlItemCorruptError(`${resource}: ${what} is malformed`, { resource, code: 'MalformedPause' });
  }
  const reason = attrs?.['reason']?.S;
  return { cluster, pausedBy, pausedAtMs, untilMs, ...(reason ? { reason } : {}) };
}
