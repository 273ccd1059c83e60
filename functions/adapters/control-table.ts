/**
 * The control table (DESIGN §4.1): HASH `pk` (S), RANGE `sk` (S), TTL attribute
 * `expiresAt` in Unix SECONDS. Everything for cluster <name> lives under
 * `pk = cluster#<name>`:
 *
 *   lease#<scope>          lease excluding overlapping runs (controller, operation)
 *   state                  controller memory between invocations (history, hysteresis)
 *   obs#<ISO time>         one observation per tick (short TTL)
 *   verdict#<ISO time>     verdict transitions (kept 90 days)
 *   report#<kind>#<id>     replace / drill reports
 *
 * Only single-item conditional writes: no transactions (dynalite, the local
 * sandbox's DynamoDB, lacks them) and none are needed. DynamoDB's TTL deletes
 * late (up to days), so expiry is always compared explicitly, never inferred
 * from an item's absence. The controller creates no tables.
 */
import {
  DeleteItemCommand,
  UpdateItemCommand,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { VERDICT_KINDS, type ClusterHistory, type VerdictKind } from '../core/types.js';
import { ControlItemCorruptError, HandoverRequestedError, ItemTooLargeError, LeaseBusyError, AwsTransientError, isAwsError, toAdapterError } from './errors.js';

export const LEASE_SCOPES = { controller: 'controller', operation: 'operation' } as const;

/** Verdict transitions are kept this long. */
export const VERDICT_RETENTION_SECONDS = 90 * 24 * 3600;
/** An expired lease item stays readable this long (who held it last) before TTL may delete it. */
export const LEASE_TTL_GRACE_SECONDS = 24 * 3600;
/** DynamoDB's item limit is 400 KB including attribute names; leave room for the key and the other attributes. */
export const MAX_JSON_BYTES = 380 * 1024;

export interface LeaseRecord {
  cluster: string;
  scope: string;
  owner: string;
  acquiredAtMs: number;
  expiresAtMs: number;
  purpose?: string;
  /** A successor asked the holder to hand the lease over (controller invocations overlapping at the schedule boundary). */
  handoverRequestedBy?: string;
}

export interface LeaseRequest {
  cluster: string;
  scope: string;
  owner: string;
  ttlMs: number;
  nowMs: number;
  purpose?: string;
  /**
   * Renewing as the holder fails with HandoverRequestedError when a successor
   * has asked for the lease (requestHandover): the holder then releases it
   * instead of ticking on, so exactly one run acts at any moment.
   */
  yieldToSuccessor?: boolean;
}

export interface ClusterState {
  history: ClusterHistory;
  lastVerdict?: VerdictKind;
  lastVerdictSinceMs?: number;
  lastNotifiedVerdict?: VerdictKind;
  /** Since when each instance has been seen gone (stopped/terminated/unreachable), for auto-replace. */
  goneSinceMs: Record<string, number>;
}

export interface VerdictTransition {
  atMs: number;
  from: VerdictKind | undefined;
  to: VerdictKind;
  reasons: string[];
}

export type ReportKind = 'replace' | 'drill';

export const clusterPk = (cluster: string): string => `cluster#${cluster}`;
export const leaseSk = (scope: string): string => `lease#${scope}`;
export const STATE_SK = 'state';
export const observationSk = (atMs: number): string => `obs#${new Date(atMs).toISOString()}`;
export const verdictSk = (atMs: number): string => `verdict#${new Date(atMs).toISOString()}`;
export const reportSk = (kind: ReportKind, id: string): string => `report#${kind}#${id}`;

const key = (cluster: string, sk: string): Record<string, AttributeValue> => ({ pk: { S: clusterPk(cluster) }, sk: { S: sk } });
const n = (v: number): AttributeValue => ({ N: String(v) });
const ttlSecondsFrom = (atMs: number, ttlSeconds: number): number => Math.floor(atMs / 1000) + ttlSeconds;

/* ------------------------------------------------------------------ leases */

/** At most this many put/read rounds when the holder vanishes between our failed put and our read. */
const ACQUIRE_ATTEMPTS = 3;

/**
 * Takes the lease when it is free, expired, or already ours (re-acquiring by
 * the same owner renews it; `acquiredAtMs` then restarts at `nowMs`).
 * Otherwise throws LeaseBusyError carrying the current holder.
 */
export async function acquireLease(ddb: DynamoDBClient, table: string, req: LeaseRequest): Promise<LeaseRecord> {
  const record: LeaseRecord = {
    cluster: req.cluster,
    scope: req.scope,
    owner: req.owner,
    acquiredAtMs: req.nowMs,
    expiresAtMs: req.nowMs + req.ttlMs,
    ...(req.purpose !== undefined ? { purpose: req.purpose } : {}),
  };
  const item: Record<string, AttributeValue> = {
    ...key(req.cluster, leaseSk(req.scope)),
    cluster: { S: record.cluster },
    scope: { S: record.scope },
    owner: { S: record.owner },
    acquiredAtMs: n(record.acquiredAtMs),
    expiresAtMs: n(record.expiresAtMs),
    expiresAt: n(Math.ceil(record.expiresAtMs / 1000) + LEASE_TTL_GRACE_SECONDS),
    ...(record.purpose !== undefined ? { purpose: { S: record.purpose } } : {}),
  };

  for (let attempt = 1; attempt <= ACQUIRE_ATTEMPTS; attempt++) {
    try {
      await ddb.send(
        new PutItemCommand({
          TableName: table,
          Item: item,
          // `owner` is a DynamoDB reserved word: always go through attribute names.
          ConditionExpression: req.yieldToSuccessor
            ? 'attribute_not_exists(#pk) OR #expiresAtMs < :now OR (#owner = :owner AND attribute_not_exists(#handover))'
            : 'attribute_not_exists(#pk) OR #expiresAtMs < :now OR #owner = :owner',
          ExpressionAttributeNames: {
            '#pk': 'pk',
            '#expiresAtMs': 'expiresAtMs',
            '#owner': 'owner',
            ...(req.yieldToSuccessor ? { '#handover': 'handoverRequestedBy' } : {}),
          },
          ExpressionAttributeValues: { ':now': n(req.nowMs), ':owner': { S: req.owner } },
          // Real DynamoDB returns the blocking item with the failure; dynalite
          // ignores this, so a consistent read below covers that case.
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return record;
    } catch (err) {
      if (!isAwsError(err, 'ConditionalCheckFailedException')) throw toAdapterError(err, table);
      const returned = (err as { Item?: Record<string, AttributeValue> }).Item;
      const holder = returned ? decodeLease(returned, table) : await readLease(ddb, table, { cluster: req.cluster, scope: req.scope });
      if (holder && holder.owner === req.owner && holder.handoverRequestedBy !== undefined && holder.expiresAtMs >= req.nowMs) {
        throw new HandoverRequestedError(holder, holder.handoverRequestedBy, { cause: err });
      }
      if (holder && !(holder.owner === req.owner && holder.handoverRequestedBy === undefined)) throw new LeaseBusyError(holder, { cause: err });
      // Released (or changed) between our put and our read: try again (bounded).
    }
  }
  throw new AwsTransientError(`${table}: lease ${req.cluster}/${req.scope} kept changing hands; try again later`, {
    resource: `lease:${req.cluster}/${req.scope}`,
    code: 'LeaseContended',
  });
}

/**
 * Asks the live holder of a lease to hand it over to `requester` at its next
 * renewal (see LeaseRequest.yieldToSuccessor). False when `holder` no longer
 * holds it or it has expired (then plain acquisition is the way in).
 */
export async function requestHandover(
  ddb: DynamoDBClient,
  table: string,
  req: { cluster: string; scope: string; holder: string; requester: string; nowMs: number },
): Promise<boolean> {
  try {
    await ddb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: key(req.cluster, leaseSk(req.scope)),
        UpdateExpression: 'SET #handover = :requester',
        ConditionExpression: '#owner = :holder AND #expiresAtMs >= :now',
        ExpressionAttributeNames: { '#handover': 'handoverRequestedBy', '#owner': 'owner', '#expiresAtMs': 'expiresAtMs' },
        ExpressionAttributeValues: { ':requester': { S: req.requester }, ':holder': { S: req.holder }, ':now': n(req.nowMs) },
      }),
    );
    return true;
  } catch (err) {
    if (isAwsError(err, 'ConditionalCheckFailedException')) return false;
    throw toAdapterError(err, table);
  }
}

/** Deletes the lease if `owner` holds it. False when it is not ours (or absent): not an error. */
export async function releaseLease(
  ddb: DynamoDBClient,
  table: string,
  lease: { cluster: string; scope: string; owner: string },
): Promise<boolean> {
  try {
    await ddb.send(
      new DeleteItemCommand({
        TableName: table,
        Key: key(lease.cluster, leaseSk(lease.scope)),
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': { S: lease.owner } },
      }),
    );
    return true;
  } catch (err) {
    if (isAwsError(err, 'ConditionalCheckFailedException')) return false;
    throw toAdapterError(err, table);
  }
}

/** The lease item as stored, expired or not (the caller compares expiresAtMs with its clock). */
export async function readLease(
  ddb: DynamoDBClient,
  table: string,
  lease: { cluster: string; scope: string },
): Promise<LeaseRecord | undefined> {
  const item = await getItem(ddb, table, lease.cluster, leaseSk(lease.scope));
  return item ? decodeLease(item, table) : undefined;
}

function decodeLease(item: Record<string, AttributeValue>, table: string): LeaseRecord {
  const cluster = item['cluster']?.S;
  const scope = item['scope']?.S;
  const owner = item['owner']?.S;
  const acquiredAtMs = Number(item['acquiredAtMs']?.N);
  const expiresAtMs = Number(item['expiresAtMs']?.N);
  if (!cluster || !scope || !owner || !Number.isFinite(acquiredAtMs) || !Number.isFinite(expiresAtMs)) {
    throw new ControlItemCorruptError(`${table}: lease item ${item['pk']?.S}/${item['sk']?.S} is malformed`, {
      resource: `${table}:${item['pk']?.S}/${item['sk']?.S}`,
      code: 'MalformedLease',
    });
  }
  const purpose = item['purpose']?.S;
  const handoverRequestedBy = item['handoverRequestedBy']?.S;
  return {
    cluster,
    scope,
    owner,
    acquiredAtMs,
    expiresAtMs,
    ...(purpose !== undefined ? { purpose } : {}),
    ...(handoverRequestedBy !== undefined ? { handoverRequestedBy } : {}),
  };
}

/* ------------------------------------------------------- controller state */

export function emptyClusterState(): ClusterState {
  return { history: { ticks: [], failureCounts: {} }, goneSinceMs: {} };
}

export async function loadClusterState(ddb: DynamoDBClient, table: string, cluster: string): Promise<ClusterState> {
  const item = await getItem(ddb, table, cluster, STATE_SK);
  if (!item) return emptyClusterState();
  const raw = item['state']?.S;
  const resource = `${table}:${clusterPk(cluster)}/${STATE_SK}`;
  let parsed: unknown;
  try {
    parsed = raw === undefined ? undefined : JSON.parse(raw);
  } catch (err) {
    throw new ControlItemCorruptError(`${resource}: state is not JSON`, { resource, code: 'MalformedState', cause: err });
  }
  const state = decodeState(parsed);
  if (!state) throw new ControlItemCorruptError(`${resource}: state does not have the expected shape`, { resource, code: 'MalformedState' });
  return state;
}

function isRecordOfNumbers(v: unknown): v is Record<string, number> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'number');
}

function isVerdict(v: unknown): v is VerdictKind {
  return typeof v === 'string' && (VERDICT_KINDS as readonly string[]).includes(v);
}

function decodeState(v: unknown): ClusterState | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const s = v as Record<string, unknown>;
  const history = s['history'] as Record<string, unknown> | undefined;
  if (typeof history !== 'object' || history === null || !Array.isArray(history['ticks']) || !isRecordOfNumbers(history['failureCounts'])) {
    return undefined;
  }
  const goneSinceMs = s['goneSinceMs'] ?? {};
  if (!isRecordOfNumbers(goneSinceMs)) return undefined;
  const out: ClusterState = {
    history: { ticks: history['ticks'] as ClusterHistory['ticks'], failureCounts: history['failureCounts'] },
    goneSinceMs,
  };
  if (isVerdict(s['lastVerdict'])) out.lastVerdict = s['lastVerdict'];
  if (typeof s['lastVerdictSinceMs'] === 'number') out.lastVerdictSinceMs = s['lastVerdictSinceMs'];
  if (isVerdict(s['lastNotifiedVerdict'])) out.lastNotifiedVerdict = s['lastNotifiedVerdict'];
  return out;
}

/**
 * Unconditional put: the controller lease already excludes a second writer.
 * Stored as JSON in one string attribute; history is bounded by the core.
 */
export async function saveClusterState(ddb: DynamoDBClient, table: string, cluster: string, state: ClusterState): Promise<void> {
  const resource = `${table}:${clusterPk(cluster)}/${STATE_SK}`;
  const json = boundedJson(state, resource);
  await putItem(ddb, table, { ...key(cluster, STATE_SK), state: { S: json } });
}

/* ------------------------------------------------ observations and history */

export async function recordObservation(
  ddb: DynamoDBClient,
  table: string,
  cluster: string,
  atMs: number,
  observation: unknown,
  ttlSeconds: number,
): Promise<void> {
  const sk = observationSk(atMs);
  const json = boundedJson(observation, `${table}:${clusterPk(cluster)}/${sk}`);
  await putItem(ddb, table, {
    ...key(cluster, sk),
    atMs: n(atMs),
    observation: { S: json },
    expiresAt: n(ttlSecondsFrom(atMs, ttlSeconds)),
  });
}

export async function recordVerdictTransition(ddb: DynamoDBClient, table: string, cluster: string, t: VerdictTransition): Promise<void> {
  const sk = verdictSk(t.atMs);
  boundedJson(t.reasons, `${table}:${clusterPk(cluster)}/${sk}`);
  await putItem(ddb, table, {
    ...key(cluster, sk),
    atMs: n(t.atMs),
    ...(t.from !== undefined ? { from: { S: t.from } } : {}),
    to: { S: t.to },
    reasons: { L: t.reasons.map((r) => ({ S: r })) },
    expiresAt: n(ttlSecondsFrom(t.atMs, VERDICT_RETENTION_SECONDS)),
  });
}

/* ---------------------------------------------------------------- reports */

export async function putReport(
  ddb: DynamoDBClient,
  table: string,
  cluster: string,
  kind: ReportKind,
  id: string,
  report: unknown,
  ttlSeconds: number,
  nowMs: number = Date.now(),
): Promise<void> {
  const sk = reportSk(kind, id);
  const json = boundedJson(report, `${table}:${clusterPk(cluster)}/${sk}`);
  await putItem(ddb, table, {
    ...key(cluster, sk),
    kind: { S: kind },
    id: { S: id },
    atMs: n(nowMs),
    report: { S: json },
    expiresAt: n(ttlSecondsFrom(nowMs, ttlSeconds)),
  });
}

export async function getReport(ddb: DynamoDBClient, table: string, cluster: string, kind: ReportKind, id: string): Promise<unknown> {
  const sk = reportSk(kind, id);
  const item = await getItem(ddb, table, cluster, sk);
  const raw = item?.['report']?.S;
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    const resource = `${table}:${clusterPk(cluster)}/${sk}`;
    throw new ControlItemCorruptError(`${resource}: report is not JSON`, { resource, code: 'MalformedReport', cause: err });
  }
}

/* ---------------------------------------------------------------- helpers */

function boundedJson(value: unknown, resource: string): string {
  const json = JSON.stringify(value) ?? 'null';
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_JSON_BYTES) {
    throw new ItemTooLargeError(`${resource}: ${bytes} bytes of JSON exceed the ${MAX_JSON_BYTES}-byte budget of one DynamoDB item`, {
      resource,
      code: 'ItemTooLarge',
    });
  }
  return json;
}

async function getItem(ddb: DynamoDBClient, table: string, cluster: string, sk: string): Promise<Record<string, AttributeValue> | undefined> {
  try {
    const out = await ddb.send(new GetItemCommand({ TableName: table, Key: key(cluster, sk), ConsistentRead: true }));
    return out.Item;
  } catch (err) {
    throw toAdapterError(err, table);
  }
}

async function putItem(ddb: DynamoDBClient, table: string, item: Record<string, AttributeValue>): Promise<void> {
  try {
    await ddb.send(new PutItemCommand({ TableName: table, Item: item }));
  } catch (err) {
    throw toAdapterError(err, table);
  }
}
