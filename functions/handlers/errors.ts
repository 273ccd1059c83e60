/**
 * Named errors the state-machine tasks throw. Step Functions matches
 * `Retry`/`Catch` `ErrorEquals` against the error's `name` (the Lambda
 * runtime reports it as `errorType`), so each `name` here is a contract with
 * the ASL; test/statemachines/error-names.test.ts keeps both lists in sync.
 */
export { InvalidInputError, ConfigError } from '../config/errors.js';
export { AwsTransientError, LeaseBusyError } from '../adapters/errors.js';

/**
 * Inspect refuses the replacement (active node without force, volume
 * elsewhere, ...), or the drill's pre-check finds no steady state. Nothing was changed.
 */
export class RefusedError extends Error {
  override readonly name = 'RefusedError';
  constructor(
    readonly cluster: string,
    readonly slot: string,
    readonly reasons: string[],
    /** What was refused, for the message (default: the replacement of `slot`). */
    readonly operation: string = `replace slot ${slot}`,
  ) {
    super(`refused to ${operation} of ${cluster}: ${reasons.join('; ')}`);
  }
}

/** A resource is not visible yet (eventual consistency right after a write); the ASL retries with backoff. */
export class NotReadyError extends Error {
  override readonly name = 'NotReadyError';
  constructor(
    readonly resource: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${resource} not ready: ${detail}`, options);
  }
}

/** The data volume did not become available, even after a force-detach. */
export class VolumeStuckError extends Error {
  override readonly name = 'VolumeStuckError';
  constructor(
    readonly volumeId: string,
    detail: string,
  ) {
    super(`volume ${volumeId} is stuck: ${detail}`);
  }
}

/** The slot's network interface did not become available in time. */
export class InterfaceBusyError extends Error {
  override readonly name = 'InterfaceBusyError';
  constructor(
    readonly networkInterfaceId: string,
    detail: string,
  ) {
    super(`network interface ${networkInterfaceId} did not become available: ${detail}`);
  }
}

/** RunInstances failed (capacity, bad launch template, interface in use, ...). */
export class LaunchFailedError extends Error {
  override readonly name = 'LaunchFailedError';
  constructor(
    readonly slot: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`launch for slot ${slot} failed: ${detail}`, options);
  }
}

/**
 * AttachVolume of the slot's data volume to the replacement failed for good:
 * a permanent EC2 error (`code`: InvalidVolume.NotFound, UnauthorizedOperation,
 * IncorrectState, ...) or VolumeInUse with the volume on another instance.
 * Transient errors are AwsTransientError instead (retried by the ASL).
 */
export class AttachFailedError extends Error {
  override readonly name = 'AttachFailedError';
  constructor(
    readonly volumeId: string,
    readonly instanceId: string,
    readonly code: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`attach ${volumeId} to ${instanceId} failed: ${code}: ${detail}`, options);
  }
}

/** VaultHA-PrepareNode (mount, start, unseal) failed or timed out on the node. */
export class UnsealFailedError extends Error {
  override readonly name = 'UnsealFailedError';
  constructor(
    readonly instanceId: string,
    readonly commandId: string,
    readonly status: string,
    detail: string,
  ) {
    super(`prepare/unseal on ${instanceId} (command ${commandId}) ended ${status}: ${detail}`);
  }
}

/** The active node could not be stepped down before its replacement. */
export class StepDownFailedError extends Error {
  override readonly name = 'StepDownFailedError';
  constructor(
    readonly instanceId: string,
    detail: string,
  ) {
    super(`step-down of ${instanceId} failed: ${detail}`);
  }
}

/** The replacement never reported an unsealed standby within `standbyTimeoutSeconds`. */
export class StandbyTimeoutError extends Error {
  override readonly name = 'StandbyTimeoutError';
  constructor(
    readonly instanceId: string,
    readonly lastSeen: string,
    readonly timeoutSeconds: number,
  ) {
    super(`${instanceId} was not an unsealed standby after ${timeoutSeconds}s (last seen: ${lastSeen})`);
  }
}

/** A bounded wait ran out of attempts (raised by a task, or set by the ASL for SDK-integration waits). */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly wait: string,
    detail: string,
  ) {
    super(`${wait}: ${detail}`);
  }
}

/**
 * The failover drill's restore could not bring the faulted node back (a
 * command failed, the instance never came up, the node never became a
 * standby within the restore budget, or the nested replace-node failed).
 * Caught by the ASL: the drill still post-checks and reports what is left.
 */
export class RestoreFailedError extends Error {
  override readonly name = 'RestoreFailedError';
  constructor(
    readonly instanceId: string,
    readonly step: string,
    detail: string,
  ) {
    super(`restore of ${instanceId} failed at ${step}: ${detail}`);
  }
}

/** A task was invoked with an `action` the handler does not know (definition and code out of sync). */
export class UnknownActionError extends Error {
  override readonly name = 'UnknownActionError';
  constructor(readonly action: unknown) {
    super(`unknown task action ${JSON.stringify(action)}`);
  }
}
