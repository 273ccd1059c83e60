/**
 * `vault-ha` end to end, as an operator runs it: the real bin
 * (bin/vault-ha.mjs) in a child process, pointed at a running sandbox only
 * through the SDK's standard AWS_ENDPOINT_URL_* variables and
 * VAULT_HA_CONFIG_FILE (what `npm start` prints), with the real controller
 * ticking and the real state machines behind the sandbox's Step Functions
 * endpoint. Compressed timings (×8, the cap the replace-node scenarios use).
 *
 * One sandbox for the file; the steps build on each other in order: steady
 * status → config check --live → pause honoured within one tick → a kill →
 * a replacement (status while it runs, unlock refused) → a drill → a lease
 * left by a stopped execution, released by unlock. Every wait is bounded.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { ListExecutionsCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { listObservations } from '../../functions/adapters/control-history.js';
import { LEASE_SCOPES, readLease } from '../../functions/adapters/control-table.js';
import { CLUSTER_NAME, CONTROL_TABLE, Sandbox } from '../../sandbox/environment.js';
import { startOperatorEndpoints, type OperatorEndpoints } from '../../sandbox/operator-endpoints.js';
import { REPLACE_NODE_MAX_SPEED } from '../../sandbox/scenarios.js';
import type { ClusterStatus } from '../../cli/status.js';

const BIN = fileURLToPath(new URL('../../bin/vault-ha.mjs', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let sb: Sandbox;
let ops: OperatorEndpoints;
let sfn: SFNClient;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      // Only what `npm start` prints (plus PATH/HOME for node): no AWS variable leaks in from the test process.
      { cwd: ROOT, timeout: timeoutMs, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', USER: 'operator-under-test', NO_COLOR: '1', ...ops.cliEnv } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

async function statusJson(): Promise<{ run: Run; status: ClusterStatus }> {
  const run = await cli(['status', '--json']);
  assert.ok(run.code === 0 || run.code === 1, `status exit ${run.code}: ${run.stderr}`);
  const doc = JSON.parse(run.stdout) as { healthy: boolean; clusters: ClusterStatus[] };
  assert.equal(doc.clusters.length, 1);
  return { run, status: doc.clusters[0]! };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) break;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Registered (non-draining) targets right now, from the sandbox's ALB. */
function registered(): string[] {
  const tg = sb.aws.targetGroups.requireTargetGroup(sb.targetGroupArn);
  return [...tg.targets.values()].filter((r) => r.state !== 'draining').map((r) => r.id).sort();
}

/** Steady: one active, it alone registered and healthy, the controller's last tick healthy. */
async function steady(timeoutMs = 30_000): Promise<string> {
  return until('a steady cluster', timeoutMs, () => {
    const a = sb.activeSlot();
    const id = a ? sb.instanceOf(a.name) : undefined;
    const reg = registered();
    const ok = id !== undefined && sb.controller.last?.report?.clusters[0]?.verdict.kind === 'healthy' && reg.length === 1 && reg[0] === id && sb.targetState(id) === 'healthy';
    return ok ? id : undefined;
  });
}

beforeAll(async () => {
  sb = new Sandbox({ ha: 'dynamodb', fast: true, speed: REPLACE_NODE_MAX_SPEED });
  await sb.start();
  ops = await startOperatorEndpoints(sb);
  sfn = new SFNClient({ endpoint: ops.sfn.url, region: sb.aws.world.region, credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' }, maxAttempts: 2 });
  await steady();
});

afterAll(async () => {
  sfn?.destroy();
  await ops?.stop();
  await sb?.stop();
});

describe('vault-ha against a running sandbox', () => {
  it('status in steady state: exit 0, one table row per slot, the active holds the lock and is the healthy target', async () => {
    const { run, status } = await statusJson();
    assert.equal(run.code, 0);
    assert.equal(status.verdict.kind, 'healthy');
    assert.equal(status.nodes.length, 3);
    const holders = status.nodes.filter((n) => n.lock === 'holder');
    assert.equal(holders.length, 1);
    assert.equal(holders[0]?.instanceId, sb.instanceOf(sb.activeSlot()!.name));
    assert.equal(holders[0]?.target?.state, 'healthy');
    assert.deepEqual(status.nodes.filter((n) => n.lock !== 'holder').map((n) => [n.class, n.target]), [['standby', null], ['standby', null]]);
    assert.deepEqual(status.nodes.map((n) => n.slot), ['vault-a', 'vault-b', 'vault-c']);
    assert.ok(status.controller.outcomes[0]?.outcome.startsWith('no action:'), status.controller.outcomes[0]?.outcome);
    assert.equal(status.operation.lease, null);
    assert.deepEqual(status.operation.executions, []);
    assert.equal(status.pause.paused, false);

    const human = await cli(['status']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /SLOT\s+INSTANCE\s+AZ\s+EC2\s+VAULT\s+LOCK\s+TARGET\s+FAILS/);
    assert.match(human.stdout, /Verdict: healthy/);
    assert.match(human.stdout, /Executions: none running/);
  });

  it('config check --live against the sandbox: every read-only check passes; the example account is real here (its STS says so)', async () => {
    const run = await cli(['config', 'check', ops.configFile, '--live', '--json']);
    const doc = JSON.parse(run.stdout) as { ok: boolean; findings: Array<{ level: string; message: string }>; live: Array<{ check: string; ok: boolean; detail: string }> };
    assert.deepEqual(doc.live.filter((l) => !l.ok), [], JSON.stringify(doc.live, null, 1));
    assert.ok(doc.live.some((l) => /unseal share parameters/.test(l.check) && /3 SecureString parameter/.test(l.detail)), 'the shares were found by name');
    assert.ok(!run.stdout.includes(sb.shares[0]!), 'no share value in the output');
    assert.ok(doc.findings.some((f) => f.level === 'info' && /111122223333/.test(f.message) && /confirmed live/.test(f.message)));
    assert.equal(run.code, 0, run.stdout);

    // The region trap: the SDK's region (AWS_REGION / profile / --region) is not where the config's resources are.
    const elsewhere = await cli(['config', 'check', ops.configFile, '--live', '--region', 'us-east-1']);
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stdout, /FAIL\s+region: the SDK's region is us-east-1 but the config's resources are in eu-west-1/);
  });

  it('pause is honoured within one tick: from the first tick that started after it, nothing changes and the outcome says who paused until when', async () => {
    const active = sb.activeSlot()!;
    const activeId = sb.instanceOf(active.name)!;
    const sentAt = Date.now();
    const paused = await cli(['pause', '--cluster', CLUSTER_NAME, '--for', '10m', '--reason', 'e2e maintenance']);
    // The pause was written somewhere between sentAt and now: a tick that started
    // in between may or may not have read it; every tick that started later must have.
    const returnedAt = Date.now();
    let resumedHere = false;
    try {
      assert.equal(paused.code, 0, paused.stderr);
      assert.match(paused.stdout, /paused by arn:aws:sts::\d{12}:assumed-role\/sandbox-operator\/\S+ until \S+Z \(e2e maintenance\)/);

      // Observations are written on a change (and a heartbeat), so the first tick that read the pause wrote one.
      const since = async () =>
        (await listObservations(sb.dynamo.client, CONTROL_TABLE, CLUSTER_NAME, { sinceMs: sentAt - 5_000, newestFirst: false })).filter((o) => o.atMs > sentAt);
      const startedAfterReturn = async () => (await since()).filter((o) => o.atMs - Number(o.report['tickDurationMs'] ?? 0) > returnedAt);
      const first = await until('a tick that read the pause', 10_000, async () => (await since()).find((o) => /^paused by/.test(String(o.report['outcome']))));
      assert.match(String(first.report['outcome']), /^paused by .* until .*\(e2e maintenance\): observed only, nothing changed/);
      assert.equal(first.report['dryRun'], true);

      // The active steps down: unpaused, the controller would register the new active and drop the old one.
      await sb.stepDown(active.name);
      const newActive = await until('a new active', 10_000, () => {
        const a = sb.activeSlot();
        return a && a.name !== active.name ? a : undefined;
      });
      const newId = sb.instanceOf(newActive.name)!;
      const wouldAct = await until('a paused tick that would register the new active', 10_000, async () =>
        (await startedAfterReturn()).find((o) => String(o.report['outcome']).includes(`would register ${newId}`)),
      );
      assert.equal(wouldAct.report['applied'], false);
      assert.deepEqual(registered(), [activeId], 'while paused the routing did not move');
      const unpaused = (await startedAfterReturn()).filter((o) => !/^paused by/.test(String(o.report['outcome'])) || o.report['applied'] !== false);
      assert.deepEqual(unpaused.map((o) => o.report['outcome']), [], 'every tick that started after the pause was written observed only');
      const { status } = await statusJson();
      assert.equal(status.pause.paused, true);
      const drill = await cli(['drill', '--cluster', CLUSTER_NAME, '--scenario', 'kill-active']);
      assert.equal(drill.code, 4, 'no drill while paused: the controller would not route the new active');
      assert.match(drill.stderr, /is paused by .*resume/s);
      assert.match(status.controller.outcomes[0]?.outcome ?? '', /^paused by/);

      const resumed = await cli(['resume', '--cluster', CLUSTER_NAME]);
      assert.equal(resumed.code, 0, resumed.stderr);
      resumedHere = true;
      assert.match(resumed.stdout, /resumed \(it was paused by/);
      assert.equal(await steady(), newId, 'resumed, the controller routes the new active');
    } finally {
      // A failure above must not leave the later steps a paused cluster to time out on.
      if (!resumedHere) await cli(['resume', '--cluster', CLUSTER_NAME]);
    }
  });

  it('status during a kill: the killed node is unreachable (its EC2 instance still running) and the exit code follows the verdict', async () => {
    const victim = sb.activeSlot()!;
    const victimId = sb.instanceOf(victim.name)!;
    await sb.killVault(victim.name);
    const { run, status } = await statusJson();
    const row = status.nodes.find((n) => n.instanceId === victimId);
    assert.equal(row?.class, 'unreachable');
    assert.equal(row?.instanceState, 'running');
    assert.equal(run.code, status.verdict.kind === 'healthy' ? 0 : 1);
    const newId = await steady();
    assert.notEqual(newId, victimId);
    const later = await statusJson();
    assert.equal(later.run.code, 0);
    const target = later.status.nodes.find((n) => n.instanceId === victimId)?.target;
    assert.ok(target === null || target?.state === 'draining', `the dead node was deregistered: ${JSON.stringify(target)}`);
  });

  it('replace follows the execution phase by phase and prints the report; meanwhile status shows it running and unlock is refused', async () => {
    const dead = sb.slots.find((s) => !s.node.status().running)!;
    const oldId = sb.instanceOf(dead.name)!;
    const replace = cli(['replace', '--cluster', CLUSTER_NAME, '--slot', dead.name, '--poll', '200ms', '--reason', 'e2e: Vault died'], 120_000);

    await until('a running replace-node execution', 20_000, async () => {
      const arn = ops.sfn.stateMachineArn('vault-ha-control-plane-sandbox-replace-node');
      const out = await sfn.send(new ListExecutionsCommand({ stateMachineArn: arn, statusFilter: 'RUNNING' }));
      return (out.executions ?? []).length > 0 ? true : undefined;
    });
    const lease = await until('the operation lease', 20_000, () => readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation }));

    const during = await statusJson();
    const running = during.status.operation.executions ?? [];
    assert.equal(running.length, 1, JSON.stringify(during.status.operation));
    assert.equal(running[0]?.kind, 'replace-node');
    assert.equal(running[0]?.input['slot'], dead.name);
    assert.equal(typeof running[0]?.phase, 'string');
    assert.equal(during.status.operation.lease?.owner, lease.owner);

    const unlock = await cli(['unlock', '--cluster', CLUSTER_NAME, '--scope', 'operation']);
    assert.equal(unlock.code, 4, unlock.stdout + unlock.stderr);
    assert.match(unlock.stdout, new RegExp(`held by ${lease.owner} \\(replace-node ${dead.name}\\)`));
    assert.match(unlock.stderr, /still runs/);
    assert.equal((await readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation }))?.owner, lease.owner, 'the lease was not touched');

    const done = await replace;
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.match(done.stdout, /replace-node SUCCEEDED/);
    assert.match(done.stdout, /result:\s+replaced/);
    assert.match(done.stdout, new RegExp(`old instance: ${oldId}`));
    // One line per phase seen at a poll (a phase shorter than the poll interval may pass unseen).
    assert.match(done.stderr, /\] replace-node \S+: phase wait-running \(state \w+\)/, 'progress lines name the phases as they come');
    assert.match(done.stderr, /\] replace-node \S+: SUCCEEDED/);

    const afterwards = await statusJson();
    assert.equal(afterwards.status.operation.lease, null);
    assert.deepEqual(afterwards.status.operation.executions, []);
    const row = afterwards.status.nodes.find((n) => n.slot === dead.name && n.instanceState === 'running');
    assert.ok(row && row.instanceId !== oldId && row.class === 'standby', JSON.stringify(afterwards.status.nodes));
  });

  it('drill step-down runs to its report (exit 0, passed, the RTO)', async () => {
    await steady();
    const run = await cli(['drill', '--cluster', CLUSTER_NAME, '--scenario', 'step-down', '--poll', '200ms', '--json'], 120_000);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const doc = JSON.parse(run.stdout) as { status: string; report: { kind: string; result: string; rtoSeconds: number | null } };
    assert.equal(doc.status, 'SUCCEEDED');
    assert.equal(doc.report.kind, 'failover-drill');
    assert.equal(doc.report.result, 'passed');
    assert.equal(typeof doc.report.rtoSeconds, 'number');
  });

  it('history lists the verdict transitions, the pause and resume, the routing changes, the replacement and the drill', async () => {
    const run = await cli(['history', '--since', '1h', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const events = (JSON.parse(run.stdout) as { clusters: Array<{ events: Array<{ kind: string; summary: string }> }> }).clusters[0]!.events;
    const kinds = new Set(events.map((e) => e.kind));
    for (const k of ['verdict', 'pause', 'resume', 'routing', 'replace', 'drill']) assert.ok(kinds.has(k), `${k} in ${[...kinds].join(', ')}`);
    assert.ok(events.some((e) => e.kind === 'replace' && /replaced/.test(e.summary)));
  });

  it('unlock releases a lease left by a stopped execution, after showing who held it', async () => {
    await steady();
    const started = await cli(['drill', '--cluster', CLUSTER_NAME, '--scenario', 'step-down', '--no-wait', '--json']);
    assert.equal(started.code, 0, started.stderr);
    const { executionArn } = JSON.parse(started.stdout) as { executionArn: string };
    const lease = await until('the drill to take the lease', 20_000, () => readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation }));
    await sfn.send(new StopExecutionCommand({ executionArn }));
    assert.equal(await ops.sfn.waitFor(executionArn), 'ABORTED');
    assert.equal((await readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation }))?.owner, lease.owner, 'a stopped execution leaves its lease');

    const busy = await cli(['replace', '--cluster', CLUSTER_NAME, '--slot', 'vault-a', '--no-wait']);
    assert.equal(busy.code, 4, 'nothing starts while the lease is held');
    assert.match(busy.stderr, /holds the operation lease/);

    const unlock = await cli(['unlock', '--cluster', CLUSTER_NAME, '--scope', 'operation']);
    assert.equal(unlock.code, 0, unlock.stdout + unlock.stderr);
    assert.match(unlock.stdout, new RegExp(`held by ${lease.owner} \\(failover-drill step-down\\)`));
    assert.match(unlock.stdout, /ABORTED/);
    assert.match(unlock.stdout, /released the operation lease/);
    assert.equal(await readLease(sb.dynamo.client, CONTROL_TABLE, { cluster: CLUSTER_NAME, scope: LEASE_SCOPES.operation }), undefined);

    const again = await cli(['unlock', '--cluster', CLUSTER_NAME]);
    assert.equal(again.code, 3, 'nothing left to unlock');
  });
});
