/**
 * The SSM documents that run on the Vault nodes (serverless/ssm-documents.yml).
 *
 * Static checks on the documents (names, the parameter contract with the task
 * code and the sandbox, invariant 7 in the script text), then the REAL scripts
 * run under bash against a simulated node (node-script-harness.ts): stub
 * lsblk/blkid/file/mkfs/mount/curl/aws that record every argv and the stdin
 * Vault receives, and a real systemd-style /etc/vault.d/vault.env.
 */
import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DOCUMENT_PARAMETERS } from '../../../functions/adapters/ssm-run.js';
import { PREPARE_NODE_PARAMETERS, VAULT_CONTROL_PARAMETERS } from '../../../sandbox/ssm-agent-documents.js';
import { runNodeScript, type ScriptRun, type SimNode } from './node-script-harness.js';

interface ParameterSpec {
  type: string;
  allowedPattern?: string;
  allowedValues?: string[];
  default?: string;
}
interface SsmDoc {
  Type: string;
  Properties: {
    Name?: string;
    DocumentType: string;
    UpdateMethod?: string;
    Content: {
      schemaVersion: string;
      parameters: Record<string, ParameterSpec>;
      mainSteps: Array<{ action: string; inputs: { timeoutSeconds: string; runCommand: string[] } }>;
    };
  };
}

const DOCUMENTS_FILE = 'serverless/ssm-documents.yml';
const docs = parse(await readFile(DOCUMENTS_FILE, 'utf8')) as Record<string, SsmDoc>;
const PREPARE = 'VaultHAPrepareNodeDocument';
const CONTROL = 'VaultHAVaultControlDocument';
const doc = (logicalId: string): SsmDoc => {
  const d = docs[logicalId];
  assert.ok(d, `document ${logicalId} missing`);
  return d;
};
const scriptOf = (logicalId: string): string => doc(logicalId).Properties.Content.mainSteps[0]!.inputs.runCommand.join('\n');
const declaredOf = (logicalId: string): Record<string, ParameterSpec> => doc(logicalId).Properties.Content.parameters;

/** The parameter contract agreed with functions/adapters/ssm-run.ts (issue 14): exactly these, no more. */
const CONTRACT = {
  [PREPARE]: ['VolumeId', 'MountPoint', 'UnsealMode', 'SharesParameterPrefix', 'VaultAddr', 'AllowFormat', 'executionTimeout'],
  [CONTROL]: ['Action', 'TokenParameterName', 'ApiPort', 'ClusterPort', 'HaStorage', 'FaultDurationSeconds', 'executionTimeout'],
} as const;

describe('SSM documents (static)', () => {
  for (const [logicalId, sent, sandbox, timeout] of [
    [PREPARE, DOCUMENT_PARAMETERS.prepareNode, PREPARE_NODE_PARAMETERS, '600'],
    [CONTROL, DOCUMENT_PARAMETERS.vaultControl, VAULT_CONTROL_PARAMETERS, '120'],
  ] as const) {
    it(`${logicalId} is a Command document, schema 2.2, aws:runShellScript`, () => {
      const d = doc(logicalId);
      assert.equal(d.Type, 'AWS::SSM::Document');
      assert.deepEqual([d.Properties.DocumentType, d.Properties.Content.schemaVersion, d.Properties.Content.mainSteps[0]?.action], ['Command', '2.2', 'aws:runShellScript']);
    });

    // Issue 14 item 6: a fixed Name (VaultHA-PrepareNode) exists once per account and region, so a second
    // stage's stack failed to create it. Without Name, CloudFormation generates a stack-unique one, and `Ref`
    // returns it (AWS::SSM::Document, "Return values"), which serverless.yml passes to the functions and IAM.
    it(`${logicalId} has no fixed Name (each stage's stack gets its own) and is replaced, not versioned, on change`, () => {
      const p = doc(logicalId).Properties;
      assert.equal(p.Name, undefined);
      assert.equal(p.UpdateMethod, 'Replace');
    });

    it(`${logicalId} declares exactly the agreed parameters, the same list the sandbox registers`, () => {
      assert.deepEqual(Object.keys(declaredOf(logicalId)).sort(), [...CONTRACT[logicalId]].sort());
      assert.deepEqual([...sandbox].sort(), [...CONTRACT[logicalId]].sort());
    });

    it(`${logicalId} declares every parameter the task code sends (SSM rejects undeclared ones with InvalidParameters)`, () => {
      for (const p of sent) assert.ok(declaredOf(logicalId)[p], `${p} not declared`);
    });

    it(`${logicalId}: every parameter is a String pinned by a pattern or a value list`, () => {
      for (const [name, spec] of Object.entries(declaredOf(logicalId))) {
        assert.equal(spec.type, 'String', name);
        assert.ok(spec.allowedPattern || spec.allowedValues, `${name} unconstrained`);
      }
    });

    it(`${logicalId}: executionTimeout is declared as AWS-RunShellScript does (digits, default ${timeout}) and drives the step timeout`, () => {
      const spec = declaredOf(logicalId).executionTimeout!;
      assert.equal(spec.default, timeout);
      const re = new RegExp(spec.allowedPattern!);
      for (const ok of ['1', '60', timeout, '172800']) assert.match(ok, re);
      for (const bad of ['0', '', '172801', '600; reboot', '6e2', "600'"]) assert.doesNotMatch(bad, re);
      assert.equal(doc(logicalId).Properties.Content.mainSteps[0]!.inputs.timeoutSeconds, '{{ executionTimeout }}');
    });

    it(`${logicalId} turns tracing off and never uses the brace form of shell variables (serverless would resolve it)`, () => {
      const s = scriptOf(logicalId);
      assert.match(s, /^set \+x$/m);
      assert.doesNotMatch(s, /set -x/);
      assert.doesNotMatch(s, /\$\{/);
    });

    it(`${logicalId} parses /etc/vault.d/vault.env and never executes it (it is a systemd EnvironmentFile, not shell)`, () => {
      const s = scriptOf(logicalId);
      assert.doesNotMatch(s, /^\s*(\.|source)\s+\S*(vault\.env|ENV_FILE)/m);
      assert.match(s, /^ENV_FILE=\/etc\/vault\.d\/vault\.env$/m);
    });

    it(`${logicalId} never turns TLS verification off`, () => {
      assert.doesNotMatch(scriptOf(logicalId), /\s(-k|--insecure)\b/);
    });
  }

  it('the file uses no serverless variables at all, so the packaged documents are exactly this content', async () => {
    assert.doesNotMatch(await readFile(DOCUMENTS_FILE, 'utf8'), /\$\{/);
  });

  it('PrepareNode: AllowFormat is "true" or "false", default "false" (a volume is never formatted unless asked)', () => {
    const spec = declaredOf(PREPARE).AllowFormat!;
    assert.deepEqual([...spec.allowedValues!].sort(), ['false', 'true']);
    assert.equal(spec.default, 'false');
  });

  it('both documents parse the env file with the same function (they cannot drift apart)', () => {
    const fn = (s: string): string => /^env_file_value\(\) \{\n[\s\S]*?\n\}$/m.exec(s)?.[0] ?? '';
    assert.ok(fn(scriptOf(PREPARE)).length > 500);
    assert.equal(fn(scriptOf(PREPARE)), fn(scriptOf(CONTROL)));
  });

  it('PrepareNode sends each share through stdin: the curl segment of the pipe never names the share', () => {
    const lines = scriptOf(PREPARE).split('\n').filter((l) => l.includes('$share'));
    assert.ok(lines.length > 0);
    for (const line of lines) {
      for (const segment of line.split('|')) {
        if (segment.includes('curl')) {
          assert.doesNotMatch(segment, /\$share/);
          assert.match(segment, /--data-binary @-/);
        }
      }
      assert.doesNotMatch(line, /\becho\b[^|]*\$share/);
    }
  });

  it('VaultControl passes the token as a header read from stdin', () => {
    const line = scriptOf(CONTROL).split('\n').find((l) => l.includes('sys/step-down'));
    assert.ok(line);
    const curl = line.split('|').find((s) => s.includes('curl'));
    assert.ok(curl && curl.includes('-H @-') && !curl.includes('$TOKEN'));
  });
});

const SHARES = ['c2hhcmUtb25lLXNlY3JldA==', 'c2hhcmUtdHdvLXNlY3JldA==', 'c2hhcmUtdGhyZWUtc2VjcmV0'];
const VOLUME_ID = 'vol-0abc1234def567890';
const SERIAL = 'vol0abc1234def567890';
const OTHER_SERIAL = 'vol0fff0000aaa111222';
const ROOT = { name: 'nvme0n1', serial: 'vol0aaaabbbbccccdddde', fs: 'xfs' };

/** PrepareNode parameters as replace-node sends them (names and paths only), the mount point in the scratch dir. */
function prepareParams(extra: Record<string, string> = {}): Record<string, string | ((scratch: string) => string)> {
  return {
    VolumeId: VOLUME_ID,
    MountPoint: (scratch) => join(scratch, 'data'),
    UnsealMode: 'shamir',
    SharesParameterPrefix: '/vault/prod/unseal/',
    VaultAddr: 'https://127.0.0.1:8200',
    AllowFormat: 'false',
    ...extra,
  };
}
const runPrepare = (node: SimNode, params = prepareParams()): Promise<ScriptRun> =>
  runNodeScript(scriptOf(PREPARE), declaredOf(PREPARE), params, { shares: SHARES, ...node });
const calls = (run: ScriptRun, tool: string): string[] => run.argv.filter((l) => l.startsWith(`${tool} `) || l === tool);
const vaultStarted = (run: ScriptRun): boolean => calls(run, 'systemctl').some((l) => / start vault$/.test(l));

describe('PrepareNode on a node: unseal through stdin, nothing secret in argv or output', () => {
  let run: ScriptRun;
  beforeAll(async () => {
    run = await runPrepare({}, prepareParams({ VolumeId: '' }));
  });

  it('unseals: submits shares until Vault reports sealed=false, printing progress', () => {
    assert.equal(run.exitCode, 0, run.output);
    assert.match(run.output, /unseal progress 1\/2/);
    assert.match(run.output, /sealed=false/);
    assert.equal(run.stdin.trim().split('\n').length, 2);
  });
  it('reads the shares on the node with decryption', () => {
    assert.ok(run.argv.some((l) => /^aws ssm get-parameters-by-path .*--path \/vault\/prod\/unseal\/ .*--with-decryption/.test(l)), run.argv.join('\n'));
  });
  it('never puts a share on any command line', () => {
    for (const s of SHARES) assert.ok(!run.argv.join('\n').includes(s), `share in argv: ${run.argv.join('\n')}`);
  });
  it('never prints a share', () => {
    for (const s of SHARES) assert.ok(!run.output.includes(s));
  });
  it('sent the shares through stdin as {"key": ...} bodies', () => {
    assert.ok(run.stdin.includes(`{"key":"${SHARES[0]}"}`));
  });
});

// Issue 14 item 2: the documents sourced vault.env (systemd EnvironmentFile format) and then asked
// `printenv VAULT_CACERT`, which never sees a sourced, unexported variable: --cacert was never passed and
// curl failed TLS against Vault's private CA. Sourcing is wrong anyway: `KEY=a b` is legal for systemd and
// runs `b` as a command in a shell. The env file below is what such a node really has.
const CA_FILE = 'tls/ca dir/vault-ca.pem';
const ENV_FILE = [
  '# /etc/vault.d/vault.env: EnvironmentFile of vault.service (systemd.exec(5))',
  '; comments start with # or ;',
  'VAULT_LOG_LEVEL=info debug',
  '  VAULT_CACERT = "@SCRATCH@/tls/ca dir/vault-ca.pem"  ',
  "VAULT_CLIENT_TIMEOUT='30s'",
  'VAULT_ADDR=https://vault-a.internal:8200',
  '',
].join('\n');
const vaultCalls = (run: ScriptRun): string[] => calls(run, 'curl').filter((l) => l.includes('/v1/sys/'));

describe('the documents use the private CA named in the systemd env file', () => {
  it('PrepareNode passes --cacert <VAULT_CACERT> to every Vault call (seal-status and each unseal), not to the metadata service', async () => {
    const run = await runPrepare({ envFile: ENV_FILE, files: { [CA_FILE]: 'PEM' } }, prepareParams({ VolumeId: '' }));
    assert.equal(run.exitCode, 0, run.output);
    const ca = join(run.scratch, CA_FILE);
    const vault = vaultCalls(run);
    assert.ok(vault.some((l) => l.includes('/v1/sys/unseal')) && vault.some((l) => l.includes('/v1/sys/seal-status')), vault.join('\n'));
    for (const line of vault) assert.ok(line.startsWith(`curl --cacert ${ca} `), line);
    for (const line of calls(run, 'curl').filter((l) => l.includes('169.254.169.254'))) assert.doesNotMatch(line, /--cacert/);
  });

  it('PrepareNode passes --cacert for the plainest env file too (KEY=value, nothing to trip a shell)', async () => {
    const run = await runPrepare({ envFile: 'VAULT_CACERT=@SCRATCH@/ca.pem\n', files: { 'ca.pem': 'PEM' } }, prepareParams({ VolumeId: '' }));
    assert.equal(run.exitCode, 0, run.output);
    assert.ok(vaultCalls(run).length > 0);
    for (const line of vaultCalls(run)) assert.ok(line.startsWith(`curl --cacert ${join(run.scratch, 'ca.pem')} `), line);
  });

  it('PrepareNode refuses to run when VAULT_CACERT names a file that does not exist (never falls back to no CA)', async () => {
    const run = await runPrepare({ envFile: 'VAULT_CACERT=/nonexistent/ca.pem\n' }, prepareParams({ VolumeId: '' }));
    assert.equal(run.exitCode, 6);
    assert.match(run.output, /VAULT_CACERT .*\/nonexistent\/ca\.pem.*not a readable file/);
    assert.deepEqual(vaultCalls(run), []);
  });

  it('PrepareNode without an env file calls Vault with the system trust store (verification still on)', async () => {
    const run = await runPrepare({}, prepareParams({ VolumeId: '' }));
    assert.equal(run.exitCode, 0, run.output);
    assert.ok(vaultCalls(run).length > 0);
    for (const line of vaultCalls(run)) assert.doesNotMatch(line, /--cacert|--capath|-k\b|--insecure/);
  });

  it('VaultControl step-down calls VAULT_ADDR from the env file with --cacert, the token only on stdin', async () => {
    const token = 'hvs.step-down-token-secret';
    const run = await runNodeScript(scriptOf(CONTROL), declaredOf(CONTROL), { Action: 'step-down', TokenParameterName: '/vault-ha/prod/step-down-token' }, {
      envFile: ENV_FILE,
      files: { [CA_FILE]: 'PEM' },
      stepDownToken: token,
    });
    assert.equal(run.exitCode, 0, run.output);
    assert.match(run.output, /step-down http 204/);
    const [call, ...more] = vaultCalls(run);
    assert.equal(more.length, 0);
    assert.ok(call?.startsWith(`curl --cacert ${join(run.scratch, CA_FILE)} `), call);
    assert.ok(call?.endsWith(' https://vault-a.internal:8200/v1/sys/step-down'), call);
    assert.ok(!run.argv.join('\n').includes(token), 'token in argv');
    assert.ok(!run.output.includes(token), 'token printed');
    assert.match(run.stdin, new RegExp(`X-Vault-Token: ${token}`));
  });

  it('VaultControl step-down without an env file calls the local listener https://127.0.0.1:8200 (verification on)', async () => {
    const run = await runNodeScript(scriptOf(CONTROL), declaredOf(CONTROL), { Action: 'step-down', TokenParameterName: '/vault-ha/prod/step-down-token' }, { stepDownToken: 't' });
    assert.equal(run.exitCode, 0, run.output);
    const [call] = vaultCalls(run);
    assert.ok(call?.startsWith('curl -sS ') && call.endsWith(' https://127.0.0.1:8200/v1/sys/step-down'), call);
  });
});

// Issue 14 item 7: when neither the by-id link nor the serial found the slot's volume, the script took any
// unmounted EBS device from the metadata block-device map (which never lists a hot-attached volume), and
// could mkfs it and run Vault on it. Now: the device must carry the volume's NVMe serial (AWS: "Map Amazon
// EBS volumes to NVMe device names"), a filesystem is created only on a proven-blank device with
// AllowFormat=true, and a blank volume that should hold data is an error.
describe('PrepareNode finds the data volume only by its NVMe serial and formats only a proven-blank volume when allowed', () => {
  const blank = { name: 'nvme1n1', serial: SERIAL };
  const withData = { ...blank, fs: 'xfs' };
  const rows: Array<{
    name: string;
    node: SimNode;
    params?: Record<string, string>;
    /** Leave AllowFormat out of the command, so the document's default applies. */
    omitAllowFormat?: true;
    exitCode: number;
    output: RegExp;
    mkfs: string[];
    mounted?: (scratch: string) => string;
  }> = [
    {
      name: 'the slot volume is absent and another blank EBS disk is attached → fails naming the volume, formats and mounts nothing',
      node: { devices: [ROOT, { name: 'nvme1n1', serial: OTHER_SERIAL }], byIdLinks: { [OTHER_SERIAL]: 'nvme1n1' } },
      exitCode: 2,
      output: new RegExp(`device for ${VOLUME_ID} not found: no device has NVMe serial ${SERIAL}`),
      mkfs: [],
    },
    {
      name: 'the slot volume is present (udev by-id link) and holds data → mounted, not formatted',
      node: { devices: [ROOT, withData], byIdLinks: { [SERIAL]: 'nvme1n1' } },
      exitCode: 0,
      output: /mounted .*sealed=false/s,
      mkfs: [],
      mounted: (scratch) => `mount ${join(scratch, 'dev/nvme1n1')} ${join(scratch, 'data')}`,
    },
    {
      name: 'no by-id link (no udev rule): lsblk SERIAL identifies the volume → mounted, not formatted',
      node: { devices: [ROOT, { name: 'nvme1n1', serial: OTHER_SERIAL, fs: 'ext4' }, { ...withData, name: 'nvme2n1' }] },
      exitCode: 0,
      output: /volume vol-0abc1234def567890 is \/dev\/nvme2n1/,
      mkfs: [],
      mounted: (scratch) => `mount /dev/nvme2n1 ${join(scratch, 'data')}`,
    },
    {
      name: 'a by-id link to a device with another serial is not trusted: the device whose serial matches is used',
      node: { devices: [ROOT, { name: 'nvme1n1', serial: OTHER_SERIAL, fs: 'xfs' }, { ...withData, name: 'nvme2n1' }], byIdLinks: { [SERIAL]: 'nvme1n1' } },
      exitCode: 0,
      output: /is \/dev\/nvme2n1/,
      mkfs: [],
      mounted: (scratch) => `mount /dev/nvme2n1 ${join(scratch, 'data')}`,
    },
    {
      name: 'the slot volume is blank and AllowFormat=false (replace-node) → fails, not formatted',
      node: { devices: [ROOT, blank], byIdLinks: { [SERIAL]: 'nvme1n1' } },
      exitCode: 7,
      output: new RegExp(`volume ${VOLUME_ID} .* is blank but must hold this node's Vault data \\(AllowFormat=false\\)`),
      mkfs: [],
    },
    {
      name: 'AllowFormat not sent: the document default "false" applies → a blank volume fails, not formatted',
      node: { devices: [ROOT, blank], byIdLinks: { [SERIAL]: 'nvme1n1' } },
      omitAllowFormat: true,
      exitCode: 7,
      output: /AllowFormat=false/,
      mkfs: [],
    },
    {
      name: 'the slot volume is blank and AllowFormat=true → xfs on exactly that device, then mounted',
      node: { devices: [ROOT, { name: 'nvme1n1', serial: OTHER_SERIAL }, { ...blank, name: 'nvme2n1' }], byIdLinks: { [SERIAL]: 'nvme2n1' } },
      params: { AllowFormat: 'true' },
      exitCode: 0,
      output: /created xfs on blank volume vol-0abc1234def567890/,
      mkfs: ['nvme2n1'],
      mounted: (scratch) => `mount ${join(scratch, 'dev/nvme2n1')} ${join(scratch, 'data')}`,
    },
    {
      name: 'the slot volume has a partition table but no filesystem, AllowFormat=true → not proven blank: fails, not formatted',
      node: { devices: [ROOT, { ...blank, partitionTable: true }], byIdLinks: { [SERIAL]: 'nvme1n1' } },
      params: { AllowFormat: 'true' },
      exitCode: 3,
      output: /not proven blank .*refusing to format/,
      mkfs: [],
    },
  ];

  for (const row of rows) {
    it(row.name, async () => {
      const params = prepareParams(row.params ?? {});
      if (row.omitAllowFormat) delete params.AllowFormat;
      const run = await runPrepare(row.node, params);
      assert.equal(run.exitCode, row.exitCode, run.output);
      assert.match(run.output, row.output);
      const formatted = calls(run, 'mkfs').map((l) => l.split('/').pop());
      assert.deepEqual(formatted, row.mkfs, `mkfs calls: ${calls(run, 'mkfs').join('; ')}`);
      for (const l of calls(run, 'mkfs')) assert.match(l, /^mkfs -t xfs /);
      // The metadata block-device map never proves which volume a device is: it is not consulted at all.
      assert.ok(!run.argv.some((l) => l.includes('block-device-mapping')), 'consulted the metadata block-device map');
      if (row.mounted) {
        assert.deepEqual(calls(run, 'mount'), [row.mounted(run.scratch)]);
        assert.ok(vaultStarted(run));
        assert.match(run.fstab, /^UUID=uuid-nvme\dn1 \S+\/data auto defaults,nofail 0 2$/m);
      } else {
        assert.deepEqual(calls(run, 'mount'), [], 'mounted something');
        assert.equal(vaultStarted(run), false, 'started Vault without its data volume');
      }
    });
  }
});
