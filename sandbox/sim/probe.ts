/**
 * Minimal HTTP client for talking to simulated nodes from tests and the
 * sandbox: no connection pooling (so killed nodes leave nothing behind), a
 * hard timeout, redirects not followed, TLS verified against the given CA.
 */
import http from 'node:http';
import https from 'node:https';

export interface SimHttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** Parsed JSON body, undefined when empty or not JSON. */
  json: unknown;
}

export class SimHttpError extends Error {
  override readonly name = 'SimHttpError';
  constructor(
    readonly url: string,
    readonly reason: 'timeout' | 'network',
    options?: { cause?: unknown },
  ) {
    super(`${url}: ${reason}`, options);
  }
}

export function simRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number; caPem?: string } = {},
): Promise<SimHttpAnswer> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  const timeoutMs = opts.timeoutMs ?? 2000;
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(
      target,
      {
        method: opts.method ?? 'GET',
        agent: false,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          ...opts.headers,
        },
        ...(secure && opts.caPem ? { ca: opts.caPem } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new SimHttpError(url, 'network', { cause: err })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new SimHttpError(url, 'timeout')), timeoutMs);
    timer.unref();
    req.on('close', () => clearTimeout(timer));
    req.on('error', (err) => reject(err instanceof SimHttpError ? err : new SimHttpError(url, 'network', { cause: err })));
    req.end(payload);
  });
}
