/**
 * Config reload in a warm container (loadConfigCached) and where the control
 * table's name comes from (config > env VAULT_HA_CONTROL_TABLE > default).
 */
import { beforeEach, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONTROL_TABLE_ENV, loadConfig, loadConfigCached, parseConfigText, resetConfigCache } from '../../../functions/config/load.js';
import { ConfigError } from '../../../functions/config/errors.js';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';
const doc = (o: { dryRun?: boolean; controlTable?: string; name?: string } = {}) => ({
  ...(o.controlTable !== undefined ? { controlTable: o.controlTable } : {}),
  clusters: [
    {
      name: o.name ?? 'prod',
      discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
      loadBalancer: { targetGroupArn: TG },
      haLock: { type: 'dynamodb' },
      policy: { dryRun: o.dryRun ?? false },
    },
  ],
});
const json = (o: Parameters<typeof doc>[0] = {}): string => JSON.stringify(doc(o));

beforeEach(() => resetConfigCache());

describe('controlTable: the config, else the deployed table (env), else the default', () => {
  const rows = [
    { behaviour: 'an explicit controlTable wins over the env', explicit: 'ops-table', env: 'vault-ha-control-prod', expected: 'ops-table' },
    { behaviour: 'without one, the deployed table from env VAULT_HA_CONTROL_TABLE', explicit: undefined, env: 'vault-ha-control-prod', expected: 'vault-ha-control-prod' },
    { behaviour: 'without either, the schema default', explicit: undefined, env: undefined, expected: 'vault-ha-control' },
    { behaviour: 'a blank env counts as unset', explicit: undefined, env: '  ', expected: 'vault-ha-control' },
  ];
  for (const row of rows) {
    it(row.behaviour, async () => {
      const env = { VAULT_HA_CONFIG: json({ ...(row.explicit ? { controlTable: row.explicit } : {}) }), ...(row.env !== undefined ? { [CONTROL_TABLE_ENV]: row.env } : {}) };
      const c = await loadConfig(env);
      assert.equal(c.controlTable, row.expected);
    });
  }

  it('applies to every source (here the SSM parameter) and to parseConfigText given an env', async () => {
    const c = await loadConfig({ VAULT_HA_CONFIG_PARAMETER: '/vault-ha/prod/config', [CONTROL_TABLE_ENV]: 'vault-ha-control-prod' }, async () => json());
    assert.equal(c.controlTable, 'vault-ha-control-prod');
    assert.equal(parseConfigText(json(), 'x', { [CONTROL_TABLE_ENV]: 't' }).controlTable, 't');
    assert.equal(parseConfigText(json(), 'x').controlTable, 'vault-ha-control', 'without env: the default');
  });

  it('leaves a document that is not an object for the schema to reject', async () => {
    await assert.rejects(loadConfig({ VAULT_HA_CONFIG: '[1]', [CONTROL_TABLE_ENV]: 't' }), ConfigError);
  });
});

describe('loadConfigCached: a warm container sees a changed config at its next invocation', () => {
  it('file: reads again after an edit in place (same size) and after an atomic replace, not otherwise', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cfg-reload-'));
    try {
      const file = path.join(dir, 'config.json');
      await writeFile(file, json({ dryRun: false }));
      const env = { VAULT_HA_CONFIG_FILE: file };
      const first = await loadConfigCached({ env });
      assert.equal(first.clusters[0]!.policy.dryRun, false);
      assert.equal(await loadConfigCached({ env }), first, 'unchanged file: the cached object');

      // "false" → "true " keeps the size: only the timestamps tell.
      await writeFile(file, json({ dryRun: false }).replace('"dryRun":false', '"dryRun":true '));
      const edited = await loadConfigCached({ env });
      assert.equal(edited.clusters[0]!.policy.dryRun, true);

      const tmp = path.join(dir, 'config.json.new');
      await writeFile(tmp, json({ name: 'renamed' }));
      await rename(tmp, file);
      assert.equal((await loadConfigCached({ env })).clusters[0]!.name, 'renamed');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('SSM parameter: one version check per call, the value fetched again only when the version moved', async () => {
    let version = 1;
    let value = json({ dryRun: false });
    const calls = { value: 0, version: 0 };
    const readers = {
      parameter: async () => {
        calls.value += 1;
        return { value, version: String(version) };
      },
      parameterVersion: async () => {
        calls.version += 1;
        return String(version);
      },
    };
    const env = { VAULT_HA_CONFIG_PARAMETER: '/vault-ha/prod/config' };
    const first = await loadConfigCached({ env, readers });
    assert.deepEqual(calls, { value: 1, version: 0 });
    assert.equal(await loadConfigCached({ env, readers }), first);
    assert.deepEqual(calls, { value: 1, version: 1 });

    value = json({ dryRun: true });
    version = 2;
    const next = await loadConfigCached({ env, readers });
    assert.equal(next.clusters[0]!.policy.dryRun, true);
    assert.deepEqual(calls, { value: 2, version: 2 });
  });

  it('a new version that does not validate fails the invocation (as a cold start would) until it is fixed', async () => {
    let version = 1;
    let value = json();
    const readers = { parameter: async () => ({ value, version: String(version) }), parameterVersion: async () => String(version) };
    const env = { VAULT_HA_CONFIG_PARAMETER: '/p' };
    await loadConfigCached({ env, readers });
    value = '{"clusters": []}';
    version = 2;
    await assert.rejects(loadConfigCached({ env, readers }), (e: unknown) => e instanceof ConfigError && /SSM parameter \/p/.test(e.message));
    await assert.rejects(loadConfigCached({ env, readers }), ConfigError, 'still failing: the bad version is not cached as good');
    value = json({ name: 'fixed' });
    version = 3;
    assert.equal((await loadConfigCached({ env, readers })).clusters[0]!.name, 'fixed');
  });

  it('a failed version check keeps the loaded config and says so', async () => {
    const warnings: Array<{ message: string; fields: Record<string, unknown> }> = [];
    const readers = {
      parameter: async () => ({ value: json(), version: '1' }),
      parameterVersion: async (): Promise<string> => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
      },
    };
    const env = { VAULT_HA_CONFIG_PARAMETER: '/p' };
    const first = await loadConfigCached({ env, readers });
    const again = await loadConfigCached({ env, readers, onWarning: (message, fields) => warnings.push({ message, fields }) });
    assert.equal(again, first);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /could not check the configuration/);
    assert.match(String(warnings[0]!.fields['error']), /ThrottlingException: Rate exceeded/);
  });

  it('inline config: no reader is ever called; a different source variable reads the new source', async () => {
    const fail = async (): Promise<never> => {
      throw new Error('must not be called');
    };
    const readers = { parameter: fail, parameterVersion: fail, fileFingerprint: fail };
    const a = await loadConfigCached({ env: { VAULT_HA_CONFIG: json({ name: 'a' }) }, readers });
    assert.equal(await loadConfigCached({ env: { VAULT_HA_CONFIG: json({ name: 'a' }) }, readers }), a);
    assert.equal((await loadConfigCached({ env: { VAULT_HA_CONFIG: json({ name: 'b' }) }, readers })).clusters[0]!.name, 'b');
  });

  it('a new deployed table name (env) is picked up too', async () => {
    const env: NodeJS.ProcessEnv = { VAULT_HA_CONFIG: json(), [CONTROL_TABLE_ENV]: 'one' };
    assert.equal((await loadConfigCached({ env })).controlTable, 'one');
    env[CONTROL_TABLE_ENV] = 'two';
    assert.equal((await loadConfigCached({ env })).controlTable, 'two');
  });

  it('concurrent callers share one load', async () => {
    let reads = 0;
    const readers = { parameter: async () => ((reads += 1), { value: json(), version: '1' }), parameterVersion: async () => '1' };
    const env = { VAULT_HA_CONFIG_PARAMETER: '/p' };
    const [x, y] = await Promise.all([loadConfigCached({ env, readers }), loadConfigCached({ env, readers })]);
    assert.equal(x, y);
    assert.equal(reads, 1);
  });
});

describe('loadConfigCached against SSM (the default readers)', () => {
  it('checks the Version without decryption (no KMS call) and decrypts only to read a new version', async () => {
    const ssmMock = mockClient(SSMClient);
    try {
      let version = 7;
      ssmMock.on(GetParameterCommand).callsFake((input: { WithDecryption?: boolean }) =>
        input.WithDecryption ? { Parameter: { Value: json({ name: `v${version}` }), Version: version } } : { Parameter: { Value: 'AQICAHh...encrypted', Version: version } },
      );
      const env = { VAULT_HA_CONFIG_PARAMETER: '/vault-ha/prod/config' };
      assert.equal((await loadConfigCached({ env })).clusters[0]!.name, 'v7');
      await loadConfigCached({ env });
      version = 8;
      assert.equal((await loadConfigCached({ env })).clusters[0]!.name, 'v8');
      const calls = ssmMock.commandCalls(GetParameterCommand).map((c) => c.args[0].input.WithDecryption);
      assert.deepEqual(calls, [true, false, false, true]);
    } finally {
      ssmMock.restore();
    }
  });
});
