/**
 * `vault-ha` — the operator CLI (DESIGN §4.7): status, history, drill,
 * replace, pause, resume, unlock, config check; every one takes --json.
 * README "Operate" documents each command with a captured output, the global
 * options and the exit codes (cli/lib/errors.ts EXIT).
 *
 * `run(argv, io)` is the whole CLI without process globals (tests call it);
 * bin/vault-ha.mjs calls `main()`.
 */
import { configCheckCommand, CONFIG_CHECK_OPTIONS } from './config-check.js';
import { historyCommand, HISTORY_OPTIONS } from './history.js';
import { flag, GLOBAL_OPTIONS, parseArgs, type OptionsSpec } from './lib/args.js';
import { CliContext } from './lib/context.js';
import { EXIT, toCliError, UsageError, type ExitCode } from './lib/errors.js';
import { Output, type Writable } from './lib/output.js';
import { pauseCommand, PAUSE_OPTIONS, resumeCommand, RESUME_OPTIONS } from './pause.js';
import { statusCommand, STATUS_OPTIONS } from './status.js';
import { unlockCommand, UNLOCK_OPTIONS } from './unlock.js';
import { drillCommand, DRILL_OPTIONS, DRILL_USAGE, replaceCommand, REPLACE_OPTIONS } from './workflow.js';

interface Command {
  options: OptionsSpec;
  run: (ctx: CliContext) => Promise<ExitCode>;
  usage: string;
  /** Positionals the command takes (others are a usage error). */
  positionals?: number;
}

const COMMANDS: Record<string, Command> = {
  status: { options: STATUS_OPTIONS, run: statusCommand, usage: 'status [--cluster C]' },
  history: { options: HISTORY_OPTIONS, run: historyCommand, usage: 'history [--cluster C] [--since 24h]' },
  drill: {
    options: DRILL_OPTIONS,
    run: drillCommand,
    usage: DRILL_USAGE,
  },
  replace: { options: REPLACE_OPTIONS, run: replaceCommand, usage: 'replace --cluster C --slot S [--force] [--dry-run] [--reason TEXT] [--no-wait] [--timeout 60m] [--poll 2s]' },
  pause: { options: PAUSE_OPTIONS, run: pauseCommand, usage: 'pause --cluster C [--for 1h] [--reason TEXT]' },
  resume: { options: RESUME_OPTIONS, run: resumeCommand, usage: 'resume --cluster C' },
  unlock: { options: UNLOCK_OPTIONS, run: unlockCommand, usage: 'unlock --cluster C [--scope operation] [--force]' },
  config: { options: CONFIG_CHECK_OPTIONS, run: configCheckCommand, usage: 'config check FILE [--live]', positionals: 2 },
};

export const USAGE = `usage: vault-ha <command> [options]

commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}`)
  .join('\n')}

global options:
  --json            one JSON document on stdout (progress and warnings go to stderr)
  --stage STAGE     the deployed stack: table vault-ha-control-STAGE, state machines
                    vault-ha-control-plane-STAGE-*, config /vault-ha/STAGE/config by default
  --config FILE     the config to use (default: VAULT_HA_CONFIG, VAULT_HA_CONFIG_FILE,
                    VAULT_HA_CONFIG_PARAMETER, as the functions read it)
  --table TABLE     the control table (default: from --stage, else the config's controlTable)
  --region R, --profile P   as the AWS CLI's (default: the SDK's own chain)
  --sandbox         talk to the sandbox a running \`npm start\` serves
  --no-color, --help

exit codes: 0 ok (status: every cluster healthy) · 1 failed / not healthy / problems found ·
  2 usage or invalid config · 3 not found · 4 refused for safety · 5 wait timed out (it goes on) ·
  6 AWS unreachable (credentials, permissions, network)`;

export interface Io {
  stdout: Writable;
  stderr: Writable;
  env?: NodeJS.ProcessEnv;
  color?: boolean;
}

/** The command word and everything else: global options may come before it (`vault-ha --sandbox status`). */
export function splitCommand(argv: readonly string[]): { name: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) return { name: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
    const opt = GLOBAL_OPTIONS[a.slice(2)];
    if (opt?.type === 'string' && !a.includes('=')) i++;
    if (a === '--help' || a === '-h') return { name: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { name: undefined, rest: [...argv] };
}

export async function run(argv: readonly string[], io: Io): Promise<ExitCode> {
  const { name, rest } = splitCommand(argv);
  const json = rest.includes('--json');
  const errOut = new Output({ stdout: io.stdout, stderr: io.stderr, json, color: false });
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = COMMANDS[name];
  let ctx: CliContext | undefined;
  try {
    if (!command) throw new UsageError(`unknown command "${name}"`);
    const args = parseArgs(rest, command.options);
    if (flag(args, 'help')) {
      io.stdout.write(`usage: vault-ha ${command.usage}\n\n${USAGE.slice(USAGE.indexOf('global options:'))}\n`);
      return EXIT.ok;
    }
    if (args.positionals.length > (command.positionals ?? 0)) throw new UsageError(`unexpected argument "${args.positionals[command.positionals ?? 0]}"`);
    const out = new Output({ stdout: io.stdout, stderr: io.stderr, json: flag(args, 'json'), color: (io.color ?? false) && !flag(args, 'no-color') });
    ctx = new CliContext(args, { out, ...(io.env ? { env: io.env } : {}) });
    return await command.run(ctx);
  } catch (err) {
    const e = toCliError(err);
    errOut.note(`vault-ha ${name}: ${e.message}`);
    if (e.hint) errOut.note(`  hint: ${e.hint}`);
    if (e.exitCode === EXIT.usage && command && !(err instanceof Error && err.name === 'ConfigError')) errOut.note(`usage: vault-ha ${command.usage}`);
    if (e.exitCode === EXIT.usage && !command) errOut.note(USAGE);
    return e.exitCode;
  } finally {
    ctx?.destroy();
  }
}

export async function main(): Promise<void> {
  const color = process.stdout.isTTY === true && (process.env.NO_COLOR ?? '') === '' && process.env.TERM !== 'dumb';
  const code = await run(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, color });
  process.exitCode = code;
  // Every client is destroyed by now; this only guards against a leaked handle keeping the CLI alive.
  setTimeout(() => process.exit(code), 2_000).unref();
}
