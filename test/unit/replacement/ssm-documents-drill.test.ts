/**
 * The failover drill's actions of the VaultControl document
 * (serverless/ssm-documents.yml): seal, partition-clients, partition-storage
 * and heal, run as the REAL script under bash against a simulated node
 * (node-script-harness.ts), whose iptables / ip6tables keep their rules in a
 * scratch directory and whose systemd-run records the timer's command.
 *
 * What must hold: a network fault is never injected without first arming the
 * timer that removes it (and the timer's command really removes it); only the
 * drill's own rules (comment vault-ha-drill) are added and removed; the SSM
 * agent's traffic is never cut (storage is cut by the Vault user's uid only);
 * the seal token travels on stdin only.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { runNodeScript, type ScriptRun, type SimNode } from './node-script-harness.js';

interface Spec {
  default?: string;
  allowedPattern?: string;
  allowedValues?: string[];
}
const docs = parse(await readFile('serverless/ssm-documents.yml', 'utf8')) as Record<string, { Properties: { Content: { parameters: Record<string, Spec>; mainSteps: Array<{ inputs: { runCommand: string[] } }> } } }>;
const control = docs.VaultHAVaultControlDocument!.Properties.Content;
const script = control.mainSteps[0]!.inputs.runCommand.join('\n');
const declared = control.parameters;
const run = (parameters: Record<string, string>, node: SimNode = {}, opts: { fireTimer?: boolean } = {}): Promise<ScriptRun> => runNodeScript(script, declared, parameters, node, opts);
const calls = (r: ScriptRun, tool: string): string[] => r.argv.filter((l) => l.startsWith(`${tool} `));
const TAG = '-m comment --comment vault-ha-drill';
const OTHER_RULE = '-A INPUT -p tcp --dport 22 -j ACCEPT';

describe('VaultControl drill parameters', () => {
  it('declares the drill actions and pins every new parameter', () => {
    assert.deepEqual(declared.Action!.allowedValues, ['step-down', 'stop', 'kill', 'start', 'seal', 'partition-clients', 'partition-storage', 'heal']);
    assert.deepEqual(declared.HaStorage!.allowedValues, ['dynamodb', 'raft']);
    const port = new RegExp(declared.ApiPort!.allowedPattern!);
    for (const ok of ['1', '8200', '65535']) assert.match(ok, port);
    for (const bad of ['0', '', '8200;', '123456', '08200']) assert.doesNotMatch(bad, port);
    const duration = new RegExp(declared.FaultDurationSeconds!.allowedPattern!);
    for (const ok of ['60', '99', '100', '900', '8100', '79999', '85999', '86399', '86400']) assert.match(ok, duration);
    for (const bad of ['59', '0', '86401', '90000', '900 ', '1e3', '']) assert.doesNotMatch(bad, duration);
  });
});

describe('partition-clients', () => {
  it('arms the heal timer first, then refuses the API port to everyone but the node, in both address families', async () => {
    const r = await run({ Action: 'partition-clients', ApiPort: '8200', FaultDurationSeconds: '1140' });
    assert.equal(r.exitCode, 0, r.output);
    const firstRule = r.argv.findIndex((l) => /^ip6?tables -I /.test(l));
    const timer = r.argv.findIndex((l) => l.startsWith('systemd-run '));
    assert.ok(timer >= 0 && timer < firstRule, r.argv.join('\n'));
    assert.match(r.argv[timer]!, /^systemd-run --quiet --unit vault-ha-drill-heal --on-active 1140 /);
    const rule = `-A INPUT -p tcp --dport 8200 ! -i lo ${TAG} -j REJECT --reject-with tcp-reset`;
    assert.deepEqual(r.iptables, [rule]);
    assert.deepEqual(r.ip6tables, [rule]);
    assert.match(r.output, /clients cut from port 8200; heals by itself after 1140 s/);
  });

  it('the timer\'s command removes the drill\'s rules by itself, and nothing else', async () => {
    const r = await run({ Action: 'partition-clients', ApiPort: '8200' }, { iptablesRules: [OTHER_RULE] }, { fireTimer: true });
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(r.timerExitCode, 0);
    assert.deepEqual(r.iptables, [OTHER_RULE]);
    assert.deepEqual(r.ip6tables, [OTHER_RULE]);
  });

  for (const [missing, why] of [
    ['systemd-run', /systemd-run not found: refusing to cut the network without an automatic heal/],
    ['iptables', /iptables not found: cannot inject partition-clients/],
  ] as const) {
    it(`refuses without ${missing}, adding no rule`, async () => {
      const r = await run({ Action: 'partition-clients' }, { missing: [missing] });
      assert.equal(r.exitCode, 4);
      assert.match(r.output, why);
      assert.deepEqual(calls(r, 'iptables').filter((l) => l.startsWith('iptables -I')), []);
    });
  }

  it('without ip6tables, cuts IPv4 only', async () => {
    const r = await run({ Action: 'partition-clients' }, { missing: ['ip6tables'] });
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(r.iptables.length, 1);
  });
});

describe('partition-storage', () => {
  it('DynamoDB: drops only the Vault user\'s outbound HTTPS (the SSM agent, root, keeps its path to Systems Manager)', async () => {
    const r = await run({ Action: 'partition-storage', HaStorage: 'dynamodb' });
    assert.equal(r.exitCode, 0, r.output);
    assert.deepEqual(r.iptables, [`-A OUTPUT -p tcp --dport 443 -m owner --uid-owner 998 ${TAG} -j DROP`]);
    assert.match(r.output, /Vault \(uid 998\) cut from DynamoDB/);
  });

  it('DynamoDB without a vault user: refuses (it cannot tell Vault\'s traffic from the agent\'s)', async () => {
    const r = await run({ Action: 'partition-storage', HaStorage: 'dynamodb' }, { noVaultUser: true });
    assert.equal(r.exitCode, 5);
    assert.deepEqual(r.iptables, []);
  });

  it('Raft: drops the cluster port both ways (not loopback)', async () => {
    const r = await run({ Action: 'partition-storage', HaStorage: 'raft', ClusterPort: '8301' });
    assert.equal(r.exitCode, 0, r.output);
    assert.deepEqual([...r.iptables].sort(), [`-A INPUT -p tcp --dport 8301 ! -i lo ${TAG} -j DROP`, `-A OUTPUT -p tcp --dport 8301 ! -o lo ${TAG} -j DROP`].sort());
  });
});

describe('heal', () => {
  it('stops the timer and removes exactly the drill\'s rules from both families', async () => {
    const drill = `-A INPUT -p tcp --dport 8200 ! -i lo ${TAG} -j REJECT --reject-with tcp-reset`;
    const storage = `-A OUTPUT -p tcp --dport 443 -m owner --uid-owner 998 ${TAG} -j DROP`;
    const r = await run({ Action: 'heal' }, { iptablesRules: [OTHER_RULE, drill, storage] });
    assert.equal(r.exitCode, 0, r.output);
    assert.deepEqual(r.iptables, [OTHER_RULE]);
    assert.deepEqual(r.ip6tables, [OTHER_RULE]);
    assert.ok(r.argv.includes('systemctl stop vault-ha-drill-heal.timer vault-ha-drill-heal.service'), r.argv.join('\n'));
    assert.match(r.output, /drill network rules removed/);
  });

  it('is a no-op on a node without drill rules', async () => {
    const r = await run({ Action: 'heal' }, { iptablesRules: [OTHER_RULE] });
    assert.equal(r.exitCode, 0, r.output);
    assert.deepEqual(r.iptables, [OTHER_RULE]);
  });
});

describe('seal', () => {
  it('seals through sys/seal with the token on stdin only', async () => {
    const token = 'hvs.seal-token-secret';
    const r = await run({ Action: 'seal', TokenParameterName: '/vault-ha/prod/step-down-token' }, { stepDownToken: token });
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.output, /seal http 204/);
    const vault = calls(r, 'curl').filter((l) => l.includes('/v1/sys/'));
    assert.equal(vault.length, 1);
    assert.ok(vault[0]!.endsWith(' https://127.0.0.1:8200/v1/sys/seal'), vault[0]);
    assert.match(vault[0]!, /-X PUT -H @- /);
    assert.ok(!r.argv.join('\n').includes(token), 'token in argv');
    assert.ok(!r.output.includes(token), 'token printed');
    assert.match(r.stdin, new RegExp(`X-Vault-Token: ${token}`));
  });

  it('fails (exit 3) when Vault refuses, e.g. a node that is a standby by now', async () => {
    const r = await run({ Action: 'seal', TokenParameterName: '/t' }, { stepDownToken: 't', sealCode: 500 });
    assert.equal(r.exitCode, 3);
    assert.match(r.output, /seal http 500/);
  });

  it('needs TokenParameterName', async () => {
    const r = await run({ Action: 'seal' });
    assert.equal(r.exitCode, 2);
    assert.match(r.output, /seal needs TokenParameterName/);
  });
});
