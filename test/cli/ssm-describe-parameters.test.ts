/**
 * DescribeParameters on the sandbox SSM endpoint (added for `vault-ha config
 * check --live`): metadata only, never a value; the `Path` filter with
 * `OneLevel` / `Recursive` and `Name` with `Equals` / `BeginsWith` (SSM API
 * reference, ParameterStringFilter), anything else refused.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { DescribeParametersCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DocumentRegistry } from '../../sandbox/aws/ssm-documents.js';
import { SsmServer } from '../../sandbox/aws/ssm.js';

let server: SsmServer;
let ssm: SSMClient;
const SECRET = 'share-value-never-listed';

beforeAll(async () => {
  server = new SsmServer({ documents: new DocumentRegistry(), region: 'eu-west-1', accountId: '111122223333' });
  const endpoint = await server.start();
  ssm = new SSMClient({ endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
  for (const [Name, Type] of [
    ['/vault/prod/unseal/1', 'SecureString'],
    ['/vault/prod/unseal/2', 'SecureString'],
    ['/vault/prod/unseal/old/3', 'SecureString'],
    ['/vault/prod/other', 'String'],
  ] as const) {
    await ssm.send(new PutParameterCommand({ Name, Type, Value: SECRET }));
  }
});
afterAll(async () => {
  ssm.destroy();
  await server.stop();
});

const names = async (filters: Array<{ Key: string; Option?: string; Values: string[] }>) =>
  (await ssm.send(new DescribeParametersCommand({ ParameterFilters: filters }))).Parameters?.map((p) => p.Name);

describe('sandbox SSM DescribeParameters', () => {
  it('Path OneLevel lists the parameters directly under the path, with their type and no value', async () => {
    const out = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: ['/vault/prod/unseal'] }] }));
    assert.deepEqual(out.Parameters?.map((p) => [p.Name, p.Type]), [['/vault/prod/unseal/1', 'SecureString'], ['/vault/prod/unseal/2', 'SecureString']]);
    assert.ok(!JSON.stringify(out).includes(SECRET));
  });
  it('Path Recursive includes deeper levels; a trailing slash means the same path', async () => {
    assert.deepEqual(await names([{ Key: 'Path', Option: 'Recursive', Values: ['/vault/prod/unseal/'] }]), ['/vault/prod/unseal/1', '/vault/prod/unseal/2', '/vault/prod/unseal/old/3']);
  });
  it('Name BeginsWith and Equals', async () => {
    assert.deepEqual(await names([{ Key: 'Name', Option: 'BeginsWith', Values: ['/vault/prod/o'] }]), ['/vault/prod/other']);
    assert.deepEqual(await names([{ Key: 'Name', Values: ['/vault/prod/unseal/2'] }]), ['/vault/prod/unseal/2']);
  });
  it('pages with NextToken', async () => {
    const first = await ssm.send(new DescribeParametersCommand({ MaxResults: 2 }));
    assert.equal(first.Parameters?.length, 2);
    const second = await ssm.send(new DescribeParametersCommand({ MaxResults: 2, NextToken: first.NextToken }));
    assert.deepEqual([...(first.Parameters ?? []), ...(second.Parameters ?? [])].map((p) => p.Name).length, 4);
    assert.equal(second.NextToken, undefined);
  });
  it('an unsupported filter key or option is refused, not ignored', async () => {
    await assert.rejects(names([{ Key: 'Tier', Values: ['Standard'] }]), (e: Error) => e.name === 'InvalidFilterKey');
    await assert.rejects(names([{ Key: 'Path', Option: 'BeginsWith', Values: ['/vault'] }]), (e: Error) => e.name === 'ValidationException');
  });
});
