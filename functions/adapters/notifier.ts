/**
 * SNS notifications: verdict transitions and dead-leader takeovers. Sends what
 * it is given and decides nothing; the builders below only put the facts the
 * controller already has into words.
 *
 * One Publish carries two renderings (SNS Developer Guide, "Publishing
 * messages" / Publish API, `MessageStructure: "json"`: the Message is a JSON
 * object with a `default` string and optional per-protocol strings; a
 * subscriber whose protocol has no key gets `default`):
 * - for people (`default`, `email`, `sms`): what happened, the evidence, the
 *   runbook step from the README with a link to its section, console links
 *   (target group, dashboard, execution) built from the region and names;
 * - for programs (`sqs`, `lambda`, `http`, `https`, `email-json`,
 *   `firehose`): the same notification as one JSON document, as before.
 * An email subscriber therefore reads plain text under the Subject line.
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { TakeoverEvidence, VerdictKind } from '../core/types.js';
import { toAdapterError } from './errors.js';

/** SNS rejects a Subject of 100 characters or more, with line breaks or control characters. */
export const MAX_SUBJECT_CHARS = 99;
const ELLIPSIS = '...';
const FALLBACK_SUBJECT = 'Vault HA notification';
/** SNS's limit for a whole message (all renderings together): 256 KiB. */
export const MAX_MESSAGE_BYTES = 262_144;

export interface Notification {
  cluster: string;
  subject: string;
  /** The machine-readable rendering (delivered as JSON to SQS, Lambda, HTTP(S), email-json and Firehose subscribers). */
  body: Record<string, unknown>;
  /** The human rendering (email, SMS, anything else); default: the subject and the body, indented. */
  text?: string;
}

/** Subscription protocols that get the JSON document (the others get the text). */
export const MACHINE_PROTOCOLS = ['sqs', 'lambda', 'http', 'https', 'email-json', 'firehose'] as const;

/** The `Message` of a `MessageStructure: "json"` Publish: one string per protocol, `default` for the rest. */
export function messageStructure(msg: Notification): Record<string, string> {
  const json = JSON.stringify({ ...msg.body, cluster: msg.cluster, subject: msg.subject });
  const text = msg.text ?? `${msg.subject}\n\n${JSON.stringify(msg.body, null, 2)}\n`;
  const out: Record<string, string> = { default: text, email: text, sms: snsSubject(msg.subject) };
  for (const p of MACHINE_PROTOCOLS) out[p] = json;
  return out;
}

/**
 * Publishes one message. Returns false (and calls nothing) when no topic is
 * configured; throws a named adapter error when SNS refuses.
 */
export async function notify(sns: SNSClient, topicArn: string | undefined, msg: Notification): Promise<boolean> {
  if (!topicArn) return false;
  try {
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: snsSubject(msg.subject),
        // The full subject travels in the message: the Subject line may be truncated.
        Message: boundedStructure(msg),
        MessageStructure: 'json',
        MessageAttributes: { cluster: { DataType: 'String', StringValue: msg.cluster } },
      }),
    );
    return true;
  } catch (err) {
    throw toAdapterError(err, topicArn);
  }
}

/** A huge evidence list must not make SNS refuse the whole notification: the text is cut first, then the JSON's lists. */
function boundedStructure(msg: Notification): string {
  let out = JSON.stringify(messageStructure(msg));
  if (Buffer.byteLength(out, 'utf8') <= MAX_MESSAGE_BYTES) return out;
  const text = (msg.text ?? msg.subject).slice(0, 4000) + '\n… (cut: the full notification is in the JSON rendering and the controller log)';
  out = JSON.stringify(messageStructure({ ...msg, text }));
  if (Buffer.byteLength(out, 'utf8') <= MAX_MESSAGE_BYTES) return out;
  return JSON.stringify(messageStructure({ ...msg, text, body: { summary: String(msg.body['summary'] ?? msg.subject).slice(0, 4000), truncated: true } }));
}

/**
 * A Subject SNS accepts: printable ASCII only (email subscribers see it as the
 * mail subject), whitespace runs collapsed to one space, at most 99 characters
 * with an ellipsis when cut.
 */
export function snsSubject(subject: string): string {
  const clean = subject
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  if (clean === '') return FALLBACK_SUBJECT;
  if (clean.length <= MAX_SUBJECT_CHARS) return clean;
  return clean.slice(0, MAX_SUBJECT_CHARS - ELLIPSIS.length).trimEnd() + ELLIPSIS;
}

/* ------------------------------------------------------------ where to look */

/** What the builders need to know about the deployment (from the functions' environment). */
export interface NotificationContext {
  /** The deployment stage (`VAULT_HA_STAGE`), for the dashboard and the CLI hint. */
  stage: string;
  /** The stack's region (Lambda's `AWS_REGION`), for the dashboard link. */
  region?: string;
  /** The CloudWatch dashboard's name (`VAULT_HA_DASHBOARD`, serverless.yml: `vault-ha-<stage>`). */
  dashboardName?: string;
  /** Web address of this repository's README (`VAULT_HA_RUNBOOK_URL`); without it, links are relative (`README.md#…`). */
  runbookUrl?: string;
}

/** The dashboard serverless.yml deploys for a stage. */
export function dashboardNameOf(stage: string): string {
  return `vault-ha-${stage}`;
}

export function notificationContextFromEnv(env: NodeJS.ProcessEnv = process.env): NotificationContext {
  const set = (k: string): string | undefined => (env[k] !== undefined && env[k]!.trim() !== '' ? env[k]!.trim() : undefined);
  const stage = set('VAULT_HA_STAGE') ?? 'local';
  const region = set('AWS_REGION') ?? set('AWS_DEFAULT_REGION');
  const runbookUrl = set('VAULT_HA_RUNBOOK_URL');
  return {
    stage,
    ...(region ? { region } : {}),
    dashboardName: set('VAULT_HA_DASHBOARD') ?? dashboardNameOf(stage),
    ...(runbookUrl ? { runbookUrl } : {}),
  };
}

/** The console's host for an ARN partition (the China and GovCloud partitions have their own). */
function consoleHost(partition: string, region: string): string {
  if (partition === 'aws-cn') return `https://${region}.console.amazonaws.cn`;
  if (partition === 'aws-us-gov') return `https://${region}.console.amazonaws-us-gov.com`;
  return `https://${region}.console.aws.amazon.com`;
}

function arnParts(arn: string): { partition: string; region: string } | undefined {
  const [prefix, partition, , region] = arn.split(':');
  return prefix === 'arn' && partition && region ? { partition, region } : undefined;
}

/** The target group's page in the EC2 console (region from the ARN). */
export function targetGroupConsoleUrl(targetGroupArn: string): string | undefined {
  const p = arnParts(targetGroupArn);
  return p ? `${consoleHost(p.partition, p.region)}/ec2/home?region=${p.region}#TargetGroup:targetGroupArn=${targetGroupArn}` : undefined;
}

/** A Step Functions execution's page (region from the ARN). */
export function executionConsoleUrl(executionArn: string): string | undefined {
  const p = arnParts(executionArn);
  return p ? `${consoleHost(p.partition, p.region)}/states/home?region=${p.region}#/v2/executions/details/${executionArn}` : undefined;
}

/** The stage's CloudWatch dashboard. */
export function dashboardConsoleUrl(region: string, name: string, partition = 'aws'): string {
  return `${consoleHost(partition, region)}/cloudwatch/home?region=${region}#dashboards/dashboard/${encodeURIComponent(name)}`;
}

/** A README section: absolute under `runbookUrl`, else relative to the repository. */
export function readmeLink(anchor: string, runbookUrl?: string): string {
  return `${runbookUrl ?? 'README.md'}#${anchor}`;
}

/* ------------------------------------------------------------ runbook */

export const VERDICTS_ANCHOR = 'verdicts-and-what-to-do';
export const REPLACE_ANCHOR = 'replace-a-node';

/**
 * README "Verdicts and what to do", the meaning and the operator's step of
 * each verdict, word for word (test/unit/adapters/notifier.test.ts keeps the
 * two in sync).
 */
export const VERDICT_RUNBOOK: Record<VerdictKind, { meaning: string; action: string }> = {
  healthy: { meaning: 'exactly one node claims active, the standbys agree, the lock (DynamoDB HA) is held', action: 'nothing' },
  'no-leader': {
    meaning: 'nobody claims active; the lock is absent, expired, or held but no longer renewed (the ~15 s after an active died)',
    action: 'short-lived during a failover. If it lasts: are the nodes sealed (unseal them), can they reach DynamoDB, is the lock table right?',
  },
  'split-brain': {
    meaning: 'two or more nodes claim active',
    action: 'find the node(s) that claim active without the lock (storage partition? a node pointed at another table?) and restart or seal them',
  },
  'stale-leader': {
    meaning: 'one node claims active but the evidence says it lost leadership (lock expired/absent, or the standbys name someone else)',
    action: "if it persists, check the node's DynamoDB connectivity and IAM; step it down or restart Vault there",
  },
  'zombie-leader': {
    meaning:
      'the lock is kept fresh (Expires advancing) but the node the standbys name as leader does not answer: no takeover can happen (Vault issue #26580)',
    action:
      'check the node (network ACLs, security groups, a wedged process). With `policy.fencing = "break-lock"` the controller deletes the lock item, conditionally on the exact Identity and Expires observed, after `policy.breakLockAfterTicks` ticks of evidence, so a standby can take over',
  },
  'leader-disagreement': {
    meaning: "the nodes' own views contradict each other (standbys split, or Raft standbys naming another node)",
    action: 'usually transient during an election; if it lasts, compare `vault operator raft list-peers` / `/v1/sys/leader` on every node',
  },
  flapping: {
    meaning: 'the active (or the lock identity) changed `policy.flappingChanges` times within `policy.flappingWindowTicks` ticks',
    action: 'look for a node that keeps losing its lock: clock skew, DynamoDB throttling, CPU starvation',
  },
  'probe-blind': {
    meaning:
      "no member answered the probe (or the controller could not read EC2/ELB, or — outcome `skipped: …` — another controller run holds the cluster's lease, so this run did not look)",
    action: "check the controller's VPC subnets, security groups (port 8200 from the Lambda), the CA bundle; the report's `error` says which AWS call failed",
  },
};

/* ------------------------------------------------------------ messages */

/** The part of a cluster's `loadBalancer` the links need (a target group ARN, or a Classic Load Balancer's name). */
export interface LoadBalancerRef {
  targetGroupArn?: string;
  loadBalancerName?: string;
}

interface Links {
  status: string;
  targetGroup?: string;
  dashboard?: string;
}

function linksOf(cluster: string, loadBalancer: LoadBalancerRef | undefined, ctx: NotificationContext): Links {
  const targetGroupArn = loadBalancer?.targetGroupArn;
  const region = ctx.region ?? (targetGroupArn ? arnParts(targetGroupArn)?.region : undefined);
  const partition = (targetGroupArn ? arnParts(targetGroupArn)?.partition : undefined) ?? 'aws';
  const targetGroup = targetGroupArn ? targetGroupConsoleUrl(targetGroupArn) : undefined;
  return {
    status: `npx vault-ha status --stage ${ctx.stage} --cluster ${cluster}`,
    ...(targetGroup ? { targetGroup } : {}),
    ...(region ? { dashboard: dashboardConsoleUrl(region, ctx.dashboardName ?? dashboardNameOf(ctx.stage), partition) } : {}),
  };
}

function whereToLook(links: Links): string[] {
  return [
    'WHERE TO LOOK',
    `  Status:        ${links.status}`,
    ...(links.targetGroup ? [`  Target group:  ${links.targetGroup}`] : []),
    ...(links.dashboard ? [`  Dashboard:     ${links.dashboard}`] : []),
  ];
}

const FOOTER = 'The same notification as one JSON document goes to SQS, Lambda, HTTP(S), email-json and Firehose subscribers.';

function bullets(items: readonly string[], empty: string): string[] {
  return items.length === 0 ? [`  - ${empty}`] : items.map((i) => `  - ${i}`);
}

export interface VerdictChange {
  cluster: string;
  /** The verdict last notified (null: the first notification of this cluster). */
  from: VerdictKind | null;
  to: VerdictKind;
  reasons: string[];
  /** The tick's one-sentence outcome. */
  outcome: string;
  /** The cluster's load balancer config: a target group gets a console link. */
  loadBalancer?: LoadBalancerRef;
  atMs: number;
}

/** A verdict transition, for people and for programs. */
export function verdictChangeNotification(change: VerdictChange, ctx: NotificationContext): Notification {
  const { cluster, from, to } = change;
  const runbook = VERDICT_RUNBOOK[to];
  const runbookUrl = readmeLink(VERDICTS_ANCHOR, ctx.runbookUrl);
  const links = linksOf(cluster, change.loadBalancer, ctx);
  const at = new Date(change.atMs).toISOString();
  const recovered = to === 'healthy';
  // The verdict alone in the Subject (the previous one is in the text): mail filters and tests match on it.
  const subject = recovered ? `Vault ${cluster}: healthy again` : `Vault ${cluster}: ${to}`;
  const text = [
    `Vault cluster ${cluster} (stage ${ctx.stage}): verdict ${from ?? '(none yet)'} -> ${to} at ${at}.`,
    '',
    'WHAT HAPPENED',
    `  The controller's verdict for ${cluster} is now ${to}${from ? ` (was ${from})` : ''}: ${runbook.meaning}.`,
    `  This tick: ${change.outcome}`,
    '',
    'EVIDENCE',
    ...bullets(change.reasons, 'no reasons were given'),
    '',
    `WHAT TO DO (README, "Verdicts and what to do", ${to})`,
    `  ${runbook.action}`,
    `  ${runbookUrl}`,
    '',
    ...whereToLook(links),
    '',
    FOOTER,
    '',
  ].join('\n');
  return {
    cluster,
    subject,
    text,
    body: {
      kind: 'verdict-change',
      cluster,
      from,
      to,
      at,
      reasons: change.reasons,
      outcome: change.outcome,
      runbook: { meaning: runbook.meaning, action: runbook.action, url: runbookUrl },
      links,
    },
  };
}

export interface TakeoverNotice {
  cluster: string;
  /** Vault's DynamoDB HA table the item was deleted from. */
  table: string;
  evidence: TakeoverEvidence;
  /** One sentence: what was deleted and on which evidence. */
  summary: string;
  loadBalancer?: LoadBalancerRef;
  atMs: number;
}

/** A dead-leader takeover (DESIGN §5.10): the lock item of a holder proven dead was deleted. */
export function takeoverNotification(t: TakeoverNotice, ctx: NotificationContext): Notification {
  const ev = t.evidence;
  const links = linksOf(t.cluster, t.loadBalancer, ctx);
  const replaceUrl = readmeLink(REPLACE_ANCHOR, ctx.runbookUrl);
  const at = new Date(t.atMs).toISOString();
  const text = [
    `Vault cluster ${t.cluster} (stage ${ctx.stage}): dead-leader takeover at ${at}.`,
    '',
    'WHAT HAPPENED',
    `  The controller deleted Vault's HA lock item (Identity ${ev.identity}, Expires ${ev.expiresAtNs}) from ${t.table}:`,
    `  its holder ${ev.holder} is dead, so a standby (${ev.standbys.join(', ') || 'none named'}) takes the lock within Vault's 1 s retry`,
    `  instead of waiting ${Math.max(0, ev.lockRemainingMs)} ms more for the lock's TTL. The delete was conditional on that exact Identity and Expires.`,
    '',
    'EVIDENCE',
    `  - ${ev.holder} holds the lock: ${ev.holderTie}`,
    `  - it is dead: ${ev.proofDetail} (instance ${ev.holderInstanceState})`,
    `  - its last renewal was ${ev.msSinceLastRenewal} ms ago (a live holder renews within ${ev.renewalDeadlineMs} ms)`,
    `  - standbys that can take over: ${ev.standbys.join(', ') || 'none'}`,
    '',
    'WHAT TO DO (README, "Replace a node")',
    `  Nothing urgent: a standby is taking over (the next verdicts say when). Find out why ${ev.holder} died`,
    `  (its instance state, Vault's log); if the node is gone or broken, replace it in its slot:`,
    `  npx vault-ha replace --stage ${ctx.stage} --cluster ${t.cluster} --slot <its slot>`,
    `  ${replaceUrl}`,
    '',
    ...whereToLook(links),
    '',
    FOOTER,
    '',
  ].join('\n');
  return {
    cluster: t.cluster,
    subject: `Vault ${t.cluster}: dead-leader takeover, lock of ${ev.holder} deleted`,
    text,
    body: {
      kind: 'dead-leader-takeover',
      cluster: t.cluster,
      action: 'dead-leader-takeover',
      result: 'deleted',
      at,
      table: t.table,
      deleted: { identity: ev.identity, value: ev.value, expiresAtNs: ev.expiresAtNs },
      evidence: ev,
      summary: t.summary,
      runbook: { url: replaceUrl },
      links,
    },
  };
}
