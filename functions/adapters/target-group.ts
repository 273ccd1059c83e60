/**
 * The ALB target group: what is registered and how the ALB sees it, and the
 * idempotent application of a registration plan. Decides nothing: the plan
 * comes from the core planner.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TargetState, TargetView } from '../core/types.js';
import { isAwsError, toAdapterError } from './errors.js';

/** Targets per Register/DeregisterTargets call; keeps each request small and well inside ELBv2 limits. */
export const TARGETS_PER_CALL = 200;

const TARGET_STATES: ReadonlySet<string> = new Set<TargetState>([
  'initial',
  'healthy',
  'unhealthy',
  'unused',
  'draining',
  'unavailable',
  'unhealthy.draining',
]);

export async function describeTargets(elb: ElasticLoadBalancingV2Client, targetGroupArn: string): Promise<TargetView[]> {
  let out;
  try {
    out = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
  } catch (err) {
    throw toAdapterError(err, targetGroupArn);
  }
  const views: TargetView[] = [];
  for (const d of out.TargetHealthDescriptions ?? []) {
    const id = d.Target?.Id;
    if (!id) continue;
    const raw = d.TargetHealth?.State;
    // A target without a health record (or with a state this code does not know)
    // is never treated as healthy: the planner must not count on it to serve.
    const state: TargetState = raw !== undefined && TARGET_STATES.has(raw) ? (raw as TargetState) : 'unavailable';
    const view: TargetView = { instanceId: id, state };
    if (d.Target?.Port !== undefined) view.port = d.Target.Port;
    if (d.TargetHealth?.Reason) view.reason = d.TargetHealth.Reason;
    if (d.TargetHealth?.Description) view.description = d.TargetHealth.Description;
    else if (!d.TargetHealth) view.description = 'no health record reported';
    views.push(view);
  }
  return views.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
}

export interface TargetPlan {
  register: string[];
  deregister: string[];
  /** Decided by the planner (RegistrationPlan.order); default deregister-first. */
  order?: 'deregister-first' | 'register-first';
  /** Decided by the planner: go on registering after a failed deregistration. */
  registerEvenIfDeregisterFails?: boolean;
}

export interface AppliedTargets {
  registered: string[];
  deregistered: string[];
}

/**
 * Some of a plan was applied before a call failed: `applied` says exactly what
 * changed (invariant 12), `cause` is the adapter error of the failed call.
 */
export class PartialApplyError extends Error {
  override readonly name = 'PartialApplyError';
  constructor(
    readonly applied: AppliedTargets,
    readonly failures: Array<{ step: 'register' | 'deregister'; error: Error }>,
  ) {
    super(
      `target group changes failed (${failures.map((f) => `${f.step}: ${f.error.message}`).join('; ')}); ` +
        `applied: registered [${applied.registered.join(', ')}], deregistered [${applied.deregistered.join(', ')}]`,
      { cause: failures[0]?.error },
    );
  }
}

/**
 * Applies a plan in the order the planner chose. Deregister first when a node
 * that claims active leaves (the other order could route the old and the new
 * active both for a moment); register first otherwise, so the group never
 * passes through empty. When deregistration fails and the planner said every
 * removal is dead or non-routable, the registrations still go ahead: a missing
 * permission or an ELB brown-out on DeregisterTargets must not keep a new
 * legitimate active out of the group.
 *
 * Idempotent: empty lists make no call, registering a registered target is a
 * no-op in ELBv2, and deregistering a target that is not registered succeeds.
 * A deregister that fails with InvalidTarget (the instance is terminated or
 * gone) counts as done: a target that cannot exist cannot be routed.
 * On any failure, throws PartialApplyError saying what did change.
 */
export async function applyPlan(
  elb: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  port: number,
  plan: TargetPlan,
): Promise<AppliedTargets> {
  const applied: AppliedTargets = { registered: [], deregistered: [] };
  const failures: Array<{ step: 'register' | 'deregister'; error: Error }> = [];

  const doDeregister = async (): Promise<boolean> => {
    for (const batch of chunks(unique(plan.deregister), TARGETS_PER_CALL)) {
      try {
        await deregisterBatch(elb, targetGroupArn, port, batch);
      } catch (err) {
        failures.push({ step: 'deregister', error: err as Error });
        return false;
      }
      applied.deregistered.push(...batch);
    }
    return true;
  };
  const doRegister = async (): Promise<boolean> => {
    for (const batch of chunks(unique(plan.register), TARGETS_PER_CALL)) {
      try {
        await elb.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets(batch, port) }));
      } catch (err) {
        failures.push({ step: 'register', error: toAdapterError(err, targetGroupArn) });
        return false;
      }
      applied.registered.push(...batch);
    }
    return true;
  };

  if (plan.order === 'register-first') {
    // Removing the old targets while the new ones failed to come in could empty the group.
    if (await doRegister()) await doDeregister();
  } else {
    const deregistered = await doDeregister();
    if (deregistered || plan.registerEvenIfDeregisterFails === true) await doRegister();
  }
  if (failures.length > 0) {
    // A single failure keeps its own type (callers and tests match on it); the
    // partial result travels with it either way.
    throw new PartialApplyError(applied, failures);
  }
  return applied;
}

async function deregisterBatch(elb: ElasticLoadBalancingV2Client, arn: string, port: number, batch: string[]): Promise<void> {
  try {
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: targets(batch, port) }));
    return;
  } catch (err) {
    if (!isInvalidTarget(err)) throw toAdapterError(err, arn);
    if (batch.length === 1) return;
  }
  // InvalidTarget rejects the whole call without saying which target is gone;
  // retry one by one so the live targets in this batch are still removed.
  for (const id of batch) {
    try {
      await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: targets([id], port) }));
    } catch (err) {
      if (!isInvalidTarget(err)) throw toAdapterError(err, arn);
    }
  }
}

function isInvalidTarget(err: unknown): boolean {
  return isAwsError(err, 'InvalidTarget', 'InvalidTargetException');
}

function targets(ids: string[], port: number): TargetDescription[] {
  return ids.map((Id) => ({ Id, Port: port }));
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
