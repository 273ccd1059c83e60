/**
 * The control table (DESIGN §4.1): HASH `pk` (S), RANGE `sk` (S), TTL attribute
 * `expiresAt` in Unix SECONDS. Everything for cluster <name> lives under
 * `pk = cluster#<name>`:
 *
 *   lease#<scope>          lease excluding overlapping runs (controller, operation);
 *                          a controller run's claim lives as long as the run and
 *                          is marked `runLease`: the run's own lease says if it lives
 *   state                  controller memory between invocations (history, hysteresis),
 *                          written when it changed and at the end of a run
 *   obs#<ISO time>         an observation when a tick's verdict, plan or classes
 *                          changed, or it acted, plus a heartbeat (short TTL)
 *
 * and, for each controller run (one Lambda invocation), under `pk = run#<owner>`:
 *
 *   lease#run              the run's lease: one item for all its clusters, renewed
 *                          as its expiry needs; a successor asks it to hand over here
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
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { StateForWrite } from '../core/bookkeeping.js';
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
  /** A controller run's claim: whether its holder still lives is said by the run's own lease (RunLease). */
  runLease?: boolean;
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
  /** Marks the item as a controller run's claim (LeaseRecord.runLease). */
  runLease?: boolean;
  /** Also take the lease from this owner, live or not (its run is known to be over: see readRunLease). */
  takeFrom?: string;
}

/** The controller's stored state: the core's StateForWrite (functions/core/bookkeeping.ts) is its shape. */
export type ClusterState = StateForWrite;

export interface VerdictTransition {
  atMs: number;
  from: VerdictKind | undefined;
  to: VerdictKind;
  reasons: string[];
}

export type ReportKind = 'replace' | 'drill';

export const clusterPk = (cluster: string): string => `cluster#${cluster}`;
export const leaseSk = (scope: string): string => `lease#${scope}`;
/** A lease item's key (for batched reads: tick-reads.ts readClaims). */
export const leaseKey = (cluster: string, scope: string): Record<string, AttributeValue> => ({ pk: { S: clusterPk(cluster) }, sk: { S: leaseSk(scope) } });
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
    ...(req.runLease ? { runLease: { BOOL: true } } : {}),
  };
  if (req.runLease) record.runLease = true;

  for (let attempt = 1; attempt <= ACQUIRE_ATTEMPTS; attempt++) {
    try {
      await ddb.send(
        new PutItemCommand({
          TableName: table,
          Item: item,
          // `owner` is a DynamoDB reserved word: always go through attribute names.
          ConditionExpression:
            (req.yieldToSuccessor
              ? 'attribute_not_exists(#pk) OR #expiresAtMs < :now OR (#owner = :owner AND attribute_not_exists(#handover))'
              : 'attribute_not_exists(#pk) OR #expiresAtMs < :now OR #owner = :owner') + (req.takeFrom !== undefined ? ' OR #owner = :from' : ''),
          ExpressionAttributeNames: {
            '#pk': 'pk',
            '#expiresAtMs': 'expiresAtMs',
            '#owner': 'owner',
            ...(req.yieldToSuccessor ? { '#handover': 'handoverRequestedBy' } : {}),
          },
          ExpressionAttributeValues: {
            ':now': n(req.nowMs),
            ':owner': { S: req.owner },
            ...(req.takeFrom !== undefined ? { ':from': { S: req.takeFrom } } : {}),
          },
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
  return askHandover(ddb, table, key(req.cluster, leaseSk(req.scope)), req);
}

/** Marks a live lease item (held by `holder`, not expired) with the requester; false when the condition fails. */
async function askHandover(
  ddb: DynamoDBClient,
  table: string,
  itemKey: Record<string, AttributeValue>,
  req: { holder: string; requester: string; nowMs: number },
): Promise<boolean> {
  try {
    await ddb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: itemKey,
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

export function decodeLease(item: Record<string, AttributeValue>, table: string): LeaseRecord {
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
    ...(item['runLease']?.BOOL === true ? { runLease: true } : {}),
  };
}

/* ------------------------------------------------------------ run leases */

/**
 * One controller run's lease (issue #9: one item for all its clusters, not one
 * renewal per cluster and tick). Each cluster the run ticks also carries a
 * claim (`lease#controller`, `runLease: true`) written once per run; a
 * successor finding a claim asks the run's lease whether its holder lives:
 * absent or expired means the run is over and the claim may be taken.
 * A run that cannot renew before its lease expires stops acting (the renewal
 * is conditional on the lease not having expired), so a claim is never taken
 * from a run that still acts.
 */
export interface RunLease {
  owner: string;
  acquiredAtMs: number;
  expiresAtMs: number;
  handoverRequestedBy?: string;
}

/** A controller run's lease is gone, expired or taken: the run must stop acting at once (and write nothing more). */
export class RunLeaseLostError extends Error {
  override readonly name = 'RunLeaseLostError';
  readonly resource: string;
  readonly code: string;
  constructor(message: string, opts: { resource: string; code: string; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.resource = opts.resource;
    this.code = opts.code;
  }
}

/** Under `lease#` like every lease, so tools that tell leases from bookkeeping by the sort key keep doing so. */
export const runLeaseKey = (owner: string): Record<string, AttributeValue> => ({ pk: { S: `run#${owner}` }, sk: { S: 'lease#run' } });

export async function putRunLease(ddb: DynamoDBClient, table: string, req: { owner: string; nowMs: number; ttlMs: number }): Promise<RunLease> {
  const lease: RunLease = { owner: req.owner, acquiredAtMs: req.nowMs, expiresAtMs: req.nowMs + req.ttlMs };
  // Unconditional: the owner is the invocation's request id, and Lambda retries
  // an invocation only after the attempt with that id ended.
  await putItem(ddb, table, {
    ...runLeaseKey(req.owner),
    owner: { S: lease.owner },
    acquiredAtMs: n(lease.acquiredAtMs),
    expiresAtMs: n(lease.expiresAtMs),
    expiresAt: n(Math.ceil(lease.expiresAtMs / 1000) + LEASE_TTL_GRACE_SECONDS),
  });
  return lease;
}

/**
 * Extends the run's lease to `nowMs + ttlMs`. Refused when it has expired
 * (the run must stop: its claims may have been taken), when it is gone
 * (LeaseLostError), or when a successor asked for it (HandoverRequestedError).
 */
export async function renewRunLease(ddb: DynamoDBClient, table: string, req: { owner: string; nowMs: number; ttlMs: number }): Promise<RunLease> {
  const expiresAtMs = req.nowMs + req.ttlMs;
  try {
    const out = await ddb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: runLeaseKey(req.owner),
        UpdateExpression: 'SET #expiresAtMs = :exp, #expiresAt = :ttl',
        ConditionExpression: '#owner = :owner AND #expiresAtMs >= :now AND attribute_not_exists(#handover)',
        ExpressionAttributeNames: { '#expiresAtMs': 'expiresAtMs', '#expiresAt': 'expiresAt', '#owner': 'owner', '#handover': 'handoverRequestedBy' },
        ExpressionAttributeValues: {
          ':exp': n(expiresAtMs),
          ':ttl': n(Math.ceil(expiresAtMs / 1000) + LEASE_TTL_GRACE_SECONDS),
          ':owner': { S: req.owner },
          ':now': n(req.nowMs),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return out.Attributes ? decodeRunLease(out.Attributes, table) : { owner: req.owner, acquiredAtMs: req.nowMs, expiresAtMs };
  } catch (err) {
    if (!isAwsError(err, 'ConditionalCheckFailedException')) throw toAdapterError(err, table);
    const now = await readRunLease(ddb, table, req.owner);
    throw runLeaseRefusal(table, req.owner, now, req.nowMs, err);
  }
}

/** Why a run may not act on: its lease is gone, expired, or a successor asked for it. Undefined: it may. */
export function runLeaseRefusal(table: string, owner: string, lease: RunLease | undefined, nowMs: number, cause?: unknown): Error | undefined {
  if (lease && lease.owner === owner && lease.handoverRequestedBy !== undefined && lease.expiresAtMs >= nowMs) {
    return new HandoverRequestedError(
      { cluster: '*', scope: 'controller-run', owner, acquiredAtMs: lease.acquiredAtMs, expiresAtMs: lease.expiresAtMs, handoverRequestedBy: lease.handoverRequestedBy },
      lease.handoverRequestedBy,
      cause !== undefined ? { cause } : undefined,
    );
  }
  if (!lease || lease.owner !== owner || lease.expiresAtMs < nowMs) {
    return new RunLeaseLostError(
      `${table}: the run lease of ${owner} is ${!lease ? 'gone' : lease.expiresAtMs < nowMs ? 'expired' : 'held by another'}; the run stops acting`,
      { resource: `${table}:run#${owner}`, code: 'RunLeaseLost', ...(cause !== undefined ? { cause } : {}) },
    );
  }
  return undefined;
}

export async function readRunLease(ddb: DynamoDBClient, table: string, owner: string): Promise<RunLease | undefined> {
  let item: Record<string, AttributeValue> | undefined;
  try {
    item = (await ddb.send(new GetItemCommand({ TableName: table, Key: runLeaseKey(owner), ConsistentRead: true }))).Item;
  } catch (err) {
    throw toAdapterError(err, table);
  }
  return item ? decodeRunLease(item, table) : undefined;
}

/** Asks the live run `holder` to hand over at its next tick. False when it is gone or expired. */
export async function requestRunHandover(
  ddb: DynamoDBClient,
  table: string,
  req: { holder: string; requester: string; nowMs: number },
): Promise<boolean> {
  return askHandover(ddb, table, runLeaseKey(req.holder), req);
}

/** Ends the run's lease (after its claims were released). False when it was not ours. */
export async function deleteRunLease(ddb: DynamoDBClient, table: string, owner: string): Promise<boolean> {
  try {
    await ddb.send(
      new DeleteItemCommand({
        TableName: table,
        Key: runLeaseKey(owner),
        ConditionExpression: '#owner = :owner',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': { S: owner } },
      }),
    );
    return true;
  } catch (err) {
    if (isAwsError(err, 'ConditionalCheckFailedException')) return false;
    throw toAdapterError(err, table);
  }
}

export function decodeRunLease(item: Record<string, AttributeValue>, table: string): RunLease {
  const owner = item['owner']?.S;
  const acquiredAtMs = Number(item['acquiredAtMs']?.N);
  const expiresAtMs = Number(item['expiresAtMs']?.N);
  if (!owner || !Number.isFinite(acquiredAtMs) || !Number.isFinite(expiresAtMs)) {
    throw new ControlItemCorruptError(`${table}: run lease ${item['pk']?.S} is malformed`, { resource: `${table}:${item['pk']?.S}`, code: 'MalformedLease' });
  }
  const handoverRequestedBy = item['handoverRequestedBy']?.S;
  return { owner, acquiredAtMs, expiresAtMs, ...(handoverRequestedBy !== undefined ? { handoverRequestedBy } : {}) };
}

/* ------------------------------------------------------- controller state */

export function emptyClusterState(): ClusterState {
  return { history: { ticks: [], failureCounts: {} }, goneSinceMs: {} };
}

export async function loadClusterState(ddb: DynamoDBClient, table: string, cluster: string): Promise<ClusterState> {
  return decodeStateItem(await getItem(ddb, table, cluster, STATE_SK), table, cluster);
}

/** The state item's key (for batched reads: functions/adapters/tick-reads.ts). */
export const stateKey = (cluster: string): Record<string, AttributeValue> => key(cluster, STATE_SK);

/** The stored state (absent: a fresh one); ControlItemCorruptError when it cannot be read. */
export function decodeStateItem(item: Record<string, AttributeValue> | undefined, table: string, cluster: string): ClusterState {
  if (!item) return emptyClusterState();
  const resource = `${table}:${clusterPk(cluster)}/${STATE_SK}`;
  let raw = item['state']?.S;
  const packed = item[STATE_PACKED_ATTRIBUTE]?.B;
  if (packed !== undefined) {
    try {
      // Bounded: a corrupt or hostile item cannot inflate past one item's JSON budget.
      raw = inflateRawSync(packed, { maxOutputLength: MAX_JSON_BYTES }).toString('utf8');
    } catch (err) {
      throw new ControlItemCorruptError(`${resource}: state is not deflated JSON within ${MAX_JSON_BYTES} bytes`, { resource, code: 'MalformedState', cause: err });
    }
  }
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
  const observed = s['observed'] as Record<string, unknown> | undefined;
  if (typeof observed === 'object' && observed !== null && typeof observed['signature'] === 'string' && typeof observed['atMs'] === 'number') {
    out.observed = { signature: observed['signature'], atMs: observed['atMs'] };
  }
  return out;
}

/**
 * The state's JSON, deflated, in one binary attribute. A DynamoDB write costs
 * one unit per KB of item (DynamoDB Developer Guide, "Read/write capacity
 * mode": write request units), and the state's tick history is repetitive: a
 * 5-node cluster's ~14 KB of JSON deflates to about a tenth. An item written
 * by an older controller (`state`, plain JSON) is still read.
 */
export const STATE_PACKED_ATTRIBUTE = 'stateZ';

/** Unconditional put: the controller lease already excludes a second writer. History is bounded by the core. */
export async function saveClusterState(ddb: DynamoDBClient, table: string, cluster: string, state: ClusterState): Promise<void> {
  const resource = `${table}:${clusterPk(cluster)}/${STATE_SK}`;
  const json = boundedJson(state, resource);
  await putItem(ddb, table, { ...key(cluster, STATE_SK), [STATE_PACKED_ATTRIBUTE]: { B: deflateRawSync(Buffer.from(json, 'utf8')) } });
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
