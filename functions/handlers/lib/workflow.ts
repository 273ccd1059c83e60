/**
 * What the two workflows' task functions share (replace-node and
 * failover-drill): their dependencies, the environment names, the operation
 * lease scope, the SSM document and token names, and the one-snapshot view of
 * a cluster. Its own module so that the drill's task function bundles none of
 * replace-node's launch, attach and tagging code (its role grants none of it).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { loadConfigCached } from '../../config/load.js';
import type { ClusterConfig, Config } from '../../config/schema.js';
import { ddbClient, ec2Client, elbv2Client, ssmClient } from '../../adapters/aws-clients.js';
import { acquireLease, LEASE_SCOPES } from '../../adapters/control-table.js';
import { discoverMembers } from '../../adapters/ec2-fleet.js';
import { readClusterLock } from '../../adapters/lock-reader.js';
import { DEFAULT_DOCUMENT_NAMES } from '../../adapters/ssm-run.js';
import { probeNode, probeOptionsOf } from '../../adapters/vault-probe.js';
import { findCluster } from '../../core/replacement.js';
import { assessSnapshot } from '../../core/snapshot.js';
import type { Member, NodeHealth, ProbeResult, SplitBrainVerdict } from '../../core/types.js';
import { jsonLogger, type Logger } from './logger.js';

export interface ReplaceNodeClients {
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  ddb: DynamoDBClient;
  ssm: SSMClient;
}

export interface ReplaceNodeDeps {
  loadConfig: () => Promise<Config>;
  clients: () => ReplaceNodeClients;
  /** Probes one node's health and leader view (tests inject a fake; default is the HTTPS probe). */
  probe: (address: string, cluster: ClusterConfig) => Promise<ProbeResult>;
  nowMs: () => number;
  sleep: (ms: number) => Promise<void>;
  env: Record<string, string | undefined>;
  logger: Logger;
  /** How long compensation waits for a detaching volume to settle before reporting where it is. */
  compensationSettleMs: number;
}

export const ENV = {
  prepareDocument: 'VAULT_HA_PREPARE_DOCUMENT',
  controlDocument: 'VAULT_HA_CONTROL_DOCUMENT',
  topicArn: 'VAULT_HA_NOTIFY_TOPIC_ARN',
  stepDownTokenParameter: 'VAULT_HA_STEP_DOWN_TOKEN_PARAMETER',
} as const;

/** Lease scope shared with failover-drill: one replacement or drill per cluster at a time. */
export const OPERATION_LEASE_SCOPE = LEASE_SCOPES.operation;

/** Replacement reports are kept in the control table for this long. */
export const REPORT_TTL_SECONDS = 90 * 24 * 3600;


/** The dependencies every Step Functions task Lambda of this project shares (failover-drill reuses them). */
export const sharedTaskDeps = (service: string): Omit<ReplaceNodeDeps, 'sleep' | 'compensationSettleMs'> => ({
  loadConfig: loadConfigCached,
  // Only the four clients the tasks call: the bundle then carries no SNS or SFN client.
  clients: () => ({ ec2: ec2Client(), elbv2: elbv2Client(), ddb: ddbClient(), ssm: ssmClient() }),
  probe: (address, cluster) => probeNode(address, probeOptionsOf(cluster.vault)),
  nowMs: () => Date.now(),
  env: process.env,
  logger: jsonLogger(service),
});

/** The controller's view of the cluster (members, probes, lock → verdict), with no history; shared with failover-drill. */
export async function observeNodes(deps: Pick<ReplaceNodeDeps, 'clients' | 'probe' | 'nowMs'>, cluster: ClusterConfig): Promise<{ members: Member[]; nodes: NodeHealth[]; verdict: SplitBrainVerdict }> {
  const { ec2, ddb } = deps.clients();
  const members = await discoverMembers(ec2, cluster);
  const [probes, lockRead] = await Promise.all([
    Promise.all(
      members.map(async (m) => (m.state === 'running' && m.address ? ([m.instanceId, await deps.probe(m.address, cluster)] as const) : undefined)),
    ),
    readClusterLock(ddb, cluster.haLock),
  ]);
  const byId = new Map(probes.filter((p): p is readonly [string, ProbeResult] => p !== undefined));
  // No history: a workflow judges one snapshot, as the controller's first tick would.
  const { nodes, verdict } = assessSnapshot({ cluster, members, probes: byId, lockRead, history: { ticks: [], failureCounts: {} }, nowMs: deps.nowMs() });
  return { members, nodes, verdict };
}

/** SecureString NAME holding a token allowed to step Vault down (read on the node); shared with failover-drill. */
export function stepDownTokenParameter(deps: Pick<ReplaceNodeDeps, 'env'>, cluster: string): string {
  return deps.env[ENV.stepDownTokenParameter] || `/vault-ha/${cluster}/step-down-token`;
}

/** The SSM document name from env (set by serverless.yml), or the project default; shared with failover-drill. */
export function documentName(deps: Pick<ReplaceNodeDeps, 'env'>, which: 'prepareNode' | 'vaultControl'): string {
  const fromEnv = deps.env[which === 'prepareNode' ? ENV.prepareDocument : ENV.controlDocument];
  return fromEnv && fromEnv !== '' ? fromEnv : DEFAULT_DOCUMENT_NAMES[which];
}

export const iso = (ms: number): string => new Date(ms).toISOString();

/** The config and the task's cluster in it (UnknownClusterError when the config no longer has it). */
export async function clusterOf(deps: Pick<ReplaceNodeDeps, 'loadConfig'>, ctx: { cluster: string }): Promise<{ config: Config; cluster: ClusterConfig }> {
  const config = await deps.loadConfig();
  return { config, cluster: findCluster(config, ctx.cluster) };
}

/**
 * Takes the cluster's operation lease for an execution: one replacement or drill per cluster
 * at a time (LeaseBusyError, named for the ASL, when another execution holds it).
 */
export async function acquireOperationLease(
  deps: Pick<ReplaceNodeDeps, 'clients' | 'nowMs'>,
  table: string,
  req: { cluster: string; owner: string; ttlMs: number; purpose: string },
): Promise<{ owner: string; expiresAt: string }> {
  const nowMs = deps.nowMs();
  await acquireLease(deps.clients().ddb, table, { cluster: req.cluster, scope: OPERATION_LEASE_SCOPE, owner: req.owner, ttlMs: req.ttlMs, nowMs, purpose: req.purpose });
  return { owner: req.owner, expiresAt: iso(nowMs + req.ttlMs) };
}
