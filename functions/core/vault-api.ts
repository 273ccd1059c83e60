/**
 * One source of truth for the Vault HTTP facts this project relies on
 * (DESIGN §3.1–3.3). Shapes follow Vault's `http/sys_health.go`,
 * `http/sys_leader.go` and `http/sys_seal.go`: every field is optional because
 * older Vaults and OpenBao omit the newer ones, and a sealed node omits
 * `cluster_id`.
 */

/** Default `/v1/sys/health` status codes when no query parameters are given. */
export const HEALTH_STATUS = {
  active: 200,
  standby: 429,
  drSecondary: 472,
  performanceStandby: 473,
  haUnhealthy: 474,
  notInitialized: 501,
  sealed: 503,
  removed: 530,
} as const;

export type HealthStatusCode = (typeof HEALTH_STATUS)[keyof typeof HEALTH_STATUS];

export const VAULT_PATHS = {
  health: '/v1/sys/health',
  leader: '/v1/sys/leader',
  sealStatus: '/v1/sys/seal-status',
  unseal: '/v1/sys/unseal',
  stepDown: '/v1/sys/step-down',
} as const;

export interface VaultHealthBody {
  initialized?: boolean;
  sealed?: boolean;
  standby?: boolean;
  performance_standby?: boolean;
  replication_performance_mode?: string;
  replication_dr_mode?: string;
  server_time_utc?: number;
  version?: string;
  enterprise?: boolean;
  cluster_name?: string;
  cluster_id?: string;
  /** Vault 1.16+. */
  clock_skew_ms?: number;
  /** Vault 1.16+. */
  echo_duration_ms?: number;
  /** Vault 1.19+: false on a standby whose request-forwarding heartbeat to the active failed. */
  ha_connection_healthy?: boolean;
  /** Vault 1.19+. */
  last_request_forwarding_heartbeat_ms?: number;
  /** Vault 1.19+ (Raft): true once the node was removed from the Raft configuration. */
  removed_from_cluster?: boolean;
}

export interface VaultLeaderBody {
  ha_enabled?: boolean;
  is_self?: boolean;
  active_time?: string;
  leader_address?: string;
  leader_cluster_address?: string;
  performance_standby?: boolean;
  performance_standby_last_remote_wal?: number;
  raft_committed_index?: number;
  raft_applied_index?: number;
}

export interface VaultSealStatusBody {
  type?: string;
  initialized?: boolean;
  sealed?: boolean;
  t?: number;
  n?: number;
  progress?: number;
  nonce?: string;
  version?: string;
  build_date?: string;
  migration?: boolean;
  cluster_name?: string;
  cluster_id?: string;
  recovery_seal?: boolean;
  storage_type?: string;
}
