/**
 * Hostile input, property-based (fast-check): generators of what a hostile or
 * broken environment hands the control plane, and one checker per target that
 * returns the problems it finds (empty: the property holds). The jest fuzz
 * tests (test/unit/fuzz) state each property with these; the chaos run sweeps
 * them once more and reports the cases tried.
 *
 *  - Vault answers → classifyHealth: never throws; a field of the wrong type
 *    counts as absent (never read for what its text says); a node is active
 *    only on a 200 whose body does not say otherwise; it claims active only
 *    by that or by a boolean `is_self`.
 *  - a whole tick's observations → assess + plan: never throws; never
 *    registers a node whose health answer is not a Vault answer (failed,
 *    not JSON, oversized, a status Vault does not send); never names a
 *    legitimate active whose answer contradicts itself; the report text stays
 *    bounded whatever the bodies carry.
 *  - lock items (any DynamoDB attribute map) → readLock, observeLock,
 *    decideTakeover: never throw; only an integer Expires is read; a delete is
 *    only ever decided on exactly the Identity and Expires observed, never
 *    blind, never in dry run; reasons bounded.
 *  - raw bytes on the wire → the probe adapter (vault-http): always a value,
 *    never an exception; a success carries a JSON object or nothing; more
 *    than maxResponseBytes is never a success; the failure detail is bounded.
 *  - config documents and state-machine inputs (random JSON, and the shipped
 *    example with one field replaced by random JSON): accepted, or rejected
 *    with a ConfigError / InvalidInputError whose every line names a field,
 *    says what was expected, and is bounded however large the value.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { ConfigError, InvalidInputError, MAX_ISSUE_CHARS } from '../../functions/config/errors.js';
import { parseConfig } from '../../functions/config/load.js';
import type { ClusterConfig, Config } from '../../functions/config/schema.js';
import { classifyHealth } from '../../functions/core/classify.js';
import { checkDrillInput } from '../../functions/core/drill.js';
import { REAL_LOCK_TIMINGS } from '../../functions/core/ha-lock.js';
import { rememberTick, tickMemoryOf, updateFailureCounts } from '../../functions/core/history.js';
import { observeLock } from '../../functions/core/lock.js';
import { planRegistrations } from '../../functions/core/plan.js';
import { checkReplaceInput } from '../../functions/core/replacement.js';
import { assessSnapshot } from '../../functions/core/snapshot.js';
import { decideTakeover } from '../../functions/core/takeover.js';
import {
  NODE_CLASSES,
  VERDICT_KINDS,
  type ClusterHistory,
  type HttpAnswer,
  type InstanceState,
  type LockItemRead,
  type Member,
  type ProbeFailureReason,
  type ProbeResult,
  type TargetState,
  type TargetView,
} from '../../functions/core/types.js';
import { HEALTH_STATUS, type VaultHealthBody, type VaultLeaderBody } from '../../functions/core/vault-api.js';
import { readLock } from '../../functions/adapters/lock-reader.js';
import { vaultRequest } from '../../functions/adapters/vault-http.js';
import type { FaultRow } from './controller-run.js';

/** Report text (verdict reasons, outcome, alarms, held reasons) above this many characters is unbounded for our purpose. */
export const MAX_REPORT_TEXT_CHARS = 16_384;
/** A probe failure's detail above this is an unbounded echo of what the node sent. */
export const MAX_PROBE_DETAIL_CHARS = 1_024;
/** A rejected document's whole message (ConfigError joins at most 50 issues of MAX_ISSUE_CHARS). */
export const MAX_REJECTION_CHARS = 50 * (MAX_ISSUE_CHARS + 2) + 200;

export const NOW_MS = 1_763_801_600_000;
const IDS = ['i-0a', 'i-0b', 'i-0c', 'i-0d', 'i-0e'] as const;
const addressOf = (id: string): string => `https://${id}.vault.internal:8200`;
const VAULT_CODES = new Set<number>(Object.values(HEALTH_STATUS));
/** Codes with which a node can be registered at all (the unsealed classes). */
const ROUTABLE_CODES = new Set<number>([HEALTH_STATUS.active, HEALTH_STATUS.standby, HEALTH_STATUS.performanceStandby, HEALTH_STATUS.haUnhealthy, HEALTH_STATUS.drSecondary]);

/* ================================================================== generators */

/** A string that may be empty, huge (unless `huge` is false), or full of control and bidi characters. */
export const hostileString = (opts: { huge?: boolean } = {}): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ unit: 'binary', maxLength: 64 }),
    fc.constantFrom('', ' ', 'true', 'false', '0', 'null', '__proto__', '\u0000', '\u202e', 'http://', 'https://i-0a.vault.internal:8200'),
    opts.huge === false ? fc.string({ maxLength: 36 }) : fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'x'.repeat(n)),
  );

/** Any JSON value, hostile strings included. */
export const hostileJson = (opts: { huge?: boolean } = {}): fc.Arbitrary<unknown> =>
  fc.oneof({ maxDepth: 3 }, fc.jsonValue({ maxDepth: 3 }), hostileString(opts), fc.constantFrom(1e308, -1, 0, 0.5, Number.MAX_SAFE_INTEGER + 2));

const HEALTH_TYPES: Record<keyof VaultHealthBody, 'boolean' | 'string' | 'number'> = {
  initialized: 'boolean',
  sealed: 'boolean',
  standby: 'boolean',
  performance_standby: 'boolean',
  replication_performance_mode: 'string',
  replication_dr_mode: 'string',
  server_time_utc: 'number',
  version: 'string',
  enterprise: 'boolean',
  cluster_name: 'string',
  cluster_id: 'string',
  clock_skew_ms: 'number',
  echo_duration_ms: 'number',
  ha_connection_healthy: 'boolean',
  last_request_forwarding_heartbeat_ms: 'number',
  removed_from_cluster: 'boolean',
};
const LEADER_TYPES: Record<keyof VaultLeaderBody, 'boolean' | 'string' | 'number'> = {
  ha_enabled: 'boolean',
  is_self: 'boolean',
  active_time: 'string',
  leader_address: 'string',
  leader_cluster_address: 'string',
  performance_standby: 'boolean',
  performance_standby_last_remote_wal: 'number',
  raft_committed_index: 'number',
  raft_applied_index: 'number',
};

const valueOfType = (t: 'boolean' | 'string' | 'number', huge: boolean): fc.Arbitrary<unknown> =>
  t === 'boolean' ? fc.boolean() : t === 'number' ? fc.oneof(fc.integer(), fc.double()) : fc.oneof(hostileString({ huge }), fc.constantFrom('disabled', 'secondary', 'primary', '1.19.0'));

/** A body with Vault's field names, each absent, of its type, or of any other JSON type; plus stray fields. */
function vaultishBody(types: Record<string, 'boolean' | 'string' | 'number'>, huge: boolean, extra: Record<string, fc.Arbitrary<unknown>> = {}): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, t] of Object.entries(types)) fields[k] = fc.oneof(valueOfType(t, huge), hostileJson({ huge }));
  for (const [k, a] of Object.entries(extra)) fields[k] = a;
  return fc.tuple(fc.record(fields, { requiredKeys: [] }), fc.dictionary(fc.string({ maxLength: 12 }), hostileJson(), { maxKeys: 3 })).map(([known, stray]) => ({ ...stray, ...known }));
}

const FAILURES: ProbeFailureReason[] = ['refused', 'timeout', 'tls', 'bad-json', 'oversized', 'dns', 'network', 'no-address'];

function answer<T>(body: fc.Arbitrary<unknown>, statuses: fc.Arbitrary<number>): fc.Arbitrary<HttpAnswer<T>> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ ok: fc.constant(true as const), status: statuses, body: fc.option(body, { nil: undefined }), latencyMs: fc.nat(5_000) }) as fc.Arbitrary<HttpAnswer<T>> },
    { weight: 1, arbitrary: fc.record({ ok: fc.constant(false as const), reason: fc.constantFrom(...FAILURES), detail: fc.string({ maxLength: 80 }), latencyMs: fc.nat(5_000) }) },
  );
}

const statusArb = (): fc.Arbitrary<number> => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...VAULT_CODES, 307, 404, 500, 502) }, { weight: 1, arbitrary: fc.integer({ min: 100, max: 999 }) });

/**
 * One node's probe answers: Vault-shaped bodies with any field of any type,
 * and failures. `hugeStrings` (default true): string fields up to 200 000
 * characters (a body is capped by vault.maxResponseBytes, up to 1 MiB).
 */
export const probeArb = (leaderAddresses: readonly string[] = IDS.map(addressOf), opts: { hugeStrings?: boolean } = {}): fc.Arbitrary<ProbeResult> => {
  const huge = opts.hugeStrings ?? true;
  return fc.record({
    address: fc.constantFrom(...leaderAddresses),
    health: answer<VaultHealthBody>(vaultishBody(HEALTH_TYPES, huge), statusArb()),
    leader: answer<VaultLeaderBody>(
      vaultishBody(LEADER_TYPES, huge, { leader_address: fc.oneof(fc.constantFrom(...leaderAddresses), hostileString({ huge }), hostileJson({ huge })) }),
      fc.constantFrom(200, 200, 500, 503),
    ),
  });
};

/** What the controller must never read into a field: the body with every wrongly typed field removed. */
function wellTyped(body: unknown, types: Record<string, string>): Record<string, unknown> | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (types[k] === undefined || typeof v === types[k]) out[k] = v;
  return out;
}

/* ================================================================== Vault answers → classify */

export function classifyProblems(probe: ProbeResult, state: InstanceState = 'running'): string[] {
  const member: Member = { instanceId: 'i-0a', state, address: probe.address };
  let node: ReturnType<typeof classifyHealth>;
  try {
    node = classifyHealth({ member, probe });
  } catch (err) {
    return [`classifyHealth threw ${String(err)}`];
  }
  const problems: string[] = [];
  if (!NODE_CLASSES.includes(node.class)) problems.push(`class ${String(node.class)} is not a node class`);
  const h = probe.health;
  const body = h.ok ? (h.body as Record<string, unknown> | undefined) : undefined;
  if (node.class === 'active') {
    if (!h.ok || h.status !== HEALTH_STATUS.active) problems.push(`active without a 200 (${h.ok ? h.status : h.reason})`);
    const says = (k: string, v: unknown): boolean => body !== undefined && body[k] === v;
    if (says('sealed', true) || says('initialized', false) || says('standby', true) || says('performance_standby', true) || says('removed_from_cluster', true)) {
      problems.push(`active although the body says otherwise: ${JSON.stringify(body).slice(0, 200)}`);
    }
  }
  const leaderSelf = probe.leader.ok && probe.leader.status === 200 && (probe.leader.body as Record<string, unknown> | undefined)?.['is_self'] === true;
  if (node.claimsActive && node.class !== 'active' && !leaderSelf) problems.push(`claims active as ${node.class} without a 200 or a boolean is_self`);
  if (node.claimsActive && ['sealed', 'uninitialized', 'removed', 'dr-secondary'].includes(node.class)) problems.push(`a ${node.class} node claims active`);
  // A wrongly typed field counts as absent.
  const clean: ProbeResult = {
    ...probe,
    health: h.ok ? { ...h, body: wellTyped(h.body, HEALTH_TYPES) as VaultHealthBody | undefined } : h,
    leader: probe.leader.ok ? { ...probe.leader, body: wellTyped(probe.leader.body, LEADER_TYPES) as VaultLeaderBody | undefined } : probe.leader,
  };
  const same = classifyHealth({ member, probe: clean });
  if (same.class !== node.class || same.claimsActive !== node.claimsActive || same.leaderAddress !== node.leaderAddress) {
    problems.push(`a wrongly typed field changed the reading: ${node.class}/${node.claimsActive} vs ${same.class}/${same.claimsActive} without it`);
  }
  if (node.leaderAddress !== undefined && typeof node.leaderAddress !== 'string') problems.push('leaderAddress is not a string');
  return problems;
}

/* ================================================================== a tick's observations → assess + plan */

export interface TickScenario {
  routing: 'active-only' | 'all-unsealed';
  members: Member[];
  probes: Map<string, ProbeResult>;
  lockRead: LockItemRead;
  targets: TargetView[];
  failureCounts: Record<string, number>;
  history: ClusterHistory;
}

const TARGET_STATES: TargetState[] = ['initial', 'healthy', 'unhealthy', 'unused', 'draining', 'unavailable'];
const INSTANCE_STATES: InstanceState[] = ['running', 'running', 'running', 'stopped', 'terminated', 'pending'];

/**
 * The lock as the reader returns it. `hugeAttributes` (default true): Identity
 * and Value of any size, as a foreign writer can store them (up to DynamoDB's
 * 400 KB item); false: at most a UUID's length, as Vault writes them.
 */
export const lockReadArb = (opts: { hugeAttributes?: boolean } = {}): fc.Arbitrary<LockItemRead> =>
  fc.oneof(
    fc.constant({ type: 'dynamodb' as const, table: 'vault-data', present: false as const }),
    fc.record({ type: fc.constant('dynamodb' as const), table: fc.constant('vault-data'), error: fc.string({ maxLength: 40 }) }),
    fc.record({
      type: fc.constant('dynamodb' as const),
      table: fc.constant('vault-data'),
      present: fc.constant(true as const),
      identity: hostileString({ huge: opts.hugeAttributes ?? true }),
      value: hostileString({ huge: opts.hugeAttributes ?? true }),
      expiresAtNs: fc.oneof(
        fc.integer({ min: -60_000, max: 60_000 }).map((d) => ((BigInt(NOW_MS + d) * 1_000_000n)).toString()),
        fc.constantFrom('', '-1', '1e18', '0x10', ' 17638016', '9'.repeat(400), 'NaN', '1.5'),
      ),
    }),
  );

/**
 * A whole tick's observations. `hugeStrings` (default true): lock attributes
 * and body strings of any size; false: at most a UUID's or an address's length
 * (what Vault itself writes).
 */
export const tickScenarioArb = (opts: { hugeStrings?: boolean } = {}): fc.Arbitrary<TickScenario> =>
  fc.integer({ min: 1, max: 5 }).chain((n) => {
    const ids = IDS.slice(0, n);
    const addresses = ids.map(addressOf);
    return fc
      .record({
        routing: fc.constantFrom('active-only' as const, 'all-unsealed' as const),
        states: fc.array(fc.constantFrom(...INSTANCE_STATES), { minLength: n, maxLength: n }),
        probes: fc.array(probeArb(addresses, { hugeStrings: opts.hugeStrings ?? true }), { minLength: n, maxLength: n }),
        lockRead: lockReadArb({ hugeAttributes: opts.hugeStrings ?? true }),
        targets: fc.subarray([...ids]).chain((reg) => fc.array(fc.constantFrom(...TARGET_STATES), { minLength: reg.length, maxLength: reg.length }).map((st) => reg.map((id, k) => ({ instanceId: id, state: st[k]! })))),
        failures: fc.array(fc.nat(5), { minLength: n, maxLength: n }),
        claimant: fc.option(fc.constantFrom(...ids), { nil: undefined }),
      })
      .map((r) => {
        const members: Member[] = ids.map((id, k) => ({ instanceId: id, state: r.states[k]!, address: addressOf(id) }));
        const probes = new Map<string, ProbeResult>();
        ids.forEach((id, k) => {
          if (members[k]!.state === 'running') probes.set(id, { ...r.probes[k]!, address: addressOf(id) });
        });
        const lock = r.lockRead;
        const history: ClusterHistory = {
          ticks:
            r.claimant === undefined
              ? []
              : [
                  {
                    atMs: NOW_MS - 5_000,
                    verdict: 'healthy',
                    activeInstanceId: r.claimant,
                    claimants: [r.claimant],
                    lockState: 'HELD',
                    ...('present' in lock && lock.present ? { lockIdentity: lock.identity, lockValue: lock.value, lockExpiresAtNs: lock.expiresAtNs } : {}),
                  },
                ],
          failureCounts: {},
        };
        return {
          routing: r.routing,
          members,
          probes,
          lockRead: lock,
          targets: r.targets,
          failureCounts: Object.fromEntries(ids.map((id, k) => [id, r.failures[k]!])),
          history,
        };
      });
  });

let clusterCache: Map<string, ClusterConfig> | undefined;
/** The shipped example's cluster, with a routing mode. */
export function exampleCluster(routing: 'active-only' | 'all-unsealed'): ClusterConfig {
  clusterCache ??= new Map();
  let c = clusterCache.get(routing);
  if (!c) {
    const doc = exampleConfigDoc() as { clusters: Array<{ loadBalancer: Record<string, unknown> }> };
    doc.clusters[0]!.loadBalancer['routing'] = routing;
    c = parseConfig(doc).clusters[0]!;
    clusterCache.set(routing, c);
  }
  return c;
}

/** A Vault answer: not a failure, a status Vault sends, and a body that is absent or an object. */
function isVaultAnswer(a: HttpAnswer<unknown>): boolean {
  return a.ok && VAULT_CODES.has(a.status) && (a.body === undefined || (typeof a.body === 'object' && a.body !== null && !Array.isArray(a.body)));
}

export function tickProblems(s: TickScenario): string[] {
  const cluster = exampleCluster(s.routing);
  let out: { nodes: ReturnType<typeof classifyHealth>[]; verdict: ReturnType<typeof assessSnapshot>['verdict']; plan: ReturnType<typeof planRegistrations> };
  try {
    const { nodes, verdict } = assessSnapshot({ cluster, members: s.members, probes: s.probes, lockRead: s.lockRead, history: s.history, nowMs: NOW_MS });
    const failureCounts = updateFailureCounts(s.failureCounts, nodes);
    const plan = planRegistrations({
      nodes,
      verdict,
      targets: s.targets,
      failureCounts,
      policy: { routing: s.routing, unhealthyThreshold: 2, dryRun: false, fencing: 'deregister' },
    });
    rememberTick(s.history, tickMemoryOf(verdict, NOW_MS));
    out = { nodes, verdict, plan };
  } catch (err) {
    return [`assess/plan threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`.slice(0, 300)];
  }
  const problems: string[] = [];
  const { verdict, plan } = out;
  if (!VERDICT_KINDS.includes(verdict.kind)) problems.push(`verdict ${verdict.kind} is not a verdict kind`);
  const memberIds = new Set(s.members.map((m) => m.instanceId));
  for (const c of plan.register) {
    if (!memberIds.has(c.instanceId)) problems.push(`registers ${c.instanceId}, not a member`);
    const p = s.probes.get(c.instanceId);
    if (!p || !isVaultAnswer(p.health) || !p.health.ok || !ROUTABLE_CODES.has(p.health.status)) {
      problems.push(`registers ${c.instanceId} on a health answer that is not a routable Vault answer (${p ? (p.health.ok ? `HTTP ${p.health.status}` : p.health.reason) : 'not probed'})`);
    }
  }
  const both = plan.register.filter((r) => plan.deregister.some((d) => d.instanceId === r.instanceId));
  if (both.length > 0) problems.push(`registers and deregisters ${both.map((b) => b.instanceId).join(', ')}`);
  if (verdict.legitimateActive !== undefined) {
    const p = s.probes.get(verdict.legitimateActive);
    const body = p?.health.ok ? (p.health.body as Record<string, unknown> | undefined) : undefined;
    if (!p || !p.health.ok || p.health.status !== HEALTH_STATUS.active) problems.push(`legitimate active ${verdict.legitimateActive} without a 200`);
    else if (body && (body['sealed'] === true || body['standby'] === true || body['initialized'] === false)) problems.push(`legitimate active ${verdict.legitimateActive} whose body says it is not`);
  }
  if (verdict.kind === 'probe-blind' && (plan.register.length > 0 || plan.deregister.length > 0)) problems.push('changes planned while probe-blind');
  const text = [...verdict.reasons, plan.outcome, ...plan.alarms, ...plan.held.map((h) => h.reason)].join('\n');
  if (text.length > MAX_REPORT_TEXT_CHARS) problems.push(`report text is ${text.length} characters (bound ${MAX_REPORT_TEXT_CHARS}): hostile bodies are echoed`);
  return problems;
}

/* ================================================================== lock items */

/** A DynamoDB GetItem answer: Vault's three attributes in every wrong shape, stray attributes, or a failure. */
export const lockItemArb = (opts: { hugeAttributes?: boolean } = {}): fc.Arbitrary<{ item: Record<string, AttributeValue> | undefined } | { error: string }> => {
  const huge = opts.hugeAttributes ?? true;
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    huge ? fc.integer({ min: 10_000, max: 300_000 }).map((n) => new Uint8Array(n).fill(0x41)) : fc.uint8Array({ minLength: 36, maxLength: 36 }),
    fc.constant(new Uint8Array([0xff, 0xfe, 0x00])),
  );
  const attr = (kind: 'B' | 'N'): fc.Arbitrary<AttributeValue> =>
    fc.oneof<fc.Arbitrary<AttributeValue>[]>(
      kind === 'B' ? bytes.map((B) => ({ B })) : fc.oneof(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((b) => ({ N: b.toString() })), fc.constantFrom('', '1e18', '0x1f', ' 42', '4.2', '-0', '9'.repeat(500)).map((N) => ({ N }))),
      hostileString({ huge }).map((S) => ({ S })),
      fc.constant<AttributeValue>({ NULL: true }),
      fc.constant<AttributeValue>({ BOOL: true }),
      fc.constant<AttributeValue>({ L: [] }),
    );
  return fc.oneof(
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((error) => ({ error })) },
    { weight: 1, arbitrary: fc.constant({ item: undefined }) },
    {
      weight: 6,
      arbitrary: fc
        .record({ Identity: attr('B'), Value: attr('B'), Expires: attr('N') }, { requiredKeys: [] })
        .map((a) => ({ item: { Path: { S: 'core' }, Key: { S: '_lock' }, ...a } as Record<string, AttributeValue> })),
    },
  );
};

export async function lockProblems(answer: { item: Record<string, AttributeValue> | undefined } | { error: string }, opts: { dryRun: boolean; blind: boolean }): Promise<string[]> {
  const fake = {
    send: async () => {
      if ('error' in answer) throw Object.assign(new Error(answer.error), { name: 'InternalServerError', $fault: 'server', $metadata: { httpStatusCode: 500 } });
      return { Item: answer.item };
    },
  } as unknown as DynamoDBClient;
  const problems: string[] = [];
  let read: LockItemRead;
  try {
    read = await readLock(fake, 'vault-data');
  } catch (err) {
    return [`readLock threw ${String(err)}`.slice(0, 300)];
  }
  try {
    const lock = observeLock(read, NOW_MS, 1_000);
    if (!['HELD', 'EXPIRED', 'ABSENT', 'UNREADABLE', 'NOT_APPLICABLE'].includes(lock.state)) problems.push(`lock state ${lock.state}`);
    if ((lock.state === 'HELD' || lock.state === 'EXPIRED') && !/^-?\d+$/.test(lock.expiresAtNs ?? '')) problems.push(`${lock.state} with a non-integer Expires "${String(lock.expiresAtNs).slice(0, 40)}"`);
    if ((lock.detail ?? '').length > MAX_REPORT_TEXT_CHARS) problems.push(`lock detail is ${(lock.detail ?? '').length} characters`);
    // The holder is dead (instance stopped), was seen active under this very lock, and a standby waits: the most a lock can justify.
    const identity = lock.identity ?? '';
    const value = lock.value ?? '';
    const holder = classifyHealth({ member: { instanceId: 'i-0a', state: 'stopped', address: addressOf('i-0a') } });
    const standby = classifyHealth({
      member: { instanceId: 'i-0b', state: 'running', address: addressOf('i-0b') },
      probe: {
        address: addressOf('i-0b'),
        health: { ok: true, status: 429, latencyMs: 1, body: { initialized: true, sealed: false, standby: true, ha_connection_healthy: true } },
        leader: { ok: true, status: 200, latencyMs: 1, body: { ha_enabled: true, is_self: false, leader_address: addressOf('i-0a') } },
      },
    });
    const decision = decideTakeover({
      haType: 'dynamodb',
      nodes: [holder, standby],
      probes: new Map(),
      verdict: { kind: opts.blind ? 'probe-blind' : 'no-leader', reasons: [], claimants: [], lock },
      lock,
      history: { ticks: [{ atMs: NOW_MS - 20_000, verdict: 'healthy', activeInstanceId: 'i-0a', claimants: ['i-0a'], lockState: 'HELD', lockIdentity: identity, lockValue: value }], failureCounts: {} },
      nowMs: NOW_MS,
      timings: REAL_LOCK_TIMINGS,
      skewToleranceMs: 1_000,
      policy: { enabled: true, dryRun: opts.dryRun },
    });
    if (decision.action === 'delete') {
      if (opts.dryRun || opts.blind) problems.push(`delete decided ${opts.dryRun ? 'in dry run' : 'while probe-blind'}`);
      if (lock.state !== 'HELD' && lock.state !== 'EXPIRED') problems.push(`delete decided on a ${lock.state} lock`);
      if (decision.evidence.identity !== lock.identity || decision.evidence.expiresAtNs !== lock.expiresAtNs) problems.push('delete decided on other attributes than those observed');
    }
    if (decision.reason.length > MAX_REPORT_TEXT_CHARS) problems.push(`takeover reason is ${decision.reason.length} characters: the lock item's attributes are echoed unbounded`);
  } catch (err) {
    problems.push(`observeLock/decideTakeover threw ${String(err)}`.slice(0, 300));
  }
  return problems;
}

/* ================================================================== raw bytes → the probe adapter */

export interface WireCase {
  /** Bytes the server writes, then it closes (or, with `hold`, keeps the socket open). */
  bytes: Buffer;
  hold: boolean;
  maxResponseBytes: number;
}

export const wireCaseArb = (): fc.Arbitrary<WireCase> => {
  const status = fc.oneof(fc.constantFrom(200, 429, 503, 307, 500), fc.integer({ min: 0, max: 1_200 }));
  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? ''),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.constantFrom('{"initialized": tr', '[]', 'null', '"x"', '{"sealed":false}', `${'['.repeat(3_000)}${']'.repeat(3_000)}`, '\u0000\u0001'),
    fc.integer({ min: 500, max: 5_000 }).map((n) => JSON.stringify({ pad: 'y'.repeat(n) })),
  );
  const http = fc.record({ status, body, chunked: fc.boolean(), lie: fc.constantFrom(0, 0, 0, 10, -5), junkHeader: fc.boolean() }).map(({ status: st, body: b, chunked, lie, junkHeader }) => {
    const payload = Buffer.from(b);
    const head = [`HTTP/1.1 ${st} X`, 'Content-Type: application/json', ...(junkHeader ? ['X-Junk: \u0001\u0002'] : [])];
    if (chunked) {
      return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\nTransfer-Encoding: chunked\r\n\r\n${payload.length.toString(16)}\r\n`), payload, Buffer.from('\r\n0\r\n\r\n')]);
    }
    return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\nContent-Length: ${Math.max(0, payload.length + lie)}\r\n\r\n`), payload]);
  });
  return fc.record({
    bytes: fc.oneof({ weight: 4, arbitrary: http }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)) }),
    hold: fc.boolean(),
    maxResponseBytes: fc.constantFrom(64, 1_024, 65_536),
  });
};

/** A TCP server on 127.0.0.1 that answers each connection with the next case's raw bytes. */
export class RawWireServer {
  private server: net.Server | undefined;
  private next: WireCase | undefined;
  private readonly sockets = new Set<net.Socket>();
  url = '';

  async start(): Promise<void> {
    this.server = net.createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      const c = this.next;
      // Read the request head first (as a server would), then answer.
      socket.once('data', () => {
        if (!c) return void socket.destroy();
        socket.write(c.bytes, () => {
          if (!c.hold) socket.end();
        });
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  set(c: WireCase): void {
    this.next = c;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export async function wireProblems(server: RawWireServer, c: WireCase): Promise<string[]> {
  server.set(c);
  let a: HttpAnswer<unknown>;
  try {
    a = await vaultRequest<unknown>(server.url, '/v1/sys/health', { timeoutMs: 150, maxResponseBytes: c.maxResponseBytes });
  } catch (err) {
    return [`vaultRequest threw ${String(err)}`];
  }
  const problems: string[] = [];
  if (a.ok) {
    if (!Number.isInteger(a.status) || a.status < 100 || a.status > 999) problems.push(`ok with status ${a.status}`);
    if (a.body !== undefined && (a.body === null || typeof a.body !== 'object' || Array.isArray(a.body))) problems.push(`ok with a body that is not a JSON object: ${JSON.stringify(a.body).slice(0, 60)}`);
    if (a.body !== undefined && JSON.stringify(a.body).length > c.maxResponseBytes) problems.push(`a body larger than maxResponseBytes (${c.maxResponseBytes}) was accepted`);
  } else {
    if (!FAILURES.includes(a.reason)) problems.push(`failure reason ${a.reason}`);
    if (a.detail.length > MAX_PROBE_DETAIL_CHARS) problems.push(`failure detail is ${a.detail.length} characters`);
  }
  return problems;
}

/* ================================================================== config documents and state-machine inputs */

export function exampleConfigDoc(): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL('../../config/example.json', import.meta.url), 'utf8')) as Record<string, unknown>;
}

/** Every path to a value in a JSON document (objects and arrays descended). */
function leafPaths(doc: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (doc === null || typeof doc !== 'object') return [prefix];
  const entries: Array<[string | number, unknown]> = Array.isArray(doc) ? doc.map((v, i) => [i, v]) : Object.entries(doc);
  return [prefix, ...entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]))];
}

function setAt(doc: unknown, path: Array<string | number>, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  let cur = copy;
  for (const k of path.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[path.at(-1)!] = value;
  return copy;
}

/** Path as ConfigError writes it: clusters[0].vault.port */
export function formatDocPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out === '' ? '(root)' : out;
}

export interface MutatedDoc {
  doc: unknown;
  /** Where the random value was put (undefined: the whole document is random). */
  path?: Array<string | number>;
}

export const configDocArb = (): fc.Arbitrary<MutatedDoc> => {
  const example = exampleConfigDoc();
  const paths = leafPaths(example);
  return fc.oneof(
    { weight: 1, arbitrary: hostileJson().map((doc) => ({ doc })) },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...paths), hostileJson()).map(([path, v]) => ({ doc: setAt(example, path, v), path })) },
  );
};

/** Each line names a field (a path, then a colon) and says what is wrong, bounded. */
function rejectionProblems(problems: readonly string[], message: string, path: Array<string | number> | undefined): string[] {
  const out: string[] = [];
  if (problems.length === 0) out.push('rejected without naming a problem');
  if (message.length > MAX_REJECTION_CHARS) out.push(`rejection is ${message.length} characters (bound ${MAX_REJECTION_CHARS})`);
  for (const p of problems) {
    if (p.length > MAX_ISSUE_CHARS) out.push(`a problem line is ${p.length} characters`);
    if (!/^(\(root\)|[A-Za-z_][\w-]*(\[\d+\])?)[^:]{0,200}: \S/.test(p)) out.push(`a problem line does not start with a field path: ${p.slice(0, 80)}`);
    if (/: Required\b/.test(p) && path !== undefined && formatDocPath(path) === p.split(':')[0]) out.push(`a present field is reported as "Required": ${p.slice(0, 120)}`);
  }
  if (path !== undefined && path.length > 0) {
    const named = formatDocPath(path);
    const hit = problems.some((p) => {
      const at = p.split(': ')[0]!.replace(/… \(\d+ characters\)$/, '');
      return named === at || named.startsWith(`${at}.`) || named.startsWith(`${at}[`) || at.startsWith(named);
    });
    if (!hit) out.push(`no problem names ${named} (or a field around it): ${problems.join(' | ').slice(0, 300)}`);
  }
  return out;
}

export function configProblems(m: MutatedDoc): string[] {
  try {
    parseConfig(m.doc);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) return [`parseConfig threw ${err instanceof Error ? err.name : typeof err}, not ConfigError`];
    return rejectionProblems(err.problems, err.message, m.path);
  }
}

const INPUT_KEYS = ['cluster', 'slot', 'instanceId', 'reason', 'dryRun', 'force', 'scenario', 'maxRtoSeconds', 'stopOnAlarms', 'restore', 'maxSplitBrainSeconds'];

export const stateMachineInputArb = (): fc.Arbitrary<{ kind: 'replace-node' | 'failover-drill'; input: unknown }> =>
  fc.record({
    kind: fc.constantFrom('replace-node' as const, 'failover-drill' as const),
    input: fc.oneof(
      { weight: 1, arbitrary: hostileJson() },
      {
        weight: 4,
        arbitrary: fc.record(
          Object.fromEntries(INPUT_KEYS.map((k) => [k, fc.oneof(hostileJson(), fc.constantFrom('prod', 'vault-a', 'step-down', 'kill-active', true, false, 30))])),
          { requiredKeys: [] },
        ),
      },
    ),
  });

let exampleParsed: Config | undefined;

export function inputProblems(c: { kind: 'replace-node' | 'failover-drill'; input: unknown }): string[] {
  exampleParsed ??= parseConfig(exampleConfigDoc());
  try {
    if (c.kind === 'replace-node') checkReplaceInput(c.input, exampleParsed);
    else checkDrillInput(c.input, exampleParsed);
    return [];
  } catch (err) {
    if (!(err instanceof InvalidInputError)) return [`${c.kind} input check threw ${err instanceof Error ? err.name : typeof err}, not InvalidInputError`];
    return rejectionProblems(err.problems, err.message, undefined);
  }
}

/* ================================================================== the sweep (chaos run) */

export interface SweepOptions {
  seed: number;
  /** Cases per property. */
  numRuns: number;
}

/** Runs every property once more with the given seed; one row for the chaos table. */
export async function runHostileSweep(opts: SweepOptions): Promise<FaultRow> {
  const started = Date.now();
  const row: FaultRow = { fault: 'hostile input (property fuzzing)', family: 'fuzz', durationS: 0, checks: 0, violations: [], recoveryS: null, fuzzCases: 0, notes: [], wallMs: 0 };
  const record = <T>(name: string, details: fc.RunDetails<T>): void => {
    row.checks += details.numRuns;
    row.fuzzCases += details.numRuns;
    if (details.failed) {
      // The shrunk counterexample can be megabytes: name the problem and how to replay it (fc.check with seed and path).
      const message = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? '');
      row.violations.push({ invariant: `hostile input: ${name}`, atMs: Date.now(), detail: `${message.slice(0, 300)} (after ${details.numRuns} cases; replay: seed ${details.seed}, path ${details.counterexamplePath})` });
    }
    row.notes.push(`${name}: ${details.numRuns} cases${details.failed ? ' FAILED' : ''}`);
  };
  const must = (problems: string[]): void => {
    if (problems.length > 0) throw new Error(problems.join('; '));
  };
  const params = { seed: opts.seed, numRuns: opts.numRuns };
  record('Vault answers → classify', fc.check(fc.property(probeArb(), (p) => must(classifyProblems(p))), params));
  record('a tick under garbage → assess + plan', fc.check(fc.property(tickScenarioArb(), (s) => must(tickProblems(s))), params));
  record(
    'lock items → readLock + observeLock + takeover',
    await fc.check(fc.asyncProperty(lockItemArb(), fc.boolean(), fc.boolean(), async (a, dryRun, blind) => must(await lockProblems(a, { dryRun, blind }))), params),
  );
  record('config documents', fc.check(fc.property(configDocArb(), (m) => must(configProblems(m))), params));
  record('state-machine inputs', fc.check(fc.property(stateMachineInputArb(), (c) => must(inputProblems(c))), params));
  const server = new RawWireServer();
  await server.start();
  try {
    record('raw bytes → probe adapter', await fc.check(fc.asyncProperty(wireCaseArb(), async (c) => must(await wireProblems(server, c))), { ...params, numRuns: Math.min(opts.numRuns, 150) }));
  } finally {
    await server.stop();
  }
  row.wallMs = Date.now() - started;
  return row;
}
