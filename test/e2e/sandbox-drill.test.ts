/**
 * failover-drill end to end in the sandbox, every scenario as an operator
 * runs it: `npm start -- --scenario drill-<scenario> --fast` (a child process,
 * its exit code, its last stdout line). Each run uses the REAL state machine
 * definition and task code in the local ASL interpreter against the local
 * EC2/ELBv2/SSM endpoints, dynalite, simulated Vault nodes taking the
 * DynamoDB HA lock, the REAL controller re-routing the ALB, client requests
 * through the sandbox's listener, and — for terminate-active — the REAL
 * replace-node definition as the nested restore. The scenario's own checks
 * (sandbox/scenarios.ts drillScenario) read the world before the sandbox stops.
 *
 * Compressed timings (×8, the sandbox's cap for state-machine scenarios) keep
 * each run to a few seconds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, test } from '@jest/globals';
import { DRILL_PHASES } from '../../functions/core/drill.js';

const PHASE_ORDER: readonly string[] = DRILL_PHASES.map(([, name]) => name);

interface Run {
  code: number | null;
  stdout: string;
}

function cli(scenario: string, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'sandbox/cli.ts', '--scenario', scenario, '--fast'], { timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout });
    });
  });
}

interface ResultLine {
  scenario: string;
  passed: boolean;
  speed: number;
  executionStatus: string;
  result: string;
  rtoSeconds: number | null;
  maxRtoSeconds: number;
  routedRtoSeconds: number | null;
  clientRtoSeconds: number | null;
  realWorldRoutedRtoSeconds: number | null;
  realWorldClientRtoSeconds: number | null;
  failedRequests: number | null;
  drillPassed: boolean | null;
  restored: boolean | null;
  oldActive: string | null;
  newActive: string | null;
  maxRegisteredActives: number;
  maxRoutedActives: number;
  phases: Array<{ name: string; durationMs: number }>;
  checks?: Array<{ name: string; passed: boolean; detail: string }>;
}

function lastLine(run: Run): ResultLine {
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as ResultLine;
}

const SCENARIOS = ['kill-active', 'step-down', 'stop-active-instance', 'terminate-active', 'partition-clients', 'partition-storage', 'seal-active'] as const;

describe('failover-drill in the sandbox, every scenario through npm start (fast)', () => {
  for (const scenario of SCENARIOS) {
    test(`drill-${scenario}: passes, reports both RTOs within maxRtoSeconds, restores the node`, async () => {
      const run = await cli(`drill-${scenario}`, 120_000);
      const r = lastLine(run);
      const failed = run.stdout.split('\n').filter((l) => l.startsWith('FAIL')).join('\n');
      assert.equal(run.code, 0, failed || run.stdout.slice(-3000));
      // The run's timeline picture (issue 15): client success, verdict bands, workflow events.
      const picture = /timeline picture: (\S+\.svg)/.exec(run.stdout)?.[1];
      assert.ok(picture !== undefined, 'no timeline picture written');
      const svg = await readFile(picture, 'utf8');
      assert.match(svg, /^<svg/);
      assert.ok(existsSync(picture.replace(/\.svg$/, '.png')), 'no PNG beside the SVG');
      assert.equal(r.scenario, `drill-${scenario}`);
      assert.equal(r.passed, true, failed);
      assert.deepEqual([r.executionStatus, r.result, r.drillPassed, r.restored], ['SUCCEEDED', 'passed', true, true]);
      assert.ok(typeof r.routedRtoSeconds === 'number' && r.routedRtoSeconds > 0, `routed ${r.routedRtoSeconds}`);
      assert.ok(typeof r.clientRtoSeconds === 'number' && r.clientRtoSeconds >= 0 && r.clientRtoSeconds <= r.maxRtoSeconds, `client ${r.clientRtoSeconds}`);
      assert.equal(r.rtoSeconds, r.clientRtoSeconds, 'the judged RTO is the client-visible one');
      assert.equal(r.realWorldRoutedRtoSeconds, Math.round(r.routedRtoSeconds * r.speed * 1000) / 1000);
      assert.ok(typeof r.failedRequests === 'number');
      assert.ok(r.oldActive && r.newActive && r.oldActive !== r.newActive);
      assert.equal(r.maxRoutedActives, 1, 'never two actives routed');
      const names = r.phases.map((p) => p.name);
      assert.deepEqual(names, ['validate', 'acquire-lease', 'pre-check', 'inject-fault', 'observe-failover', 'restore', 'post-check', 'release-lease']);
      assert.deepEqual(
        names.map((n) => PHASE_ORDER.indexOf(n)),
        [...names.map((n) => PHASE_ORDER.indexOf(n))].sort((a, b) => a - b),
      );
    }, 150_000);
  }
});
