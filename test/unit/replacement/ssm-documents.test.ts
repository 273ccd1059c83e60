/**
 * The SSM documents must never put an unseal share (or a token) on a command
 * line or in their output (invariant 7). Static checks on the script text, and
 * a run of the real PrepareNode script under bash with stub `aws`, `curl` and
 * `systemctl` that record every argv and stdin they get.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdtemp, writeFile, chmod, rm } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DOCUMENT_PARAMETERS } from '../../../functions/adapters/ssm-run.js';

interface SsmDoc {
  Properties: {
    Name: string;
    DocumentType: string;
    Content: {
      schemaVersion: string;
      parameters: Record<string, { type: string; allowedPattern?: string; allowedValues?: string[]; default?: string }>;
      mainSteps: Array<{ action: string; inputs: { runCommand: string[] } }>;
    };
  };
}

const docs = parse(await readFile('serverless/ssm-documents.yml', 'utf8')) as Record<string, SsmDoc>;
const byName = (name: string): SsmDoc => {
  const d = Object.values(docs).find((x) => x.Properties.Name === name);
  assert.ok(d, `document ${name} missing`);
  return d;
};
const scriptOf = (name: string): string => byName(name).Properties.Content.mainSteps[0]!.inputs.runCommand.join('\n');

describe('SSM documents (static)', () => {
  for (const [name, params] of [
    ['VaultHA-PrepareNode', DOCUMENT_PARAMETERS.prepareNode],
    ['VaultHA-VaultControl', DOCUMENT_PARAMETERS.vaultControl],
  ] as const) {
    it(`${name} is a Command document, schema 2.2, aws:runShellScript`, () => {
      const d = byName(name).Properties;
      assert.deepEqual([d.DocumentType, d.Content.schemaVersion, d.Content.mainSteps[0]?.action], ['Command', '2.2', 'aws:runShellScript']);
    });
    it(`${name} declares every parameter the task code sends, each pinned by a pattern or a value list`, () => {
      const declared = byName(name).Properties.Content.parameters;
      for (const p of params) {
        assert.ok(declared[p], `${p} not declared`);
        assert.ok(declared[p]!.allowedPattern || declared[p]!.allowedValues, `${p} unconstrained`);
      }
    });
    it(`${name} turns tracing off and never uses the brace form of shell variables (serverless would resolve it)`, () => {
      const s = scriptOf(name);
      assert.match(s, /^set \+x$/m);
      assert.doesNotMatch(s, /set -x/);
      assert.doesNotMatch(s, /\$\{/);
    });
  }

  it('PrepareNode sends each share through stdin: the curl segment of the pipe never names the share', () => {
    const lines = scriptOf('VaultHA-PrepareNode').split('\n').filter((l) => l.includes('$share'));
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
    const line = scriptOf('VaultHA-VaultControl').split('\n').find((l) => l.includes('sys/step-down'));
    assert.ok(line);
    const curl = line.split('|').find((s) => s.includes('curl'));
    assert.ok(curl && curl.includes('-H @-') && !curl.includes('$TOKEN'));
  });
});

describe('PrepareNode run with stub aws/curl/systemctl', () => {
  const SHARES = ['c2hhcmUtb25lLXNlY3JldA==', 'c2hhcmUtdHdvLXNlY3JldA==', 'c2hhcmUtdGhyZWUtc2VjcmV0'];
  let dir = '';
  let stdout = '';
  let argvLog = '';
  let stdinLog = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'prepare-node-'));
    const stub = (body: string): string => `#!/bin/bash\nprintf '%s\\n' "$(basename "$0") $*" >> "${dir}/argv.log"\n${body}\n`;
    // aws: prints the shares the way `--query Parameters[].Value --output text` does (tab-separated).
    await writeFile(join(dir, 'aws'), stub(`printf '${SHARES.join('\\t')}\\n'`));
    // curl: IMDS answers, seal-status sealed until two shares were received, unseal counts progress.
    await writeFile(
      join(dir, 'curl'),
      stub(`
case "$*" in
  *api/token*) echo tok ;;
  *placement/region*) echo eu-west-1 ;;
  *sys/unseal*)
    body=$(cat); printf '%s\\n' "$body" >> "${dir}/stdin.log"
    n=$(grep -c key "${dir}/stdin.log")
    if [ "$n" -ge 2 ]; then echo '{"sealed":false,"t":2,"n":3,"progress":0}'; else echo "{\\"sealed\\":true,\\"t\\":2,\\"n\\":3,\\"progress\\":$n}"; fi ;;
  *sys/seal-status*)
    n=$(grep -c key "${dir}/stdin.log" 2>/dev/null || echo 0)
    if [ "$n" -ge 2 ]; then echo '{"sealed":false,"t":2,"progress":0}'; else echo '{"sealed":true,"t":2,"progress":0}'; fi ;;
esac`),
    );
    await writeFile(join(dir, 'systemctl'), stub('exit 0'));
    for (const f of ['aws', 'curl', 'systemctl']) await chmod(join(dir, f), 0o755);
    const script = scriptOf('VaultHA-PrepareNode')
      .replace('{{ VolumeId }}', '')
      .replace('{{ MountPoint }}', '/opt/vault/data')
      .replace('{{ UnsealMode }}', 'shamir')
      .replace('{{ SharesParameterPrefix }}', '/vault/prod/unseal/')
      .replace('{{ VaultAddr }}', 'https://127.0.0.1:8200');
    await writeFile(join(dir, 'prepare.sh'), script);
    stdout = await new Promise<string>((resolve, reject) => {
      execFile('/bin/bash', [join(dir, 'prepare.sh')], { env: { PATH: `${dir}:/usr/bin:/bin` }, timeout: 20_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${out}\n${errOut}`)) : resolve(`${out}${errOut}`),
      );
    });
    argvLog = await readFile(join(dir, 'argv.log'), 'utf8');
    stdinLog = await readFile(join(dir, 'stdin.log'), 'utf8');
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('unseals: submits shares until Vault reports sealed=false, printing progress', () => {
    assert.match(stdout, /unseal progress 1\/2/);
    assert.match(stdout, /sealed=false/);
    assert.equal(stdinLog.trim().split('\n').length, 2);
  });
  it('reads the shares on the node with decryption', () => {
    assert.match(argvLog, /^aws ssm get-parameters-by-path .*--path \/vault\/prod\/unseal\/ .*--with-decryption/m);
  });
  it('never puts a share on any command line', () => {
    for (const s of SHARES) assert.ok(!argvLog.includes(s), `share in argv: ${argvLog}`);
  });
  it('never prints a share', () => {
    for (const s of SHARES) assert.ok(!stdout.includes(s));
  });
  it('sent the shares through stdin as {"key": ...} bodies', () => {
    assert.ok(stdinLog.includes(`{"key":"${SHARES[0]}"}`));
  });
});
