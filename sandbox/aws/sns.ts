/**
 * Local SNS endpoint (API version 2010-03-31, `awsQuery`): Publish, ListTopics and
 * CreateTopic, with every published message kept in memory for the sandbox view
 * and tests. Validation follows SNS: the topic must exist (`NotFound`, HTTP 404),
 * the message must not be empty, the subject is at most 100 printable ASCII
 * characters without line breaks, and message attributes need a valid data type.
 */
import { randomUUID } from 'node:crypto';
import {
  AwsApiError,
  QueryParams,
  decodePageToken,
  encodePageToken,
  queryErrorXml,
  queryResponseXml,
  QueryEndpoint,
  type QueryRequest,
} from './query-protocol.js';
import type { World } from './world.js';

export const SNS_API_VERSION = '2010-03-31';
export const SNS_XMLNS = `http://sns.amazonaws.com/doc/${SNS_API_VERSION}/`;

export interface SnsMessageAttribute {
  dataType: string;
  stringValue?: string;
  binaryValue?: string;
}

export interface PublishedMessage {
  messageId: string;
  topicArn: string;
  subject?: string;
  message: string;
  messageStructure?: string;
  messageAttributes: Record<string, SnsMessageAttribute>;
  atMs: number;
}

const MAX_MESSAGE_BYTES = 262_144;

export class SnsEndpoint extends QueryEndpoint<'sns'> {
  private readonly topics = new Set<string>();
  private readonly published: PublishedMessage[] = [];
  private readonly subscribers = new Set<(m: PublishedMessage) => void>();

  constructor(private readonly world: World) {
    super({ label: 'SNS', service: 'sns', faultService: 'sns', apiVersion: SNS_API_VERSION, faults: world });
  }

  protected renderError(err: AwsApiError, requestId: string): string {
    return queryErrorXml(err, SNS_XMLNS, requestId);
  }

  /** Creates (idempotently) a topic and returns its ARN. */
  addTopic(name: string): string {
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(name)) {
      throw new AwsApiError('InvalidParameter', 'Invalid parameter: Topic Name');
    }
    const arn = `arn:aws:sns:${this.world.region}:${this.world.accountId}:${name}`;
    this.topics.add(arn);
    return arn;
  }

  topicArns(): string[] {
    return [...this.topics];
  }

  messages(topicArn?: string): PublishedMessage[] {
    return this.published.filter((m) => topicArn === undefined || m.topicArn === topicArn).map((m) => structuredClone(m));
  }

  onPublish(listener: (m: PublishedMessage) => void): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  protected handleAction(req: QueryRequest): string {
    const p = req.params;
    switch (req.action) {
      case 'Publish':
        return queryResponseXml('Publish', SNS_XMLNS, req.requestId, { MessageId: this.publish(p) });
      case 'ListTopics': {
        const all = this.topicArns();
        const token = p.str('NextToken');
        const offset = token !== undefined ? decodePageToken(token, 'topics', 'NextToken') : 0;
        const page = all.slice(offset, offset + 100);
        return queryResponseXml('ListTopics', SNS_XMLNS, req.requestId, {
          Topics: page.map((TopicArn) => ({ TopicArn })),
          NextToken: offset + 100 < all.length ? encodePageToken(offset + 100, 'topics') : undefined,
        });
      }
      case 'CreateTopic':
        return queryResponseXml('CreateTopic', SNS_XMLNS, req.requestId, {
          TopicArn: this.addTopic(p.requireStr('Name', 'InvalidParameter', 'Invalid parameter: Topic Name')),
        });
      default:
        throw new AwsApiError('InvalidAction', `Could not find operation ${req.action} for version ${SNS_API_VERSION}`);
    }
  }

  private publish(p: QueryParams): string {
    const topicArn = p.str('TopicArn');
    const targetArn = p.str('TargetArn');
    const phone = p.str('PhoneNumber');
    if ([topicArn, targetArn, phone].filter((v) => v !== undefined).length !== 1) {
      throw new AwsApiError('InvalidParameter', 'Invalid parameter: TopicArn or TargetArn Reason: Exactly one of TopicArn, TargetArn or PhoneNumber must be specified');
    }
    if (phone !== undefined) throw new AwsApiError('InvalidParameter', 'Invalid parameter: PhoneNumber Reason: SMS is not available in the sandbox');
    const arn = (topicArn ?? targetArn)!;
    if (!/^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(arn)) {
      throw new AwsApiError('InvalidParameter', `Invalid parameter: ${topicArn !== undefined ? 'TopicArn' : 'TargetArn'}`);
    }
    if (!this.topics.has(arn)) throw new AwsApiError('NotFound', 'Topic does not exist', 404);
    const message = p.str('Message');
    if (message === undefined || message.length === 0) throw new AwsApiError('InvalidParameter', 'Invalid parameter: Empty message');
    if (Buffer.byteLength(message, 'utf8') > MAX_MESSAGE_BYTES) {
      throw new AwsApiError('InvalidParameter', 'Invalid parameter: Message too long');
    }
    const subject = p.str('Subject');
    if (subject !== undefined && (subject.length === 0 || subject.length > 100 || !/^[\x20-\x7e]+$/.test(subject))) {
      throw new AwsApiError('InvalidParameter', 'Invalid parameter: Subject');
    }
    const structure = p.str('MessageStructure');
    if (structure !== undefined) {
      if (structure !== 'json') throw new AwsApiError('InvalidParameter', 'Invalid parameter: MessageStructure');
      let parsed: unknown;
      try {
        parsed = JSON.parse(message);
      } catch {
        throw new AwsApiError('InvalidParameter', 'Invalid parameter: Message Structure - JSON message body failed to parse');
      }
      if (typeof parsed !== 'object' || parsed === null || typeof (parsed as Record<string, unknown>)['default'] !== 'string') {
        throw new AwsApiError('InvalidParameter', 'Invalid parameter: Message Structure - No default entry in JSON message body');
      }
    }
    const attributes: Record<string, SnsMessageAttribute> = {};
    for (const node of p.list('MessageAttributes', 'entry')) {
      const e = QueryParams.sub(node);
      const name = e.requireStr('Name', 'InvalidParameter', 'Invalid parameter: MessageAttributes');
      const dataType = e.str('Value.DataType');
      const stringValue = e.str('Value.StringValue');
      const binaryValue = e.str('Value.BinaryValue');
      if (dataType === undefined || !/^(String|Number|Binary|String\.Array)(\..+)?$/.test(dataType)) {
        throw new AwsApiError(
          'ParameterValueInvalid',
          `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`,
        );
      }
      const isBinary = dataType.startsWith('Binary');
      if ((isBinary && binaryValue === undefined) || (!isBinary && (stringValue === undefined || stringValue === ''))) {
        throw new AwsApiError('ParameterValueInvalid', `The message attribute '${name}' must contain non-empty message attribute value for message attribute type '${dataType.split('.')[0]}'.`);
      }
      if (dataType.startsWith('Number') && !/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(stringValue!)) {
        throw new AwsApiError('ParameterValueInvalid', `Could not cast message attribute '${name}' value to number.`);
      }
      attributes[name] = { dataType, ...(stringValue !== undefined ? { stringValue } : {}), ...(binaryValue !== undefined ? { binaryValue } : {}) };
    }
    const record: PublishedMessage = {
      messageId: randomUUID(),
      topicArn: arn,
      ...(subject !== undefined ? { subject } : {}),
      message,
      ...(structure !== undefined ? { messageStructure: structure } : {}),
      messageAttributes: attributes,
      atMs: this.world.clock.nowMs(),
    };
    this.published.push(record);
    for (const s of this.subscribers) {
      try {
        s(structuredClone(record));
      } catch {
        /* a broken view must not fail the publish */
      }
    }
    return record.messageId;
  }
}
