/**
 * SNS notifications on verdict changes. Sends what it is given; decides nothing.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import { toAdapterError } from './errors.js';

/** SNS rejects a Subject of 100 characters or more, with line breaks or control characters. */
export const MAX_SUBJECT_CHARS = 99;
const ELLIPSIS = '...';
const FALLBACK_SUBJECT = 'Vault HA notification';

export interface Notification {
  cluster: string;
  subject: string;
  body: Record<string, unknown>;
}

/**
 * Publishes one message. Returns false (and calls nothing) when no topic is
 * configured; throws a named adapter error when SNS refuses.
 */
export async function notify(sns: SNSClient, topicArn: string | undefined, msg: Notification): Promise<boolean> {
  if (!topicArn) return false;
  try {
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: snsSubject(msg.subject),
        // The full subject travels in the message: the Subject line may be truncated.
        Message: JSON.stringify({ ...msg.body, cluster: msg.cluster, subject: msg.subject }),
        MessageAttributes: { cluster: { DataType: 'String', StringValue: msg.cluster } },
      }),
    );
    return true;
  } catch (err) {
    throw toAdapterError(err, topicArn);
  }
}

/**
 * A Subject SNS accepts: printable ASCII only (email subscribers see it as the
 * mail subject), whitespace runs collapsed to one space, at most 99 characters
 * with an ellipsis when cut.
 */
export function snsSubject(subject: string): string {
  const clean = subject
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  if (clean === '') return FALLBACK_SUBJECT;
  if (clean.length <= MAX_SUBJECT_CHARS) return clean;
  return clean.slice(0, MAX_SUBJECT_CHARS - ELLIPSIS.length).trimEnd() + ELLIPSIS;
}
