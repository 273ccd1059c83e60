/**
 * Local SSM endpoint for the sandbox: Parameter Store, managed-instance inventory and
 * Run Command, spoken over SSM's real wire protocol (awsJson1_1) so the unmodified
 * `@aws-sdk/client-ssm` reaches it through `AWS_ENDPOINT_URL_SSM` or `endpoint`.
 *
 * Run Command executes registered documents (`ssm-documents.ts`) against simulated
 * agents. Every SendCommand's parameters and every invocation's output go to an audit
 * log, so tests can prove that secrets (unseal shares kept as SecureString) never travel
 * through Run Command (DESIGN §5.7).
 */
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DocumentRegistry, DocumentResult, RegisteredDocument, SimAgent } from './ssm-documents.js';

// ---------------------------------------------------------------------------------------
// Errors: one class per SSM error code the endpoint answers with. `code` is the wire
// `__type`, which the SDK turns into the exception's `name`.
// ---------------------------------------------------------------------------------------

export abstract class SsmServiceError extends Error {
  abstract readonly code: string;
  readonly httpStatus: number = 400;
}

export class ValidationError extends SsmServiceError {
  override readonly name = 'ValidationError';
  readonly code = 'ValidationException';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export class ParameterNotFoundError extends SsmServiceError {
  override readonly name = 'ParameterNotFoundError';
  readonly code = 'ParameterNotFound';
  constructor(readonly parameterName: string) {
    super(`Parameter ${parameterName} not found.`);
  }
}

export class ParameterVersionNotFoundError extends SsmServiceError {
  override readonly name = 'ParameterVersionNotFoundError';
  readonly code = 'ParameterVersionNotFound';
  constructor(
    readonly parameterName: string,
    readonly version: number,
  ) {
    super(`Systems Manager could not find version ${version} of ${parameterName}. Verify the version and try again.`);
  }
}

export class ParameterAlreadyExistsError extends SsmServiceError {
  override readonly name = 'ParameterAlreadyExistsError';
  readonly code = 'ParameterAlreadyExists';
  constructor(readonly parameterName: string) {
    super('The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
  }
}

export class ParameterPatternMismatchError extends SsmServiceError {
  override readonly name = 'ParameterPatternMismatchError';
  readonly code = 'ParameterPatternMismatchException';
  constructor(
    readonly parameterName: string,
    readonly allowedPattern: string,
  ) {
    // Never echo the value: it may be a secret.
    super(`Parameter value, cannot be validated against allowedPattern: ${allowedPattern}`);
  }
}

export class HierarchyLevelLimitExceededError extends SsmServiceError {
  override readonly name = 'HierarchyLevelLimitExceededError';
  readonly code = 'HierarchyLevelLimitExceededException';
  constructor(readonly parameterName: string) {
    super(`A hierarchy can have a maximum of 15 levels. Parameter: ${parameterName}`);
  }
}

export class InvalidNextTokenError extends SsmServiceError {
  override readonly name = 'InvalidNextTokenError';
  readonly code = 'InvalidNextToken';
  constructor(readonly operation: string) {
    super('The specified token is not valid.');
  }
}

export class InvalidFilterKeyError extends SsmServiceError {
  override readonly name = 'InvalidFilterKeyError';
  readonly code = 'InvalidFilterKey';
  constructor(readonly filterKey: string) {
    super(`The filter key ${filterKey} is not supported by the sandbox SSM endpoint.`);
  }
}

export class InvalidDocumentError extends SsmServiceError {
  override readonly name = 'InvalidDocumentError';
  readonly code = 'InvalidDocument';
  constructor(readonly documentName: string) {
    super(`Document with name ${documentName} does not exist.`);
  }
}

export class InvalidDocumentVersionError extends SsmServiceError {
  override readonly name = 'InvalidDocumentVersionError';
  readonly code = 'InvalidDocumentVersion';
  constructor(
    readonly documentName: string,
    readonly documentVersion: string,
  ) {
    super(`Document ${documentName} has no version ${documentVersion}.`);
  }
}

export class InvalidInstanceIdError extends SsmServiceError {
  override readonly name = 'InvalidInstanceIdError';
  readonly code = 'InvalidInstanceId';
  constructor(readonly instanceIds: readonly string[]) {
    super(`Instances [${instanceIds.join(', ')}] not in a valid state for account`);
  }
}

/**
 * Why SendCommand's parameters were refused. The messages open with the sentences the
 * SSM API reference gives for InvalidParameters (SendCommand → Errors): "You must specify
 * values for all required parameters in the Amazon Web Services Systems Manager document
 * (SSM document). You can only supply values to parameters defined in the SSM document."
 */
export type InvalidParametersReason = 'not-declared' | 'required' | 'invalid-value';

const INVALID_PARAMETERS_MESSAGE: Record<InvalidParametersReason, string> = {
  'not-declared': 'You can only supply values to parameters defined in the SSM document.',
  required: 'You must specify values for all required parameters in the Amazon Web Services Systems Manager document (SSM document).',
  'invalid-value': 'The value supplied for a parameter does not satisfy its definition in the SSM document.',
};

export class InvalidParametersError extends SsmServiceError {
  override readonly name = 'InvalidParametersError';
  readonly code = 'InvalidParameters';
  constructor(
    readonly documentName: string,
    readonly parameter: string,
    readonly reason: InvalidParametersReason,
    detail?: string,
  ) {
    // Never echo a value: a careless caller may have put a secret in it.
    super(`${INVALID_PARAMETERS_MESSAGE[reason]} Document ${documentName}, parameter "${parameter}"${detail ? `: ${detail}` : ''}.`);
  }
}

export class InvocationDoesNotExistError extends SsmServiceError {
  override readonly name = 'InvocationDoesNotExistError';
  readonly code = 'InvocationDoesNotExist';
  constructor(
    readonly commandId: string,
    readonly instanceId: string,
  ) {
    super(`Invocation of command ${commandId} on ${instanceId} does not exist.`);
  }
}

export class InvalidPluginNameError extends SsmServiceError {
  override readonly name = 'InvalidPluginNameError';
  readonly code = 'InvalidPluginName';
  constructor(readonly pluginName: string) {
    super(`Plugin ${pluginName} is not a step of the document.`);
  }
}

export class InvalidCommandIdError extends SsmServiceError {
  override readonly name = 'InvalidCommandIdError';
  readonly code = 'InvalidCommandId';
  constructor(readonly commandId: string) {
    super(`Command ${commandId} does not exist.`);
  }
}

export class UnknownOperationError extends SsmServiceError {
  override readonly name = 'UnknownOperationError';
  readonly code = 'UnknownOperationException';
  constructor(readonly target: string) {
    super(`Operation ${target || '(none)'} is not supported by the sandbox SSM endpoint.`);
  }
}

export class SerializationError extends SsmServiceError {
  override readonly name = 'SerializationError';
  readonly code = 'SerializationException';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(detail, options);
  }
}

export class MissingAuthenticationTokenError extends SsmServiceError {
  override readonly name = 'MissingAuthenticationTokenError';
  readonly code = 'MissingAuthenticationTokenException';
  override readonly httpStatus = 403;
  constructor() {
    super('Missing Authentication Token');
  }
}

export class InternalServerError extends SsmServiceError {
  override readonly name = 'InternalServerError';
  readonly code = 'InternalServerError';
  override readonly httpStatus = 500;
  constructor(options?: { cause?: unknown }) {
    super('An internal error occurred in the sandbox SSM endpoint.', options);
  }
}

export class SsmServerStateError extends Error {
  override readonly name = 'SsmServerStateError';
  constructor(
    readonly state: 'not-started' | 'already-started',
    message: string,
  ) {
    super(message);
  }
}

export class AgentInstanceMismatchError extends Error {
  override readonly name = 'AgentInstanceMismatchError';
  constructor(
    readonly instanceId: string,
    readonly agentInstanceId: string,
  ) {
    super(`agent for ${agentInstanceId} cannot register as ${instanceId}`);
  }
}

// ---------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------

export interface SsmServerOptions {
  readonly documents: DocumentRegistry;
  readonly region?: string;
  readonly accountId?: string;
  /**
   * Real milliseconds per AWS second for `TimeoutSeconds` and `executionTimeout`, so tests
   * keep AWS's valid ranges (TimeoutSeconds ≥ 30) and still run fast. Default 1000.
   * Keep 30 × msPerSecond above registrationDelayMs + deliveryDelayMs, or commands with
   * the minimum TimeoutSeconds time out before they are delivered.
   */
  readonly msPerSecond?: number;
  /** SendCommand → the invocation exists (GetCommandInvocation says InvocationDoesNotExist before). Default 50. */
  readonly registrationDelayMs?: number;
  /** Registration → delivered to the agent (Pending → InProgress). Default 50. */
  readonly deliveryDelayMs?: number;
  /** Clock for timestamps. Default Date.now. */
  readonly now?: () => number;
}

export type SsmAuditEntry =
  | {
      kind: 'send-command';
      atMs: number;
      commandId: string;
      documentName: string;
      comment: string;
      instanceIds: string[];
      parameters: Record<string, string[]>;
    }
  | {
      kind: 'invocation-output';
      atMs: number;
      commandId: string;
      instanceId: string;
      exitCode: number;
      /** Full output as the executor produced it, before any truncation. */
      stdout: string;
      stderr: string;
    };

export type CommandInvocationStatus =
  | 'Pending'
  | 'InProgress'
  | 'Delayed'
  | 'Success'
  | 'Cancelled'
  | 'TimedOut'
  | 'Failed'
  | 'Cancelling';

// ---------------------------------------------------------------------------------------
// Limits and facts from the SSM API reference
// ---------------------------------------------------------------------------------------

/** GetCommandInvocation StandardOutputContent: "the first 24,000 characters". */
export const STDOUT_CONTENT_LIMIT = 24_000;
/** GetCommandInvocation StandardErrorContent: "the first 8,000 characters". */
export const STDERR_CONTENT_LIMIT = 8_000;
/** ListCommandInvocations CommandPlugin.Output: "the first 2500 characters". */
const PLUGIN_OUTPUT_LIMIT = 2_500;
/**
 * SSM Agent (Linux) reports 128 + SIGKILL for a command it stopped before completion
 * (execution timeout or cancel): appconfig.CommandStoppedPreemptivelyExitCode.
 */
const STOPPED_PREEMPTIVELY_EXIT_CODE = 137;
/** ResponseCode while the plugin has not finished (API reference: -1 = not run/received). */
const NOT_RUN_RESPONSE_CODE = -1;
const DEFAULT_KMS_KEY_ID = 'alias/aws/ssm';
const MAX_BODY_BYTES = 1024 * 1024;
const PARAMETER_VALUE_LIMIT = { Standard: 4096, Advanced: 8192 } as const;
const PARAMETER_TYPES = ['String', 'StringList', 'SecureString'] as const;
type ParameterType = (typeof PARAMETER_TYPES)[number];
const PARAMETER_TIERS = ['Standard', 'Advanced', 'Intelligent-Tiering'] as const;

// ---------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------

interface ParameterVersion {
  name: string;
  type: ParameterType;
  value: string;
  /** For SecureString: what a read without decryption returns. */
  ciphertext?: string;
  keyId?: string;
  version: number;
  lastModifiedMs: number;
  tier: 'Standard' | 'Advanced';
  dataType: string;
  description?: string;
  allowedPattern?: string;
}

interface AgentRecord {
  agent: SimAgent | undefined;
  pingStatus: 'Online' | 'ConnectionLost';
  lastPingMs: number;
  registrationMs: number;
  /** Bumped on every register/unregister: a result from an older generation cannot be reported. */
  generation: number;
}

interface InvocationRecord {
  instanceId: string;
  registered: boolean;
  status: CommandInvocationStatus;
  statusDetails: string;
  responseCode: number;
  startMs?: number;
  endMs?: number;
  stdout: string;
  stderr: string;
  /** Identity of the current execution attempt; results from another attempt are dropped. */
  run?: { abort: AbortController; agentGeneration: number };
}

interface CommandRecord {
  commandId: string;
  document: RegisteredDocument;
  documentVersion: string;
  comment: string;
  /** As sent: what Command.Parameters and the audit show. */
  parameters: Record<string, string[]>;
  /** What the document runs with: every declared parameter, sent value or default. */
  effectiveParameters: Record<string, string[]>;
  instanceIds: string[];
  requestedMs: number;
  timeoutSeconds: number;
  executionTimeoutSeconds: number;
  deliveryDeadlineMs: number;
  expiresAfterMs: number;
  maxConcurrency: string;
  maxErrors: string;
  invocations: Map<string, InvocationRecord>;
}

type JsonObject = Record<string, unknown>;
type OperationHandler = (input: JsonObject) => unknown;

const TERMINAL: ReadonlySet<CommandInvocationStatus> = new Set(['Success', 'Cancelled', 'TimedOut', 'Failed']);

// ---------------------------------------------------------------------------------------
// Input readers: AWS-style validation messages for the fields this endpoint reads
// ---------------------------------------------------------------------------------------

function wireName(field: string): string {
  return field.charAt(0).toLowerCase() + field.slice(1);
}

function nullError(field: string): ValidationError {
  return new ValidationError(
    field,
    `1 validation error detected: Value null at '${wireName(field)}' failed to satisfy constraint: Member must not be null`,
  );
}

function optString(input: JsonObject, field: string, limits: { min?: number; max?: number } = {}): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new SerializationError(`${field} must be a string`);
  if (limits.min !== undefined && v.length < limits.min) {
    throw new ValidationError(
      field,
      `1 validation error detected: Value at '${wireName(field)}' failed to satisfy constraint: Member must have length greater than or equal to ${limits.min}`,
    );
  }
  if (limits.max !== undefined && v.length > limits.max) {
    throw new ValidationError(
      field,
      `1 validation error detected: Value at '${wireName(field)}' failed to satisfy constraint: Member must have length less than or equal to ${limits.max}`,
    );
  }
  return v;
}

function reqString(input: JsonObject, field: string, limits: { min?: number; max?: number } = {}): string {
  const v = optString(input, field, limits);
  if (v === undefined) throw nullError(field);
  return v;
}

function optBool(input: JsonObject, field: string): boolean | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new SerializationError(`${field} must be a boolean`);
  return v;
}

function optInt(input: JsonObject, field: string, range: { min: number; max: number }): number | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new SerializationError(`${field} must be an integer`);
  if (v < range.min) {
    throw new ValidationError(
      field,
      `1 validation error detected: Value '${v}' at '${wireName(field)}' failed to satisfy constraint: Member must have value greater than or equal to ${range.min}`,
    );
  }
  if (v > range.max) {
    throw new ValidationError(
      field,
      `1 validation error detected: Value '${v}' at '${wireName(field)}' failed to satisfy constraint: Member must have value less than or equal to ${range.max}`,
    );
  }
  return v;
}

function optStringList(input: JsonObject, field: string): string[] | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw new SerializationError(`${field} must be a list of strings`);
  }
  return v as string[];
}

function optObjectList(input: JsonObject, field: string): JsonObject[] | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'object' || x === null || Array.isArray(x))) {
    throw new SerializationError(`${field} must be a list of structures`);
  }
  return v as JsonObject[];
}

function optEnum<T extends string>(input: JsonObject, field: string, values: readonly T[]): T | undefined {
  const v = optString(input, field);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v)) {
    throw new ValidationError(
      field,
      `1 validation error detected: Value '${v}' at '${wireName(field)}' failed to satisfy constraint: Member must satisfy enum value set: [${values.join(', ')}]`,
    );
  }
  return v as T;
}

/** Opaque pagination token: base64url JSON naming the operation and where to resume. */
function encodeToken(operation: string, after: string): string {
  return Buffer.from(JSON.stringify({ op: operation, after }), 'utf8').toString('base64url');
}

function decodeToken(operation: string, token: string | undefined): string | undefined {
  if (token === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed === 'object' && parsed !== null) {
      const { op, after } = parsed as { op?: unknown; after?: unknown };
      if (op === operation && typeof after === 'string') return after;
    }
  } catch {
    // fall through: any undecodable token is invalid
  }
  throw new InvalidNextTokenError(operation);
}

/** Items strictly after `after` (by key), at most `max`, and the token for the rest. */
function page<T>(operation: string, sorted: readonly T[], key: (t: T) => string, max: number, token: string | undefined) {
  const after = decodeToken(operation, token);
  const rest = after === undefined ? sorted : sorted.filter((t) => key(t) > after);
  const items = rest.slice(0, max);
  const last = items.at(-1);
  const nextToken = rest.length > max && last !== undefined ? encodeToken(operation, key(last)) : undefined;
  return { items, nextToken };
}

function epochSeconds(ms: number): number {
  return ms / 1000;
}

function truncate(s: string, limit: number): string {
  return s.length > limit ? s.slice(0, limit) : s;
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

export class SsmServer {
  readonly #documents: DocumentRegistry;
  readonly #region: string;
  readonly #accountId: string;
  readonly #msPerSecond: number;
  readonly #registrationDelayMs: number;
  readonly #deliveryDelayMs: number;
  readonly #now: () => number;

  readonly #parameters = new Map<string, ParameterVersion[]>();
  readonly #agents = new Map<string, AgentRecord>();
  readonly #commands = new Map<string, CommandRecord>();
  readonly #audit: SsmAuditEntry[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Encrypts SecureString values so reads without decryption return a real-looking blob. */
  readonly #dataKey = randomBytes(32);
  readonly #operations: Record<string, OperationHandler>;

  #server: Server | undefined;
  #endpoint: string | undefined;

  constructor(options: SsmServerOptions) {
    this.#documents = options.documents;
    this.#region = options.region ?? 'us-east-1';
    this.#accountId = options.accountId ?? '000000000000';
    this.#msPerSecond = options.msPerSecond ?? 1000;
    this.#registrationDelayMs = options.registrationDelayMs ?? 50;
    this.#deliveryDelayMs = options.deliveryDelayMs ?? 50;
    this.#now = options.now ?? Date.now;
    this.#operations = {
      PutParameter: (i) => this.#putParameter(i),
      GetParameter: (i) => this.#getParameter(i),
      GetParameters: (i) => this.#getParameters(i),
      GetParametersByPath: (i) => this.#getParametersByPath(i),
      DescribeParameters: (i) => this.#describeParameters(i),
      DeleteParameter: (i) => this.#deleteParameter(i),
      DescribeInstanceInformation: (i) => this.#describeInstanceInformation(i),
      SendCommand: (i) => this.#sendCommand(i),
      GetCommandInvocation: (i) => this.#getCommandInvocation(i),
      ListCommandInvocations: (i) => this.#listCommandInvocations(i),
      CancelCommand: (i) => this.#cancelCommand(i),
    };
  }

  /** Starts listening on 127.0.0.1 (ephemeral port) and returns the endpoint URL. */
  async start(): Promise<string> {
    if (this.#server) throw new SsmServerStateError('already-started', 'SSM sandbox endpoint is already started');
    const server = createServer((req, res) => void this.#handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    this.#endpoint = `http://127.0.0.1:${port}`;
    return this.#endpoint;
  }

  /** Closes the listener and every connection, clears every timer and aborts running executors. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const cmd of this.#commands.values()) {
      for (const inv of cmd.invocations.values()) inv.run?.abort.abort(new Error('SSM sandbox endpoint stopped'));
    }
    const server = this.#server;
    this.#server = undefined;
    this.#endpoint = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get endpoint(): string {
    if (this.#endpoint === undefined) throw new SsmServerStateError('not-started', 'SSM sandbox endpoint is not started');
    return this.#endpoint;
  }

  /** The instance's SSM Agent came up (EC2 instance reached running): it is a managed, Online node. */
  registerAgent(instanceId: string, agent: SimAgent): void {
    if (agent.instanceId !== instanceId) throw new AgentInstanceMismatchError(instanceId, agent.instanceId);
    const now = this.#now();
    const previous = this.#agents.get(instanceId);
    // A re-registration is a reboot: whatever the old agent was running died with it.
    if (previous?.pingStatus === 'Online') this.#loseRunningInvocations(instanceId);
    this.#agents.set(instanceId, {
      agent,
      pingStatus: 'Online',
      lastPingMs: now,
      registrationMs: previous?.registrationMs ?? now,
      generation: (previous?.generation ?? 0) + 1,
    });
    // SSM retries delivery of Delayed invocations once the agent is reachable again.
    for (const { inv, cmd } of this.#invocationsOn(instanceId)) {
      if (inv.status === 'Delayed') this.#schedule(this.#deliveryDelayMs, () => this.#deliver(cmd, inv));
    }
  }

  /** The instance stopped or terminated: the node stays known to SSM, as ConnectionLost. */
  unregisterAgent(instanceId: string): void {
    const record = this.#agents.get(instanceId);
    if (!record || record.pingStatus === 'ConnectionLost') return;
    record.pingStatus = 'ConnectionLost';
    record.agent = undefined;
    record.generation += 1;
    this.#loseRunningInvocations(instanceId);
  }

  /** Every SendCommand's parameters and every invocation's full output, in order. */
  auditLog(): readonly SsmAuditEntry[] {
    return structuredClone(this.#audit);
  }

  /**
   * True when any of `values` occurs (as a substring) in any command parameter, comment,
   * or invocation output ever seen. Empty strings are ignored: they cannot leak anything.
   */
  auditContainsAny(values: readonly string[]): boolean {
    const needles = values.filter((v) => v.length > 0);
    if (needles.length === 0) return false;
    const haystacks: string[] = [];
    for (const e of this.#audit) {
      if (e.kind === 'send-command') {
        haystacks.push(e.documentName, e.comment, ...e.instanceIds);
        for (const [k, vs] of Object.entries(e.parameters)) haystacks.push(k, ...vs);
      } else {
        haystacks.push(e.stdout, e.stderr);
      }
    }
    return haystacks.some((h) => needles.some((n) => h.includes(n)));
  }

  // -------------------------------------------------------------------------------------
  // HTTP / awsJson1_1
  // -------------------------------------------------------------------------------------

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const output = await this.#dispatch(req);
      this.#reply(res, 200, requestId, output ?? {});
    } catch (error) {
      const fault = error instanceof SsmServiceError ? error : new InternalServerError({ cause: error });
      this.#reply(res, fault.httpStatus, requestId, { __type: fault.code, message: fault.message });
    }
  }

  async #dispatch(req: IncomingMessage): Promise<unknown> {
    const body = await readBody(req);
    const target = req.headers['x-amz-target'];
    const op = typeof target === 'string' && target.startsWith('AmazonSSM.') ? target.slice('AmazonSSM.'.length) : '';
    if (req.method !== 'POST' || (req.url ?? '/') !== '/') throw new UnknownOperationError(`${req.method} ${req.url}`);
    const handler = Object.hasOwn(this.#operations, op) ? this.#operations[op] : undefined;
    if (!handler) throw new UnknownOperationError(typeof target === 'string' ? target : '');
    // The SDK always signs; an unsigned request means something other than the SDK is calling.
    if (typeof req.headers['authorization'] !== 'string') throw new MissingAuthenticationTokenError();
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body);
    } catch (cause) {
      throw new SerializationError('Request body is not valid JSON', { cause });
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new SerializationError('Request body must be a JSON object');
    }
    return handler(input as JsonObject);
  }

  #reply(res: ServerResponse, status: number, requestId: string, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': requestId,
    });
    res.end(text);
  }

  // -------------------------------------------------------------------------------------
  // Parameter Store
  // -------------------------------------------------------------------------------------

  #arn(name: string): string {
    return `arn:aws:ssm:${this.#region}:${this.#accountId}:parameter${name.startsWith('/') ? '' : '/'}${name}`;
  }

  /** Accepts a name or the parameter's ARN, as GetParameter does. */
  #normalizeName(nameOrArn: string): string {
    const prefix = `arn:aws:ssm:${this.#region}:${this.#accountId}:parameter`;
    if (!nameOrArn.startsWith(prefix)) return nameOrArn;
    const rest = nameOrArn.slice(prefix.length);
    // "parameter/foo" is the ARN of "foo"; "parameter/a/b" is the ARN of "/a/b".
    return rest.indexOf('/', 1) === -1 ? rest.slice(1) : rest;
  }

  #validateNameForPut(name: string): void {
    if (!/^[a-zA-Z0-9_.\-/]+$/.test(name)) {
      throw new ValidationError(
        'Name',
        'Parameter name: can only contain letters, numbers, and the symbols . - _ /',
      );
    }
    if (/^\/?(aws|ssm)/i.test(name)) {
      throw new ValidationError('Name', 'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive).');
    }
    if (name.includes('/') && !name.startsWith('/')) {
      throw new ValidationError('Name', 'Parameter name must be a fully qualified name.');
    }
    if (name.split('/').length - 1 > 15) throw new HierarchyLevelLimitExceededError(name);
  }

  #encrypt(value: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#dataKey, iv);
    const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    // The leading bytes make the blob start like a KMS ciphertext ("AQICAH..."), which is
    // what GetParameter returns for a SecureString read without decryption.
    return Buffer.concat([Buffer.from([0x01, 0x02, 0x02, 0x00, 0x78]), iv, cipher.getAuthTag(), ct]).toString('base64');
  }

  #putParameter(input: JsonObject): unknown {
    const name = reqString(input, 'Name', { min: 1, max: 2048 });
    const value = reqString(input, 'Value', { min: 1 });
    const type = optEnum(input, 'Type', PARAMETER_TYPES);
    const overwrite = optBool(input, 'Overwrite') ?? false;
    const keyId = optString(input, 'KeyId', { min: 1, max: 256 });
    const description = optString(input, 'Description', { max: 1024 });
    const allowedPattern = optString(input, 'AllowedPattern', { max: 1024 });
    const requestedTier = optEnum(input, 'Tier', PARAMETER_TIERS);
    const dataType = optString(input, 'DataType') ?? 'text';
    const tags = optObjectList(input, 'Tags');
    this.#validateNameForPut(name);
    if (overwrite && tags !== undefined && tags.length > 0) {
      throw new ValidationError('Tags', 'Invalid request: tags and overwrite can\'t be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.');
    }
    if (dataType !== 'text') {
      throw new ValidationError('DataType', `The sandbox SSM endpoint supports DataType "text" only, not ${dataType}.`);
    }

    const history = this.#parameters.get(name);
    const previous = history?.at(-1);
    if (previous && !overwrite) throw new ParameterAlreadyExistsError(name);
    const effectiveType = type ?? previous?.type;
    if (effectiveType === undefined) throw new ValidationError('Type', 'A parameter type is required when you create a parameter.');
    if (keyId !== undefined && effectiveType !== 'SecureString') {
      throw new ValidationError('KeyId', 'KeyId is required for SecureString type parameter only.');
    }
    const pattern = allowedPattern ?? previous?.allowedPattern;
    if (pattern !== undefined) {
      let re: RegExp;
      try {
        re = new RegExp(pattern);
      } catch (cause) {
        throw new ValidationError('AllowedPattern', `AllowedPattern is not a valid regular expression: ${(cause as Error).message}`);
      }
      if (!re.test(value)) throw new ParameterPatternMismatchError(name, pattern);
    }
    // Intelligent-Tiering picks Standard when the value fits, Advanced otherwise.
    const tier: 'Standard' | 'Advanced' =
      requestedTier === 'Advanced' || previous?.tier === 'Advanced' || (requestedTier === 'Intelligent-Tiering' && value.length > PARAMETER_VALUE_LIMIT.Standard)
        ? 'Advanced'
        : 'Standard';
    if (value.length > PARAMETER_VALUE_LIMIT[tier]) {
      throw new ValidationError(
        'Value',
        tier === 'Standard'
          ? 'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.'
          : 'Advanced tier parameters support a maximum parameter value of 8192 characters.',
      );
    }

    const version: ParameterVersion = {
      name,
      type: effectiveType,
      value,
      version: (previous?.version ?? 0) + 1,
      lastModifiedMs: this.#now(),
      tier,
      dataType,
      ...(effectiveType === 'SecureString'
        ? { ciphertext: this.#encrypt(value), keyId: keyId ?? (previous?.type === 'SecureString' ? previous.keyId : undefined) ?? DEFAULT_KMS_KEY_ID }
        : {}),
      ...((description ?? previous?.description) !== undefined ? { description: description ?? previous?.description } : {}),
      ...(pattern !== undefined ? { allowedPattern: pattern } : {}),
    };
    if (history) history.push(version);
    else this.#parameters.set(name, [version]);
    return { Version: version.version, Tier: tier };
  }

  /** Resolves "name" or "name:version" to one stored version. */
  #lookup(nameWithSelector: string): { param: ParameterVersion; selector?: string } {
    const normalized = this.#normalizeName(nameWithSelector);
    const colon = normalized.lastIndexOf(':');
    const name = colon === -1 ? normalized : normalized.slice(0, colon);
    const selector = colon === -1 ? undefined : normalized.slice(colon);
    const history = this.#parameters.get(name);
    const latest = history?.at(-1);
    if (!history || !latest) throw new ParameterNotFoundError(nameWithSelector);
    if (selector === undefined) return { param: latest };
    const versionText = selector.slice(1);
    if (!/^[1-9][0-9]*$/.test(versionText)) {
      // Labels are not modelled: no parameter carries one, so any label selects nothing.
      throw new ParameterNotFoundError(nameWithSelector);
    }
    const version = Number(versionText);
    const found = history.find((p) => p.version === version);
    if (!found) throw new ParameterVersionNotFoundError(name, version);
    return { param: found, selector };
  }

  #render(param: ParameterVersion, withDecryption: boolean, selector?: string): JsonObject {
    const value = param.type === 'SecureString' && !withDecryption ? (param.ciphertext ?? '') : param.value;
    return {
      Name: param.name,
      Type: param.type,
      Value: value,
      Version: param.version,
      ...(selector !== undefined ? { Selector: selector } : {}),
      LastModifiedDate: epochSeconds(param.lastModifiedMs),
      ARN: this.#arn(param.name),
      DataType: param.dataType,
    };
  }

  #getParameter(input: JsonObject): unknown {
    const name = reqString(input, 'Name', { min: 1, max: 2048 });
    const withDecryption = optBool(input, 'WithDecryption') ?? false;
    const { param, selector } = this.#lookup(name);
    return { Parameter: this.#render(param, withDecryption, selector) };
  }

  #getParameters(input: JsonObject): unknown {
    const names = optStringList(input, 'Names');
    if (names === undefined) throw nullError('Names');
    if (names.length < 1 || names.length > 10) {
      throw new ValidationError(
        'Names',
        `1 validation error detected: Value '[${names.join(', ')}]' at 'names' failed to satisfy constraint: Member must have length ${names.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 10'}`,
      );
    }
    const withDecryption = optBool(input, 'WithDecryption') ?? false;
    const parameters: JsonObject[] = [];
    const invalid: string[] = [];
    for (const name of new Set(names)) {
      try {
        const { param, selector } = this.#lookup(name);
        parameters.push(this.#render(param, withDecryption, selector));
      } catch (error) {
        if (error instanceof ParameterNotFoundError || error instanceof ParameterVersionNotFoundError) invalid.push(name);
        else throw error;
      }
    }
    return { Parameters: parameters, InvalidParameters: invalid };
  }

  #getParametersByPath(input: JsonObject): unknown {
    const path = reqString(input, 'Path', { min: 1, max: 2048 });
    const recursive = optBool(input, 'Recursive') ?? false;
    const withDecryption = optBool(input, 'WithDecryption') ?? false;
    const maxResults = optInt(input, 'MaxResults', { min: 1, max: 10 }) ?? 10;
    const nextToken = optString(input, 'NextToken');
    const filters = optObjectList(input, 'ParameterFilters');
    if (filters !== undefined && filters.length > 0) {
      throw new InvalidFilterKeyError(String(filters[0]?.['Key'] ?? '(none)'));
    }
    if (!path.startsWith('/')) {
      throw new ValidationError('Path', 'The parameter doesn\'t meet the parameter name requirements. The parameter name must begin with a forward slash "/".');
    }
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const matches = [...this.#parameters.entries()]
      .filter(([name]) => name.startsWith(prefix) && (recursive || !name.slice(prefix.length).includes('/')))
      .map(([, history]) => history.at(-1))
      .filter((p): p is ParameterVersion => p !== undefined)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { items, nextToken: next } = page('GetParametersByPath', matches, (p) => p.name, maxResults, nextToken);
    return { Parameters: items.map((p) => this.#render(p, withDecryption)), ...(next !== undefined ? { NextToken: next } : {}) };
  }

  /**
   * Metadata only, never a value (what `vault-ha config check --live` uses to
   * see that the unseal shares exist). Supports the `Path` filter with the
   * `OneLevel`/`Recursive` options and `Name` with `Equals`/`BeginsWith`
   * (API reference, ParameterStringFilter); other keys are refused.
   */
  #describeParameters(input: JsonObject): unknown {
    const maxResults = optInt(input, 'MaxResults', { min: 1, max: 50 }) ?? 50;
    const nextToken = optString(input, 'NextToken');
    const conditions: Array<(name: string) => boolean> = [];
    for (const f of optObjectList(input, 'ParameterFilters') ?? []) {
      const key = reqString(f, 'Key');
      const option = optString(f, 'Option');
      const values = optStringList(f, 'Values') ?? [];
      if (key === 'Path') {
        if (option !== undefined && option !== 'OneLevel' && option !== 'Recursive') throw new ValidationError('Option', `The following filter option is not valid: ${option}. Valid options include: [Recursive, OneLevel].`);
        const recursive = option === 'Recursive';
        const prefixes = values.map((v) => (v.endsWith('/') ? v : `${v}/`));
        conditions.push((name) => prefixes.some((p) => name.startsWith(p) && (recursive || !name.slice(p.length).includes('/'))));
      } else if (key === 'Name') {
        if (option !== undefined && option !== 'Equals' && option !== 'BeginsWith') throw new ValidationError('Option', `The sandbox supports the Name filter options Equals and BeginsWith, not ${option}.`);
        conditions.push((name) => values.some((v) => (option === 'BeginsWith' ? name.startsWith(v) : name === v)));
      } else {
        throw new InvalidFilterKeyError(key);
      }
    }
    const matches = [...this.#parameters.entries()]
      .filter(([name]) => conditions.every((c) => c(name)))
      .map(([, history]) => history.at(-1))
      .filter((p): p is ParameterVersion => p !== undefined)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { items, nextToken: next } = page('DescribeParameters', matches, (p) => p.name, maxResults, nextToken);
    return {
      Parameters: items.map((p) => ({
        Name: p.name,
        ARN: this.#arn(p.name),
        Type: p.type,
        ...(p.keyId !== undefined ? { KeyId: p.keyId } : {}),
        LastModifiedDate: epochSeconds(p.lastModifiedMs),
        Version: p.version,
        Tier: p.tier,
        DataType: p.dataType,
        ...(p.description !== undefined ? { Description: p.description } : {}),
      })),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  #deleteParameter(input: JsonObject): unknown {
    const name = reqString(input, 'Name', { min: 1, max: 2048 });
    if (!this.#parameters.delete(this.#normalizeName(name))) throw new ParameterNotFoundError(name);
    return {};
  }

  /** What `readParameter` gives a document: the same store, read as the instance role would. */
  async #readOnNode(name: string, withDecryption: boolean): Promise<string> {
    const { param } = this.#lookup(name);
    return param.type === 'SecureString' && !withDecryption ? (param.ciphertext ?? '') : param.value;
  }

  // -------------------------------------------------------------------------------------
  // Managed instances
  // -------------------------------------------------------------------------------------

  #describeInstanceInformation(input: JsonObject): unknown {
    const maxResults = optInt(input, 'MaxResults', { min: 5, max: 50 }) ?? 50;
    const nextToken = optString(input, 'NextToken');
    const conditions: Array<{ key: string; values: string[] }> = [];
    for (const f of optObjectList(input, 'InstanceInformationFilterList') ?? []) {
      const key = reqString(f, 'key');
      const values = optStringList(f, 'valueSet');
      if (values === undefined) throw nullError('valueSet');
      conditions.push({ key, values });
    }
    for (const f of optObjectList(input, 'Filters') ?? []) {
      const key = reqString(f, 'Key');
      const values = optStringList(f, 'Values');
      if (values === undefined) throw nullError('Values');
      conditions.push({ key, values });
    }
    for (const c of conditions) {
      if (!['InstanceIds', 'PingStatus', 'ResourceType', 'PlatformTypes'].includes(c.key)) throw new InvalidFilterKeyError(c.key);
    }
    const rows = [...this.#agents.entries()]
      .map(([instanceId, record]) => this.#instanceInformation(instanceId, record))
      .filter((row) =>
        conditions.every((c) => {
          const field = { InstanceIds: 'InstanceId', PingStatus: 'PingStatus', ResourceType: 'ResourceType', PlatformTypes: 'PlatformType' }[c.key];
          return field !== undefined && c.values.includes(String(row[field]));
        }),
      )
      .sort((a, b) => (String(a['InstanceId']) < String(b['InstanceId']) ? -1 : 1));
    const { items, nextToken: next } = page('DescribeInstanceInformation', rows, (r) => String(r['InstanceId']), maxResults, nextToken);
    return { InstanceInformationList: items, ...(next !== undefined ? { NextToken: next } : {}) };
  }

  #instanceInformation(instanceId: string, record: AgentRecord): JsonObject {
    return {
      InstanceId: instanceId,
      PingStatus: record.pingStatus,
      LastPingDateTime: epochSeconds(record.lastPingMs),
      AgentVersion: '3.3.0.0',
      IsLatestVersion: true,
      PlatformType: 'Linux',
      PlatformName: 'Amazon Linux',
      PlatformVersion: '2023',
      ResourceType: 'EC2Instance',
      RegistrationDate: epochSeconds(record.registrationMs),
      IPAddress: record.agent?.ipAddress ?? '127.0.0.1',
      ComputerName: record.agent?.computerName ?? `${instanceId}.sandbox.internal`,
      SourceId: instanceId,
      SourceType: 'AWS::EC2::Instance',
    };
  }

  // -------------------------------------------------------------------------------------
  // Run Command
  // -------------------------------------------------------------------------------------

  #sendCommand(input: JsonObject): unknown {
    const documentName = reqString(input, 'DocumentName');
    const documentVersion = optString(input, 'DocumentVersion') ?? '$DEFAULT';
    const comment = optString(input, 'Comment', { max: 100 }) ?? '';
    const timeoutSeconds = optInt(input, 'TimeoutSeconds', { min: 30, max: 2_592_000 }) ?? 3600;
    const instanceIdsInput = optStringList(input, 'InstanceIds');
    const targets = optObjectList(input, 'Targets');
    const parameters = readCommandParameters(input);
    const maxConcurrency = optString(input, 'MaxConcurrency') ?? '50';
    const maxErrors = optString(input, 'MaxErrors') ?? '0';

    let instanceIds: string[];
    if (instanceIdsInput !== undefined && instanceIdsInput.length > 0) {
      if (targets !== undefined && targets.length > 0) throw new ValidationError('Targets', 'InstanceIds and Targets can\'t be used together.');
      if (instanceIdsInput.length > 50) {
        throw new ValidationError('InstanceIds', "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50");
      }
      instanceIds = [...new Set(instanceIdsInput)];
    } else if (targets !== undefined && targets.length > 0) {
      // Only the instance-id form of Targets is modelled; tag targets would need the EC2 view.
      const only = targets.length === 1 ? targets[0] : undefined;
      const values = only ? optStringList(only, 'Values') : undefined;
      if (!only || only['Key'] !== 'InstanceIds' || values === undefined) {
        throw new ValidationError('Targets', 'The sandbox SSM endpoint supports Targets of the form [{ Key: "InstanceIds", Values: [...] }] only.');
      }
      instanceIds = [...new Set(values)];
    } else {
      throw new ValidationError('InstanceIds', 'Either InstanceIds or Targets must be specified.');
    }

    const document = this.#documents.get(documentName);
    if (!document) throw new InvalidDocumentError(documentName);
    if (!['$DEFAULT', '$LATEST', '1'].includes(documentVersion)) throw new InvalidDocumentVersionError(documentName, documentVersion);
    const effective = resolveParameters(document, parameters);
    const executionTimeoutSeconds = readExecutionTimeout(document, effective);
    const notOnline = instanceIds.filter((id) => this.#agents.get(id)?.pingStatus !== 'Online');
    if (notOnline.length > 0) throw new InvalidInstanceIdError(notOnline);

    const requestedMs = this.#now();
    const cmd: CommandRecord = {
      commandId: randomUUID(),
      document,
      documentVersion,
      comment,
      parameters,
      effectiveParameters: effective,
      instanceIds,
      requestedMs,
      timeoutSeconds,
      executionTimeoutSeconds,
      deliveryDeadlineMs: requestedMs + timeoutSeconds * this.#msPerSecond,
      // AWS's "total timeout": delivery timeout plus execution timeout (Command.ExpiresAfter).
      expiresAfterMs: requestedMs + (timeoutSeconds + executionTimeoutSeconds) * this.#msPerSecond,
      maxConcurrency,
      maxErrors,
      invocations: new Map(),
    };
    this.#commands.set(cmd.commandId, cmd);
    this.#audit.push({
      kind: 'send-command',
      atMs: requestedMs,
      commandId: cmd.commandId,
      documentName,
      comment,
      instanceIds: [...instanceIds],
      parameters: structuredClone(parameters),
    });

    for (const instanceId of instanceIds) {
      const inv: InvocationRecord = {
        instanceId,
        registered: false,
        status: 'Pending',
        statusDetails: 'Pending',
        responseCode: NOT_RUN_RESPONSE_CODE,
        stdout: '',
        stderr: '',
      };
      cmd.invocations.set(instanceId, inv);
      // Run Command creates invocations asynchronously: right after SendCommand,
      // GetCommandInvocation answers InvocationDoesNotExist (the SDK waiter retries on it).
      this.#schedule(this.#registrationDelayMs, () => {
        inv.registered = true;
        this.#schedule(this.#deliveryDelayMs, () => this.#deliver(cmd, inv));
      });
      this.#schedule(cmd.deliveryDeadlineMs - requestedMs, () => {
        if (inv.status === 'Pending' || inv.status === 'Delayed') this.#finishTimedOut(inv, 'DeliveryTimedOut', NOT_RUN_RESPONSE_CODE);
      });
      // An invocation whose agent never reports a terminal state (it died mid-run) ends here.
      this.#schedule(cmd.expiresAfterMs - requestedMs, () => {
        if (!TERMINAL.has(inv.status)) {
          inv.registered = true;
          inv.run?.abort.abort(new Error('command expired'));
          inv.run = undefined;
          this.#finishTimedOut(inv, 'DeliveryTimedOut', NOT_RUN_RESPONSE_CODE);
        }
      });
    }
    return { Command: this.#renderCommand(cmd) };
  }

  #renderCommand(cmd: CommandRecord): JsonObject {
    return {
      CommandId: cmd.commandId,
      DocumentName: cmd.document.name,
      DocumentVersion: cmd.documentVersion,
      Comment: cmd.comment,
      ExpiresAfter: epochSeconds(cmd.expiresAfterMs),
      Parameters: cmd.parameters,
      InstanceIds: cmd.instanceIds,
      Targets: [],
      RequestedDateTime: epochSeconds(cmd.requestedMs),
      Status: 'Pending',
      StatusDetails: 'Pending',
      OutputS3Region: this.#region,
      OutputS3BucketName: '',
      OutputS3KeyPrefix: '',
      MaxConcurrency: cmd.maxConcurrency,
      MaxErrors: cmd.maxErrors,
      TargetCount: cmd.instanceIds.length,
      CompletedCount: 0,
      ErrorCount: 0,
      DeliveryTimedOutCount: 0,
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
      TimeoutSeconds: cmd.timeoutSeconds,
    };
  }

  #deliver(cmd: CommandRecord, inv: InvocationRecord): void {
    if (inv.status !== 'Pending' && inv.status !== 'Delayed') return;
    const record = this.#agents.get(inv.instanceId);
    if (!record || record.pingStatus !== 'Online' || !record.agent) {
      inv.status = 'Delayed';
      inv.statusDetails = 'Delayed';
      return;
    }
    const agent = record.agent;
    const abort = new AbortController();
    const run = { abort, agentGeneration: record.generation };
    inv.run = run;
    inv.status = 'InProgress';
    inv.statusDetails = 'InProgress';
    inv.startMs = this.#now();

    this.#schedule(cmd.executionTimeoutSeconds * this.#msPerSecond, () => {
      if (inv.run !== run || inv.status !== 'InProgress') return;
      // The agent kills the script and reports ExecutionTimedOut itself; an agent that is
      // gone cannot, and the invocation waits for the command to expire instead.
      if (this.#agents.get(inv.instanceId)?.generation !== run.agentGeneration) return;
      abort.abort(new Error('execution timed out'));
      inv.run = undefined;
      this.#finishTimedOut(inv, 'ExecutionTimedOut', STOPPED_PREEMPTIVELY_EXIT_CODE);
    });

    const parameters = structuredClone(cmd.effectiveParameters);
    Promise.resolve()
      .then(() =>
        cmd.document.executor({
          instanceId: inv.instanceId,
          agent,
          parameters,
          readParameter: (name, withDecryption) => this.#readOnNode(name, withDecryption),
          abortSignal: abort.signal,
        }),
      )
      .then(
        (result) => this.#complete(cmd, inv, run, checkResult(result)),
        (error: unknown) =>
          this.#complete(cmd, inv, run, {
            exitCode: 1,
            stdout: '',
            stderr: `failed to run commands: ${error instanceof Error ? error.message : String(error)}`,
          }),
      )
      .catch(() => {
        // #complete does not throw; this only keeps a bug from becoming an unhandled rejection.
      });
  }

  #complete(cmd: CommandRecord, inv: InvocationRecord, run: InvocationRecord['run'], result: DocumentResult): void {
    // Audit first: whatever a document printed on the node counts, even if it is never reported.
    this.#audit.push({
      kind: 'invocation-output',
      atMs: this.#now(),
      commandId: cmd.commandId,
      instanceId: inv.instanceId,
      exitCode: result.exitCode,
      stdout: result.stdout,
      stderr: result.stderr,
    });
    if (inv.run !== run || !run) return;
    if (this.#agents.get(inv.instanceId)?.generation !== run.agentGeneration) return;
    inv.run = undefined;
    // Cancelling: the agent is stopping the script; CancelCommand's own timer reports the end.
    if (inv.status !== 'InProgress') return;
    inv.stdout = result.stdout;
    inv.stderr = result.stderr;
    inv.responseCode = result.exitCode;
    inv.endMs = this.#now();
    inv.status = result.exitCode === 0 ? 'Success' : 'Failed';
    inv.statusDetails = inv.status;
  }

  #finishTimedOut(inv: InvocationRecord, details: 'DeliveryTimedOut' | 'ExecutionTimedOut', responseCode: number): void {
    inv.registered = true;
    inv.status = 'TimedOut';
    inv.statusDetails = details;
    inv.responseCode = responseCode;
    if (inv.startMs !== undefined) inv.endMs = this.#now();
  }

  /** The agent went away: running scripts die with it and their results can never be reported. */
  #loseRunningInvocations(instanceId: string): void {
    for (const { inv } of this.#invocationsOn(instanceId)) {
      if (inv.status === 'InProgress' || inv.status === 'Cancelling') {
        inv.run?.abort.abort(new Error('SSM agent stopped'));
      }
    }
  }

  *#invocationsOn(instanceId: string): Generator<{ cmd: CommandRecord; inv: InvocationRecord }> {
    for (const cmd of this.#commands.values()) {
      const inv = cmd.invocations.get(instanceId);
      if (inv) yield { cmd, inv };
    }
  }

  #getCommandInvocation(input: JsonObject): unknown {
    const commandId = reqString(input, 'CommandId', { min: 36, max: 36 });
    const instanceId = reqString(input, 'InstanceId');
    const pluginName = optString(input, 'PluginName', { min: 4 });
    const cmd = this.#commands.get(commandId);
    const inv = cmd?.invocations.get(instanceId);
    if (!cmd || !inv || !inv.registered) throw new InvocationDoesNotExistError(commandId, instanceId);
    if (pluginName !== undefined && pluginName !== cmd.document.pluginName) throw new InvalidPluginNameError(pluginName);
    const terminal = TERMINAL.has(inv.status);
    const startIso = inv.startMs !== undefined ? new Date(inv.startMs).toISOString() : '';
    const endIso = inv.endMs !== undefined ? new Date(inv.endMs).toISOString() : '';
    const elapsedMs = inv.startMs !== undefined ? (inv.endMs ?? this.#now()) - inv.startMs : undefined;
    return {
      CommandId: cmd.commandId,
      InstanceId: inv.instanceId,
      Comment: cmd.comment,
      DocumentName: cmd.document.name,
      DocumentVersion: cmd.documentVersion,
      PluginName: cmd.document.pluginName,
      ResponseCode: inv.responseCode,
      ExecutionStartDateTime: startIso,
      ExecutionElapsedTime: elapsedMs !== undefined ? `PT${(elapsedMs / 1000).toFixed(3)}S` : '',
      ExecutionEndDateTime: endIso,
      Status: inv.status,
      StatusDetails: inv.statusDetails,
      // AWS fills the content only once the plugin has finished.
      StandardOutputContent: terminal ? truncate(inv.stdout, STDOUT_CONTENT_LIMIT) : '',
      StandardOutputUrl: '',
      StandardErrorContent: terminal ? truncate(inv.stderr, STDERR_CONTENT_LIMIT) : '',
      StandardErrorUrl: '',
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  }

  #listCommandInvocations(input: JsonObject): unknown {
    const commandId = optString(input, 'CommandId', { min: 36, max: 36 });
    const instanceId = optString(input, 'InstanceId');
    const details = optBool(input, 'Details') ?? false;
    const maxResults = optInt(input, 'MaxResults', { min: 1, max: 50 }) ?? 50;
    const nextToken = optString(input, 'NextToken');
    const filters = optObjectList(input, 'Filters');
    if (filters !== undefined && filters.length > 0) throw new InvalidFilterKeyError(String(filters[0]?.['key'] ?? '(none)'));
    const rows: Array<{ key: string; cmd: CommandRecord; inv: InvocationRecord }> = [];
    for (const cmd of this.#commands.values()) {
      if (commandId !== undefined && cmd.commandId !== commandId) continue;
      for (const inv of cmd.invocations.values()) {
        if (!inv.registered || (instanceId !== undefined && inv.instanceId !== instanceId)) continue;
        // Newest first, as ListCommandInvocations does; the key sorts ascending.
        rows.push({ key: `${String(Number.MAX_SAFE_INTEGER - cmd.requestedMs).padStart(16, '0')}|${cmd.commandId}|${inv.instanceId}`, cmd, inv });
      }
    }
    rows.sort((a, b) => (a.key < b.key ? -1 : 1));
    const { items, nextToken: next } = page('ListCommandInvocations', rows, (r) => r.key, maxResults, nextToken);
    return {
      CommandInvocations: items.map(({ cmd, inv }) => this.#renderInvocation(cmd, inv, details)),
      ...(next !== undefined ? { NextToken: next } : {}),
    };
  }

  #renderInvocation(cmd: CommandRecord, inv: InvocationRecord, details: boolean): JsonObject {
    const terminal = TERMINAL.has(inv.status);
    // The console and CommandPlugin.Output join the two streams with this separator.
    const combined = inv.stderr.length > 0 ? `${inv.stdout}\n----------ERROR-------\n${inv.stderr}` : inv.stdout;
    return {
      CommandId: cmd.commandId,
      InstanceId: inv.instanceId,
      InstanceName: '',
      Comment: cmd.comment,
      DocumentName: cmd.document.name,
      DocumentVersion: cmd.documentVersion,
      RequestedDateTime: epochSeconds(cmd.requestedMs),
      Status: inv.status,
      StatusDetails: inv.statusDetails,
      TraceOutput: '',
      StandardOutputUrl: '',
      StandardErrorUrl: '',
      CommandPlugins: details
        ? [
            {
              Name: cmd.document.pluginName,
              Status: inv.status,
              StatusDetails: inv.statusDetails,
              ResponseCode: inv.responseCode,
              ...(inv.startMs !== undefined ? { ResponseStartDateTime: epochSeconds(inv.startMs) } : {}),
              ...(inv.endMs !== undefined ? { ResponseFinishDateTime: epochSeconds(inv.endMs) } : {}),
              Output: terminal ? truncate(combined, PLUGIN_OUTPUT_LIMIT) : '',
              StandardOutputUrl: '',
              StandardErrorUrl: '',
              OutputS3Region: this.#region,
              OutputS3BucketName: '',
              OutputS3KeyPrefix: '',
            },
          ]
        : [],
      ServiceRole: '',
      NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
      CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
    };
  }

  #cancelCommand(input: JsonObject): unknown {
    const commandId = reqString(input, 'CommandId', { min: 36, max: 36 });
    const instanceIds = optStringList(input, 'InstanceIds');
    const cmd = this.#commands.get(commandId);
    if (!cmd) throw new InvalidCommandIdError(commandId);
    for (const inv of cmd.invocations.values()) {
      if (instanceIds !== undefined && instanceIds.length > 0 && !instanceIds.includes(inv.instanceId)) continue;
      if (inv.status === 'Pending' || inv.status === 'Delayed') {
        inv.registered = true;
        inv.status = 'Cancelled';
        inv.statusDetails = 'Cancelled';
      } else if (inv.status === 'InProgress') {
        // The agent has to stop the script first: Cancelling until it reports back.
        inv.status = 'Cancelling';
        inv.statusDetails = 'Cancelling';
        const run = inv.run;
        run?.abort.abort(new Error('command cancelled'));
        this.#schedule(this.#deliveryDelayMs, () => {
          if (inv.status !== 'Cancelling') return;
          if (run && this.#agents.get(inv.instanceId)?.generation !== run.agentGeneration) return;
          inv.run = undefined;
          inv.status = 'Cancelled';
          inv.statusDetails = 'Cancelled';
          inv.responseCode = STOPPED_PREEMPTIVELY_EXIT_CODE;
          inv.endMs = this.#now();
        });
      }
    }
    return {};
  }

  #schedule(delayMs: number, fn: () => void): void {
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer);
        fn();
      },
      Math.max(0, delayMs),
    );
    timer.unref();
    this.#timers.add(timer);
  }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new SerializationError(`Request body exceeds ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', (cause) => reject(new SerializationError('Request body could not be read', { cause })));
  });
}

function readCommandParameters(input: JsonObject): Record<string, string[]> {
  const raw = input['Parameters'];
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new SerializationError('Parameters must be a map of string lists');
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries(raw as JsonObject)) {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new SerializationError(`Parameters.${key} must be a list of strings`);
    }
    out[key] = [...(value as string[])];
  }
  return out;
}

/**
 * SSM validates SendCommand's parameters against the document's declaration: a name the
 * document does not declare, a declared parameter without default left out, or a value
 * outside allowedValues / allowedPattern is InvalidParameters (SendCommand → Errors in the
 * SSM API reference; DocumentParameter: "Parameters without a default value are
 * required"). What the document runs with is every declared parameter, the value sent or
 * else the default.
 */
function resolveParameters(document: RegisteredDocument, sent: Record<string, string[]>): Record<string, string[]> {
  for (const key of Object.keys(sent)) {
    if (!document.parameters.has(key)) throw new InvalidParametersError(document.name, key, 'not-declared');
  }
  const effective: Record<string, string[]> = {};
  for (const [name, declared] of document.parameters) {
    const values = sent[name];
    if (values === undefined) {
      if (declared.defaultValues !== undefined) effective[name] = [...declared.defaultValues];
      else if (!declared.namesOnly) throw new InvalidParametersError(document.name, name, 'required');
      continue;
    }
    if (declared.type === 'String' && values.length !== 1) {
      throw new InvalidParametersError(document.name, name, 'invalid-value', 'a String parameter takes exactly one value');
    }
    for (const v of values) {
      if (declared.allowedValues !== undefined && !declared.allowedValues.includes(v)) {
        throw new InvalidParametersError(document.name, name, 'invalid-value', `allowed values are ${declared.allowedValues.join(', ')}`);
      }
      if (declared.allowedPattern !== undefined && !declared.allowedPattern.test(v)) {
        throw new InvalidParametersError(document.name, name, 'invalid-value', 'the value does not match the allowedPattern');
      }
    }
    effective[name] = [...values];
  }
  return effective;
}

/**
 * The step's timeout: the value of the parameter its timeoutSeconds refers to (one string
 * of whole seconds, 1..172800, the range AWS-RunShellScript's executionTimeout allows), or
 * the step's fixed timeout.
 */
function readExecutionTimeout(document: RegisteredDocument, parameters: Record<string, string[]>): number {
  const name = document.timeoutParameter;
  const raw = name === undefined ? undefined : parameters[name];
  if (name === undefined || raw === undefined) return document.defaultExecutionTimeoutSeconds;
  const text = raw.length === 1 ? raw[0] : undefined;
  const seconds = text !== undefined && /^[1-9][0-9]{0,5}$/.test(text) ? Number(text) : NaN;
  if (!(seconds >= 1 && seconds <= 172_800)) {
    throw new InvalidParametersError(document.name, name, 'invalid-value', 'must be one whole number of seconds between 1 and 172800');
  }
  return seconds;
}

/** An executor that breaks its contract fails its invocation, like a script that crashes. */
function checkResult(result: unknown): DocumentResult {
  const r = result as Partial<DocumentResult> | undefined;
  if (r && Number.isInteger(r.exitCode) && typeof r.stdout === 'string' && typeof r.stderr === 'string') {
    return { exitCode: r.exitCode as number, stdout: r.stdout, stderr: r.stderr };
  }
  return { exitCode: 1, stdout: '', stderr: 'failed to run commands: document executor returned no { exitCode, stdout, stderr }' };
}
