/**
 * A Classic Load Balancer (Elastic Load Balancing API 2012-06-01): which
 * instances are registered and how the balancer sees them, and the idempotent
 * application of a registration plan. Decides nothing: the plan comes from the
 * core planner, the same one that drives target groups.
 *
 * Loaded with `import()` from load-balancer.ts only for `loadBalancer.type`
 * "classic", so a target-group deployment never loads this client
 * (scripts/build.mjs splits it into its own chunk).
 *
 * Facts from AWS's documentation this module relies on:
 *  - DescribeInstanceHealth without instances lists every registered instance,
 *    `State` InService | OutOfService | Unknown, `ReasonCode` ELB | Instance | N/A,
 *    and a `Description` from a fixed list (API reference, "InstanceState").
 *    It has no pagination.
 *  - The balancer routes requests only to InService instances ("Health checks
 *    for the instances for your Classic Load Balancer"); an HTTP(S) check
 *    passes on `200 OK` only (API reference, "HealthCheck"). It does NOT fail
 *    open: with no healthy instance it answers 503 itself (AWS Knowledge
 *    Center, "How do I troubleshoot 503 errors returned while using Classic
 *    Load Balancer?"), unlike an ALB, which routes to every target when all are
 *    unhealthy.
 *  - Registering a registered instance changes nothing; deregistering an
 *    instance that is not registered is refused with InvalidInstance for the
 *    whole call (boto/boto#2274), so a batch is retried one by one and a lone
 *    InvalidInstance counts as done.
 */
import {
  DeregisterInstancesFromLoadBalancerCommand,
  DescribeInstanceHealthCommand,
  ElasticLoadBalancingClient,
  RegisterInstancesWithLoadBalancerCommand,
  type InstanceState,
} from '@aws-sdk/client-elastic-load-balancing';
import type { TargetState, TargetView } from '../core/types.js';
import { DEFAULT_MAX_ATTEMPTS } from './aws-clients.js';
import { isAwsError, toAdapterError } from './errors.js';
import { applyInOrder, type AppliedTargets, type TargetPlan } from './plan-apply.js';

/** Instances per Register/Deregister call: the API documents no limit; small requests stay well inside any. */
export const INSTANCES_PER_CALL = 100;

let perContainer: { key: string; client: ElasticLoadBalancingClient } | undefined;

/**
 * The per-container client. Endpoints come only from the SDK's standard
 * configuration (DESIGN §4.2: `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING`,
 * `AWS_ENDPOINT_URL`); a change of those (a new sandbox in the same process)
 * builds a new client, which never happens in a Lambda container.
 */
export function classicElbClient(): ElasticLoadBalancingClient {
  const env = process.env;
  const key = [env['AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING'], env['AWS_ENDPOINT_URL'], env['AWS_REGION'], env['AWS_MAX_ATTEMPTS']].join('|');
  if (perContainer?.key !== key) {
    perContainer?.client.destroy();
    perContainer = { key, client: new ElasticLoadBalancingClient(env['AWS_MAX_ATTEMPTS'] ? {} : { maxAttempts: DEFAULT_MAX_ATTEMPTS }) };
  }
  return perContainer.client;
}

/**
 * Classic `InstanceState` → the target view the planner reads. Only InService
 * is `healthy`; an instance still being registered or not yet past
 * HealthyThreshold is `initial` (it gets no traffic yet, as an ALB target in
 * `initial`); one that failed its checks is `unhealthy`; one the balancer does
 * not route to for reasons of its own (AZ not enabled, instance stopped) is
 * `unused`; deregistration in progress is `draining`; anything else — Unknown,
 * "A transient error occurred" — is `unavailable`, never healthy.
 */
export function classicTargetState(s: Pick<InstanceState, 'State' | 'ReasonCode' | 'Description'>): TargetState {
  const d = s.Description ?? '';
  if (s.State === 'InService') return 'healthy';
  if (s.State !== 'OutOfService') return 'unavailable';
  if (d.includes('deregistration currently in progress')) return 'draining';
  if (d.includes('registration is still in progress') || d.includes('has not passed the configured HealthyThreshold')) return 'initial';
  if (d.includes('failed at least the UnhealthyThreshold')) return 'unhealthy';
  if (/Availability Zone|not currently registered|pending state|stopped state|terminated state/.test(d)) return 'unused';
  if (d.includes('transient error')) return 'unavailable';
  // An OutOfService the instance itself caused (ReasonCode Instance) is a failed check.
  return s.ReasonCode === 'Instance' ? 'unhealthy' : 'unavailable';
}

export async function describeInstanceHealth(elb: ElasticLoadBalancingClient, loadBalancerName: string): Promise<TargetView[]> {
  let out;
  try {
    out = await elb.send(new DescribeInstanceHealthCommand({ LoadBalancerName: loadBalancerName }));
  } catch (err) {
    throw toAdapterError(err, loadBalancerName);
  }
  const views: TargetView[] = [];
  for (const s of out?.InstanceStates ?? []) {
    if (!s.InstanceId) continue;
    const view: TargetView = { instanceId: s.InstanceId, state: classicTargetState(s) };
    if (s.ReasonCode && s.ReasonCode !== 'N/A') view.reason = s.ReasonCode;
    if (s.Description && s.Description !== 'N/A') view.description = s.Description;
    else if (s.State === undefined) view.description = 'no health record reported';
    views.push(view);
  }
  return views.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
}

/**
 * Applies a plan to a Classic Load Balancer in the planner's order
 * (plan-apply.ts). On any failure, throws PartialApplyError saying what did change.
 */
export function applyClassicPlan(elb: ElasticLoadBalancingClient, loadBalancerName: string, plan: TargetPlan): Promise<AppliedTargets> {
  return applyInOrder(
    {
      register: async (batch) => {
        try {
          await elb.send(new RegisterInstancesWithLoadBalancerCommand({ LoadBalancerName: loadBalancerName, Instances: batch.map((InstanceId) => ({ InstanceId })) }));
        } catch (err) {
          throw toAdapterError(err, loadBalancerName);
        }
      },
      deregister: (batch) => deregisterBatch(elb, loadBalancerName, batch),
    },
    plan,
    INSTANCES_PER_CALL,
  );
}

async function deregisterBatch(elb: ElasticLoadBalancingClient, name: string, batch: string[]): Promise<void> {
  const call = (ids: string[]) =>
    elb.send(new DeregisterInstancesFromLoadBalancerCommand({ LoadBalancerName: name, Instances: ids.map((InstanceId) => ({ InstanceId })) }));
  try {
    await call(batch);
    return;
  } catch (err) {
    if (!isInvalidInstance(err)) throw toAdapterError(err, name);
    if (batch.length === 1) return;
  }
  // InvalidInstance refuses the whole call for one instance that is not (or no
  // longer) registered; one by one, the others are still removed.
  for (const id of batch) {
    try {
      await call([id]);
    } catch (err) {
      if (!isInvalidInstance(err)) throw toAdapterError(err, name);
    }
  }
}

/** ELB answers Code `InvalidInstance`; SDK v3 names the class `InvalidEndPointException`. */
function isInvalidInstance(err: unknown): boolean {
  return isAwsError(err, 'InvalidInstance', 'InvalidEndPointException');
}
