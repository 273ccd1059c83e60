/**
 * The Vault HTTP probe adapter against real local HTTP/HTTPS servers on
 * 127.0.0.1 (port 0). Timings are compressed: timeouts of 200–500 ms.
 */
import { afterAll, afterEach, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { failureReasonOf, vaultRequest } from '../../functions/adapters/vault-http.js';
import { probeMembers, probeNode } from '../../functions/adapters/vault-probe.js';
import type { HttpAnswer, Member } from '../../functions/core/types.js';
import { HEALTH_STATUS, VAULT_PATHS, type VaultHealthBody, type VaultLeaderBody } from '../../functions/core/vault-api.js';
import { makeTestPki, type TestPki } from '../support/tls.js';

// ---------------------------------------------------------------------------
// Local servers

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, ctx: ServerCtx) => void;

interface ServerCtx {
  /** A timer cleared when the server closes, so a hanging handler never outlives its test. */
  later(ms: number, fn: () => void): void;
}

interface LocalServer {
  url: string;
  port: number;
  /** Request paths (with query string) in arrival order. */
  seen: string[];
  close(): Promise<void>;
}

const open: LocalServer[] = [];

async function listen(server: http.Server | https.Server, scheme: 'http' | 'https', handler: Handler): Promise<LocalServer> {
  const timers = new Set<NodeJS.Timeout>();
  const seen: string[] = [];
  const ctx: ServerCtx = {
    later(ms, fn) {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    },
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push(req.url ?? '');
    handler(req, res, ctx);
  });
  // A client that gives up mid-handshake (TLS rejection) surfaces here; it is expected.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const handle: LocalServer = {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    seen,
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  open.push(handle);
  return handle;
}

function startHttp(handler: Handler): Promise<LocalServer> {
  return listen(http.createServer(), 'http', handler);
}

function startHttps(key: string, cert: string, handler: Handler): Promise<LocalServer> {
  return listen(https.createServer({ key, cert }), 'https', handler);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A port nothing listens on: bind port 0, remember it, close it. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const LIMIT = 64 * 1024;
const opts = (timeoutMs: number, extra: { caBundle?: string; maxResponseBytes?: number } = {}) => ({
  timeoutMs,
  maxResponseBytes: extra.maxResponseBytes ?? LIMIT,
  ...(extra.caBundle !== undefined ? { caBundle: extra.caBundle } : {}),
});

function assertFailure<T>(answer: HttpAnswer<T>, reason: string): void {
  assert.equal(answer.ok, false, `expected a ${reason} failure, got HTTP ${answer.ok ? answer.status : ''}`);
  if (!answer.ok) assert.equal(answer.reason, reason, answer.detail);
}

// ---------------------------------------------------------------------------
// Realistic Vault bodies (DESIGN §3.1, §3.2; Vault 1.19 field set)

const common = {
  replication_performance_mode: 'disabled',
  replication_dr_mode: 'disabled',
  server_time_utc: 1_795_000_000,
  version: '1.19.2',
  enterprise: false,
  echo_duration_ms: 0,
  clock_skew_ms: 0,
};
const cluster = { cluster_name: 'vault-cluster-7f3c2a1b', cluster_id: '0c9a3e1d-5b7f-4e2a-9c1d-3f6b8a2e4d10' };

const HEALTH_ROWS: Array<{ name: string; status: number; body: VaultHealthBody }> = [
  {
    name: 'active',
    status: HEALTH_STATUS.active,
    body: { initialized: true, sealed: false, standby: false, performance_standby: false, ...common, ...cluster, removed_from_cluster: false },
  },
  {
    name: 'unsealed standby',
    status: HEALTH_STATUS.standby,
    body: {
      initialized: true, sealed: false, standby: true, performance_standby: false, ...common, ...cluster,
      ha_connection_healthy: true, last_request_forwarding_heartbeat_ms: 412, removed_from_cluster: false,
    },
  },
  {
    name: 'DR secondary',
    status: HEALTH_STATUS.drSecondary,
    body: {
      initialized: true, sealed: false, standby: false, performance_standby: false, ...common, ...cluster,
      replication_dr_mode: 'secondary', enterprise: true, version: '1.19.2+ent',
    },
  },
  {
    name: 'performance standby',
    status: HEALTH_STATUS.performanceStandby,
    body: {
      initialized: true, sealed: false, standby: true, performance_standby: true, ...common, ...cluster,
      enterprise: true, version: '1.19.2+ent', ha_connection_healthy: true, last_request_forwarding_heartbeat_ms: 388,
    },
  },
  {
    name: 'standby with an unhealthy HA connection',
    status: HEALTH_STATUS.haUnhealthy,
    body: {
      initialized: true, sealed: false, standby: true, performance_standby: false, ...common, ...cluster,
      ha_connection_healthy: false, last_request_forwarding_heartbeat_ms: 11_532,
    },
  },
  {
    name: 'not initialized',
    status: HEALTH_STATUS.notInitialized,
    body: { initialized: false, sealed: true, standby: true, performance_standby: false, ...common },
  },
  {
    // cluster_id/cluster_name are omitted while sealed.
    name: 'sealed',
    status: HEALTH_STATUS.sealed,
    body: { initialized: true, sealed: true, standby: true, performance_standby: false, ...common },
  },
  {
    name: 'removed from the Raft cluster',
    status: HEALTH_STATUS.removed,
    body: { initialized: true, sealed: false, standby: true, performance_standby: false, ...common, ...cluster, removed_from_cluster: true },
  },
];

const STANDBY_LEADER: VaultLeaderBody = {
  ha_enabled: true,
  is_self: false,
  active_time: '0001-01-01T00:00:00Z',
  leader_address: 'https://10.0.1.5:8200',
  leader_cluster_address: 'https://10.0.1.5:8201',
  performance_standby: false,
  performance_standby_last_remote_wal: 0,
  raft_committed_index: 0,
  raft_applied_index: 0,
};

// ---------------------------------------------------------------------------

describe('vaultRequest: answers', () => {
  for (const row of HEALTH_ROWS) {
    test(`returns HTTP ${row.status} (${row.name}) as an answer with its parsed body`, async () => {
      const server = await startHttp((_req, res) => sendJson(res, row.status, row.body));

      const answer = await vaultRequest<VaultHealthBody>(server.url, VAULT_PATHS.health, opts(500));

      assert.equal(answer.ok, true);
      if (!answer.ok) return;
      assert.equal(answer.status, row.status);
      assert.deepEqual(answer.body, row.body);
      assert.ok(answer.latencyMs >= 0);
    });
  }

  test('returns a 307 with an empty body as an answer and does not follow it', async () => {
    const elsewhere = await startHttp((_req, res) => sendJson(res, 200, {}));
    const standby = await startHttp((_req, res) => {
      res.writeHead(307, { location: `${elsewhere.url}/v1/sys/health` });
      res.end();
    });

    const answer = await vaultRequest(standby.url, VAULT_PATHS.health, opts(500));

    assert.deepEqual(answer.ok && { status: answer.status, body: answer.body }, { status: 307, body: undefined });
    assert.equal(elsewhere.seen.length, 0);
  });

  test('keeps a path prefix of the base URL', async () => {
    const server = await startHttp((_req, res) => sendJson(res, 200, {}));

    await vaultRequest(`${server.url}/vault/`, VAULT_PATHS.leader, opts(500));

    assert.deepEqual(server.seen, ['/vault/v1/sys/leader']);
  });

  test('sends a PUT body as JSON', async () => {
    let received: { method?: string; type?: string; body: string } = { body: '' };
    const server = await startHttp((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received = { method: req.method, type: req.headers['content-type'], body };
        sendJson(res, 200, { sealed: true, t: 3, n: 5, progress: 1 });
      });
    });

    const answer = await vaultRequest(server.url, VAULT_PATHS.unseal, { ...opts(500), method: 'PUT', body: { reset: true } });

    assert.equal(answer.ok, true);
    assert.deepEqual(received, { method: 'PUT', type: 'application/json', body: '{"reset":true}' });
  });
});

describe('vaultRequest: failures', () => {
  test('a server that answers after the timeout yields timeout within bounded time', async () => {
    const server = await startHttp((_req, res, ctx) => ctx.later(1_000, () => sendJson(res, 200, {})));

    const t0 = performance.now();
    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(200));
    const took = performance.now() - t0;

    assertFailure(answer, 'timeout');
    assert.ok(took >= 190, `gave up after ${took} ms, before its own timeout`);
  });

  test('a server that accepts and never answers yields timeout', async () => {
    const server = await startHttp(() => {
      /* hold the request open */
    });

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(250));

    assertFailure(answer, 'timeout');
  });

  test('a server that sends headers then stalls mid-body yields timeout', async () => {
    const server = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '200' });
      res.write('{"initialized":true,');
    });

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(250));

    assertFailure(answer, 'timeout');
  });

  test('a body trickled slower than the timeout yields timeout (one deadline for the whole exchange)', async () => {
    const server = await startHttp((_req, res, ctx) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const text = JSON.stringify(HEALTH_ROWS[0]!.body);
      let i = 0;
      const drip = (): void => {
        if (i >= text.length) return void res.end();
        res.write(text[i++]!);
        ctx.later(20, drip);
      };
      drip();
    });

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(300));

    assertFailure(answer, 'timeout');
  });

  test('a closed port yields refused', async () => {
    const port = await closedPort();

    const answer = await vaultRequest(`http://127.0.0.1:${port}`, VAULT_PATHS.health, opts(500));

    assertFailure(answer, 'refused');
  });

  // What a wedged server whose hung connections are torn down looks like: the kernel completed
  // the handshake, so some process accepted. Read as "refused" it once let dead-leader takeover
  // take a live zombie's reset for proof of death (npm run chaos, "node accepts TCP and never answers").
  test('a connection accepted and then reset before any answer is a network failure, not a refusal', async () => {
    const server = await startHttp((req) => req.socket.resetAndDestroy());

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(500));

    assertFailure(answer, 'network');
  });

  const badBodies: Array<{ name: string; status: number; text: string }> = [
    { name: 'an HTML error page on 200', status: 200, text: '<html><body>502 Bad Gateway</body></html>' },
    { name: 'truncated JSON on 429', status: 429, text: '{"initialized":true,"sealed":' },
    { name: 'JSON null on 503', status: 503, text: 'null' },
    { name: 'a JSON string on 200', status: 200, text: '"active"' },
  ];
  for (const row of badBodies) {
    test(`${row.name} yields bad-json`, async () => {
      const server = await startHttp((_req, res) => {
        res.writeHead(row.status, { 'content-type': 'application/json' });
        res.end(row.text);
      });

      const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(500));

      assertFailure(answer, 'bad-json');
    });
  }

  test('a streamed 10 MB body yields oversized without being read to the end', async () => {
    const total = 10 * 1024 * 1024;
    let written = 0;
    let finished = false;
    const server = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no content-length to short-cut on
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = (): void => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (written >= total && !res.destroyed) res.end(() => (finished = true));
      };
      pump();
    });

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(2_000, { maxResponseBytes: LIMIT }));
    await new Promise((r) => setTimeout(r, 50)); // let the server notice the closed socket

    assertFailure(answer, 'oversized');
    assert.equal(finished, false, 'the server managed to send the whole body');
    assert.ok(written < total, `server wrote ${written} of ${total} bytes`);
  });

  test('a declared content-length above the limit yields oversized before the body is read', async () => {
    const server = await startHttp((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) });
      res.write('{');
    });

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(2_000));

    assertFailure(answer, 'oversized');
    assert.ok(answer.latencyMs < 1_000);
  });

  test('an already aborted caller signal yields timeout without a request', async () => {
    const server = await startHttp((_req, res) => sendJson(res, 200, {}));

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, { ...opts(500), signal: AbortSignal.abort() });

    assertFailure(answer, 'timeout');
    assert.equal(server.seen.length, 0);
  });

  test('a malformed base URL is a failure value, not an exception', async () => {
    const answer = await vaultRequest('not a url', VAULT_PATHS.health, opts(500));

    assertFailure(answer, 'network');
  });

  const codes: Array<{ code: string; answered: boolean; connected?: boolean; reason: string }> = [
    { code: 'ECONNREFUSED', answered: false, reason: 'refused' },
    { code: 'ECONNRESET', answered: false, reason: 'refused' },
    { code: 'ECONNRESET', answered: false, connected: true, reason: 'network' },
    { code: 'ECONNRESET', answered: true, reason: 'network' },
    { code: 'ENOTFOUND', answered: false, reason: 'dns' },
    { code: 'EAI_AGAIN', answered: false, reason: 'dns' },
    { code: 'ETIMEDOUT', answered: false, reason: 'timeout' },
    { code: 'CERT_HAS_EXPIRED', answered: false, reason: 'tls' },
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID', answered: false, reason: 'tls' },
    { code: 'ERR_SSL_WRONG_VERSION_NUMBER', answered: false, reason: 'tls' },
    { code: 'EHOSTUNREACH', answered: false, reason: 'network' },
  ];
  for (const row of codes) {
    test(`classifies ${row.code} ${row.answered ? 'after' : 'before'} an answer${row.connected ? ' on an accepted connection' : ''} as ${row.reason}`, () => {
      const err = Object.assign(new Error('synthetic'), { code: row.code });

      assert.equal(failureReasonOf(err, row.answered, row.connected), row.reason);
    });
  }
});

describe('vaultRequest: TLS', () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await makeTestPki();
  });
  afterAll(async () => {
    await pki.cleanup();
  });

  const active = (_req: http.IncomingMessage, res: http.ServerResponse): void => sendJson(res, 200, HEALTH_ROWS[0]!.body);

  test('accepts a server signed by the private CA when the CA bundle is given', async () => {
    const server = await startHttps(pki.serverKeyPem, pki.serverCertPem, active);

    const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(1_000, { caBundle: pki.caPem }));

    assert.equal(answer.ok && answer.status, 200);
  });

  test('accepts the same server addressed as localhost (DNS SAN)', async () => {
    const server = await startHttps(pki.serverKeyPem, pki.serverCertPem, active);

    const answer = await vaultRequest(`https://localhost:${server.port}`, VAULT_PATHS.health, opts(1_000, { caBundle: pki.caPem }));

    assert.equal(answer.ok && answer.status, 200);
  });

  // `cause` is the verification failure Node reports, so each row proves its own reason for rejection.
  const rejected: Array<{ name: string; cert: (p: TestPki) => string; ca: (p: TestPki) => string | undefined; cause: string }> = [
    { name: 'without a CA bundle', cert: (p) => p.serverCertPem, ca: () => undefined, cause: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    { name: 'with an unrelated CA bundle', cert: (p) => p.serverCertPem, ca: (p) => p.otherCaPem, cause: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    { name: 'when the certificate names another host', cert: (p) => p.wrongHostCertPem, ca: (p) => p.caPem, cause: 'ERR_TLS_CERT_ALTNAME_INVALID' },
    { name: 'when the certificate has expired', cert: (p) => p.expiredCertPem, ca: (p) => p.caPem, cause: 'CERT_HAS_EXPIRED' },
  ];
  for (const row of rejected) {
    test(`rejects the server ${row.name} as tls`, async () => {
      const server = await startHttps(pki.serverKeyPem, row.cert(pki), active);
      const caBundle = row.ca(pki);

      const answer = await vaultRequest(server.url, VAULT_PATHS.health, opts(1_000, caBundle === undefined ? {} : { caBundle }));

      assertFailure(answer, 'tls');
      assert.match(answer.ok ? '' : answer.detail, new RegExp(row.cause));
      assert.equal(server.seen.length, 0, 'a request reached the server over an unverified connection');
    });
  }

  test('https against a plain-HTTP port yields tls', async () => {
    const server = await startHttp(active);

    const answer = await vaultRequest(server.url.replace('http:', 'https:'), VAULT_PATHS.health, opts(1_000, { caBundle: pki.caPem }));

    assertFailure(answer, 'tls');
  });
});

describe('probeNode', () => {
  test('asks /v1/sys/health without query parameters and /v1/sys/leader', async () => {
    const server = await startHttp((req, res) =>
      req.url === VAULT_PATHS.leader ? sendJson(res, 200, STANDBY_LEADER) : sendJson(res, 429, HEALTH_ROWS[1]!.body),
    );

    const result = await probeNode(server.url, opts(500));

    assert.deepEqual([...server.seen].sort(), ['/v1/sys/health', '/v1/sys/leader']);
    assert.equal(result.address, server.url);
    assert.deepEqual(result.health.ok && [result.health.status, result.health.body], [429, HEALTH_ROWS[1]!.body]);
    assert.deepEqual(result.leader.ok && [result.leader.status, result.leader.body], [200, STANDBY_LEADER]);
  });

  test('sends health and leader concurrently', async () => {
    // Each request is held until both are in flight: a sequential prober would
    // see its first request time out.
    let inFlight = 0;
    let maxInFlight = 0;
    const held: Array<() => void> = [];
    const server = await startHttp((req, res) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      res.on('close', () => (inFlight -= 1));
      held.push(() => (req.url === VAULT_PATHS.leader ? sendJson(res, 200, STANDBY_LEADER) : sendJson(res, 200, HEALTH_ROWS[0]!.body)));
      if (inFlight === 2) held.splice(0).forEach((release) => release());
    });

    const result = await probeNode(server.url, opts(500));

    assert.equal(maxInFlight, 2);
    assert.equal(result.health.ok, true);
    assert.equal(result.leader.ok, true);
  });

  test('reports each endpoint on its own: a hanging leader does not hide a health answer', async () => {
    const server = await startHttp((req, res) => {
      if (req.url === VAULT_PATHS.health) sendJson(res, 503, HEALTH_ROWS[6]!.body);
    });

    const result = await probeNode(server.url, opts(250));

    assert.equal(result.health.ok && result.health.status, 503);
    assertFailure(result.leader, 'timeout');
  });
});

describe('probeMembers', () => {
  const member = (instanceId: string, state: Member['state'], address: string | undefined): Member => ({ instanceId, state, address });

  test('probes running members with an address, reports no-address, skips non-running members', async () => {
    const up = await startHttp((req, res) =>
      req.url === VAULT_PATHS.leader ? sendJson(res, 200, STANDBY_LEADER) : sendJson(res, 429, HEALTH_ROWS[1]!.body),
    );
    const stopped = await startHttp((_req, res) => sendJson(res, 200, HEALTH_ROWS[0]!.body));
    const members = [
      member('i-0aaaaaaaaaaaaaaa1', 'running', up.url),
      member('i-0aaaaaaaaaaaaaaa2', 'running', undefined),
      member('i-0aaaaaaaaaaaaaaa3', 'stopped', stopped.url),
      member('i-0aaaaaaaaaaaaaaa4', 'pending', stopped.url),
      member('i-0aaaaaaaaaaaaaaa5', 'terminated', undefined),
    ];

    const results = await probeMembers(members, opts(500));

    assert.deepEqual([...results.keys()].sort(), ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2']);
    assert.equal(results.get('i-0aaaaaaaaaaaaaaa1')?.health.ok, true);
    const noAddress = results.get('i-0aaaaaaaaaaaaaaa2');
    assert.ok(noAddress);
    assertFailure(noAddress.health, 'no-address');
    assertFailure(noAddress.leader, 'no-address');
    assert.equal(stopped.seen.length, 0);
  });

  test('probes members in parallel: three hanging nodes cost one timeout', async () => {
    const arrivals: number[] = [];
    const hanging = await Promise.all([1, 2, 3].map(() => startHttp((req) => void (req.url === VAULT_PATHS.health && arrivals.push(performance.now())))));
    const members = hanging.map((s, i) => member(`i-0bbbbbbbbbbbbbbb${i}`, 'running', s.url));

    const results = await probeMembers(members, opts(1_000));

    assert.equal(results.size, 3);
    for (const r of results.values()) assertFailure(r.health, 'timeout');
    // Sequential probing would start each node's request only after the previous one timed out.
    assert.equal(arrivals.length, 3);
    assert.ok(Math.max(...arrivals) - Math.min(...arrivals) < 1_000, 'every node was asked before the first timeout');
  });
});
