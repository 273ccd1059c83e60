/**
 * The controller's schedule rules come from one parameter
 * (scripts/controller-schedules.cjs, issue 9 "Scale out on Lambda itself"):
 * N rules, rule i passing `{ "shard": i, "of": N }`, and two concurrent runs
 * per shard. The packaged part runs once serverless.yml uses the generator
 * (`events: ${file(./scripts/controller-schedules.cjs):events}`).
 */
import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { shardOfEvent } from '../../functions/handlers/controller.js';
import { packagedService, repoRoot } from '../support/packaged-service.js';

interface Schedules {
  events(ctx: { resolveVariable(name: string): Promise<unknown> }): Promise<unknown[]>;
  reservedConcurrency(ctx: { resolveVariable(name: string): Promise<unknown> }): Promise<number>;
  parseShards(value: unknown): number;
  scheduleEvents(n: number): Array<{ schedule: { rate: string; enabled: boolean; input?: { shard: number; of: number } } }>;
  MAX_SHARDS: number;
}
const schedules = createRequire(import.meta.url)('../../scripts/controller-schedules.cjs') as Schedules;
const ctxWith = (value: unknown) => ({ resolveVariable: async (name: string) => (name === 'param:controllerShards' ? value : undefined) });

describe('controller schedules from params.controllerShards', () => {
  it('one shard: today\'s single rule, no input (the handler then ticks every cluster)', async () => {
    const events = await schedules.events(ctxWith('1'));
    assert.deepEqual(events, [{ schedule: { rate: 'rate(1 minute)', enabled: true } }]);
    assert.equal(shardOfEvent({}), undefined);
  });

  it('N shards: N rules, rule i passing { shard: i, of: N }, each accepted by the handler', async () => {
    const events = schedules.scheduleEvents(3);
    assert.deepEqual(events.map((e) => e.schedule.input), [{ shard: 0, of: 3 }, { shard: 1, of: 3 }, { shard: 2, of: 3 }]);
    for (const e of events) {
      assert.equal(e.schedule.rate, 'rate(1 minute)');
      assert.deepEqual(shardOfEvent(e.schedule.input), e.schedule.input);
    }
  });

  it('two concurrent runs per shard (each run overlaps its successor)', async () => {
    assert.equal(await schedules.reservedConcurrency(ctxWith(3)), 6);
    assert.equal(await schedules.reservedConcurrency(ctxWith('1')), 2);
  });

  it.each([['0'], ['-1'], ['2.5'], ['three'], [''], [undefined], [String(101)]])('refuses controllerShards=%p, naming the parameter', (value) => {
    assert.throws(() => schedules.parseShards(value), (e: Error) => e.name === 'ControllerShardsParamError' && /params\.controllerShards/.test(e.message));
  });

  it('accepts the parameter as --param gives it (a string) and as params: gives it (a number)', () => {
    assert.equal(schedules.parseShards(' 12 '), 12);
    assert.equal(schedules.parseShards(schedules.MAX_SHARDS), schedules.MAX_SHARDS);
  });
});

const usesGenerator = readFileSync(path.join(repoRoot, 'serverless.yml'), 'utf8').includes('scripts/controller-schedules.cjs');

type Resource = { Type: string; Properties: Record<string, any> };
(usesGenerator ? describe : describe.skip)('serverless package --param="controllerShards=3"', () => {
  let resources: Record<string, Resource>;
  beforeAll(async () => {
    resources = (await packagedService({ controllerShards: '3' })).template.Resources as Record<string, Resource>;
  }, 180_000);

  const controllerRules = () =>
    Object.values(resources).filter(
      (r) => r.Type === 'AWS::Events::Rule' && (r.Properties.Targets as Array<{ Arn?: unknown }>).some((t) => JSON.stringify(t.Arn).includes('ControllerLambdaFunction')),
    );

  it('packages three one-minute rules for the controller, with inputs shard 0, 1, 2 of 3', () => {
    const rules = controllerRules();
    assert.equal(rules.length, 3);
    const inputs = rules
      .map((r) => {
        assert.equal(r.Properties.ScheduleExpression, 'rate(1 minute)');
        assert.equal(r.Properties.State, 'ENABLED');
        const targets = r.Properties.Targets as Array<{ Input?: string }>;
        assert.equal(targets.length, 1);
        return JSON.parse(targets[0]!.Input!) as { shard: number; of: number };
      })
      .sort((a, b) => a.shard - b.shard);
    assert.deepEqual(inputs, [{ shard: 0, of: 3 }, { shard: 1, of: 3 }, { shard: 2, of: 3 }]);
  });

  it('reserves two concurrent runs per shard', () => {
    assert.equal(resources['ControllerLambdaFunction']?.Properties.ReservedConcurrentExecutions, 6);
  });
});
