/**
 * Contract tests for the sandbox SSM endpoint, through the unmodified @aws-sdk/client-ssm.
 * Expected values come from the SSM API reference (error codes, status values, output
 * limits), never from the implementation.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  CancelCommandCommand,
  DeleteParameterCommand,
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  GetParameterCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  ListCommandInvocationsCommand,
  PutParameterCommand,
  SendCommandCommand,
  SSMClient,
  waitUntilCommandExecuted,
} from '@aws-sdk/client-ssm';
import { SsmServer } from '../../../sandbox/aws/ssm.js';
import {
  AWS_RUN_SHELL_SCRIPT_PARAMETERS,
  commandDocumentOptions,
  DocumentRegistry,
  InvalidDocumentContentError,
  projectDocumentOptions,
  registerTestEchoDocument,
  TEST_ECHO_DOCUMENT,
} from '../../../sandbox/aws/ssm-documents.js';
import { DOCUMENT_PARAMETERS, type SendDocumentRequest, sendDocument } from '../../../functions/adapters/ssm-run.js';
import { fakeAgent, pollUntil, unsealShares } from '../../fixtures/aws/ssm/sim.js';

const CREDENTIALS = { accessKeyId: 'x', secretAccessKey: 'x' };
/** Compressed time: one AWS second is 10 ms, so TimeoutSeconds 30 (the API minimum) is 300 ms. */
const MS_PER_SECOND = 10;

function client(endpoint: string): SSMClient {
  return new SSMClient({ region: 'us-east-1', endpoint, credentials: CREDENTIALS, maxAttempts: 1 });
}

/** The SDK error's name is the wire `__type`; `undefined` when the call succeeded. */
async function errorName(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as Error).name;
  }
}

// --- Test documents ---------------------------------------------------------------------

interface Gate {
  promise: Promise<void>;
  open(): void;
}
const gates = new Map<string, Gate>();
function gate(name: string): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  const g = { promise, open };
  gates.set(name, g);
  return g;
}

const aborted = new Set<string>();
/** Shares each node received through readParameter, by instance. */
const sharesOnNode = new Map<string, string[]>();

function testDocuments(): DocumentRegistry {
  const registry = new DocumentRegistry();
  registerTestEchoDocument(registry);
  // Runs until the test opens the gate named by the `gate` parameter (or the run is aborted).
  registry.registerDocument('test-gated', async (ctx) => {
    const g = gates.get(ctx.parameters['gate']?.[0] ?? '');
    await new Promise<void>((resolve) => {
      void g?.promise.then(resolve);
      ctx.abortSignal.addEventListener('abort', () => {
        aborted.add(ctx.parameters['gate']?.[0] ?? '');
        resolve();
      });
    });
    return { exitCode: 0, stdout: 'gate opened', stderr: '' };
  }, { parameters: { gate: { type: 'String' }, executionTimeout: AWS_RUN_SHELL_SCRIPT_PARAMETERS.executionTimeout } });
  registry.registerDocument('test-throws', async () => {
    throw new Error('vault binary not found');
  });
  registry.registerDocument(
    'test-big-output',
    async (ctx) => {
      const n = Number(ctx.parameters['stdoutChars']?.[0]);
      const m = Number(ctx.parameters['stderrChars']?.[0]);
      return { exitCode: 0, stdout: digits(n), stderr: digits(m) };
    },
    { parameters: { stdoutChars: { type: 'String', default: '0' }, stderrChars: { type: 'String', default: '0' } } },
  );
  // Unseal-like document: gets only parameter NAMES and reads the shares on the node.
  registry.registerDocument(
    'test-unseal',
    async (ctx) => {
      const received: string[] = [];
      for (const name of ctx.parameters['shareParameterNames'] ?? []) received.push(await ctx.readParameter(name, true));
      sharesOnNode.set(ctx.instanceId, received);
      return { exitCode: 0, stdout: `submitted ${received.length} shares`, stderr: '' };
    },
    { parameters: { shareParameterNames: { type: 'StringList' } } },
  );
  // A careless document that prints what it read: the audit must catch it.
  registry.registerDocument(
    'test-leaky',
    async (ctx) => {
      const value = await ctx.readParameter(ctx.parameters['name']?.[0] ?? '', true);
      return { exitCode: 0, stdout: `share is ${value}`, stderr: '' };
    },
    { parameters: { name: { type: 'String' } } },
  );
  // Prints the parameters it runs with, to show the defaults SSM fills in.
  registry.registerDocument('test-defaults', async (ctx) => ({ exitCode: 0, stdout: JSON.stringify(ctx.parameters), stderr: '' }), {
    parameters: {
      Mode: { type: 'String', allowedValues: ['shamir', 'auto'] },
      Path: { type: 'String', default: '/opt/vault/data', allowedPattern: '/[a-z/]{1,50}' },
      Extra: { type: 'StringList', default: ['a', 'b'] },
      executionTimeout: { type: 'String', default: '5', allowedPattern: '[0-9]{1,6}' },
    },
    pluginName: 'showParameters',
  });
  return registry;
}


function digits(n: number): string {
  let s = '';
  for (let i = 0; s.length < n; i += 1) s += `${i % 10}`;
  return s;
}

type Observed = GetCommandInvocationCommandOutput['Status'] | 'InvocationDoesNotExist';

async function observe(ssm: SSMClient, CommandId: string, InstanceId: string): Promise<Observed> {
  try {
    return (await ssm.send(new GetCommandInvocationCommand({ CommandId, InstanceId }))).Status;
  } catch (error) {
    if ((error as Error).name === 'InvocationDoesNotExist') return 'InvocationDoesNotExist';
    throw error;
  }
}

function untilStatus(ssm: SSMClient, commandId: string, instanceId: string, wanted: Observed[]) {
  return pollUntil(
    () => observe(ssm, commandId, instanceId),
    (s) => wanted.includes(s),
  );
}

async function send(ssm: SSMClient, input: ConstructorParameters<typeof SendCommandCommand>[0]): Promise<string> {
  const out = await ssm.send(new SendCommandCommand(input));
  const id = out.Command?.CommandId;
  assert.ok(id, 'SendCommand returns a CommandId');
  return id;
}

// --- Wire protocol ------------------------------------------------------------------------

describe('SSM endpoint wire protocol', () => {
  let server: SsmServer;
  let endpoint: string;
  beforeAll(async () => {
    server = new SsmServer({ documents: new DocumentRegistry() });
    endpoint = await server.start();
  });
  afterAll(() => server.stop());

  it('serves on 127.0.0.1 with an ephemeral port', () => {
    assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(endpoint).port, '0');
  });

  it('is reached through AWS_ENDPOINT_URL_SSM with no endpoint in the client config', async () => {
    const saved = process.env['AWS_ENDPOINT_URL_SSM'];
    process.env['AWS_ENDPOINT_URL_SSM'] = endpoint;
    try {
      const ssm = new SSMClient({ region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
      await ssm.send(new PutParameterCommand({ Name: '/wire/env', Value: 'v', Type: 'String' }));
      const out = await ssm.send(new GetParameterCommand({ Name: '/wire/env' }));
      assert.equal(out.Parameter?.Value, 'v');
    } finally {
      if (saved === undefined) delete process.env['AWS_ENDPOINT_URL_SSM'];
      else process.env['AWS_ENDPOINT_URL_SSM'] = saved;
    }
  });

  it('answers errors as HTTP 400 awsJson with __type and message', async () => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'AmazonSSM.GetParameter',
        authorization: 'AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: JSON.stringify({ Name: '/wire/missing' }),
    });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/x-amz-json-1.1');
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['__type'], 'ParameterNotFound');
    assert.equal(typeof body['message'], 'string');
  });

  it('rejects an unknown X-Amz-Target with UnknownOperationException', async () => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.CreateActivation', authorization: 'x' },
      body: '{}',
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as Record<string, unknown>)['__type'], 'UnknownOperationException');
  });

  it('rejects an unsigned request with MissingAuthenticationTokenException', async () => {
    const res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonSSM.GetParameter' },
      body: JSON.stringify({ Name: '/x' }),
    });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as Record<string, unknown>)['__type'], 'MissingAuthenticationTokenException');
  });
});

// --- Parameter Store ----------------------------------------------------------------------

describe('Parameter Store', () => {
  let server: SsmServer;
  let ssm: SSMClient;
  beforeAll(async () => {
    server = new SsmServer({ documents: new DocumentRegistry(), region: 'eu-west-1', accountId: '111122223333' });
    ssm = client(await server.start());
  });
  afterAll(() => server.stop());

  it('returns a String parameter as stored, with version 1, its ARN and modification time', async () => {
    const before = Date.now();
    const put = await ssm.send(new PutParameterCommand({ Name: '/ps/plain', Value: 'hello', Type: 'String' }));
    assert.equal(put.Version, 1);
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/ps/plain' }));
    assert.equal(Parameter?.Value, 'hello');
    assert.equal(Parameter?.Type, 'String');
    assert.equal(Parameter?.Version, 1);
    assert.equal(Parameter?.ARN, 'arn:aws:ssm:eu-west-1:111122223333:parameter/ps/plain');
    assert.ok(Parameter?.LastModifiedDate instanceof Date);
    assert.ok(Parameter.LastModifiedDate.getTime() >= before - 1000);
  });

  it('returns a StringList value as the comma-separated string that was stored', async () => {
    await ssm.send(new PutParameterCommand({ Name: '/ps/list', Value: 'a,b,c', Type: 'StringList' }));
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/ps/list' }));
    assert.equal(Parameter?.Type, 'StringList');
    assert.equal(Parameter?.Value, 'a,b,c');
  });

  it('returns a SecureString in clear only WithDecryption, and a ciphertext blob otherwise', async () => {
    const [secret] = unsealShares(1) as [string];
    await ssm.send(new PutParameterCommand({ Name: '/ps/secure', Value: secret, Type: 'SecureString' }));
    const encrypted = await ssm.send(new GetParameterCommand({ Name: '/ps/secure' }));
    const decrypted = await ssm.send(new GetParameterCommand({ Name: '/ps/secure', WithDecryption: true }));
    assert.equal(decrypted.Parameter?.Value, secret);
    const blob = encrypted.Parameter?.Value ?? '';
    assert.equal(encrypted.Parameter?.Type, 'SecureString');
    assert.notEqual(blob, secret);
    assert.ok(!blob.includes(secret));
    assert.match(blob, /^[A-Za-z0-9+/]+=*$/, 'a base64 ciphertext blob, as KMS produces');
    assert.ok(Buffer.from(blob, 'base64').length > Buffer.byteLength(secret), 'ciphertext carries IV and tag');
  });

  it('refuses to replace an existing parameter without Overwrite (ParameterAlreadyExists)', async () => {
    await ssm.send(new PutParameterCommand({ Name: '/ps/once', Value: 'v1', Type: 'String' }));
    const name = await errorName(ssm.send(new PutParameterCommand({ Name: '/ps/once', Value: 'v2', Type: 'String' })));
    assert.equal(name, 'ParameterAlreadyExists');
    const { Parameter } = await ssm.send(new GetParameterCommand({ Name: '/ps/once' }));
    assert.equal(Parameter?.Value, 'v1');
  });

  it('replaces a parameter with Overwrite, bumping the version and keeping the old one selectable', async () => {
    await ssm.send(new PutParameterCommand({ Name: '/ps/versions', Value: 'v1', Type: 'String' }));
    const put = await ssm.send(new PutParameterCommand({ Name: '/ps/versions', Value: 'v2', Overwrite: true }));
    assert.equal(put.Version, 2);
    const latest = await ssm.send(new GetParameterCommand({ Name: '/ps/versions' }));
    assert.equal(latest.Parameter?.Value, 'v2');
    assert.equal(latest.Parameter?.Type, 'String', 'type is kept when an overwrite omits it');
    const first = await ssm.send(new GetParameterCommand({ Name: '/ps/versions:1' }));
    assert.equal(first.Parameter?.Value, 'v1');
    assert.equal(first.Parameter?.Selector, ':1');
    assert.equal(await errorName(ssm.send(new GetParameterCommand({ Name: '/ps/versions:9' }))), 'ParameterVersionNotFound');
  });

  it('answers ParameterNotFound for a missing parameter on get and on delete', async () => {
    assert.equal(await errorName(ssm.send(new GetParameterCommand({ Name: '/ps/nope' }))), 'ParameterNotFound');
    assert.equal(await errorName(ssm.send(new DeleteParameterCommand({ Name: '/ps/nope' }))), 'ParameterNotFound');
  });

  it('forgets a deleted parameter', async () => {
    await ssm.send(new PutParameterCommand({ Name: '/ps/gone', Value: 'v', Type: 'String' }));
    await ssm.send(new DeleteParameterCommand({ Name: '/ps/gone' }));
    assert.equal(await errorName(ssm.send(new GetParameterCommand({ Name: '/ps/gone' }))), 'ParameterNotFound');
  });

  it('GetParameters returns found parameters and lists the missing names as InvalidParameters', async () => {
    await ssm.send(new PutParameterCommand({ Name: '/ps/multi/a', Value: 'A', Type: 'String' }));
    await ssm.send(new PutParameterCommand({ Name: '/ps/multi/b', Value: 'B', Type: 'SecureString' }));
    const out = await ssm.send(
      new GetParametersCommand({ Names: ['/ps/multi/a', '/ps/multi/b', '/ps/multi/zzz'], WithDecryption: true }),
    );
    assert.deepEqual(
      out.Parameters?.map((p) => [p.Name, p.Value]).sort(),
      [
        ['/ps/multi/a', 'A'],
        ['/ps/multi/b', 'B'],
      ],
    );
    assert.deepEqual(out.InvalidParameters, ['/ps/multi/zzz']);
  });

  describe('GetParametersByPath', () => {
    beforeAll(async () => {
      for (const name of ['/tree/a', '/tree/b', '/tree/sub/c', '/tree/sub/deeper/d', '/treehouse/x']) {
        await ssm.send(new PutParameterCommand({ Name: name, Value: `value of ${name}`, Type: 'String' }));
      }
    });

    const cases = [
      { title: 'lists only direct children without Recursive', Recursive: false, expected: ['/tree/a', '/tree/b'] },
      {
        title: 'lists the whole subtree with Recursive',
        Recursive: true,
        expected: ['/tree/a', '/tree/b', '/tree/sub/c', '/tree/sub/deeper/d'],
      },
    ];
    for (const c of cases) {
      it(c.title, async () => {
        const out = await ssm.send(new GetParametersByPathCommand({ Path: '/tree', Recursive: c.Recursive }));
        assert.deepEqual(out.Parameters?.map((p) => p.Name).sort(), c.expected);
      });
    }

    it('treats a trailing slash on Path like none', async () => {
      const out = await ssm.send(new GetParametersByPathCommand({ Path: '/tree/', Recursive: false }));
      assert.deepEqual(out.Parameters?.map((p) => p.Name).sort(), ['/tree/a', '/tree/b']);
    });

    it('decrypts SecureStrings only WithDecryption', async () => {
      const shares = unsealShares(2);
      for (const [i, share] of shares.entries()) {
        await ssm.send(new PutParameterCommand({ Name: `/vault/test/unseal/${i + 1}`, Value: share, Type: 'SecureString' }));
      }
      const clear = await ssm.send(new GetParametersByPathCommand({ Path: '/vault/test/unseal', WithDecryption: true }));
      const opaque = await ssm.send(new GetParametersByPathCommand({ Path: '/vault/test/unseal' }));
      assert.deepEqual(clear.Parameters?.map((p) => p.Value).sort(), [...shares].sort());
      assert.equal(opaque.Parameters?.length, 2);
      for (const p of opaque.Parameters ?? []) assert.ok(!shares.includes(p.Value ?? ''), `${p.Name} is not returned in clear`);
    });

    it('pages with MaxResults and NextToken, returning every parameter exactly once', async () => {
      const names = Array.from({ length: 13 }, (_, i) => `/paged/p${String(i).padStart(2, '0')}`);
      for (const name of names) await ssm.send(new PutParameterCommand({ Name: name, Value: 'v', Type: 'String' }));
      const pages: string[][] = [];
      let token: string | undefined;
      for (let i = 0; i < 10; i += 1) {
        const out = await ssm.send(new GetParametersByPathCommand({ Path: '/paged', MaxResults: 5, NextToken: token }));
        pages.push((out.Parameters ?? []).map((p) => p.Name ?? ''));
        token = out.NextToken;
        if (token === undefined) break;
      }
      assert.deepEqual(
        pages.map((p) => p.length),
        [5, 5, 3],
      );
      assert.deepEqual(pages.flat().sort(), names);
    });

    it('rejects a forged NextToken with InvalidNextToken', async () => {
      const name = await errorName(ssm.send(new GetParametersByPathCommand({ Path: '/paged', NextToken: 'not-a-token' })));
      assert.equal(name, 'InvalidNextToken');
    });
  });

  const invalidPuts = [
    { title: 'a name prefixed with "aws"', input: { Name: '/aws/mine', Value: 'v', Type: 'String' as const } },
    { title: 'a hierarchical name without a leading slash', input: { Name: 'a/b', Value: 'v', Type: 'String' as const } },
    { title: 'a new parameter without Type', input: { Name: '/ps/typeless', Value: 'v' } },
    { title: 'KeyId on a String parameter', input: { Name: '/ps/keyed', Value: 'v', Type: 'String' as const, KeyId: 'alias/x' } },
    { title: 'a Standard value over 4096 characters', input: { Name: '/ps/huge', Value: 'x'.repeat(4097), Type: 'String' as const } },
  ];
  for (const c of invalidPuts) {
    it(`rejects ${c.title} with ValidationException`, async () => {
      assert.equal(await errorName(ssm.send(new PutParameterCommand(c.input))), 'ValidationException');
    });
  }

  it('rejects GetParametersByPath MaxResults above 10 with ValidationException', async () => {
    assert.equal(
      await errorName(ssm.send(new GetParametersByPathCommand({ Path: '/tree', MaxResults: 11 }))),
      'ValidationException',
    );
  });

  it('rejects GetParameters with more than 10 names with ValidationException', async () => {
    const Names = Array.from({ length: 11 }, (_, i) => `/n/${i}`);
    assert.equal(await errorName(ssm.send(new GetParametersCommand({ Names }))), 'ValidationException');
  });
});

// --- Managed instances --------------------------------------------------------------------

describe('DescribeInstanceInformation', () => {
  let server: SsmServer;
  let ssm: SSMClient;
  beforeAll(async () => {
    server = new SsmServer({ documents: new DocumentRegistry() });
    ssm = client(await server.start());
  });
  afterAll(() => server.stop());

  async function pingStatusOf(instanceId: string): Promise<string | undefined> {
    const out = await ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
    );
    assert.ok((out.InstanceInformationList?.length ?? 0) <= 1);
    return out.InstanceInformationList?.[0]?.PingStatus;
  }

  it('does not list an instance whose agent never booted', async () => {
    assert.equal(await pingStatusOf('i-0000000000000aaaa'), undefined);
  });

  it('reports an instance Online once its agent registers, as an EC2 Linux node', async () => {
    server.registerAgent('i-0000000000000bbbb', fakeAgent('i-0000000000000bbbb'));
    const out = await ssm.send(
      new DescribeInstanceInformationCommand({
        InstanceInformationFilterList: [{ key: 'InstanceIds', valueSet: ['i-0000000000000bbbb'] }],
      }),
    );
    const info = out.InstanceInformationList?.[0];
    assert.equal(info?.InstanceId, 'i-0000000000000bbbb');
    assert.equal(info?.PingStatus, 'Online');
    assert.equal(info?.ResourceType, 'EC2Instance');
    assert.equal(info?.PlatformType, 'Linux');
    assert.equal(info?.IPAddress, '10.0.1.10');
    assert.ok(info?.LastPingDateTime instanceof Date);
  });

  it('reports ConnectionLost after the agent unregisters (instance stopped)', async () => {
    server.registerAgent('i-0000000000000cccc', fakeAgent('i-0000000000000cccc'));
    server.unregisterAgent('i-0000000000000cccc');
    assert.equal(await pingStatusOf('i-0000000000000cccc'), 'ConnectionLost');
  });

  it('reports Online again when the agent comes back', async () => {
    server.registerAgent('i-0000000000000dddd', fakeAgent('i-0000000000000dddd'));
    server.unregisterAgent('i-0000000000000dddd');
    server.registerAgent('i-0000000000000dddd', fakeAgent('i-0000000000000dddd'));
    assert.equal(await pingStatusOf('i-0000000000000dddd'), 'Online');
  });

  it('filters by PingStatus', async () => {
    const out = await ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'PingStatus', Values: ['ConnectionLost'] }] }));
    assert.deepEqual(
      out.InstanceInformationList?.map((i) => i.InstanceId),
      ['i-0000000000000cccc'],
    );
  });

  it('rejects a registration whose agent belongs to another instance', () => {
    assert.throws(() => server.registerAgent('i-0000000000000eeee', fakeAgent('i-0000000000000ffff')), {
      name: 'AgentInstanceMismatchError',
    });
  });

  it('pages with MaxResults and NextToken', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `i-00000000000001${String(i).padStart(3, '0')}`);
    for (const id of ids) server.registerAgent(id, fakeAgent(id));
    const seen: string[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    for (let i = 0; i < 10; i += 1) {
      const out = await ssm.send(
        new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: ids }], MaxResults: 5, NextToken: token }),
      );
      sizes.push(out.InstanceInformationList?.length ?? 0);
      seen.push(...(out.InstanceInformationList ?? []).map((x) => x.InstanceId ?? ''));
      token = out.NextToken;
      if (token === undefined) break;
    }
    assert.deepEqual(sizes, [5, 2]);
    assert.deepEqual(seen.sort(), ids);
  });
});

// --- Run Command ----------------------------------------------------------------------------

describe('Run Command', () => {
  let server: SsmServer;
  let ssm: SSMClient;
  const A = 'i-0aaaaaaaaaaaaaaa1';
  const B = 'i-0bbbbbbbbbbbbbbb2';
  beforeAll(async () => {
    server = new SsmServer({
      documents: testDocuments(),
      msPerSecond: MS_PER_SECOND,
      registrationDelayMs: 30,
      deliveryDelayMs: 30,
    });
    ssm = client(await server.start());
    server.registerAgent(A, fakeAgent(A));
    server.registerAgent(B, fakeAgent(B));
  });
  afterAll(async () => {
    for (const g of gates.values()) g.open();
    await server.stop();
  });

  it('accepts a command as Pending, for exactly the instances given', async () => {
    const out = await ssm.send(
      new SendCommandCommand({
        DocumentName: TEST_ECHO_DOCUMENT,
        InstanceIds: [B],
        Parameters: { message: ['hi'] },
        TimeoutSeconds: 60,
        Comment: 'contract',
      }),
    );
    assert.match(out.Command?.CommandId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(out.Command?.Status, 'Pending');
    assert.deepEqual(out.Command?.InstanceIds, [B]);
    assert.deepEqual(out.Command?.Parameters, { message: ['hi'] });
    assert.equal(out.Command?.TimeoutSeconds, 60);
    assert.equal(out.Command?.Comment, 'contract');
    assert.ok(out.Command?.RequestedDateTime instanceof Date);
    assert.ok(out.Command?.ExpiresAfter instanceof Date && out.Command.ExpiresAfter > out.Command.RequestedDateTime);
    const commandId = out.Command?.CommandId ?? '';
    await untilStatus(ssm, commandId, B, ['Success']);
    assert.equal(await observe(ssm, commandId, A), 'InvocationDoesNotExist', 'no invocation on an instance not named');
  });

  it('goes InvocationDoesNotExist → Pending → InProgress → Success and then reports the output', async () => {
    const cleanup: Array<() => unknown> = [];
    try {
      // Wider windows than the shared server, so every phase is seen even on a loaded machine.
      const slow = new SsmServer({ documents: testDocuments(), registrationDelayMs: 200, deliveryDelayMs: 200 });
      cleanup.push(() => slow.stop());
      const ssm = client(await slow.start());
      slow.registerAgent(A, fakeAgent(A));
      const g = gate('lifecycle');
      cleanup.push(() => g.open());
      const commandId = await send(ssm, { DocumentName: 'test-gated', InstanceIds: [A], Parameters: { gate: ['lifecycle'] } });
      const path = await untilStatus(ssm, commandId, A, ['InProgress']);
      const running = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: A }));
      assert.equal(running.StandardOutputContent, '', 'no output before the plugin finishes');
      assert.equal(running.ResponseCode, -1);
      assert.notEqual(running.ExecutionStartDateTime, '');
      g.open();
      for (const s of await untilStatus(ssm, commandId, A, ['Success'])) if (s !== path.at(-1)) path.push(s);
      assert.deepEqual(path, ['InvocationDoesNotExist', 'Pending', 'InProgress', 'Success']);
      const done = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: A }));
      assert.equal(done.StatusDetails, 'Success');
      assert.equal(done.ResponseCode, 0);
      assert.equal(done.StandardOutputContent, 'gate opened');
      assert.equal(done.DocumentName, 'test-gated');
      const start = Date.parse(done.ExecutionStartDateTime ?? '');
      const end = Date.parse(done.ExecutionEndDateTime ?? '');
      assert.ok(Number.isFinite(start) && Number.isFinite(end) && end >= start, 'ISO 8601 start/end times');
    } finally {
      // the test's cleanups, in the order registered, also when it fails
      for (const fn of cleanup) await fn();
    }
  });

  it('satisfies the SDK waiter waitUntilCommandExecuted (it retries on InvocationDoesNotExist)', async () => {
    const commandId = await send(ssm, { DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [A], Parameters: { message: ['waited'] } });
    const result = await waitUntilCommandExecuted(
      { client: ssm, maxWaitTime: 10, minDelay: 1, maxDelay: 1 },
      { CommandId: commandId, InstanceId: A },
    );
    assert.equal(result.state, 'SUCCESS');
  });

  it('reports a non-zero exit as Failed with that ResponseCode and the stderr', async () => {
    const commandId = await send(ssm, {
      DocumentName: TEST_ECHO_DOCUMENT,
      InstanceIds: [A],
      Parameters: { message: ['partial'], stderr: ['vault: sealed'], exitCode: ['3'] },
    });
    await untilStatus(ssm, commandId, A, ['Failed', 'Success']);
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: A }));
    assert.equal(out.Status, 'Failed');
    assert.equal(out.StatusDetails, 'Failed');
    assert.equal(out.ResponseCode, 3);
    assert.equal(out.StandardOutputContent, 'partial');
    assert.equal(out.StandardErrorContent, 'vault: sealed');
  });

  it('reports an executor that throws as Failed with a non-zero ResponseCode', async () => {
    const commandId = await send(ssm, { DocumentName: 'test-throws', InstanceIds: [A] });
    await untilStatus(ssm, commandId, A, ['Failed', 'Success']);
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: A }));
    assert.equal(out.Status, 'Failed');
    assert.notEqual(out.ResponseCode, 0);
    assert.match(out.StandardErrorContent ?? '', /vault binary not found/);
  });

  it('stops a run that exceeds executionTimeout: TimedOut / ExecutionTimedOut, exit 137', async () => {
    gate('slow');
    const commandId = await send(ssm, {
      DocumentName: 'test-gated',
      InstanceIds: [A],
      Parameters: { gate: ['slow'], executionTimeout: ['5'] },
    });
    await untilStatus(ssm, commandId, A, ['TimedOut', 'Success']);
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: A }));
    assert.equal(out.Status, 'TimedOut');
    assert.equal(out.StatusDetails, 'ExecutionTimedOut');
    // SSM Agent on Linux: 128 + SIGKILL for a command stopped before completion.
    assert.equal(out.ResponseCode, 137);
    assert.ok(aborted.has('slow'), 'the executor was told to stop');
  });

  it('times out delivery to an agent that went away before delivery: Delayed → TimedOut / DeliveryTimedOut', async () => {
    const C = 'i-0ccccccccccccccc3';
    server.registerAgent(C, fakeAgent(C));
    const commandId = await send(ssm, { DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [C], TimeoutSeconds: 30 });
    server.unregisterAgent(C);
    const path = await untilStatus(ssm, commandId, C, ['TimedOut', 'Success']);
    assert.deepEqual(path.slice(-2), ['Delayed', 'TimedOut']);
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: C }));
    assert.equal(out.StatusDetails, 'DeliveryTimedOut');
    assert.equal(out.ExecutionStartDateTime, '', 'it never started');
  });

  it('delivers a Delayed invocation once the agent is back', async () => {
    const D = 'i-0ddddddddddddddd4';
    server.registerAgent(D, fakeAgent(D));
    const commandId = await send(ssm, { DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [D], Parameters: { message: ['late'] } });
    server.unregisterAgent(D);
    await untilStatus(ssm, commandId, D, ['Delayed']);
    server.registerAgent(D, fakeAgent(D));
    await untilStatus(ssm, commandId, D, ['Success']);
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: D }));
    assert.equal(out.StandardOutputContent, 'late');
  });

  it('never reports a result from an agent lost mid-run; the invocation expires as DeliveryTimedOut', async () => {
    const E = 'i-0eeeeeeeeeeeeeee5';
    server.registerAgent(E, fakeAgent(E));
    const g = gate('lost');
    const commandId = await send(ssm, {
      DocumentName: 'test-gated',
      InstanceIds: [E],
      TimeoutSeconds: 30,
      Parameters: { gate: ['lost'], executionTimeout: ['10'] },
    });
    await untilStatus(ssm, commandId, E, ['InProgress']);
    server.unregisterAgent(E);
    g.open();
    const path = await untilStatus(ssm, commandId, E, ['TimedOut', 'Success']);
    assert.deepEqual(path, ['InProgress', 'TimedOut']);
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: E }));
    assert.equal(out.StatusDetails, 'DeliveryTimedOut');
    assert.equal(out.StandardOutputContent, '');
  });

  it('cancels a running invocation: Cancelling, then Cancelled', async () => {
    gate('cancel');
    const commandId = await send(ssm, { DocumentName: 'test-gated', InstanceIds: [A], Parameters: { gate: ['cancel'] } });
    await untilStatus(ssm, commandId, A, ['InProgress']);
    await ssm.send(new CancelCommandCommand({ CommandId: commandId }));
    const path = await untilStatus(ssm, commandId, A, ['Cancelled']);
    assert.deepEqual(path, ['Cancelling', 'Cancelled']);
    assert.ok(aborted.has('cancel'));
  });

  it('rejects an unknown document with InvalidDocument', async () => {
    const name = await errorName(ssm.send(new SendCommandCommand({ DocumentName: 'AWS-NoSuchDocument', InstanceIds: [A] })));
    assert.equal(name, 'InvalidDocument');
  });

  const badTargets = [
    { title: 'an instance whose agent never registered', ids: () => ['i-0fffffffffffffff9'] },
    { title: 'an instance whose agent is ConnectionLost', ids: () => [lostInstance()] },
    { title: 'a list where one instance is not managed', ids: () => [A, 'i-0fffffffffffffff9'] },
  ];
  function lostInstance(): string {
    const id = 'i-0999999999999999a';
    server.registerAgent(id, fakeAgent(id));
    server.unregisterAgent(id);
    return id;
  }
  for (const c of badTargets) {
    it(`rejects SendCommand to ${c.title} with InvalidInstanceId and runs nothing`, async () => {
      const ids = c.ids();
      const before = server.auditLog().length;
      const name = await errorName(ssm.send(new SendCommandCommand({ DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: ids })));
      assert.equal(name, 'InvalidInstanceId');
      assert.equal(server.auditLog().length, before, 'no command was recorded');
    });
  }

  it('rejects a parameter the document does not declare with InvalidParameters', async () => {
    const name = await errorName(
      ssm.send(new SendCommandCommand({ DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [A], Parameters: { commands: ['rm -rf /'] } })),
    );
    assert.equal(name, 'InvalidParameters');
  });

  it('rejects TimeoutSeconds below the API minimum of 30 with ValidationException', async () => {
    const name = await errorName(ssm.send(new SendCommandCommand({ DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [A], TimeoutSeconds: 5 })));
    assert.equal(name, 'ValidationException');
  });

  it('truncates StandardOutputContent at 24,000 and StandardErrorContent at 8,000 characters', async () => {
    const commandId = await send(ssm, {
      DocumentName: 'test-big-output',
      InstanceIds: [A],
      Parameters: { stdoutChars: ['30000'], stderrChars: ['9000'] },
    });
    await untilStatus(ssm, commandId, A, ['Success', 'Failed']);
    const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: A }));
    assert.equal(out.StandardOutputContent, digits(30000).slice(0, 24000));
    assert.equal(out.StandardErrorContent, digits(9000).slice(0, 8000));
  });

  it('lists invocations of a command with plugin details', async () => {
    const commandId = await send(ssm, { DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [A, B], Parameters: { message: ['both'] } });
    await untilStatus(ssm, commandId, A, ['Success']);
    await untilStatus(ssm, commandId, B, ['Success']);
    const out = await ssm.send(new ListCommandInvocationsCommand({ CommandId: commandId, Details: true }));
    assert.deepEqual(out.CommandInvocations?.map((i) => i.InstanceId).sort(), [A, B]);
    for (const inv of out.CommandInvocations ?? []) {
      assert.equal(inv.Status, 'Success');
      assert.equal(inv.CommandPlugins?.[0]?.Output, 'both');
      assert.equal(inv.CommandPlugins?.[0]?.ResponseCode, 0);
    }
  });

  describe('secret hygiene', () => {
    const F = 'i-0fffffffffffffff6';
    let shares: string[];
    beforeAll(async () => {
      server.registerAgent(F, fakeAgent(F));
      shares = unsealShares(3);
      for (const [i, share] of shares.entries()) {
        await ssm.send(new PutParameterCommand({ Name: `/vault/prod/unseal/${i + 1}`, Value: share, Type: 'SecureString' }));
      }
    });

    it('lets a document read SecureString shares on the node while the audit never contains them', async () => {
      const names = shares.map((_, i) => `/vault/prod/unseal/${i + 1}`);
      const commandId = await send(ssm, { DocumentName: 'test-unseal', InstanceIds: [F], Parameters: { shareParameterNames: names } });
      await untilStatus(ssm, commandId, F, ['Success', 'Failed']);
      const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: F }));
      assert.equal(out.Status, 'Success');
      assert.deepEqual(sharesOnNode.get(F), shares, 'the node received the real shares');
      assert.equal(server.auditContainsAny(shares), false);
      assert.ok(
        server.auditLog().some((e) => e.kind === 'send-command' && e.commandId === commandId),
        'the command itself was audited',
      );
    });

    it('fails a document that reads a missing parameter on the node, naming ParameterNotFound', async () => {
      const commandId = await send(ssm, {
        DocumentName: 'test-unseal',
        InstanceIds: [F],
        Parameters: { shareParameterNames: ['/vault/prod/unseal/404'] },
      });
      await untilStatus(ssm, commandId, F, ['Success', 'Failed']);
      const out = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: F }));
      assert.equal(out.Status, 'Failed');
      assert.match(out.StandardErrorContent ?? '', /not found/);
    });

    // Positive controls: without them, "the audit never contains the secret" proves nothing.
    it('detects a secret passed as a command parameter', async () => {
      const [leaked] = unsealShares(1) as [string];
      await send(ssm, { DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [F], Parameters: { message: [`key=${leaked}`] } });
      assert.equal(server.auditContainsAny([leaked]), true);
    });

    it('detects a secret a document printed to its output', async () => {
      const [secret] = unsealShares(1) as [string];
      await ssm.send(new PutParameterCommand({ Name: '/vault/prod/leaky', Value: secret, Type: 'SecureString' }));
      const commandId = await send(ssm, { DocumentName: 'test-leaky', InstanceIds: [F], Parameters: { name: ['/vault/prod/leaky'] } });
      await untilStatus(ssm, commandId, F, ['Success', 'Failed']);
      assert.equal(server.auditContainsAny([secret]), true);
      assert.equal(server.auditContainsAny(['']), false, 'an empty needle matches nothing');
    });
  });
});

// --- Document parameters, validated as SSM validates them -----------------------------------
// Rules: SendCommand → Errors (InvalidDocument, InvalidParameters) in the SSM API reference:
// "You must specify values for all required parameters in the ... SSM document. You can only
// supply values to parameters defined in the SSM document."; DocumentParameter: "Parameters
// without a default value are required. Parameters with a default value are optional."

describe('SendCommand parameters, checked against the document declaration', () => {
  let server: SsmServer;
  let ssm: SSMClient;
  const A = 'i-0aaaaaaaaaaaaaaa7';
  const echoParameters = async (ctx: { parameters: Readonly<Record<string, readonly string[]>> }) => ({
    exitCode: 0,
    stdout: JSON.stringify(ctx.parameters),
    stderr: '',
  });
  beforeAll(async () => {
    const registry = testDocuments();
    registry.registerDocument(
      'test-slow-default',
      async (ctx) => {
        await new Promise<void>((resolve) => ctx.abortSignal.addEventListener('abort', () => resolve()));
        return { exitCode: 0, stdout: '', stderr: '' };
      },
      { parameters: { executionTimeout: { type: 'String', default: '3' } } },
    );
    // The project's documents as AWS knows them: declarations read from serverless/ssm-documents.yml.
    registry.registerDocument('VaultHA-PrepareNode', echoParameters, projectDocumentOptions('VaultHAPrepareNodeDocument'));
    registry.registerDocument('VaultHA-VaultControl', echoParameters, projectDocumentOptions('VaultHAVaultControlDocument'));
    server = new SsmServer({ documents: registry, msPerSecond: MS_PER_SECOND, registrationDelayMs: 20, deliveryDelayMs: 20 });
    ssm = client(await server.start());
    server.registerAgent(A, fakeAgent(A));
  });
  afterAll(() => server.stop());

  async function rejection(input: ConstructorParameters<typeof SendCommandCommand>[0]): Promise<{ name: string; message: string }> {
    try {
      await ssm.send(new SendCommandCommand(input));
    } catch (error) {
      return { name: (error as Error).name, message: (error as Error).message };
    }
    assert.fail('SendCommand was accepted');
  }

  async function outputOf(commandId: string): Promise<GetCommandInvocationCommandOutput> {
    await untilStatus(ssm, commandId, A, ['Success', 'Failed', 'TimedOut']);
    return ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: A }));
  }

  it('rejects executionTimeout sent to a document that does not declare it with InvalidParameters, and records nothing', async () => {
    const before = server.auditLog().length;
    const e = await rejection({ DocumentName: TEST_ECHO_DOCUMENT, InstanceIds: [A], Parameters: { message: ['x'], executionTimeout: ['60'] } });
    assert.equal(e.name, 'InvalidParameters');
    assert.match(e.message, /^You can only supply values to parameters defined in the SSM document\./);
    assert.match(e.message, /executionTimeout/);
    assert.equal(server.auditLog().length, before);
  });

  it('rejects a required parameter (declared without default) left out with InvalidParameters', async () => {
    const e = await rejection({ DocumentName: 'test-leaky', InstanceIds: [A] });
    assert.equal(e.name, 'InvalidParameters');
    assert.match(e.message, /^You must specify values for all required parameters/);
    assert.match(e.message, /"name"/);
  });

  const badValues: Array<{ title: string; parameters: Record<string, string[]> }> = [
    { title: 'a value outside allowedValues', parameters: { Mode: ['raft'] } },
    { title: 'a value that does not match allowedPattern as a whole', parameters: { Mode: ['auto'], Path: ['/opt/vault; rm -rf /'] } },
    { title: 'two values for a String parameter', parameters: { Mode: ['auto', 'shamir'] } },
    { title: 'an executionTimeout that is not whole seconds', parameters: { Mode: ['auto'], executionTimeout: ['5s'] } },
  ];
  for (const row of badValues) {
    it(`rejects ${row.title} with InvalidParameters, never echoing the value`, async () => {
      const e = await rejection({ DocumentName: 'test-defaults', InstanceIds: [A], Parameters: row.parameters });
      assert.equal(e.name, 'InvalidParameters');
      assert.doesNotMatch(e.message, /rm -rf|raft/);
    });
  }

  it('runs the document with the declared defaults for what was not sent; Command.Parameters stays as sent', async () => {
    const out = await ssm.send(new SendCommandCommand({ DocumentName: 'test-defaults', InstanceIds: [A], Parameters: { Mode: ['auto'] } }));
    assert.deepEqual(out.Command?.Parameters, { Mode: ['auto'] });
    const inv = await outputOf(out.Command?.CommandId ?? '');
    assert.equal(inv.Status, 'Success');
    assert.deepEqual(JSON.parse(inv.StandardOutputContent ?? '{}'), {
      Mode: ['auto'],
      Path: ['/opt/vault/data'],
      Extra: ['a', 'b'],
      executionTimeout: ['5'],
    });
    assert.equal(inv.PluginName, 'showParameters', 'schema 2.2: PluginName is the step name');
  });

  it('applies the default executionTimeout when the command sends none: TimedOut / ExecutionTimedOut', async () => {
    const commandId = await send(ssm, { DocumentName: 'test-slow-default', InstanceIds: [A] });
    const inv = await outputOf(commandId);
    assert.equal(inv.Status, 'TimedOut');
    assert.equal(inv.StatusDetails, 'ExecutionTimedOut');
  });

  // What the workflows send, through the adapter they use, to the documents as deployed.
  const workflowCommands: Array<Omit<SendDocumentRequest, 'instanceId'> & { title: string }> = [
    {
      title: 'replace-node PrepareNode',
      documentName: 'VaultHA-PrepareNode',
      allowedParameters: DOCUMENT_PARAMETERS.prepareNode,
      parameters: {
        VolumeId: 'vol-0123456789abcdef0',
        MountPoint: '/opt/vault/data',
        UnsealMode: 'shamir',
        SharesParameterPrefix: '/vault/prod/unseal/',
        VaultAddr: 'https://127.0.0.1:8200',
        AllowFormat: 'false',
      },
      executionTimeoutSeconds: 600,
    },
    {
      title: 'replace-node step-down',
      documentName: 'VaultHA-VaultControl',
      allowedParameters: DOCUMENT_PARAMETERS.vaultControl,
      parameters: { Action: 'step-down', TokenParameterName: '/vault-ha/prod/step-down-token' },
      executionTimeoutSeconds: 60,
    },
    {
      title: 'failover-drill kill-active',
      documentName: 'VaultHA-VaultControl',
      allowedParameters: DOCUMENT_PARAMETERS.vaultControl,
      parameters: { Action: 'kill' },
      executionTimeoutSeconds: 60,
    },
  ];
  for (const c of workflowCommands) {
    it(`accepts what ${c.title} sends, as serverless/ssm-documents.yml declares the document`, async () => {
      const commandId = await sendDocument(ssm, { ...c, instanceId: A });
      const inv = await outputOf(commandId);
      assert.equal(inv.Status, 'Success');
      const ran = JSON.parse(inv.StandardOutputContent ?? '{}') as Record<string, string[]>;
      for (const [k, v] of Object.entries(c.parameters)) assert.deepEqual(ran[k], [v]);
      assert.deepEqual(ran['executionTimeout'], [String(c.executionTimeoutSeconds ?? '')]);
    });
  }
});

describe('document declarations', () => {
  const content = (timeoutSeconds: unknown, parameters: Record<string, unknown> = {}) => ({
    schemaVersion: '2.2',
    parameters,
    mainSteps: [{ action: 'aws:runShellScript', name: 'run', inputs: { ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}), runCommand: ['true'] } }],
  });

  it('reads a fixed step timeoutSeconds as the execution timeout, whatever the parameters', () => {
    const o = commandDocumentOptions(content('600', { executionTimeout: { type: 'String', default: '30' } }), 'inline');
    assert.equal(o.defaultExecutionTimeoutSeconds, 600);
    assert.equal(o.timeoutParameter, null);
    assert.equal(o.pluginName, 'run');
  });

  it('reads timeoutSeconds: "{{ executionTimeout }}" as the parameter that sets the execution timeout', () => {
    const o = commandDocumentOptions(content('{{ executionTimeout }}', { executionTimeout: { type: 'String', default: '600' } }), 'inline');
    assert.equal(o.timeoutParameter, 'executionTimeout');
  });

  it('refuses content the sandbox cannot model faithfully', () => {
    for (const bad of [content('{{ missing }}'), { ...content('60'), schemaVersion: '1.2' }, { ...content('60'), mainSteps: [] }, content('soon')]) {
      assert.throws(() => commandDocumentOptions(bad, 'inline'), InvalidDocumentContentError);
    }
  });

  it('refuses a registration that mixes a names-only list with declarations, or a type it does not model', () => {
    const registry = new DocumentRegistry();
    const run = async () => ({ exitCode: 0, stdout: '', stderr: '' });
    assert.throws(() => registry.registerDocument('d-mixed', run, { parameters: {}, allowedParameters: ['a'] }), { name: 'InvalidDocumentOptionError' });
    assert.throws(() => registry.registerDocument('d-int', run, { parameters: { n: { type: 'Integer' as 'String' } } }), { name: 'InvalidDocumentOptionError' });
    assert.throws(() => registry.registerDocument('d-num', run, { parameters: { n: { type: 'String', default: 600 as unknown as string } } }), {
      name: 'InvalidDocumentOptionError',
    });
  });

  it('reads the project documents from serverless/ssm-documents.yml', () => {
    for (const id of ['VaultHAPrepareNodeDocument', 'VaultHAVaultControlDocument']) {
      const o = projectDocumentOptions(id);
      assert.ok(o.parameters && Object.keys(o.parameters).length > 0, id);
      assert.equal(typeof o.pluginName, 'string');
    }
    assert.throws(() => projectDocumentOptions('NoSuchResource'), InvalidDocumentContentError);
  });
});
