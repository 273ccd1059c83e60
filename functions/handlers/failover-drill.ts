/**
 * Task code of the failover-drill state machine (statemachines/failover-drill.asl.yml):
 * ONE Lambda function, `failoverDrillTasks`, dispatching on `event.action`.
 *
 * Same shape as replace-node: each action reads the world through adapters,
 * asks the pure core (functions/core/drill*.ts) what it means, applies at most
 * one change, and returns small JSON (ids, names, timestamps; never a secret).
 * Waits live in the ASL (Wait → task → Choice), bounded by a counter and by
 * the clock. The drill injects the fault and watches; routing the new active is
 * the controller's job, so the RTO measured here is the control plane's real one.
 *
 * The actions, one file each under ./drill/: prepare.ts (validate,
 * acquireLease, preCheck), inject.ts, observe.ts, restore.ts (restoreStep),
 * finish.ts (postCheck, finish, abort).
 */
import { probeListener } from '../adapters/listener-probe.js';
import { taskHandler } from './lib/task-handler.js';
import { sharedTaskDeps } from './lib/workflow.js';
import type { FailoverDrillDeps } from './drill/context.js';
import { acquire, preCheckAction, validate } from './drill/prepare.js';
import { inject } from './drill/inject.js';
import { observe } from './drill/observe.js';
import { restoreStep } from './drill/restore.js';
import { abort, finish, postCheckAction } from './drill/finish.js';

export type { DrillTaskContext, FailoverDrillDeps, Injection, PreCheckResult } from './drill/context.js';

const defaultDeps = (): FailoverDrillDeps => ({
  ...sharedTaskDeps('failover-drill'),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  // Loaded only when a drill names stop-condition alarms: the CloudWatch client is its own chunk.
  alarms: async (names) => {
    const cw = await import('../adapters/alarms.js');
    return cw.describeAlarmStates(cw.cloudWatchClient(), names);
  },
  listenerProbe: (url, cluster) => probeListener(url, cluster),
});

export function makeFailoverDrillHandler(overrides: Partial<FailoverDrillDeps> = {}) {
  const deps: FailoverDrillDeps = { ...defaultDeps(), ...overrides };
  return taskHandler(deps.logger, {
    validate: (e) => validate(deps, e),
    acquireLease: (e) => acquire(deps, e),
    preCheck: (e) => preCheckAction(deps, e),
    inject: (e) => inject(deps, e),
    observe: (e) => observe(deps, e),
    restoreStep: (e) => restoreStep(deps, e),
    postCheck: (e) => postCheckAction(deps, e),
    finish: (e) => finish(deps, e),
    abort: (e) => abort(deps, e),
  });
}

export const handler = makeFailoverDrillHandler();
