/**
 * Fleet discovery: the cluster's members are the EC2 instances carrying the
 * discovery tag. Reports what EC2 says; decides nothing.
 */
import { DescribeInstanceStatusCommand, DescribeInstancesCommand, type EC2Client, type Filter, type Instance } from '@aws-sdk/client-ec2';
import type { StatusCheck } from '../core/auto-replace.js';
import type { ClusterConfig, VaultConfig } from '../config/schema.js';
import type { InstanceState, Member } from '../core/types.js';
import { AwsCallError, toAdapterError } from './errors.js';

/**
 * Every state, on purpose: a terminated instance stays visible for about an
 * hour, and the planner must see that a registered target's instance is gone
 * (the ALB fails open and would keep routing to it).
 */
export const ALL_INSTANCE_STATES: readonly InstanceState[] = ['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped'];

/** 1000 per page (EC2's maximum) x 50 pages bounds the walk far above any Vault cluster. */
export const DESCRIBE_PAGE_SIZE = 1000;
export const MAX_DESCRIBE_PAGES = 50;

export function memberFilters(cluster: ClusterConfig): Filter[] {
  return [
    { Name: `tag:${cluster.discovery.tagKey}`, Values: [cluster.discovery.tagValue] },
    { Name: 'instance-state-name', Values: [...ALL_INSTANCE_STATES] },
  ];
}

export async function discoverMembers(ec2: EC2Client, cluster: ClusterConfig): Promise<Member[]> {
  const resource = `ec2:tag:${cluster.discovery.tagKey}=${cluster.discovery.tagValue}`;
  const instances = await describeAllPages(ec2, memberFilters(cluster), resource);
  return membersOf(instances, cluster);
}

/**
 * Filter values per DescribeInstances request when several clusters share a
 * tag key. EC2 bounds the filter values of one request (FilterLimitExceeded);
 * 200 is a conservative chunk.
 */
export const MAX_FILTER_VALUES = 200;

/**
 * The members of every cluster in as few DescribeInstances walks as their tags
 * allow (issue #9): clusters sharing a discovery tag key are read with one
 * filter `tag:<key>` whose values are all their tag values (values are OR-ed,
 * Amazon EC2 API Reference "Filter"), then split by each instance's tag value.
 * One entry per cluster: its members, or the error that kept them unknown
 * (a failed walk fails only the clusters it was for).
 */
export async function discoverFleet(ec2: EC2Client, clusters: readonly ClusterConfig[]): Promise<Map<string, Member[] | Error>> {
  const out = new Map<string, Member[] | Error>();
  const byKey = new Map<string, ClusterConfig[]>();
  for (const c of clusters) byKey.set(c.discovery.tagKey, [...(byKey.get(c.discovery.tagKey) ?? []), c]);
  const walks: Array<Promise<void>> = [];
  for (const [tagKey, group] of byKey) {
    const values = [...new Set(group.map((c) => c.discovery.tagValue))].sort();
    for (let i = 0; i < values.length; i += MAX_FILTER_VALUES) {
      const chunk = values.slice(i, i + MAX_FILTER_VALUES);
      const inChunk = group.filter((c) => chunk.includes(c.discovery.tagValue));
      const resource = `ec2:tag:${tagKey}=${chunk.length === 1 ? chunk[0] : `{${chunk.length} values}`}`;
      const filters: Filter[] = [
        { Name: `tag:${tagKey}`, Values: chunk },
        { Name: 'instance-state-name', Values: [...ALL_INSTANCE_STATES] },
      ];
      walks.push(
        describeAllPages(ec2, filters, resource).then(
          (instances) => {
            for (const c of inChunk) out.set(c.name, membersOf(instances.filter((inst) => tagValue(inst, tagKey) === c.discovery.tagValue), c));
          },
          (err: unknown) => {
            const e = err instanceof Error ? err : new Error(String(err));
            for (const c of inChunk) out.set(c.name, e);
          },
        ),
      );
    }
  }
  await Promise.all(walks);
  return out;
}

async function describeAllPages(ec2: EC2Client, filters: Filter[], resource: string): Promise<Instance[]> {
  const instances: Instance[] = [];
  let nextToken: string | undefined;
  const seenTokens = new Set<string>();
  for (let page = 0; ; page++) {
    if (page >= MAX_DESCRIBE_PAGES) {
      throw new AwsCallError(`${resource}: DescribeInstances returned more than ${MAX_DESCRIBE_PAGES} pages`, {
        resource,
        code: 'TooManyPages',
      });
    }
    let out;
    try {
      out = await ec2.send(new DescribeInstancesCommand({ Filters: filters, MaxResults: DESCRIBE_PAGE_SIZE, NextToken: nextToken }));
    } catch (err) {
      throw toAdapterError(err, resource);
    }
    for (const r of out.Reservations ?? []) instances.push(...(r.Instances ?? []));
    nextToken = out.NextToken || undefined;
    if (nextToken === undefined) break;
    // A token seen before would loop forever (emulators have done this).
    if (seenTokens.has(nextToken)) {
      throw new AwsCallError(`${resource}: DescribeInstances repeated a NextToken`, { resource, code: 'RepeatedNextToken' });
    }
    seenTokens.add(nextToken);
  }
  return instances;
}

function membersOf(instances: Instance[], cluster: ClusterConfig): Member[] {
  const byId = new Map<string, Member>();
  for (const inst of instances) {
    const m = toMember(inst, cluster);
    if (m) byId.set(m.instanceId, m);
  }
  return [...byId.values()].sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
}

function toMember(inst: Instance, cluster: ClusterConfig): Member | undefined {
  if (!inst.InstanceId) return undefined;
  const state = (inst.State?.Name ?? 'pending') as InstanceState;
  const member: Member = { instanceId: inst.InstanceId, state, address: memberAddress(inst, cluster.vault) };
  if (inst.PrivateIpAddress) member.privateIp = inst.PrivateIpAddress;
  if (inst.Placement?.AvailabilityZone) member.availabilityZone = inst.Placement.AvailabilityZone;
  const slot = tagValue(inst, cluster.discovery.slotTagKey);
  if (slot !== undefined) member.slot = slot;
  if (inst.LaunchTime) member.launchTimeMs = new Date(inst.LaunchTime).getTime();
  return member;
}

function tagValue(inst: Pick<Instance, 'Tags'>, key: string): string | undefined {
  const v = inst.Tags?.find((t) => t.Key === key)?.Value;
  return v === undefined || v === '' ? undefined : v;
}

/**
 * The node's Vault base URL per `vault.address`, or undefined when it cannot
 * be derived (no private IP yet, terminated instance, missing or bad tag).
 */
export function memberAddress(
  instance: Pick<Instance, 'PrivateIpAddress' | 'PrivateDnsName' | 'Tags'>,
  vault: Pick<VaultConfig, 'scheme' | 'port' | 'address'>,
): string | undefined {
  const mode = vault.address;
  if (mode === 'privateIp') {
    return instance.PrivateIpAddress ? `${vault.scheme}://${instance.PrivateIpAddress}:${vault.port}` : undefined;
  }
  if (mode === 'privateDnsName') {
    // EC2 reports an empty string, not an absent field, once an instance is terminated.
    return instance.PrivateDnsName ? `${vault.scheme}://${instance.PrivateDnsName}:${vault.port}` : undefined;
  }
  const raw = tagValue(instance, mode.tag);
  return raw === undefined ? undefined : normaliseBaseUrl(raw);
}

/** An http(s) base URL without credentials, query, fragment or trailing slash; undefined otherwise. */
export function normaliseBaseUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password || url.search || url.hash || !url.hostname) return undefined;
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

/**
 * EC2 status checks for the given instances (DescribeInstanceStatus). Worst of
 * the system and instance checks; instances EC2 does not report are absent.
 */
export async function describeStatusChecks(ec2: EC2Client, instanceIds: string[]): Promise<Record<string, StatusCheck>> {
  const out: Record<string, StatusCheck> = {};
  if (instanceIds.length === 0) return out;
  const rank: Record<StatusCheck, number> = { ok: 0, 'not-applicable': 0, initializing: 1, 'insufficient-data': 2, impaired: 3 };
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_DESCRIBE_PAGES; page++) {
    let res;
    try {
      res = await ec2.send(
        new DescribeInstanceStatusCommand({ InstanceIds: instanceIds, IncludeAllInstances: true, ...(nextToken ? { NextToken: nextToken } : {}) }),
      );
    } catch (err) {
      throw toAdapterError(err, instanceIds.join(','));
    }
    for (const s of res.InstanceStatuses ?? []) {
      if (!s.InstanceId) continue;
      const statuses = [s.SystemStatus?.Status, s.InstanceStatus?.Status].map((v) => (v ?? 'not-applicable') as StatusCheck);
      out[s.InstanceId] = statuses.reduce((a, b) => (rank[b] > rank[a] ? b : a), 'ok' as StatusCheck);
    }
    nextToken = res.NextToken;
    if (!nextToken) break;
  }
  return out;
}
