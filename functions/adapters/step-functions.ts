/** Starting Step Functions executions (the controller's autoReplace hook). */
import { ExecutionAlreadyExists, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { toAdapterError } from './errors.js';

/**
 * Starts an execution under a deterministic name. Step Functions refuses a
 * second execution with the same name (for 90 days), which is exactly the
 * de-duplication wanted: the same outage never starts two replacements.
 */
export async function startExecutionOnce(
  sfn: SFNClient,
  stateMachineArn: string,
  name: string,
  input: Record<string, unknown>,
): Promise<{ result: 'started' | 'already-started'; executionArn?: string }> {
  try {
    const res = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    return { result: 'started', ...(res.executionArn ? { executionArn: res.executionArn } : {}) };
  } catch (err) {
    if (err instanceof ExecutionAlreadyExists || (err as { name?: string }).name === 'ExecutionAlreadyExists') {
      return { result: 'already-started' };
    }
    throw toAdapterError(err, stateMachineArn);
  }
}
