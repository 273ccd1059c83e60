/**
 * A small argv parser: `--flag`, `--flag value`, `--flag=value`, positionals,
 * and a spec per command so an unknown or misspelt option is a usage error
 * (exit 2) instead of being ignored.
 */
import { UsageError } from './errors.js';

/** A `repeatable` string option may be given several times; its values are kept in order (listOption). */
export type OptionSpec = { type: 'boolean' } | { type: 'string'; valueName: string; repeatable?: boolean };
export type OptionsSpec = Record<string, OptionSpec>;

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | boolean | string[] | undefined>;
}

/** Options every command accepts (README "Operate" > "Global options"). */
export const GLOBAL_OPTIONS: OptionsSpec = {
  json: { type: 'boolean' },
  stage: { type: 'string', valueName: 'STAGE' },
  config: { type: 'string', valueName: 'FILE' },
  table: { type: 'string', valueName: 'TABLE' },
  region: { type: 'string', valueName: 'REGION' },
  profile: { type: 'string', valueName: 'PROFILE' },
  sandbox: { type: 'boolean' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean' },
};

export function parseArgs(argv: readonly string[], spec: OptionsSpec): ParsedArgs {
  const all: OptionsSpec = { ...GLOBAL_OPTIONS, ...spec };
  const options: Record<string, string | boolean | string[] | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h') {
      options.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const opt = all[name];
    if (!opt) throw new UsageError(`unknown option --${name}`);
    if (opt.type === 'boolean') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`--${name} needs a value (${opt.valueName})`);
      i++;
    }
    if (value.trim() === '') throw new UsageError(`--${name} needs a value (${opt.valueName})`);
    if (opt.repeatable === true) {
      const seen = options[name];
      options[name] = [...(Array.isArray(seen) ? seen : []), value];
      continue;
    }
    if (options[name] !== undefined) throw new UsageError(`--${name} given twice`);
    options[name] = value;
  }
  return { positionals, options };
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options[name];
  return typeof v === 'string' ? v : undefined;
}

/** Every value of a repeatable option, in the order given ([] when absent). */
export function listOption(args: ParsedArgs, name: string): string[] {
  const v = args.options[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function requireOption(args: ParsedArgs, name: string, what: string): string {
  const v = stringOption(args, name);
  if (v === undefined) throw new UsageError(`--${name} is required (${what})`);
  return v;
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.options[name] === true;
}
