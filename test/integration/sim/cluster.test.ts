/** createSimCluster and scaledTimings: the factories the sandbox, e2e tests and benchmark build on. */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { REAL_LOCK_TIMINGS } from '../../../functions/core/ha-lock.js';
import { createSimCluster } from '../../../sandbox/sim/cluster.js';
import { SimConfigError } from '../../../sandbox/sim/errors.js';
import { scaledTimings } from '../../../sandbox/sim/timings.js';
import { waitFor } from '../../../sandbox/sim/wait.js';
import { createVaultLockTable, startDynalite, type DynaliteHandle } from '../../support/dynalite.js';

describe('scaledTimings', () => {
  it('compresses every interval by the factor and keeps the failure count', () => {
    const t = scaledTimings(0.02);
    assert.equal(t.ttlMs, REAL_LOCK_TIMINGS.ttlMs * 0.02);
    assert.equal(t.renewIntervalMs, REAL_LOCK_TIMINGS.renewIntervalMs * 0.02);
    assert.equal(t.retryIntervalMs, REAL_LOCK_TIMINGS.retryIntervalMs * 0.02);
    assert.equal(t.watchRetryIntervalMs, REAL_LOCK_TIMINGS.watchRetryIntervalMs * 0.02);
    assert.equal(t.standbyLeaderRefreshMs, REAL_LOCK_TIMINGS.standbyLeaderRefreshMs * 0.02);
    assert.equal(t.stepDownBackoffMs, REAL_LOCK_TIMINGS.stepDownBackoffMs * 0.02);
    assert.equal(t.watchMaxFailures, REAL_LOCK_TIMINGS.watchMaxFailures);
  });

  it('rejects a factor that is not positive', () => {
    for (const factor of [0, -1, Number.NaN]) assert.throws(() => scaledTimings(factor), RangeError);
  });
});

describe('createSimCluster', () => {
  let ddb: DynaliteHandle;
  beforeAll(async () => {
    ddb = await startDynalite();
  });
  afterAll(async () => {
    await ddb.close();
  });

  it('refuses a DynamoDB cluster without a table', async () => {
    await assert.rejects(createSimCluster({ count: 2, ha: 'dynamodb' }), SimConfigError);
  });

  it('starts named nodes on distinct addresses sharing one lock table, one of them active', async () => {
    await createVaultLockTable(ddb.client, 'cluster-table');
    const cluster = await createSimCluster({
      count: 3,
      ha: 'dynamodb',
      ddb: { client: ddb.client, table: 'cluster-table' },
      timings: scaledTimings(0.03),
    });
    try {
      assert.deepEqual(cluster.nodes.map((n) => n.name), ['vault-a', 'vault-b', 'vault-c']);
      assert.equal(new Set(cluster.nodes.map((n) => n.baseUrl)).size, 3);
      await waitFor(() => cluster.nodes.filter((n) => n.status().isActive).length === 1, {
        timeoutMs: 5000,
        intervalMs: 5,
        description: 'one active',
      });
      const ids = new Set(cluster.nodes.map((n) => n.status().lockIdentity).filter(Boolean));
      assert.equal(ids.size, 1);
    } finally {
      await cluster.stop();
    }
    assert.ok(cluster.nodes.every((n) => !n.status().running));
  });
});
