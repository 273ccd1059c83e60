/**
 * The Lambda bundles (scripts/build.mjs): each function carries what it uses
 * and no more, and the zip it ships actually loads. Sizes and init times are
 * printed by `npm run bench -- --footprint`, never asserted here.
 */
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { buildAll, esbuildOptions, initialFiles, sdkSchemaLiteralKeys, type BuiltFunction } from '../../scripts/build.mjs';
import { unzip } from '../../bench/footprint.js';

const run = promisify(execFile);
let dir: string;
let built: BuiltFunction[];
const metas = new Map<string, Metafile>();

const inputsOf = (name: string): string[] => {
  const meta = metas.get(name);
  assert.ok(meta, `no metafile for ${name}`);
  return Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vault-ha-bundles-'));
  built = await buildAll({ quiet: true, outDir: path.join(dir, 'build') });
  for (const b of built) metas.set(b.name, JSON.parse(await readFile(b.metafilePath, 'utf8')) as Metafile);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('function bundles', () => {
  it('builds the three functions of serverless.yml', () => {
    assert.deepEqual(built.map((b) => b.name).sort(), ['controller', 'failoverDrillTasks', 'replaceNodeTasks']);
  });

  it('uses the ES module builds of the AWS SDK, never its CommonJS builds (which cannot be tree-shaken)', () => {
    for (const b of built) {
      const cjs = inputsOf(b.name).filter((p) => /node_modules\/@(aws-sdk|smithy)\/[^/]+\/dist-cjs\//.test(p));
      assert.deepEqual(cjs, [], `${b.name} bundles CommonJS SDK code`);
    }
  });

  it('ships zod\'s tree-shakable build, not the classic one', () => {
    for (const b of built) {
      assert.ok(!inputsOf(b.name).some((p) => p.includes('node_modules/zod/v4/classic/')), `${b.name} bundles classic zod`);
      assert.ok(inputsOf(b.name).some((p) => p.includes('node_modules/zod/v4/mini/')), `${b.name} has no zod/mini (config validation)`);
    }
  });

  it('gives the task functions only the clients they call (no SNS, no Step Functions client)', () => {
    for (const name of ['replaceNodeTasks', 'failoverDrillTasks']) {
      const clients = inputsOf(name).filter((p) => /node_modules\/@aws-sdk\/client-(sns|sfn)\//.test(p));
      assert.deepEqual(clients, [], `${name} bundles ${clients[0] ?? ''}`);
    }
  });

  it('loads the Classic ELB client only through import(): a target-group deployment never loads it', () => {
    const classic = /node_modules\/@aws-sdk\/client-elastic-load-balancing\//;
    for (const b of built) {
      const meta = metas.get(b.name)!;
      const entry = Object.keys(meta.outputs).find((k) => k.endsWith(`${b.name}.out/${b.handlerFile}`));
      assert.ok(entry, `no output for ${b.handlerFile}`);
      const initial = initialFiles(meta, entry);
      const withClassic = Object.entries(meta.outputs).filter(([, o]) => Object.keys(o.inputs).some((p) => classic.test(p))).map(([k]) => k);
      assert.ok(withClassic.length > 0, `${b.name} does not bundle the Classic ELB client at all`);
      assert.deepEqual(withClassic.filter((k) => initial.has(k)), [], `${b.name} loads the Classic ELB client at init`);
    }
  });

  it('each zip loads in a fresh Node process: handler at its serverless.yml path, chunks resolved', async () => {
    for (const b of built) {
      const root = path.join(dir, 'unzipped', b.name);
      for (const f of unzip(await readFile(b.zipPath))) {
        await mkdir(path.dirname(path.join(root, f.name)), { recursive: true });
        await writeFile(path.join(root, f.name), f.data);
      }
      const script = `const m = await import(${JSON.stringify(path.join(root, b.handlerFile))}); console.log(typeof m.handler);`;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
        env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' },
        timeout: 60_000,
      });
      assert.equal(stdout.trim(), 'function', b.name);
    }
  });
});

describe('sdkSchemaLiteralKeys (aws/aws-sdk-js-v3#7607)', () => {
  it('lets esbuild drop the EC2 schemas a bundle does not use', async () => {
    const entry = path.join(dir, 'ec2-entry.mjs');
    await writeFile(entry, "export { EC2Client, DescribeInstancesCommand } from '@aws-sdk/client-ec2';\n");
    const opts = esbuildOptions({ entry, modulePath: 'ec2-entry' }, path.join(dir, 'ec2-out'));
    const out = await build({ ...opts, absWorkingDir: process.cwd(), nodePaths: [path.join(process.cwd(), 'node_modules')], plugins: [sdkSchemaLiteralKeys] });
    let schemaBytes = 0;
    for (const o of Object.values(out.metafile.outputs)) {
      for (const [p, v] of Object.entries(o.inputs)) if (p.includes('@aws-sdk/client-ec2/dist-es/schemas/')) schemaBytes += v.bytesInOutput;
    }
    // Without the plugin every one of EC2's ~4,000 shapes stays: about 550 KB.
    assert.ok(schemaBytes > 0 && schemaBytes < 100_000, `EC2 schemas: ${schemaBytes} bytes`);
  });
});
