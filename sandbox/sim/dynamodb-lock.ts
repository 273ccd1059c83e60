/**
 * Vault's DynamoDB HA lock, re-enacted with the real AWS SDK against a real
 * (or dynalite) table: same item, same condition expressions, same timings
 * and the same failure behaviour as `physical/dynamodb/dynamodb.go` and
 * `vault/ha.go` (DESIGN §3.4).
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { LOCK_ATTR, LOCK_ITEM_KEY, NS_PER_MS, type LockTimings } from '../../functions/core/ha-lock.js';
import { SimStoragePartitionedError } from './errors.js';
import type { HaParticipant, LeaderView, LeadershipSnapshot, ParticipantHooks } from './ha.js';
import { TimerBag } from './timers.js';

/**
 * Vault advertises the active node under `core/leader/<leader uuid>`; the
 * backend stores a key as Path = directory, Key = last segment. Vault encrypts
 * the value with its barrier; the simulator stores plain JSON because nothing
 * outside the simulator may rely on reading it (DESIGN §3.4).
 */
export const LEADER_ADVERTISEMENT_PATH = 'core/leader';

export interface LockItem {
  identity: string;
  value: string;
  /** Unix ns, decimal string exactly as stored. */
  expiresAtNs: string;
}

export interface LeaderAdvertisement {
  api_addr: string;
  cluster_addr: string;
  node: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms)) * NS_PER_MS;
}

function lockKey(): Record<string, AttributeValue> {
  return { [LOCK_ATTR.path]: { S: LOCK_ITEM_KEY.Path }, [LOCK_ATTR.key]: { S: LOCK_ITEM_KEY.Key } };
}

/**
 * Acquire (createIfMissing) or renew the lock with one conditional UpdateItem.
 * Acquisition may create the item; renewal must not resurrect an item that was
 * deleted under us (Vault: "This should not renew the lock if the lock was
 * deleted from under you"). Either write wins over a foreign Identity only once
 * that holder's Expires, written with *its* clock, is <= our clock.
 */
export function lockUpdateCommand(
  table: string,
  args: { identity: string; value: string; nowMs: number; ttlMs: number; createIfMissing: boolean },
): UpdateItemCommand {
  const existence = args.createIfMissing
    ? 'attribute_not_exists(#path) or attribute_not_exists(#key) or '
    : 'attribute_exists(#path) and attribute_exists(#key) and ';
  return new UpdateItemCommand({
    TableName: table,
    Key: lockKey(),
    UpdateExpression: 'SET #value = :value, #identity = :identity, #expires = :expires',
    ConditionExpression: `${existence}(attribute_not_exists(#identity) or #identity = :identity or #expires <= :now)`,
    ExpressionAttributeNames: {
      '#path': LOCK_ATTR.path,
      '#key': LOCK_ATTR.key,
      '#identity': LOCK_ATTR.identity,
      '#expires': LOCK_ATTR.expires,
      '#value': LOCK_ATTR.value,
    },
    ExpressionAttributeValues: {
      ':identity': { B: encoder.encode(args.identity) },
      ':value': { B: encoder.encode(args.value) },
      ':now': { N: msToNs(args.nowMs).toString() },
      ':expires': { N: msToNs(args.nowMs + args.ttlMs).toString() },
    },
  });
}

/** Release: delete only if the item still carries our Identity (someone may have taken it). */
export function lockReleaseCommand(table: string, identity: string): DeleteItemCommand {
  return new DeleteItemCommand({
    TableName: table,
    Key: lockKey(),
    ConditionExpression: '#identity = :identity',
    ExpressionAttributeNames: { '#identity': LOCK_ATTR.identity },
    ExpressionAttributeValues: { ':identity': { B: encoder.encode(identity) } },
  });
}

export function lockReadCommand(table: string): GetItemCommand {
  return new GetItemCommand({ TableName: table, Key: lockKey(), ConsistentRead: true });
}

export function parseLockItem(item: Record<string, AttributeValue> | undefined): LockItem | undefined {
  if (!item) return undefined;
  const identity = item[LOCK_ATTR.identity]?.B;
  const value = item[LOCK_ATTR.value]?.B;
  const expires = item[LOCK_ATTR.expires]?.N;
  return {
    identity: identity ? decoder.decode(identity) : '',
    value: value ? decoder.decode(value) : '',
    expiresAtNs: expires ?? '0',
  };
}

function advertisementKey(leaderUuid: string): Record<string, AttributeValue> {
  return { [LOCK_ATTR.path]: { S: LEADER_ADVERTISEMENT_PATH }, [LOCK_ATTR.key]: { S: leaderUuid } };
}

export function advertisementPutCommand(table: string, leaderUuid: string, ad: LeaderAdvertisement): PutItemCommand {
  return new PutItemCommand({
    TableName: table,
    Item: { ...advertisementKey(leaderUuid), [LOCK_ATTR.value]: { B: encoder.encode(JSON.stringify(ad)) } },
  });
}

export function advertisementReadCommand(table: string, leaderUuid: string): GetItemCommand {
  return new GetItemCommand({ TableName: table, Key: advertisementKey(leaderUuid), ConsistentRead: true });
}

export function advertisementDeleteCommand(table: string, leaderUuid: string): DeleteItemCommand {
  return new DeleteItemCommand({ TableName: table, Key: advertisementKey(leaderUuid) });
}

export function parseAdvertisement(item: Record<string, AttributeValue> | undefined): LeaderAdvertisement | undefined {
  const raw = item?.[LOCK_ATTR.value]?.B;
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(decoder.decode(raw)) as Partial<LeaderAdvertisement>;
    if (typeof parsed.api_addr !== 'string') return undefined;
    return { api_addr: parsed.api_addr, cluster_addr: parsed.cluster_addr ?? '', node: parsed.node ?? '' };
  } catch {
    return undefined;
  }
}

export function isConditionalCheckFailed(err: unknown): boolean {
  return err instanceof Error && err.name === 'ConditionalCheckFailedException';
}

/**
 * Delay until the next tick of a Go-style ticker started at `dueAtMs`: ticks
 * keep a fixed rate however long the call took, and ticks missed while the
 * previous call was still running are dropped (time.Ticker semantics).
 */
function nextTick(dueAtMs: number, intervalMs: number): { dueAtMs: number; delayMs: number } {
  const now = Date.now();
  let next = dueAtMs + intervalMs;
  if (next < now) next += Math.ceil((now - next) / intervalMs) * intervalMs;
  return { dueAtMs: next, delayMs: next - now };
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

export interface DynamoDbParticipantOptions {
  client: DynamoDBClient;
  table: string;
  timings: LockTimings;
  /**
   * Wait after an acquisition attempt failed with a storage error (not a lost
   * race): Vault's `lockRetryInterval` is 10 s, i.e. 10 × the 1 s retry
   * interval, which is the default here so that it scales with the timings.
   */
  acquireErrorBackoffMs?: number;
}

interface HeldLock {
  identity: string;
  value: string;
  heldSinceMs: number;
}

export class DynamoDbHaParticipant implements HaParticipant {
  readonly type = 'dynamodb' as const;
  private readonly timers = new TimerBag();
  private readonly acquireErrorBackoffMs: number;
  /** Bumped whenever running loops must die (halt, loss, step-down); async completions compare it. */
  private generation = 0;
  private competing = false;
  private hardHalted = false;
  private held: HeldLock | undefined;
  /** Vault creates a lock (new Identity and new leader UUID) per acquisition round. */
  private attempt: { identity: string; value: string } | undefined;
  private watchFailures = 0;
  private view: LeaderView | undefined;
  /** Storage calls on the wire; halt() lets them land before returning. */
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly opts: DynamoDbParticipantOptions,
    private readonly hooks: ParticipantHooks,
  ) {
    this.acquireErrorBackoffMs = opts.acquireErrorBackoffMs ?? opts.timings.retryIntervalMs * 10;
  }

  start(): void {
    if (this.competing) return;
    this.competing = true;
    this.hardHalted = false;
    this.generation++;
    this.attempt = undefined;
    // Vault's tryToLock ticks once per retry interval before its first attempt.
    this.scheduleAcquire(this.opts.timings.retryIntervalMs);
    this.scheduleRefresh(0);
  }

  async halt(mode: 'graceful' | 'hard'): Promise<void> {
    this.competing = false;
    this.hardHalted = mode === 'hard';
    this.generation++;
    this.timers.clear();
    const held = this.held;
    this.held = undefined;
    this.view = undefined;
    this.attempt = undefined;
    if (held && mode === 'graceful') {
      this.hooks.onLostActive('sealed or shut down');
      await this.release(held, 'shutdown');
    }
    await this.drain();
  }

  async stepDown(): Promise<boolean> {
    const held = this.held;
    if (!held) return false;
    this.generation++;
    this.timers.clear();
    this.held = undefined;
    this.attempt = undefined;
    this.view = undefined;
    this.hooks.onLostActive('step-down');
    const gen = this.generation;
    await this.release(held, 'step-down');
    if (gen !== this.generation || !this.competing) return true;
    // vault/ha.go sleeps manualStepDownSleepPeriod before building the next lock,
    // whose ticker then waits one retry interval before the first attempt.
    const { stepDownBackoffMs, retryIntervalMs } = this.opts.timings;
    this.hooks.log('step-down-backoff', `not competing for ${stepDownBackoffMs} ms`);
    this.scheduleAcquire(stepDownBackoffMs + retryIntervalMs);
    this.scheduleRefresh(0);
    return true;
  }

  isLeader(): boolean {
    return this.held !== undefined;
  }

  leaderView(): LeaderView | undefined {
    if (this.held) {
      return { leaderId: this.held.value, apiAddr: this.hooks.apiAddr(), clusterAddr: this.hooks.clusterAddr() };
    }
    return this.view;
  }

  snapshot(): LeadershipSnapshot {
    const held = this.held;
    return held
      ? { held: true, heldSinceMs: held.heldSinceMs, lockIdentity: held.identity, leaderUuid: held.value }
      : { held: false };
  }

  private send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.hooks.storagePartitioned()) {
      return Promise.reject(new SimStoragePartitionedError(this.hooks.nodeName, operation));
    }
    const call = run();
    const tracked = call.then(
      () => undefined,
      () => undefined,
    );
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
    return call;
  }

  /**
   * Waits (bounded) for requests already sent. Even a SIGKILLed process's
   * requests may still land; waiting for them also means that whoever shuts
   * the table down next does not pull it from under a request being served.
   */
  private async drain(): Promise<void> {
    for (let round = 0; round < 3 && this.inflight.size > 0; round++) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2_000);
        timer.unref();
      });
      await Promise.race([Promise.allSettled([...this.inflight]), limit]);
      clearTimeout(timer);
    }
  }

  private scheduleAcquire(delayMs: number): void {
    const gen = this.generation;
    this.timers.after(delayMs, () => void this.acquireTick(gen));
  }

  private async acquireTick(gen: number): Promise<void> {
    if (gen !== this.generation || !this.competing || this.held) return;
    this.attempt ??= { identity: randomUUID(), value: randomUUID() };
    const attempt = this.attempt;
    const { table, client, timings } = this.opts;
    try {
      await this.send('acquire lock', () =>
        client.send(
          lockUpdateCommand(table, { ...attempt, nowMs: this.hooks.nowMs(), ttlMs: timings.ttlMs, createIfMissing: true }),
        ),
      );
    } catch (err) {
      if (gen !== this.generation) return;
      if (isConditionalCheckFailed(err)) {
        this.scheduleAcquire(timings.retryIntervalMs);
      } else {
        this.hooks.log('acquire-error', `failed to acquire lock: ${describe(err)}`);
        this.scheduleAcquire(this.acquireErrorBackoffMs);
      }
      return;
    }
    if (gen !== this.generation) {
      // Halted while the write was in flight. A graceful halt must not leave a
      // fresh lock behind; a killed process cannot clean up after itself.
      if (!this.hardHalted) void this.release({ ...attempt, heldSinceMs: Date.now() }, 'late acquisition');
      return;
    }
    try {
      await this.send('advertise leader', () =>
        client.send(
          advertisementPutCommand(table, attempt.value, {
            api_addr: this.hooks.apiAddr(),
            cluster_addr: this.hooks.clusterAddr(),
            node: this.hooks.nodeName,
          }),
        ),
      );
    } catch (err) {
      if (gen !== this.generation) return;
      // vault/ha.go: a leader that cannot advertise itself releases the lock and retries.
      this.hooks.log('advertise-error', `failed to advertise leader: ${describe(err)}`);
      await this.release({ ...attempt, heldSinceMs: Date.now() }, 'advertise failure');
      this.attempt = undefined;
      this.scheduleAcquire(timings.retryIntervalMs);
      return;
    }
    if (gen !== this.generation) {
      if (!this.hardHalted) void this.release({ ...attempt, heldSinceMs: Date.now() }, 'late acquisition');
      return;
    }
    this.generation++;
    this.held = { ...attempt, heldSinceMs: Date.now() };
    this.watchFailures = 0;
    this.view = undefined;
    this.hooks.log('lock-acquired', `identity ${attempt.identity}, leader uuid ${attempt.value}`);
    this.hooks.onBecameActive();
    const heldGen = this.generation;
    const start = Date.now();
    this.timers.after(timings.renewIntervalMs, () => void this.renewTick(heldGen, start + timings.renewIntervalMs));
    this.timers.after(timings.watchRetryIntervalMs, () => void this.watchTick(heldGen, start + timings.watchRetryIntervalMs));
  }

  private async renewTick(gen: number, dueAtMs: number): Promise<void> {
    const held = this.held;
    if (gen !== this.generation || !held) return;
    const { table, client, timings } = this.opts;
    try {
      await this.send('renew lock', () =>
        client.send(
          lockUpdateCommand(table, {
            identity: held.identity,
            value: held.value,
            nowMs: this.hooks.nowMs(),
            ttlMs: timings.ttlMs,
            createIfMissing: false,
          }),
        ),
      );
    } catch (err) {
      // A failed renewal is only logged; only the watch gives leadership up.
      if (!isConditionalCheckFailed(err)) this.hooks.log('renew-error', `error renewing leadership lock: ${describe(err)}`);
    }
    if (gen !== this.generation) return;
    const next = nextTick(dueAtMs, timings.renewIntervalMs);
    this.timers.after(next.delayMs, () => void this.renewTick(gen, next.dueAtMs));
  }

  private async watchTick(gen: number, dueAtMs: number): Promise<void> {
    const held = this.held;
    if (gen !== this.generation || !held) return;
    const { table, client, timings } = this.opts;
    let item: LockItem | undefined;
    try {
      const out = await this.send('watch lock', () => client.send(lockReadCommand(table)));
      item = parseLockItem(out.Item);
    } catch (err) {
      if (gen !== this.generation) return;
      this.watchFailures++;
      this.hooks.log('watch-error', `lock watch read failed (${this.watchFailures}/${timings.watchMaxFailures}): ${describe(err)}`);
      if (this.watchFailures >= timings.watchMaxFailures) {
        await this.loseLeadership(held, 'lock watch failed too many times');
      } else {
        const next = nextTick(dueAtMs, timings.watchRetryIntervalMs);
        this.timers.after(next.delayMs, () => void this.watchTick(gen, next.dueAtMs));
      }
      return;
    }
    if (gen !== this.generation) return;
    if (!item || item.identity !== held.identity) {
      await this.loseLeadership(held, item ? `lock taken by identity ${item.identity}` : 'lock item deleted');
      return;
    }
    this.watchFailures = 0;
    const next = nextTick(dueAtMs, timings.watchRetryIntervalMs);
    this.timers.after(next.delayMs, () => void this.watchTick(gen, next.dueAtMs));
  }

  private async loseLeadership(held: HeldLock, reason: string): Promise<void> {
    this.generation++;
    this.timers.clear();
    this.held = undefined;
    this.attempt = undefined;
    this.view = undefined;
    this.hooks.log('leadership-lost', reason);
    this.hooks.onLostActive(reason);
    const gen = this.generation;
    // Vault unlocks (conditional on Identity, so harmless when taken over) and
    // clears its advertisement, then immediately builds a new lock.
    await this.release(held, 'leadership lost');
    if (gen !== this.generation || !this.competing) return;
    this.scheduleAcquire(this.opts.timings.retryIntervalMs);
    this.scheduleRefresh(0);
  }

  private async release(held: HeldLock, why: string): Promise<void> {
    const { table, client } = this.opts;
    try {
      await this.send('release lock', () => client.send(lockReleaseCommand(table, held.identity)));
      this.hooks.log('lock-released', `${why}: identity ${held.identity}`);
    } catch (err) {
      if (!isConditionalCheckFailed(err)) this.hooks.log('release-error', `${why}: ${describe(err)}`);
    }
    try {
      await this.send('clear leader advertisement', () => client.send(advertisementDeleteCommand(table, held.value)));
    } catch (err) {
      this.hooks.log('release-error', `clear advertisement: ${describe(err)}`);
    }
  }

  private scheduleRefresh(delayMs: number): void {
    const gen = this.generation;
    this.timers.after(delayMs, () => void this.refreshTick(gen));
  }

  /**
   * Standbys learn the leader from storage: the lock's Value names the leader
   * UUID and `core/leader/<uuid>` its address. Expiry is not consulted (Vault's
   * Lock.Value ignores it), which is why standbys keep naming a dead or
   * partitioned holder until someone else takes the lock.
   */
  private async refreshTick(gen: number): Promise<void> {
    if (gen !== this.generation || !this.competing || this.held) return;
    const { table, client, timings } = this.opts;
    try {
      const out = await this.send('read leader', () => client.send(lockReadCommand(table)));
      if (gen !== this.generation) return;
      const item = parseLockItem(out.Item);
      if (!item || !item.value) {
        this.view = undefined;
      } else if (this.view?.leaderId !== item.value || this.view.apiAddr === undefined) {
        const ad = await this.send('read leader advertisement', () =>
          client.send(advertisementReadCommand(table, item.value)),
        );
        if (gen !== this.generation) return;
        const parsed = parseAdvertisement(ad.Item);
        this.view = { leaderId: item.value, apiAddr: parsed?.api_addr, clusterAddr: parsed?.cluster_addr };
      }
    } catch (err) {
      if (gen !== this.generation) return;
      this.hooks.log('leader-refresh-error', describe(err));
    }
    this.timers.after(timings.standbyLeaderRefreshMs, () => void this.refreshTick(gen));
  }
}
