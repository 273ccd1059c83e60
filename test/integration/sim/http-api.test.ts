/**
 * The simulated nodes' HTTP face: /v1/sys/health codes and bodies (DESIGN
 * §3.1, Vault's http/sys_health.go), /v1/sys/leader, seal-status/unseal,
 * step-down, and request forwarding from standbys (§3.3a).
 */
import { afterAll, afterEach, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LOCK_ITEM_KEY } from '../../../functions/core/ha-lock.js';
import {
  HEALTH_STATUS,
  VAULT_PATHS,
  type VaultHealthBody,
  type VaultLeaderBody,
  type VaultSealStatusBody,
} from '../../../functions/core/vault-api.js';
import { SimulatedVaultNode, type SimulatedVaultNodeOptions } from '../../../sandbox/sim/vault-node.js';
import { scaledTimings } from '../../../sandbox/sim/timings.js';
import { waitFor } from '../../../sandbox/sim/wait.js';
import { simRequest } from '../../../sandbox/sim/probe.js';
import { msToNs } from '../../../sandbox/sim/dynamodb-lock.js';
import { createVaultLockTable, startDynalite, type DynaliteHandle } from '../../support/dynalite.js';

// Compressed intervals with a long TTL: these tests need the first node to stay
// active however starved a CI event loop gets; none of them measures takeover.
const T = { ...scaledTimings(0.03), ttlMs: 3000 };
const WAIT = { timeoutMs: 5000, intervalMs: 5 };
const HEARTBEAT = { intervalMs: 20, unhealthyAfterMs: 200 };
const SHARES = ['share-one', 'share-two', 'share-three'];

let ddb: DynaliteHandle;
let tableSeq = 0;
let nodes: SimulatedVaultNode[] = [];

beforeAll(async () => {
  ddb = await startDynalite();
});
afterAll(async () => {
  await ddb.close();
});
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.kill()));
  nodes = [];
});

async function newTable(): Promise<string> {
  const table = `vault-http-${++tableSeq}`;
  await createVaultLockTable(ddb.client, table);
  return table;
}

function node(table: string, name: string, extra: Partial<SimulatedVaultNodeOptions> = {}): SimulatedVaultNode {
  const n = new SimulatedVaultNode({
    name,
    ha: { type: 'dynamodb', client: ddb.client, table, timings: T },
    seal: { type: 'auto' },
    heartbeat: HEARTBEAT,
    forwardTimeoutMs: 300,
    ...extra,
  });
  nodes.push(n);
  return n;
}

/** Starts `count` nodes one after the other so that the first one is the active. */
async function activeAndStandbys(
  count: number,
  extra: Partial<SimulatedVaultNodeOptions> = {},
): Promise<{ table: string; active: SimulatedVaultNode; standbys: SimulatedVaultNode[] }> {
  const table = await newTable();
  const active = node(table, 'vault-a', extra);
  await active.start();
  await waitFor(() => active.status().isActive, { ...WAIT, description: 'first node active' });
  const standbys: SimulatedVaultNode[] = [];
  for (let i = 1; i < count; i++) {
    const s = node(table, `vault-${'abcdef'[i]}`, extra);
    await s.start();
    standbys.push(s);
  }
  await waitFor(() => standbys.every((s) => s.status().leaderAddress === active.apiAddr()), {
    ...WAIT,
    description: 'standbys to learn the leader',
  });
  return { table, active, standbys };
}

async function get(n: SimulatedVaultNode, path: string) {
  return simRequest(`${n.baseUrl}${path}`, { timeoutMs: 1500 });
}

async function put(n: SimulatedVaultNode, path: string, body: unknown, headers: Record<string, string> = {}) {
  return simRequest(`${n.baseUrl}${path}`, { method: 'PUT', body, headers, timeoutMs: 1500 });
}

describe('GET /v1/sys/health default codes', () => {
  it('answers 200 on the active and 429 on a standby, with standby in the body', async () => {
    const { active, standbys } = await activeAndStandbys(2);
    const a = await get(active, VAULT_PATHS.health);
    const s = await get(standbys[0]!, VAULT_PATHS.health);
    assert.equal(a.status, HEALTH_STATUS.active);
    assert.equal((a.json as VaultHealthBody).standby, false);
    assert.equal(s.status, HEALTH_STATUS.standby);
    assert.equal((s.json as VaultHealthBody).standby, true);
    assert.equal((s.json as VaultHealthBody).sealed, false);
  });

  it('answers 503 while sealed, without cluster_id', async () => {
    const table = await newTable();
    const sealed = node(table, 'vault-a', { seal: { type: 'shamir', shares: SHARES, threshold: 2 }, startSealed: true });
    await sealed.start();
    const h = await get(sealed, VAULT_PATHS.health);
    const body = h.json as VaultHealthBody;
    assert.equal(h.status, HEALTH_STATUS.sealed);
    assert.equal(body.sealed, true);
    assert.equal(body.initialized, true);
    assert.equal('cluster_id' in body, false);
  });

  it('answers 501 when not initialized', async () => {
    const table = await newTable();
    const fresh = node(table, 'vault-a', { initialized: false });
    await fresh.start();
    const h = await get(fresh, VAULT_PATHS.health);
    assert.equal(h.status, HEALTH_STATUS.notInitialized);
    assert.equal((h.json as VaultHealthBody).initialized, false);
  });

  it('includes the 1.16+ and 1.19+ fields on a Vault 1.19 standby that has heartbeated', async () => {
    const { active, standbys } = await activeAndStandbys(2);
    const standby = standbys[0]!;
    await waitFor(() => standby.status().lastHeartbeatAgoMs !== undefined, { ...WAIT, description: 'a heartbeat' });
    const body = (await get(standby, VAULT_PATHS.health)).json as VaultHealthBody;
    assert.equal(typeof body.clock_skew_ms, 'number');
    assert.equal(typeof body.echo_duration_ms, 'number');
    assert.equal(body.ha_connection_healthy, true);
    assert.equal(typeof body.last_request_forwarding_heartbeat_ms, 'number');
    assert.equal(typeof body.server_time_utc, 'number');
    assert.equal(body.cluster_id, ((await get(active, VAULT_PATHS.health)).json as VaultHealthBody).cluster_id);
  });

  it('reports a standby whose forwarding heartbeat fails as 474 on Vault 1.19, even with standbyok', async () => {
    const { standbys } = await activeAndStandbys(2);
    const standby = standbys[0]!;
    await waitFor(() => standby.status().lastHeartbeatAgoMs !== undefined, { ...WAIT, description: 'a heartbeat' });
    standby.failHeartbeat(true);
    const h = await waitFor(
      async () => {
        const r = await get(standby, VAULT_PATHS.health);
        return r.status === HEALTH_STATUS.haUnhealthy ? r : undefined;
      },
      { ...WAIT, description: '474' },
    );
    assert.equal((h.json as VaultHealthBody).ha_connection_healthy, false);
    assert.ok(((h.json as VaultHealthBody).last_request_forwarding_heartbeat_ms ?? 0) >= HEARTBEAT.unhealthyAfterMs);
    assert.equal((await get(standby, `${VAULT_PATHS.health}?standbyok=true`)).status, HEALTH_STATUS.haUnhealthy);
    standby.failHeartbeat(false);
    await waitFor(async () => (await get(standby, VAULT_PATHS.health)).status === HEALTH_STATUS.standby, {
      ...WAIT,
      description: 'back to 429',
    });
  });

  it('never answers 474 and omits the newer fields on a pre-1.16 Vault', async () => {
    const { standbys } = await activeAndStandbys(2, { version: '1.15.6' });
    const standby = standbys[0]!;
    standby.failHeartbeat(true);
    await new Promise((r) => setTimeout(r, HEARTBEAT.unhealthyAfterMs * 2));
    const h = await get(standby, VAULT_PATHS.health);
    assert.equal(h.status, HEALTH_STATUS.standby);
    const body = h.json as VaultHealthBody;
    for (const field of ['clock_skew_ms', 'echo_duration_ms', 'ha_connection_healthy', 'last_request_forwarding_heartbeat_ms']) {
      assert.equal(field in body, false, field);
    }
  });

  it('OpenBao answers only 200/429 for active/standby and omits the 1.16+/1.19+ fields', async () => {
    const { active, standbys } = await activeAndStandbys(2, { flavor: 'openbao' });
    const standby = standbys[0]!;
    standby.failHeartbeat(true);
    await new Promise((r) => setTimeout(r, HEARTBEAT.unhealthyAfterMs * 2));
    assert.equal((await get(active, VAULT_PATHS.health)).status, HEALTH_STATUS.active);
    const h = await get(standby, VAULT_PATHS.health);
    assert.equal(h.status, HEALTH_STATUS.standby);
    const body = h.json as VaultHealthBody;
    for (const field of ['clock_skew_ms', 'echo_duration_ms', 'ha_connection_healthy', 'last_request_forwarding_heartbeat_ms', 'enterprise']) {
      assert.equal(field in body, false, field);
    }
  });
});

describe('GET /v1/sys/health query parameters', () => {
  const cases: Array<{ name: string; query: string; role: 'active' | 'standby' | 'sealed' | 'uninit'; expect: number }> = [
    { name: 'standbyok=true turns a standby into 200', query: 'standbyok=true', role: 'standby', expect: 200 },
    { name: 'standbycode overrides the standby code', query: 'standbycode=200', role: 'standby', expect: 200 },
    { name: 'activecode overrides the active code', query: 'activecode=299', role: 'active', expect: 299 },
    { name: 'standbyok does not change the active code', query: 'standbyok=true', role: 'active', expect: 200 },
    { name: 'sealedcode overrides the sealed code', query: 'sealedcode=299', role: 'sealed', expect: 299 },
    { name: 'uninitcode overrides the uninitialized code', query: 'uninitcode=299', role: 'uninit', expect: 299 },
    { name: 'a non-boolean standbyok is a 400', query: 'standbyok=maybe', role: 'standby', expect: 400 },
    { name: 'a non-numeric code is a 400', query: 'activecode=abc', role: 'active', expect: 400 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      let target: SimulatedVaultNode;
      if (c.role === 'active' || c.role === 'standby') {
        const { active, standbys } = await activeAndStandbys(2);
        target = c.role === 'active' ? active : standbys[0]!;
      } else {
        const table = await newTable();
        target = node(table, 'vault-x', {
          seal: { type: 'shamir', shares: SHARES, threshold: 2 },
          startSealed: true,
          initialized: c.role !== 'uninit',
        });
        await target.start();
      }
      assert.equal((await get(target, `${VAULT_PATHS.health}?${c.query}`)).status, c.expect);
    });
  }
});

describe('GET /v1/sys/leader', () => {
  it('answers 500 "Vault is sealed" while sealed, as Core.Leader() refuses', async () => {
    const table = await newTable();
    const sealed = node(table, 'vault-a', { seal: { type: 'shamir', shares: SHARES, threshold: 2 }, startSealed: true });
    await sealed.start();
    const r = await get(sealed, VAULT_PATHS.leader);
    assert.equal(r.status, 500);
    assert.deepEqual(r.json, { errors: ['Vault is sealed'] });
  });

  it('gives the active an active_time and a standby the zero time', async () => {
    const { active, standbys } = await activeAndStandbys(2);
    const a = (await get(active, VAULT_PATHS.leader)).json as VaultLeaderBody;
    const s = (await get(standbys[0]!, VAULT_PATHS.leader)).json as VaultLeaderBody;
    assert.equal(a.ha_enabled, true);
    assert.ok(Date.parse(a.active_time ?? '') > Date.now() - 60_000);
    assert.equal(s.active_time, '0001-01-01T00:00:00Z');
    assert.equal(s.performance_standby, false);
    assert.equal(s.leader_cluster_address, a.leader_cluster_address);
  });
});

describe('seal-status and unseal', () => {
  async function sealedNode(): Promise<SimulatedVaultNode> {
    const table = await newTable();
    const n = node(table, 'vault-a', { seal: { type: 'shamir', shares: SHARES, threshold: 2 }, startSealed: true });
    await n.start();
    return n;
  }

  it('reports threshold, share count and no progress while sealed', async () => {
    const n = await sealedNode();
    const s = (await get(n, VAULT_PATHS.sealStatus)).json as VaultSealStatusBody;
    assert.equal(s.type, 'shamir');
    assert.equal(s.sealed, true);
    assert.equal(s.t, 2);
    assert.equal(s.n, 3);
    assert.equal(s.progress, 0);
    assert.equal(s.nonce, '');
    assert.equal(s.storage_type, 'dynamodb');
  });

  it('rejects a wrong share with 400 and an errors list, leaving progress unchanged', async () => {
    const n = await sealedNode();
    const r = await put(n, VAULT_PATHS.unseal, { key: 'not-a-share' });
    assert.equal(r.status, 400);
    assert.ok(Array.isArray((r.json as { errors: unknown }).errors));
    assert.equal(((await get(n, VAULT_PATHS.sealStatus)).json as VaultSealStatusBody).progress, 0);
  });

  it('counts distinct shares with one nonce per round and ignores a repeated share', async () => {
    const n = await sealedNode();
    const first = (await put(n, VAULT_PATHS.unseal, { key: SHARES[0] })).json as VaultSealStatusBody;
    assert.equal(first.progress, 1);
    assert.ok(first.nonce);
    const again = (await put(n, VAULT_PATHS.unseal, { key: SHARES[0] })).json as VaultSealStatusBody;
    assert.equal(again.progress, 1);
    assert.equal(again.nonce, first.nonce);
    assert.equal(again.sealed, true);
  });

  it('reset clears the progress', async () => {
    const n = await sealedNode();
    await put(n, VAULT_PATHS.unseal, { key: SHARES[0] });
    const r = (await put(n, VAULT_PATHS.unseal, { reset: true })).json as VaultSealStatusBody;
    assert.equal(r.progress, 0);
    assert.equal(r.nonce, '');
  });

  it('unseals at the threshold, then reports the cluster and takes the lock', async () => {
    const n = await sealedNode();
    await put(n, VAULT_PATHS.unseal, { key: SHARES[2] });
    const done = (await put(n, VAULT_PATHS.unseal, { key: SHARES[0] })).json as VaultSealStatusBody;
    assert.equal(done.sealed, false);
    assert.equal(done.progress, 0);
    assert.ok(done.cluster_id);
    await waitFor(async () => (await get(n, VAULT_PATHS.health)).status === HEALTH_STATUS.active, {
      ...WAIT,
      description: 'the unsealed node to become active',
    });
  });

  it('a killed node comes back sealed on restart, on the same address', async () => {
    const n = await sealedNode();
    await n.unseal(SHARES.slice(0, 2));
    const url = n.baseUrl;
    await n.kill();
    assert.equal(await n.restart(), url);
    assert.equal((await get(n, VAULT_PATHS.health)).status, HEALTH_STATUS.sealed);
  });
});

describe('PUT /v1/sys/step-down', () => {
  it('is refused with 403 without the root token', async () => {
    const { active } = await activeAndStandbys(1, { rootToken: 'tok' });
    const r = await put(active, VAULT_PATHS.stepDown, undefined, { 'x-vault-token': 'wrong' });
    assert.equal(r.status, 403);
    assert.equal(active.status().isActive, true);
  });

  it('steps the active down with the root token', async () => {
    const { active, standbys } = await activeAndStandbys(2, { rootToken: 'tok' });
    const r = await put(active, VAULT_PATHS.stepDown, undefined, { 'x-vault-token': 'tok' });
    assert.equal(r.status, 204);
    assert.equal(active.status().isActive, false);
    await waitFor(() => standbys[0]!.status().isActive, { ...WAIT, description: 'the standby to take over' });
  });
});

describe('client requests on a standby', () => {
  it('the active serves them itself', async () => {
    const { active } = await activeAndStandbys(1);
    const r = await get(active, '/v1/secret/data/app');
    assert.equal(r.status, 200);
    assert.equal((r.json as { data: { served_by: string } }).data.served_by, active.name);
  });

  it('a standby forwards reads and writes to the active and returns its answer', async () => {
    const { active, standbys } = await activeAndStandbys(2);
    const read = await get(standbys[0]!, '/v1/secret/data/app');
    const write = await put(standbys[0]!, '/v1/secret/data/app', { data: { k: 'v' } });
    for (const r of [read, write]) {
      assert.equal(r.status, 200);
      assert.equal((r.json as { data: { served_by: string } }).data.served_by, active.name);
    }
  });

  it('a standby answers 307 to the leader api_addr when forwarding fails', async () => {
    const { active, standbys } = await activeAndStandbys(2);
    standbys[0]!.failHeartbeat(true);
    const r = await get(standbys[0]!, '/v1/secret/data/app?version=2');
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, `${active.apiAddr()}/v1/secret/data/app?version=2`);
  });

  it('a standby redirects to a killed active it still believes in until someone else takes the lock', async () => {
    const { active, standbys } = await activeAndStandbys(2);
    const deadAddr = active.apiAddr();
    await active.kill();
    const r = await get(standbys[0]!, '/v1/secret/data/app');
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, `${deadAddr}/v1/secret/data/app`);
  });

  it('a standby answers 503 when no active node can be found', async () => {
    const table = await newTable();
    // A foreign holder with a live lock and no leader advertisement: nobody to forward to.
    await ddb.client.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          Path: { S: LOCK_ITEM_KEY.Path },
          Key: { S: LOCK_ITEM_KEY.Key },
          Value: { B: new TextEncoder().encode('foreign-leader') },
          Identity: { B: new TextEncoder().encode('foreign-identity') },
          Expires: { N: msToNs(Date.now() + 60_000).toString() },
        },
      }),
    );
    const standby = node(table, 'vault-b');
    await standby.start();
    await new Promise((r) => setTimeout(r, 3 * T.standbyLeaderRefreshMs));
    const r = await get(standby, '/v1/secret/data/app');
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { errors: ['local node not active but active cluster node not found'] });
  });

  it('a sealed node answers client requests with 503 "Vault is sealed"', async () => {
    const table = await newTable();
    const n = node(table, 'vault-a', { seal: { type: 'shamir', shares: SHARES, threshold: 2 }, startSealed: true });
    await n.start();
    const r = await get(n, '/v1/secret/data/app');
    assert.equal(r.status, 503);
    assert.deepEqual(r.json, { errors: ['Vault is sealed'] });
  });
});

describe('TLS', () => {
  let dir: string;
  let pki: { keyPem: string; certPem: string };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sim-tls-'));
    execFileSync(
      '/usr/bin/openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=vault-sim', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    pki = { keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'), certPem: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves https verified against its CA and forwards between nodes over verified TLS', async () => {
    const { active, standbys } = await activeAndStandbys(2, { tls: pki });
    assert.ok(active.baseUrl?.startsWith('https://'));
    const h = await simRequest(`${active.baseUrl}${VAULT_PATHS.health}`, { caPem: pki.certPem });
    assert.equal(h.status, HEALTH_STATUS.active);
    const fwd = await simRequest(`${standbys[0]!.baseUrl}/v1/secret/data/app`, { caPem: pki.certPem });
    assert.equal((fwd.json as { data: { served_by: string } }).data.served_by, active.name);
  });

  it('is rejected by a client that does not trust its CA', async () => {
    const { active } = await activeAndStandbys(1, { tls: pki });
    await assert.rejects(simRequest(`${active.baseUrl}${VAULT_PATHS.health}`));
  });
});
