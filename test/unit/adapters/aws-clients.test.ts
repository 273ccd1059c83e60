import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { makeClients, DEFAULT_MAX_ATTEMPTS } from '../../../functions/adapters/aws-clients.js';

process.env['AWS_REGION'] ??= 'us-east-1';
process.env['AWS_ACCESS_KEY_ID'] ??= 'x';
process.env['AWS_SECRET_ACCESS_KEY'] ??= 'x';
delete process.env['AWS_MAX_ATTEMPTS'];

describe('makeClients', () => {
  test('builds the clients once per container', () => {
    assert.equal(makeClients(), makeClients());
  });

  test('every client retries a modest number of times', async () => {
    const clients = makeClients();
    for (const [name, client] of Object.entries(clients)) {
      assert.equal(await client.config.maxAttempts(), DEFAULT_MAX_ATTEMPTS, name);
    }
    assert.equal(DEFAULT_MAX_ATTEMPTS, 3);
  });

  test('takes the region from the standard AWS_REGION variable', async () => {
    const { ec2 } = makeClients();
    assert.equal(await ec2.config.region(), process.env['AWS_REGION']);
  });
});
