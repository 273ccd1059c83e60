/**
 * Client-visible measurement of a failover drill: bounded probe requests sent
 * through the load balancer's listener (`loadBalancer.listenerUrl`) by the
 * observe task, reduced here to counts and the moments that matter. Pure.
 *
 * What a success is: the listener URL's own path when it has one (e.g. a KV
 * read a client really makes), else `/v1/sys/health?standbyok=true&perfstandbyok=true`,
 * which an unsealed standby answers 200 too (Vault's sys/health: `standbyok`
 * and `perfstandbyok` turn 429/473 into 200), so it measures "the balancer
 * routes to an unsealed node" rather than "the active served the request".
 * For a path of the node's own choosing: a 2xx, or a 403, which only comes from
 * a node that handled the request (a request without a valid token is denied
 * by the active; a standby forwards it there, DESIGN §3.3a). A 307 (the
 * standby could not forward), a 5xx (sealed, no active, the balancer's own
 * 502/503/504), a timeout or a refused connection is a failure.
 */

export const DEFAULT_CLIENT_PROBE_PATH = '/v1/sys/health?standbyok=true&perfstandbyok=true';

/** The request the drill sends: the listener URL, with the default path when it names none. */
export function clientProbeTarget(listenerUrl: string): { url: string; path: string; usesDefaultPath: boolean } {
  const u = new URL(listenerUrl);
  const hasPath = (u.pathname !== '' && u.pathname !== '/') || u.search !== '';
  const base = `${u.protocol}//${u.host}`;
  const path = hasPath ? `${u.pathname}${u.search}` : DEFAULT_CLIENT_PROBE_PATH;
  return { url: `${base}${path}`, path, usesDefaultPath: !hasPath };
}

/** Whether an HTTP status through the listener means a client was served (see the module comment). */
export function isClientSuccess(status: number): boolean {
  return (status >= 200 && status < 300) || status === 403;
}

/** One probe request: when it was sent, whether it succeeded, and the status or failure reason. */
export interface ClientSample {
  atMs: number;
  ok: boolean;
  detail: string;
}

/** What the drill keeps of its client requests (bounded: counts and transitions, not every request). */
export interface ClientTally {
  sent: number;
  failed: number;
  /** First and last failed request after the injection ('' when none). */
  firstFailedAt: string;
  lastFailedAt: string;
  /** First success after the latest failure ('' while failing, or when nothing failed). */
  recoveredAt: string;
  /** First success after the injection ('' until one). */
  firstOkAt: string;
  /** Outcome of the latest request (null before any). */
  lastOk: boolean | null;
  /** ok ↔ failed changes, oldest first, at most MAX_CLIENT_TRANSITIONS (the latest kept). */
  transitions: Array<{ at: string; ok: boolean; detail: string }>;
}

export const MAX_CLIENT_TRANSITIONS = 40;

export function emptyTally(): ClientTally {
  return { sent: 0, failed: 0, firstFailedAt: '', lastFailedAt: '', recoveredAt: '', firstOkAt: '', lastOk: null, transitions: [] };
}

export function tallyClient(prev: ClientTally | undefined, samples: readonly ClientSample[]): ClientTally {
  const t: ClientTally = { ...(prev ?? emptyTally()), transitions: [...(prev?.transitions ?? [])] };
  for (const s of [...samples].sort((a, b) => a.atMs - b.atMs)) {
    const at = new Date(s.atMs).toISOString();
    t.sent += 1;
    if (t.lastOk !== s.ok) t.transitions.push({ at, ok: s.ok, detail: s.detail });
    if (s.ok) {
      if (t.firstOkAt === '') t.firstOkAt = at;
      if (t.lastOk === false) t.recoveredAt = at;
    } else {
      t.failed += 1;
      if (t.firstFailedAt === '') t.firstFailedAt = at;
      t.lastFailedAt = at;
      t.recoveredAt = '';
    }
    t.lastOk = s.ok;
  }
  if (t.transitions.length > MAX_CLIENT_TRANSITIONS) t.transitions = [t.transitions[0]!, ...t.transitions.slice(-(MAX_CLIENT_TRANSITIONS - 1))];
  return t;
}

/** Clients are served now: the latest request succeeded. */
export function clientsServed(t: ClientTally | undefined): boolean {
  return t?.lastOk === true;
}

/**
 * Client-visible RTO: from the injection to the first success after the last
 * failure; 0 when no request failed (clients never noticed); null while the
 * latest request still fails or none was sent.
 */
export function clientRtoSeconds(injectedAt: string, t: ClientTally | undefined): number | null {
  if (!t || t.sent === 0 || t.lastOk !== true) return null;
  if (t.failed === 0) return 0;
  // The latest request succeeded after a failure: recoveredAt is its moment.
  return Math.max(0, Date.parse(t.recoveredAt) - Date.parse(injectedAt)) / 1000;
}
