/**
 * `vault-ha pause --cluster C [--for 2h] [--reason …]` and `vault-ha resume
 * --cluster C`: the maintenance mode (functions/core/pause.ts). Stored in the
 * control table; the controller reads it every tick, so it takes effect within
 * one probe interval, and it ends by itself at its expiry.
 */
import { recordOperatorEvent } from '../functions/adapters/control-history.js';
import { clearPause, readPause, writePause } from '../functions/adapters/pause.js';
import { activePause, DEFAULT_PAUSE_MS, formatDuration, InvalidPauseError, newPause, parseDuration, pauseSentence } from '../functions/core/pause.js';
import { requireOption, stringOption, type OptionsSpec } from './lib/args.js';
import type { CliContext } from './lib/context.js';
import { EXIT, UsageError, type ExitCode } from './lib/errors.js';

export const PAUSE_OPTIONS: OptionsSpec = {
  cluster: { type: 'string', valueName: 'CLUSTER' },
  for: { type: 'string', valueName: 'DURATION' },
  reason: { type: 'string', valueName: 'TEXT' },
};
export const RESUME_OPTIONS: OptionsSpec = { cluster: { type: 'string', valueName: 'CLUSTER' } };

export async function pauseCommand(ctx: CliContext): Promise<ExitCode> {
  const cluster = await ctx.cluster(requireOption(ctx.args, 'cluster', 'the cluster to pause'));
  const forText = stringOption(ctx.args, 'for');
  const forMs = forText === undefined ? DEFAULT_PAUSE_MS : parseDuration(forText);
  if (forMs === undefined) throw new UsageError(`--for must be a duration such as 30m, 2h, 1d (not "${forText}")`);
  const table = await ctx.table();
  const { ddb } = ctx.clients();
  const by = await ctx.whoAmI();
  const nowMs = ctx.now();
  let pause;
  try {
    pause = newPause({ cluster: cluster.name, pausedBy: by, forMs, nowMs, reason: stringOption(ctx.args, 'reason') });
  } catch (err) {
    if (err instanceof InvalidPauseError) throw new UsageError(`--${err.field === 'pausedBy' ? 'for' : err.field}: ${err.message.replace(/^\w+: /, '')}`);
    throw err;
  }
  const previous = activePause(await readPause(ddb, table, cluster.name), nowMs);
  await writePause(ddb, table, pause);
  await recordOperatorEvent(ddb, table, cluster.name, { atMs: nowMs, kind: 'pause', by, detail: `${pauseSentence(pause)} for ${formatDuration(forMs)}` });
  const intervalSeconds = cluster.policy.probeIntervalSeconds;
  ctx.out.result({ cluster: cluster.name, paused: true, pausedBy: pause.pausedBy, until: new Date(pause.untilMs).toISOString(), reason: pause.reason ?? null, replaced: previous ? pauseSentence(previous) : null });
  ctx.out.line(`${cluster.name}: ${pauseSentence(pause)}`);
  if (previous) ctx.out.line(`  replaces the pause ${pauseSentence(previous)}`);
  ctx.out.line(`  the controller keeps observing and reporting but changes nothing (no registrations, no lock deletes, no auto-replace) from its next tick (every ${intervalSeconds} s) until then;`);
  ctx.out.line(`  end it early with: vault-ha resume --cluster ${cluster.name}`);
  return EXIT.ok;
}

export async function resumeCommand(ctx: CliContext): Promise<ExitCode> {
  const cluster = await ctx.cluster(requireOption(ctx.args, 'cluster', 'the cluster to resume'));
  const table = await ctx.table();
  const { ddb } = ctx.clients();
  const nowMs = ctx.now();
  const removed = await clearPause(ddb, table, cluster.name);
  const wasActive = activePause(removed, nowMs);
  if (wasActive) {
    await recordOperatorEvent(ddb, table, cluster.name, { atMs: nowMs, kind: 'resume', by: await ctx.whoAmI(), detail: `resumed; it was ${pauseSentence(wasActive)}` });
  }
  ctx.out.result({ cluster: cluster.name, paused: false, was: wasActive ? pauseSentence(wasActive) : null });
  ctx.out.line(wasActive ? `${cluster.name}: resumed (it was ${pauseSentence(wasActive)}); the controller acts again from its next tick` : `${cluster.name}: was not paused; nothing to do`);
  return EXIT.ok;
}
