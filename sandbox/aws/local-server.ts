/**
 * An HTTP server on 127.0.0.1 (ephemeral port) for the sandbox's AWS endpoints:
 * listening, its URL, and a close that does not wait for the SDK clients'
 * kept-alive connections.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LocalServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function listenLocal(handler: http.RequestListener): Promise<LocalServer> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // SDK clients keep connections alive; without this close() would wait for them.
        server.closeAllConnections();
      }),
  };
}

/** A request's body as text, refused with `tooLarge()` past `maxBytes` (the services limit request size too). */
export function readBody(req: http.IncomingMessage, tooLarge: () => Error, maxBytes = 1_048_576): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        reject(tooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * A sandbox endpoint served by one local server: started once (its URL), and
 * stopped without waiting for kept-alive SDK connections. Subclasses answer
 * requests in `handle`.
 */
export abstract class LocalEndpoint {
  private server: LocalServer | undefined;
  private endpointUrl: string | undefined;

  /** Named in the error of `url` before `start`. */
  protected abstract readonly serviceName: string;

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

  async start(): Promise<string> {
    if (this.endpointUrl) return this.endpointUrl;
    this.server = await listenLocal((req, res) => void this.handle(req, res));
    this.endpointUrl = this.server.url;
    return this.endpointUrl;
  }

  get url(): string {
    if (!this.endpointUrl) throw new Error(`${this.serviceName} endpoint not started`);
    return this.endpointUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.endpointUrl = undefined;
    if (server) await server.close();
  }
}
