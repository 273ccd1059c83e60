/**
 * Minimal HTTP(S) client for Vault's unauthenticated endpoints (DESIGN §3.1–3.3).
 *
 * Every exchange ends in a value, never an exception: an answer with any status
 * code, or a failure reason the classifier can reason about (Patroni-style: a
 * probe result is data). One timer bounds connect + TLS + headers + body, so a
 * node that accepts and never answers, or trickles its body, cannot stall a
 * controller tick. Bodies are never logged: `seal-status`/`unseal` answers sit
 * next to unseal traffic and must not leak into logs.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { HttpAnswer, ProbeFailureReason } from '../core/types.js';

export interface VaultRequestOptions {
  method?: 'GET' | 'PUT' | 'POST';
  /** Serialised as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Bounds the whole exchange: DNS, connect, TLS, headers and body. */
  timeoutMs: number;
  /** PEM bundle of a private CA, added to Node's default roots (never replacing verification). */
  caBundle?: string;
  /** The exchange fails as `oversized` as soon as more than this many body bytes arrived. */
  maxResponseBytes: number;
  /** Caller-side cancellation; reported as `timeout` with detail "aborted by caller". */
  signal?: AbortSignal;
}

/**
 * Node error codes meaning "the certificate chain or the peer's identity could
 * not be verified" (OpenSSL X509_V_ERR_* names as Node exposes them).
 */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  // Handshake-level failures (e.g. https:// against a plain-HTTP port).
  'EPROTO',
]);

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);

/**
 * Maps a transport error to a probe failure reason. `answered` says whether
 * response headers had already arrived: a reset before any answer looks like a
 * closed port to the controller (`refused`), a reset mid-body is a broken
 * network path (`network`).
 */
export function failureReasonOf(err: unknown, answered: boolean, connected = false): ProbeFailureReason {
  const code = errorCode(err);
  if (code === undefined) return 'network';
  if (code === 'ECONNREFUSED') return 'refused';
  // A reset before the TCP handshake completed is a refusal; once something accepted the
  // connection (a process, a proxy, a wedged server), a reset proves no process gone: it is
  // not the "refused" that dead-leader takeover may take as proof of death (DESIGN §5.10).
  if (code === 'ECONNRESET') return answered || connected ? 'network' : 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (DNS_CODES.has(code)) return 'dns';
  if (TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) return 'tls';
  return 'network';
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

function describe(err: unknown): string {
  const code = errorCode(err);
  // OpenSSL messages carry trailing newlines and source paths; keep one line for logs.
  const message = (err instanceof Error ? err.message : String(err)).trim().replace(/\s*\n\s*/g, ' ');
  return code !== undefined && !message.includes(code) ? `${code}: ${message}` : message;
}

function joinUrl(baseUrl: string, path: string): URL {
  // String join rather than `new URL(path, base)`: a base URL with a path prefix
  // (a tag value such as https://proxy.internal/vault) must keep its prefix.
  return new URL(baseUrl.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`));
}

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400;
}

/**
 * One request to a Vault node. Never throws and never follows redirects: a
 * standby's 307 (DESIGN §3.3a) is itself the answer the caller wants to see.
 */
export function vaultRequest<T>(baseUrl: string, path: string, opts: VaultRequestOptions): Promise<HttpAnswer<T>> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const fail = (reason: ProbeFailureReason, detail: string): HttpAnswer<T> => ({ ok: false, reason, detail, latencyMs: elapsed() });

  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
    return Promise.resolve(fail('network', `invalid timeoutMs ${opts.timeoutMs}`));
  }
  if (!Number.isFinite(opts.maxResponseBytes) || opts.maxResponseBytes < 0) {
    return Promise.resolve(fail('network', `invalid maxResponseBytes ${opts.maxResponseBytes}`));
  }
  let url: URL;
  try {
    url = joinUrl(baseUrl, path);
  } catch (err) {
    return Promise.resolve(fail('network', `invalid base URL: ${describe(err)}`));
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.resolve(fail('network', `unsupported scheme ${url.protocol}`));
  }
  if (opts.signal?.aborted) {
    return Promise.resolve(fail('timeout', 'aborted by caller'));
  }

  let payload: string | undefined;
  try {
    payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  } catch (err) {
    return Promise.resolve(fail('network', `request body is not serialisable: ${describe(err)}`));
  }

  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }

  return new Promise<HttpAnswer<T>>((resolve) => {
    let settled = false;
    let answered = false;
    let connected = false;
    let req: http.ClientRequest | undefined;

    const finish = (answer: HttpAnswer<T>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // Destroying after a complete answer is harmless and guarantees no socket
      // outlives the exchange (oversized/timeout paths rely on it to stop reading).
      req?.destroy();
      resolve(answer);
    };
    const onAbort = (): void => finish(fail('timeout', 'aborted by caller'));
    const timer = setTimeout(
      () => finish(fail('timeout', answered ? `body not complete within ${opts.timeoutMs} ms` : `no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const requestOptions: https.RequestOptions = {
      method: opts.method ?? 'GET',
      headers,
      // A fresh, non-keep-alive agent per request: nothing pools sockets across
      // nodes or ticks, so nothing keeps the Lambda or a test process alive.
      agent: false,
    };
    if (url.protocol === 'https:' && opts.caBundle !== undefined) {
      // Added to the default roots, not instead of them: a node may present a
      // public certificate while the private CA is being rolled out.
      requestOptions.ca = [...tls.rootCertificates, opts.caBundle];
    }

    try {
      req = url.protocol === 'https:' ? https.request(url, requestOptions) : http.request(url, requestOptions);
    } catch (err) {
      finish(fail(failureReasonOf(err, false), describe(err)));
      return;
    }

    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    req.on('error', (err) => finish(fail(failureReasonOf(err, answered, connected), describe(err))));
    req.on('response', (res) => {
      answered = true;
      const status = res.statusCode ?? 0;
      res.on('error', (err) => finish(fail(failureReasonOf(err, true), describe(err))));
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxResponseBytes) {
        finish(fail('oversized', `content-length ${declared} exceeds ${opts.maxResponseBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        received += chunk.length;
        if (received > opts.maxResponseBytes) {
          finish(fail('oversized', `more than ${opts.maxResponseBytes} bytes received`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('close', () => {
        if (!res.complete) finish(fail('network', 'connection closed before the body was complete'));
      });
      res.on('end', () => finish(decode<T>(status, Buffer.concat(chunks).toString('utf8'), elapsed(), fail)));
    });
    if (payload !== undefined) req.end(payload);
    else req.end();
  });
}

function decode<T>(
  status: number,
  text: string,
  latencyMs: number,
  fail: (reason: ProbeFailureReason, detail: string) => HttpAnswer<T>,
): HttpAnswer<T> {
  if (text.trim() === '') return { ok: true, status, body: undefined, latencyMs };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Go's http.Redirect may add a short HTML body to a redirect; the status and
    // Location are the answer, so a non-JSON redirect body is not a failure.
    if (isRedirect(status)) return { ok: true, status, body: undefined, latencyMs };
    return fail('bad-json', `HTTP ${status} with a body that is not JSON (${text.length} chars)`);
  }
  // Vault answers every endpoint, errors included, with a JSON object. Anything
  // else (null, a bare string) would make field reads in the core throw or lie.
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    if (isRedirect(status)) return { ok: true, status, body: undefined, latencyMs };
    return fail('bad-json', `HTTP ${status} with a JSON ${parsed === null ? 'null' : Array.isArray(parsed) ? 'array' : typeof parsed}, expected an object`);
  }
  return { ok: true, status, body: parsed as T, latencyMs };
}
