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
 */
import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { awsCall, errorCode } from './ec2-replacement.js';

/** The project's SSM documents and the only parameters each accepts (contract with serverless/ssm-documents.yml). */
export const DOCUMENT_PARAMETERS = {
  prepareNode: ['VolumeId', 'MountPoint', 'UnsealMode', 'SharesParameterPrefix', 'VaultAddr'],
  vaultControl: ['Action', 'TokenParameterName'],
} as const;

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
    super(`document ${documentName} takes no parameter "${parameter}" (only names and paths are ever sent)`);
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
  allowedParameters: readonly string[];
  /** SSM `executionTimeout` of the shell step, seconds. */
  executionTimeoutSeconds?: number;
  /** How long SSM keeps trying to deliver to an offline agent, seconds (min 30). */
  deliveryTimeoutSeconds?: number;
  comment?: string;
}

export async function sendDocument(ssm: SSMClient, req: SendDocumentRequest): Promise<string> {
  for (const key of Object.keys(req.parameters)) {
    if (!req.allowedParameters.includes(key)) throw new DisallowedParameterError(req.documentName, key);
  }
  const parameters: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(req.parameters)) parameters[k] = [v];
  if (req.executionTimeoutSeconds !== undefined) parameters.executionTimeout = [String(req.executionTimeoutSeconds)];
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
