/**
 * replace-node faults of the chaos catalogue: the REAL state machine
 * (statemachines/replace-node.asl.yml in the local ASL interpreter) with the
 * REAL task code against the sandbox's endpoints, while the REAL controller
 * keeps reconciling in its scheduled mode and the invariant monitor samples
 * the world. Faults:
 *
 *  - each Task state failing once (a transient error its Retry absorbs: the
 *    execution must succeed) and then permanently (every attempt: the
 *    execution must compensate and fail, or — for Finish and Notify, whose
 *    Catch ends in Succeed — report what it could not do);
 *  - a volume stuck `detaching` (cleared by force-detach, and not even then);
 *  - a new instance whose SSM agent never comes online;
 *  - unseal failing (the share parameters gone);
 *  - an execution stopped from the console (StopExecution): its lease is
 *    left behind, `vault-ha unlock` releases it, and the next replacement runs.
 *
 * After every execution: the data volume is available or attached to one
 * live instance and the report says where (§5.6); no instance the execution
 * launched is left running after a failure; the operation lease is free, or
 * (when the workflow itself says it leaves the lease to expire) bounded and
 * releasable; no secret in the execution's input, output or history (§5.7).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { LEASE_SCOPES, readLease, releaseLease } from '../../functions/adapters/control-table.js';
import { FAILED_REPLACEMENT_TAG, REPLACED_BY_TAG } from '../../functions/adapters/ec2-replacement.js';
import type { ReplacementReport } from '../../functions/core/replacement.js';
import { deleteShareParameters, sandboxClients, sandboxReplaceNodeHandler } from '../workflow-wiring.js';
import { locationAgrees } from '../scenarios.js';
import { SANDBOX_STAGE, stateMachineName } from '../../cli/lib/stack.js';
import { CLUSTER_NAME, CONTROL_TABLE, LOCK_TABLE, Sandbox, type SandboxSlot } from '../environment.js';
import type { SimVolume } from '../aws/world.js';
import { loadDefinition, runStateMachine, type AslDefinition, type RunStateMachineResult, type SdkClientLike } from '../stepfunctions/runner.js';
import { sleep } from '../sim/index.js';
import { AwsFaultInjector, serviceError } from './aws-faults.js';
import { InvariantMonitor } from './invariants.js';
import { steadyNow, waitUntil, type FaultRow } from './controller-run.js';

/**
 * Compression of the replace-node faults: the cap the replace-node scenarios
 * use (sandbox/scenarios.ts REPLACE_NODE_MAX_SPEED), for the same reason: the
 * interpreter blocks the event loop while it validates a definition.
 */
export const REPLACE_NODE_FAULT_SPEED = 8;

const DEFINITION_URL = new URL('../../statemachines/replace-node.asl.yml', import.meta.url);
const BIN = fileURLToPath(new URL('../../bin/vault-ha.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One parsed definition for the whole process: the interpreter validates each object once (0.4–0.8 s of blocking work). */
let definition: Promise<AslDefinition> | undefined;
const replaceNodeDefinition = (): Promise<AslDefinition> => (definition ??= loadDefinition(fileURLToPath(DEFINITION_URL)));

/** Task states and what identifies each one's work: the task function's `action`, or the SDK integration's call. */
export const TASK_STATES = {
  Validate: { action: 'validate' },
  AcquireLease: { action: 'acquireLease' },
  Inspect: { action: 'inspect' },
  StepDownActive: { action: 'stepDown' },
  CheckStepDown: { action: 'checkStepDown' },
  DeregisterOld: { sdk: ['elasticloadbalancingv2', 'DeregisterTargetsCommand'] },
  RetireOld: { action: 'retireOld' },
  PollReleased: { action: 'pollReleased' },
  Launch: { action: 'launch' },
  DescribeReplacement: { sdk: ['ec2', 'DescribeInstancesCommand'] },
  AttachVolume: { action: 'attachVolume' },
  DescribeDataVolume: { sdk: ['ec2', 'DescribeVolumesCommand'] },
  DescribeAgent: { sdk: ['ssm', 'DescribeInstanceInformationCommand'] },
  SendPrepare: { action: 'sendPrepare' },
  CheckPrepare: { action: 'checkPrepare' },
  CheckStandby: { action: 'checkStandby' },
  Finish: { action: 'finish' },
  Notify: { sdk: ['sns', 'PublishCommand'] },
  Compensate: { action: 'compensate' },
  NotifyFailure: { sdk: ['sns', 'PublishCommand'] },
} as const satisfies Record<string, { action: string } | { sdk: readonly [string, string] }>;
export type TaskState = keyof typeof TASK_STATES;

/** The transient error each kind of Task state's Retry absorbs (the ASL's Retry lists). */
function transientError(state: TaskState): Error {
  const spec = TASK_STATES[state];
  if ('action' in spec) return Object.assign(new Error('Rate Exceeded. (chaos)'), { name: 'Lambda.TooManyRequestsException' });
  switch (spec.sdk[0]) {
    case 'ec2':
      return serviceError('RequestLimitExceeded', 503, 'Request limit exceeded. (chaos)');
    case 'ssm':
      return serviceError('ThrottlingException', 400, 'Rate exceeded (chaos)');
    case 'sns':
      return serviceError('Throttled', 400, 'Rate exceeded (chaos)');
    default:
      return serviceError('Throttling', 400, 'Rate exceeded (chaos)');
  }
}

type FailMode = 'once' | 'always';

interface RunSpec {
  slot: SandboxSlot;
  force?: boolean;
  /** Task state → how it fails. */
  failures?: Partial<Record<TaskState, FailMode>>;
  /** Shrinks wait budgets Inspect computed (polls), so a wait that must run out does so in seconds. */
  budgets?: { ssmOnlineAttempts?: number; releasedAttempts?: number; forceDetachGraceAttempts?: number };
  /** replacement.oldInstance for this execution (the config's own otherwise). */
  oldInstance?: 'stop' | 'terminate';
  /**
   * The slot without its own network interface (a new one per instance). A
   * slot that keeps its interface must terminate the old instance (a stopped
   * instance keeps its primary interface), and termination detaches the volume
   * itself: only `stop` leaves a detach to get stuck.
   */
  withoutInterface?: boolean;
}

export interface ReplaceNodeChaos {
  sb: Sandbox;
  monitor: InvariantMonitor;
  random: () => number;
  note(text: string): void;
  expect(ok: boolean, invariant: string, detail: string): void;
  /** Runs one execution with the given faults and checks what it left. */
  replace(spec: RunSpec, expected: Expected): Promise<RunStateMachineResult>;
  /** A standby slot (running, unsealed, not the active) or a slot whose instance is gone. */
  standbySlot(): SandboxSlot;
  activeSlot(): SandboxSlot;
}

interface Expected {
  status: 'SUCCEEDED' | 'FAILED';
  /** The workflow leaves the lease to expire by itself (Finish or Compensate failed, or the execution was stopped). */
  leaseLeft?: boolean;
  label: string;
}

export interface ReplaceNodeFault {
  name: string;
  run(c: ReplaceNodeChaos): Promise<void>;
}

export interface ReplaceNodeRunOptions {
  random: () => number;
  speed?: number;
}

export async function runReplaceNodeFault(fault: ReplaceNodeFault, opts: ReplaceNodeRunOptions): Promise<FaultRow> {
  const wallStart = Date.now();
  const speed = opts.speed ?? REPLACE_NODE_FAULT_SPEED;
  const real = (worldMs: number): number => Math.max(1, Math.round(worldMs / speed));
  const notes: string[] = [];
  const sb = new Sandbox({ ha: 'dynamodb', fast: true, speed, controller: 'scheduled', schedule: { phase: opts.random() }, startController: false, random: opts.random });
  const aws = new AwsFaultInjector(opts.random);
  let monitor: InvariantMonitor | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let executions = 0;
  let lastEndedAt = 0;
  const row = (extra: Partial<FaultRow>): FaultRow => ({
    fault: fault.name,
    family: 'replace-node',
    durationS: 0,
    checks: monitor?.checks ?? 0,
    violations: monitor?.violations ?? [],
    recoveryS: null,
    fuzzCases: aws.injectedTotal,
    notes,
    wallMs: Date.now() - wallStart,
    ...extra,
  });
  try {
    await sb.start();
    const m = new InvariantMonitor(sb, {
      dryRun: false,
      fencing: sb.config.clusters[0]!.policy.fencing,
      lockTable: LOCK_TABLE,
      controlTable: CONTROL_TABLE,
      sealedGraceMs: real(20_000),
      blindGraceMs: real(10_000),
    });
    monitor = m;
    sb.controller.instrument({ clients: (clients) => aws.attach(clients, { speed }), onLog: (l) => m.addLogLine(`${l.message} ${l.fields ? JSON.stringify(l.fields) : ''}`) });
    aws.observe(m);
    sb.controller.start();
    sampler = setInterval(() => m.sample(), Math.max(10, real(500)));
    if ((await waitUntil(real(90_000) + 5_000, () => steadyNow(sb, 0))) === undefined) throw new Error('the sandbox did not reach a steady state');
    await replaceNodeDefinition();
    const faultStart = Date.now();

    const c: ReplaceNodeChaos = {
      sb,
      monitor: m,
      random: opts.random,
      note: (t) => notes.push(t),
      expect: (ok, invariant, detail) => {
        m.checks += 1;
        if (!ok) m.violations.push({ invariant, atMs: Date.now(), detail: detail.slice(0, 500) });
      },
      standbySlot: () => {
        const active = sb.activeSlot();
        const slot = sb.slots.find((s) => s !== active && (s.node.status().running || sb.instanceOf(s.name) === undefined));
        if (!slot) throw new Error('no standby slot to replace');
        return slot;
      },
      activeSlot: () => {
        const a = sb.activeSlot();
        if (!a) throw new Error('no single active node');
        return a;
      },
      replace: async (spec, expected) => {
        executions += 1;
        const result = await executeReplacement(sb, spec, aws);
        lastEndedAt = Date.now();
        await checkAfterExecution(c, spec, expected, result);
        // The cluster settles before the next execution (the controller routes what changed).
        await waitUntil(real(120_000) + 5_000, () => steadyNow(sb, lastEndedAt));
        return result;
      },
    };
    await fault.run(c);
    const recoveredAt = await waitUntil(real(180_000) + 5_000, () => steadyNow(sb, lastEndedAt || faultStart));
    const recoveryS = recoveredAt === undefined ? null : Math.round(((recoveredAt - (lastEndedAt || faultStart)) * speed) / 100) / 10;
    if (recoveredAt === undefined) notes.push('the cluster was not steady within 180 s of the last execution');
    await sleep(real(10_000));
    clearInterval(sampler);
    sampler = undefined;
    m.sample();
    await m.checkSecrets();
    notes.push(`${executions} execution(s); ${aws.injectedTotal} call(s) failed by injection`);
    return row({ recoveryS, durationS: Math.round(((Date.now() - faultStart) * speed) / 1000), checks: m.checks, violations: m.violations });
  } catch (err) {
    return row({ error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
  } finally {
    if (sampler) clearInterval(sampler);
    await sb.stop();
  }
}

/* ------------------------------------------------------------------ one execution */

async function executeReplacement(sb: Sandbox, spec: RunSpec, aws: AwsFaultInjector): Promise<RunStateMachineResult> {
  const clients = sandboxClients(sb);
  const failures = spec.failures ?? {};
  const failedOnce = new Set<TaskState>();
  const shouldFail = (state: TaskState): boolean => {
    const mode = failures[state];
    if (mode === 'always') return true;
    if (mode === 'once' && !failedOnce.has(state)) {
      failedOnce.add(state);
      return true;
    }
    return false;
  };
  const count = (state: TaskState): void => {
    aws.injected.set(`replace-node ${state}`, (aws.injected.get(`replace-node ${state}`) ?? 0) + 1);
  };
  try {
    const base = sb.config;
    const config =
      spec.oldInstance || spec.withoutInterface
        ? {
            ...base,
            clusters: base.clusters.map((cl) => ({
              ...cl,
              replacement: {
                ...cl.replacement!,
                ...(spec.oldInstance ? { oldInstance: spec.oldInstance } : {}),
                slots: cl.replacement!.slots.map((sl) => {
                  if (!spec.withoutInterface) return sl;
                  const { networkInterfaceId: _eni, ...rest } = sl;
                  return rest;
                }),
              },
            })),
          }
        : base;
    const inner = sandboxReplaceNodeHandler(sb, clients, config);
    const byAction = new Map<string, TaskState>();
    for (const [state, s] of Object.entries(TASK_STATES)) if ('action' in s) byAction.set(s.action, state as TaskState);
    const handler = async (event: { action?: string }, context: unknown): Promise<unknown> => {
      const state = event.action !== undefined ? byAction.get(event.action) : undefined;
      if (state !== undefined && shouldFail(state)) {
        count(state);
        throw transientError(state);
      }
      const out = await inner(event as never, context as never);
      // Wait budgets cut short where a wait must run out (documented per fault).
      if (event.action === 'inspect' && spec.budgets && out && typeof out === 'object') {
        const plan = out as { waits?: Record<string, { maxAttempts: number }> & { forceDetachGraceAttempts?: number } };
        const b = spec.budgets;
        if (plan.waits) {
          if (b.ssmOnlineAttempts !== undefined && plan.waits['ssmOnline']) plan.waits['ssmOnline'].maxAttempts = b.ssmOnlineAttempts;
          if (b.releasedAttempts !== undefined && plan.waits['released']) plan.waits['released'].maxAttempts = b.releasedAttempts;
          if (b.forceDetachGraceAttempts !== undefined) plan.waits.forceDetachGraceAttempts = b.forceDetachGraceAttempts;
        }
      }
      return out;
    };
    const sdkState = (service: string, command: string): TaskState[] =>
      (Object.entries(TASK_STATES) as Array<[TaskState, (typeof TASK_STATES)[TaskState]]>)
        .filter(([, s]) => 'sdk' in s && s.sdk[0] === service && s.sdk[1] === command)
        .map(([n]) => n);
    const wrap = (service: string, client: SdkClientLike): SdkClientLike => ({
      send: async (command: { constructor: { name: string } }) => {
        // Notify and NotifyFailure both publish: whichever of them is under fault is the one running
        // (a run fails NotifyFailure only together with a permanent failure, so Notify never runs there).
        const state = sdkState(service, command.constructor.name).find((s) => failures[s] !== undefined);
        if (state !== undefined && shouldFail(state)) {
          count(state);
          throw transientError(state);
        }
        return client.send(command);
      },
    });
    const fast = sb.speed !== 1;
    return await runStateMachine(
      await replaceNodeDefinition(),
      { cluster: CLUSTER_NAME, slot: spec.slot.name, reason: 'chaos', ...(spec.force ? { force: true } : {}) },
      {
        lambdaHandlers: { replaceNodeTasks: handler },
        sdkClients: {
          ec2: wrap('ec2', clients.ec2),
          elasticloadbalancingv2: wrap('elasticloadbalancingv2', clients.elbv2),
          ssm: wrap('ssm', clients.ssm),
          sns: wrap('sns', clients.sns),
          dynamodb: clients.ddb,
        },
        ...(fast ? { waitTimeOverrides: () => Math.round(5_000 * sb.timeScale), retryIntervalOverrides: () => Math.round(2_000 * sb.timeScale) } : {}),
        stateMachineName: 'replaceNode',
        executionName: `chaos-${spec.slot.name}-${Date.now().toString(36)}`,
        maxTransitions: 2_000,
        timeoutMs: Math.max(60_000, 1_800_000 * sb.timeScale),
      },
    );
  } finally {
    for (const cl of Object.values(clients)) cl.destroy();
  }
}

/** The report an execution left: its output, or the Fail state's Cause (the failure report as JSON). */
function reportOf(run: RunStateMachineResult): ReplacementReport | undefined {
  let raw: unknown = run.output;
  if (run.status === 'FAILED') {
    try {
      raw = JSON.parse(run.cause ?? '');
    } catch {
      return undefined;
    }
  }
  return raw !== null && typeof raw === 'object' && (raw as { kind?: unknown }).kind === 'replace-node' ? (raw as ReplacementReport) : undefined;
}

const GONE: ReadonlySet<string> = new Set(['shutting-down', 'terminated']);

async function checkAfterExecution(c: ReplaceNodeChaos, spec: RunSpec, expected: Expected, run: RunStateMachineResult): Promise<void> {
  const { sb } = c;
  const world = sb.aws.world;
  const label = expected.label;
  const report = reportOf(run);
  c.monitor.addArtefact(JSON.stringify(run));
  c.expect(
    run.status === expected.status,
    `replace-node ends as expected (${label})`,
    `${label}: ${run.status}${run.error ? ` ${run.error}: ${(run.cause ?? '').slice(0, 300)}` : ''}; expected ${expected.status}`,
  );

  // §5.6: the volume is available, or attached to exactly one live instance, and the report says where.
  const vol = world.volume(spec.slot.volumeId);
  const holder = vol?.attachment ? world.instance(vol.attachment.instanceId) : undefined;
  // On an instance being terminated the volume is on its way to `available`, as long as termination keeps it.
  const leaving = holder?.state === 'shutting-down' && vol?.attachment?.deleteOnTermination === false;
  const accounted =
    vol !== undefined &&
    (vol.attachment === undefined
      ? vol.state === 'available'
      : holder !== undefined && (leaving || !GONE.has(holder.state)) && vol.attachment.state !== 'attaching');
  c.expect(accounted, 'a data volume is never lost track of', `${label}: ${describeVolume(vol, holder?.state)}`);
  if (report?.volume) {
    const where = locationAgrees(report.volume.location, vol);
    c.expect(where.ok, 'the report says where the volume is', `${label}: ${where.detail}`);
  } else if (run.status === 'FAILED' && run.history.some((h) => h.state === 'AcquireLease') && report === undefined && !expected.leaseLeft) {
    // (An execution that never got past Validate changed nothing and ends at RejectInput with the error itself.)
    c.expect(false, 'a failed execution leaves a failure report', `${label}: no report in the Cause (${(run.cause ?? '').slice(0, 200)})`);
  }

  // No instance this execution launched is left running after a failure (onFailure terminate).
  if (run.status === 'FAILED' && !expected.leaseLeft) {
    const launched = world.instances().filter((i) => i.tags[REPLACED_BY_TAG] === run.executionName && !GONE.has(i.state) && i.tags[FAILED_REPLACEMENT_TAG] === undefined);
    c.expect(launched.length === 0, 'a failed replacement leaves no half-launched instance', `${label}: ${launched.map((i) => `${i.instanceId} ${i.state}`).join(', ')}`);
  }

  // The operation lease: free, or (when the workflow says it leaves it) bounded and releasable.
  const lease = await readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation });
  const held = lease !== undefined && lease.expiresAtMs > Date.now();
  if (!expected.leaseLeft) {
    c.expect(!held, 'the operation lease is released', `${label}: still held by ${lease?.owner}`);
  } else if (held) {
    const hoursLeft = (lease.expiresAtMs - Date.now()) / 3_600_000;
    c.expect(hoursLeft < 4 / sb.speed + 1, 'a lease left behind expires by itself', `${label}: expires in ${hoursLeft.toFixed(2)} h`);
    // What `vault-ha unlock --force` does once the execution is known to have ended.
    const released = await releaseLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation, owner: lease.owner });
    c.expect(released, 'a lease left behind can be released', `${label}: release of ${lease.owner} refused`);
  }
  c.expect(!sb.ssm.auditContainsAny([...sb.shares, sb.rootToken]), 'no secret in logs or payloads', `${label}: a share or token reached SSM commands or output`);
}

function describeVolume(vol: SimVolume | undefined, holderState: string | undefined): string {
  if (!vol) return 'volume missing';
  return `${vol.volumeId} ${vol.state}${vol.attachment ? ` ${vol.attachment.state} to ${vol.attachment.instanceId} (${holderState ?? 'unknown instance'})` : ''}`;
}

/* ------------------------------------------------------------------ the catalogue */

/** States a replacement of a standby visits, in order. */
const STANDBY_STATES: TaskState[] = [
  'Validate',
  'AcquireLease',
  'Inspect',
  'RetireOld',
  'PollReleased',
  'Launch',
  'DescribeReplacement',
  'AttachVolume',
  'DescribeDataVolume',
  'DescribeAgent',
  'SendPrepare',
  'CheckPrepare',
  'CheckStandby',
  'Finish',
  'Notify',
];
/** States only a forced replacement of the active visits. */
const ACTIVE_STATES: TaskState[] = ['StepDownActive', 'CheckStepDown', 'DeregisterOld'];
/** States only a failing execution visits (driven by Launch failing permanently). */
const FAILURE_STATES: TaskState[] = ['Compensate', 'NotifyFailure'];

function stateFault(state: TaskState): ReplaceNodeFault {
  const onActive = ACTIVE_STATES.includes(state);
  const onFailure = FAILURE_STATES.includes(state);
  return {
    name: `replaceNode ${state} fails once, then permanently`,
    run: async (c) => {
      const pick = (): { slot: SandboxSlot; force?: boolean } => (onActive ? { slot: c.activeSlot(), force: true } : { slot: c.standbySlot() });
      if (onFailure) {
        // Compensation under a transient fault still cleans up; under a permanent one the report says what is left.
        await c.replace({ ...pick(), failures: { Launch: 'always', [state]: 'once' } }, { status: 'FAILED', label: `Launch fails, ${state} fails once` });
        await c.replace(
          { ...pick(), failures: { Launch: 'always', [state]: 'always' } },
          { status: 'FAILED', leaseLeft: state === 'Compensate', label: `Launch fails, ${state} fails permanently` },
        );
        return;
      }
      await c.replace({ ...pick(), failures: { [state]: 'once' } }, { status: 'SUCCEEDED', label: `${state} fails once` });
      // Finish's and Notify's Catch end in Succeed: the replacement itself is done.
      const endsWell = state === 'Finish' || state === 'Notify';
      await c.replace({ ...pick(), failures: { [state]: 'always' } }, { status: endsWell ? 'SUCCEEDED' : 'FAILED', leaseLeft: state === 'Finish', label: `${state} fails permanently` });
    },
  };
}

export const REPLACE_NODE_FAULTS: ReplaceNodeFault[] = [
  ...[...STANDBY_STATES, ...ACTIVE_STATES, ...FAILURE_STATES].map(stateFault),
  {
    name: 'replaceNode: volume stuck detaching (force-detach clears it)',
    run: async (c) => {
      const stuck = stickVolumes(c.sb, { clearedByForce: true });
      try {
        // oldInstance stop: the volume stays on the stopped instance and must be detached (terminate detaches it itself).
        const run = await c.replace(
          { slot: c.standbySlot(), oldInstance: 'stop', withoutInterface: true, budgets: { releasedAttempts: 2, forceDetachGraceAttempts: 3 } },
          { status: 'SUCCEEDED', label: 'stuck detaching, forced' },
        );
        c.expect(stuck.forced.size > 0, 'the fault took effect (the volume was force-detached)', `no force-detach; ${run.status}`);
        c.note(`force-detached ${[...stuck.forced].join(', ') || 'nothing'}; ${reportOf(run)?.warnings?.join('; ') ?? ''}`.slice(0, 300));
      } finally {
        stuck.undo();
      }
    },
  },
  {
    name: 'replaceNode: volume stuck detaching even when forced',
    run: async (c) => {
      const stuck = stickVolumes(c.sb, { clearedByForce: false });
      try {
        const run = await c.replace(
          { slot: c.standbySlot(), oldInstance: 'stop', withoutInterface: true, budgets: { releasedAttempts: 2, forceDetachGraceAttempts: 3 } },
          { status: 'FAILED', label: 'stuck detaching' },
        );
        c.expect(run.error === 'VolumeStuckError', 'a volume stuck after force-detach fails the replacement as VolumeStuckError', `${run.status} ${run.error ?? ''}`);
        c.note(`volume: ${reportOf(run)?.volume?.location ?? '(not reported)'}`);
      } finally {
        stuck.undo();
      }
    },
  },
  {
    name: 'replaceNode: new instance never SSM-online',
    run: async (c) => {
      const sb = c.sb;
      const known = new Set(sb.aws.world.instances().map((i) => i.instanceId));
      const register = sb.ssm.registerAgent.bind(sb.ssm);
      sb.ssm.registerAgent = (id, agent) => {
        if (known.has(id)) register(id, agent);
      };
      try {
        const run = await c.replace({ slot: c.standbySlot(), budgets: { ssmOnlineAttempts: 3 } }, { status: 'FAILED', label: 'never SSM-online' });
        c.expect(run.error === 'WaitTimeoutError', 'an agent that never comes online ends the wait as WaitTimeoutError', `${run.status} ${run.error ?? ''}`);
      } finally {
        sb.ssm.registerAgent = register;
      }
    },
  },
  {
    name: 'replaceNode: unseal fails (share parameters gone)',
    run: async (c) => {
      const removed = await deleteShareParameters(c.sb);
      c.note(`deleted ${removed} share parameters`);
      const run = await c.replace({ slot: c.standbySlot() }, { status: 'FAILED', label: 'unseal fails' });
      c.expect(run.error === 'UnsealFailedError', 'a node that cannot unseal fails the replacement as UnsealFailedError', `${run.status} ${run.error ?? ''}`);
    },
  },
  {
    name: 'replaceNode: execution stopped from the console, then vault-ha unlock',
    run: async (c) => stoppedFromConsole(c),
  },
];

/**
 * EC2's "stuck detaching": the slot volumes' detach never completes (unless
 * forced, with `clearedByForce`). Returns the volumes force-detached so far, and the undo.
 */
function stickVolumes(sb: Sandbox, opts: { clearedByForce: boolean }): { forced: Set<string>; undo: () => void } {
  const world = sb.aws.world as unknown as {
    detachVolume: Sandbox['aws']['world']['detachVolume'];
    completeDetach: (vol: SimVolume) => void;
  };
  const volumes = new Set(sb.slots.map((s) => s.volumeId));
  const forced = new Set<string>();
  const detach = world.detachVolume;
  const complete = world.completeDetach;
  world.detachVolume = function (this: unknown, volumeId, o = {}) {
    if (o.force) forced.add(volumeId);
    return detach.call(this, volumeId, o);
  } as typeof detach;
  world.completeDetach = function (this: unknown, vol: SimVolume) {
    const stuck = volumes.has(vol.volumeId) && vol.attachment?.state === 'detaching' && !(opts.clearedByForce && forced.has(vol.volumeId));
    if (stuck) return; // stays `detaching`
    complete.call(this, vol);
  };
  sb.record('fault', `slot volumes stick in detaching${opts.clearedByForce ? ' until force-detached' : ', even when forced'}`);
  return {
    forced,
    undo: () => {
      world.detachVolume = detach;
      world.completeDetach = complete;
    },
  };
}

/**
 * StopExecution from the console skips compensation and the lease release:
 * the lease stays (bounded), nothing else can start, `vault-ha unlock` (the
 * real bin, as an operator runs it) releases it after seeing the execution
 * ABORTED, and the next replacement of the slot succeeds from whatever state
 * the stopped one left.
 */
async function stoppedFromConsole(c: ReplaceNodeChaos): Promise<void> {
  const { sb } = c;
  // Loaded here: only this fault needs the operator endpoints (and their imports).
  const { startOperatorEndpoints } = await import('../operator-endpoints.js');
  const ops = await startOperatorEndpoints(sb);
  const sfn = new SFNClient({ endpoint: ops.sfn.url, region: sb.aws.world.region, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 2 });
  try {
    const slot = c.standbySlot();
    const arn = ops.sfn.stateMachineArn(stateMachineName(SANDBOX_STAGE, 'replace-node'));
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: `chaos-stop-${Date.now().toString(36)}`, input: JSON.stringify({ cluster: CLUSTER_NAME, slot: slot.name, reason: 'chaos: stopped from the console' }) }));
    const executionArn = started.executionArn!;
    // Stop it once it launched the replacement (the most to clean up by hand).
    const launched = await waitUntil(30_000, () => sb.aws.world.instances().some((i) => i.tags[REPLACED_BY_TAG] !== undefined && !GONE.has(i.state)), 20);
    c.expect(launched !== undefined, 'the stopped execution got as far as launching', 'no replacement was launched within 30 s');
    await sfn.send(new StopExecutionCommand({ executionArn, cause: 'chaos: stopped from the console' }));
    const status = await ops.sfn.waitFor(executionArn);
    c.expect(status === 'ABORTED', 'StopExecution aborts the execution', `status ${status}`);
    const lease = await readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation });
    c.expect(lease !== undefined && lease.expiresAtMs > Date.now(), 'a stopped execution leaves its lease (bounded)', `lease ${lease ? `held until ${new Date(lease.expiresAtMs).toISOString()}` : 'absent'}`);
    c.monitor.checkVolumes();

    const unlock = await cli(ops.cliEnv, ['unlock', '--cluster', CLUSTER_NAME, '--scope', 'operation']);
    c.monitor.addArtefact(unlock.stdout + unlock.stderr);
    c.expect(unlock.code === 0 && /released the operation lease/.test(unlock.stdout), 'vault-ha unlock releases the lease of a stopped execution', `exit ${unlock.code}: ${(unlock.stdout + unlock.stderr).slice(0, 300)}`);
    const after = await readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation });
    c.expect(after === undefined, 'the lease is gone after unlock', `still held by ${after?.owner}`);
    c.note(`stopped ${executionArn.split(':').at(-1)} after launch; vault-ha unlock exit ${unlock.code}`);
    // The next replacement of the same slot starts from what the stopped one left and completes.
    await c.replace({ slot }, { status: 'SUCCEEDED', label: 'replacement after a stopped one' });
  } finally {
    sfn.destroy();
    await ops.stop();
  }
}

function cli(env: Record<string, string>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, timeout: 60_000, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', USER: 'chaos-operator', NO_COLOR: '1', ...env } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}
