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
}

export interface AppliedTargets {
  registered: string[];
  deregistered: string[];
}

/**
 * Applies a plan. Ordering: DEREGISTER FIRST. If the register call fails after
 * a successful deregister, the group has one target too few for a tick (the
 * next tick registers it); the other order could leave the old and the new
 * active both routed, i.e. clients split across two nodes that both claim to
 * lead — exactly what the controller exists to prevent.
 *
 * Idempotent: empty lists make no call, registering a registered target is a
 * no-op in ELBv2, and deregistering a target that is not registered succeeds.
 * A deregister that fails with InvalidTarget (the instance is terminated or
 * gone) counts as done: a target that cannot exist cannot be routed.
 */
export async function applyPlan(
  elb: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  port: number,
  plan: TargetPlan,
): Promise<AppliedTargets> {
  const deregister = unique(plan.deregister);
  const register = unique(plan.register);
  const deregistered: string[] = [];
  const registered: string[] = [];

  for (const batch of chunks(deregister, TARGETS_PER_CALL)) {
    await deregisterBatch(elb, targetGroupArn, port, batch);
    deregistered.push(...batch);
  }
  for (const batch of chunks(register, TARGETS_PER_CALL)) {
    try {
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: targets(batch, port) }));
    } catch (err) {
      throw toAdapterError(err, targetGroupArn);
    }
    registered.push(...batch);
  }
  return { registered, deregistered };
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
