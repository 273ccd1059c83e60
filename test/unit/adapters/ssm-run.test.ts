/**
 * sendDocument against a mocked SSM client: what reaches SendCommand.
 *
 * Rule (SSM API reference, SendCommand → Errors → InvalidParameters): "You must
 * specify values for all required parameters in the SSM document. You can only
 * supply values to parameters defined in the SSM document." There is no built-in
 * `executionTimeout`; AWS-RunShellScript accepts one only because it declares it.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { parse } from 'yaml';
import { DOCUMENT_PARAMETERS, DisallowedParameterError, sendDocument } from '../../../functions/adapters/ssm-run.js';

const ssmMock = mockClient(SSMClient);
let ssm: SSMClient;

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: '11111111-2222-3333-4444-555555555555', Status: 'Pending' } });
  ssm = new SSMClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterEach(() => ssm.destroy());

const I = 'i-0123456789abcdef0';
const sentParameters = (): Record<string, string[]> => (ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.Parameters ?? {}) as Record<string, string[]>;

describe('sendDocument', () => {
  test('never adds executionTimeout to a document that does not declare it (SSM would answer InvalidParameters)', async () => {
    // Prepare: a document declaring only Action and TokenParameterName, as VaultControl did.
    const req = {
      documentName: 'VaultHA-VaultControl',
      instanceId: I,
      parameters: { Action: 'kill' },
      allowedParameters: ['Action', 'TokenParameterName'],
      executionTimeoutSeconds: 60,
    };
    // Act + Assess
    await assert.rejects(sendDocument(ssm, req), (e: unknown) => e instanceof DisallowedParameterError && e.parameter === 'executionTimeout');
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand); // nothing was sent
  });

  test('sends no executionTimeout at all when none is asked for (the document default applies)', async () => {
    await sendDocument(ssm, { documentName: 'd-x', instanceId: I, parameters: { Action: 'stop' }, allowedParameters: DOCUMENT_PARAMETERS.vaultControl });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, { DocumentName: 'd-x', InstanceIds: [I] });
    assert.deepEqual(sentParameters(), { Action: ['stop'] });
  });

  test('refuses a parameter the document does not declare, before any call', async () => {
    await assert.rejects(
      sendDocument(ssm, { documentName: 'd-x', instanceId: I, parameters: { Action: 'stop', Share: 'abc' }, allowedParameters: DOCUMENT_PARAMETERS.vaultControl }),
      (e: unknown) => e instanceof DisallowedParameterError && e.parameter === 'Share' && e.documentName === 'd-x',
    );
    expect(ssmMock).not.toHaveReceivedCommand(SendCommandCommand);
  });

  const rows: Array<{ name: string; allowed: readonly string[]; parameters: Record<string, string>; timeout: number }> = [
    {
      name: 'replace-node PrepareNode',
      allowed: DOCUMENT_PARAMETERS.prepareNode,
      parameters: {
        VolumeId: 'vol-0123456789abcdef0',
        MountPoint: '/opt/vault/data',
        UnsealMode: 'shamir',
        SharesParameterPrefix: '/vault/prod/unseal/',
        VaultAddr: 'https://127.0.0.1:8200',
        AllowFormat: 'false',
      },
      timeout: 600,
    },
    { name: 'replace-node step-down', allowed: DOCUMENT_PARAMETERS.vaultControl, parameters: { Action: 'step-down', TokenParameterName: '/vault-ha/prod/step-down-token' }, timeout: 60 },
    { name: 'failover-drill kill-active', allowed: DOCUMENT_PARAMETERS.vaultControl, parameters: { Action: 'kill' }, timeout: 60 },
  ];
  for (const row of rows) {
    test(`${row.name}: every parameter SendCommand carries is one the document declares, executionTimeout included`, async () => {
      await sendDocument(ssm, { documentName: 'd-x', instanceId: I, parameters: row.parameters, allowedParameters: row.allowed, executionTimeoutSeconds: row.timeout });
      expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, { DocumentName: 'd-x', InstanceIds: [I], Parameters: expect.objectContaining({ executionTimeout: [String(row.timeout)] }) });
      const sent = sentParameters();
      for (const key of Object.keys(sent)) assert.ok(row.allowed.includes(key), `${key} is not declared`);
      assert.deepEqual(sent.executionTimeout, [String(row.timeout)]);
      assert.equal(Object.keys(sent).length, Object.keys(row.parameters).length + 1);
    });
  }
});

describe('DOCUMENT_PARAMETERS', () => {
  test('declares executionTimeout on both documents and AllowFormat on PrepareNode', () => {
    assert.ok((DOCUMENT_PARAMETERS.prepareNode as readonly string[]).includes('executionTimeout'));
    assert.ok((DOCUMENT_PARAMETERS.prepareNode as readonly string[]).includes('AllowFormat'));
    assert.ok((DOCUMENT_PARAMETERS.vaultControl as readonly string[]).includes('executionTimeout'));
  });
});

// Contract with serverless/ssm-documents.yml: what the code may send is exactly what each document declares.
interface TemplateResource {
  Type?: string;
  Properties?: { Content?: { parameters?: Record<string, unknown> } };
}
const template = parse(await readFile('serverless/ssm-documents.yml', 'utf8'), { logLevel: 'silent' }) as Record<string, TemplateResource>;

/** The one AWS::SSM::Document whose logical id names it (robust to a per-stage `Name`). */
function declaredParameters(logicalIdPart: string): string[] {
  const docs = Object.entries(template).filter(([id, r]) => r.Type === 'AWS::SSM::Document' && id.includes(logicalIdPart));
  assert.equal(docs.length, 1, `exactly one SSM document resource named *${logicalIdPart}*`);
  return Object.keys(docs[0]![1].Properties?.Content?.parameters ?? {}).sort();
}

describe('contract: DOCUMENT_PARAMETERS = the parameters each document declares in serverless/ssm-documents.yml', () => {
  for (const [key, logicalIdPart] of [
    ['prepareNode', 'PrepareNode'],
    ['vaultControl', 'VaultControl'],
  ] as const) {
    test(`${key} ↔ ${logicalIdPart}`, () => {
      assert.deepEqual([...DOCUMENT_PARAMETERS[key]].sort(), declaredParameters(logicalIdPart));
    });
  }
});
