/**
 * Jest 30 in native ESM mode (`NODE_OPTIONS=--experimental-vm-modules`, set by
 * the npm scripts): TypeScript is stripped by @swc/jest into ES modules (no type
 * check here: `npm run typecheck` is its own step), and the `.js` specifiers of
 * relative imports resolve to the `.ts` sources, as under tsc's NodeNext.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * Interim, while the migration from node:test finishes: test files that still
 * import node:test run under `node --test` (scripts/test.mjs) and Jest leaves
 * them alone. Empty once every file is converted (scripts/to-jest.mjs).
 */
export function nodeTestFiles(dir = path.join(root, 'test')) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...nodeTestFiles(p));
    else if (e.name.endsWith('.test.ts') && /from\s+['"]node:test['"]/.test(readFileSync(p, 'utf8'))) out.push(p);
  }
  return out.sort();
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  // functions/ too: coverage must also count the files no test loads.
  roots: ['<rootDir>/test', '<rootDir>/functions'],
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...nodeTestFiles().map((f) => `^${escape(f)}$`)],
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  // `./x.js` in a relative import → `./x` (then `.ts` first, `.js` if that is what exists).
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript' },
          target: 'es2023',
          transform: { useDefineForClassFields: true, verbatimModuleSyntax: true },
        },
        module: { type: 'es6' },
        sourceMaps: 'inline',
      },
    ],
  },
  // Dummy AWS credentials and region before anything loads an SDK client
  // (globalSetup: for this process and so every worker and child process;
  // setupFiles: for each test file's environment), and a structuredClone that
  // returns objects of the test file's realm (test/jest-realm.ts).
  globalSetup: '<rootDir>/test/setup.ts',
  setupFiles: ['<rootDir>/test/setup.ts', '<rootDir>/test/jest-realm.ts'],
  // The end-to-end and sandbox tests take up to ~60 s each on a loaded 2-core machine.
  testTimeout: 180_000,
  // Files run in 2 parallel workers; the tests of one file run in order.
  maxWorkers: 2,
  restoreMocks: true,
  collectCoverageFrom: ['functions/**/*.ts', '!**/*.d.ts'],
  coverageProvider: 'v8',
  coverageDirectory: 'coverage',
  coverageReporters: ['text-summary', 'json-summary', 'json', 'lcov'],
  coverageThreshold: {
    // A directory key is checked over all its files together.
    './functions/': { lines: 85, branches: 85 },
    './functions/core/': { lines: 95, branches: 95 },
  },
};
