/**
 * Read side of the control table for operators (`vault-ha status`, `vault-ha
 * history`): the controller's recent observations, verdict transitions,
 * replacement and drill reports, and operator events (pause, resume, unlock).
 * Layout in control-table.ts; every read is a bounded Query on one cluster's
 * partition (ISO timestamps in the sort keys sort by time). Decides nothing.
 *
 *   event#<ISO time>       operator actions (pause, resume, unlock), kept 90 days
 */
import { PutItemCommand, QueryCommand, type AttributeValue, type DynamoDBClient, type QueryCommandInput } from '@aws-sdk/client-dynamodb';
import { VERDICT_KINDS, type VerdictKind } from '../core/types.js';
import { VERDICT_RETENTION_SECONDS, clusterPk, type ReportKind, type VerdictTransition } from './control-table.js';
import { AwsCallError, toAdapterError } from './errors.js';

/**
 * Pages of one Query walk (1 MB each at most). Observations (one per tick,
 * kept 3 days) are the bulk: a day of 5 s ticks is ~17 000 items, tens of MB.
 * A bound, with an error that says to narrow the window.
 */
export const MAX_QUERY_PAGES = 250;

/** One stored controller tick: its time and the report the controller wrote (functions/handlers/lib/reconcile.ts ClusterReport). */
export interface StoredObservation {
  atMs: number;
  report: Record<string, unknown>;
}

export interface StoredReport {
  kind: ReportKind;
  id: string;
  atMs: number;
  report: Record<string, unknown>;
}

export type OperatorEventKind = 'pause' | 'resume' | 'unlock';

export interface OperatorEvent {
  atMs: number;
  kind: OperatorEventKind;
  by: string;
  detail: string;
}

export interface QueryWindow {
  /** Oldest time of interest (inclusive). */
  sinceMs?: number;
  /** At most this many items (newest first when `newestFirst`). */
  limit?: number;
  newestFirst?: boolean;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The newest observations (newest first), optionally only the ticks that
 * changed something (`applied`): those are filtered by DynamoDB on the stored
 * JSON, so a day of idle ticks is not sent over the wire.
 */
export async function listObservations(
  ddb: DynamoDBClient,
  table: string,
  cluster: string,
  opts: QueryWindow & { onlyApplied?: boolean } = {},
): Promise<StoredObservation[]> {
  const items = await query(ddb, table, {
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: {
      ':pk': { S: clusterPk(cluster) },
      ':from': { S: `obs#${iso(opts.sinceMs ?? 0)}` },
      // '~' sorts after every ISO timestamp character.
      ':to': { S: 'obs#~' },
      ...(opts.onlyApplied ? { ':applied': { S: '"applied":true' } } : {}),
    },
    ...(opts.onlyApplied ? { FilterExpression: 'contains(#o, :applied)', ExpressionAttributeNames: { '#o': 'observation' } } : {}),
    ScanIndexForward: opts.newestFirst === false,
  }, opts.limit);
  return items.flatMap((item) => {
    const report = parseJsonObject(item['observation']?.S);
    const atMs = Number(item['atMs']?.N);
    return report && Number.isFinite(atMs) ? [{ atMs, report }] : [];
  });
}

/** Verdict transitions since `sinceMs`, oldest first. */
export async function listVerdictTransitions(ddb: DynamoDBClient, table: string, cluster: string, opts: QueryWindow = {}): Promise<VerdictTransition[]> {
  const items = await query(ddb, table, {
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': { S: clusterPk(cluster) }, ':from': { S: `verdict#${iso(opts.sinceMs ?? 0)}` }, ':to': { S: 'verdict#~' } },
    ScanIndexForward: opts.newestFirst !== true,
  }, opts.limit);
  return items.flatMap((item) => {
    const atMs = Number(item['atMs']?.N);
    const to = item['to']?.S;
    const from = item['from']?.S;
    if (!Number.isFinite(atMs) || !isVerdict(to)) return [];
    return [{ atMs, from: isVerdict(from) ? from : undefined, to, reasons: (item['reasons']?.L ?? []).map((r) => r.S ?? '') }];
  });
}

/** Replacement and drill reports written at or after `sinceMs` (by the time they were stored), oldest first. */
export async function listReports(ddb: DynamoDBClient, table: string, cluster: string, opts: QueryWindow & { kind?: ReportKind } = {}): Promise<StoredReport[]> {
  const items = await query(ddb, table, {
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    FilterExpression: 'atMs >= :since',
    ExpressionAttributeValues: {
      ':pk': { S: clusterPk(cluster) },
      ':prefix': { S: opts.kind ? `report#${opts.kind}#` : 'report#' },
      ':since': { N: String(opts.sinceMs ?? 0) },
    },
  });
  const out = items.flatMap((item): StoredReport[] => {
    const kind = item['kind']?.S;
    const id = item['id']?.S;
    const atMs = Number(item['atMs']?.N);
    const report = parseJsonObject(item['report']?.S);
    if ((kind !== 'replace' && kind !== 'drill') || !id || !Number.isFinite(atMs) || !report) return [];
    return [{ kind, id, atMs, report }];
  });
  out.sort((a, b) => a.atMs - b.atMs);
  return opts.limit !== undefined ? out.slice(-opts.limit) : out;
}

export async function recordOperatorEvent(ddb: DynamoDBClient, table: string, cluster: string, e: OperatorEvent): Promise<void> {
  try {
    await ddb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          pk: { S: clusterPk(cluster) },
          // The kind in the key too: two operators acting in the same millisecond keep both events.
          sk: { S: `event#${iso(e.atMs)}#${e.kind}` },
          atMs: { N: String(e.atMs) },
          kind: { S: e.kind },
          by: { S: e.by },
          detail: { S: e.detail },
          expiresAt: { N: String(Math.floor(e.atMs / 1000) + VERDICT_RETENTION_SECONDS) },
        },
      }),
    );
  } catch (err) {
    throw toAdapterError(err, table);
  }
}

export async function listOperatorEvents(ddb: DynamoDBClient, table: string, cluster: string, opts: QueryWindow = {}): Promise<OperatorEvent[]> {
  const items = await query(ddb, table, {
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: { ':pk': { S: clusterPk(cluster) }, ':from': { S: `event#${iso(opts.sinceMs ?? 0)}` }, ':to': { S: 'event#~' } },
  }, opts.limit);
  return items.flatMap((item): OperatorEvent[] => {
    const atMs = Number(item['atMs']?.N);
    const kind = item['kind']?.S;
    if (!Number.isFinite(atMs) || (kind !== 'pause' && kind !== 'resume' && kind !== 'unlock')) return [];
    return [{ atMs, kind, by: item['by']?.S ?? '?', detail: item['detail']?.S ?? '' }];
  });
}

/* ---------------------------------------------------------------- helpers */

async function query(
  ddb: DynamoDBClient,
  table: string,
  input: Omit<QueryCommandInput, 'TableName'>,
  limit?: number,
): Promise<Array<Record<string, AttributeValue>>> {
  const items: Array<Record<string, AttributeValue>> = [];
  let startKey: Record<string, AttributeValue> | undefined;
  for (let page = 0; page < MAX_QUERY_PAGES; page++) {
    let out;
    try {
      out = await ddb.send(
        new QueryCommand({
          ...input,
          TableName: table,
          ConsistentRead: true,
          // Limit counts items read before the filter; keep pages reasonable either way.
          ...(limit !== undefined && input.FilterExpression === undefined ? { Limit: Math.max(1, limit - items.length) } : {}),
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
    } catch (err) {
      throw toAdapterError(err, table);
    }
    items.push(...(out.Items ?? []));
    if (limit !== undefined && items.length >= limit) return items.slice(0, limit);
    startKey = out.LastEvaluatedKey;
    if (!startKey) return items;
  }
  throw new AwsCallError(`${table}: a query of ${String(input.ExpressionAttributeValues?.[':pk']?.S)} needed more than ${MAX_QUERY_PAGES} pages; narrow --since`, {
    resource: table,
    code: 'TooManyPages',
  });
}

function parseJsonObject(raw: string | undefined): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(raw);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isVerdict(v: unknown): v is VerdictKind {
  return typeof v === 'string' && (VERDICT_KINDS as readonly string[]).includes(v);
}
