/**
 * CloudWatch alarms the failover drill uses as stop conditions (input
 * `stopOnAlarms`): their current state, one DescribeAlarms call per
 * observation. Decides nothing. Loaded with `import()` only when a drill names
 * alarms, so the CloudWatch client costs nothing otherwise (scripts/build.mjs
 * splits it into its own chunk).
 *
 * DescribeAlarms takes up to 100 names (`AlarmNames`, CloudWatch API
 * reference) and answers metric and composite alarms in two lists; a name
 * that matches no alarm is simply absent from both, which the pre-check turns
 * into a refusal.
 */
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import type { AlarmState } from '../core/drill.js';
import { awsCall } from './aws-call.js';

let perContainer: CloudWatchClient | undefined;

/** The per-container client (region, credentials and endpoint from the SDK's standard configuration, DESIGN §4.2). */
export function cloudWatchClient(): CloudWatchClient {
  perContainer ??= new CloudWatchClient(process.env['AWS_MAX_ATTEMPTS'] ? {} : { maxAttempts: 3 });
  return perContainer;
}

const STATES: ReadonlySet<string> = new Set(['OK', 'ALARM', 'INSUFFICIENT_DATA']);

export async function describeAlarmStates(cw: CloudWatchClient, names: readonly string[]): Promise<AlarmState[]> {
  if (names.length === 0) return [];
  const out = await awsCall(`DescribeAlarms ${names.join(', ')}`, () =>
    cw.send(new DescribeAlarmsCommand({ AlarmNames: [...names].slice(0, 100), AlarmTypes: ['MetricAlarm', 'CompositeAlarm'], MaxRecords: 100 })),
  );
  const all = [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])];
  return all.flatMap((a) => {
    if (a.AlarmName === undefined || a.StateValue === undefined || !STATES.has(a.StateValue)) return [];
    return [{ name: a.AlarmName, state: a.StateValue as AlarmState['state'], ...(a.StateReason ? { reason: a.StateReason.slice(0, 200) } : {}) }];
  });
}
