/**
 * The sandbox's DynamoDB: dynalite (an in-process DynamoDB on LevelDB, in
 * memory) on 127.0.0.1 with an ephemeral port, plus the two tables the
 * project uses. dynalite has no transactions and never deletes TTL-expired
 * items; the control plane compares expiry itself, so neither matters here.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type AttributeDefinition,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';

type DynaliteFactory = (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

// dynalite is CommonJS and ships no type declarations.
const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

/** close() waits at most this many × 10 ms for requests in flight. */
const DRAIN_POLLS = 300;

export interface LocalDynamo {
  endpoint: string;
  /** A client for sandbox-side work (simulated nodes, setup); the controller builds its own from env. */
  client: DynamoDBClient;
  close(): Promise<void>;
}

export class TableNotActiveError extends Error {
  override readonly name = 'TableNotActiveError';
  constructor(readonly tableName: string) {
    super(`DynamoDB table ${tableName} did not become ACTIVE`);
  }
}

export async function startLocalDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // dynalite keeps working on a request after its socket is gone, and throws
  // (uncaught, from a LevelDB callback) if the database closed meanwhile. So
  // close() first waits until every request it accepted has been answered.
  let inflight = 0;
  server.prependListener('request', (_req, res) => {
    inflight += 1;
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
    let counted = true;
    res.end = ((...args: unknown[]) => {
      if (counted) {
        counted = false;
        inflight -= 1;
      }
      return end(...args);
    }) as typeof res.end;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
    maxAttempts: 1,
  });
  let closed = false;
  return {
    endpoint,
    client,
    async close() {
      if (closed) return;
      closed = true;
      for (let i = 0; i < DRAIN_POLLS && inflight > 0; i++) await new Promise((r) => setTimeout(r, 10));
      // The SDK keeps sockets alive: destroy the client and drop open
      // connections first, or close() waits for idle sockets to time out.
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Vault's DynamoDB backend table (DESIGN §3.4): HASH Path (S), RANGE Key (S). */
export function createVaultLockTable(client: DynamoDBClient, name: string): Promise<void> {
  return createTable(client, name, [
    { AttributeName: 'Path', KeyType: 'HASH' },
    { AttributeName: 'Key', KeyType: 'RANGE' },
  ]);
}

/** The control table (DESIGN §4.1): HASH pk (S), RANGE sk (S). */
export function createControlTable(client: DynamoDBClient, name: string): Promise<void> {
  return createTable(client, name, [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ]);
}

async function createTable(client: DynamoDBClient, name: string, keySchema: KeySchemaElement[]): Promise<void> {
  const defs: AttributeDefinition[] = keySchema.map((k) => ({ AttributeName: k.AttributeName, AttributeType: 'S' }));
  await client.send(
    new CreateTableCommand({ TableName: name, KeySchema: keySchema, AttributeDefinitions: defs, BillingMode: 'PAY_PER_REQUEST' }),
  );
  // Even with createTableMs 0 dynalite flips the table to ACTIVE on a timer.
  for (let i = 0; i < 200; i++) {
    const out = await client.send(new DescribeTableCommand({ TableName: name }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new TableNotActiveError(name);
}
