/**
 * The controller tick's DynamoDB reads in one BatchGetItem (issue #9 "Fewer
 * calls"): every cluster's Vault lock item (one per lock table), the pause
 * index (one item for every cluster), the run's own lease and, on a run's
 * first tick, the clusters' state items and pause items of the earlier
 * layout (pause.ts). Decides nothing.
 *
 * BatchGetItem (Amazon DynamoDB API Reference, "BatchGetItem"): at most 100
 * keys per request, across tables; strongly consistent when `ConsistentRead`
 * is set per table (a lock read must be: see lock-reader.ts); a partial answer
 * lists the rest in `UnprocessedKeys`, retried here a bounded number of times
 * with backoff; a key listed twice is a ValidationException, so keys are
 * de-duplicated. A request that fails outright for several tables is retried
 * per table once, so one table's AccessDenied or absence costs only the
 * clusters that use it (as one GetItem each did before).
 */
import { BatchGetItemCommand, type AttributeValue, type DynamoDBClient, type KeysAndAttributes } from '@aws-sdk/client-dynamodb';
import type { ClusterConfig } from '../config/schema.js';
import type { PauseRecord } from '../core/pause.js';
import type { LockItemRead } from '../core/types.js';
import { LEASE_SCOPES, decodeLease, decodeRunLease, decodeStateItem, leaseKey, runLeaseKey, stateKey, type ClusterState, type LeaseRecord, type RunLease } from './control-table.js';
import { AwsTransientError, toAdapterError } from './errors.js';
import { LOCK_KEY, decodeLockItem, lockReadError } from './lock-reader.js';
import { PAUSE_INDEX_KEY, decodePause, decodePauseIndex, legacyPauseKey } from './pause.js';

/** DynamoDB's limit of keys in one BatchGetItem. */
export const BATCH_GET_MAX_KEYS = 100;
/** Requests per chunk while DynamoDB leaves keys unprocessed (the first included). */
export const BATCH_GET_ATTEMPTS = 4;
/** Backoff before retrying unprocessed keys: this, doubled each time (50, 100, 200 ms). */
export const BATCH_GET_BACKOFF_MS = 50;

type Item = Record<string, AttributeValue>;

export interface WantedItem {
  table: string;
  key: Item;
}

/** A key's identity: its table and its key attributes, names sorted. */
export function itemId(table: string, key: Item): string {
  const parts = Object.keys(key)
    .sort()
    .map((k) => [k, key[k]?.S ?? key[k]?.N ?? (key[k]?.B !== undefined ? Buffer.from(key[k].B).toString('base64') : '')]);
  return `${table}\u0000${JSON.stringify(parts)}`;
}

export interface BatchGetResult {
  /** Every key read: its item, or undefined when there is none. */
  items: Map<string, Item | undefined>;
  /** Keys that could not be read, with why. */
  failed: Map<string, Error>;
}

export interface BatchGetOptions {
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reads every wanted item (consistently) in as few BatchGetItem requests as DynamoDB's limits allow. */
export async function batchGetItems(ddb: DynamoDBClient, wanted: readonly WantedItem[], opts: BatchGetOptions = {}): Promise<BatchGetResult> {
  const unique = new Map<string, WantedItem>();
  for (const w of wanted) unique.set(itemId(w.table, w.key), w);
  const all = [...unique.values()];
  const result: BatchGetResult = { items: new Map(), failed: new Map() };
  const chunks: WantedItem[][] = [];
  for (let i = 0; i < all.length; i += BATCH_GET_MAX_KEYS) chunks.push(all.slice(i, i + BATCH_GET_MAX_KEYS));
  await Promise.all(chunks.map((chunk) => readChunk(ddb, chunk, result, opts.sleep ?? defaultSleep, true)));
  return result;
}

async function readChunk(ddb: DynamoDBClient, chunk: WantedItem[], result: BatchGetResult, sleep: (ms: number) => Promise<void>, splitOnError: boolean): Promise<void> {
  let pending = chunk;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt >= BATCH_GET_ATTEMPTS) {
      for (const w of pending) {
        const id = itemId(w.table, w.key);
        result.failed.set(id, new AwsTransientError(`${w.table}: BatchGetItem left the item unprocessed ${BATCH_GET_ATTEMPTS} times`, { resource: w.table, code: 'UnprocessedKeys' }));
      }
      return;
    }
    if (attempt > 0) await sleep(BATCH_GET_BACKOFF_MS * 2 ** (attempt - 1));
    const requestItems: Record<string, KeysAndAttributes> = {};
    for (const w of pending) (requestItems[w.table] ??= { Keys: [], ConsistentRead: true }).Keys!.push(w.key);
    let out;
    try {
      out = await ddb.send(new BatchGetItemCommand({ RequestItems: requestItems }));
    } catch (err) {
      const tables = Object.keys(requestItems);
      if (splitOnError && tables.length > 1) {
        // Which table refused? Ask each alone, once.
        await Promise.all(tables.map((t) => readChunk(ddb, pending.filter((w) => w.table === t), result, sleep, false)));
        return;
      }
      for (const w of pending) result.failed.set(itemId(w.table, w.key), toAdapterError(err, w.table));
      return;
    }
    const byId = new Map<string, Item>();
    for (const [table, items] of Object.entries(out.Responses ?? {})) {
      for (const item of items) {
        const sample = pending.find((w) => w.table === table);
        if (!sample) continue;
        const key: Item = {};
        for (const name of Object.keys(sample.key)) if (item[name] !== undefined) key[name] = item[name]!;
        byId.set(itemId(table, key), item);
      }
    }
    const unprocessed = new Set<string>();
    for (const [table, req] of Object.entries(out.UnprocessedKeys ?? {})) for (const k of req.Keys ?? []) unprocessed.add(itemId(table, k));
    const next: WantedItem[] = [];
    for (const w of pending) {
      const id = itemId(w.table, w.key);
      if (unprocessed.has(id)) next.push(w);
      else result.items.set(id, byId.get(id));
    }
    pending = next;
  }
}

/* ------------------------------------------------------------- the tick's reads */

export interface TickReadRequest {
  controlTable: string;
  clusters: readonly ClusterConfig[];
  /** The run whose lease to read (its handover request, whether it still holds). */
  runOwner?: string;
  /** Clusters whose state item to load (a run's first tick of each). */
  stateOf?: readonly string[];
}

export interface TickReads {
  /** Per cluster: its lock item as evidence (an unreadable one is UNREADABLE, never an exception). */
  lock: Map<string, LockItemRead>;
  /** Per cluster: the stored pause (undefined: none), or why it could not be read. */
  pause: Map<string, PauseRecord | undefined | Error>;
  /** Per cluster of `stateOf`: a pause item of the earlier layout (undefined: none), or why it could not be read. */
  legacyPause: Map<string, PauseRecord | undefined | Error>;
  /** Per requested cluster: its stored state, or why it could not be read. */
  state: Map<string, ClusterState | Error>;
  /** The run's lease as stored (undefined: gone), or why it could not be read. */
  run?: RunLease | undefined | Error;
}

export async function readTickItems(ddb: DynamoDBClient, req: TickReadRequest, opts: BatchGetOptions = {}): Promise<TickReads> {
  const wanted: WantedItem[] = [];
  for (const c of req.clusters) {
    if (c.haLock.type === 'dynamodb') wanted.push({ table: c.haLock.table, key: LOCK_KEY });
  }
  if (req.clusters.length > 0) wanted.push({ table: req.controlTable, key: PAUSE_INDEX_KEY });
  for (const name of req.stateOf ?? []) wanted.push({ table: req.controlTable, key: stateKey(name) }, { table: req.controlTable, key: legacyPauseKey(name) });
  if (req.runOwner !== undefined) wanted.push({ table: req.controlTable, key: runLeaseKey(req.runOwner) });

  const read = readerOf(await batchGetItems(ddb, wanted, opts));

  const out: TickReads = { lock: new Map(), pause: new Map(), legacyPause: new Map(), state: new Map() };
  const index = read(req.controlTable, PAUSE_INDEX_KEY, (item) => (item ? decodePauseIndex(item, req.controlTable) : new Map<string, PauseRecord | Error>()));
  for (const c of req.clusters) {
    const haLock = c.haLock;
    if (haLock.type === 'dynamodb') {
      const lock = read(haLock.table, LOCK_KEY, (item) => decodeLockItem(haLock.table, item));
      out.lock.set(c.name, lock instanceof Error ? lockReadError(haLock.table, lock) : lock);
    } else {
      out.lock.set(c.name, { type: haLock.type });
    }
    out.pause.set(c.name, index instanceof Error ? index : index.get(c.name));
  }
  for (const name of req.stateOf ?? []) {
    out.state.set(name, read(req.controlTable, stateKey(name), (item) => decodeStateItem(item, req.controlTable, name)));
    out.legacyPause.set(name, read(req.controlTable, legacyPauseKey(name), (item) => (item ? decodePause(item, req.controlTable) : undefined)));
  }
  if (req.runOwner !== undefined) {
    out.run = read(req.controlTable, runLeaseKey(req.runOwner), (item) => (item ? decodeRunLease(item, req.controlTable) : undefined));
  }
  return out;
}

/* ------------------------------------------------------------- a run's claims */

/**
 * The controller claim of each cluster (`cluster#<name>/lease#controller`) in
 * one BatchGetItem, read before a run takes them: a claim left by a run that
 * is over is then taken over by naming its holder (`takeFrom`) at the first
 * conditional put, instead of learning the holder from a put that fails, which
 * costs a write unit all the same. Undefined: no claim; an Error: unreadable
 * (the conditional put decides then, as without this read).
 */
export async function readClaims(ddb: DynamoDBClient, controlTable: string, clusters: readonly string[], opts: BatchGetOptions = {}): Promise<Map<string, LeaseRecord | undefined | Error>> {
  const keyOf = (c: string): Item => leaseKey(c, LEASE_SCOPES.controller);
  const read = readerOf(await batchGetItems(ddb, clusters.map((c) => ({ table: controlTable, key: keyOf(c) })), opts));
  return new Map(clusters.map((c) => [c, read(controlTable, keyOf(c), (item) => (item ? decodeLease(item, controlTable) : undefined))]));
}

/** One item of a batched read, decoded: the value, or why it could not be read or decoded. */
function readerOf(got: BatchGetResult): <T>(table: string, key: Item, decode: (item: Item | undefined) => T) => T | Error {
  return (table, key, decode) => {
    const id = itemId(table, key);
    const failed = got.failed.get(id);
    if (failed) return failed;
    try {
      return decode(got.items.get(id));
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  };
}
