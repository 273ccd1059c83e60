/**
 * The ALB/NLB target group: what is registered and how the balancer sees it,
 * its target type, and the idempotent application of a registration plan.
 * Decides nothing: the plan comes from the core planner.
 */
import {
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  type ElasticLoadBalancingV2Client,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { TargetState, TargetView } from '../core/types.js';
import { AwsCallError, isAwsError, toAdapterError } from './errors.js';
import { applyInOrder, type AppliedTargets, type TargetPlan } from './plan-apply.js';

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

export type { AppliedTargets, TargetPlan } from './plan-apply.js';
export { PartialApplyError } from './plan-apply.js';

/**
 * Applies a plan in the order the planner chose (see applyInOrder in
 * plan-apply.ts for the ordering hazards), every target on `port`.
 *
 * Idempotent: empty lists make no call, registering a registered target is a
 * no-op in ELBv2, and deregistering a target that is not registered succeeds.
 * A deregister that fails with InvalidTarget (the instance is terminated or
 * gone) counts as done: a target that cannot exist cannot be routed.
 * On any failure, throws PartialApplyError saying what did change.
 */
export function applyPlan(elb: ElasticLoadBalancingV2Client, targetGroupArn: string, port: number, plan: TargetPlan): Promise<AppliedTargets> {
  return applyTargets(elb, targetGroupArn, plan, (id) => ({ Id: id, Port: port }));
}

/**
 * applyPlan with the target of each planned id given by `targetOf` (an `ip`
 * target group registers the member's private IP, not its instance id). The
 * ids in the result are the plan's.
 */
export function applyTargets(
  elb: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
  plan: TargetPlan,
  targetOf: (id: string, step: 'register' | 'deregister') => TargetDescription,
): Promise<AppliedTargets> {
  return applyInOrder(
    {
      register: async (batch) => {
        try {
          await elb.send(new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: batch.map((id) => targetOf(id, 'register')) }));
        } catch (err) {
          throw toAdapterError(err, targetGroupArn);
        }
      },
      deregister: (batch) => deregisterBatch(elb, targetGroupArn, batch.map((id) => targetOf(id, 'deregister'))),
    },
    plan,
    TARGETS_PER_CALL,
  );
}

async function deregisterBatch(elb: ElasticLoadBalancingV2Client, arn: string, batch: TargetDescription[]): Promise<void> {
  try {
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: batch }));
    return;
  } catch (err) {
    if (!isInvalidTarget(err)) throw toAdapterError(err, arn);
    if (batch.length === 1) return;
  }
  // InvalidTarget rejects the whole call without saying which target is gone;
  // retry one by one so the live targets in this batch are still removed.
  for (const target of batch) {
    try {
      await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: arn, Targets: [target] }));
    } catch (err) {
      if (!isInvalidTarget(err)) throw toAdapterError(err, arn);
    }
  }
}

function isInvalidTarget(err: unknown): boolean {
  return isAwsError(err, 'InvalidTarget', 'InvalidTargetException');
}

/** What the controller needs to know about a target group to register into it. */
export interface TargetGroupFacts {
  /** `instance` targets are instance ids; `ip` targets are private IPv4 addresses. */
  targetType: 'instance' | 'ip';
  /** The group's own port (the default port of a target registered without one). */
  port?: number;
}

/** Per client, per ARN: a target group's target type never changes, so one DescribeTargetGroups per container suffices. */
const factsCache = new WeakMap<ElasticLoadBalancingV2Client, Map<string, TargetGroupFacts>>();

/**
 * The target group's target type and port (DescribeTargetGroups), cached per
 * client. A Lambda (`lambda`) or ALB (`alb`) target group cannot hold Vault
 * nodes: that is a configuration error, named.
 */
export async function describeTargetGroupFacts(elb: ElasticLoadBalancingV2Client, targetGroupArn: string): Promise<TargetGroupFacts> {
  let byArn = factsCache.get(elb);
  const cached = byArn?.get(targetGroupArn);
  if (cached !== undefined) return cached;
  let out;
  try {
    out = await elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [targetGroupArn] }));
  } catch (err) {
    throw toAdapterError(err, targetGroupArn);
  }
  const tg = out?.TargetGroups?.find((g) => g.TargetGroupArn === undefined || g.TargetGroupArn === targetGroupArn);
  const type = tg?.TargetType ?? 'instance';
  if (type !== 'instance' && type !== 'ip') {
    throw new AwsCallError(`${targetGroupArn}: target type "${type}" cannot hold Vault nodes (use an instance or ip target group)`, {
      resource: targetGroupArn,
      code: 'UnsupportedTargetType',
    });
  }
  const facts: TargetGroupFacts = { targetType: type, ...(tg?.Port !== undefined ? { port: tg.Port } : {}) };
  // Read again after the call: concurrent first calls (one per cluster) must share one map.
  byArn = factsCache.get(elb);
  if (byArn === undefined) factsCache.set(elb, (byArn = new Map()));
  byArn.set(targetGroupArn, facts);
  return facts;
}
