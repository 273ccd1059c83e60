/**
 * The controller faults of the chaos catalogue (issue 8): AWS faults injected
 * on the controller's SDK clients, node faults through the simulated nodes'
 * fault switches, and faults of the controller's own runs. Every AWS fault
 * also kills the active's Vault as it starts, so the controller has a
 * failover to route while the fault lasts.
 */
import { CONTROL_TABLE, LOCK_TABLE } from '../environment.js';
import {
  SERVER_ERROR_CODE,
  THROTTLE_CODE,
  isBookkeepingWrite,
  onTable,
  serviceError,
  unreachableError,
  type AwsCall,
  type AwsFaultRule,
  type ServiceName,
} from './aws-faults.js';
import { contradictionOverride, garbageOverride, oversizedOverride } from './hostile-answers.js';
import { registeredIds, type ControllerChaos, type ControllerFault } from './controller-run.js';

const SERVICES: ServiceName[] = ['ec2', 'elbv2', 'dynamodb', 'sns'];

/**
 * Real-world seconds a killed run may delay routing: the schedule period
 * (60 s), the dead run's controller lease (2 × 5 s + a 2 s probe timeout + 5 s
 * slack = 17 s) and a few ticks. (It used to be the whole invocation, up to
 * 74 minutes for a workflow lease; issue 8.)
 */
export const KILLED_RUN_RECOVERY_BOUND_S = 100;

/** Recorded when the fault starts: the active's instance, so "a new active was routed" can be judged. */
const killed = new WeakMap<ControllerChaos, string | undefined>();

async function killActiveAtStart(c: ControllerChaos): Promise<void> {
  const old = await c.killActive();
  killed.set(c, c.sb.runtime.hostOf(old.node) ?? c.sb.instanceOf(old.name));
}

/** While the fault lasts the controller must still route the new active (a liveness expectation, counted as a check). */
function failoverDuringFault(invariant: string): (c: ControllerChaos) => void {
  return (c) => {
    const old = killed.get(c);
    const a = c.sb.activeSlot();
    const id = a ? c.sb.runtime.hostOf(a.node) : undefined;
    const routed = id !== undefined && id !== old && registeredIds(c.sb).includes(id);
    c.expect(routed, invariant, `at the end of the fault the new active ${id ?? '(none)'} is ${routed ? '' : 'not '}registered (registered: ${registeredIds(c.sb).join(', ') || 'none'})`);
  };
}

function awsFault(name: string, rules: (c: ControllerChaos) => AwsFaultRule[], opts: { durationS?: number; atFaultEnd?: (c: ControllerChaos) => void } = {}): ControllerFault {
  return {
    name,
    family: 'aws',
    durationS: opts.durationS ?? 60,
    inject: async (c) => {
      c.aws.set(rules(c));
      await killActiveAtStart(c);
      return async () => c.aws.clear();
    },
    ...(opts.atFaultEnd ? { atFaultEnd: opts.atFaultEnd } : {}),
  };
}

const every = (service: ServiceName, code: { code: string; status: number }, probability: number, label: string): AwsFaultRule => ({
  label,
  service,
  probability,
  error: () => serviceError(code.code, code.status, `${code.code} (chaos)`),
});

const failing = (label: string, service: ServiceName, matches: (call: AwsCall) => boolean, error: (call: AwsCall) => Error): AwsFaultRule => ({
  label,
  service,
  matches,
  probability: 1,
  error,
});

export const CONTROLLER_FAULTS: ControllerFault[] = [
  /* ---------------------------------------------------------------- AWS */
  awsFault('AWS throttling on 30% of each service\'s calls', () => SERVICES.map((s) => every(s, THROTTLE_CODE[s], 0.3, `${s} throttled`)), {
    atFaultEnd: failoverDuringFault('failover completes under 30% throttling'),
  }),
  awsFault('AWS 5xx on 30% of each service\'s calls', () => SERVICES.map((s) => every(s, SERVER_ERROR_CODE[s], 0.3, `${s} 5xx`)), {
    atFaultEnd: failoverDuringFault('failover completes under 30% 5xx'),
  }),
  awsFault('DescribeTargetHealth fails for a minute', () => [
    failing('DescribeTargetHealth 500', 'elbv2', (call) => call.operation === 'DescribeTargetHealth', () => serviceError('InternalFailure', 500)),
  ]),
  awsFault(
    'DeregisterTargets fails for a minute',
    () => [
      failing('DeregisterTargets denied', 'elbv2', (call) => call.operation === 'DeregisterTargets', () =>
        serviceError('AccessDenied', 403, 'User is not authorized to perform: elasticloadbalancing:DeregisterTargets'),
      ),
    ],
    { atFaultEnd: failoverDuringFault('a failing DeregisterTargets does not keep the new active out (§5.12)') },
  ),
  awsFault('RegisterTargets fails for a minute', () => [
    failing('RegisterTargets 503', 'elbv2', (call) => call.operation === 'RegisterTargets', () => serviceError('ServiceUnavailable', 503)),
  ]),
  awsFault(
    'control-table writes fail for a minute',
    () => [failing('control-table writes throttled', 'dynamodb', isBookkeepingWrite(CONTROL_TABLE), () => serviceError('ProvisionedThroughputExceededException', 400))],
    { atFaultEnd: failoverDuringFault('failing bookkeeping writes do not stop routing (§5.12)') },
  ),
  awsFault(
    'lock reads fail for a minute',
    () => [failing('lock GetItem 500', 'dynamodb', onTable(LOCK_TABLE, ['GetItem']), () => serviceError('InternalServerError', 500))],
    { atFaultEnd: failoverDuringFault('failover completes with the lock unreadable') },
  ),
  awsFault('lock table unreachable', () => [failing('lock table unreachable', 'dynamodb', onTable(LOCK_TABLE), () => unreachableError('dynamodb (lock table)'))], {
    atFaultEnd: failoverDuringFault('failover completes with the lock table unreachable'),
  }),
  awsFault('control table unreachable', () => [failing('control table unreachable', 'dynamodb', onTable(CONTROL_TABLE), () => unreachableError('dynamodb (control table)'))]),

  /* ---------------------------------------------------------------- nodes */
  {
    name: 'node accepts TCP and never answers (active)',
    family: 'node',
    inject: async (c) => {
      const a = c.active();
      c.monitor.mute(a.name, true);
      await c.sb.partitionClients(a.name, true, 'hang');
      return async () => {
        await c.sb.partitionClients(a.name, false);
        c.monitor.mute(a.name, false);
      };
    },
  },
  {
    name: 'node answers garbage (active)',
    family: 'node',
    inject: async (c) => {
      const a = c.active();
      c.monitor.mute(a.name, true);
      a.node.setReplyOverride(garbageOverride(c.random, c.hostile));
      c.sb.record('fault', `${a.name} answers garbage`);
      return async () => {
        a.node.setReplyOverride(undefined);
        c.monitor.mute(a.name, false);
      };
    },
  },
  {
    name: 'node answers 50 MB (active)',
    family: 'node',
    inject: async (c) => {
      const a = c.active();
      c.monitor.mute(a.name, true);
      a.node.setReplyOverride(oversizedOverride(c.hostile));
      c.sb.record('fault', `${a.name} answers 50 MB bodies`);
      return async () => {
        a.node.setReplyOverride(undefined);
        c.monitor.mute(a.name, false);
      };
    },
  },
  contradictingStandby(),
  clockSkew('+20 s clock skew (a standby)', 'standby', 20_000),
  clockSkew('-20 s clock skew (the active)', 'active', -20_000),
  {
    name: 'active flapping every 2 s',
    family: 'node',
    inject: async (c) => {
      const a = c.active();
      flapping.set(c, a.name);
      c.monitor.mute(a.name, true);
      return async () => {
        await c.sb.partitionClients(a.name, false);
        c.monitor.mute(a.name, false);
      };
    },
    every: {
      everyS: 2,
      run: async (c, k) => {
        const slot = flapping.get(c);
        if (slot) await c.sb.partitionClients(slot, k % 2 === 0, 'refuse');
      },
    },
  },
  {
    name: 'zombie leader (unreachable, keeps renewing; fencing break-lock)',
    family: 'node',
    sandbox: { fencing: 'break-lock' },
    inject: async (c) => {
      const a = c.active();
      killed.set(c, c.sb.runtime.hostOf(a.node));
      c.monitor.mute(a.name, true);
      await c.sb.partitionClients(a.name, true, 'refuse');
      return async () => {
        await c.sb.partitionClients(a.name, false);
        c.monitor.mute(a.name, false);
      };
    },
    atFaultEnd: failoverDuringFault('the zombie is fenced and a new active routed'),
  },
  {
    name: 'stale leader (active cut from DynamoDB)',
    family: 'node',
    inject: async (c) => {
      const a = c.active();
      killed.set(c, c.sb.runtime.hostOf(a.node));
      c.sb.partitionStorage(a.name, true);
      return async () => c.sb.partitionStorage(a.name, false);
    },
    atFaultEnd: failoverDuringFault('the standby that took the lock is routed'),
  },
  {
    name: 'split brain (a standby claims active)',
    family: 'node',
    inject: async (c) => {
      const rogue = c.standby();
      const id = c.sb.runtime.hostOf(rogue.node);
      rogues.set(c, id);
      c.sb.forceActive(rogue.name, true);
      return async () => c.sb.forceActive(rogue.name, false);
    },
    onSample: (c) => {
      const id = rogues.get(c);
      c.expect(id === undefined || !registeredIds(c.sb).includes(id), 'the rogue claimant is never registered', `${id} registered during the split brain`);
    },
  },
  {
    name: 'active sealed',
    family: 'node',
    inject: async (c) => {
      const a = c.active();
      await c.sb.seal(a.name);
      // The operator unseals it again (shares typed by hand: nothing the control plane sees).
      return async () => {
        await a.node.unseal(c.sb.shares.slice(0, 3));
      };
    },
  },

  /* ---------------------------------------------------------------- the controller itself */
  {
    name: 'two controller runs overlapping',
    family: 'controller',
    inject: async (c) => {
      await killActiveAtStart(c);
    },
    every: {
      everyS: 10,
      run: async (c) => {
        // Two manual invocations at once beside the schedule; not awaited (they run for their timeout or until handed over).
        void c.sb.controller.invokeExtra();
        void c.sb.controller.invokeExtra();
      },
    },
    atFaultEnd: failoverDuringFault('overlapping runs still route the new active'),
  },
  {
    name: 'a run killed mid-tick',
    family: 'controller',
    // The kill is instantaneous; what matters is how long until the next run acts (the recovery).
    durationS: 5,
    inject: async (c) => {
      const killedOwners = new Set<string>();
      let armed = true;
      // Mid-tick: the run dies as its tick reads the target group, after it took the lease.
      const stop = c.aws.observe({
        before: (call) => {
          if (!armed || call.operation !== 'DescribeTargetHealth') return;
          armed = false;
          for (const id of c.sb.controller.killRunning()) killedOwners.add(`controller:${id}`);
          c.note(`killed ${killedOwners.size} run(s) mid-tick`);
        },
      });
      // A dead process releases nothing: its lease release never reaches DynamoDB.
      c.aws.set([
        failing('lease release of a killed run', 'dynamodb', (call) => {
          const owner = (call.input['ExpressionAttributeValues'] as Record<string, { S?: string }> | undefined)?.[':owner']?.S;
          return call.operation === 'DeleteItem' && owner !== undefined && killedOwners.has(owner);
        }, () => unreachableError('dynamodb (process killed)')),
      ]);
      await killActiveAtStart(c);
      return async () => {
        stop();
        c.expect(killedOwners.size > 0, 'the fault took effect (a run was killed mid-tick)', 'no run was ticking while the fault was armed');
      };
    },
    // The next scheduled run (at most a period away) takes the lease once the dead run's expires (2 intervals + a probe timeout + slack).
    afterRecovery: (c, recoveryS) =>
      c.expect(
        recoveryS !== null && recoveryS <= KILLED_RUN_RECOVERY_BOUND_S,
        'a killed run delays the next one by at most a schedule period and a lease',
        `recovered after ${recoveryS ?? '(never)'} s (bound ${KILLED_RUN_RECOVERY_BOUND_S} s)`,
      ),
  },
  {
    name: 'probe blindness (controller cut from every node)',
    family: 'controller',
    inject: async (c) => {
      await c.sb.setControllerBlind(true);
      c.monitor.setBlind(true);
      // Tempt it: the active dies while the controller cannot see.
      await killActiveAtStart(c);
      return async () => {
        await c.sb.setControllerBlind(false);
        c.monitor.setBlind(false);
      };
    },
  },
  {
    name: 'dry run (active killed)',
    family: 'controller',
    dryRun: true,
    inject: async (c) => {
      await killActiveAtStart(c);
    },
  },
];

const flapping = new WeakMap<ControllerChaos, string>();
const rogues = new WeakMap<ControllerChaos, string | undefined>();

function contradictingStandby(): ControllerFault {
  const liar = new WeakMap<ControllerChaos, string | undefined>();
  return {
    name: 'a standby\'s code contradicts its body',
    family: 'node',
    inject: async (c) => {
      const s = c.standby();
      liar.set(c, c.sb.runtime.hostOf(s.node));
      c.monitor.mute(s.name, true);
      s.node.setReplyOverride(contradictionOverride(c.random, c.hostile, () => s.node.apiAddr()));
      c.sb.record('fault', `${s.name} answers codes that contradict its body`);
      return async () => {
        s.node.setReplyOverride(undefined);
        c.monitor.mute(s.name, false);
      };
    },
    onSample: (c) => {
      const id = liar.get(c);
      // The real active is alive and routed throughout: nothing justifies routing the liar.
      c.expect(id === undefined || !registeredIds(c.sb).includes(id), 'a self-contradicting node is never registered', `${id} registered while its answers contradict themselves`);
    },
  };
}

function clockSkew(name: string, who: 'active' | 'standby', offsetMs: number): ControllerFault {
  return {
    name,
    family: 'node',
    inject: async (c) => {
      const s = who === 'active' ? c.active() : c.standby();
      // The nodes' lock timings are compressed; so is the skew (20 real-world seconds).
      s.node.setClockOffset(Math.round(offsetMs / c.speed));
      c.sb.record('fault', `${s.name} clock ${offsetMs > 0 ? '+' : ''}${offsetMs / 1000} s`);
      return async () => s.node.setClockOffset(0);
    },
  };
}
