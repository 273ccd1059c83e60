/**
 * `npm start` — the sandbox from the command line.
 *
 *   npm start                               live view of a 3-node cluster (DynamoDB HA)
 *   npm start -- --ha raft                  the same with integrated storage
 *   npm start -- --scenario kill-active     one scripted scenario; last line is a JSON result
 *   npm start -- --fast                     compressed timings (×20)
 *
 * Ctrl-C (or q) stops everything and restores the terminal.
 */
import { createInterface, type Interface } from 'node:readline';
import { Sandbox, type SandboxView, type TimelineEvent } from './environment.js';
import { REPLACE_NODE_MAX_SPEED, SCENARIOS, formatTimeline, isDrillScenario, isReplaceNodeScenario, isScenarioName, runScenario } from './scenarios.js';
import { renderView, formatEvent } from './view.js';
// vault-ha operator CLI (cli/vault-ha.ts) against this sandbox: see "--- operator CLI ---" in runLive.
import { startOperatorEndpoints, type OperatorEndpoints } from './operator-endpoints.js';
import { formatEnv, removeSandboxConnection, writeSandboxConnection } from '../cli/lib/sandbox-connection.js';

interface CliArgs {
  ha: 'dynamodb' | 'raft';
  scenario?: string;
  fast: boolean;
  speed?: number;
  help: boolean;
}

export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
  constructor(readonly argument: string, message: string) {
    super(message);
  }
}

export const USAGE = `usage: npm start -- [--ha dynamodb|raft] [--scenario <name>] [--fast] [--speed <n>] [--help]

  (no --scenario)   start the sandbox and show the live view; keys act on the selected node
  --scenario <name> run one scenario end to end and exit 0 iff it passed; the last
                    stdout line is its JSON result. Scenarios: ${SCENARIOS.join(', ')}
                    replace-node runs the real replace-node state machine; its -launch-fails
                    (RunInstances: InsufficientInstanceCapacity) and -unseal-fails (unseal shares
                    deleted from Parameter Store) variants pass when the execution FAILS and
                    compensates; their JSON line says where the data volume is
  --ha              HA model of the simulated cluster (default dynamodb)
  --fast            compress every timing (Vault lock, ALB, EC2, controller) by --speed (default 20)
  --help            this text

Without a TTY on stdin the live view reads line commands instead of keys:
  select <a|b|c>, kill <node>, step-down <node>, partition <node>, storage <node>, seal <node>,
  unseal <node>, force <node>, stop <node>, start <node>, start-vault <node>, replace <node>, blind, quit`;

export function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { ha: 'dynamodb', fast: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new CliUsageError(a, `${a} needs a value`);
      return v;
    };
    if (a === '--help' || a === '-h') args.help = true;
    else if (a === '--fast') args.fast = true;
    else if (a === '--ha') {
      const v = value();
      if (v !== 'dynamodb' && v !== 'raft') throw new CliUsageError(a, `--ha must be dynamodb or raft, not ${v}`);
      args.ha = v;
    } else if (a === '--scenario') {
      const v = value();
      if (!isScenarioName(v)) throw new CliUsageError(a, `unknown scenario "${v}" (known: ${SCENARIOS.join(', ')})`);
      args.scenario = v;
    } else if (a === '--speed') {
      const v = Number(value());
      if (!Number.isFinite(v) || v < 1 || v > 100) throw new CliUsageError(a, '--speed must be a number between 1 and 100');
      args.speed = v;
    } else throw new CliUsageError(a, `unknown argument ${a}`);
  }
  return args;
}

async function runScenarioCli(args: CliArgs): Promise<number> {
  const name = args.scenario!;
  const speed = isScenarioName(name) && (isReplaceNodeScenario(name) || isDrillScenario(name)) ? Math.min(args.speed ?? 20, REPLACE_NODE_MAX_SPEED) : (args.speed ?? 20);
  console.log(`scenario ${name} (${args.ha}, ${args.fast ? `timings compressed ×${speed}` : "Vault's real timings"}) …`);
  const run = await runScenario(name, { ha: args.ha, fast: args.fast, ...(args.speed !== undefined ? { speed: args.speed } : {}) });
  for (const line of formatTimeline(run.timeline)) console.log(line);
  console.log('');
  for (const c of run.result.checks) console.log(`${c.passed ? 'PASS' : 'FAIL'}  ${c.name} — ${c.detail}`);
  const { checks: _checks, ...figures } = run.result;
  void _checks;
  console.log(JSON.stringify({ ...figures, failed: run.result.checks.filter((c) => !c.passed).map((c) => c.name) }));
  return run.result.passed ? 0 : 1;
}

/* ------------------------------------------------------------------ live view */

type Action = (sb: Sandbox, slot: string) => Promise<unknown> | unknown;

const KEY_ACTIONS: Record<string, { label: string; run: Action }> = {
  k: { label: 'kill Vault', run: (sb, s) => sb.killVault(s) },
  s: { label: 'step-down (SSM)', run: (sb, s) => sb.stepDown(s) },
  p: { label: 'toggle client partition', run: (sb, s) => sb.partitionClients(s, sb.slot(s).node.status().clientPartition === 'none') },
  o: { label: 'toggle storage partition', run: (sb, s) => sb.partitionStorage(s, !sb.slot(s).node.status().storagePartitioned) },
  z: { label: 'seal', run: (sb, s) => sb.seal(s) },
  u: { label: 'unseal (SSM PrepareNode)', run: (sb, s) => sb.unseal(s) },
  f: { label: 'toggle force active', run: (sb, s) => sb.forceActive(s, !sb.slot(s).node.status().forcedActive) },
  x: { label: 'stop instance (EC2)', run: (sb, s) => sb.stopInstance(s) },
  r: { label: 'start instance (EC2)', run: (sb, s) => sb.startInstance(s) },
  v: { label: 'start Vault (SSM)', run: (sb, s) => sb.startVault(s) },
  n: { label: "toggle the controller's network path", run: (sb) => sb.setControllerBlind(!sb.controllerBlind) },
  R: {
    label: 'replace-node (state machine)',
    run: async (sb, s) => {
      const r = await sb.replaceNode(s, { reason: 'sandbox live view' });
      if (r.status !== 'SUCCEEDED') throw new Error(`${r.error ?? 'failed'}: ${(r.cause ?? '').slice(0, 200)}`);
    },
  },
};

const LINE_COMMANDS: Record<string, string> = {
  kill: 'k',
  'step-down': 's',
  partition: 'p',
  storage: 'o',
  seal: 'z',
  unseal: 'u',
  force: 'f',
  stop: 'x',
  start: 'r',
  'start-vault': 'v',
  blind: 'n',
  replace: 'R',
};

async function runLive(args: CliArgs): Promise<number> {
  const t0 = Date.now();
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  let firstHealthyAfterMs: number | undefined;
  let status = 'starting…';
  let selected = 'vault-a';
  const sb = new Sandbox({
    ha: args.ha,
    fast: args.fast,
    ...(args.speed !== undefined ? { speed: args.speed } : {}),
    // Without a TTY the frame comes every 5 s; events stream as they happen.
    ...(tty ? {} : { onTimeline: (e: TimelineEvent) => console.log(formatEvent(e)) }),
  });
  let stopping: Promise<void> | undefined;
  let lineReader: Interface | undefined;
  let frameTimer: NodeJS.Timeout | undefined;
  let operator: OperatorEndpoints | undefined;
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (resolveDone = r));

  const restoreTerminal = (): void => {
    if (tty) {
      process.stdin.setRawMode(false);
      process.stdout.write('\x1b[?25h\n');
    }
  };
  const shutdown = (code: number): Promise<void> => {
    stopping ??= (async () => {
      if (frameTimer) clearInterval(frameTimer);
      process.stdin.removeAllListeners('data');
      lineReader?.close();
      process.stdin.pause();
      restoreTerminal();
      console.log('stopping the sandbox…');
      await operator?.stop();
      await removeSandboxConnection();
      await sb.stop();
      console.log('stopped: no server, socket or timer left.');
      resolveDone(code);
    })();
    return stopping;
  };
  const onSignal = (): void => void shutdown(0);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let lastPlainFrameMs = 0;
  const draw = (): void => {
    if (stopping) return;
    const view: SandboxView = sb.view();
    if (firstHealthyAfterMs === undefined && view.verdict === 'healthy') firstHealthyAfterMs = Date.now() - t0;
    const frame = renderView(view, {
      selected,
      color: tty,
      status,
      tickIntervalMs: sb.tickIntervalMs,
      ...(firstHealthyAfterMs !== undefined ? { firstHealthyAfterMs } : {}),
      width: process.stdout.columns ?? 120,
    });
    if (tty) process.stdout.write(`\x1b[H\x1b[2J\x1b[?25l${frame}\n`);
    else if (Date.now() - lastPlainFrameMs >= 5_000) {
      lastPlainFrameMs = Date.now();
      process.stdout.write(`${frame}\n\n`);
    }
  };

  const act = (key: string): void => {
    if (key === 'q' || key === '\u0003') {
      void shutdown(0);
      return;
    }
    const letter = /^[a-e]$/.test(key) && !KEY_ACTIONS[key] ? key : undefined;
    if (letter !== undefined) {
      const slot = `vault-${letter}`;
      if (sb.slots.some((s) => s.name === slot)) selected = slot;
      status = `selected ${selected}`;
      draw();
      return;
    }
    const action = KEY_ACTIONS[key];
    if (!action) return;
    const target = selected;
    status = `${action.label} ${target}…`;
    draw();
    Promise.resolve()
      .then(() => action.run(sb, target))
      .then(
        () => (status = `${action.label} ${target}: done`),
        (err: unknown) => (status = `${action.label} ${target}: failed — ${err instanceof Error ? err.message : String(err)}`),
      )
      .finally(() => {
        if (!tty) console.log(status);
        draw();
      });
  };

  try {
    await sb.start();
  } catch (err) {
    await shutdown(1);
    throw err;
  }
  status = `started in ${((Date.now() - t0) / 1000).toFixed(1)} s`;
  // --- operator CLI: the Step Functions and STS endpoints `vault-ha` needs, and how to point it here ---
  try {
    operator = await startOperatorEndpoints(sb);
    const files = await writeSandboxConnection(operator.cliEnv);
    console.log(
      `\nOperator CLI against this sandbox, from another terminal in this repository:\n  npx vault-ha --sandbox status\n` +
        `or with the AWS SDK's standard variables (\`source ${files.envFile}\`):\n${formatEnv(operator.cliEnv)}\n  npx vault-ha status\n`,
    );
    status += ' — operator CLI: npx vault-ha --sandbox status';
  } catch (err) {
    console.error(`the operator CLI endpoints did not start (${err instanceof Error ? err.message : String(err)}); the sandbox runs without them`);
  }
  // --- end operator CLI ---
  if (tty) {
    process.stdin.setRawMode(true);
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      for (const ch of chunk) act(ch);
    });
    process.stdin.resume();
  } else {
    lineReader = createInterface({ input: process.stdin });
    lineReader.on('line', (line) => {
      const [cmd = '', node] = line.trim().split(/\s+/);
      if (cmd === '') return;
      if (cmd === 'quit' || cmd === 'q') return act('q');
      if (node !== undefined) act(node.replace(/^vault-/, ''));
      if (cmd === 'select') return;
      const key = LINE_COMMANDS[cmd];
      if (key) act(key);
      else console.log(`unknown command: ${cmd}`);
    });
    // End of input (e.g. a closed pipe) is not a quit: Ctrl-C / SIGTERM is.
  }
  draw();
  frameTimer = setInterval(draw, 1_000);
  const code = await done;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return code;
}

async function main(): Promise<number> {
  let args: CliArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof CliUsageError) {
      console.error(err.message);
      console.error(USAGE);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  return args.scenario !== undefined ? runScenarioCli(args) : runLive(args);
}

main().then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; this only reports a leak instead of hanging forever.
    setTimeout(() => {
      console.error('warning: handles still open 10 s after the sandbox stopped; exiting anyway');
      process.exit(code);
    }, 10_000).unref();
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
