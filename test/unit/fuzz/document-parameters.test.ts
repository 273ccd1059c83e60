/**
 * Hostile SSM document parameters: whoever may send VaultHA-PrepareNode (the
 * replace-node and failover-drill task functions, an operator) chooses its
 * parameters within the document's allowedPattern. The node runs it with its
 * own instance role, the one role that can read the unseal shares, so what
 * the patterns let through decides where the shares can go (DESIGN §5.7).
 *
 * Defect F2 (found by the issue 8 chaos run, fixed): `VaultAddr` used to accept
 * any host, and the script PUTs every share to `$VaultAddr/v1/sys/unseal` once
 * that address answers a seal-status saying sealed, so a compromised task
 * function could have a node send the shares to any server. Its allowedPattern
 * now admits only the node itself, and the script refuses any other address
 * before it reads a share; the tests below fail on the old pattern.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from '@jest/globals';
import fc from 'fast-check';
import { parse } from 'yaml';
import { runNodeScript } from '../replacement/node-script-harness.js';

interface ParameterSpec {
  type: string;
  allowedPattern?: string;
  default?: string;
}
type Doc = { Properties: { Content: { parameters: Record<string, ParameterSpec>; mainSteps: Array<{ inputs: { runCommand: string[] } }> } } };

const docs = parse(await readFile(new URL('../../../serverless/ssm-documents.yml', import.meta.url), 'utf8')) as Record<string, Doc>;
const prepare = docs['VaultHAPrepareNodeDocument']!.Properties.Content;
const vaultAddrPattern = new RegExp(prepare.parameters['VaultAddr']!.allowedPattern!);
const LOOPBACK = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/;
const SHARES = ['c2hhcmUtb25lLXNlY3JldA==', 'c2hhcmUtdHdvLXNlY3JldA==', 'c2hhcmUtdGhyZWUtc2VjcmV0'];

describe('PrepareNode parameters a sender may choose', () => {
  it('the default VaultAddr is the node itself', () => {
    assert.match(prepare.parameters['VaultAddr']!.default ?? '', LOOPBACK);
  });

  it('F2 (fixed): every VaultAddr the document accepts names the node itself (fast-check, 300 cases)', () => {
    fc.assert(
      fc.property(fc.constantFrom('http', 'https'), fc.domain(), fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }), (scheme, host, port) => {
        const addr = `${scheme}://${host}${port === undefined ? '' : `:${port}`}`;
        if (vaultAddrPattern.test(addr)) assert.match(addr, LOOPBACK, `accepted ${addr}`);
      }),
      { numRuns: 300 },
    );
  });

  it('F2 (fixed): the real script never sends a share to another host than the node', async () => {
    const run = await runNodeScript(
      prepare.mainSteps[0]!.inputs.runCommand.join('\n'),
      prepare.parameters,
      { VolumeId: '', MountPoint: '/opt/vault/data', UnsealMode: 'shamir', SharesParameterPrefix: '/vault/prod/unseal/', VaultAddr: 'http://exfil.example.net:8200', AllowFormat: 'false' },
      { shares: SHARES },
    );
    const sentElsewhere = run.argv.filter((l) => l.startsWith('curl ') && l.includes('/v1/sys/unseal') && !/https?:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(l));
    assert.deepEqual(sentElsewhere, [], `shares PUT to: ${sentElsewhere.join(' | ')}; Vault stub received ${run.stdin.split('\n').filter(Boolean).length} share(s)`);
  });
});
