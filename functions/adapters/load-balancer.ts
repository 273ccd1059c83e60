/**
 * The load-balancer port: the one interface the controller's tick (and the
 * workflows' inspections) use to read and change what a cluster's balancer
 * routes to, whatever `loadBalancer.type` says:
 *
 *  - `target-group` (ALB or NLB): target type `instance` (targets are instance
 *    ids) or `ip` (targets are the members' private IPs, mapped back to
 *    instance ids here, because the planner works on instance ids); found once
 *    per container with DescribeTargetGroups.
 *  - `classic` (Classic Load Balancer): instance ids; its client is imported
 *    lazily so target-group deployments never load it.
 *
 * Decides nothing: it reports what the balancer says and applies the plan the
 * core planner made, in the planner's order.
 */
import type { ElasticLoadBalancingClient } from '@aws-sdk/client-elastic-load-balancing';
import type { ElasticLoadBalancingV2Client, TargetDescription } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { LoadBalancerConfig, VaultConfig } from '../config/schema.js';
import type { InstanceState, Member, TargetView } from '../core/types.js';
import { AwsCallError } from './errors.js';
import type { AppliedTargets, TargetPlan } from './plan-apply.js';
import { applyTargets, describeTargetGroupFacts, describeTargets } from './target-group.js';

/** What a cluster's balancer routes to, read only (the workflows' inspections). */
export interface LoadBalancerView {
  readonly type: LoadBalancerConfig['type'];
  /** The balancer's ARN (target group) or name (classic): what errors and reports name. */
  readonly resource: string;
  /**
   * What is registered and how the balancer sees it, keyed by instance id.
   * `members` is only needed to map `ip` targets back to instances; a promise
   * lets the caller read the fleet and the balancer at the same time.
   */
  describe(members: readonly Member[] | PromiseLike<readonly Member[]>): Promise<TargetView[]>;
}

/** The view plus changing it (the controller's tick). */
export interface LoadBalancerPort extends LoadBalancerView {
  /** Applies a plan (instance ids) in the planner's order; throws PartialApplyError with what changed. */
  apply(plan: TargetPlan, members: readonly Member[]): Promise<AppliedTargets>;
}

export interface LoadBalancerClients {
  elbv2: ElasticLoadBalancingV2Client;
  /** The Classic ELB client; default: classic-elb.ts's per-container client, loaded on first use. */
  classicElb?: ElasticLoadBalancingClient;
}

type PortCluster = { loadBalancer: LoadBalancerConfig; vault: Pick<VaultConfig, 'port'> };

export function loadBalancerPort(cluster: PortCluster, clients: LoadBalancerClients): LoadBalancerPort {
  const lb = cluster.loadBalancer;
  if (lb.type === 'classic') return new ClassicPort(lb.loadBalancerName, clients.classicElb);
  return new TargetGroupPort(clients.elbv2, lb.targetGroupArn, lb.targetPort ?? cluster.vault.port);
}

/**
 * The read-only view: a function that only inspects (the drill) bundles no
 * registration calls (the classes that apply are separate, so they are left
 * out of its bundle).
 */
export function loadBalancerView(cluster: PortCluster, clients: LoadBalancerClients): LoadBalancerView {
  const lb = cluster.loadBalancer;
  if (lb.type === 'classic') return new ClassicView(lb.loadBalancerName, clients.classicElb);
  return new TargetGroupView(clients.elbv2, lb.targetGroupArn, lb.targetPort ?? cluster.vault.port);
}

/** The loadBalancer's ARN or name, for messages. */
export function loadBalancerResource(lb: LoadBalancerConfig): string {
  return lb.type === 'classic' ? lb.loadBalancerName : lb.targetGroupArn;
}

class ClassicView implements LoadBalancerView {
  readonly type = 'classic' as const;
  constructor(
    readonly resource: string,
    protected readonly client: ElasticLoadBalancingClient | undefined,
  ) {}

  async describe(): Promise<TargetView[]> {
    const classic = await import('./classic-elb.js');
    return classic.describeInstanceHealth(this.client ?? classic.classicElbClient(), this.resource);
  }
}

class ClassicPort extends ClassicView implements LoadBalancerPort {
  async apply(plan: TargetPlan): Promise<AppliedTargets> {
    const classic = await import('./classic-elb.js');
    return classic.applyClassicPlan(this.client ?? classic.classicElbClient(), this.resource, plan);
  }
}

/** Prefer the member whose instance can hold the address now (a replacement keeps its slot's interface, and so its IP). */
const STATE_RANK: Record<InstanceState, number> = { running: 0, pending: 1, stopping: 2, stopped: 3, 'shutting-down': 4, terminated: 5 };

class TargetGroupView implements LoadBalancerView {
  readonly type = 'target-group' as const;
  /** What the last describe saw: the target id and port of each registered instance. */
  protected readonly seen = new Map<string, { targetId: string; port?: number }>();

  constructor(
    protected readonly elb: ElasticLoadBalancingV2Client,
    readonly resource: string,
    protected readonly port: number,
  ) {}

  async describe(members: readonly Member[] | PromiseLike<readonly Member[]>): Promise<TargetView[]> {
    const membersRead = Promise.resolve(members);
    // Awaited only for ip targets: a failed fleet read reaches the caller through its own promise.
    membersRead.catch(() => undefined);
    const [facts, raw] = await Promise.all([describeTargetGroupFacts(this.elb, this.resource), describeTargets(this.elb, this.resource)]);
    this.seen.clear();
    if (facts.targetType === 'instance') return raw;
    const byIp = ipIndex(await membersRead);
    const views = raw.map((t): TargetView => {
      const member = byIp.get(t.instanceId);
      // A target no member has the IP of stays keyed by its IP: the planner sees a non-member.
      const view: TargetView = { ...t, instanceId: member?.instanceId ?? t.instanceId, targetId: t.instanceId };
      if (!this.seen.has(view.instanceId) || t.state !== 'draining') {
        this.seen.set(view.instanceId, { targetId: t.instanceId, ...(t.port !== undefined ? { port: t.port } : {}) });
      }
      return view;
    });
    return views.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  }
}

class TargetGroupPort extends TargetGroupView implements LoadBalancerPort {
  async apply(plan: TargetPlan, members: readonly Member[]): Promise<AppliedTargets> {
    const facts = await describeTargetGroupFacts(this.elb, this.resource);
    if (facts.targetType === 'instance') return applyTargets(this.elb, this.resource, plan, (id) => ({ Id: id, Port: this.port }));
    const memberById = new Map(members.map((m) => [m.instanceId, m]));
    const targetOf = (id: string, step: 'register' | 'deregister'): TargetDescription => {
      const seen = this.seen.get(id);
      if (step === 'deregister' && seen !== undefined) return { Id: seen.targetId, Port: seen.port ?? this.port };
      const ip = memberById.get(id)?.privateIp;
      if (ip !== undefined && ip !== '') return { Id: ip, Port: this.port };
      // A non-member registered by IP is planned under its IP.
      if (step === 'deregister' && !id.startsWith('i-')) return { Id: id, Port: this.port };
      throw new AwsCallError(`${this.resource}: ${id} has no private IP to ${step} in an ip target group`, { resource: this.resource, code: 'NoPrivateIp' });
    };
    return applyTargets(this.elb, this.resource, plan, targetOf);
  }
}

function ipIndex(members: readonly Member[]): Map<string, Member> {
  const byIp = new Map<string, Member>();
  for (const m of members) {
    if (m.privateIp === undefined || m.privateIp === '') continue;
    const other = byIp.get(m.privateIp);
    if (other === undefined || STATE_RANK[m.state] < STATE_RANK[other.state] || (STATE_RANK[m.state] === STATE_RANK[other.state] && (m.launchTimeMs ?? 0) > (other.launchTimeMs ?? 0))) {
      byIp.set(m.privateIp, m);
    }
  }
  return byIp;
}
