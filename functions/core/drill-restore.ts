/**
 * The drill's restore (pure): what brings the faulted node back as an
 * unsealed standby, one step at a time, and when it counts as back.
 *
 *  - step-down: nothing to do; the node rejoins as a standby by itself.
 *  - kill-active, seal-active: VaultHA-PrepareNode on the node (mount the
 *    slot's data volume if it is not mounted, start Vault, unseal it from the
 *    SecureString shares read ON the node): the same document replace-node
 *    uses, so the shares never leave Parameter Store (invariant 7).
 *  - stop-active-instance: StartInstances, wait until it runs and its SSM
 *    agent is online, then PrepareNode.
 *  - partition-clients, partition-storage: VaultHA-VaultControl Action=heal
 *    (removes exactly the drill's iptables rules).
 *  - terminate-active: a nested replace-node execution for the slot.
 * Then wait until the node (the slot's new instance after a replacement)
 * answers as an unsealed standby.
 */
import type { FaultPlan, RestoreBudget } from './drill.js';
import { UNSEALED_STANDBY } from './drill.js';
import type { InstanceState, NodeClass } from './types.js';

export type RestoreAction = 'start-instance' | 'prepare-node' | 'heal-network' | 'replace-node';

export interface RestorePlan {
  /** `restore: false` (or a dry run): nothing is done; `reason` says so and `nextStep` what an operator does. */
  skipped: boolean;
  reason: string;
  instanceId: string;
  slot: string;
  actions: RestoreAction[];
  /** One sentence: what the restore does. */
  description: string;
  /** What an operator does by hand when the restore is skipped or fails. */
  nextStep: string;
}

export function planRestore(fault: FaultPlan, opts: { restore: boolean; unsealMode: 'shamir' | 'auto' }): RestorePlan {
  const id = fault.oldInstanceId;
  const unseal = opts.unsealMode === 'shamir' ? 'unseal it with VaultHA-PrepareNode (the node reads its shares)' : 'auto-unseal brings it back';
  const byScenario: Record<FaultPlan['scenario'], { actions: RestoreAction[]; description: string; nextStep: string }> = {
    'step-down': { actions: [], description: `wait until ${id} rejoins as a standby (a stepped-down node does by itself)`, nextStep: `none: ${id} rejoins as a standby by itself` },
    'kill-active': {
      actions: ['prepare-node'],
      description: `start and unseal Vault on ${id} (VaultHA-PrepareNode), wait until it is a standby`,
      nextStep: `start Vault on ${id} (VaultHA-VaultControl Action=start); ${unseal}`,
    },
    'seal-active': {
      actions: ['prepare-node'],
      description: `unseal Vault on ${id} (VaultHA-PrepareNode), wait until it is a standby`,
      nextStep: `${unseal} on ${id}`,
    },
    'stop-active-instance': {
      actions: ['start-instance', 'prepare-node'],
      description: `start instance ${id} (StartInstances), then start and unseal Vault (VaultHA-PrepareNode), wait until it is a standby`,
      nextStep: `start instance ${id} (StartInstances); ${unseal}`,
    },
    'terminate-active': {
      actions: ['replace-node'],
      description: `replace slot ${fault.slot} with a nested replace-node execution (its kept data volume and interface), wait until the new node is a standby`,
      nextStep: `run replace-node for slot ${fault.slot} ({"cluster":"${fault.cluster}","slot":"${fault.slot}"}): its data volume and interface were kept`,
    },
    'partition-clients': {
      actions: ['heal-network'],
      description: `remove the drill's iptables rules on ${id} (VaultHA-VaultControl Action=heal), wait until it is a standby`,
      nextStep: `run VaultHA-VaultControl Action=heal on ${id} (the rules also heal themselves ${fault.faultDurationSeconds} s after the injection)`,
    },
    'partition-storage': {
      actions: ['heal-network'],
      description: `remove the drill's iptables rules on ${id} (VaultHA-VaultControl Action=heal), wait until it is a standby`,
      nextStep: `run VaultHA-VaultControl Action=heal on ${id} (the rules also heal themselves ${fault.faultDurationSeconds} s after the injection)`,
    },
  };
  const p = byScenario[fault.scenario];
  if (!opts.restore) return { skipped: true, reason: 'restore: false in the input', instanceId: id, slot: fault.slot, actions: [], description: 'nothing (restore: false)', nextStep: p.nextStep };
  return { skipped: false, reason: '', instanceId: id, slot: fault.slot, actions: p.actions, description: p.description, nextStep: p.nextStep };
}

/** Where the restore loop is; kept in `$.marks.restore` between two RestoreStep tasks. */
export interface RestoreMark {
  at: string;
  n: number;
  /** Index of the action being carried out (actions.length: all done, waiting until the node is ready). */
  step: number;
  phase: 'act' | 'wait-boot' | 'wait-command' | 'nested' | 'wait-ready';
  /** The node being restored (the slot's new instance after a replacement). */
  instanceId: string;
  commandId: string;
  done: boolean;
  /** The ASL runs the nested replace-node execution now. */
  runNested: boolean;
  nestedName: string;
  nestedArn: string;
  nestedInput: Record<string, unknown> | null;
  /** What was done, in order (bounded). */
  log: string[];
  detail: string;
  readyAt: string;
}

export function initialRestoreMark(at: string, plan: RestorePlan): RestoreMark {
  return {
    at,
    n: 0,
    step: 0,
    phase: plan.actions.length > 0 ? 'act' : 'wait-ready',
    instanceId: plan.instanceId,
    commandId: '',
    done: false,
    runNested: false,
    nestedName: '',
    nestedArn: '',
    nestedInput: null,
    log: [],
    detail: '',
    readyAt: '',
  };
}

/** The nested replace-node execution's name: the drill's, so the console links them (execution names are 1–80 characters). */
export function nestedExecutionName(drillExecutionName: string): string {
  return `${drillExecutionName.slice(0, 72)}-restore`;
}

export interface Readiness {
  ready: boolean;
  detail: string;
}

/**
 * Whether the restored node is back: an unsealed standby. An active counts
 * too when no other node claims active (the fault never moved leadership off
 * it, e.g. a zombie without break-lock), with a note.
 */
export function restoredReadiness(args: { instanceId: string; instanceState: InstanceState | 'gone'; nodeClass: NodeClass | undefined; otherClaimants: string[] }): Readiness {
  const { instanceId, instanceState, nodeClass, otherClaimants } = args;
  if (instanceState !== 'running') return { ready: false, detail: `${instanceId} is ${instanceState}` };
  if (nodeClass === undefined) return { ready: false, detail: `${instanceId} has not been probed yet` };
  if (UNSEALED_STANDBY.has(nodeClass)) return { ready: true, detail: `${instanceId} is an unsealed ${nodeClass}` };
  if (nodeClass === 'active' && otherClaimants.length === 0) return { ready: true, detail: `${instanceId} is the active again (no other node took over)` };
  return { ready: false, detail: `${instanceId} is ${nodeClass}` };
}

/** The restore ran out of attempts. */
export function restoreExhausted(mark: Pick<RestoreMark, 'n'>, budget: RestoreBudget): boolean {
  return mark.n >= budget.maxAttempts;
}

/** What the report says about the restore. */
export interface RestoreReport {
  /** `skipped` (restore: false, dry run), `restored`, `failed`, or `not-attempted` (the drill failed before a fault went in). */
  status: 'skipped' | 'restored' | 'failed' | 'not-attempted';
  description: string;
  instanceId: string;
  /** What was done, in order. */
  actions: string[];
  startedAt: string | null;
  finishedAt: string | null;
  durationSeconds: number | null;
  detail: string;
  /** What an operator does when the restore did not bring the node back. */
  nextStep: string | null;
  /** The nested replace-node execution (terminate-active). */
  nestedExecution?: { name: string; status: string; newInstanceId?: string };
  error?: { name: string; message: string };
}
