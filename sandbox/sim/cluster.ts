/**
 * A ready-made simulated cluster: `count` nodes named vault-a, vault-b, ...
 * sharing one DynamoDB lock table or one Raft group, started in parallel.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LockTimings } from '../../functions/core/ha-lock.js';
import { SimConfigError } from './errors.js';
import { RaftGroup, type RaftGroupOptions } from './raft-group.js';
import {
  SimulatedVaultNode,
  type SimFlavor,
  type SimNodeEvent,
  type SimSealConfig,
  type SimTlsConfig,
} from './vault-node.js';

export interface SimClusterOptions {
  count: number;
  ha: 'dynamodb' | 'raft';
  ddb?: { client: DynamoDBClient; table: string };
  /** DynamoDB lock timings (default Vault's real ones); see scaledTimings(). */
  timings?: LockTimings;
  /** Raft group options (election timeout etc.). */
  raft?: RaftGroupOptions;
  /** Default: auto seal (every node comes up unsealed). */
  seal?: SimSealConfig;
  tls?: SimTlsConfig;
  clusterName?: string;
  flavor?: SimFlavor;
  version?: string;
  startSealed?: boolean;
  rootToken?: string;
  /** Default 'vault-' → vault-a, vault-b, ... */
  namePrefix?: string;
  heartbeat?: { intervalMs?: number; unhealthyAfterMs?: number };
  forwardTimeoutMs?: number;
  onEvent?: (event: SimNodeEvent) => void;
}

export interface SimCluster {
  nodes: SimulatedVaultNode[];
  /** The Raft group when ha = 'raft'. */
  raftGroup: RaftGroup | undefined;
  /** Kills every node (no lock release, like losing the whole fleet) and stops the Raft group. */
  stop(): Promise<void>;
}

export function nodeNameFor(index: number, prefix = 'vault-'): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  return index < letters.length ? `${prefix}${letters[index]}` : `${prefix}${index + 1}`;
}

export async function createSimCluster(opts: SimClusterOptions): Promise<SimCluster> {
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new SimConfigError('count', 'must be a positive integer');
  if (opts.ha === 'dynamodb' && !opts.ddb) throw new SimConfigError('ddb', "required when ha is 'dynamodb'");
  const raftGroup = opts.ha === 'raft' ? new RaftGroup(opts.raft) : undefined;
  const nodes: SimulatedVaultNode[] = [];
  for (let i = 0; i < opts.count; i++) {
    const ha =
      raftGroup !== undefined
        ? { type: 'raft' as const, group: raftGroup }
        : { type: 'dynamodb' as const, client: opts.ddb!.client, table: opts.ddb!.table, ...(opts.timings ? { timings: opts.timings } : {}) };
    nodes.push(
      new SimulatedVaultNode({
        name: nodeNameFor(i, opts.namePrefix),
        ha,
        seal: opts.seal ?? { type: 'auto' },
        ...(opts.tls ? { tls: opts.tls } : {}),
        ...(opts.clusterName ? { clusterName: opts.clusterName } : {}),
        ...(opts.flavor ? { flavor: opts.flavor } : {}),
        ...(opts.version ? { version: opts.version } : {}),
        ...(opts.startSealed !== undefined ? { startSealed: opts.startSealed } : {}),
        ...(opts.rootToken ? { rootToken: opts.rootToken } : {}),
        ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
        ...(opts.forwardTimeoutMs !== undefined ? { forwardTimeoutMs: opts.forwardTimeoutMs } : {}),
        ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
      }),
    );
  }
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.kill()));
    raftGroup?.stop();
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { nodes, raftGroup, stop: stopAll };
}
