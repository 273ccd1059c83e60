/**
 * Hostile answers a simulated node gives in place of Vault's (chaos faults
 * "answers garbage", "answers 50 MB", "a code contradicting its body"). Each
 * request gets a fresh case from a seeded generator, so a run can be replayed
 * and the number of cases tried is reported.
 */
import type { SimRawReply, SimReplyOverride } from '../sim/vault-node.js';
import { SIM_ECHO_PATH } from '../sim/vault-node.js';
import { VAULT_PATHS } from '../../functions/core/vault-api.js';

/** The ALB's health checker (sandbox/aws/alb-data-plane.ts sends this user agent, as ELB does). */
const ALB_USER_AGENT = /^ELB-HealthChecker\//;

const STATUS_CODES = [200, 204, 301, 307, 400, 404, 418, 429, 472, 473, 474, 500, 501, 502, 503, 530, 599];

function pick<T>(random: () => number, xs: readonly T[]): T {
  return xs[Math.floor(random() * xs.length)]!;
}

function bytes(random: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

/** A value of a random JSON type (never the one Vault sends). */
function wrongValue(random: () => number): unknown {
  return pick(random, [
    () => 'true',
    () => 'false',
    () => 1,
    () => 0,
    () => null,
    () => [],
    () => ({}),
    () => -1e308,
    () => 'x'.repeat(Math.floor(random() * 40_000)),
    () => '\u0000\u202e\ud800',
    () => [true],
    () => ({ nested: { sealed: false } }),
  ])();
}

const HEALTH_FIELDS = ['initialized', 'sealed', 'standby', 'performance_standby', 'replication_dr_mode', 'version', 'cluster_name', 'cluster_id', 'clock_skew_ms', 'ha_connection_healthy', 'removed_from_cluster', 'server_time_utc'];
const LEADER_FIELDS = ['ha_enabled', 'is_self', 'active_time', 'leader_address', 'leader_cluster_address', 'raft_committed_index'];

/** One garbage answer: not HTTP at all, or HTTP with a body that is not what Vault sends. */
export function garbageReply(random: () => number, path: string): SimRawReply {
  const fields = path === VAULT_PATHS.leader ? LEADER_FIELDS : HEALTH_FIELDS;
  const status = pick(random, STATUS_CODES);
  const json = (body: string): SimRawReply => ({ status, headers: { 'content-type': 'application/json' }, body });
  return pick(random, [
    (): SimRawReply => ({ socketBytes: bytes(random, 1 + Math.floor(random() * 512)) }),
    (): SimRawReply => ({ socketBytes: Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n{"sealed":false') }),
    (): SimRawReply => ({ status, body: bytes(random, Math.floor(random() * 2048)) }),
    (): SimRawReply => json('{"initialized": tr'),
    (): SimRawReply => json(JSON.stringify(Object.fromEntries(fields.map((f) => [f, wrongValue(random)])))),
    (): SimRawReply => json(JSON.stringify(pick(random, [[], 'sealed', 42, null, true, [{ is_self: true }]]))),
    (): SimRawReply => ({ status, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }),
    (): SimRawReply => json(`${'['.repeat(5_000)}${']'.repeat(5_000)}`),
    (): SimRawReply => json('{"__proto__":{"is_self":true,"sealed":false},"constructor":{"prototype":{"standby":false}},"standby":"false"}'),
    (): SimRawReply => json(JSON.stringify({ initialized: true, sealed: false, standby: false, leader_address: `http://${'a'.repeat(60_000)}`, is_self: 'true' })),
    (): SimRawReply => ({ status, headers: { 'content-type': 'application/json', 'content-length': '100' }, body: '{"sealed":' }),
    (): SimRawReply => json('{"initialized":true,"sealed":false,"standby":false,"initialized":false}'),
  ])();
}

export interface HostileCounter {
  cases: number;
}

/** Every sys endpoint the controller probes answers garbage (heartbeats and client requests are untouched). */
export function garbageOverride(random: () => number, counter: HostileCounter): SimReplyOverride {
  return ({ path }) => {
    if (path !== VAULT_PATHS.health && path !== VAULT_PATHS.leader) return undefined;
    counter.cases += 1;
    return garbageReply(random, path);
  };
}

/**
 * `/v1/sys/health` and `/v1/sys/leader` answer 50 MB: half with a declared
 * Content-Length, half chunked (the client must cut it itself). The ALB's
 * health checker is answered normally: what it reads is not under test, and
 * streaming 50 MB at every check would only load the machine.
 */
export function oversizedOverride(counter: HostileCounter, totalBytes = 50 * 1024 * 1024): SimReplyOverride {
  const chunk = Buffer.from(`{"sealed":false,"pad":"${'x'.repeat(64 * 1024)}`);
  return ({ path, headers }) => {
    if (path !== VAULT_PATHS.health && path !== VAULT_PATHS.leader) return undefined;
    if (ALB_USER_AGENT.test(String(headers['user-agent'] ?? ''))) return undefined;
    counter.cases += 1;
    const declared = counter.cases % 2 === 0;
    return { status: 200, headers: { 'content-type': 'application/json', ...(declared ? { 'content-length': String(totalBytes) } : {}) }, repeat: { chunk, totalBytes } };
  };
}

/**
 * A standby whose status code and body disagree (DESIGN §3.1: "a code and a
 * body that disagree is itself a finding"): codes that claim active over a
 * standby's body, bodies that claim active over a standby's code, and a
 * /v1/sys/leader that says is_self. The apiAddr is the node's own, so a
 * `leader_address` naming itself is as Vault would write it.
 */
export function contradictionOverride(random: () => number, counter: HostileCounter, apiAddr: () => string): SimReplyOverride {
  const standbyBody = { initialized: true, sealed: false, standby: true, performance_standby: false, version: '1.19.0', cluster_name: 'vault-sandbox' };
  const activeBody = { ...standbyBody, standby: false };
  const cases: Array<() => SimRawReply> = [
    () => ({ status: 200, body: JSON.stringify(standbyBody) }),
    () => ({ status: 200, body: JSON.stringify({ ...activeBody, sealed: true }) }),
    () => ({ status: 200, body: JSON.stringify({ ...activeBody, initialized: false }) }),
    () => ({ status: 429, body: JSON.stringify(activeBody) }),
    () => ({ status: 503, body: JSON.stringify(activeBody) }),
    () => ({ status: 473, body: JSON.stringify(activeBody) }),
    () => ({ status: 200, body: JSON.stringify({ ...standbyBody, ha_connection_healthy: false }) }),
    () => ({ status: 200 }),
  ];
  return ({ path }) => {
    if (path === SIM_ECHO_PATH) return undefined;
    if (path === VAULT_PATHS.leader) {
      counter.cases += 1;
      const body = { ha_enabled: true, is_self: true, active_time: new Date().toISOString(), leader_address: apiAddr(), leader_cluster_address: '', performance_standby: false };
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    }
    if (path !== VAULT_PATHS.health) return undefined;
    counter.cases += 1;
    const r = pick(random, cases)() as { status: number; body?: string };
    return { status: r.status, headers: { 'content-type': 'application/json' }, ...(r.body !== undefined ? { body: r.body } : {}) };
  };
}
