/**
 * Contract tests of the local SNS endpoint through the unmodified `@aws-sdk/client-sns`.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from '@jest/globals';
import { ListTopicsCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { LocalAws } from '../../../sandbox/aws/index.js';

const credentials = { accessKeyId: 'x', secretAccessKey: 'x' };

describe('local SNS endpoint', () => {
  let aws: LocalAws;
  let sns: SNSClient;
  let topicArn: string;

  beforeEach(async () => {
    aws = new LocalAws();
    topicArn = aws.sns.addTopic('vault-ha-events');
    const endpoints = await aws.start();
    sns = new SNSClient({ region: 'eu-west-1', endpoint: endpoints.sns, credentials, maxAttempts: 1 });
  });

  afterEach(async () => {
    sns.destroy();
    await aws.stop();
  });

  test('Publish returns a message id and records subject, message and attributes', async () => {
    const out = await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: 'vault prod: split-brain',
        Message: JSON.stringify({ cluster: 'prod', verdict: 'split-brain' }),
        MessageAttributes: { cluster: { DataType: 'String', StringValue: 'prod' }, ticks: { DataType: 'Number', StringValue: '3' } },
      }),
    );
    assert.match(out.MessageId ?? '', /^[0-9a-f-]{36}$/);
    const [m] = aws.sns.messages(topicArn);
    assert.equal(m?.messageId, out.MessageId);
    assert.equal(m?.subject, 'vault prod: split-brain');
    assert.deepEqual(JSON.parse(m?.message ?? '{}'), { cluster: 'prod', verdict: 'split-brain' });
    assert.deepEqual(m?.messageAttributes, { cluster: { dataType: 'String', stringValue: 'prod' }, ticks: { dataType: 'Number', stringValue: '3' } });
  });

  test('Publish to a topic that does not exist is NotFound with HTTP 404', async () => {
    await assert.rejects(
      sns.send(new PublishCommand({ TopicArn: 'arn:aws:sns:eu-west-1:111122223333:nope', Message: 'x' })),
      (e: Record<string, unknown>) => {
        assert.equal(e['name'], 'NotFoundException');
        assert.equal(e['Code'], 'NotFound');
        assert.equal((e['$metadata'] as { httpStatusCode: number }).httpStatusCode, 404);
        return true;
      },
    );
    assert.deepEqual(aws.sns.messages(), []);
  });

  const invalid: Array<{ name: string; input: { Message: string; Subject?: string } }> = [
    { name: 'an empty message', input: { Message: '' } },
    { name: 'a subject with a line break', input: { Message: 'x', Subject: 'a\nb' } },
    { name: 'a subject over 100 characters', input: { Message: 'x', Subject: 's'.repeat(101) } },
  ];
  for (const c of invalid) {
    test(`Publish with ${c.name} is InvalidParameter`, async () => {
      await assert.rejects(sns.send(new PublishCommand({ TopicArn: topicArn, ...c.input })), { name: 'InvalidParameterException' });
      assert.deepEqual(aws.sns.messages(), []);
    });
  }

  test('a message attribute with an unknown data type is ParameterValueInvalid', async () => {
    await assert.rejects(
      sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'x', MessageAttributes: { a: { DataType: 'Blob', StringValue: 'v' } } })),
      (e: Record<string, unknown>) => e['Code'] === 'ParameterValueInvalid',
    );
  });

  test('ListTopics lists the configured topics', async () => {
    const other = aws.sns.addTopic('other');
    const out = await sns.send(new ListTopicsCommand({}));
    assert.deepEqual(out.Topics?.map((t) => t.TopicArn).sort(), [topicArn, other].sort());
    assert.equal(out.NextToken, undefined);
  });
});
