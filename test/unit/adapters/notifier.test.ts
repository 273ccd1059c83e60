import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AuthorizationErrorException, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { notify, snsSubject } from '../../../functions/adapters/notifier.js';
import { AwsCallError } from '../../../functions/adapters/errors.js';

const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:vault-ha';

const snsMock = mockClient(SNSClient);
let sns: SNSClient;

beforeEach(() => {
  snsMock.reset();
  sns = new SNSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterEach(() => sns.destroy());

describe('notify', () => {
  test('without a topic it sends nothing and returns false', async () => {
    const sent = await notify(sns, undefined, { cluster: 'prod', subject: 'Vault prod: split-brain', body: {} });
    assert.equal(sent, false);
    expect(snsMock).not.toHaveReceivedAnyCommand();
  });

  test('publishes the subject, a JSON message and a cluster attribute', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: '9f2b6c1e-0000-4000-8000-000000000001' });
    const body = { from: 'healthy', to: 'split-brain', reasons: ['i-0a and i-0b both claim active'] };
    const sent = await notify(sns, TOPIC, { cluster: 'prod', subject: 'Vault prod: split-brain', body });
    assert.equal(sent, true);
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(snsMock).toHaveReceivedCommandWith(PublishCommand, { TopicArn: TOPIC, Subject: 'Vault prod: split-brain' });
    const input = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    assert.deepEqual(input?.MessageAttributes, { cluster: { DataType: 'String', StringValue: 'prod' } });
    const message = JSON.parse(input?.Message ?? '') as Record<string, unknown>;
    assert.equal(message['cluster'], 'prod');
    assert.equal(message['to'], 'split-brain');
    assert.deepEqual(message['reasons'], body.reasons);
  });

  test('a long subject is cut below 100 characters and kept whole in the message', async () => {
    snsMock.on(PublishCommand).resolves({});
    const subject = `Vault prod: zombie-leader ${'x'.repeat(150)}`;
    await notify(sns, TOPIC, { cluster: 'prod', subject, body: {} });
    expect(snsMock).toHaveReceivedCommandWith(PublishCommand, { TopicArn: TOPIC, Subject: expect.stringMatching(/^Vault prod: zombie-leader/) });
    const input = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    assert.ok((input?.Subject?.length ?? 0) < 100, `length ${input?.Subject?.length}`);
    assert.ok(input?.Subject?.startsWith('Vault prod: zombie-leader'));
    assert.equal((JSON.parse(input?.Message ?? '') as { subject: string }).subject, subject);
  });

  test('an SNS refusal becomes a named adapter error about the topic', async () => {
    snsMock.on(PublishCommand).rejects(new AuthorizationErrorException({ $metadata: { httpStatusCode: 403 }, message: 'not authorized' }));
    await assert.rejects(notify(sns, TOPIC, { cluster: 'prod', subject: 's', body: {} }), (e: unknown) => e instanceof AwsCallError && e.resource === TOPIC);
  });
});

describe('snsSubject', () => {
  const rows = [
    { behaviour: 'keeps a short ASCII subject as is', input: 'Vault prod: healthy', check: (s: string) => s === 'Vault prod: healthy' },
    { behaviour: 'replaces line breaks with spaces', input: 'Vault prod:\nsplit-brain\r\n', check: (s: string) => s === 'Vault prod: split-brain' },
    { behaviour: 'replaces non-ASCII characters', input: 'Vault prod → split-brain', check: (s: string) => /^[\x20-\x7e]+$/.test(s) && s.includes('split-brain') },
    { behaviour: 'never returns an empty subject', input: ' \n ', check: (s: string) => s.trim().length > 0 },
    { behaviour: 'ends a truncated subject with an ellipsis', input: 'a'.repeat(300), check: (s: string) => s.length < 100 && s.endsWith('...') },
  ];
  for (const row of rows) {
    test(row.behaviour, () => {
      const out = snsSubject(row.input);
      assert.ok(row.check(out), JSON.stringify(out));
      assert.ok(out.length < 100);
    });
  }
});
