/**
 * A local CloudWatch endpoint for the sandbox's alarms: the unmodified SDK v3
 * `CloudWatchClient` (the drill's stop-condition adapter,
 * functions/adapters/alarms.ts) reaches it through the SDK's standard
 * `AWS_ENDPOINT_URL_CLOUDWATCH`.
 *
 * Wire protocol: what @aws-sdk/client-cloudwatch 3.11xx speaks — AWS JSON 1.0
 * with the awsQueryCompatible trait (`POST /`, `X-Amz-Target:
 * GraniteServiceVersion20100801.<Op>`, `application/x-amz-json-1.0`,
 * `x-amzn-query-mode: true`), timestamps as epoch seconds. Errors are
 * `{ "__type": "com.amazonaws.cloudwatch#<Shape>", "message" }` with the
 * query-era code in `x-amzn-query-error: <Code>;Sender`, from which the SDK
 * sets the error's `Code` (its `name` is the shape: `ResourceNotFound`,
 * `InvalidParameterValueException`, ...). The older awsQuery form requests
 * (`Action=DescribeAlarms`) are refused: no client of this project sends them.
 *
 * Implemented, with the CloudWatch API reference's rules:
 *  - DescribeAlarms: `AlarmNames` (at most 100) or `AlarmNamePrefix`, not both
 *    (InvalidParameterCombination); `AlarmTypes` — without it only metric
 *    alarms are returned, even when composite alarms exist; `StateValue`;
 *    `ActionPrefix`; `MaxRecords` 1–100; `NextToken` bound to the request. A
 *    name that matches no alarm is simply absent. Alarms come sorted by name.
 *  - SetAlarmState: `AlarmName`, `StateValue` (OK | ALARM | INSUFFICIENT_DATA),
 *    `StateReason` (at most 1023), `StateReasonData` (JSON, at most 4000:
 *    InvalidFormat otherwise); an unknown alarm is ResourceNotFound (HTTP 404).
 *    Unlike AWS, a sandbox metric alarm keeps the state it was set to (there
 *    is no metric to re-evaluate it from), which is what a drill test needs.
 *
 * Alarms are defined in-process (`putAlarm`); their state is set by a test or
 * the sandbox (`setAlarmState`) or over the wire (SetAlarmState).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { LocalEndpoint, readBody } from './local-server.js';
import { AwsApiError, decodePageToken, encodePageToken } from './query-protocol.js';

export const CLOUDWATCH_TARGET_PREFIX = 'GraniteServiceVersion20100801.';
const SHAPE_NAMESPACE = 'com.amazonaws.cloudwatch';

export const ALARM_STATES = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;
export type AlarmStateValue = (typeof ALARM_STATES)[number];

export interface MetricAlarmSpec {
  namespace: string;
  metricName: string;
  dimensions?: Array<{ name: string; value: string }>;
  statistic: 'SampleCount' | 'Average' | 'Sum' | 'Minimum' | 'Maximum';
  periodSeconds: number;
  evaluationPeriods: number;
  threshold: number;
  comparisonOperator: 'GreaterThanOrEqualToThreshold' | 'GreaterThanThreshold' | 'LessThanThreshold' | 'LessThanOrEqualToThreshold';
  treatMissingData?: 'breaching' | 'notBreaching' | 'ignore' | 'missing';
}

export interface AlarmSpec {
  name: string;
  description?: string;
  /** A metric alarm (default: a placeholder metric) or, with `alarmRule`, a composite alarm. */
  metric?: MetricAlarmSpec;
  alarmRule?: string;
  alarmActions?: string[];
  okActions?: string[];
  insufficientDataActions?: string[];
  /** Initial state; AWS starts every new alarm in INSUFFICIENT_DATA ("Unchecked: Initial alarm creation"). */
  state?: AlarmStateValue;
  reason?: string;
}

export interface SandboxAlarm {
  readonly name: string;
  readonly arn: string;
  readonly type: 'MetricAlarm' | 'CompositeAlarm';
  readonly spec: AlarmSpec;
  readonly configuredAtMs: number;
  state: AlarmStateValue;
  reason: string;
  reasonData?: string;
  stateUpdatedAtMs: number;
  stateTransitionedAtMs: number;
}

export interface AlarmStateChange {
  name: string;
  from: AlarmStateValue;
  to: AlarmStateValue;
  reason: string;
  atMs: number;
}

/** CloudWatch's query error code → the SDK's error shape and HTTP status (client-cloudwatch's error schemas). */
const ERRORS: Record<string, { shape: string; status: number; type: 'Sender' | 'Receiver' }> = {
  ResourceNotFound: { shape: 'ResourceNotFound', status: 404, type: 'Sender' },
  InvalidParameterValue: { shape: 'InvalidParameterValueException', status: 400, type: 'Sender' },
  InvalidParameterCombination: { shape: 'InvalidParameterCombinationException', status: 400, type: 'Sender' },
  MissingParameter: { shape: 'MissingRequiredParameterException', status: 400, type: 'Sender' },
  InvalidNextToken: { shape: 'InvalidNextToken', status: 400, type: 'Sender' },
  InvalidFormat: { shape: 'InvalidFormatFault', status: 400, type: 'Sender' },
  InternalServiceError: { shape: 'InternalServiceFault', status: 500, type: 'Receiver' },
};

const ALARM_NAME = /^[^\u0000-\u001f\u007f]{1,255}$/;
const MAX_NAMES = 100;
const DEFAULT_MAX_RECORDS = 50;

export interface CloudWatchEndpointOptions {
  region: string;
  accountId: string;
  now?: () => number;
  alarms?: AlarmSpec[];
}

export class CloudWatchEndpoint extends LocalEndpoint {
  protected override readonly serviceName = 'CloudWatch';
  private readonly region: string;
  private readonly accountId: string;
  private readonly now: () => number;
  private readonly alarmsByName = new Map<string, SandboxAlarm>();
  private readonly changes: AlarmStateChange[] = [];
  private readonly listeners = new Set<(c: AlarmStateChange) => void>();
  /** DescribeAlarms requests answered, for tests that count reads. */
  describeCalls = 0;

  constructor(opts: CloudWatchEndpointOptions) {
    super();
    this.region = opts.region;
    this.accountId = opts.accountId;
    this.now = opts.now ?? Date.now;
    for (const a of opts.alarms ?? []) this.putAlarm(a);
  }

  // ------------------------------------------------------------ in-process

  /** Defines (or redefines, keeping nothing) an alarm. */
  putAlarm(spec: AlarmSpec): SandboxAlarm {
    if (!ALARM_NAME.test(spec.name)) throw new AwsApiError('InvalidParameterValue', `Invalid alarm name: '${spec.name.slice(0, 300)}'`);
    const at = this.now();
    const alarm: SandboxAlarm = {
      name: spec.name,
      arn: `arn:aws:cloudwatch:${this.region}:${this.accountId}:alarm:${spec.name}`,
      type: spec.alarmRule !== undefined ? 'CompositeAlarm' : 'MetricAlarm',
      spec,
      configuredAtMs: at,
      state: spec.state ?? 'INSUFFICIENT_DATA',
      reason: spec.reason ?? 'Unchecked: Initial alarm creation',
      stateUpdatedAtMs: at,
      stateTransitionedAtMs: at,
    };
    this.alarmsByName.set(spec.name, alarm);
    return alarm;
  }

  alarm(name: string): Readonly<SandboxAlarm> | undefined {
    return this.alarmsByName.get(name);
  }

  get alarms(): ReadonlyArray<Readonly<SandboxAlarm>> {
    return [...this.alarmsByName.values()];
  }

  /** Every state change so far, oldest first. */
  get history(): readonly AlarmStateChange[] {
    return this.changes;
  }

  onStateChange(listener: (c: AlarmStateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** SetAlarmState, in-process: same rules as over the wire. */
  setAlarmState(name: string, state: AlarmStateValue, reason: string, reasonData?: string): void {
    const a = this.alarmsByName.get(name);
    if (!a) throw new AwsApiError('ResourceNotFound', `Alarm ${name} not found`, 404);
    if (!(ALARM_STATES as readonly string[]).includes(state)) throw invalidValue('StateValue', state, `Member must satisfy enum value set: [${ALARM_STATES.join(', ')}]`);
    if (reason.length > 1023) throw invalidValue('StateReason', `${reason.slice(0, 20)}…`, 'Member must have length less than or equal to 1023');
    if (reasonData !== undefined) {
      if (reasonData.length > 4000) throw invalidValue('StateReasonData', `${reasonData.slice(0, 20)}…`, 'Member must have length less than or equal to 4000');
      try {
        JSON.parse(reasonData);
      } catch {
        throw new AwsApiError('InvalidFormat', 'StateReasonData is not valid JSON');
      }
    }
    const at = this.now();
    const from = a.state;
    a.state = state;
    a.reason = reason;
    if (reasonData !== undefined) a.reasonData = reasonData;
    else delete a.reasonData;
    a.stateUpdatedAtMs = at;
    if (from !== state) {
      a.stateTransitionedAtMs = at;
      const change = { name, from, to: state, reason, atMs: at };
      this.changes.push(change);
      for (const l of this.listeners) l(change);
    }
  }

  // ----------------------------------------------------------------- HTTP

  protected override async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const body = await readBody(req, () => new AwsApiError('InvalidParameterValue', 'request too large', 413));
      const target = String(req.headers['x-amz-target'] ?? '');
      if (req.method !== 'POST' || !target.startsWith(CLOUDWATCH_TARGET_PREFIX)) {
        throw new AwsApiError('InvalidAction', `The sandbox CloudWatch endpoint answers AWS JSON 1.0 (X-Amz-Target ${CLOUDWATCH_TARGET_PREFIX}<Operation>) only`);
      }
      let input: Record<string, unknown>;
      try {
        const parsed: unknown = body === '' ? {} : JSON.parse(body);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        input = parsed as Record<string, unknown>;
      } catch {
        throw new AwsApiError('InvalidParameterValue', 'Request body is not a JSON object');
      }
      send(res, 200, requestId, this.dispatch(target.slice(CLOUDWATCH_TARGET_PREFIX.length), input));
    } catch (err) {
      const e = err instanceof AwsApiError ? err : new AwsApiError('InternalServiceError', err instanceof Error ? err.message : String(err), 500, 'Receiver');
      const known = ERRORS[e.code];
      const shape = known?.shape ?? e.code;
      send(res, known?.status ?? e.httpStatus, requestId, { __type: `${SHAPE_NAMESPACE}#${shape}`, message: e.message }, `${e.code};${known?.type ?? e.faultType}`);
    }
  }

  private dispatch(op: string, input: Record<string, unknown>): unknown {
    switch (op) {
      case 'DescribeAlarms':
        this.describeCalls += 1;
        return this.describeAlarms(input);
      case 'SetAlarmState': {
        const state = str(input, 'StateValue', true);
        this.setAlarmState(str(input, 'AlarmName', true), state as AlarmStateValue, str(input, 'StateReason', true), str(input, 'StateReasonData'));
        return {};
      }
      default:
        throw new AwsApiError('InvalidAction', `The sandbox CloudWatch endpoint does not implement ${op}`);
    }
  }

  private describeAlarms(input: Record<string, unknown>): unknown {
    // An empty list is no filter: the query protocol does not even serialize it.
    const given = strList(input, 'AlarmNames');
    const names = given !== undefined && given.length > 0 ? given : undefined;
    const prefix = str(input, 'AlarmNamePrefix');
    if (names !== undefined && prefix !== undefined) throw new AwsApiError('InvalidParameterCombination', 'AlarmNamePrefix and AlarmNames cannot be specified together');
    if (names !== undefined && names.length > MAX_NAMES) throw invalidValue('AlarmNames', `[${names.length} names]`, `Member must have length less than or equal to ${MAX_NAMES}`);
    for (const n of names ?? []) if (!ALARM_NAME.test(n)) throw invalidValue('AlarmNames', n, 'Member must have length between 1 and 255');
    for (const k of ['ChildrenOfAlarmName', 'ParentsOfAlarmName']) {
      if (input[k] !== undefined) throw new AwsApiError('InvalidParameterValue', `The sandbox CloudWatch endpoint does not implement ${k}`);
    }
    const types = strList(input, 'AlarmTypes') ?? ['MetricAlarm'];
    for (const t of types) if (t !== 'MetricAlarm' && t !== 'CompositeAlarm') throw invalidValue('AlarmTypes', t, 'Member must satisfy enum value set: [CompositeAlarm, MetricAlarm]');
    const state = str(input, 'StateValue');
    if (state !== undefined && !(ALARM_STATES as readonly string[]).includes(state)) throw invalidValue('StateValue', state, `Member must satisfy enum value set: [${ALARM_STATES.join(', ')}]`);
    const actionPrefix = str(input, 'ActionPrefix');
    const maxRecords = int(input, 'MaxRecords', 1, 100) ?? DEFAULT_MAX_RECORDS;

    const matching = [...this.alarmsByName.values()]
      .filter(
        (a) =>
          types.includes(a.type) &&
          (names === undefined || names.includes(a.name)) &&
          (prefix === undefined || a.name.startsWith(prefix)) &&
          (state === undefined || a.state === state) &&
          (actionPrefix === undefined || [...(a.spec.alarmActions ?? []), ...(a.spec.okActions ?? []), ...(a.spec.insufficientDataActions ?? [])].some((x) => x.startsWith(actionPrefix))),
      )
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const fingerprint = JSON.stringify([names, prefix, types, state, actionPrefix]);
    const token = str(input, 'NextToken');
    let offset = 0;
    if (token !== undefined) {
      try {
        offset = decodePageToken(token, fingerprint, 'NextToken');
      } catch {
        throw new AwsApiError('InvalidNextToken', 'The next token specified is invalid.');
      }
    }
    const page = matching.slice(offset, offset + maxRecords);
    const out: Record<string, unknown> = {
      MetricAlarms: page.filter((a) => a.type === 'MetricAlarm').map((a) => this.metricAlarm(a)),
      CompositeAlarms: page.filter((a) => a.type === 'CompositeAlarm').map((a) => this.compositeAlarm(a)),
    };
    if (offset + maxRecords < matching.length) out['NextToken'] = encodePageToken(offset + maxRecords, fingerprint);
    return out;
  }

  /** The MetricAlarm shape (CloudWatch API reference, Data Types: MetricAlarm). */
  private metricAlarm(a: SandboxAlarm): Record<string, unknown> {
    const m = a.spec.metric ?? PLACEHOLDER_METRIC;
    return {
      AlarmName: a.name,
      AlarmArn: a.arn,
      ...(a.spec.description !== undefined ? { AlarmDescription: a.spec.description } : {}),
      AlarmConfigurationUpdatedTimestamp: seconds(a.configuredAtMs),
      ActionsEnabled: true,
      OKActions: a.spec.okActions ?? [],
      AlarmActions: a.spec.alarmActions ?? [],
      InsufficientDataActions: a.spec.insufficientDataActions ?? [],
      StateValue: a.state,
      StateReason: a.reason,
      ...(a.reasonData !== undefined ? { StateReasonData: a.reasonData } : {}),
      StateUpdatedTimestamp: seconds(a.stateUpdatedAtMs),
      MetricName: m.metricName,
      Namespace: m.namespace,
      Statistic: m.statistic,
      Dimensions: (m.dimensions ?? []).map((d) => ({ Name: d.name, Value: d.value })),
      Period: m.periodSeconds,
      EvaluationPeriods: m.evaluationPeriods,
      Threshold: m.threshold,
      ComparisonOperator: m.comparisonOperator,
      TreatMissingData: m.treatMissingData ?? 'missing',
      StateTransitionedTimestamp: seconds(a.stateTransitionedAtMs),
    };
  }

  /** The CompositeAlarm shape (CloudWatch API reference, Data Types: CompositeAlarm). */
  private compositeAlarm(a: SandboxAlarm): Record<string, unknown> {
    return {
      ActionsEnabled: true,
      AlarmActions: a.spec.alarmActions ?? [],
      AlarmArn: a.arn,
      AlarmConfigurationUpdatedTimestamp: seconds(a.configuredAtMs),
      ...(a.spec.description !== undefined ? { AlarmDescription: a.spec.description } : {}),
      AlarmName: a.name,
      AlarmRule: a.spec.alarmRule ?? '',
      InsufficientDataActions: a.spec.insufficientDataActions ?? [],
      OKActions: a.spec.okActions ?? [],
      StateReason: a.reason,
      ...(a.reasonData !== undefined ? { StateReasonData: a.reasonData } : {}),
      StateUpdatedTimestamp: seconds(a.stateUpdatedAtMs),
      StateValue: a.state,
      StateTransitionedTimestamp: seconds(a.stateTransitionedAtMs),
    };
  }
}

const PLACEHOLDER_METRIC: MetricAlarmSpec = {
  namespace: 'AWS/ApplicationELB',
  metricName: 'HTTPCode_ELB_5XX_Count',
  statistic: 'Sum',
  periodSeconds: 60,
  evaluationPeriods: 1,
  threshold: 1,
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  treatMissingData: 'notBreaching',
};

/* ------------------------------------------------------------------ helpers */

function invalidValue(field: string, value: string, constraint: string): AwsApiError {
  return new AwsApiError('InvalidParameterValue', `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`);
}

function seconds(ms: number): number {
  return ms / 1000;
}

function str(input: Record<string, unknown>, key: string, required: true): string;
function str(input: Record<string, unknown>, key: string, required?: false): string | undefined;
function str(input: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = input[key];
  if (v === undefined || v === null) {
    if (required) throw new AwsApiError('MissingParameter', `The parameter ${key} is required.`);
    return undefined;
  }
  if (typeof v !== 'string') throw invalidValue(key, String(v), 'Member must be a string');
  return v;
}

function strList(input: Record<string, unknown>, key: string): string[] | undefined {
  const v = input[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidValue(key, String(v), 'Member must be a list of strings');
  return v as string[];
}

function int(input: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = input[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalidValue(key, String(v), `Member must have value between ${min} and ${max}`);
  return v;
}

function send(res: http.ServerResponse, status: number, requestId: string, body: unknown, queryError?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.0',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
    ...(queryError !== undefined ? { 'x-amzn-query-error': queryError } : {}),
  });
  res.end(text);
}
