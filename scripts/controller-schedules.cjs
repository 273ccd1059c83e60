/**
 * The controller's schedule rules, generated from one parameter
 * (`params.controllerShards`, or `--param="controllerShards=N"`), for
 * serverless.yml:
 *
 *   controller:
 *     reservedConcurrency: ${file(./scripts/controller-schedules.cjs):reservedConcurrency}
 *     events: ${file(./scripts/controller-schedules.cjs):events}
 *
 * N = 1: one rule with no input, today's rule unchanged (the controller ticks
 * every cluster for an event without `shard`/`of`, functions/handlers/controller.ts
 * shardOfEvent). N > 1: N rules, rule i passing the constant input
 * `{ "shard": i, "of": N }`; each invocation then ticks the clusters whose
 * stable hash falls in shard i (functions/core/shard.ts). Every rule fires
 * every minute, like the single one.
 *
 * Each shard's run overlaps its successor by design (timeout 90 s on a
 * one-minute schedule, handover through the lease), so the function needs two
 * concurrent executions per shard: reservedConcurrency is 2 x N.
 *
 * Limits checked here, so a bad value fails `serverless package` with one
 * sentence: N a whole number from 1 to 100. The handler accepts `of` up to
 * 1,000 (functions/config/schema.ts); 100 keeps N rules (plus the drill's)
 * well inside EventBridge's default quota of 300 rules per event bus
 * (Amazon EventBridge User Guide, "Amazon EventBridge quotas").
 *
 * osls (Serverless Framework v3) calls an exported function of a `${file(...)}`
 * JS source with `{ options, resolveVariable }`; `resolveVariable('param:x')`
 * resolves the parameter like `${param:x}` would.
 */
'use strict';

const MAX_SHARDS = 100;
/** One run and its successor, per shard (serverless.yml: timeout 90 s, rate 1 minute). */
const CONCURRENCY_PER_SHARD = 2;

class ControllerShardsParamError extends Error {
  constructor(value) {
    super(`params.controllerShards must be a whole number from 1 to ${MAX_SHARDS} (the controller's shard count), not ${JSON.stringify(value)}`);
    this.name = 'ControllerShardsParamError';
    this.value = value;
    // osls prints a failing resolver's stack: one sentence, not a trace (as serverless/region-required.cjs).
    this.stack = this.message;
  }
}

/** The shard count from the parameter's raw value (string from --param, number from params:). */
function parseShards(value) {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  if (!/^\d+$/.test(text)) throw new ControllerShardsParamError(value);
  const n = Number(text);
  if (n < 1 || n > MAX_SHARDS) throw new ControllerShardsParamError(value);
  return n;
}

/** The `events:` list of the controller for `n` shards (pure). */
function scheduleEvents(n) {
  if (n === 1) return [{ schedule: { rate: 'rate(1 minute)', enabled: true } }];
  return Array.from({ length: n }, (_, shard) => ({
    schedule: { rate: 'rate(1 minute)', enabled: true, input: { shard, of: n } },
  }));
}

async function shardsOf({ resolveVariable }) {
  return parseShards(await resolveVariable('param:controllerShards'));
}

module.exports = {
  events: async (ctx) => scheduleEvents(await shardsOf(ctx)),
  reservedConcurrency: async (ctx) => CONCURRENCY_PER_SHARD * (await shardsOf(ctx)),
  parseShards,
  scheduleEvents,
  ControllerShardsParamError,
  MAX_SHARDS,
  CONCURRENCY_PER_SHARD,
};
