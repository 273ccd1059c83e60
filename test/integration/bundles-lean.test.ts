/**
 * What scripts/build.mjs leaves out of the Lambda bundles (issue 9, ≤ 400 KB):
 * the SDK's default credential chain (Lambda hands credentials in through the
 * environment), the event-stream serde, the pure-JS SHA-256 fallback,
 * mnemonist's LRU cache, and the registrations of error classes the project
 * neither names nor retries. Sizes: `npm run bench -- --footprint`, never
 * asserted.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Metafile } from 'esbuild';
import { buildAll, errorNamesInCode, literalSchemaKeys, pruneErrorRegistrations } from '../../scripts/build.mjs';
import LRUCache from '../../scripts/lambda-lru-cache.mjs';
import { defaultProvider, LambdaCredentialsMissingError } from '../../scripts/lambda-env-credentials.mjs';
import { repoRoot } from '../support/packaged-service.js';

let dir: string;
const inputs = new Map<string, string[]>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vault-ha-lean-'));
  for (const b of await buildAll({ quiet: true, outDir: path.join(dir, 'build') })) {
    const meta = JSON.parse(await readFile(b.metafilePath, 'utf8')) as Metafile;
    inputs.set(b.name, Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs)));
  }
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Lambda bundles', () => {
  it('carry the environment credential provider only: no SSO / ini / process / web-identity / metadata providers, no STS or SSO clients', () => {
    assert.equal(inputs.size, 3);
    for (const [name, files] of inputs) {
      const chain = files.filter((p) => /@aws-sdk\/(credential-provider-(node|sso|ini|process|web-identity|http|login)|nested-clients|token-providers)\/|@smithy\/credential-provider-imds\//.test(p));
      assert.deepEqual(chain, [], `${name} bundles ${chain[0] ?? ''}`);
      assert.ok(files.some((p) => p.endsWith('scripts/lambda-env-credentials.mjs')), `${name}: no environment provider`);
    }
  });

  it('carry no event-stream serde', () => {
    for (const [name, files] of inputs) {
      assert.deepEqual(files.filter((p) => p.includes('/event-streams/')), [], name);
    }
  });

  it('carry no pure-JavaScript SHA-256 and no mnemonist (Node has the native hash; endpoint discovery is off)', () => {
    for (const [name, files] of inputs) {
      assert.deepEqual(files.filter((p) => /Sha256Js\.js$|[\\/]mnemonist[\\/]|[\\/]obliterator[\\/]/.test(p)), [], name);
      assert.ok(files.some((p) => p.endsWith('scripts/lambda-lru-cache.mjs')), `${name}: the endpoint cache's LRU is the small one`);
    }
  });

  it('keep the registration of every error of a bundled client that functions/ names or the SDK retries, and drop the others', () => {
    const named = errorNamesInCode();
    for (const n of ['ConditionalCheckFailedException', 'TargetGroupNotFound', 'InvalidInstance']) assert.ok(named.has(n), `${n} is named in functions/`);
    const kept = (client: string) => {
      const dir = path.join(repoRoot, 'node_modules/@aws-sdk', client, 'dist-es');
      const out = pruneErrorRegistrations(literalSchemaKeys(readFileSync(path.join(dir, 'schemas/schemas_0.js'), 'utf8')), readFileSync(path.join(dir, 'models/errors.js'), 'utf8'), named);
      return new Set([...out.matchAll(/registerError\((\w+)\$/g)].map((m) => m[1]));
    };
    const elbv2 = kept('client-elastic-load-balancing-v2');
    // Named by its wire code (TargetGroupNotFound) or its class name: both arrive as the full SDK delivers them.
    for (const n of ['TargetGroupNotFoundException', 'InvalidTargetException']) assert.ok(elbv2.has(n), n);
    assert.ok(!elbv2.has('TooManyTagsException'), 'an error nothing matches is left to the generic path');
    const ddb = kept('client-dynamodb');
    assert.ok(ddb.has('ConditionalCheckFailedException'), 'its Item (the lease holder) is read, so its schema stays');
    assert.ok(ddb.has('ProvisionedThroughputExceededException'), 'retryable: the retry strategy reads its trait');
    assert.ok(kept('client-elastic-load-balancing').has('InvalidEndPointException'), 'classic ELB: InvalidInstance on the wire');
  });

  it('leave out the SSM error classes that carry only a message (ParameterNotFound arrives by name through the generic path)', () => {
    const ssm = readFileSync(path.join(repoRoot, 'node_modules/@aws-sdk/client-ssm/dist-es/schemas/schemas_0.js'), 'utf8');
    const errors = readFileSync(path.join(repoRoot, 'node_modules/@aws-sdk/client-ssm/dist-es/models/errors.js'), 'utf8');
    const out = pruneErrorRegistrations(literalSchemaKeys(ssm), errors);
    assert.ok(!out.includes('registerError(ParameterNotFound$, ParameterNotFound)'));
    assert.ok(out.includes('_s_registry.registerError(SSMServiceException$, SSMServiceException)'), 'the base exception stays: the generic path builds from it');
  });
});

describe('pruneErrorRegistrations', () => {
  const errors = [
    'export class Plain extends __BaseException {\n    static shapeId = "x#Plain";\n    name = "Plain";\n    $fault = "client";\n    Message;\n    constructor(opts) {\n        super(opts);\n    }\n}',
    'export class WithItem extends __BaseException {\n    name = "WithItem";\n    $fault = "client";\n    Message;\n    Item;\n    constructor(opts) {\n        super(opts);\n    }\n}',
    'export class Retryable extends __BaseException {\n    name = "Retryable";\n    $fault = "server";\n    $retryable = {};\n    constructor(opts) {\n        super(opts);\n    }\n}',
    'export class QueryNamed extends __BaseException {\n    name = "QueryNamed";\n    $fault = "client";\n    Message;\n    constructor(opts) {\n        super(opts);\n    }\n}',
  ].join('\n');
  const schemas = [
    'export var Base$ = [-3, _s, "Base", 0, [], []];',
    '_s_registry.registerError(Base$, Base);',
    ...['Plain', 'WithItem', 'Retryable'].flatMap((n) => [`export var ${n}$ = [-3, n0, _${n},\n    { "error": _c },\n    [_M],\n    [0]\n];`, `n0_registry.registerError(${n}$, ${n});`]),
    'export var QueryNamed$ = [-3, n0, _QN,\n    { "awsQueryError": [`QueryNamedCode`, 400], "error": _c },\n    [_M],\n    [0]\n];',
    'n0_registry.registerError(QueryNamed$, QueryNamed);',
    '',
  ].join('\n');
  const kept = (out: string) => [...out.matchAll(/registerError\((\w+)\$/g)].map((m) => m[1]);

  it('keeps the base and the retryable ones when the code names nothing', () => {
    assert.deepEqual(kept(pruneErrorRegistrations(schemas, errors)), ['Base', 'Retryable']);
  });

  it('keeps an error the code names, by class name or by its awsQueryError wire code', () => {
    assert.deepEqual(kept(pruneErrorRegistrations(schemas, errors, new Set(['WithItem', 'QueryNamedCode']))), ['Base', 'WithItem', 'Retryable', 'QueryNamed']);
    assert.deepEqual(kept(pruneErrorRegistrations(schemas, errors, new Set(['QueryNamed']))), ['Base', 'Retryable', 'QueryNamed']);
  });

  it('keeps a registration whose class it cannot find in models/errors.js', () => {
    assert.deepEqual(kept(pruneErrorRegistrations(schemas, '')), ['Base', 'Plain', 'WithItem', 'Retryable', 'QueryNamed']);
  });
});

describe('the project matches AWS errors by name, never by SDK class (what pruning keeps intact)', () => {
  const sources = (d: string): string[] =>
    readdirSync(d).flatMap((e) => {
      const p = path.join(d, e);
      return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
    });

  it('imports no error class from an @aws-sdk client in functions/', () => {
    const offenders: string[] = [];
    for (const file of sources(path.join(repoRoot, 'functions'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*'@aws-sdk\/client-[^']+'/g)) {
        const names = m[1]!.split(',').map((n) => n.trim().replace(/^type\s+/, '')).filter((n) => /(Exception|Error|Fault|NotFound)$/.test(n) && !n.startsWith('type '));
        // `import type` only names a type: no instanceof possible.
        if (!/^import\s*type/.test(m[0]) && names.length > 0) offenders.push(`${path.relative(repoRoot, file)}: ${names.join(', ')}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});

describe('scripts/lambda-lru-cache.mjs (mnemonist/lru-cache in the bundles)', () => {
  it('evicts the least recently used past its capacity; get refreshes, peek and has do not', () => {
    const c = new LRUCache(2);
    c.set('a', 1).set('b', 2);
    assert.equal(c.get('a'), 1);
    c.set('c', 3);
    assert.deepEqual([c.has('a'), c.has('b'), c.has('c'), c.size], [true, false, true, 2]);
    assert.equal(c.peek('a'), 1);
    c.set('d', 4);
    assert.deepEqual([c.has('a'), c.has('c'), c.has('d')], [false, true, true], 'peek left a the oldest');
    c.set('c', 30);
    c.set('e', 5);
    assert.deepEqual([c.get('c'), c.has('d'), c.get('missing')], [30, false, undefined], 'set refreshes too');
    c.clear();
    assert.equal(c.size, 0);
  });

  it('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new LRUCache(0), RangeError);
  });

  it("backs @aws-sdk/endpoint-cache's EndpointCache as mnemonist did (set, get, has, expiry, delete)", async () => {
    const { EndpointCache } = (await import('@aws-sdk/endpoint-cache')) as typeof import('@aws-sdk/endpoint-cache');
    const cache = new EndpointCache(1);
    (cache as unknown as { cache: unknown }).cache = new LRUCache(1);
    cache.set('k', [{ Address: 'a.example', CachePeriodInMinutes: 1 }]);
    assert.equal(cache.getEndpoint('k'), 'a.example');
    cache.set('k2', [{ Address: 'b.example', CachePeriodInMinutes: 1 }]);
    assert.deepEqual([cache.has('k'), cache.getEndpoint('k2')], [false, 'b.example']);
    cache.delete('k2');
    assert.equal(cache.has('k2'), false);
  });
});

describe('scripts/lambda-env-credentials.mjs', () => {
  const saved = { ...process.env };
  afterAll(() => {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it('reads the role credentials Lambda puts in the environment (Lambda Developer Guide, "Defined runtime environment variables")', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'ASIAEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    process.env.AWS_SESSION_TOKEN = 'token';
    const c = await defaultProvider({})();
    assert.deepEqual([c.accessKeyId, c.secretAccessKey, c.sessionToken], ['ASIAEXAMPLE', 'secret', 'token']);
  });

  it('fails with a named error listing the missing variables instead of searching further', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'ASIAEXAMPLE';
    delete process.env.AWS_SECRET_ACCESS_KEY;
    await assert.rejects(defaultProvider({})(), (e: unknown) => e instanceof LambdaCredentialsMissingError && e.missing.join() === 'AWS_SECRET_ACCESS_KEY');
  });
});
