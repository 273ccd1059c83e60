/**
 * Simulated Vault/OpenBao nodes for the sandbox, the end-to-end tests and the
 * benchmark: real HTTP(S) listeners on 127.0.0.1, Vault's DynamoDB HA lock
 * through the real AWS SDK (or an in-process Raft group), fault switches.
 *
 *   const cluster = await createSimCluster({ count: 3, ha: 'dynamodb',
 *     ddb: { client, table }, timings: scaledTimings(0.05) });
 *   await cluster.nodes[0]!.kill();
 *   await cluster.stop();
 */
export { SimulatedVaultNode, SIM_ECHO_PATH } from './vault-node.js';
export type {
  SimulatedVaultNodeOptions,
  SimNodeStatus,
  SimNodeEvent,
  SimSealConfig,
  SimHaConfig,
  SimTlsConfig,
  SimFlavor,
  ClientPartitionMode,
} from './vault-node.js';
export { RaftGroup } from './raft-group.js';
export type { RaftGroupOptions, RaftGroupSnapshot } from './raft-group.js';
export { createSimCluster, nodeNameFor } from './cluster.js';
export type { SimCluster, SimClusterOptions } from './cluster.js';
export { scaledTimings } from './timings.js';
export {
  DynamoDbHaParticipant,
  LEADER_ADVERTISEMENT_PATH,
  lockUpdateCommand,
  lockReleaseCommand,
  lockReadCommand,
  parseLockItem,
  msToNs,
} from './dynamodb-lock.js';
export type { LockItem, LeaderAdvertisement } from './dynamodb-lock.js';
export type { HaParticipant, LeaderView, LeadershipSnapshot } from './ha.js';
export { SimNodeStateError, SimConfigError, SimStoragePartitionedError, SimInvalidUnsealKeyError } from './errors.js';
export { sleep } from './timers.js';
export { waitFor, WaitTimeoutError } from './wait.js';
export type { WaitOptions } from './wait.js';
export { simRequest, SimHttpError } from './probe.js';
export type { SimHttpAnswer } from './probe.js';
