/**
 * The CLI's own decisions, without AWS: argument parsing, exit codes, phase
 * names from state names, execution names, the outcome collapsing of
 * `status`, history classification, and the progress display's two modes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { ConfigError } from '../../functions/config/errors.js';
import { AwsAccessDeniedError, TableNotFoundError } from '../../functions/adapters/errors.js';
import { parseArgs } from '../../cli/lib/args.js';
import { EXIT, toCliError, UsageError } from '../../cli/lib/errors.js';
import { executionNameFor, phaseOfState, reportOfExecution } from '../../cli/lib/executions.js';
import { elapsed, Output } from '../../cli/lib/output.js';
import { executionArnOf, stateMachineName, workflowOfStateMachineName } from '../../cli/lib/stack.js';
import { collapseOutcomes } from '../../cli/status.js';
import { observationKind } from '../../cli/history.js';
import { run, splitCommand } from '../../cli/vault-ha.js';
import { applySandboxConnection, formatEnv, writeSandboxConnection } from '../../cli/lib/sandbox-connection.js';
import { NotFoundError } from '../../cli/lib/errors.js';

let dir: string;
let configFile: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vault-ha-cli-units-'));
  configFile = path.join(dir, 'config.json');
  await writeFile(
    configFile,
    JSON.stringify({
      controlTable: 'vault-ha-control-test',
      clusters: [
        {
          name: 'prod',
          discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
          vault: { scheme: 'http' },
          loadBalancer: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/vault/6d0ecf831eec9f09' },
          haLock: { type: 'raft' },
          replacement: { launchTemplate: { id: 'lt-07a3c5e9b1d2f4680' }, slots: [{ name: 'vault-a', availabilityZone: 'eu-west-1a', subnetId: 'subnet-0a1b2c3d4e5f60718' }] },
        },
      ],
    }),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('argument parsing', () => {
  it('reads --flag, --opt value, --opt=value and positionals', () => {
    const a = parseArgs(['check', 'f.json', '--json', '--stage', 'prod', '--config=c.json'], { live: { type: 'boolean' } });
    assert.deepEqual(a, { positionals: ['check', 'f.json'], options: { json: true, stage: 'prod', config: 'c.json' } });
  });
  const bad: Array<[string, string[]]> = [
    ['an unknown option', ['--colour']],
    ['a value for a boolean', ['--json=yes']],
    ['a missing value', ['--stage']],
    ['an option as the value', ['--stage', '--json']],
    ['an empty value', ['--stage', '']],
    ['an option twice', ['--stage', 'a', '--stage', 'b']],
    ['a short option', ['-x']],
  ];
  for (const [what, argv] of bad) {
    it(`${what} is a UsageError`, () => assert.throws(() => parseArgs(argv, {}), UsageError));
  }
});

describe('exit codes', () => {
  const rows: Array<[string, unknown, number]> = [
    ['an invalid config', new ConfigError('file x', ['clusters: Required']), EXIT.usage],
    ['a missing table', new TableNotFoundError('t: not found', { resource: 't', code: 'ResourceNotFoundException' }), EXIT.notFound],
    ['an SDK ResourceNotFoundException', Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException', $metadata: {} }), EXIT.notFound],
    ['an unknown execution', Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist', $metadata: {} }), EXIT.notFound],
    ['access denied', new AwsAccessDeniedError('denied', { resource: 't', code: 'AccessDeniedException' }), EXIT.aws],
    ['no credentials', Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), EXIT.aws],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), EXIT.aws],
    ['anything else', new TypeError('boom'), EXIT.failed],
  ];
  for (const [what, err, code] of rows) it(`${what} → ${code}`, () => assert.equal(toCliError(err).exitCode, code));

  const io = () => {
    let out = '';
    let err = '';
    return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: { ...process.env, VAULT_HA_CONFIG: '', VAULT_HA_CONFIG_FILE: '', VAULT_HA_CONFIG_PARAMETER: '' } }, out: () => out, err: () => err };
  };
  // None of these reaches AWS: each is decided from the arguments and the config file.
  const commands: Array<[string, string[], number, RegExp]> = [
    ['no command', [], EXIT.usage, /usage: vault-ha/],
    ['an unknown command', ['stats'], EXIT.usage, /unknown command "stats"/],
    ['status without any config source', ['status'], EXIT.usage, /no configuration/],
    ['status of a cluster the config does not have', ['status', '--cluster', 'nope', '--config', '@CONFIG'], EXIT.notFound, /no cluster named "nope" .*known: prod/],
    ['replace without --slot', ['replace', '--cluster', 'prod', '--config', '@CONFIG'], EXIT.usage, /--slot is required/],
    ['replace of a slot the cluster does not have', ['replace', '--cluster', 'prod', '--slot', 'vault-z', '--config', '@CONFIG'], EXIT.notFound, /no slot "vault-z" \(slots: vault-a\)/],
    ['drill of an unknown scenario', ['drill', '--cluster', 'prod', '--scenario', 'explode', '--config', '@CONFIG'], EXIT.usage, /scenario/],
    ['drill with a non-numeric --max-rto', ['drill', '--cluster', 'prod', '--scenario', 'step-down', '--max-rto', 'soon', '--config', '@CONFIG'], EXIT.usage, /maxRtoSeconds/],
    ['pause for a bad duration', ['pause', '--cluster', 'prod', '--for', 'a while', '--config', '@CONFIG'], EXIT.usage, /--for must be a duration/],
    ['history with a bad --since', ['history', '--since', 'yesterday', '--config', '@CONFIG'], EXIT.usage, /--since must be a duration/],
    ['unlock of the controller lease', ['unlock', '--cluster', 'prod', '--scope', 'controller', '--config', '@CONFIG'], EXIT.usage, /controller lease is not released by hand/],
    ['a stage name with a slash', ['status', '--stage', 'a/b'], EXIT.usage, /--stage must be/],
    ['an extra positional', ['status', 'prod'], EXIT.usage, /unexpected argument "prod"/],
  ];
  for (const [what, argv, code, message] of commands) {
    it(`vault-ha: ${what} → exit ${code}`, async () => {
      const t = io();
      const got = await run(argv.map((a) => (a === '@CONFIG' ? configFile : a)), t.io);
      assert.equal(got, code, t.err());
      assert.match(t.err() + t.out(), message);
    });
  }
  it('--help prints the usage with the exit codes and exits 0', async () => {
    const t = io();
    assert.equal(await run(['--help'], t.io), 0);
    assert.match(t.out(), /exit codes: 0 ok/);
  });
});

describe('state machines and executions', () => {
  const phases: Array<['replace-node' | 'failover-drill', string, string | undefined]> = [
    ['replace-node', 'MarkLease', 'acquire-lease'],
    ['replace-node', 'MarkWaitRunning', 'wait-running'],
    ['replace-node', 'MarkAttach', 'attach-volume'],
    ['replace-node', 'MarkPrepare', 'prepare-node'],
    ['replace-node', 'MarkDetachVolume', 'wait-volume-available'],
    ['replace-node', 'MarkCompensate', 'compensate'],
    ['replace-node', 'WaitRunning', undefined],
    ['failover-drill', 'MarkPreCheck', 'pre-check'],
    ['failover-drill', 'MarkInject', 'inject-fault'],
    ['failover-drill', 'MarkObserve', 'observe-failover'],
    ['failover-drill', 'Mark', undefined],
  ];
  for (const [kind, state, phase] of phases) it(`${kind} ${state} → ${phase ?? 'no phase'}`, () => assert.equal(phaseOfState(kind, state), phase));

  it('execution names are valid Step Functions names (≤80, [A-Za-z0-9_-]) that say what and when', () => {
    const at = Date.parse('2026-12-01T10:15:00.123Z');
    assert.equal(executionNameFor('replace-node', 'prod', 'vault-a', at), 'cli-replace-prod-vault-a-20261201T101500Z');
    const long = executionNameFor('failover-drill', 'c'.repeat(63), 'stop-active-instance', at);
    assert.ok(long.length <= 80 && /^[A-Za-z0-9_-]+$/.test(long) && long.endsWith('-20261201T101500Z'), long);
  });

  it('deployed names and execution ARNs follow serverless.yml', () => {
    assert.equal(stateMachineName('prod', 'replace-node'), 'vault-ha-control-plane-prod-replace-node');
    assert.equal(workflowOfStateMachineName('vault-ha-control-plane-prod-failover-drill'), 'failover-drill');
    assert.equal(workflowOfStateMachineName('other-prod-replace-node'), undefined);
    assert.equal(
      executionArnOf('arn:aws:states:eu-west-1:210987654321:stateMachine:vault-ha-control-plane-prod-replace-node', 'exec-1'),
      'arn:aws:states:eu-west-1:210987654321:execution:vault-ha-control-plane-prod-replace-node:exec-1',
    );
  });

  it('the report is the output when SUCCEEDED and the Fail Cause when FAILED; prose is no report', () => {
    assert.deepEqual(reportOfExecution({ status: 'SUCCEEDED', output: '{"kind":"replace-node","result":"replaced"}' }), { kind: 'replace-node', result: 'replaced' });
    assert.deepEqual(reportOfExecution({ status: 'FAILED', cause: '{"kind":"failover-drill","result":"failed"}' }), { kind: 'failover-drill', result: 'failed' });
    assert.equal(reportOfExecution({ status: 'FAILED', cause: 'Lambda timed out' }), undefined);
    assert.equal(reportOfExecution({ status: 'SUCCEEDED', output: '{"result":"x"}' }), undefined);
  });
});

describe('status and history helpers', () => {
  it('collapseOutcomes merges consecutive idle ticks with the same sentence, never a tick that changed something', () => {
    const t = (s: number, outcome: string, applied = false) => ({ atMs: s * 1000, report: { outcome, applied, verdict: { kind: 'healthy' } } });
    const out = collapseOutcomes([t(5, 'no action'), t(4, 'no action'), t(3, 'registered i-b', true), t(2, 'no action'), t(1, 'no action')]);
    assert.deepEqual(out.map((o) => [o.outcome, o.ticks]), [['no action', 2], ['registered i-b', 1], ['no action', 2]]);
    assert.equal(out[0]?.since, new Date(4000).toISOString());
  });
  it('observationKind names the most drastic action of a tick', () => {
    assert.equal(observationKind({ takeover: { result: 'deleted' }, fencing: { result: 'skipped' } }), 'takeover');
    assert.equal(observationKind({ fencing: { result: 'deleted' } }), 'fencing');
    assert.equal(observationKind({ autoReplace: { started: { result: 'started' } } }), 'auto-replace');
    assert.equal(observationKind({ takeover: { result: 'skipped' } }), 'routing');
  });
});

describe('progress display', () => {
  it('without a TTY: one plain line per change, none for a repeat', () => {
    let text = '';
    const out = new Output({ stdout: { write: () => true }, stderr: { write: (s: string) => (text += s), isTTY: false }, json: false, color: false });
    const p = out.progress('replace-node vault-a');
    p.update('phase launch');
    p.update('phase launch');
    p.update('phase wait-running');
    p.done('SUCCEEDED');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, 3, text);
    assert.match(lines[0]!, /^\[0:0\d\] replace-node vault-a: phase launch$/);
    assert.ok(!text.includes('\r'), 'no carriage returns in a log');
  });
  it('on a TTY: the line is rewritten in place and cleared at the end', () => {
    let text = '';
    const out = new Output({ stdout: { write: () => true }, stderr: { write: (s: string) => (text += s), isTTY: true, columns: 80 }, json: false, color: false });
    const p = out.progress('drill');
    p.update('phase observe-failover');
    p.done();
    assert.ok(text.startsWith('\r\x1b[2K'), JSON.stringify(text));
    assert.ok(text.endsWith('\r\x1b[2K'));
  });
  it('elapsed is m:ss below an hour and h:mm:ss above', () => {
    assert.equal(elapsed(75_000), '1:15');
    assert.equal(elapsed(3_725_000), '1:02:05');
  });
});

describe('--sandbox: the connection a running `npm start` leaves', () => {
  it('applies only the SDK standard variables and the config file, and drops other config sources', async () => {
    const file = path.join(dir, 'conn.json');
    const envFile = path.join(dir, 'conn.env');
    await writeSandboxConnection({ AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:1', VAULT_HA_CONFIG_FILE: '/tmp/c.json', NODE_OPTIONS: '--inspect' }, file, envFile);
    const env: NodeJS.ProcessEnv = { VAULT_HA_CONFIG_PARAMETER: '/vault-ha/prod/config', AWS_PROFILE: 'prod' };
    applySandboxConnection(env, file);
    assert.deepEqual(env, { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:1', VAULT_HA_CONFIG_FILE: '/tmp/c.json' });
  });
  it('a connection whose sandbox is gone, or none at all, is NotFoundError (exit 3)', async () => {
    const file = path.join(dir, 'stale.json');
    await writeFile(file, JSON.stringify({ pid: 2 ** 22 + 12345, env: {} }));
    assert.throws(() => applySandboxConnection({}, file), NotFoundError);
    assert.throws(() => applySandboxConnection({}, path.join(dir, 'absent.json')), NotFoundError);
  });
  it('the env block quotes what a shell would split', () => {
    assert.equal(formatEnv({ A: 'http://127.0.0.1:1', B: "it's here" }), "export A=http://127.0.0.1:1\nexport B='it'\\''s here'");
  });
  it('global options may come before the command', () => {
    assert.deepEqual(splitCommand(['--sandbox', '--stage', 'prod', 'status', '--json']), { name: 'status', rest: ['--sandbox', '--stage', 'prod', '--json'] });
    assert.deepEqual(splitCommand(['--stage=prod', 'history']), { name: 'history', rest: ['--stage=prod'] });
    assert.equal(splitCommand(['--json']).name, undefined);
  });
});
