/**
 * The drill's Inject task: exactly one fault on the legitimate active named by
 * the pre-check. VaultControl actions go through SSM on the node (the token
 * for step-down and seal is read ON the node from its SecureString parameter:
 * invariant 7 applies to tokens as well); stop and terminate are EC2 calls.
 */
import {
  describeInstance,
  describeInterface,
  keepInterfaceOnTermination,
  keepVolumeOnTermination,
  stopInstance,
  terminateInstance,
} from '../../adapters/ec2-instances.js';
import { DOCUMENT_PARAMETERS, sendDocument } from '../../adapters/ssm-run.js';
import type { FaultPlan } from '../../core/drill.js';
import { attachmentsToProtect } from '../../core/replacement.js';
import { documentName, stepDownTokenParameter } from '../lib/workflow.js';
import { ctxOf, iso, preOf, type Ev, type FailoverDrillDeps, type Injection } from './context.js';

/** The VaultControl parameters of a fault (names, ports and durations only: never a secret). */
export function controlParameters(deps: Pick<FailoverDrillDeps, 'env'>, plan: FaultPlan): Record<string, string> {
  switch (plan.controlAction) {
    case 'step-down':
    case 'seal':
      // A parameter NAME: the node reads the token itself.
      return { Action: plan.controlAction, TokenParameterName: stepDownTokenParameter(deps, plan.cluster) };
    case 'partition-clients':
    case 'partition-storage':
      return {
        Action: plan.controlAction,
        ApiPort: String(plan.apiPort),
        ClusterPort: String(plan.clusterPort),
        ...(plan.controlAction === 'partition-storage' && plan.storage !== '' ? { HaStorage: plan.storage } : {}),
        FaultDurationSeconds: String(plan.faultDurationSeconds),
      };
    default:
      return { Action: plan.controlAction };
  }
}

export async function inject(deps: FailoverDrillDeps, event: Ev): Promise<Injection> {
  const ctx = ctxOf(event);
  const { plan } = preOf(event);
  const { ec2, ssm } = deps.clients();
  const protectedItems: string[] = [];
  let commandId = '';
  if (plan.kind === 'vault-control') {
    commandId = await sendDocument(ssm, {
      documentName: documentName(deps, 'vaultControl'),
      instanceId: plan.oldInstanceId,
      parameters: controlParameters(deps, plan),
      allowedParameters: DOCUMENT_PARAMETERS.vaultControl,
      executionTimeoutSeconds: 60,
      comment: `failover-drill ${ctx.executionName} ${plan.controlAction}`,
    });
  } else if (plan.kind === 'stop-instance') {
    await stopInstance(ec2, plan.oldInstanceId);
  } else {
    const old = await describeInstance(ec2, plan.oldInstanceId);
    if (old && old.state !== 'terminated') {
      // Order matters: DeleteOnTermination must be off BEFORE TerminateInstances, or EC2
      // deletes the slot's data volume / interface with the instance and replace-node has nothing to restore.
      const protect = attachmentsToProtect(old, { volumeId: plan.keepVolumeId, networkInterfaceId: plan.keepNetworkInterfaceId });
      if (protect.volumeDevice) {
        await keepVolumeOnTermination(ec2, old.instanceId, protect.volumeDevice);
        protectedItems.push(plan.keepVolumeId);
      }
      if (protect.interfaceAttachment) {
        const eni = await describeInterface(ec2, plan.keepNetworkInterfaceId);
        const attachmentId = eni?.attachment?.attachmentId;
        if (attachmentId) {
          await keepInterfaceOnTermination(ec2, plan.keepNetworkInterfaceId, attachmentId);
          protectedItems.push(plan.keepNetworkInterfaceId);
        }
      }
      await terminateInstance(ec2, old.instanceId);
    }
  }
  // The RTO's zero: the moment the fault request was accepted (an SSM command adds its delivery time to the RTO).
  const injectedAt = iso(deps.nowMs());
  deps.logger.log('info', 'fault injected', { cluster: ctx.cluster, fault: plan.description, commandId, injectedAt });
  return { injectedAt, commandId, protected: protectedItems };
}
