import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, parseConfig } from '../../../functions/config/load.js';
import { ConfigError } from '../../../functions/config/errors.js';
import { failoverDrillInputSchema, replaceNodeInputSchema } from '../../../functions/config/schema.js';

const EXAMPLE_CA: string = JSON.parse(await readFile(new URL('../../../config/example.json', import.meta.url), 'utf8')).clusters[0].vault.caBundle;
const TG = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';
const minimal = () => ({
  clusters: [{ name: 'prod', discovery: { tagKey: 'vault-cluster', tagValue: 'prod' }, loadBalancer: { targetGroupArn: TG }, haLock: { type: 'dynamodb' } }],
});
const problemsOf = (doc: unknown): string[] => {
  try {
    parseConfig(doc);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  assert.fail('expected a ConfigError');
};

describe('configuration contract (DESIGN §4.1)', () => {
  it('accepts the example shipped in the repository (its CA bundle is a real certificate)', async () => {
    const example = JSON.parse(await readFile(new URL('../../../config/example.json', import.meta.url), 'utf8'));
    const c = parseConfig(example);
    assert.equal(c.clusters[0]?.replacement?.slots.length, 3);
  });

  it('fills documented defaults for a minimal cluster', () => {
    const c = parseConfig(minimal());
    const cl = c.clusters[0]!;
    assert.equal(c.controlTable, 'vault-ha-control');
    assert.deepEqual(
      { scheme: cl.vault.scheme, port: cl.vault.port, address: cl.vault.address, probeTimeoutMs: cl.vault.probeTimeoutMs },
      { scheme: 'https', port: 8200, address: 'privateIp', probeTimeoutMs: 2000 },
    );
    assert.equal(cl.loadBalancer.routing, 'all-unsealed');
    assert.equal(cl.haLock.type === 'dynamodb' && cl.haLock.table, 'vault-dynamodb-backend');
    assert.deepEqual(
      { dryRun: cl.policy.dryRun, interval: cl.policy.probeIntervalSeconds, threshold: cl.policy.unhealthyThreshold, fencing: cl.policy.fencing, autoReplace: cl.policy.autoReplace },
      { dryRun: false, interval: 5, threshold: 2, fencing: 'deregister', autoReplace: false },
    );
  });

  it('names a missing required field with its full path', () => {
    const doc = minimal();
    delete (doc.clusters[0] as { loadBalancer?: unknown }).loadBalancer;
    (doc.clusters[0] as Record<string, unknown>).loadBalancer = {};
    assert.deepEqual(problemsOf(doc), ['clusters[0].loadBalancer.targetGroupArn: Required (expected string)']);
  });

  it('reports every invalid field at once, not just the first', () => {
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters[0]!.vault = { port: 99999, address: { tag: '' } };
    doc.clusters[0]!.policy = { fencing: 'shoot' };
    const problems = problemsOf(doc);
    assert.ok(problems.some((p) => p.startsWith('clusters[0].vault.port:')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('clusters[0].vault.address')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('clusters[0].policy.fencing:')), problems.join('\n'));
  });

  it('rejects unknown fields so a typo is not silently ignored', () => {
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters[0]!.polcy = { dryRun: true };
    assert.deepEqual(problemsOf(doc), ['clusters[0]: unknown field(s) "polcy"']);
  });

  it('rejects a target group ARN that is not one', () => {
    const doc = minimal();
    doc.clusters[0]!.loadBalancer.targetGroupArn = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/x/0123';
    assert.match(problemsOf(doc)[0]!, /^clusters\[0\]\.loadBalancer\.targetGroupArn: must be an ELBv2 target group ARN/);
  });

  it('accepts the three address forms and rejects others', () => {
    for (const address of ['privateIp', 'privateDnsName', { tag: 'vault-url' }]) {
      const doc = minimal() as { clusters: Array<Record<string, unknown>> };
      doc.clusters[0]!.vault = { address };
      assert.doesNotThrow(() => parseConfig(doc));
    }
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters[0]!.vault = { address: 'publicIp' };
    assert.match(problemsOf(doc)[0]!, /^clusters\[0\]\.vault\.address/);
  });

  it('refuses duplicate cluster names and duplicate slot names', () => {
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters.push({ ...doc.clusters[0]! });
    assert.deepEqual(problemsOf(doc), ['clusters[1].name: duplicate cluster name "prod"']);
    const d2 = minimal() as { clusters: Array<Record<string, unknown>> };
    const slot = { name: 'a', availabilityZone: 'eu-west-1a', subnetId: 'subnet-1' };
    d2.clusters[0]!.replacement = { launchTemplate: { id: 'lt-1' }, slots: [slot, { ...slot }] };
    assert.deepEqual(problemsOf(d2), ['clusters[0].replacement.slots[1].name: duplicate slot name "a"']);
  });

  it('never accepts a CA bundle with plain http (TLS verification is not optional)', () => {
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters[0]!.vault = { scheme: 'http', caBundle: EXAMPLE_CA };
    assert.deepEqual(problemsOf(doc), ['clusters[0].vault.caBundle: a CA bundle needs vault.scheme "https"']);
  });
});

describe('configuration sources, in order', () => {
  const json = JSON.stringify(minimal());
  it('prefers VAULT_HA_CONFIG over the file and the parameter', async () => {
    let asked = false;
    const c = await loadConfig({ VAULT_HA_CONFIG: json, VAULT_HA_CONFIG_FILE: '/nonexistent', VAULT_HA_CONFIG_PARAMETER: '/x' }, async () => {
      asked = true;
      return '{}';
    });
    assert.equal(c.clusters[0]?.name, 'prod');
    assert.equal(asked, false);
  });

  it('reads VAULT_HA_CONFIG_FILE when no inline config is set', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cfg-'));
    try {
      const file = path.join(dir, 'c.json');
      await writeFile(file, json);
      const c = await loadConfig({ VAULT_HA_CONFIG_FILE: file });
      assert.equal(c.clusters[0]?.discovery.tagValue, 'prod');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads the SSM parameter last, with decryption by the reader', async () => {
    const names: string[] = [];
    const c = await loadConfig({ VAULT_HA_CONFIG_PARAMETER: '/vault-ha/prod/config' }, async (n) => {
      names.push(n);
      return json;
    });
    assert.deepEqual(names, ['/vault-ha/prod/config']);
    assert.equal(c.clusters.length, 1);
  });

  it('fails fast and says which source was bad', async () => {
    await assert.rejects(loadConfig({ VAULT_HA_CONFIG: '{not json' }), (e: unknown) => e instanceof ConfigError && /env VAULT_HA_CONFIG/.test(e.message) && /not valid JSON/.test(e.message));
    await assert.rejects(loadConfig({ VAULT_HA_CONFIG_FILE: '/definitely/missing.json' }), (e: unknown) => e instanceof ConfigError && /ENOENT/.test(e.message));
    await assert.rejects(loadConfig({}), (e: unknown) => e instanceof ConfigError && /VAULT_HA_CONFIG_PARAMETER/.test(e.message));
  });
});

describe('state machine inputs (DESIGN §4.5)', () => {
  it('replace-node takes a slot or an instance id, never both', () => {
    assert.equal(replaceNodeInputSchema.safeParse({ cluster: 'prod', slot: 'vault-b' }).success, true);
    assert.equal(replaceNodeInputSchema.safeParse({ cluster: 'prod', instanceId: 'i-0123456789abcdef0' }).success, true);
    const both = replaceNodeInputSchema.safeParse({ cluster: 'prod', slot: 'a', instanceId: 'i-0123456789abcdef0' });
    assert.equal(both.success, false);
    const neither = replaceNodeInputSchema.safeParse({ cluster: 'prod' });
    assert.equal(neither.success, false);
  });
  it('failover-drill accepts exactly its seven scenarios', () => {
    for (const scenario of ['step-down', 'kill-active', 'stop-active-instance', 'terminate-active', 'partition-clients', 'partition-storage', 'seal-active']) {
      assert.equal(failoverDrillInputSchema.safeParse({ cluster: 'prod', scenario }).success, true);
    }
    assert.equal(failoverDrillInputSchema.safeParse({ cluster: 'prod', scenario: 'reboot' }).success, false);
  });
});

describe('hostile input: every malformed value rejected with the field and the expected type, bounded in size', () => {
  it('a wrong type names the expected and the received type, not "Required"', () => {
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters[0]!.vault = { port: '8200' };
    doc.clusters[0]!.policy = { dryRun: 'yes' };
    assert.deepEqual(problemsOf(doc).sort(), [
      'clusters[0].policy.dryRun: expected boolean, got string',
      'clusters[0].vault.port: expected number, got string',
    ]);
  });

  it('state machine inputs: wrong types are named as such', () => {
    const r = replaceNodeInputSchema.safeParse({ cluster: 'prod', slot: 'vault-a', force: 1 });
    assert.equal(r.success, false);
    assert.match(JSON.stringify(r.error?.issues.map((i) => i.message)), /expected boolean, received number/);
  });

  it('a 5 MB cluster name is rejected with a short message that does not echo it', () => {
    const huge = 'x'.repeat(5 * 1024 * 1024);
    const r = failoverDrillInputSchema.safeParse({ cluster: huge, scenario: 'kill-active' });
    assert.equal(r.success, false);
    const text = JSON.stringify(r.error);
    assert.ok(text.length < 2_000, `error is ${text.length} characters`);
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters[0]!.name = huge;
    doc.clusters[0]![huge] = 1;
    const problems = problemsOf(doc);
    assert.ok(problems.join('\n').length < 2_000, `problems are ${problems.join('\n').length} characters`);
  });

  it('maxRtoSeconds must be at least one second', () => {
    assert.equal(failoverDrillInputSchema.safeParse({ cluster: 'prod', scenario: 'step-down', maxRtoSeconds: 1e-300 }).success, false);
    assert.equal(failoverDrillInputSchema.safeParse({ cluster: 'prod', scenario: 'step-down', maxRtoSeconds: 1 }).success, true);
  });

  it('a CA bundle whose PEM block is not a certificate (a placeholder) is rejected', () => {
    const doc = minimal() as { clusters: Array<Record<string, unknown>> };
    doc.clusters[0]!.vault = { caBundle: '-----BEGIN CERTIFICATE-----\nMIIB...replace with your private CA...\n-----END CERTIFICATE-----\n' };
    assert.deepEqual(problemsOf(doc), ['clusters[0].vault.caBundle: certificate 1 of the bundle is not a valid X.509 certificate (a placeholder?)']);
    doc.clusters[0]!.vault = { caBundle: EXAMPLE_CA };
    assert.doesNotThrow(() => parseConfig(doc));
  });
});
