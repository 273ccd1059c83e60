/**
 * Reads the configuration from, in order (DESIGN §4.1): env VAULT_HA_CONFIG
 * (the JSON itself), env VAULT_HA_CONFIG_FILE (a path), env
 * VAULT_HA_CONFIG_PARAMETER (an SSM parameter name). The first one set wins.
 *
 * `controlTable`: the config's own value, else env VAULT_HA_CONTROL_TABLE
 * (serverless.yml sets it to the deployed table), else the schema default
 * `vault-ha-control`. So a config that omits the field uses the table the
 * stack created, and the default only applies outside a deployment.
 */
import { readFile, stat } from 'node:fs/promises';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { configSchema, type Config } from './schema.js';
import { ConfigError, formatIssues } from './errors.js';

export const CONFIG_ENV = {
  inline: 'VAULT_HA_CONFIG',
  file: 'VAULT_HA_CONFIG_FILE',
  parameter: 'VAULT_HA_CONFIG_PARAMETER',
} as const;

/** The deployed control table (serverless.yml: `!Ref ControlTable`), used when the config names none. */
export const CONTROL_TABLE_ENV = 'VAULT_HA_CONTROL_TABLE';

/** Validates an already parsed document. Throws ConfigError naming every invalid field. */
export function parseConfig(doc: unknown, source = 'input'): Config {
  const r = configSchema.safeParse(doc);
  if (!r.success) throw new ConfigError(source, formatIssues(r.error.issues));
  return r.data;
}

/**
 * Parses and validates a config text. With `env`, a document without
 * `controlTable` gets env VAULT_HA_CONTROL_TABLE (see the file comment).
 */
export function parseConfigText(text: string, source: string, env: NodeJS.ProcessEnv = {}): Config {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(source, [`(root): not valid JSON (${(e as Error).message})`], { cause: e });
  }
  return parseConfig(withDeployedControlTable(doc, env), source);
}

/**
 * Precedence of `controlTable`: explicit in the document > env
 * VAULT_HA_CONTROL_TABLE > the schema default. Anything that is not an object
 * is returned as is, for the schema to reject.
 */
export function withDeployedControlTable(doc: unknown, env: NodeJS.ProcessEnv): unknown {
  const deployed = env[CONTROL_TABLE_ENV]?.trim();
  if (!deployed || doc === null || typeof doc !== 'object' || Array.isArray(doc) || Object.hasOwn(doc, 'controlTable')) return doc;
  return { ...(doc as Record<string, unknown>), controlTable: deployed };
}

export type ParameterReader = (name: string) => Promise<string>;
/** A parameter's value with its version (GetParameter's `Parameter.Version`). */
export type VersionedParameterReader = (name: string) => Promise<{ value: string; version: string }>;
/** A parameter's current version only: a GetParameter without decryption (no KMS call). */
export type ParameterVersionReader = (name: string) => Promise<string>;
/** What identifies a file's content without reading it. */
export type FileFingerprint = (path: string) => Promise<string>;

let ssm: { key: string; client: SSMClient } | undefined;
/** One SSM client per container (connections are reused), rebuilt if the endpoint settings change (sandbox, tests). */
function ssmClient(env: NodeJS.ProcessEnv = process.env): SSMClient {
  const key = [env['AWS_REGION'], env['AWS_ENDPOINT_URL_SSM'], env['AWS_ENDPOINT_URL']].join('\u0000');
  if (!ssm || ssm.key !== key) ssm = { key, client: new SSMClient({}) };
  return ssm.client;
}

const readSsmParameterVersioned: VersionedParameterReader = async (name) => {
  const out = await ssmClient().send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  const v = out.Parameter?.Value;
  if (v === undefined) throw new Error(`SSM parameter ${name} has no value`);
  return { value: v, version: String(out.Parameter?.Version ?? '') };
};

/**
 * The version alone. `WithDecryption: false`: a SecureString comes back
 * encrypted, so the check costs no KMS call (AWS Systems Manager API
 * Reference, GetParameter: WithDecryption; every response carries
 * `Parameter.Version`, which Parameter Store increments on each PutParameter).
 */
const readSsmParameterVersion: ParameterVersionReader = async (name) => {
  const out = await ssmClient().send(new GetParameterCommand({ Name: name, WithDecryption: false }));
  if (out.Parameter?.Version === undefined) throw new Error(`SSM parameter ${name} has no version`);
  return String(out.Parameter.Version);
};

/**
 * Inode, size and nanosecond mtime/ctime: an edit in place changes mtime and
 * ctime, an atomic replace (write + rename) changes the inode.
 */
const statFingerprint: FileFingerprint = async (path) => {
  const s = await stat(path, { bigint: true });
  return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
};

type Source =
  | { kind: 'inline'; text: string }
  | { kind: 'file'; path: string }
  | { kind: 'parameter'; name: string }
  | { kind: 'none' };

function sourceOf(env: NodeJS.ProcessEnv): Source {
  const set = (k: string): string | undefined => {
    const v = env[k];
    return v !== undefined && v.trim() !== '' ? v : undefined;
  };
  const inline = set(CONFIG_ENV.inline);
  if (inline !== undefined) return { kind: 'inline', text: inline };
  const file = set(CONFIG_ENV.file);
  if (file !== undefined) return { kind: 'file', path: file };
  const name = set(CONFIG_ENV.parameter);
  if (name !== undefined) return { kind: 'parameter', name };
  return { kind: 'none' };
}

function describeSource(src: Source): string {
  switch (src.kind) {
    case 'inline':
      return `env ${CONFIG_ENV.inline}`;
    case 'file':
      return `file ${src.path}`;
    case 'parameter':
      return `SSM parameter ${src.name}`;
    case 'none':
      return 'environment';
  }
}

interface Readers {
  parameter: VersionedParameterReader;
  parameterVersion: ParameterVersionReader;
  fileFingerprint: FileFingerprint;
}

const DEFAULT_READERS: Readers = {
  parameter: readSsmParameterVersioned,
  parameterVersion: readSsmParameterVersion,
  fileFingerprint: statFingerprint,
};

/** Loads the config and the version of the source it came from (the inline text, the file's fingerprint, the parameter's Version). */
async function loadVersioned(src: Source, env: NodeJS.ProcessEnv, readers: Readers): Promise<{ config: Config; version: string }> {
  const source = describeSource(src);
  switch (src.kind) {
    case 'inline':
      return { config: parseConfigText(src.text, source, env), version: src.text };
    case 'file': {
      let text: string;
      let version: string;
      try {
        // Fingerprint first: a change between the two reads is seen at the next check, never missed.
        version = await readers.fileFingerprint(src.path);
        text = await readFile(src.path, 'utf8');
      } catch (e) {
        throw new ConfigError(source, [`(root): cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`], { cause: e });
      }
      return { config: parseConfigText(text, source, env), version };
    }
    case 'parameter': {
      let read: { value: string; version: string };
      try {
        read = await readers.parameter(src.name);
      } catch (e) {
        throw new ConfigError(source, [`(root): cannot read parameter (${(e as Error).name}: ${(e as Error).message})`], { cause: e });
      }
      return { config: parseConfigText(read.value, source, env), version: read.version };
    }
    case 'none':
      throw new ConfigError('environment', [
        `(root): no configuration: set ${CONFIG_ENV.inline}, ${CONFIG_ENV.file} or ${CONFIG_ENV.parameter}`,
      ]);
  }
}

export async function loadConfig(env: NodeJS.ProcessEnv = process.env, readParameter?: ParameterReader): Promise<Config> {
  const readers: Readers = readParameter
    ? { ...DEFAULT_READERS, parameter: async (name) => ({ value: await readParameter(name), version: '' }) }
    : DEFAULT_READERS;
  return (await loadVersioned(sourceOf(env), env, readers)).config;
}

/* ------------------------------------------------------------ reload */

export interface CachedLoadOptions {
  /** Default process.env (read on every call, like the handlers' environment). */
  env?: NodeJS.ProcessEnv;
  readers?: Partial<Readers>;
  /** Where a failed freshness check is reported (default: one JSON log line on stderr). */
  onWarning?: (message: string, fields: Record<string, unknown>) => void;
}

const logWarning = (message: string, fields: Record<string, unknown>): void => {
  console.error(JSON.stringify({ level: 'warn', service: 'vault-ha-config', time: new Date().toISOString(), message, ...fields }));
};

let cached: { key: string; version: string; config: Config; loadedAtMs: number } | undefined;
let inflight: Promise<Config> | undefined;

/**
 * The config for this invocation, read again only when its source changed, so
 * an edit reaches a warm container at its next invocation (a paused
 * controller, a flipped `dryRun`, a new cluster) without a cold start:
 *
 * - env VAULT_HA_CONFIG: the text is the version; a container's environment
 *   never changes, so neither does the config.
 * - file: its fingerprint (inode, size, mtime, ctime; one stat, no read).
 * - SSM parameter: its `Version` from a GetParameter without decryption
 *   (one cheap call per invocation, no KMS); the value is fetched and parsed
 *   only when the version moved.
 *
 * A changed source that no longer validates fails the invocation with the
 * ConfigError, as a cold start would (and is retried at the next one: a failed
 * load is never cached); a failed freshness check (SSM throttled, say) keeps
 * the config already loaded and says so. Changing the source variables
 * themselves (the sandbox, tests) reads from the new source.
 */
export function loadConfigCached(options: CachedLoadOptions = {}): Promise<Config> {
  inflight ??= refresh(options).finally(() => {
    inflight = undefined;
  });
  return inflight;
}

async function refresh(options: CachedLoadOptions): Promise<Config> {
  const env = options.env ?? process.env;
  const readers: Readers = { ...DEFAULT_READERS, ...options.readers };
  const src = sourceOf(env);
  const where = src.kind === 'inline' ? src.text : src.kind === 'file' ? src.path : src.kind === 'parameter' ? src.name : '';
  const key = [src.kind, where, env[CONTROL_TABLE_ENV] ?? ''].join('\u0000');
  if (cached && cached.key === key) {
    if (src.kind === 'inline') return cached.config;
    let version: string;
    try {
      version = src.kind === 'file' ? await readers.fileFingerprint(src.path) : await readers.parameterVersion(where);
    } catch (e) {
      (options.onWarning ?? logWarning)('could not check the configuration for changes; using the one already loaded', {
        source: describeSource(src),
        loadedAt: new Date(cached.loadedAtMs).toISOString(),
        error: `${(e as Error).name}: ${(e as Error).message}`,
      });
      return cached.config;
    }
    if (version === cached.version) return cached.config;
  }
  const { config, version } = await loadVersioned(src, env, readers);
  cached = { key, version, config, loadedAtMs: Date.now() };
  return config;
}

/** Forgets the cached config (tests). */
export function resetConfigCache(): void {
  cached = undefined;
  inflight = undefined;
}
