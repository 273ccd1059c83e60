/**
 * The ASL `Retry`/`Catch` lists match errors by name, so the names in the
 * definitions and the error classes the task code throws must stay in sync:
 * - every ErrorEquals name (except Step Functions' own `States.*`, Lambda
 *   service errors `Lambda.*`, and service-integration errors `<Service>.<Name>`)
 *   is the `name` of an error class exported from functions/handlers/errors.ts;
 * - every error name a Pass state injects into `$.error` is such a name too;
 * - every error class exported there is matched by name somewhere;
 * - every service-integration name is one that Task's integration can really
 *   report on AWS (sandbox/stepfunctions/runner.ts names them as Step Functions
 *   does): e.g. never `Ec2.VolumeInUseException` (EC2 failures are all
 *   `Ec2.Ec2Exception`) and never `Sns.*` on the optimized `sns:publish`
 *   integration (it reports `SNS.*`).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import * as taskErrors from '../../functions/handlers/errors.js';
import { allStates, integrationErrorNames, integrationOf, loadDefinition, type SdkServiceName } from '../../sandbox/stepfunctions/runner.js';

const files = (await readdir('statemachines')).filter((f) => f.endsWith('.asl.yml'));
const definitions = await Promise.all(files.map(async (f) => ({ file: f, def: await loadDefinition(`statemachines/${f}`) })));

interface Use {
  file: string;
  state: string;
  name: string;
  via: 'Retry' | 'Catch' | 'Pass';
  /** The Task's Resource when it is a string (service integrations; Lambda tasks use Fn::GetAtt). */
  resource?: string;
}
const uses: Use[] = [];
for (const { file, def } of definitions) {
  for (const { name: state, state: s } of allStates(def)) {
    const resource = typeof s.Resource === 'string' ? s.Resource : undefined;
    for (const via of ['Retry', 'Catch'] as const) {
      for (const entry of (s[via] as Array<{ ErrorEquals: string[] }> | undefined) ?? []) {
        for (const name of entry.ErrorEquals) uses.push({ file, state, name, via, ...(resource ? { resource } : {}) });
      }
    }
    const injected = (s.Parameters as { Error?: unknown } | undefined)?.Error;
    if (s.Type === 'Pass' && typeof injected === 'string') uses.push({ file, state, name: injected, via: 'Pass' });
  }
}

/** Builds one instance to read its `name` (an instance field), trying argument shapes the constructors accept. */
function nameOf(cls: new (...args: never[]) => Error): string {
  const holder = { cluster: 'c', scope: 's', owner: 'o', acquiredAtMs: 0, expiresAtMs: 0 };
  const shapes: unknown[][] = [['x', 'x', ['x']], ['x', ['x']], [['x']], ['x', 'x', 'x', 'x'], [holder], ['x', { resource: 'r', code: 'c' }], ['x'], []];
  for (const args of shapes) {
    try {
      return (Reflect.construct(cls, args) as Error).name;
    } catch {
      // try the next shape
    }
  }
  throw new Error(`cannot instantiate ${cls.name}`);
}

const exportedNames = new Map<string, string>(
  Object.entries(taskErrors)
    .filter(([, v]) => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Error)
    .map(([exportName, cls]) => [nameOf(cls as new (...args: never[]) => Error), exportName]),
);

const isForeign = (name: string): boolean => name.startsWith('States.') || name.startsWith('Lambda.') || /^[A-Z][A-Za-z0-9]*\.[A-Za-z]/.test(name);

describe('error names shared by the ASL and the task code', () => {
  it('finds the definitions and their ErrorEquals lists', () => {
    assert.ok(files.includes('replace-node.asl.yml'));
    assert.ok(uses.length > 10);
  });

  it('exports error classes whose name equals their export name', () => {
    for (const [name, exportName] of exportedNames) assert.equal(name, exportName);
  });

  it('every task error named in a definition is an error class exported from functions/handlers/errors.ts', () => {
    const unknown = uses.filter((u) => !isForeign(u.name) && !exportedNames.has(u.name)).map((u) => `${u.file} ${u.state} ${u.via}: ${u.name}`);
    assert.deepEqual(unknown, []);
  });

  it('every service-integration error name is one its Task\'s integration can report (as Step Functions names them)', async () => {
    const wrong: string[] = [];
    const serviceNames = uses.filter((u) => isForeign(u.name) && !u.name.startsWith('States.') && !u.name.startsWith('Lambda.'));
    assert.ok(serviceNames.length > 0);
    for (const u of serviceNames) {
      const integration = u.resource ? integrationOf(u.resource) : undefined;
      if (!integration) {
        wrong.push(`${u.file} ${u.state} ${u.via}: ${u.name} on a Task that is no service integration`);
        continue;
      }
      const possible = await integrationErrorNames(integration.service as SdkServiceName, integration.kind);
      if (!possible.has(u.name)) wrong.push(`${u.file} ${u.state} ${u.via}: ${u.name} is never reported by ${u.resource}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('every exported task error class is matched by a Retry or Catch somewhere', () => {
    const matched = new Set(uses.filter((u) => u.via !== 'Pass').map((u) => u.name));
    // UnknownActionError marks a definition/code mismatch: it must fail the execution through
    // States.ALL (compensation), never be retried or handled specially.
    const unmatched = [...exportedNames.keys()].filter((n) => !matched.has(n) && n !== 'UnknownActionError');
    assert.deepEqual(unmatched, []);
  });
});
