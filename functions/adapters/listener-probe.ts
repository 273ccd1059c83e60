/**
 * One client request through the load balancer's listener
 * (`loadBalancer.listenerUrl`), as a client would send it: the drill's
 * client-visible measure. Never throws: the answer is a status code or a
 * failure reason (Patroni-style: a probe result is a value). TLS verification
 * stays on; the cluster's CA bundle is added to the default roots (the
 * listener's certificate may come from the same private CA).
 */
import type { ClusterConfig } from '../config/schema.js';
import { isClientSuccess, type ClientSample } from '../core/drill-client.js';
import { vaultRequest } from './vault-http.js';

/** Short: a client that waits longer than this has already noticed the outage. */
export const LISTENER_PROBE_TIMEOUT_MS = 2_000;

export async function probeListener(url: string, cluster: Pick<ClusterConfig, 'vault'>, nowMs: () => number = Date.now): Promise<ClientSample> {
  const u = new URL(url);
  const atMs = nowMs();
  const answer = await vaultRequest<unknown>(`${u.protocol}//${u.host}`, `${u.pathname}${u.search}`, {
    timeoutMs: LISTENER_PROBE_TIMEOUT_MS,
    maxResponseBytes: 65_536,
    ...(cluster.vault.caBundle ? { caBundle: cluster.vault.caBundle } : {}),
  });
  if (!answer.ok) return { atMs, ok: false, detail: answer.reason };
  return { atMs, ok: isClientSuccess(answer.status), detail: `HTTP ${answer.status}` };
}
