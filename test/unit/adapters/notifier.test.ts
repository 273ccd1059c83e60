import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { AuthorizationErrorException, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import {
  dashboardConsoleUrl,
  executionConsoleUrl,
  MACHINE_PROTOCOLS,
  MAX_MESSAGE_BYTES,
  notificationContextFromEnv,
  notify,
  REPLACE_ANCHOR,
  snsSubject,
  takeoverNotification,
  targetGroupConsoleUrl,
  VERDICT_RUNBOOK,
  verdictChangeNotification,
  VERDICTS_ANCHOR,
  type NotificationContext,
} from '../../../functions/adapters/notifier.js';
import { VERDICT_KINDS, type TakeoverEvidence } from '../../../functions/core/types.js';
import { AwsCallError } from '../../../functions/adapters/errors.js';

const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:vault-ha';
const TG = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';
const CTX: NotificationContext = { stage: 'prod', region: 'eu-west-1', dashboardName: 'vault-ha-prod' };
const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
const anchors = new Set(
  [...README.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
    m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-'),
  ),
);

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

  test('publishes the subject, text for people and JSON for programs (MessageStructure json), and a cluster attribute', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: '9f2b6c1e-0000-4000-8000-000000000001' });
    const body = { from: 'healthy', to: 'split-brain', reasons: ['i-0a and i-0b both claim active'] };
    const sent = await notify(sns, TOPIC, { cluster: 'prod', subject: 'Vault prod: split-brain', body, text: 'two nodes claim active' });
    assert.equal(sent, true);
    expect(snsMock).toHaveReceivedCommandTimes(PublishCommand, 1);
    expect(snsMock).toHaveReceivedCommandWith(PublishCommand, { TopicArn: TOPIC, Subject: 'Vault prod: split-brain', MessageStructure: 'json' });
    const input = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    assert.deepEqual(input?.MessageAttributes, { cluster: { DataType: 'String', StringValue: 'prod' } });
    const structure = JSON.parse(input?.Message ?? '') as Record<string, string>;
    // An email subscriber reads `email` (else `default`): the text, never the JSON.
    assert.equal(structure['default'], 'two nodes claim active');
    assert.equal(structure['email'], 'two nodes claim active');
    assert.equal(structure['sms'], 'Vault prod: split-brain');
    for (const protocol of MACHINE_PROTOCOLS) {
      const message = JSON.parse(structure[protocol] ?? '') as Record<string, unknown>;
      assert.equal(message['cluster'], 'prod', protocol);
      assert.equal(message['to'], 'split-brain');
      assert.deepEqual(message['reasons'], body.reasons);
    }
  });

  test('without a text, people get the subject and the body indented', async () => {
    snsMock.on(PublishCommand).resolves({});
    await notify(sns, TOPIC, { cluster: 'prod', subject: 'Vault prod: x', body: { a: 1 } });
    const structure = JSON.parse(snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '') as Record<string, string>;
    assert.equal(structure['default'], 'Vault prod: x\n\n{\n  "a": 1\n}\n');
  });

  test('a notification with a huge evidence list still fits SNS\'s 256 KiB message limit', async () => {
    snsMock.on(PublishCommand).resolves({});
    const reasons = Array.from({ length: 5000 }, (_, i) => `reason ${i} ${'x'.repeat(60)}`);
    const n = verdictChangeNotification({ cluster: 'prod', from: 'healthy', to: 'split-brain', reasons, outcome: 'frozen', atMs: 0 }, CTX);
    await notify(sns, TOPIC, n);
    const message = snsMock.commandCalls(PublishCommand)[0]?.args[0].input.Message ?? '';
    assert.ok(Buffer.byteLength(message) <= MAX_MESSAGE_BYTES, `${Buffer.byteLength(message)} bytes`);
    const structure = JSON.parse(message) as Record<string, string>;
    assert.match(structure['email']!, /cut/);
    assert.equal(typeof JSON.parse(structure['sqs']!), 'object');
  });

  test('a long subject is cut below 100 characters and kept whole in the message', async () => {
    snsMock.on(PublishCommand).resolves({});
    const subject = `Vault prod: zombie-leader ${'x'.repeat(150)}`;
    await notify(sns, TOPIC, { cluster: 'prod', subject, body: {} });
    expect(snsMock).toHaveReceivedCommandWith(PublishCommand, { TopicArn: TOPIC, Subject: expect.stringMatching(/^Vault prod: zombie-leader/) });
    const input = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    assert.ok((input?.Subject?.length ?? 0) < 100, `length ${input?.Subject?.length}`);
    assert.ok(input?.Subject?.startsWith('Vault prod: zombie-leader'));
    const structure = JSON.parse(input?.Message ?? '') as { sqs: string };
    assert.equal((JSON.parse(structure.sqs) as { subject: string }).subject, subject);
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

describe('messages for people', () => {
  test('the runbook of every verdict is README "Verdicts and what to do", word for word', () => {
    const section = README.slice(README.indexOf('### Verdicts and what to do'));
    for (const kind of VERDICT_KINDS) {
      const row = section.split('\n').find((l) => l.startsWith(`| \`${kind}\` |`));
      assert.ok(row, `README has no row for ${kind}`);
      const cells = row.slice(2, -2).split(' | ');
      assert.equal(VERDICT_RUNBOOK[kind].meaning, cells[1], `${kind}: meaning`);
      assert.equal(VERDICT_RUNBOOK[kind].action, cells[3], `${kind}: what to do`);
    }
  });

  test('the README anchors the messages link to exist', () => {
    assert.ok(anchors.has(VERDICTS_ANCHOR), VERDICTS_ANCHOR);
    assert.ok(anchors.has(REPLACE_ANCHOR), REPLACE_ANCHOR);
  });

  test('a verdict change says what happened, the evidence, the runbook step and where to look', () => {
    const n = verdictChangeNotification(
      {
        cluster: 'prod',
        from: 'healthy',
        to: 'split-brain',
        reasons: ['i-0a claims active (HTTP 200)', 'i-0b claims active (HTTP 200)'],
        outcome: 'frozen: no legitimate active can be named',
        loadBalancer: { targetGroupArn: TG },
        atMs: Date.parse('2026-11-30T13:33:03.974Z'),
      },
      { ...CTX, runbookUrl: 'https://git.example.com/ops/vault-ha/blob/main/README.md' },
    );
    assert.equal(n.subject, 'Vault prod: split-brain');
    const text = n.text!;
    assert.match(text, /verdict healthy -> split-brain at 2026-11-30T13:33:03.974Z/);
    assert.match(text, /WHAT HAPPENED\n.*now split-brain \(was healthy\): two or more nodes claim active/);
    assert.match(text, /This tick: frozen: no legitimate active can be named/);
    assert.match(text, /EVIDENCE\n  - i-0a claims active \(HTTP 200\)\n  - i-0b claims active \(HTTP 200\)/);
    assert.ok(text.includes(VERDICT_RUNBOOK['split-brain'].action));
    assert.ok(text.includes('https://git.example.com/ops/vault-ha/blob/main/README.md#verdicts-and-what-to-do'));
    assert.ok(text.includes(`https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#TargetGroup:targetGroupArn=${TG}`));
    assert.ok(text.includes('https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/vault-ha-prod'));
    assert.ok(text.includes('npx vault-ha status --stage prod --cluster prod'));
    // The JSON keeps the fields programs read, plus the same links.
    assert.deepEqual({ from: n.body['from'], to: n.body['to'], reasons: n.body['reasons'], outcome: n.body['outcome'] }, {
      from: 'healthy',
      to: 'split-brain',
      reasons: ['i-0a claims active (HTTP 200)', 'i-0b claims active (HTTP 200)'],
      outcome: 'frozen: no legitimate active can be named',
    });
    assert.equal((n.body['links'] as { targetGroup: string }).targetGroup, targetGroupConsoleUrl(TG));
  });

  test('a recovery reads "healthy again"; without a runbook URL the link is relative to the repository', () => {
    const n = verdictChangeNotification({ cluster: 'prod', from: 'no-leader', to: 'healthy', reasons: [], outcome: 'registered i-0b', atMs: 0 }, CTX);
    assert.equal(n.subject, 'Vault prod: healthy again');
    assert.match(n.text!, /WHAT TO DO[^\n]*\n  nothing\n  README\.md#verdicts-and-what-to-do/);
    assert.match(n.text!, /no reasons were given/);
    assert.doesNotMatch(n.text!, /Target group:/, 'no load balancer given: no link');
  });

  test('a dead-leader takeover names the deleted item, the proof and the next step', () => {
    const ev: TakeoverEvidence = {
      holder: 'i-0a',
      holderTie: "the lock's leader UUID is the one i-0a advertises",
      holderInstanceState: 'running',
      proof: 'api-refused',
      proofDetail: 'health and leader requests both refused: connect ECONNREFUSED 10.0.1.5:8200',
      identity: '240a0922-4f81-4963-a9ce-9ee0e6c576d9',
      value: 'leader-uuid',
      expiresAtNs: '1796045588928000000',
      msSinceLastRenewal: 10046,
      renewalDeadlineMs: 6000,
      lockRemainingMs: 4954,
      standbys: ['i-0b', 'i-0c'],
    };
    const n = takeoverNotification({ cluster: 'prod', table: 'vault-data', evidence: ev, summary: 'deleted …', loadBalancer: { targetGroupArn: TG }, atMs: 0 }, CTX);
    assert.equal(n.subject, 'Vault prod: dead-leader takeover, lock of i-0a deleted');
    const text = n.text!;
    assert.ok(text.includes('Identity 240a0922-4f81-4963-a9ce-9ee0e6c576d9, Expires 1796045588928000000) from vault-data'));
    assert.ok(text.includes('it is dead: health and leader requests both refused: connect ECONNREFUSED 10.0.1.5:8200'));
    assert.ok(text.includes('last renewal was 10046 ms ago (a live holder renews within 6000 ms)'));
    assert.ok(text.includes('waiting 4954 ms more'));
    assert.ok(text.includes('npx vault-ha replace --stage prod --cluster prod --slot'));
    assert.ok(text.includes('README.md#replace-a-node'));
    assert.deepEqual(n.body['deleted'], { identity: ev.identity, value: ev.value, expiresAtNs: ev.expiresAtNs });
    assert.equal((n.body['evidence'] as TakeoverEvidence).proof, 'api-refused');
  });
});

describe('console links and context', () => {
  test.each([
    { partition: 'aws', host: 'https://us-east-2.console.aws.amazon.com', region: 'us-east-2' },
    { partition: 'aws-cn', host: 'https://cn-north-1.console.amazonaws.cn', region: 'cn-north-1' },
    { partition: 'aws-us-gov', host: 'https://us-gov-west-1.console.amazonaws-us-gov.com', region: 'us-gov-west-1' },
  ])('region and console host come from the ARN ($partition)', ({ partition, host, region }) => {
    const tg = `arn:${partition}:elasticloadbalancing:${region}:111122223333:targetgroup/vault/0123456789abcdef`;
    assert.equal(targetGroupConsoleUrl(tg), `${host}/ec2/home?region=${region}#TargetGroup:targetGroupArn=${tg}`);
    const ex = `arn:${partition}:states:${region}:111122223333:execution:vault-ha-control-plane-prod-replace-node:x`;
    assert.equal(executionConsoleUrl(ex), `${host}/states/home?region=${region}#/v2/executions/details/${ex}`);
    assert.equal(dashboardConsoleUrl(region, 'vault-ha-prod', partition), `${host}/cloudwatch/home?region=${region}#dashboards/dashboard/vault-ha-prod`);
  });

  test('a value that is not an ARN gets no link', () => {
    assert.equal(targetGroupConsoleUrl('vault'), undefined);
    assert.equal(executionConsoleUrl(''), undefined);
  });

  test('the context comes from the functions\' environment (serverless.yml), with defaults outside AWS', () => {
    assert.deepEqual(notificationContextFromEnv({ VAULT_HA_STAGE: 'prod', AWS_REGION: 'eu-west-1', VAULT_HA_RUNBOOK_URL: 'https://x/README.md' }), {
      stage: 'prod',
      region: 'eu-west-1',
      dashboardName: 'vault-ha-prod',
      runbookUrl: 'https://x/README.md',
    });
    assert.deepEqual(notificationContextFromEnv({ VAULT_HA_DASHBOARD: 'ops', AWS_DEFAULT_REGION: 'us-east-1' }), { stage: 'local', region: 'us-east-1', dashboardName: 'ops' });
  });
});
