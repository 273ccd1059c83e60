/**
 * A Task's TimeoutSeconds against the timeout of the Lambda function it runs,
 * read from serverless.yml (the source the packaged template is built from).
 *
 * When a Task state times out, Step Functions moves on (here: to compensation)
 * but does not stop the invocation: a function that runs longer than its state
 * can still stop, terminate or attach after the workflow has undone its work.
 * So every Lambda Task must wait longer than the function can possibly run:
 * its timeout plus Lambda's init phase, which is limited to 10 s and, when it
 * overruns, is retried inside the invocation (AWS Lambda docs, "Understanding
 * the Lambda execution environment lifecycle", Init phase). A Task without
 * TimeoutSeconds waits 99999999 s (ASL spec, Task state), so every Task sets
 * one, and each definition bounds the whole execution with its own
 * TimeoutSeconds above its longest bounded path.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, type Tags } from 'yaml';
import { allStates, loadDefinition, type AslDefinition } from '../../sandbox/stepfunctions/runner.js';
import { totalWaitSeconds, waitBudgets } from '../../functions/core/replacement.js';
import { observeBudget, postCheckBudget, restoreBudget } from '../../functions/core/drill.js';
import type { ClusterConfig } from '../../functions/config/schema.js';

/** Lambda's init phase limit (seconds): an invocation can last this much longer than the function timeout. */
const LAMBDA_INIT_SECONDS = 10;
/** Serverless Framework's default function timeout when neither the function nor the provider sets one. */
const SERVERLESS_DEFAULT_TIMEOUT_SECONDS = 6;

/** CloudFormation short-form intrinsics (`!Sub`, `!GetAtt`, `!Split` ...) as their long forms, for scalars, lists and maps. */
const INTRINSICS = ['Ref', 'Condition', 'Sub', 'GetAtt', 'Split', 'Join', 'Select', 'If', 'Equals', 'Not', 'And', 'Or', 'FindInMap', 'ImportValue', 'Base64', 'GetAZs', 'Cidr'];
const cloudFormationTags: Tags = INTRINSICS.flatMap((n) => {
  const key = n === 'Ref' || n === 'Condition' ? n : `Fn::${n}`;
  const toJs = (v: { toJSON(): unknown }): unknown => ({ [key]: v.toJSON() });
  return [
    { tag: `!${n}`, resolve: (v: string): unknown => ({ [key]: n === 'GetAtt' ? v.split('.') : v }) },
    { tag: `!${n}`, collection: 'seq' as const, resolve: toJs },
    { tag: `!${n}`, collection: 'map' as const, resolve: toJs },
  ];
});

interface ServerlessYml {
  provider?: { timeout?: unknown };
  functions: Record<string, { timeout?: unknown }>;
  stepFunctions: { stateMachines: Record<string, { definition: unknown }> };
}

const serverless = parseYaml(await readFile('serverless.yml', 'utf8'), { customTags: cloudFormationTags }) as ServerlessYml;

function functionTimeoutSeconds(fn: string): number {
  const f = serverless.functions[fn];
  assert.ok(f, `serverless.yml declares no function ${fn}`);
  const t = f.timeout ?? serverless.provider?.timeout ?? SERVERLESS_DEFAULT_TIMEOUT_SECONDS;
  assert.equal(typeof t, 'number', `functions.${fn}.timeout is not a plain number: ${JSON.stringify(t)}`);
  return t as number;
}

/** The serverless function a Task runs: `Fn::GetAtt: [fn, Arn]`, or lambda:invoke with such a FunctionName. */
function lambdaFunctionOf(state: Record<string, unknown>): string | undefined {
  const ref = (v: unknown): string | undefined => {
    const getAtt = (v as { 'Fn::GetAtt'?: unknown } | null)?.['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
    if (typeof getAtt === 'string') return getAtt.split('.')[0];
    return undefined;
  };
  if (typeof state.Resource === 'string' && /:states:::lambda:invoke/.test(state.Resource)) {
    return ref((state.Parameters as { FunctionName?: unknown } | undefined)?.FunctionName);
  }
  return ref(state.Resource);
}

const machines = await Promise.all(
  Object.entries(serverless.stepFunctions.stateMachines).map(async ([name, sm]) => {
    const file = /^\$\{file\((.+)\)\}$/.exec(String(sm.definition))?.[1];
    assert.ok(file, `stateMachines.${name}.definition is not a \${file(...)} reference`);
    return { name, file, def: await loadDefinition(file) };
  }),
);

const tasksOf = (def: AslDefinition): Array<{ name: string; state: Record<string, unknown> }> => allStates(def).filter((s) => s.state.Type === 'Task');

describe('task timeouts against function timeouts (serverless.yml)', () => {
  it('reads both state machines and the function timeouts from serverless.yml', () => {
    assert.deepEqual(machines.map((m) => m.file).sort(), ['statemachines/failover-drill.asl.yml', 'statemachines/replace-node.asl.yml']);
    assert.equal(functionTimeoutSeconds('replaceNodeTasks') > 0, true);
  });

  for (const m of machines) {
    it(`${m.name}: every Lambda Task waits longer than its function can run (timeout + ${LAMBDA_INIT_SECONDS} s init)`, () => {
      const lambdaTasks = tasksOf(m.def).filter((t) => lambdaFunctionOf(t.state) !== undefined);
      assert.ok(lambdaTasks.length >= 5, 'the definition has Lambda tasks');
      const tooShort = lambdaTasks
        .map((t) => ({ task: t.name, fn: lambdaFunctionOf(t.state)!, timeoutSeconds: t.state.TimeoutSeconds }))
        .filter((t) => typeof t.timeoutSeconds !== 'number' || t.timeoutSeconds <= functionTimeoutSeconds(t.fn) + LAMBDA_INIT_SECONDS)
        .map((t) => `${t.task}: TimeoutSeconds ${String(t.timeoutSeconds)} <= ${t.fn} timeout ${functionTimeoutSeconds(t.fn)} + ${LAMBDA_INIT_SECONDS}`);
      assert.deepEqual(tooShort, []);
    });

    it(`${m.name}: every Task sets TimeoutSeconds (the ASL default is 99999999 s)`, () => {
      const unbounded = tasksOf(m.def).filter((t) => typeof t.state.TimeoutSeconds !== 'number' && t.state.TimeoutSecondsPath === undefined);
      assert.deepEqual(unbounded.map((t) => t.name), []);
    });
  }

  it('replaceNode bounds the whole execution above its longest bounded waits (largest accepted config)', () => {
    const def = machines.find((m) => m.file.endsWith('replace-node.asl.yml'))!.def as AslDefinition & { TimeoutSeconds?: number };
    // functions/config/schema.ts: volumeDetachTimeoutSeconds and standbyTimeoutSeconds are at most 3600.
    const waits = totalWaitSeconds(waitBudgets({ volumeDetachTimeoutSeconds: 3600, standbyTimeoutSeconds: 3600 } as NonNullable<ClusterConfig['replacement']>));
    assert.equal(typeof def.TimeoutSeconds, 'number');
    assert.ok(def.TimeoutSeconds! > waits, `TimeoutSeconds ${def.TimeoutSeconds} <= bounded waits ${waits} s`);
    assert.ok(def.TimeoutSeconds! <= 24 * 3600, 'a day at most');
  });

  it('failoverDrill bounds the whole execution above its observation, restore and post-check bounds (maxRtoSeconds 3600)', () => {
    const def = machines.find((m) => m.file.endsWith('failover-drill.asl.yml'))!.def as AslDefinition & { TimeoutSeconds?: number };
    const post = postCheckBudget();
    const restore = restoreBudget({ replacement: { standbyTimeoutSeconds: 3600 } as NonNullable<ClusterConfig['replacement']> });
    // terminate-active's restore also waits for the nested replace-node (its Task's own TimeoutSeconds).
    const nested = (def.States as Record<string, { TimeoutSeconds?: number }>).RestoreReplaceNode?.TimeoutSeconds;
    assert.equal(typeof nested, 'number');
    const waits = observeBudget(3600).boundSeconds + nested! + restore.intervalSeconds * restore.maxAttempts + post.intervalSeconds * post.maxAttempts;
    assert.equal(typeof def.TimeoutSeconds, 'number');
    assert.ok(def.TimeoutSeconds! > waits, `TimeoutSeconds ${def.TimeoutSeconds} <= bounded waits ${waits} s`);
    assert.ok(def.TimeoutSeconds! <= 24 * 3600, 'a day at most');
  });
});
