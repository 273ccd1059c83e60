/**
 * `serverless package` for the tests, once per test process, into a private
 * copy of the service: test files run in parallel processes
 * (`--test-concurrency=2`), and two `serverless package` runs writing the same
 * `.serverless/` directory (or one reading `.build/` while another file's
 * build rewrites it) would read each other's half-written output.
 *
 * The copy holds serverless.yml, every file it includes with `${file(...)}`,
 * package.json and a link to node_modules (for the plugins). The function
 * artifacts are placeholder zips: the template does not depend on the code,
 * and the real bundles are the business of `npm run build` (checked by
 * serverless-package.test.ts). The copy is removed when the process exits.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import type { CfnTemplate } from './iam-policy.js';

const run = promisify(execFile);

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The stage every packaged-template test uses. */
export const TEST_STAGE = 'citest';
/** The `vault-cluster` tag values the test stage is packaged for (params.clusterTagValues). */
export const TEST_CLUSTER_TAG_VALUES = ['prod', 'staging'] as const;

export interface PackagedService {
  template: CfnTemplate;
  /** The packaged template on disk (for cfn-lint). */
  templatePath: string;
}

const packaged = new Map<string, Promise<PackagedService>>();

/**
 * The packaged template, packaged at most once per process (and per set of
 * extra `--param="name=value"`s, e.g. `{ controllerShards: '3' }`).
 */
export function packagedService(params: Record<string, string> = {}): Promise<PackagedService> {
  const key = JSON.stringify(Object.entries(params).sort());
  let p = packaged.get(key);
  if (!p) packaged.set(key, (p = packageCopy(params)));
  return p;
}

/** A zip with no entries (just the end-of-central-directory record). */
const EMPTY_ZIP = Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array<number>(18).fill(0)]);

async function packageCopy(params: Record<string, string>): Promise<PackagedService> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vault-ha-package-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

  const serverlessYml = await readFile(path.join(repoRoot, 'serverless.yml'), 'utf8');
  await writeFile(path.join(dir, 'serverless.yml'), serverlessYml);
  await cp(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  // Every `${file(path)}` / `${file(path):key}` include, copied as is.
  const includes = new Set([...serverlessYml.matchAll(/\$\{file\(([^)]+)\)/g)].map((m) => m[1]!.trim()));
  for (const rel of includes) {
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes('..')) throw new Error(`serverless.yml includes ${rel}: only paths inside the repository are copied`);
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await cp(path.join(repoRoot, rel), path.join(dir, rel), { recursive: true });
  }
  await symlink(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');

  const functions = (parseDocument(serverlessYml, { logLevel: 'silent' }).toJS({ maxAliasCount: 100 }) as {
    functions?: Record<string, { package?: { artifact?: string } }>;
  }).functions ?? {};
  for (const [name, fn] of Object.entries(functions)) {
    const artifact = fn.package?.artifact;
    if (!artifact) throw new Error(`function ${name} has no package.artifact`);
    await mkdir(path.dirname(path.join(dir, artifact)), { recursive: true });
    await writeFile(path.join(dir, artifact), EMPTY_ZIP);
  }

  const env = {
    ...process.env,
    // Offline: no credentials lookup may leave the machine.
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_REGION: 'eu-west-1',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  const cli = path.join(repoRoot, 'node_modules/osls/bin/serverless.js');
  // The stage's cluster tag values (IAM scopes every workflow mutation to them): the tests' clusters.
  const extra = Object.entries(params).map(([k, v]) => `--param=${k}=${v}`);
  await run(process.execPath, [cli, 'package', '--stage', TEST_STAGE, `--param=clusterTagValues=${TEST_CLUSTER_TAG_VALUES.join(',')}`, ...extra], { cwd: dir, env, timeout: 120_000 });
  const templatePath = path.join(dir, '.serverless/cloudformation-template-update-stack.json');
  if (!existsSync(templatePath)) throw new Error(`serverless package wrote no ${templatePath}`);
  return { template: JSON.parse(await readFile(templatePath, 'utf8')) as CfnTemplate, templatePath };
}
