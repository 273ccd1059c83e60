/**
 * Reads the configuration from, in order (DESIGN §4.1): env VAULT_HA_CONFIG
 * (the JSON itself), env VAULT_HA_CONFIG_FILE (a path), env
 * VAULT_HA_CONFIG_PARAMETER (an SSM parameter name). The first one set wins.
 */
import { readFile } from 'node:fs/promises';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { configSchema, type Config } from './schema.js';
import { ConfigError, formatIssues } from './errors.js';

export const CONFIG_ENV = {
  inline: 'VAULT_HA_CONFIG',
  file: 'VAULT_HA_CONFIG_FILE',
  parameter: 'VAULT_HA_CONFIG_PARAMETER',
} as const;

/** Validates an already parsed document. Throws ConfigError naming every invalid field. */
export function parseConfig(doc: unknown, source = 'input'): Config {
  const r = configSchema.safeParse(doc);
  if (!r.success) throw new ConfigError(source, formatIssues(r.error.issues));
  return r.data;
}

export function parseConfigText(text: string, source: string): Config {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(source, [`(root): not valid JSON (${(e as Error).message})`], { cause: e });
  }
  return parseConfig(doc, source);
}

export type ParameterReader = (name: string) => Promise<string>;

const readSsmParameter: ParameterReader = async (name) => {
  const ssm = new SSMClient({});
  const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  const v = out.Parameter?.Value;
  if (v === undefined) throw new Error(`SSM parameter ${name} has no value`);
  return v;
};

export async function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  readParameter: ParameterReader = readSsmParameter,
): Promise<Config> {
  const inline = env[CONFIG_ENV.inline];
  if (inline !== undefined && inline.trim() !== '') return parseConfigText(inline, `env ${CONFIG_ENV.inline}`);

  const file = env[CONFIG_ENV.file];
  if (file !== undefined && file.trim() !== '') {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`file ${file}`, [`(root): cannot read file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`], { cause: e });
    }
    return parseConfigText(text, `file ${file}`);
  }

  const param = env[CONFIG_ENV.parameter];
  if (param !== undefined && param.trim() !== '') {
    let text: string;
    try {
      text = await readParameter(param);
    } catch (e) {
      throw new ConfigError(`SSM parameter ${param}`, [`(root): cannot read parameter (${(e as Error).name}: ${(e as Error).message})`], { cause: e });
    }
    return parseConfigText(text, `SSM parameter ${param}`);
  }

  throw new ConfigError('environment', [
    `(root): no configuration: set ${CONFIG_ENV.inline}, ${CONFIG_ENV.file} or ${CONFIG_ENV.parameter}`,
  ]);
}

let cached: { key: string; config: Promise<Config> } | undefined;

/**
 * loadConfig once per container: config is read at cold start. The cache is
 * keyed by the three source variables (so a process that changes them, like the
 * sandbox or a test, reads again), and a failed load is not cached, so the next
 * invocation retries instead of failing forever.
 */
export function loadConfigCached(): Promise<Config> {
  const key = [process.env[CONFIG_ENV.inline], process.env[CONFIG_ENV.file], process.env[CONFIG_ENV.parameter]].join('\u0000');
  if (!cached || cached.key !== key) {
    const config = loadConfig();
    cached = { key, config };
    config.catch(() => {
      if (cached?.config === config) cached = undefined;
    });
  }
  return cached.config;
}
