/** Helpers shared by the contract tests of the sandbox's local AWS endpoints. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A stand-in for a Vault node's /v1/sys/health, health-checked by the sandbox's balancers; the test controls its answer. */
export interface FakeNode {
  url: string;
  status: number;
  /** When true the node accepts the request but never answers. */
  hang: boolean;
  hits: number;
  close(): Promise<void>;
}

/** Vault's health body for a status: 200 active, 429 standby, 503 sealed. */
const healthBody = (status: number): string => JSON.stringify({ initialized: true, sealed: status === 503, standby: status === 429 });

/** Starts a fake node on 127.0.0.1 answering `status` with `body(status)` (default: Vault's health body) and `headers`. */
export async function fakeNode(status: number, opts: { body?: (status: number) => string; headers?: Record<string, string> } = {}): Promise<FakeNode> {
  const node: FakeNode = { url: '', status, hang: false, hits: 0, close: async () => undefined };
  const server = http.createServer((req, res) => {
    node.hits += 1;
    req.resume();
    if (node.hang) return;
    res.writeHead(node.status, { 'content-type': 'application/json', ...opts.headers });
    res.end((opts.body ?? healthBody)(node.status));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  node.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  node.close = () =>
    new Promise<void>((r) => {
      server.close(() => r());
      server.closeAllConnections();
    });
  return node;
}

/** Polls `probe` until `done` holds; bounded in attempts and time. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 6_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    last = await probe();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
}

/** Every key path of a parsed SDK output, with list indexes collapsed to `[]`. */
export function keyPaths(v: unknown, prefix = ''): Set<string> {
  const out = new Set<string>();
  if (Array.isArray(v)) {
    for (const item of v) for (const p of keyPaths(item, `${prefix}[]`)) out.add(p);
  } else if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    for (const [k, child] of Object.entries(v)) {
      if (k === '$metadata') continue;
      out.add(`${prefix}.${k}`);
      for (const p of keyPaths(child, `${prefix}.${k}`)) out.add(p);
    }
  }
  return out;
}
