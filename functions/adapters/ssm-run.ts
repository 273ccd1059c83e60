/**
 * SSM Run Command for the replace-node workflow: agent presence, SendCommand,
 * GetCommandInvocation.
 *
 * Invariant 7: unseal key shares never travel through here. Documents take
 * parameter NAMES and paths only (the node reads the SecureStrings itself), and
 * `sendDocument` refuses any parameter the document's allow-list does not
 * name, so a share cannot be smuggled in as an extra parameter. Command output
 * is reduced to a short tail for error messages; the documents print progress
 * only.
 *
 * SSM rejects SendCommand with `InvalidParameters` when it carries a parameter
 * the document does not declare ("You can only supply values to parameters
 * defined in the SSM document", SendCommand in the SSM API reference). There is
 * no built-in `executionTimeout`: AWS-RunShellScript has one only because that
 * document declares it. So `executionTimeout` is sent only to a document whose
 * allow-list (= its declared parameters) names it.
 */
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { awsCall, errorCode } from './aws-call.js';

/**
 * The project's SSM documents and every parameter each declares: exactly the
 * `parameters` section of each document in serverless/ssm-documents.yml (a
 * contract test compares the two). `executionTimeout` is one of the document's
 * own parameters (its step's timeoutSeconds), and `AllowFormat` gates mkfs on the
 * data volume.
 */
export const DOCUMENT_PARAMETERS = {
  prepareNode: ['VolumeId', 'MountPoint', 'UnsealMode', 'SharesParameterPrefix', 'VaultAddr', 'AllowFormat', 'executionTimeout'],
  // ApiPort, ClusterPort, HaStorage, FaultDurationSeconds: the drill's network faults (partition-clients / partition-storage).
  vaultControl: ['Action', 'TokenParameterName', 'ApiPort', 'ClusterPort', 'HaStorage', 'FaultDurationSeconds', 'executionTimeout'],
} as const;

/** The parameter that carries `SendDocumentRequest.executionTimeoutSeconds`, for documents that declare it. */
export const EXECUTION_TIMEOUT_PARAMETER = 'executionTimeout';

export const DEFAULT_DOCUMENT_NAMES = {
  prepareNode: 'VaultHA-PrepareNode',
  vaultControl: 'VaultHA-VaultControl',
} as const;

export class DisallowedParameterError extends Error {
  override readonly name = 'DisallowedParameterError';
  constructor(
    readonly documentName: string,
    readonly parameter: string,
  ) {
    super(`document ${documentName} declares no parameter "${parameter}": SSM would reject the command with InvalidParameters`);
  }
}

/** `PingStatus` of the instance's SSM agent (`Online`, `ConnectionLost`, `Inactive`), undefined when not registered yet. */
export async function agentPingStatus(ssm: SSMClient, instanceId: string): Promise<string | undefined> {
  const res = await awsCall(`DescribeInstanceInformation ${instanceId}`, () =>
    ssm.send(new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] })),
  );
  return res.InstanceInformationList?.find((i) => i.InstanceId === instanceId)?.PingStatus;
}

export interface SendDocumentRequest {
  documentName: string;
  instanceId: string;
  parameters: Record<string, string>;
  /** Every parameter the document declares; nothing else is ever sent. */
  allowedParameters: readonly string[];
  /**
   * The document's `executionTimeout` parameter, seconds. Only for a document that
   * declares it (DisallowedParameterError otherwise); omitted, the document's default applies.
   */
  executionTimeoutSeconds?: number;
  /** How long SSM keeps trying to deliver to an offline agent, seconds (min 30). */
  deliveryTimeoutSeconds?: number;
  comment?: string;
}

export async function sendDocument(ssm: SSMClient, req: SendDocumentRequest): Promise<string> {
  const values: Record<string, string> = { ...req.parameters };
  if (req.executionTimeoutSeconds !== undefined) values[EXECUTION_TIMEOUT_PARAMETER] = String(req.executionTimeoutSeconds);
  const parameters: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(values)) {
    if (!req.allowedParameters.includes(k)) throw new DisallowedParameterError(req.documentName, k);
    parameters[k] = [v];
  }
  const res = await awsCall(`SendCommand ${req.documentName} ${req.instanceId}`, () =>
    ssm.send(
      new SendCommandCommand({
        DocumentName: req.documentName,
        InstanceIds: [req.instanceId],
        Parameters: parameters,
        TimeoutSeconds: Math.max(30, req.deliveryTimeoutSeconds ?? 120),
        ...(req.comment ? { Comment: req.comment.slice(0, 100) } : {}),
      }),
    ),
  );
  const id = res.Command?.CommandId;
  if (!id) throw new Error(`SendCommand ${req.documentName} returned no CommandId`);
  return id;
}

export interface InvocationView {
  /** Pending | InProgress | Delayed | Success | Cancelled | TimedOut | Failed | Cancelling */
  status: string;
  statusDetails: string;
  responseCode: number;
  /** Last lines of stdout/stderr (progress only: the documents never print a secret). */
  outputTail: string;
}

const TAIL_CHARS = 600;

/**
 * The invocation of `commandId` on `instanceId`, or undefined while SSM does
 * not know it yet: right after SendCommand, GetCommandInvocation answers
 * InvocationDoesNotExist for a short while (eventual consistency).
 */
export async function commandInvocation(ssm: SSMClient, commandId: string, instanceId: string): Promise<InvocationView | undefined> {
  try {
    const res = await awsCall(`GetCommandInvocation ${commandId}`, () =>
      ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId })),
    );
    const out = [res.StandardOutputContent ?? '', res.StandardErrorContent ?? ''].filter((s) => s !== '').join('\n');
    return {
      status: res.Status ?? 'Pending',
      statusDetails: res.StatusDetails ?? '',
      responseCode: res.ResponseCode ?? -1,
      outputTail: out.length > TAIL_CHARS ? out.slice(-TAIL_CHARS) : out,
    };
  } catch (e) {
    if (errorCode(e) === 'InvocationDoesNotExist') return undefined;
    throw e;
  }
}
