/**
 * In-process DynamoDB (dynalite) for integration tests: one server per test
 * file on 127.0.0.1, port 0, in-memory store. dynalite has no transactions and
 * never deletes TTL-expired items; tests compare expiry themselves.
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

export interface DynaliteHandle {
  endpoint: string;
  client: DynamoDBClient;
  close(): Promise<void>;
}

export async function startDynalite(): Promise<DynaliteHandle> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = makeDynamoClient(endpoint);
  let closed = false;
  return {
    endpoint,
    client,
    async close() {
      if (closed) return;
      closed = true;
      // The SDK keeps sockets alive; destroy the client and drop open
      // connections first, or server.close waits for idle sockets to time out.
      client.destroy();
      // Let requests already inside dynalite finish: closing the store under
      // them makes dynalite throw "Database is closed" asynchronously.
      const serverClosed = new Promise<void>((resolve, reject) => server.close((err?: Error) => (err ? reject(err) : resolve())));
      server.closeIdleConnections();
      const forced = setTimeout(() => server.closeAllConnections(), 2_000);
      try {
        await serverClosed;
      } finally {
        clearTimeout(forced);
      }
    },
  };
}

/** A DynamoDB client for a local endpoint, with dummy credentials so nothing reaches instance metadata. */
export function makeDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    maxAttempts: 1,
  });
}

/** Vault's DynamoDB backend table (DESIGN §3.4): HASH Path (S), RANGE Key (S). */
export async function createVaultLockTable(client: DynamoDBClient, name: string): Promise<void> {
  await createTable(client, name, [
    { AttributeName: 'Path', KeyType: 'HASH' },
    { AttributeName: 'Key', KeyType: 'RANGE' },
  ]);
}

/** The control table (DESIGN §4.1): HASH pk (S), RANGE sk (S). */
export async function createControlTable(client: DynamoDBClient, name: string): Promise<void> {
  await createTable(client, name, [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ]);
}

async function createTable(client: DynamoDBClient, name: string, keySchema: KeySchemaElement[]): Promise<void> {
  const defs: AttributeDefinition[] = keySchema.map((k) => ({ AttributeName: k.AttributeName, AttributeType: 'S' }));
  await client.send(
    new CreateTableCommand({ TableName: name, KeySchema: keySchema, AttributeDefinitions: defs, BillingMode: 'PAY_PER_REQUEST' }),
  );
  // Even with createTableMs 0 the table flips to ACTIVE on a timer; wait for it (bounded).
  for (let i = 0; i < 100; i++) {
    const out = await client.send(new DescribeTableCommand({ TableName: name }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`table ${name} did not become ACTIVE`);
}
