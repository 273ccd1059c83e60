/**
 * Child process of the failover benchmark: runs the jobs its parent sends (one
 * at a time, each in a fresh sandbox) and sends back each outcome. Started by
 * bench/failover.ts with `fork()`; exits when the parent says so or goes away.
 */
import { runOnce, type RunJob } from './failover-run.js';

// Local endpoints only: dummy credentials keep the SDK away from instance metadata.
process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

type Message = { kind: 'run'; job: RunJob } | { kind: 'exit' };

let queue = Promise.resolve();
process.on('message', (m: Message) => {
  if (m.kind === 'exit') {
    void queue.then(() => process.exit(0));
    return;
  }
  queue = queue.then(async () => {
    const outcome = await runOnce(m.job);
    process.send?.({ kind: 'outcome', outcome });
  });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ kind: 'ready' });
