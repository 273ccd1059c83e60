/**
 * A generic local runner for the project's Amazon States Language definitions.
 *
 * It wraps aws-local-stepfunctions (the interpreter) and supplies what the
 * interpreter leaves to the caller:
 * - every Task's `Resource` is resolved to local code: a serverless function
 *   (`{ "Fn::GetAtt": [fn, "Arn"] }`, a Lambda ARN, or `arn:aws:states:::lambda:invoke`
 *   with `FunctionName`) runs the named local handler with a fake Lambda context;
 *   `arn:aws:states:::aws-sdk:<service>:<action>` and the optimized integrations
 *   (`arn:aws:states:::sns:publish`, ...) send the real AWS SDK v3 command through
 *   the given client, so aws-sdk-client-mock in tests and local endpoints in the
 *   sandbox both see the call;
 * - service errors get the `Error` and `Cause` Step Functions gives them, no
 *   more lenient: `ElasticLoadBalancingV2.InvalidTargetException` for an error
 *   the API model declares, `<Service>.<Service>Exception` for one it does not,
 *   hence `Ec2.Ec2Exception` for every EC2 failure with only EC2's message (not
 *   its code) in `Cause`; `SNS.<Code>Exception` from the optimized SNS
 *   integration (details at SERVICE_ERROR_PREFIX), so Retry/Catch match as on AWS;
 * - the context object carries `Execution.Name`/`Id`, `StateMachine.Name`/`Id` and
 *   `State.EnteredTime`, so `$$.Execution.Name` and phase marks work;
 * - every run is bounded (transition count and wall time) and reports its
 *   transitions (the unit Step Functions Standard bills) and a per-state history.
 *
 * Used by the state-machine tests, the sandbox and (later) the failover drill.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';

/* ------------------------------------------------------------------ types */

/** Definitions already validated by the interpreter (by identity). */
const VALIDATED = new WeakSet<object>();

/** The subset of the Lambda context our handlers use. */
export interface LocalLambdaContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
  done(): void;
  fail(): void;
  succeed(): void;
}

// The handlers are typed against aws-lambda's Context; accept any callable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LocalLambdaHandler = (event: any, context: any) => Promise<unknown>;

/** Anything with an SDK v3 `send` (a real client, or one mocked by aws-sdk-client-mock). */
export interface SdkClientLike {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  send(command: any): Promise<any>;
}

export type SdkServiceName = 'ec2' | 'elasticloadbalancing' | 'elasticloadbalancingv2' | 'ssm' | 'sns' | 'dynamodb' | 'sfn';

export interface RunStateMachineOptions {
  /** Keyed by serverless function name (`functions.<name>` in serverless.yml). */
  lambdaHandlers: Record<string, LocalLambdaHandler>;
  /** Clients for SDK integrations; a missing one is created from the SDK's default config (env). */
  sdkClients?: Partial<Record<SdkServiceName, SdkClientLike>>;
  /** Milliseconds each Wait state pauses instead of its Seconds (per state, or a function of the state name). */
  waitTimeOverrides?: Record<string, number> | ((stateName: string) => number);
  /** Milliseconds a Retry waits instead of IntervalSeconds/backoff/jitter (per state, or a function of the state name). */
  retryIntervalOverrides?: Record<string, number> | ((stateName: string) => number);
  executionName?: string;
  stateMachineName?: string;
  /** What the fake Lambda context reports as remaining time for each invocation. */
  lambdaTimeoutMs?: number;
  /** Abort (status FAILED, error `Runner.TransitionLimitExceeded`) beyond this many transitions. Default 5000. */
  maxTransitions?: number;
  /** Abort (status FAILED, error `States.Timeout`) after this many ms of wall time. Default 10 min. */
  timeoutMs?: number;
  /**
   * Stops the run as StopExecution does (`aborted`). The state running
   * when the signal fires is not completed (a Task's local handler may still
   * finish its current call, as a Lambda invocation in flight does on AWS).
   */
  signal?: AbortSignal;
  /** Called with the per-state history so far whenever it changes (a state entered, retried, exited or failed): live progress. */
  onHistory?: (history: readonly StateHistoryEntry[]) => void;
  /**
   * Runs the nested execution of an `arn:aws:states:::states:startExecution.sync[:2]` Task
   * (the caller maps the state machine ARN to a local definition and its handlers).
   */
  startExecution?: (req: NestedExecutionRequest) => Promise<RunStateMachineResult>;
}

export interface NestedExecutionRequest {
  stateMachineArn: string;
  name: string;
  input: unknown;
}

export interface StateHistoryEntry {
  state: string;
  type: string;
  enteredAtMs: number;
  exitedAtMs?: number;
  /** Retries of this visit (each one is a billed transition on AWS). */
  retries: number;
  /** Error name when the visit failed (caught or not). */
  error?: string;
}

export interface RunStateMachineResult {
  status: 'SUCCEEDED' | 'FAILED';
  /** `signal` stopped the run (Step Functions calls that status ABORTED; error `States.Aborted` here). */
  aborted?: true;
  output?: unknown;
  error?: string;
  cause?: string;
  /** States entered plus retries: what Step Functions Standard bills as state transitions. */
  transitions: number;
  history: StateHistoryEntry[];
  executionName: string;
  executionArn: string;
  durationMs: number;
}

/* ------------------------------------------------------------ definition */

export type AslDefinition = StateMachineDefinition;

/** Parses an ASL definition from a YAML (or JSON) file. */
export async function loadDefinition(path: string): Promise<AslDefinition> {
  const text = await readFile(path, 'utf8');
  const doc: unknown = parseYaml(text);
  if (doc === null || typeof doc !== 'object' || !('States' in doc) || !('StartAt' in doc)) {
    throw new DefinitionError(path, 'not an ASL definition (StartAt and States are required)');
  }
  return doc as AslDefinition;
}

export class DefinitionError extends Error {
  override readonly name = 'DefinitionError';
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`${source}: ${detail}`);
  }
}

const FAKE_REGION = 'us-east-1';
const FAKE_ACCOUNT = '123456789012';

/** The ARN a local run uses for a serverless function name. */
export function localFunctionArn(functionName: string): string {
  return `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:${functionName}`;
}

/**
 * Replaces the CloudFormation intrinsics serverless-step-functions resolves at
 * deploy time (`Fn::GetAtt` on a function, `Ref`, `Fn::Sub`) with plain strings,
 * so the definition is pure ASL for the interpreter and for asl-validator.
 */
export function resolveIntrinsics<T>(value: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 1) {
      const getAtt = obj['Fn::GetAtt'];
      if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return localFunctionArn(functionNameOfLogicalId(getAtt[0]));
      if (typeof getAtt === 'string') return localFunctionArn(functionNameOfLogicalId(getAtt.split('.')[0] ?? getAtt));
      const ref = obj.Ref;
      if (typeof ref === 'string') return ref;
      const sub = obj['Fn::Sub'];
      if (typeof sub === 'string') return sub.replace(/\$\{AWS::Region\}/g, FAKE_REGION).replace(/\$\{AWS::AccountId\}/g, FAKE_ACCOUNT);
    }
    return Object.fromEntries(Object.entries(obj).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value) as T;
}

/** serverless names a function's logical id `<Name>LambdaFunction`; GetAtt may use either form. */
function functionNameOfLogicalId(id: string): string {
  const m = /^(.+)LambdaFunction$/.exec(id);
  if (!m || m[1] === undefined) return id;
  return m[1].charAt(0).toLowerCase() + m[1].slice(1);
}

interface StateVisit {
  name: string;
  state: Record<string, unknown>;
}

/** Every state, including those inside Parallel branches and Map processors. */
export function allStates(def: { States: Record<string, unknown> }): StateVisit[] {
  const out: StateVisit[] = [];
  const visit = (states: Record<string, unknown>): void => {
    for (const [name, s] of Object.entries(states)) {
      const state = s as Record<string, unknown>;
      out.push({ name, state });
      for (const b of (state.Branches as Array<{ States: Record<string, unknown> }> | undefined) ?? []) visit(b.States);
      const proc = (state.ItemProcessor ?? state.Iterator) as { States: Record<string, unknown> } | undefined;
      if (proc) visit(proc.States);
    }
  };
  visit(def.States);
  return out;
}

/* ---------------------------------------------------------- SDK mapping */

/**
 * How Step Functions names the errors of its service integrations, which is
 * what `Retry`/`Catch` match (as a test against the sandbox must, too):
 *
 * - AWS SDK integrations (`arn:aws:states:::aws-sdk:<service>:<action>`):
 *   `<ServiceName>.<ExceptionName>`, both PascalCase, with an `Exception`
 *   suffix (AWS docs, "Learning to use AWS service SDK integrations in Step
 *   Functions": e.g. `AcmPca.ResourceNotFoundException`,
 *   `S3.BucketAlreadyExistsException`). Step Functions calls the AWS SDK for
 *   Java v2, so the exception name is the Java class of the error shape, and an
 *   error the service's API model does not declare surfaces as the service's
 *   generic exception `<ServiceName>.<ServiceName>Exception`. EC2's model
 *   declares no errors at all, so EVERY EC2 failure is `Ec2.Ec2Exception`
 *   (aws/aws-sdk-kotlin#278 explains the model; LocalStack's Step Functions
 *   emulator and measured TestState runs name it so). `Cause` is the Java
 *   exception's message: the service's error MESSAGE followed by
 *   `(Service: Ec2, Status Code: 400, Request ID: ...)` — the error CODE
 *   (`VolumeInUse`, `UnauthorizedOperation`) is NOT in it (AwsServiceException
 *   .getMessage() in aws/aws-sdk-java-v2), so an ASL cannot route EC2 errors by
 *   code at all.
 * - The optimized SNS integration (`arn:aws:states:::sns:publish`) is older and
 *   names errors `SNS.<Code>Exception`, with a Java SDK v1 style Cause
 *   `<message> (Service: AmazonSNS; Status Code: 400; Error Code: <Code>; Request ID: ...; Proxy: null)`.
 */
const SERVICE_ERROR_PREFIX: Record<SdkServiceName, string> = {
  ec2: 'Ec2',
  // Classic Load Balancers ("Elastic Load Balancing V1" in the docs' list of SDK integrations).
  elasticloadbalancing: 'ElasticLoadBalancing',
  elasticloadbalancingv2: 'ElasticLoadBalancingV2',
  ssm: 'Ssm',
  sns: 'Sns',
  dynamodb: 'DynamoDb',
  sfn: 'Sfn',
};

/** The SDK v3 module's base exception: an error of exactly this class is one the API model does not declare. */
const SDK_BASE_EXCEPTION: Record<SdkServiceName, string> = {
  ec2: 'EC2ServiceException',
  elasticloadbalancing: 'ElasticLoadBalancingServiceException',
  elasticloadbalancingv2: 'ElasticLoadBalancingV2ServiceException',
  ssm: 'SSMServiceException',
  sns: 'SNSServiceException',
  dynamodb: 'DynamoDBServiceException',
  sfn: 'SFNServiceException',
};

export type IntegrationKind = 'aws-sdk' | 'optimized';

/**
 * Optimized integrations the runner reproduces, with their error prefix and
 * the service name in their Cause. Others are refused rather than guessed.
 */
const OPTIMIZED_INTEGRATIONS: Partial<Record<SdkServiceName, { errorPrefix: string; causeService: string }>> = {
  sns: { errorPrefix: 'SNS', causeService: 'AmazonSNS' },
  // `states:startExecution(.sync)`: a refused StartExecution is `StepFunctions.<Code>Exception`
  // (e.g. StepFunctions.ExecutionLimitExceededException); a child that FAILS is States.TaskFailed
  // with the child's DescribeExecution as Cause (see runNested).
  sfn: { errorPrefix: 'StepFunctions', causeService: 'AWSStepFunctions' },
};

/** `arn:aws:states:::states:startExecution.sync` / `.sync:2`: a nested execution the Task waits for. */
const NESTED_EXECUTION = /^arn:aws[a-z-]*:states:::states:startExecution\.sync(:2)?$/;

/**
 * The AWS SDK for Java v2's class name for an error shape: words in
 * PascalCase (acronyms cased as words: `KMSDisabled` → `KmsDisabled`), a
 * `Fault` suffix becomes `Exception`, and `Exception` is appended when missing.
 */
export function javaExceptionName(shape: string): string {
  let base = shape;
  if (base.endsWith('Fault')) base = base.slice(0, -'Fault'.length);
  else if (base.endsWith('Exception')) base = base.slice(0, -'Exception'.length);
  const words = base.replace(/[A-Z]{2,}(?=[A-Z][a-z]|[0-9]|$)/g, (run) => run.charAt(0) + run.slice(1).toLowerCase());
  return `${words}Exception`;
}

function optimizedIntegration(service: SdkServiceName): { errorPrefix: string; causeService: string } {
  const o = OPTIMIZED_INTEGRATIONS[service];
  if (!o) throw new UnsupportedResourceError('(optimized)', `arn:aws:states:::${service}:* (an optimized integration the runner does not reproduce)`);
  return o;
}

/** The error shapes a service's API model declares (the SDK v3 module exports one class per shape). */
export async function modelledErrorShapes(service: SdkServiceName): Promise<ReadonlySet<string>> {
  const mod = await SDK_MODULE_LOADERS[service]();
  const base = SDK_BASE_EXCEPTION[service];
  return new Set(
    Object.entries(mod)
      .filter(([name, v]) => name !== base && typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Error)
      .map(([name]) => name),
  );
}

/**
 * The `Error` Step Functions reports for a service error with AWS error code
 * `code` (SDK v3 puts the wire code or the shape name in `name`; both resolve
 * to the same shape). Pure: the caller supplies the model's shapes.
 */
export function stepFunctionsErrorName(service: SdkServiceName, kind: IntegrationKind, code: string, modelled: ReadonlySet<string>): string {
  if (kind === 'optimized') return `${optimizedIntegration(service).errorPrefix}.${code.endsWith('Exception') ? code : `${code}Exception`}`;
  const prefix = SERVICE_ERROR_PREFIX[service];
  const shape = [code, `${code}Exception`].find((s) => modelled.has(s));
  return `${prefix}.${shape ? javaExceptionName(shape) : `${prefix}Exception`}`;
}

/** Every `Error` a service integration can report by name (optimized integrations: the model's shapes; the code itself may be any). */
export async function integrationErrorNames(service: SdkServiceName, kind: IntegrationKind): Promise<ReadonlySet<string>> {
  const shapes = await modelledErrorShapes(service);
  const names = [...shapes].map((s) => stepFunctionsErrorName(service, kind, s, shapes));
  if (kind === 'aws-sdk') names.push(`${SERVICE_ERROR_PREFIX[service]}.${SERVICE_ERROR_PREFIX[service]}Exception`);
  return new Set(names);
}

interface ServiceErrorShape {
  name?: string;
  Code?: string;
  message?: string;
  $fault?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string };
}

/** `Cause` as Step Functions writes it for a service error (see the comment on SERVICE_ERROR_PREFIX). */
export function stepFunctionsErrorCause(service: SdkServiceName, kind: IntegrationKind, err: ServiceErrorShape, code: string): string {
  const status = err.$metadata?.httpStatusCode ?? (err.$fault === 'server' ? 500 : 400);
  const requestId = err.$metadata?.requestId ?? 'local-request';
  const message = err.message ?? '';
  if (kind === 'optimized') {
    return `${message} (Service: ${optimizedIntegration(service).causeService}; Status Code: ${status}; Error Code: ${code}; Request ID: ${requestId}; Proxy: null)`;
  }
  const details = [`Service: ${SERVICE_ERROR_PREFIX[service]}`, `Status Code: ${status}`, `Request ID: ${requestId}`];
  if (err.$metadata?.extendedRequestId) details.push(`Extended Request ID: ${err.$metadata.extendedRequestId}`);
  return `${message} (${details.join(', ')})`;
}

export class SdkIntegrationError extends Error {
  override readonly name: string;
  constructor(
    stepFunctionsName: string,
    readonly service: string,
    readonly action: string,
    /** Becomes the Catch output's `Cause`: exactly what Step Functions would put there. */
    cause: string,
    options?: { cause?: unknown },
  ) {
    super(cause, options);
    this.name = stepFunctionsName;
  }
}

/** A Task whose Resource the runner cannot map to local code. */
export class UnsupportedResourceError extends Error {
  override readonly name = 'States.Runtime';
  constructor(
    readonly stateName: string,
    readonly resource: string,
  ) {
    super(`state ${stateName}: no local implementation for resource ${resource}`);
  }
}

type SdkModule = Record<string, unknown>;
const SDK_MODULE_LOADERS: Record<SdkServiceName, () => Promise<SdkModule>> = {
  ec2: () => import('@aws-sdk/client-ec2') as Promise<SdkModule>,
  elasticloadbalancing: () => import('@aws-sdk/client-elastic-load-balancing') as Promise<SdkModule>,
  elasticloadbalancingv2: () => import('@aws-sdk/client-elastic-load-balancing-v2') as Promise<SdkModule>,
  ssm: () => import('@aws-sdk/client-ssm') as Promise<SdkModule>,
  sns: () => import('@aws-sdk/client-sns') as Promise<SdkModule>,
  dynamodb: () => import('@aws-sdk/client-dynamodb') as Promise<SdkModule>,
  sfn: () => import('@aws-sdk/client-sfn') as Promise<SdkModule>,
};
const SDK_CLIENT_CLASS: Record<SdkServiceName, string> = {
  ec2: 'EC2Client',
  elasticloadbalancing: 'ElasticLoadBalancingClient',
  elasticloadbalancingv2: 'ElasticLoadBalancingV2Client',
  ssm: 'SSMClient',
  sns: 'SNSClient',
  dynamodb: 'DynamoDBClient',
  sfn: 'SFNClient',
};

function isSdkService(s: string): s is SdkServiceName {
  return s in SDK_MODULE_LOADERS;
}

/** `arn:aws:states:::aws-sdk:ec2:attachVolume` (AWS SDK integration) or `arn:aws:states:::sns:publish` (optimized integration). */
export function integrationOf(resource: string): { service: string; kind: IntegrationKind; action: string } | undefined {
  if (NESTED_EXECUTION.test(resource)) return { service: 'sfn', kind: 'optimized', action: 'startExecution' };
  const sdk = /^arn:aws[a-z-]*:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)$/.exec(resource);
  if (sdk?.[1] && sdk[2]) return { service: sdk[1], kind: 'aws-sdk', action: sdk[2] };
  const optimized = /^arn:aws[a-z-]*:states:::([a-z0-9]+):([A-Za-z0-9]+)$/.exec(resource);
  if (optimized?.[1] && optimized[2] && optimized[1] !== 'lambda') return { service: optimized[1], kind: 'optimized', action: optimized[2] };
  return undefined;
}

/** SDK outputs carry Dates and `$metadata`; Step Functions hands the task plain JSON. */
function toStateJson(out: unknown): unknown {
  if (out === undefined || out === null) return {};
  const { $metadata: _ignored, ...rest } = out as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest)) as unknown;
}

/* ---------------------------------------------------------------- run */

type TaskFn = (input: unknown) => Promise<unknown>;

export async function runStateMachine(
  definition: AslDefinition,
  input: unknown,
  opts: RunStateMachineOptions,
): Promise<RunStateMachineResult> {
  const resolved = resolveIntrinsics(definition);
  const stateMachineName = opts.stateMachineName ?? 'local-state-machine';
  const executionName = opts.executionName ?? `local-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const executionArn = `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:execution:${stateMachineName}:${executionName}`;
  const lambdaTimeoutMs = opts.lambdaTimeoutMs ?? 60_000;
  const maxTransitions = opts.maxTransitions ?? 5_000;
  const timeoutMs = opts.timeoutMs ?? 600_000;

  const clients = new Map<SdkServiceName, SdkClientLike>();
  const clientFor = async (service: SdkServiceName): Promise<SdkClientLike> => {
    const given = opts.sdkClients?.[service];
    if (given) return given;
    let c = clients.get(service);
    if (!c) {
      const mod = await SDK_MODULE_LOADERS[service]();
      const Ctor = mod[SDK_CLIENT_CLASS[service]] as new (cfg: object) => SdkClientLike;
      c = new Ctor({});
      clients.set(service, c);
    }
    return c;
  };

  let requestCounter = 0;
  const invokeLambda = async (functionName: string, event: unknown): Promise<unknown> => {
    const fn = lookupHandler(opts.lambdaHandlers, functionName);
    if (!fn) throw new UnsupportedResourceError('(lambda)', `function ${functionName} (no local handler given)`);
    const deadline = Date.now() + lambdaTimeoutMs;
    requestCounter += 1;
    const context: LocalLambdaContext = {
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: localFunctionArn(functionName),
      memoryLimitInMB: '256',
      awsRequestId: `${executionName}-${requestCounter}`,
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    // Step Functions hands the function a JSON copy and keeps a JSON copy of the result.
    const result = await fn(JSON.parse(JSON.stringify(event ?? null)), context);
    return result === undefined ? null : (JSON.parse(JSON.stringify(result)) as unknown);
  };

  const callSdk = async (service: SdkServiceName, kind: IntegrationKind, action: string, params: unknown): Promise<unknown> => {
    const mod = await SDK_MODULE_LOADERS[service]();
    const commandName = `${action.charAt(0).toUpperCase()}${action.slice(1)}Command`;
    const Cmd = mod[commandName] as (new (input: unknown) => unknown) | undefined;
    if (!Cmd) throw new UnsupportedResourceError('(sdk)', `${service}:${action} (no ${commandName} in the SDK)`);
    const client = await clientFor(service);
    try {
      return toStateJson(await client.send(new Cmd(params ?? {})));
    } catch (e) {
      const err = e as ServiceErrorShape;
      // Only service errors get the service's names; anything else (network, a
      // client bug) surfaces as a generic task failure, as on AWS.
      const isServiceError = err.$metadata !== undefined || err.$fault !== undefined;
      const code = typeof err.Code === 'string' && err.Code !== '' ? err.Code : err.name;
      if (!isServiceError || !code) {
        throw new SdkIntegrationError('States.TaskFailed', service, action, `${service}:${action}: ${err.name ?? 'Error'}: ${err.message ?? String(e)}`, { cause: e });
      }
      // A wire code may differ from its shape's name: Classic ELB's `InvalidInstance` is the
      // shape InvalidEndPointException, `LoadBalancerNotFound` is AccessPointNotFoundException
      // (the model's awsQueryError codes). SDK v3 names the error after the shape, as the Java
      // SDK behind Step Functions does, so a modelled `name` wins over the code.
      const modelled = await modelledErrorShapes(service);
      const shapeOrCode = typeof err.name === 'string' && modelled.has(err.name) ? err.name : code;
      const name = stepFunctionsErrorName(service, kind, shapeOrCode, modelled);
      throw new SdkIntegrationError(name, service, action, stepFunctionsErrorCause(service, kind, err, code), { cause: e });
    }
  };

  const taskHandlers: Record<string, TaskFn> = {};
  for (const { name, state } of allStates(resolved)) {
    if (state.Type !== 'Task') continue;
    const resource = state.Resource;
    if (typeof resource !== 'string') throw new DefinitionError(name, 'Task Resource is not a string after resolving intrinsics');
    taskHandlers[name] = taskFor(name, resource);
  }

  let nestedCount = 0;
  /**
   * A nested execution, as Step Functions' `.sync` integration reports it: the
   * DescribeExecution of the child (PascalCase keys; `.sync:2` parses its Input
   * and Output as JSON), or, when the child did not succeed, States.TaskFailed
   * with that DescribeExecution as Cause.
   */
  const runNested = async (stateName: string, input: unknown, parseJson: boolean): Promise<unknown> => {
    if (!opts.startExecution) throw new UnsupportedResourceError(stateName, 'arn:aws:states:::states:startExecution.sync (no startExecution handler given)');
    const p = (input ?? {}) as { StateMachineArn?: unknown; Name?: unknown; Input?: unknown };
    const stateMachineArn = String(p.StateMachineArn ?? '');
    const name = typeof p.Name === 'string' && p.Name !== '' ? p.Name : `${executionName}-nested-${++nestedCount}`;
    const childInput = typeof p.Input === 'string' ? (JSON.parse(p.Input) as unknown) : (p.Input ?? {});
    const startDate = Date.now();
    const r = await opts.startExecution({ stateMachineArn, name, input: childInput });
    const status = r.aborted ? 'ABORTED' : r.status === 'FAILED' && r.error === 'States.Timeout' ? 'TIMED_OUT' : r.status;
    const describe: Record<string, unknown> = {
      ExecutionArn: r.executionArn,
      StateMachineArn: stateMachineArn,
      Name: r.executionName,
      Status: status,
      StartDate: startDate,
      StopDate: Date.now(),
      Input: parseJson ? childInput : JSON.stringify(childInput),
      InputDetails: { Included: true },
      ...(r.status === 'SUCCEEDED' ? { Output: parseJson ? (r.output ?? null) : JSON.stringify(r.output ?? null), OutputDetails: { Included: true } } : {}),
      ...(r.error !== undefined ? { Error: r.error } : {}),
      ...(r.cause !== undefined ? { Cause: r.cause } : {}),
    };
    if (status === 'SUCCEEDED') return describe;
    throw new SdkIntegrationError('States.TaskFailed', 'sfn', 'startExecution', JSON.stringify(describe));
  };

  function taskFor(stateName: string, resource: string): TaskFn {
    const nested = NESTED_EXECUTION.exec(resource);
    if (nested) return (input) => runNested(stateName, input, nested[1] === ':2');
    const lambdaArn = /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:([^:]+)(:.+)?$/.exec(resource);
    if (lambdaArn?.[1]) {
      const fnName = lambdaArn[1];
      return (input) => invokeLambda(fnName, input);
    }
    if (/^arn:aws[a-z-]*:states:::lambda:invoke$/.test(resource)) {
      return async (input) => {
        const p = (input ?? {}) as { FunctionName?: unknown; Payload?: unknown };
        const fnName = functionNameFromRef(p.FunctionName);
        if (!fnName) throw new UnsupportedResourceError(stateName, `${resource} without a FunctionName`);
        const payload = await invokeLambda(fnName, p.Payload);
        return { ExecutedVersion: '$LATEST', Payload: payload, StatusCode: 200 };
      };
    }
    const integration = integrationOf(resource);
    if (integration) {
      const { service, kind, action } = integration;
      if (!isSdkService(service) || (kind === 'optimized' && !OPTIMIZED_INTEGRATIONS[service])) throw new UnsupportedResourceError(stateName, resource);
      return (input) => callSdk(service, kind, action, input);
    }
    throw new UnsupportedResourceError(stateName, resource);
  }

  const waitTimeOverrides = overridesFor(
    opts.waitTimeOverrides,
    allStates(resolved)
      .filter((s) => s.state.Type === 'Wait')
      .map((s) => s.name),
  );
  const retryIntervalOverrides = overridesFor(
    opts.retryIntervalOverrides,
    allStates(resolved)
      .filter((s) => Array.isArray(s.state.Retry))
      .map((s) => s.name),
  );

  // Validating a definition takes 0.4–0.8 s of synchronous work, enough to make
  // simulated lock holders miss renewals in a compressed sandbox: validate each
  // definition object once, then skip it.
  const validated = VALIDATED.has(definition);
  const machine = new StateMachine(resolved, {
    validationOptions: validated ? { noValidate: true } : { checkArn: false, checkPaths: true },
  });
  VALIDATED.add(definition);

  // Step Functions' context object. `State.EnteredTime` is read when a state
  // evaluates its Parameters, i.e. as the state is entered; the interpreter
  // copies the outer object, so a getter on the inner one stays live.
  const stateContext = {
    get EnteredTime(): string {
      return new Date().toISOString();
    },
    RetryCount: 0,
  };
  const started = Date.now();
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: taskHandlers as never,
      ...(waitTimeOverrides ? { waitTimeOverrides } : {}),
      ...(retryIntervalOverrides ? { retryIntervalOverrides } : {}),
    },
    context: {
      Execution: { Id: executionArn, Name: executionName, RoleArn: `arn:aws:iam::${FAKE_ACCOUNT}:role/local` },
      StateMachine: { Id: `arn:aws:states:${FAKE_REGION}:${FAKE_ACCOUNT}:stateMachine:${stateMachineName}`, Name: stateMachineName },
      State: stateContext,
    },
  });

  const history: StateHistoryEntry[] = [];
  let transitions = 0;
  let limitHit: 'transitions' | 'time' | 'stopped' | undefined;
  const timer = setTimeout(() => {
    limitHit = 'time';
    execution.abort();
  }, timeoutMs);
  const stop = (): void => {
    if (limitHit) return;
    limitHit = 'stopped';
    execution.abort();
  };
  if (opts.signal?.aborted) stop();
  else opts.signal?.addEventListener('abort', stop, { once: true });

  const consume = (async () => {
    for await (const ev of execution.eventLogs) {
      switch (ev.type) {
        case 'StateEntered':
          if (ev.index !== undefined) break; // inside a Map iteration: the Map state itself is the visit
          transitions += 1;
          history.push({ state: ev.state.name, type: ev.state.type, enteredAtMs: ev.timestamp, retries: 0 });
          if (transitions > maxTransitions && !limitHit) {
            limitHit = 'transitions';
            execution.abort();
          }
          break;
        case 'StateRetried': {
          transitions += 1;
          const last = findLast(history, ev.state.name);
          if (last) last.retries += 1;
          break;
        }
        case 'StateFailed': {
          const last = findLast(history, ev.state.name);
          if (last) {
            last.error = ev.Error;
            last.exitedAtMs = ev.timestamp;
          }
          break;
        }
        case 'StateExited':
        case 'StateCaught': {
          const last = findLast(history, ev.state.name);
          if (last) last.exitedAtMs = ev.timestamp;
          break;
        }
        default:
          break;
      }
      if (ev.type === 'StateEntered' || ev.type === 'StateRetried' || ev.type === 'StateFailed' || ev.type === 'StateExited' || ev.type === 'StateCaught') {
        opts.onHistory?.(history);
      }
      if (ev.type === 'ExecutionSucceeded' || ev.type === 'ExecutionFailed' || ev.type === 'ExecutionAborted' || ev.type === 'ExecutionTimeout') {
        return;
      }
    }
  })();

  try {
    const output = await execution.result;
    await settle(consume);
    return { status: 'SUCCEEDED', output, transitions, history, executionName, executionArn, durationMs: Date.now() - started };
  } catch (e) {
    await settle(consume);
    const base = { status: 'FAILED' as const, transitions, history, executionName, executionArn, durationMs: Date.now() - started };
    if (limitHit === 'stopped') return { ...base, aborted: true, error: 'States.Aborted', cause: 'stopped (StopExecution)' };
    if (limitHit === 'time') return { ...base, error: 'States.Timeout', cause: `local run exceeded ${timeoutMs} ms` };
    if (limitHit === 'transitions') {
      return { ...base, error: 'Runner.TransitionLimitExceeded', cause: `local run exceeded ${maxTransitions} transitions` };
    }
    const inner = (e as { cause?: unknown }).cause as { name?: string; message?: string } | undefined;
    return { ...base, error: inner?.name ?? (e as Error).name, cause: inner?.message ?? (e as Error).message };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', stop);
  }
}

/** The event log generator closes itself when the execution ends; never wait on it forever. */
async function settle(p: Promise<void>): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((r) => (t = setTimeout(r, 1_000)))]);
  clearTimeout(t);
}

function findLast(history: StateHistoryEntry[], name: string): StateHistoryEntry | undefined {
  for (let i = history.length - 1; i >= 0; i -= 1) {
    const h = history[i];
    if (h && h.state === name) return h;
  }
  return undefined;
}

function overridesFor(
  given: Record<string, number> | ((stateName: string) => number) | undefined,
  names: string[],
): Record<string, number> | undefined {
  if (given === undefined) return undefined;
  if (typeof given !== 'function') return given;
  return Object.fromEntries(names.map((n) => [n, given(n)]));
}

function lookupHandler(handlers: Record<string, LocalLambdaHandler>, name: string): LocalLambdaHandler | undefined {
  const exact = handlers[name];
  if (exact) return exact;
  // Deployed names are `<service>-<stage>-<function>`: accept the bare function name too.
  const match = Object.keys(handlers).find((k) => name.endsWith(`-${k}`));
  return match ? handlers[match] : undefined;
}

function functionNameFromRef(ref: unknown): string | undefined {
  if (typeof ref !== 'string' || ref === '') return undefined;
  const arn = /:function:([^:]+)/.exec(ref);
  return arn?.[1] ?? ref;
}
