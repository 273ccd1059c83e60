/**
 * Classification of one node from its EC2 state and its `/v1/sys/health` +
 * `/v1/sys/leader` answers (DESIGN §3.1, §3.2, §4.3). Pure: no I/O.
 *
 * The status code is Vault's own summary; the JSON body is the detail. When
 * they disagree we keep both as a finding and take the LESS routable reading:
 * a wrong "sealed" costs one tick of routing, a wrong "active" can route
 * clients to a node that cannot serve them.
 */
import type { HttpAnswer, NodeClass, NodeHealth, NodeObservation } from './types.js';
import { HEALTH_STATUS, type VaultHealthBody, type VaultLeaderBody } from './vault-api.js';

/** `clock_skew_ms` (Vault 1.16+) beyond this is reported: Expires is written with the holder's clock. */
export const CLOCK_SKEW_FINDING_MS = 5_000;

export interface ClassifyOptions {
  clockSkewFindingMs?: number;
}

const CLASS_BY_STATUS: ReadonlyMap<number, NodeClass> = new Map<number, NodeClass>([
  [HEALTH_STATUS.active, 'active'],
  [HEALTH_STATUS.standby, 'standby'],
  [HEALTH_STATUS.performanceStandby, 'perf-standby'],
  [HEALTH_STATUS.drSecondary, 'dr-secondary'],
  [HEALTH_STATUS.haUnhealthy, 'ha-unhealthy'],
  [HEALTH_STATUS.notInitialized, 'uninitialized'],
  [HEALTH_STATUS.sealed, 'sealed'],
  [HEALTH_STATUS.removed, 'removed'],
]);

/**
 * Higher = more routable. Used only to pick the safer of two readings; the
 * node classes that cannot serve clients at all share the bottom rank.
 */
const ROUTABILITY: Record<NodeClass, number> = {
  active: 5,
  standby: 4,
  'perf-standby': 4,
  'ha-unhealthy': 3,
  'dr-secondary': 2,
  removed: 1,
  sealed: 1,
  uninitialized: 1,
  unknown: 0,
  unreachable: 0,
};

const SEALED_CLASSES: ReadonlySet<NodeClass> = new Set<NodeClass>(['sealed', 'uninitialized', 'removed']);

/** Classes in which a node cannot be the active of this cluster, whatever /v1/sys/leader says. */
const CANNOT_LEAD: ReadonlySet<NodeClass> = new Set<NodeClass>(['sealed', 'uninitialized', 'removed', 'dr-secondary']);

/**
 * What the body alone says, following the precedence Vault itself uses when it
 * picks the code (uninitialized, sealed, removed, DR secondary, HA-unhealthy
 * standby, performance standby, standby, active). Undefined when the body does
 * not carry enough fields to say anything (e.g. an error body).
 */
function classFromBody(body: VaultHealthBody): NodeClass | undefined {
  if (body.initialized === false) return 'uninitialized';
  if (body.sealed === true) return 'sealed';
  if (body.removed_from_cluster === true) return 'removed';
  if (body.replication_dr_mode === 'secondary') return 'dr-secondary';
  if (body.standby === true || body.performance_standby === true) {
    // Vault 1.19+: 474 wins over standbyok, so a standby without a working
    // heartbeat to the active is its own class.
    if (body.ha_connection_healthy === false) return 'ha-unhealthy';
    return body.performance_standby === true ? 'perf-standby' : 'standby';
  }
  if (body.standby === false && body.sealed === false && body.initialized === true) return 'active';
  return undefined;
}

function describeFailure(what: string, answer: HttpAnswer<unknown>): string {
  if (answer.ok) return `${what}: HTTP ${answer.status}`;
  return answer.detail ? `${what}: ${answer.reason} (${answer.detail})` : `${what}: ${answer.reason}`;
}

function nonEmpty(s: string | undefined): string | undefined {
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
}

export function classifyHealth(obs: NodeObservation, options: ClassifyOptions = {}): NodeHealth {
  const skewLimitMs = options.clockSkewFindingMs ?? CLOCK_SKEW_FINDING_MS;
  const { member, probe } = obs;
  const base = {
    instanceId: member.instanceId,
    address: probe?.address ?? member.address,
    instanceState: member.state,
  };

  if (member.state !== 'running') {
    // EC2 itself says the node is not running: that is definitive, not absence
    // of evidence, so no hysteresis applies.
    return {
      ...base,
      class: 'unreachable',
      claimsActive: false,
      answered: false,
      evidenceIsAbsence: false,
      findings: [`instance is ${member.state}`],
    };
  }

  if (probe === undefined) {
    return {
      ...base,
      class: 'unreachable',
      claimsActive: false,
      answered: false,
      evidenceIsAbsence: true,
      findings: ['running but not probed (no address)'],
    };
  }

  const findings: string[] = [];
  const { health, leader } = probe;
  const answered = health.ok || leader.ok;

  let cls: NodeClass;
  let statusCode: number | undefined;
  let healthBody: VaultHealthBody | undefined;

  if (!health.ok) {
    // No health answer: the leader endpoint alone cannot tell sealed from
    // standby, so the class is absence-of-evidence either way.
    cls = answered ? 'unknown' : 'unreachable';
    findings.push(describeFailure('health', health));
  } else {
    statusCode = health.status;
    healthBody = health.body;
    const codeClass = CLASS_BY_STATUS.get(health.status);
    if (codeClass === undefined) {
      cls = 'unknown';
      findings.push(`health answered unexpected HTTP ${health.status}`);
    } else {
      cls = codeClass;
      if (healthBody === undefined) {
        findings.push(`health answered HTTP ${health.status} without a JSON body`);
      } else {
        const bodyClass = classFromBody(healthBody);
        if (bodyClass !== undefined && bodyClass !== codeClass) {
          const safer = ROUTABILITY[bodyClass] < ROUTABILITY[codeClass] ? bodyClass : codeClass;
          findings.push(
            `health status ${health.status} (${codeClass}) disagrees with its body (${bodyClass}); treated as ${safer}`,
          );
          cls = safer;
        }
      }
    }
  }

  if (healthBody !== undefined) {
    const skew = healthBody.clock_skew_ms;
    if (typeof skew === 'number' && Math.abs(skew) > skewLimitMs) {
      findings.push(`clock skew ${skew} ms against the active exceeds ${skewLimitMs} ms`);
    }
  }

  let leaderBody: VaultLeaderBody | undefined;
  if (!leader.ok) {
    findings.push(describeFailure('leader', leader));
  } else if (leader.status !== 200) {
    // A sealed Vault (uninitialized and removed nodes are sealed too) answers
    // /v1/sys/leader with 503; that agrees with the health answer, so only
    // note the other cases.
    if (!(leader.status === HEALTH_STATUS.sealed && SEALED_CLASSES.has(cls))) {
      findings.push(`leader answered HTTP ${leader.status}`);
    }
  } else {
    leaderBody = leader.body;
  }

  const healthClaim = cls === 'active';
  const leaderSelf = leaderBody?.is_self === true;
  let leaderClaim = leaderSelf;
  if (leaderSelf && CANNOT_LEAD.has(cls)) {
    leaderClaim = false;
    findings.push(`leader says is_self but health says ${cls}; not counted as a claim`);
  } else if (leaderSelf && !healthClaim) {
    findings.push(`leader says is_self but health says ${cls}`);
  } else if (healthClaim && leaderBody !== undefined && leaderBody.is_self === false) {
    findings.push('health says active but leader says is_self=false');
  }
  if (leaderBody?.ha_enabled === false) findings.push('leader says ha_enabled=false');

  const leaderAddress = nonEmpty(leaderBody?.leader_address);
  const evidenceIsAbsence = cls === 'unreachable' || cls === 'unknown';
  // Both requests refused: nothing listens on the port of a running instance (the
  // Vault process is gone). Unlike a timeout, a refusal is an answer from the host.
  const refused = !health.ok && !leader.ok && health.reason === 'refused' && leader.reason === 'refused';

  const node: NodeHealth = {
    ...base,
    class: cls,
    claimsActive: healthClaim || leaderClaim,
    answered,
    evidenceIsAbsence,
    findings,
    healthLatencyMs: health.latencyMs,
  };
  if (refused) node.refused = true;
  if (leaderAddress !== undefined) node.leaderAddress = leaderAddress;
  if (statusCode !== undefined) node.statusCode = statusCode;
  if (healthBody?.version !== undefined) node.version = healthBody.version;
  return node;
}
