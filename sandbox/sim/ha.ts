/**
 * What a simulated node needs from its HA backend (DynamoDB lock or Raft),
 * whichever it is. The node owns HTTP, seal state and fault switches; the
 * participant owns leadership.
 */

/** The active node as a standby currently believes it (Vault learns it from storage). */
export interface LeaderView {
  /** Leader UUID (DynamoDB: the lock's Value) or node name (Raft). */
  leaderId: string;
  /** api_addr of the active; undefined while the advertisement could not be read. */
  apiAddr: string | undefined;
  clusterAddr: string | undefined;
}

export interface LeadershipSnapshot {
  /** This node holds leadership (lock held / Raft leader). */
  held: boolean;
  /** Wall-clock ms (Date.now(), not the node's skewed clock) at which leadership was taken. */
  heldSinceMs?: number;
  /** DynamoDB: Identity of the current lock attempt, while held. */
  lockIdentity?: string;
  /** DynamoDB: Value written (leader UUID), while held. */
  leaderUuid?: string;
  raft?: { term: number; committedIndex: number; appliedIndex: number };
}

/** Callbacks from the participant into its node. */
export interface ParticipantHooks {
  readonly nodeName: string;
  /** The node's clock (Date.now() + its offset), ms. */
  nowMs(): number;
  apiAddr(): string;
  clusterAddr(): string;
  /** True while the node is cut from its storage / Raft peers. */
  storagePartitioned(): boolean;
  onBecameActive(): void;
  onLostActive(reason: string): void;
  log(kind: string, detail: string): void;
}

export interface HaParticipant {
  readonly type: 'dynamodb' | 'raft';
  /** Begin competing for leadership (the node was unsealed). Idempotent. */
  start(): void;
  /**
   * Stop competing. `graceful` releases leadership the way Vault's seal/shutdown
   * does; `hard` abandons it in place (SIGKILL: the lock stays until it expires).
   */
  halt(mode: 'graceful' | 'hard'): Promise<void>;
  /** Give up leadership and wait the step-down backoff before competing again; false when not leader. */
  stepDown(): Promise<boolean>;
  isLeader(): boolean;
  leaderView(): LeaderView | undefined;
  snapshot(): LeadershipSnapshot;
}
