/**
 * One source of truth for Vault's DynamoDB HA lock (DESIGN §3.4, Vault's
 * `physical/dynamodb/dynamodb.go`). The core HA lock key is `core/lock`; the
 * backend stores a key as (Path = its directory, Key = its last segment with a
 * leading `_` marking a leaf), so the item is Path `core`, Key `_lock`.
 */
export const LOCK_ITEM_KEY = { Path: 'core', Key: '_lock' } as const;
export const DEFAULT_VAULT_DYNAMODB_TABLE = 'vault-dynamodb-backend';

/** Attribute names Vault writes on the lock item. */
export const LOCK_ATTR = {
  path: 'Path',
  key: 'Key',
  /** Binary: the leader UUID written by Vault core (plaintext, new per acquisition). */
  value: 'Value',
  /** Binary: random UUID per lock attempt. */
  identity: 'Identity',
  /** Number: Unix time in nanoseconds, the writer's clock + TTL. */
  expires: 'Expires',
} as const;

/** Vault's timings for the DynamoDB lock, in milliseconds. */
export const VAULT_LOCK_TIMINGS_MS = {
  /** DynamoDBLockTTL */
  ttl: 15_000,
  /** DynamoDBLockRenewInterval */
  renewInterval: 5_000,
  /** DynamoDBLockRetryInterval */
  retryInterval: 1_000,
  /** DynamoDBWatchRetryInterval: how often the holder re-reads the item. */
  watchRetryInterval: 5_000,
  /** Standbys refresh their view of the leader this often. */
  standbyLeaderRefresh: 2_500,
  /** After a manual step-down, a node waits this long before competing again. */
  stepDownBackoff: 10_000,
} as const;

/** The holder gives up leadership after this many failed watch reads in a row. */
export const VAULT_LOCK_WATCH_MAX_FAILURES = 5;

export type LockTimings = {
  ttlMs: number;
  renewIntervalMs: number;
  retryIntervalMs: number;
  watchRetryIntervalMs: number;
  watchMaxFailures: number;
  standbyLeaderRefreshMs: number;
  stepDownBackoffMs: number;
};

export const REAL_LOCK_TIMINGS: LockTimings = {
  ttlMs: VAULT_LOCK_TIMINGS_MS.ttl,
  renewIntervalMs: VAULT_LOCK_TIMINGS_MS.renewInterval,
  retryIntervalMs: VAULT_LOCK_TIMINGS_MS.retryInterval,
  watchRetryIntervalMs: VAULT_LOCK_TIMINGS_MS.watchRetryInterval,
  watchMaxFailures: VAULT_LOCK_WATCH_MAX_FAILURES,
  standbyLeaderRefreshMs: VAULT_LOCK_TIMINGS_MS.standbyLeaderRefresh,
  stepDownBackoffMs: VAULT_LOCK_TIMINGS_MS.stepDownBackoff,
};

/** Nanoseconds per millisecond, as a bigint: `Expires` does not fit a double exactly. */
export const NS_PER_MS = 1_000_000n;
