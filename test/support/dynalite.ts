/**
 * In-process DynamoDB (dynalite) for integration tests: one server per test
 * file on 127.0.0.1, port 0, in-memory store. The sandbox's own starter is
 * reused so tests and `npm start` share one implementation (including the
 * drain-before-close that keeps dynalite from throwing "Database is closed").
 * dynalite has no transactions and never deletes TTL-expired items; tests
 * compare expiry themselves.
 */
import { startLocalDynamo, type LocalDynamo } from '../../sandbox/dynamodb.js';

export { createControlTable, createVaultLockTable } from '../../sandbox/dynamodb.js';

export type DynaliteHandle = LocalDynamo;

export function startDynalite(): Promise<DynaliteHandle> {
  return startLocalDynamo();
}
