/**
 * `npm start` as a newcomer runs it: a child process, its exit code and its
 * last stdout line (the scenario's JSON result).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
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
});
