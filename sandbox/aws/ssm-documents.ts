/**
 * Registry of SSM command documents for the sandbox's Run Command endpoint.
 *
 * A real SSM document is JSON/YAML run by the SSM Agent on the node; in the sandbox
 * a document is a TypeScript executor run against a simulated agent. The endpoint
 * (`ssm.ts`) owns delivery, status and timeouts; an executor only does the work and
 * reports an exit code and its output, like a shell script would.
 *
 * Every registered document carries its declared parameters, as SSM knows them from
 * the document content: SendCommand rejects any other parameter and any missing
 * required one, and fills in defaults (see `ssm.ts`). For the project's own documents
 * the declaration is read from the real content in serverless/ssm-documents.yml
 * (`projectDocumentOptions`), so the sandbox cannot accept what AWS would refuse.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** Signals the sandbox can deliver to a simulated Vault process. */
export type VaultStopSignal = 'SIGTERM' | 'SIGKILL';

/**
 * What a simulated node offers to a command document. The sandbox implements one per
 * EC2 instance (backed by a simulated Vault node); this module never does.
 */
export interface SimAgent {
  readonly instanceId: string;
  /** Where the node's Vault listens, when the node runs one. */
  readonly vault?: { readonly baseUrl: string };
  /** Reported by DescribeInstanceInformation; sensible defaults are used when absent. */
  readonly ipAddress?: string;
  readonly computerName?: string;
  /** True when the EBS volume is attached to this instance (visible as a block device). */
  hasVolume(volumeId: string): boolean;
  /** Mount the attached volume; rejects when it is not attached. */
  mount(volumeId: string, mountPoint: string): Promise<void>;
  /** Start the Vault service (it comes up sealed). */
  startVault(): Promise<void>;
  stopVault(signal: VaultStopSignal): Promise<void>;
  /** What the failover drill's VaultControl actions do on the node (seal, iptables rules), when the node models them. */
  readonly drill?: SimDrillFaults;
}

/** The node-side effects of the drill's fault actions (serverless/ssm-documents.yml, VaultControl). */
export interface SimDrillFaults {
  /** sys/seal: Vault refuses on a standby ("cannot seal when in standby mode"); `down` when Vault does not run. */
  seal(): Promise<'sealed' | 'standby' | 'down'>;
  /** The API port refused to everyone but the node itself. */
  partitionClients(on: boolean): Promise<void>;
  /** The node's storage (DynamoDB) or Raft peers unreachable. */
  partitionStorage(on: boolean): void;
}

/** What a document executor receives for one invocation on one instance. */
export interface DocumentContext {
  readonly instanceId: string;
  readonly agent: SimAgent;
  /**
   * The command's parameters as the document sees them: every declared parameter, with
   * the value sent or else the declared default (values are lists, as in SSM).
   */
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  /**
   * Reads a Parameter Store value ON THE NODE (as `aws ssm get-parameter` run by the
   * instance role would). This is how secrets reach a node: never through `parameters`.
   * Rejects with the SSM error (e.g. ParameterNotFound) when the read fails.
   */
  readParameter(name: string, withDecryption: boolean): Promise<string>;
  /**
   * Aborted when the invocation stops mattering (execution timeout, CancelCommand, agent
   * gone). Long-running executors should stop at once; a result after abort is ignored.
   */
  readonly abortSignal: AbortSignal;
}

export interface DocumentResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type DocumentExecutor = (ctx: DocumentContext) => Promise<DocumentResult>;

/**
 * One entry of a document's `parameters` section (SSM document syntax, schema 2.2).
 * Only String and StringList are modelled: the types DocumentParameter reports for
 * Command documents (DescribeDocument → DocumentParameter.Type).
 */
export interface ParameterDeclaration {
  readonly type: 'String' | 'StringList';
  /** Without a default the parameter is required ("Parameters without a default value are required"). */
  readonly default?: string | readonly string[];
  readonly allowedValues?: readonly string[];
  readonly allowedPattern?: string;
}

export interface DocumentOptions {
  /**
   * The document's `parameters` section. SendCommand rejects any other name, and a
   * declared parameter without a default that is not sent, with `InvalidParameters`.
   * A document registered without `parameters` (or `allowedParameters`) declares none.
   */
  readonly parameters?: Readonly<Record<string, ParameterDeclaration>>;
  /**
   * @deprecated Names only (no types, defaults or patterns): each is an optional String
   * the executor sees only when sent. Prefer `parameters`, or `projectDocumentOptions()`
   * for the project's documents. Nothing is implied: `executionTimeout` is accepted
   * only when named here.
   */
  readonly allowedParameters?: readonly string[];
  /**
   * The step's `timeoutSeconds` when it is a reference to one of the declared parameters
   * (`timeoutSeconds: '{{ executionTimeout }}'`): that parameter's value (sent or default)
   * is the execution timeout. Defaults to `executionTimeout` when the document declares
   * a parameter of that name, as AWS-RunShellScript does; `null` says the step's timeout
   * is fixed (`defaultExecutionTimeoutSeconds`) whatever the document declares.
   */
  readonly timeoutParameter?: string | null;
  /** The step's fixed `timeoutSeconds`, when no `timeoutParameter` applies (aws:runShellScript default: 3600). */
  readonly defaultExecutionTimeoutSeconds?: number;
  /** Step name reported as PluginName (schema 2.2: the step's `name`; AWS-RunShellScript: "aws:runShellScript"). */
  readonly pluginName?: string;
}

export interface RegisteredDocument {
  readonly name: string;
  readonly executor: DocumentExecutor;
  /** Declared parameters: one without `defaultValues` (and not `namesOnly`) is required. */
  readonly parameters: ReadonlyMap<string, RegisteredParameter>;
  /** Declared parameter whose value is the execution timeout, if any. */
  readonly timeoutParameter: string | undefined;
  readonly defaultExecutionTimeoutSeconds: number;
  readonly pluginName: string;
}

export interface RegisteredParameter {
  readonly type: 'String' | 'StringList';
  /** The default as the value list the document sees; undefined when the parameter is required. */
  readonly defaultValues: readonly string[] | undefined;
  readonly allowedValues: readonly string[] | undefined;
  readonly allowedPattern: RegExp | undefined;
  /** Legacy names-only declaration: optional, and absent from the executor's view when not sent. */
  readonly namesOnly: boolean;
}

/** SSM's document name pattern (CreateDocument `Name`). */
const DOCUMENT_NAME_PATTERN = /^[a-zA-Z0-9_\-.:/]{3,128}$/;

/** aws:runShellScript's default `timeoutSeconds` (and AWS-RunShellScript's default `executionTimeout`). */
export const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 3600;

/** The parameter AWS-RunShellScript (and the project's documents) use as the step's timeoutSeconds. */
export const EXECUTION_TIMEOUT_PARAMETER = 'executionTimeout';

/**
 * AWS-RunShellScript's declared parameters (its document content, schema 1.2): for a
 * sandbox document that stands in for it. `executionTimeout` exists only here, not in
 * every document.
 */
export const AWS_RUN_SHELL_SCRIPT_PARAMETERS = {
  commands: { type: 'StringList' },
  workingDirectory: { type: 'String', default: '' },
  executionTimeout: {
    type: 'String',
    default: '3600',
    allowedPattern: '([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)',
  },
} as const satisfies Record<string, ParameterDeclaration>;

export class InvalidDocumentNameError extends Error {
  override readonly name = 'InvalidDocumentNameError';
  constructor(readonly documentName: string) {
    super(`document name "${documentName}" does not match ${DOCUMENT_NAME_PATTERN.source}`);
  }
}

export class DocumentAlreadyRegisteredError extends Error {
  override readonly name = 'DocumentAlreadyRegisteredError';
  constructor(readonly documentName: string) {
    super(`document "${documentName}" is already registered`);
  }
}

export class InvalidDocumentOptionError extends Error {
  override readonly name = 'InvalidDocumentOptionError';
  constructor(
    readonly documentName: string,
    readonly field: keyof DocumentOptions,
    detail: string,
  ) {
    super(`document "${documentName}": ${String(field)} ${detail}`);
  }
}

export class DocumentRegistry {
  readonly #documents = new Map<string, RegisteredDocument>();

  registerDocument(name: string, executor: DocumentExecutor, options: DocumentOptions = {}): void {
    if (!DOCUMENT_NAME_PATTERN.test(name)) throw new InvalidDocumentNameError(name);
    if (this.#documents.has(name)) throw new DocumentAlreadyRegisteredError(name);
    const timeout = options.defaultExecutionTimeoutSeconds ?? DEFAULT_EXECUTION_TIMEOUT_SECONDS;
    if (!Number.isInteger(timeout) || timeout < 1) {
      throw new InvalidDocumentOptionError(name, 'defaultExecutionTimeoutSeconds', 'must be a positive integer');
    }
    if (options.parameters !== undefined && options.allowedParameters !== undefined) {
      throw new InvalidDocumentOptionError(name, 'allowedParameters', 'cannot be combined with parameters');
    }
    const parameters = new Map<string, RegisteredParameter>();
    for (const p of options.allowedParameters ?? []) {
      parameters.set(p, { type: 'String', defaultValues: undefined, allowedValues: undefined, allowedPattern: undefined, namesOnly: true });
    }
    for (const [p, declaration] of Object.entries(options.parameters ?? {})) parameters.set(p, registeredParameter(name, p, declaration));
    const timeoutParameter =
      options.timeoutParameter === null
        ? undefined
        : (options.timeoutParameter ?? (parameters.has(EXECUTION_TIMEOUT_PARAMETER) ? EXECUTION_TIMEOUT_PARAMETER : undefined));
    if (timeoutParameter !== undefined && !parameters.has(timeoutParameter)) {
      throw new InvalidDocumentOptionError(name, 'timeoutParameter', `names "${timeoutParameter}", which the document does not declare`);
    }
    this.#documents.set(name, {
      name,
      executor,
      parameters,
      timeoutParameter,
      defaultExecutionTimeoutSeconds: timeout,
      pluginName: options.pluginName ?? 'aws:runShellScript',
    });
  }

  get(name: string): RegisteredDocument | undefined {
    return this.#documents.get(name);
  }

  names(): string[] {
    return [...this.#documents.keys()].sort();
  }
}

function registeredParameter(documentName: string, parameter: string, d: ParameterDeclaration): RegisteredParameter {
  const bad = (detail: string) => new InvalidDocumentOptionError(documentName, 'parameters', `${parameter}: ${detail}`);
  if (d.type !== 'String' && d.type !== 'StringList') throw bad(`type ${String(d.type)} is not modelled (String or StringList)`);
  let defaultValues: readonly string[] | undefined;
  if (d.default !== undefined) {
    if (d.type === 'String' && typeof d.default !== 'string') throw bad('the default of a String parameter must be a string');
    if (d.type === 'StringList' && !(Array.isArray(d.default) && d.default.every((v) => typeof v === 'string'))) {
      throw bad('the default of a StringList parameter must be a list of strings');
    }
    defaultValues = typeof d.default === 'string' ? [d.default] : [...d.default];
  }
  if (d.allowedValues !== undefined && !(Array.isArray(d.allowedValues) && d.allowedValues.every((v) => typeof v === 'string'))) {
    throw bad('allowedValues must be a list of strings');
  }
  let allowedPattern: RegExp | undefined;
  if (d.allowedPattern !== undefined) {
    try {
      // The whole value must match (Java's Pattern.matches, which SSM's validation uses).
      allowedPattern = new RegExp(`^(?:${d.allowedPattern})$`, 'u');
    } catch (cause) {
      throw bad(`allowedPattern is not a valid regular expression (${(cause as Error).message})`);
    }
  }
  return { type: d.type, defaultValues, allowedValues: d.allowedValues ? [...d.allowedValues] : undefined, allowedPattern, namesOnly: false };
}

// ---------------------------------------------------------------------------------------
// Declarations from real document content (SSM document syntax, schema 2.2)
// ---------------------------------------------------------------------------------------

export class InvalidDocumentContentError extends Error {
  override readonly name = 'InvalidDocumentContentError';
  constructor(
    readonly source: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${source}: ${field} ${detail}`);
  }
}

/**
 * DocumentOptions from a Command document's content (the `Content` of an
 * AWS::SSM::Document, as an object or JSON/YAML text): its `parameters` section, the
 * step name (PluginName) and the step's timeoutSeconds — fixed, or a `{{ parameter }}`
 * reference. One `aws:runShellScript` step is modelled, as the sandbox runs one
 * executor per document.
 */
export function commandDocumentOptions(content: unknown, source: string): DocumentOptions {
  const doc = typeof content === 'string' ? (parseYaml(content) as unknown) : content;
  if (!isRecord(doc)) throw new InvalidDocumentContentError(source, 'Content', 'is not a document');
  if (doc['schemaVersion'] !== '2.2') throw new InvalidDocumentContentError(source, 'schemaVersion', `is ${String(doc['schemaVersion'])}; only 2.2 is modelled`);
  const steps = doc['mainSteps'];
  const step = Array.isArray(steps) && steps.length === 1 ? (steps[0] as unknown) : undefined;
  if (!isRecord(step)) throw new InvalidDocumentContentError(source, 'mainSteps', 'must hold exactly one step');
  if (step['action'] !== 'aws:runShellScript') throw new InvalidDocumentContentError(source, 'mainSteps[0].action', `is ${String(step['action'])}; only aws:runShellScript is modelled`);
  if (typeof step['name'] !== 'string' || step['name'] === '') throw new InvalidDocumentContentError(source, 'mainSteps[0].name', 'is missing');

  const declared = doc['parameters'] ?? {};
  if (!isRecord(declared)) throw new InvalidDocumentContentError(source, 'parameters', 'is not a map');
  const parameters: Record<string, ParameterDeclaration> = {};
  for (const [name, raw] of Object.entries(declared)) {
    if (!isRecord(raw)) throw new InvalidDocumentContentError(source, `parameters.${name}`, 'is not a map');
    parameters[name] = {
      type: raw['type'] as ParameterDeclaration['type'],
      ...(raw['default'] !== undefined ? { default: raw['default'] as ParameterDeclaration['default'] } : {}),
      ...(raw['allowedValues'] !== undefined ? { allowedValues: raw['allowedValues'] as readonly string[] } : {}),
      ...(raw['allowedPattern'] !== undefined ? { allowedPattern: raw['allowedPattern'] as string } : {}),
    };
  }

  const inputs = isRecord(step['inputs']) ? step['inputs'] : {};
  const timeout = inputs['timeoutSeconds'];
  const reference = typeof timeout === 'string' ? /^\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$/.exec(timeout)?.[1] : undefined;
  let timing: Pick<DocumentOptions, 'timeoutParameter' | 'defaultExecutionTimeoutSeconds'>;
  if (timeout === undefined) timing = { timeoutParameter: null, defaultExecutionTimeoutSeconds: DEFAULT_EXECUTION_TIMEOUT_SECONDS };
  else if (reference !== undefined) timing = { timeoutParameter: reference };
  else if ((typeof timeout === 'number' || typeof timeout === 'string') && /^[1-9][0-9]*$/.test(String(timeout))) {
    timing = { timeoutParameter: null, defaultExecutionTimeoutSeconds: Number(timeout) };
  } else throw new InvalidDocumentContentError(source, 'mainSteps[0].inputs.timeoutSeconds', 'must be whole seconds or a {{ parameter }} reference');
  if (timing.timeoutParameter && !Object.hasOwn(parameters, timing.timeoutParameter)) {
    throw new InvalidDocumentContentError(source, 'mainSteps[0].inputs.timeoutSeconds', `refers to {{ ${timing.timeoutParameter} }}, which the document does not declare`);
  }
  return { parameters, ...timing, pluginName: step['name'] };
}

/** The project's SSM documents, as deployed (included from serverless.yml). */
export const PROJECT_DOCUMENTS_TEMPLATE = new URL('../../serverless/ssm-documents.yml', import.meta.url);

/**
 * DocumentOptions for one of the project's documents, read from its real content in
 * serverless/ssm-documents.yml by CloudFormation logical id (e.g.
 * `VaultHAPrepareNodeDocument`): the sandbox declares exactly what AWS will.
 */
export function projectDocumentOptions(logicalId: string, template: URL = PROJECT_DOCUMENTS_TEMPLATE): DocumentOptions {
  const source = `${template.pathname.split('/').at(-1) ?? 'template'}#${logicalId}`;
  // CloudFormation short-form tags (!Sub, !Ref) parse as plain values; only Content matters here.
  const resources = parseYaml(readFileSync(template, 'utf8'), { logLevel: 'silent' }) as unknown;
  const resource = isRecord(resources) ? resources[logicalId] : undefined;
  if (!isRecord(resource) || resource['Type'] !== 'AWS::SSM::Document') {
    throw new InvalidDocumentContentError(source, logicalId, 'is not an AWS::SSM::Document resource of the template');
  }
  const properties = isRecord(resource['Properties']) ? resource['Properties'] : {};
  if ((properties['DocumentType'] ?? 'Command') !== 'Command') throw new InvalidDocumentContentError(source, 'DocumentType', 'is not Command');
  return commandDocumentOptions(properties['Content'], source);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Name of the example document; tests register it, the project's sandbox does not. */
export const TEST_ECHO_DOCUMENT = 'test-echo';

/**
 * Example executor for tests. Parameters:
 * - `message`: lines written to stdout;
 * - `stderr`: lines written to stderr;
 * - `exitCode`: exit code (default 0);
 * - `readParameter`: a Parameter Store name read on the node with decryption; stdout
 *   reports only its length, the way a careful script proves it got a secret without
 *   printing it.
 */
export const testEchoExecutor: DocumentExecutor = async (ctx) => {
  const stdout: string[] = [...(ctx.parameters['message'] ?? [])];
  const stderr: string[] = [...(ctx.parameters['stderr'] ?? [])];
  for (const name of ctx.parameters['readParameter'] ?? []) {
    const value = await ctx.readParameter(name, true);
    stdout.push(`read ${name}: ${value.length} chars`);
  }
  const exitCode = Number(ctx.parameters['exitCode']?.[0] ?? '0');
  return { exitCode: Number.isInteger(exitCode) ? exitCode : 1, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
};

export function registerTestEchoDocument(registry: DocumentRegistry): void {
  registry.registerDocument(TEST_ECHO_DOCUMENT, testEchoExecutor, {
    parameters: {
      message: { type: 'StringList', default: [] },
      stderr: { type: 'StringList', default: [] },
      exitCode: { type: 'String', default: '0', allowedPattern: '-?[0-9]{1,3}' },
      readParameter: { type: 'StringList', default: [] },
    },
  });
}
