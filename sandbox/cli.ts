/**
 * `npm start` — the sandbox from the command line.
 *
 *   npm start                               live view of a 3-node cluster (DynamoDB HA)
 *   npm start -- --ha raft                  the same with integrated storage
 *   npm start -- --ha none                  storage whose lock the controller cannot read (haLock "none")
 *   npm start -- --lb classic               behind a Classic Load Balancer (or nlb-ip: an NLB with ip targets)
 *   npm start -- --scenario kill-active     one scripted scenario; last line is a JSON result
 *   npm start -- --fast                     compressed timings (×20)
 *   npm start -- --speed 8                  compressed timings (×8; implies --fast)
 *
 * Ctrl-C (or q) stops everything and restores the terminal.
 */
import os from 'node:os';
import path from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { SANDBOX_BALANCERS, Sandbox, type SandboxBalancer, type SandboxHa, type TimelineEvent } from './environment.js';
import { REPLACE_NODE_MAX_SPEED, SCENARIOS, formatTimeline, isDrillScenario, isReplaceNodeScenario, isScenarioName, runScenario } from './scenarios.js';
import { currentPhase, parseLineCommand, renderView, formatEvent, workflowFailure, type LiveView, type WorkflowView } from './view.js';
import { SANDBOX_STAGE, stateMachineName } from '../cli/lib/stack.js';
// vault-ha operator CLI (cli/vault-ha.ts) against this sandbox: see "--- operator CLI ---" in runLive.
import { startOperatorEndpoints, type OperatorEndpoints } from './operator-endpoints.js';
import { formatEnv, removeSandboxConnection, writeSandboxConnection } from '../cli/lib/sandbox-connection.js';

interface CliArgs {
  ha: SandboxHa;
  lb: SandboxBalancer;
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

export const USAGE = `usage: npm start -- [--ha dynamodb|raft|none] [--lb alb|nlb-ip|classic] [--scenario <name>] [--fast] [--speed <n>] [--help]

  (no --scenario)   start the sandbox and show the live view; keys act on the selected node
  --scenario <name> run one scenario end to end and exit 0 iff it passed; the last
                    stdout line is its JSON result. Scenarios: ${SCENARIOS.join(', ')}
                    replace-node runs the real replace-node state machine; its -launch-fails
                    (RunInstances: InsufficientInstanceCapacity) and -unseal-fails (unseal shares
                    deleted from Parameter Store) variants pass when the execution FAILS and
                    compensates; their JSON line says where the data volume is
  --ha              HA model of the simulated cluster (default dynamodb); none: the nodes keep a
                    DynamoDB lock but the controller runs with haLock "none" (MySQL, Consul... storage)
  --lb              load balancer: alb (target group of instances, default), nlb-ip (NLB target
                    group of ip targets) or classic (Classic Load Balancer)
  --fast            compress every timing (Vault lock, ALB, EC2, controller) by --speed (default 20)
  --speed <n>       the compression factor, 1-100; implies --fast (--speed 1: Vault's real timings)
  --help            this text

Without a TTY on stdin the live view reads line commands instead of keys (<node>: a, b, c or vault-a, ...;
without one, the selected node):
  select <node>, kill <node>, step-down <node>, partition <node>, storage <node>, seal <node>,
  unseal <node>, force <node>, stop <node>, start <node>, start-vault <node>, replace <node>, blind, quit
A line that is not one of these is refused and changes nothing.`;

export function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { ha: 'dynamodb', lb: 'alb', fast: false, help: false };
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
      if (v !== 'dynamodb' && v !== 'raft' && v !== 'none') throw new CliUsageError(a, `--ha must be dynamodb, raft or none, not ${v}`);
      args.ha = v;
    } else if (a === '--lb') {
      const v = value();
      if (!(SANDBOX_BALANCERS as readonly string[]).includes(v)) throw new CliUsageError(a, `--lb must be ${SANDBOX_BALANCERS.join(', ')}, not ${v}`);
      args.lb = v as SandboxBalancer;
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
  // A speed is only ever given to compress the timings: --speed alone means --fast at that speed
  // (without --fast it used to be ignored silently).
  if (args.speed !== undefined) args.fast = true;
  return args;
}

async function runScenarioCli(args: CliArgs): Promise<number> {
  const name = args.scenario!;
  const speed = isScenarioName(name) && (isReplaceNodeScenario(name) || isDrillScenario(name)) ? Math.min(args.speed ?? 20, REPLACE_NODE_MAX_SPEED) : (args.speed ?? 20);
  console.log(`scenario ${name} (${args.ha}, ${args.lb}, ${args.fast ? `timings compressed ×${speed}` : "Vault's real timings"}) …`);
  // Drill and replace-node runs also draw their timeline (client success, verdicts, workflow events).
  const timelineDir = path.join(os.tmpdir(), 'vault-ha-sandbox');
  const run = await runScenario(name, { ha: args.ha, lb: args.lb, fast: args.fast, timelineDir, ...(args.speed !== undefined ? { speed: args.speed } : {}) });
  for (const line of formatTimeline(run.timeline)) console.log(line);
  console.log('');
  if (run.timelineFiles) console.log(`timeline picture: ${run.timelineFiles.svg} (and .png)`);
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


/**
 * The replace-node and failover-drill executions of the sandbox's Step
 * Functions endpoint (those R starts and those an operator starts with
 * `vault-ha replace|drill`): listed at most once a second, their phase read
 * from the run's own history. Bounded: at most 20 followed at once.
 */
class WorkflowWatch {
  private readonly sfn: SFNClient;
  private readonly known = new Map<string, { label: string; startMs: number }>();
  private polling = false;
  private lastPollMs = 0;

  constructor(
    private readonly operator: OperatorEndpoints,
    region: string,
  ) {
    this.sfn = new SFNClient({ region, endpoint: operator.sfn.url, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 1 });
  }

  private machines(): Array<{ kind: 'replace-node' | 'failover-drill'; arn: string }> {
    return (['replace-node', 'failover-drill'] as const).map((kind) => ({ kind, arn: this.operator.sfn.stateMachineArn(stateMachineName(SANDBOX_STAGE, kind)) }));
  }

  /** Starts replace-node for `slot` over the API, so `vault-ha status` in another terminal sees it too. */
  async startReplaceNode(slot: string): Promise<string> {
    const machine = this.machines()[0]!;
    const out = await this.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: machine.arn,
        name: `sandbox-view-${slot}-${Date.now()}`,
        input: JSON.stringify({ cluster: 'sandbox', slot, reason: 'sandbox live view' }),
      }),
    );
    const arn = out.executionArn!;
    this.known.set(arn, { label: `replace-node ${slot}`, startMs: Date.now() });
    return arn;
  }

  async waitFor(arn: string): Promise<{ status: string; reason?: string }> {
    const status = await this.operator.sfn.waitFor(arn);
    const e = this.operator.sfn.execution(arn);
    return status === 'SUCCEEDED' ? { status } : { status, reason: workflowFailure(e?.error, e?.cause) };
  }

  /** Refreshes the list in the background, one poll at a time; `views()` reads it. */
  poll(nowMs = Date.now()): void {
    if (this.polling || nowMs - this.lastPollMs < 1_000) return;
    this.polling = true;
    this.lastPollMs = nowMs;
    void (async () => {
      for (const m of this.machines()) {
        const out = await this.sfn.send(new ListExecutionsCommand({ stateMachineArn: m.arn, statusFilter: 'RUNNING', maxResults: 10 }));
        for (const e of out.executions ?? []) {
          if (!e.executionArn || this.known.has(e.executionArn) || this.known.size >= 20) continue;
          const d = await this.sfn.send(new DescribeExecutionCommand({ executionArn: e.executionArn }));
          const input = JSON.parse(d.input ?? '{}') as { slot?: unknown; scenario?: unknown };
          const what = m.kind === 'replace-node' ? input.slot : input.scenario;
          this.known.set(e.executionArn, { label: `${m.kind} ${typeof what === 'string' ? what : (e.name ?? '')}`, startMs: e.startDate?.getTime() ?? Date.now() });
        }
      }
    })()
      .catch(() => undefined)
      .finally(() => {
        this.polling = false;
      });
  }

  /** The running ones, with their phase; ended runs are dropped (their result is the action's status). */
  views(nowMs = Date.now()): WorkflowView[] {
    const out: WorkflowView[] = [];
    for (const [arn, k] of this.known) {
      const e = this.operator.sfn.execution(arn);
      if (e && e.status !== 'RUNNING') {
        this.known.delete(arn);
        continue;
      }
      out.push({ label: k.label, status: 'RUNNING', elapsedMs: Math.max(0, nowMs - k.startMs), ...currentPhase(e?.history ?? [], nowMs) });
    }
    return out;
  }

  destroy(): void {
    this.sfn.destroy();
  }
}

/** What the live view shows: the sandbox's view, the lock item as the controller last read it, each node's lock identity, the workflows. */
function liveView(sb: Sandbox, workflows: WorkflowView[]): LiveView {
  const view = sb.view();
  const lock = sb.controller?.ticks.findLast((t) => t.report !== undefined)?.report?.clusters[0]?.lock;
  return {
    ...view,
    ...(lock ? { lock } : {}),
    lockIdentities: Object.fromEntries(sb.slots.map((s) => [s.name, s.node.status().lockIdentity])),
    workflows,
  };
}

async function runLive(args: CliArgs): Promise<number> {
  const t0 = Date.now();
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  let firstHealthyAfterMs: number | undefined;
  let status = 'starting…';
  let selected = 'vault-a';
  const sb = new Sandbox({
    ha: args.ha,
    lb: args.lb,
    fast: args.fast,
    ...(args.speed !== undefined ? { speed: args.speed } : {}),
    // Without a TTY the frame comes every 5 s; events stream as they happen.
    ...(tty ? {} : { onTimeline: (e: TimelineEvent) => console.log(formatEvent(e)) }),
  });
  let stopping: Promise<void> | undefined;
  let lineReader: Interface | undefined;
  let frameTimer: NodeJS.Timeout | undefined;
  let operator: OperatorEndpoints | undefined;
  let workflows: WorkflowWatch | undefined;
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
      workflows?.destroy();
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
  let lastWorkflowLine = '';
  const draw = (): void => {
    if (stopping) return;
    workflows?.poll();
    const view = liveView(sb, workflows?.views() ?? []);
    if (firstHealthyAfterMs === undefined && view.verdict === 'healthy') firstHealthyAfterMs = Date.now() - t0;
    if (!tty) {
      // Line mode prints a running workflow's phase once, when it changes (frames come every 5 s only).
      const line = (view.workflows ?? []).map((w) => (w.phase ? `${w.label}: ${w.phase}` : `${w.label}: starting`)).join('; ');
      if (line !== lastWorkflowLine && line !== '') console.log(`workflow  ${line}`);
      lastWorkflowLine = line;
    }
    const frame = renderView(view, {
      selected,
      color: tty,
      // Line mode printed the action's result once, whole, when it came: frames do not repeat it.
      ...(tty ? { status } : {}),
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

  const act = (key: string, slot?: string): void => {
    if (key === 'q' || key === '\u0003') {
      void shutdown(0);
      return;
    }
    const letter = /^[a-e]$/.test(key) && !KEY_ACTIONS[key] ? key : undefined;
    if (letter !== undefined) {
      const chosen = `vault-${letter}`;
      if (sb.slots.some((s) => s.name === chosen)) selected = chosen;
      status = `selected ${selected}`;
      draw();
      return;
    }
    const action = KEY_ACTIONS[key];
    if (!action) return;
    const target = slot ?? selected;
    status = `${action.label} ${target}…`;
    draw();
    // R over the sandbox's Step Functions API when it runs: the view follows its phase, vault-ha sees it.
    const run = key === 'R' && workflows ? replaceOverApi(workflows, target) : Promise.resolve().then(() => action.run(sb, target));
    run
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
    workflows = new WorkflowWatch(operator, sb.aws.world.region);
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
      const c = parseLineCommand(line, sb.slots.map((s) => s.name));
      if (c.kind === 'none') return;
      if (c.kind === 'quit') return act('q');
      if (c.kind === 'refused') return void console.log(`refused: ${c.message}`);
      if (c.kind === 'select') {
        selected = c.slot;
        status = `selected ${selected}`;
        console.log(status);
        return;
      }
      act(c.key, c.slot);
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

/** R over the sandbox's Step Functions API; a failure says why, whole (the report's outcome, not a cut JSON). */
async function replaceOverApi(watch: WorkflowWatch, slot: string): Promise<void> {
  const arn = await watch.startReplaceNode(slot);
  const r = await watch.waitFor(arn);
  if (r.status !== 'SUCCEEDED') throw new Error(`${r.status}: ${r.reason ?? ''}`);
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

// Run as the program (`npm start`), not when a test imports the parsers above.
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) main().then(
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
