/**
 * The one EC2 call only the drill's restore makes: StartInstances of the
 * instance a `stop-active-instance` drill stopped. Idempotent (starting a
 * running instance is a no-op; EC2 API reference, StartInstances).
 */
import { StartInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { awsCall } from './aws-call.js';

export async function startInstance(ec2: EC2Client, instanceId: string): Promise<void> {
  await awsCall(`StartInstances ${instanceId}`, () => ec2.send(new StartInstancesCommand({ InstanceIds: [instanceId] })));
}
