/**
 * Errors raised by the simulated Vault nodes. One class per condition, each
 * carrying the node (and field/operation) it is about.
 */

/** A lifecycle method was called in a state that does not allow it (e.g. `start()` twice). */
export class SimNodeStateError extends Error {
  override readonly name = 'SimNodeStateError';
  constructor(
    readonly node: string,
    readonly operation: string,
    readonly state: string,
  ) {
    super(`simulated node ${node}: cannot ${operation} while ${state}`);
  }
}

/** A simulator option is missing or inconsistent. */
export class SimConfigError extends Error {
  override readonly name = 'SimConfigError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * Thrown instead of sending a DynamoDB request while the node's storage path is
 * partitioned (`partitionStorage(true)`): the request never reaches the table,
 * exactly like a network cut between the node and DynamoDB.
 */
export class SimStoragePartitionedError extends Error {
  override readonly name = 'SimStoragePartitionedError';
  constructor(
    readonly node: string,
    readonly operation: string,
  ) {
    super(`simulated node ${node}: ${operation} failed: storage is partitioned`);
  }
}

/** An unseal share was not one of the node's key shares. */
export class SimInvalidUnsealKeyError extends Error {
  override readonly name = 'SimInvalidUnsealKeyError';
  constructor(readonly node: string) {
    super(`simulated node ${node}: invalid unseal key share`);
  }
}
