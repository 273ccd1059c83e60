/**
 * Probes Vault nodes the way the controller needs them observed (DESIGN §3.1,
 * §3.2): `/v1/sys/health` and `/v1/sys/leader`, both unauthenticated, both at
 * once, no retries. A failed probe is a value the classifier turns into
 * `unreachable`/`unknown`; hysteresis lives in the planner, not here.
 */
import type { HttpAnswer, Member, ProbeResult } from '../core/types.js';
import type { VaultHealthBody, VaultLeaderBody } from '../core/vault-api.js';
import { VAULT_PATHS } from '../core/vault-api.js';
import { vaultRequest } from './vault-http.js';

/** Probe options from a cluster's `vault` config section. */
export function probeOptionsOf(vault: { probeTimeoutMs: number; maxResponseBytes: number; caBundle?: string | undefined }): ProbeOptions {
  return {
    timeoutMs: vault.probeTimeoutMs,
    maxResponseBytes: vault.maxResponseBytes,
    ...(vault.caBundle ? { caBundle: vault.caBundle } : {}),
  };
}

export interface ProbeOptions {
  /** Per request: health and leader each get the full budget, concurrently. */
  timeoutMs: number;
  caBundle?: string;
  maxResponseBytes: number;
  signal?: AbortSignal;
}

/**
 * Asks one node for its health and its view of the leader, concurrently so a
 * slow node costs one timeout, not two.
 */
export async function probeNode(address: string, opts: ProbeOptions): Promise<ProbeResult> {
  const request = {
    method: 'GET' as const,
    timeoutMs: opts.timeoutMs,
    maxResponseBytes: opts.maxResponseBytes,
    ...(opts.caBundle !== undefined ? { caBundle: opts.caBundle } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
  };
  // No query parameters on purpose: standbyok/perfstandbyok/...code would remap
  // the status codes, and the classifier reads Vault's defaults (§3.1).
  const [health, leader] = await Promise.all([
    vaultRequest<VaultHealthBody>(address, VAULT_PATHS.health, request),
    vaultRequest<VaultLeaderBody>(address, VAULT_PATHS.leader, request),
  ]);
  return { address, health, leader };
}

/**
 * Probes every running member that has an address, all in parallel. Members
 * that are running but have no derivable address get a `no-address` result
 * (so the classifier still sees them); members in any other state are not in
 * the map at all (their EC2 state is the evidence).
 */
export async function probeMembers(members: readonly Member[], opts: ProbeOptions): Promise<Map<string, ProbeResult>> {
  const running = members.filter((m) => m.state === 'running');
  const entries = await Promise.all(
    running.map(async (m): Promise<[string, ProbeResult]> => [
      m.instanceId,
      m.address === undefined || m.address === '' ? noAddressResult(m.instanceId) : await probeNode(m.address, opts),
    ]),
  );
  return new Map(entries);
}

function noAddressResult(instanceId: string): ProbeResult {
  const failure = <T>(): HttpAnswer<T> => ({
    ok: false,
    reason: 'no-address',
    detail: `no Vault address could be derived for ${instanceId}`,
    latencyMs: 0,
  });
  return { address: '', health: failure<VaultHealthBody>(), leader: failure<VaultLeaderBody>() };
}
