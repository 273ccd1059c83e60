/**
 * `vault-ha --sandbox`: a running `npm start` writes the environment that
 * points the CLI at it (the SDK's standard AWS_* variables and
 * VAULT_HA_CONFIG_FILE, nothing else — DESIGN §4.2) to one well-known file;
 * `--sandbox` reads it and applies it to this process before any client is
 * built. The same block is printed by `npm start` for `export`.
 */
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NotFoundError } from './errors.js';

export const SANDBOX_CONNECTION_FILE = path.join(tmpdir(), 'vault-ha-sandbox.json');
/** The same variables as `export` lines, for `source` (the AWS CLI then reaches the sandbox too). */
export const SANDBOX_ENV_FILE = path.join(tmpdir(), 'vault-ha-sandbox.env');

/** The variables a connection may set: nothing outside the SDK's standard ones and the config file. */
const ALLOWED = /^(AWS_REGION|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_EC2_METADATA_DISABLED|AWS_ENDPOINT_URL_[A-Z0-9_]+|VAULT_HA_CONFIG_FILE)$/;

interface Connection {
  pid: number;
  startedAt: string;
  env: Record<string, string>;
}

export async function writeSandboxConnection(env: Record<string, string>, file = SANDBOX_CONNECTION_FILE, envFile = SANDBOX_ENV_FILE): Promise<{ file: string; envFile: string }> {
  const c: Connection = { pid: process.pid, startedAt: new Date().toISOString(), env };
  await writeFile(file, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  await writeFile(envFile, `${formatEnv(env)}\n`, { mode: 0o600 });
  return { file, envFile };
}

/** `export A=1` lines a shell can paste; values are quoted unless plainly safe. */
export function formatEnv(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${/^[A-Za-z0-9_./:@-]*$/.test(v) ? v : `'${v.replaceAll("'", "'\\''")}'`}`)
    .join('\n');
}

/** Removes the file if it is ours (another sandbox may have replaced it since). */
export async function removeSandboxConnection(file = SANDBOX_CONNECTION_FILE, envFile = SANDBOX_ENV_FILE): Promise<void> {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Partial<Connection>;
    if (c.pid === process.pid) await Promise.all([rm(file, { force: true }), rm(envFile, { force: true })]);
  } catch {
    /* absent or unreadable: nothing of ours to remove */
  }
}

/** Applies the running sandbox's environment to `env` (process.env by default). */
export function applySandboxConnection(env: NodeJS.ProcessEnv = process.env, file = SANDBOX_CONNECTION_FILE): void {
  let c: Partial<Connection>;
  try {
    c = JSON.parse(readFileSync(file, 'utf8')) as Partial<Connection>;
  } catch {
    throw new NotFoundError(`no running sandbox found (${file} is missing)`, 'start one with: npm start');
  }
  if (typeof c.pid !== 'number' || !alive(c.pid) || typeof c.env !== 'object' || c.env === null) {
    throw new NotFoundError(`the sandbox that wrote ${file} is no longer running`, 'start one with: npm start');
  }
  for (const [k, v] of Object.entries(c.env)) if (ALLOWED.test(k) && typeof v === 'string') env[k] = v;
  // The sandbox's config replaces any other source.
  delete env.VAULT_HA_CONFIG;
  delete env.VAULT_HA_CONFIG_PARAMETER;
  delete env.AWS_PROFILE;
  delete env.AWS_SESSION_TOKEN;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
