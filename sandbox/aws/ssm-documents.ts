/**
 * Registry of SSM command documents for the sandbox's Run Command endpoint.
 *
 * A real SSM document is JSON/YAML run by the SSM Agent on the node; in the sandbox
 * a document is a TypeScript executor run against a simulated agent. The endpoint
 * (`ssm.ts`) owns delivery, status and timeouts; an executor only does the work and
 * reports an exit code and its output, like a shell script would.
 */

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
}

/** What a document executor receives for one invocation on one instance. */
export interface DocumentContext {
  readonly instanceId: string;
  readonly agent: SimAgent;
  /** SendCommand `Parameters` exactly as sent (values are lists, as in SSM). */
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

export interface DocumentOptions {
  /**
   * Parameter names the document declares. When given, SendCommand rejects any other
   * name with `InvalidParameters`, as SSM does for parameters a document does not declare.
   * `executionTimeout` is always accepted.
   */
  readonly allowedParameters?: readonly string[];
  /** Execution timeout when the command passes no `executionTimeout` (AWS-RunShellScript: 3600). */
  readonly defaultExecutionTimeoutSeconds?: number;
  /** Step name reported as PluginName (AWS-RunShellScript: "aws:runShellScript"). */
  readonly pluginName?: string;
}

export interface RegisteredDocument {
  readonly name: string;
  readonly executor: DocumentExecutor;
  readonly allowedParameters: ReadonlySet<string> | undefined;
  readonly defaultExecutionTimeoutSeconds: number;
  readonly pluginName: string;
}

/** SSM's document name pattern (CreateDocument `Name`). */
const DOCUMENT_NAME_PATTERN = /^[a-zA-Z0-9_\-.:/]{3,128}$/;

/** AWS-RunShellScript's default `executionTimeout`. */
export const DEFAULT_EXECUTION_TIMEOUT_SECONDS = 3600;

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
    this.#documents.set(name, {
      name,
      executor,
      allowedParameters: options.allowedParameters ? new Set([...options.allowedParameters, 'executionTimeout']) : undefined,
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
    allowedParameters: ['message', 'stderr', 'exitCode', 'readParameter'],
  });
}
