/**
 * Names of what `serverless deploy --stage <stage>` creates (serverless.yml):
 * the control table `vault-ha-control-<stage>` and the state machines
 * `vault-ha-control-plane-<stage>-replace-node` / `-failover-drill`. One place
 * for the CLI and the sandbox, which names its local state machines the same way.
 */
export const SERVICE_NAME = 'vault-ha-control-plane';
/** The stage the sandbox's local Step Functions endpoint names its state machines for. */
export const SANDBOX_STAGE = 'sandbox';

export type WorkflowKind = 'replace-node' | 'failover-drill';
export const WORKFLOW_KINDS: readonly WorkflowKind[] = ['replace-node', 'failover-drill'];

export function stageTableName(stage: string): string {
  return `vault-ha-control-${stage}`;
}

export function stateMachineName(stage: string, kind: WorkflowKind): string {
  return `${SERVICE_NAME}-${stage}-${kind}`;
}

/** The workflow a deployed state machine name belongs to (by its suffix), whatever the stage. */
export function workflowOfStateMachineName(name: string): WorkflowKind | undefined {
  return WORKFLOW_KINDS.find((k) => name.startsWith(`${SERVICE_NAME}-`) && name.endsWith(`-${k}`));
}

/** `arn:...:stateMachine:<name>` + execution name → `arn:...:execution:<name>:<execution>` (the ARN Step Functions gives it). */
export function executionArnOf(stateMachineArn: string, executionName: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${executionName}`;
}

/** Stage names serverless accepts and that keep every derived name valid. */
export const STAGE_PATTERN = /^[A-Za-z0-9-]{1,32}$/;
