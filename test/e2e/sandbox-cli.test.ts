/**
 * `npm start` as a newcomer runs it: a child process, its exit code and its
 * last stdout line (the scenario's JSON result).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { describe, test } from '@jest/globals';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'sandbox/cli.ts', ...args], { timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The live view in line mode (stdin a pipe), driven line by line; every wait bounded. */
class LiveCli {
  private out = '';
  private done = false;
  private readonly exited: Promise<number | null>;
  private readonly child;
  constructor(args: string[]) {
    this.child = spawn('npx', ['tsx', 'sandbox/cli.ts', ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code) => {
        this.done = true;
        resolve(code);
      }),
    );
  }
  get output(): string {
    return this.out;
  }
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }
  /** Resolves when `re` matches the output after `from`; fails after `timeoutMs`. */
  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = re.exec(this.out.slice(from));
      if (m) return m[0];
      if (this.done) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no ${re} within ${timeoutMs} ms${this.done ? ' (the CLI exited)' : ''}; output:\n${this.out.slice(-4000)}`);
  }
  async quit(timeoutMs: number): Promise<number | null> {
    if (!this.done) this.send('quit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

describe('sandbox CLI', () => {
  test('--scenario steady --fast exits 0 and ends with a JSON result that passed', async () => {
    const run = await cli(['--scenario', 'steady', '--fast'], 90_000);
    assert.equal(run.code, 0, run.stderr || run.stdout);
    const lines = run.stdout.trimEnd().split('\n');
    const result = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    assert.equal(result.scenario, 'steady');
    assert.equal(result.passed, true);
    assert.equal(typeof result.ticks, 'number');
    assert.equal(result.maxRegisteredActives, 1);
    assert.equal(result.maxRoutedActives, 1);
    assert.ok(lines.some((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/.test(l)), 'a timeline with ISO timestamps');
  });

  test('--scenario replace-node-launch-fails --fast exits 0 (the failure was expected) and its last line says where the volume is', async () => {
    const run = await cli(['--scenario', 'replace-node-launch-fails', '--fast'], 120_000);
    assert.equal(run.code, 0, run.stderr || run.stdout);
    const result = JSON.parse(run.stdout.trimEnd().split('\n').at(-1)!) as {
      passed?: unknown;
      executionStatus?: unknown;
      error?: { name?: unknown; message?: unknown };
      volume?: { volumeId?: unknown; location?: unknown };
      compensation?: unknown;
      nextSteps?: unknown;
      phases?: Array<{ name?: unknown; durationMs?: unknown }>;
      transitions?: unknown;
    };
    assert.equal(result.passed, true);
    assert.equal(result.executionStatus, 'FAILED');
    assert.equal(typeof result.error?.name, 'string');
    assert.match(String(result.error?.message), /InsufficientInstanceCapacity/);
    assert.match(String(result.volume?.volumeId), /^vol-/);
    assert.equal(typeof result.volume?.location, 'string');
    assert.ok(Array.isArray(result.compensation));
    assert.ok(Array.isArray(result.nextSteps) && result.nextSteps.length > 0);
    assert.ok(Array.isArray(result.phases) && result.phases.every((p) => typeof p.name === 'string' && typeof p.durationMs === 'number'));
    assert.equal(typeof result.transitions, 'number');
  });

  test('an unknown scenario is a usage error (exit 2) naming the known ones', async () => {
    const run = await cli(['--scenario', 'nope'], 30_000);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown scenario "nope"/);
    assert.match(run.stderr, /kill-active/);
  });

  test('line mode: --speed alone compresses the timings; kill x and unknown commands are refused and change nothing; a refusal is said once, whole', async () => {
    const live = new LiveCli(['--speed', '10']);
    try {
      await live.waitFor(/timings compressed ×10/, 60_000);
      await live.waitFor(/verdict {3}healthy/, 60_000);
      const before = live.output.length;
      live.send('kill x');
      live.send('foo b');
      await live.waitFor(/refused: unknown command "foo"/, 10_000, before);
      assert.match(live.output.slice(before), /refused: unknown node "x"/);
      // The replacement of the active is refused (it is the legitimate active and not forced).
      const beforeReplace = live.output.length;
      live.send('replace a');
      const failed = await live.waitFor(/replace-node \(state machine\) vault-a: failed — .*/, 60_000, beforeReplace);
      assert.match(failed, /refused to replace slot vault-a of sandbox: i-[0-9a-f]+ is the legitimate active/);
      assert.equal(failed.match(/refused to replace/g)?.length, 1, failed);
      assert.doesNotMatch(failed, /…$|\{"kind"/, 'whole and readable, not a cut JSON document');
      // A frame later, the refusal is not repeated.
      await live.waitFor(/recent events/, 15_000, live.output.indexOf(failed) + failed.length);
      const after = live.output.slice(beforeReplace);
      assert.equal(after.split(failed).length - 1, 1, 'the refusal is printed once');
      // Neither "kill x" (the x key stops an instance) nor "foo b" (b would select vault-b) did anything.
      const sinceCommands = live.output.slice(before);
      assert.doesNotMatch(sinceCommands, /StopInstances|kill -9|selected vault-b/);
      assert.equal(await live.quit(30_000), 0, live.output.slice(-3000));
      assert.match(live.output, /stopped: no server, socket or timer left\./);
    } finally {
      await live.quit(5_000).catch(() => undefined);
    }
  });
});
