#!/usr/bin/env node
/**
 * The test run behind `npm test` (after the type check):
 *
 *   node scripts/test.mjs [PATH...] [-- JEST_ARGS...]
 *
 * Jest runs every converted test file, with coverage and its thresholds
 * (jest.config.mjs) when no PATH is given; coverage goes to coverage/ and a
 * summary per folder of functions/ is printed. Interim, while the migration
 * from node:test finishes: files that still import node:test (the list
 * jest.config.mjs ignores) run under `node --test` afterwards, so the suite
 * stays complete. The last line is `N passed, N failed` (both runners added
 * up); the exit code is non-zero on any failed test, a file that did not load,
 * or a coverage threshold missed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { nodeTestFiles } from '../jest.config.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

// aws-local-stepfunctions needs Node 22 (Promise.withResolvers); npm scripts run the
// project's own Node 22 from node_modules/.bin, a bare `node` here may be older.
if (Number(process.versions.node.split('.')[0]) < 22) {
  console.error(`scripts/test.mjs needs Node 22 or later (this is ${process.version}): run it as \`npm test\``);
  process.exit(1);
}

const argv = process.argv.slice(2);
const dashdash = argv.indexOf('--');
const paths = dashdash < 0 ? argv : argv.slice(0, dashdash);
const jestArgs = dashdash < 0 ? [] : argv.slice(dashdash + 1);
const whole = paths.length === 0;

function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'vault-ha-test-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/* ------------------------------------------------------------------ jest */

const jestJson = path.join(tmp, 'jest.json');
const jestBin = require.resolve('jest/bin/jest');
const nodeOptions = [process.env.NODE_OPTIONS, '--experimental-vm-modules', '--disable-warning=ExperimentalWarning'].filter(Boolean).join(' ');
const jestCode = await run(
  process.execPath,
  [jestBin, ...(whole ? ['--coverage'] : []), '--json', `--outputFile=${jestJson}`, ...jestArgs, ...paths],
  { NODE_OPTIONS: nodeOptions },
);
let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(jestJson)) {
  const r = JSON.parse(readFileSync(jestJson, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  skipped += r.numPendingTests + r.numTodoTests;
} else {
  failed += 1; // Jest did not get as far as writing its results
}

if (whole && existsSync(path.join(root, 'coverage/coverage-summary.json'))) {
  const summary = JSON.parse(readFileSync(path.join(root, 'coverage/coverage-summary.json'), 'utf8'));
  const folders = new Map();
  for (const [file, s] of Object.entries(summary)) {
    if (file === 'total') continue;
    const rel = path.relative(root, file).split(path.sep);
    for (const folder of ['functions', rel.slice(0, 2).join('/')]) {
      const f = folders.get(folder) ?? { lines: [0, 0], branches: [0, 0], functions: [0, 0] };
      for (const k of ['lines', 'branches', 'functions']) {
        f[k][0] += s[k].covered;
        f[k][1] += s[k].total;
      }
      folders.set(folder, f);
    }
  }
  const pct = ([c, t]) => (t === 0 ? '100.00' : ((100 * c) / t).toFixed(2)).padStart(7);
  console.log('\nCoverage by folder (full report: coverage/lcov-report/index.html)');
  console.log(`${'folder'.padEnd(22)}  lines %  branches %  functions %`);
  for (const [folder, f] of [...folders].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`${folder.padEnd(22)}  ${pct(f.lines)}  ${pct(f.branches).padStart(10)}  ${pct(f.functions).padStart(11)}`);
  }
}

/* ------------------------------------------- interim: files on node:test */

const pending = nodeTestFiles()
  .map((f) => path.relative(root, f))
  .filter((f) => whole || paths.some((p) => f === path.normalize(p) || f.startsWith(path.normalize(p).replace(/\/?$/, '/'))));
let nodeCode = 0;
if (pending.length > 0) {
  console.log(`\n${pending.length} test file(s) not yet converted to Jest, run with node --test:\n  ${pending.join('\n  ')}\n`);
  const tap = path.join(tmp, 'node-test.tap');
  nodeCode = await run(process.execPath, [
    '--import', 'tsx', '--import', './test/setup.ts',
    '--test', '--test-concurrency=2', '--test-timeout=180000',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tap}`,
    ...pending,
  ]);
  const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
  const count = (key) => Number(new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  if (!text) failed += 1;
  passed += count('pass');
  failed += count('fail') + count('cancelled');
  skipped += count('skipped') + count('todo');
}

console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = jestCode !== 0 || nodeCode !== 0 || failed > 0 ? 1 : 0;
