/**
 * The packaged template's IAM, checked against the AWS calls the code and the
 * state machines really make, as AWS authorizes each of them.
 *
 * The calls are found by scanning, not listed by hand: every `new XxxCommand`
 * (and `paginateXxx`) from an `@aws-sdk/client-*` module in the code a function
 * bundles, and every Task of the packaged state machine definitions. Each call
 * must have a row in CALLS below, which says which resources AWS authorizes the
 * action on and with which condition context, and where AWS documents that. A
 * new call without a row fails the test until someone writes the row.
 *
 * Principals: the code runs under its function's role; an SDK-integration or
 * optimized Task runs under its state machine's role, and so does invoking a
 * task function. A call is allowed when test/support/iam-policy.ts, given that
 * role's statements (and the resource's policy: key policy, topic policy) and
 * the request context, finds an Allow and no Deny.
 *
 * Documentation the rows cite (short names used below):
 * - [EC2-SAR] Service Authorization Reference, "Actions, resources, and condition
 *   keys for Amazon EC2": resource types each action authorizes; Describe*
 *   actions have none (Resource "*").
 * - [EC2-RUN] EC2 User Guide, "Example policies for working with the AWS CLI or
 *   an AWS SDK" > "Launch instances (RunInstances)": a launch uses the image,
 *   subnet, security groups, key pair and launch template, and creates the
 *   instance, a network interface (launch into a subnet) and volumes (EBS-backed
 *   AMI); RunInstances never attaches an existing volume.
 * - [EC2-TAGCREATE] EC2 User Guide, "Grant permission to tag resources during
 *   creation": tags requested at creation (also by a launch template) are
 *   authorized as ec2:CreateTags with ec2:CreateAction; a resource being created
 *   is described by aws:RequestTag, not aws:ResourceTag.
 * - [EC2-VOL] EC2 User Guide, example policies > "Work with volumes" > "Attach
 *   and detach volumes": AttachVolume/DetachVolume authorize the instance and
 *   the volume, each with its own tags.
 * - [PASSROLE] IAM User Guide, "Grant a user permissions to pass a role to an
 *   AWS service": iam:PassRole with iam:PassedToService.
 * - [SSM-RC] Systems Manager User Guide, "Restricting Run Command access based
 *   on tags": SendCommand authorizes the document and each managed node, the
 *   node's tags as ssm:resourceTag/<key>.
 * - [SSM-PS] Systems Manager User Guide, "How Parameter Store authorizes
 *   parameter retrieval" (GetParametersByPath: the path, not the parameters).
 * - [DDB-FGAC] DynamoDB Developer Guide, "Using IAM policy conditions for
 *   fine-grained access control" (dynamodb:LeadingKeys).
 * - [ELB-SAR] Service Authorization Reference, "... for Elastic Load Balancing
 *   V2": Register/DeregisterTargets on the target group; Describe* on "*".
 * - [ELB-SAR-CLASSIC] Service Authorization Reference, "Actions, resources, and
 *   condition keys for Elastic Load Balancing" (the Classic API):
 *   Register/DeregisterInstances on the `loadbalancer` resource
 *   (arn:...:elasticloadbalancing:<region>:<account>:loadbalancer/<name>);
 *   Describe* on "*".
 * - [SNS-SSE] SNS Developer Guide, "Encryption at rest" / "Key management": a
 *   publisher to an encrypted topic needs kms:GenerateDataKey* and kms:Decrypt
 *   on its key, called by SNS on its behalf (kms:ViaService sns.<region>); AWS
 *   services publishing (CloudWatch alarms) need the same in the key policy.
 * - [CW-SNS] AWS re:Post, "How do I configure a CloudWatch alarm with an
 *   encrypted SNS topic?" and "Why didn't I receive an SNS notification for my
 *   CloudWatch alarm trigger?": alias/aws/sns cannot be used by alarms; a topic
 *   policy lets cloudwatch.amazonaws.com publish (aws:SourceArn/SourceAccount).
 * - [SFN-SDK] Step Functions Developer Guide, "AWS SDK service integrations" and
 *   "IAM policies for integrated services": an `aws-sdk:<service>:<apiAction>`
 *   Task calls <iam prefix>:<ApiAction> as the state machine's role.
 * - [SFN-LAMBDA] Step Functions Developer Guide, "Invoke a Lambda function":
 *   lambda:InvokeFunction on the function.
 * - [SFN-START] Step Functions Developer Guide, "IAM policies": StartExecution
 *   on the state machine.
 * - [SFN-SYNC] Step Functions Developer Guide, "IAM policies for integrated
 *   services" > Step Functions, synchronous (`states:startExecution.sync`):
 *   StartExecution on the state machine, DescribeExecution and StopExecution on
 *   its executions, events:PutTargets / PutRule / DescribeRule on the managed
 *   rule StepFunctionsGetEventsForStepFunctionsExecutionRule.
 * - [LAMBDA-SRC] Lambda Developer Guide, "Giving Lambda functions access to
 *   resources in an Amazon VPC" (the execution role needs Create/Delete/Describe
 *   NetworkInterfaces and Assign/UnassignPrivateIpAddresses; Lambda makes those
 *   calls) and "Using source function ARN to control function access behavior"
 *   (calls from the function's code carry lambda:SourceFunctionArn, the
 *   network-interface calls Lambda makes for a VPC function do not).
 * - [CW-ALARMS] Service Authorization Reference, "Actions, resources, and
 *   condition keys for Amazon CloudWatch": DescribeAlarms (Read) takes the
 *   `alarm` resource type; CloudWatch API Reference, DescribeAlarms: composite
 *   alarms are returned only when the permission is on "*", so it is granted
 *   on "*" (stopOnAlarms may name composite alarms).
 */
import { beforeAll, describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { EC2Client, RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { parse as parseYaml } from 'yaml';
import { launchReplacement, REPLACED_BY_TAG } from '../../functions/adapters/ec2-replacement.js';
import { packagedService, repoRoot, TEST_CLUSTER_TAG_VALUES } from '../support/packaged-service.js';
import {
  authorize,
  FAKE,
  getAttTarget,
  invokedFunction,
  stateMachinesOf,
  statementsOf,
  tasksOf,
  TemplateResolver,
  type Authorization,
  type Context,
  type Decision,
  type PolicyDocument,
  type Principal,
  type Statement,
} from '../support/iam-policy.js';

/* ------------------------------------------------------------------ scanning */

/** IAM service prefix of each AWS SDK v3 client package the code uses. */
const SDK_CLIENT_PREFIX: Record<string, string> = {
  '@aws-sdk/client-cloudwatch': 'cloudwatch',
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-elastic-load-balancing-v2': 'elasticloadbalancing',
  '@aws-sdk/client-elastic-load-balancing': 'elasticloadbalancing',
  '@aws-sdk/client-sfn': 'states',
  '@aws-sdk/client-sns': 'sns',
  '@aws-sdk/client-ssm': 'ssm',
};

/** IAM service prefix of each `arn:aws:states:::aws-sdk:<service>:` name [SFN-SDK]. */
const SFN_SDK_SERVICE_PREFIX: Record<string, string> = {
  ec2: 'ec2',
  elasticloadbalancingv2: 'elasticloadbalancing',
  elasticloadbalancing: 'elasticloadbalancing',
  ssm: 'ssm',
  sns: 'sns',
  dynamodb: 'dynamodb',
  lambda: 'lambda',
  sfn: 'states',
};

interface CallSite {
  /** `prefix:Action` */
  action: string;
  /** Repository-relative file (code) or `StateMachine.State` (ASL). */
  where: string;
}

/** AWS SDK calls made by one source file (commands constructed, paginators used). */
function sdkCallsIn(file: string): CallSite[] {
  const src = readFileSync(path.join(repoRoot, file), 'utf8');
  const imported = new Map<string, string>(); // local name -> client package
  for (const m of src.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*['"](@aws-sdk\/client-[a-z0-9-]+)['"]/g)) {
    if (/^\s*import\s+type\b/.test(m[0])) continue;
    for (const part of m[1]!.split(',')) {
      const spec = part.trim();
      if (spec === '' || spec.startsWith('type ')) continue;
      const [name, alias] = spec.split(/\s+as\s+/);
      imported.set((alias ?? name)!.trim(), m[2]!);
    }
  }
  const out: CallSite[] = [];
  const seen = new Set<string>();
  const add = (local: string, op: string): void => {
    const pkg = imported.get(local);
    if (!pkg) return;
    const prefix = SDK_CLIENT_PREFIX[pkg];
    if (!prefix) throw new Error(`${file}: no IAM prefix known for ${pkg}: add it to SDK_CLIENT_PREFIX`);
    const action = `${prefix}:${op}`;
    if (!seen.has(action)) out.push({ action, where: file });
    seen.add(action);
  };
  const namespaces = new Map<string, string>(); // `import * as ns from '@aws-sdk/client-x'`
  for (const m of src.matchAll(/import\s+\*\s+as\s+(\w+)\s+from\s*['"](@aws-sdk\/client-[a-z0-9-]+)['"]/g)) namespaces.set(m[1]!, m[2]!);
  for (const m of src.matchAll(/new\s+(?:(\w+)\.)?([A-Za-z0-9_]+)Command\s*\(/g)) {
    const [, ns, op] = m as unknown as [string, string | undefined, string];
    if (ns !== undefined) {
      const pkg = namespaces.get(ns);
      if (pkg) imported.set(`${ns}.${op}Command`, pkg);
      add(`${ns}.${op}Command`, op);
    } else {
      add(`${op}Command`, op);
    }
    // A command the scan cannot attribute to a client package would go unchecked: refuse it.
    if (/@aws-sdk\/client-/.test(src) && !imported.has(ns !== undefined ? `${ns}.${op}Command` : `${op}Command`)) {
      throw new Error(`${file}: cannot tell which AWS SDK client ${m[0]} belongs to`);
    }
  }
  for (const m of src.matchAll(/\bpaginate([A-Za-z0-9_]+)\s*\(/g)) add(`paginate${m[1]}`, m[1]!);
  return out;
}

/** The repository files a handler bundles: its relative-import closure (type-only imports excluded). */
function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = readFileSync(path.join(repoRoot, file), 'utf8');
    const specs = [
      ...[...src.matchAll(/(?:^|\n)\s*(import|export)\s+(?!type\b)[^'"]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[2]!),
      ...[...src.matchAll(/(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!),
      ...[...src.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
    ];
    for (const spec of specs) {
      let target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      if (!target.endsWith('.ts')) target = statSafe(path.join(repoRoot, target))?.isDirectory() ? `${target}/index.ts` : `${target}.ts`;
      queue.push(target);
    }
  }
  return [...seen].sort();
}

function statSafe(p: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

function allSourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...allSourceFiles(rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/* --------------------------------------------------------------- the world */

const { partition: P, region: R, accountId: A } = FAKE;
const ec2Arn = (type: string, id: string): string => `arn:${P}:ec2:${R}:${A}:${type}/${id}`;
const CLUSTER_TAG = { 'vault-cluster': 'prod' };

/** Condition context of an existing resource with these tags (EC2 supplies both key forms [EC2-SAR]). */
function existingTags(tags: Record<string, string>): Context {
  const ctx: Context = {};
  for (const [k, v] of Object.entries(tags)) {
    ctx[`aws:ResourceTag/${k}`] = v;
    ctx[`ec2:ResourceTag/${k}`] = v;
  }
  return ctx;
}

/** Condition context of a resource being created with these requested tags [EC2-TAGCREATE]. */
function requestedTags(tags: Record<string, string>): Context {
  const ctx: Context = {};
  for (const [k, v] of Object.entries(tags)) ctx[`aws:RequestTag/${k}`] = v;
  if (Object.keys(tags).length > 0) ctx['aws:TagKeys'] = Object.keys(tags);
  return ctx;
}

/** What a launch template holds (the parts IAM sees when RunInstances uses it). */
interface LaunchTemplateFixture {
  id: string;
  tags: Record<string, string>;
  imageId: string;
  keyName?: string;
  securityGroupIds: string[];
  instanceProfileRoleArn?: string;
  /** TagSpecifications of the template, by resource type. */
  tagSpecifications: Partial<Record<'instance' | 'volume' | 'network-interface', Record<string, string>>>;
}

interface World {
  resolver: TemplateResolver;
  /** Environment of the task functions (resolved). */
  env: Record<string, string>;
  controlTableArn: string;
  /** The Vault lock table at serverless.yml's default `vaultLockTableArns`. */
  lockTableArn: string;
  /** A target group under the default `targetGroupArns` pattern. */
  targetGroupArn: string;
  /** The Classic Load Balancer of the default `classicLoadBalancerArns`. */
  classicLoadBalancerArn: string;
  nodeRoleArn: string;
  launchTemplate: LaunchTemplateFixture;
}

interface Scenario {
  name: string;
  /** Every authorization the call needs; all must be allowed. */
  auths: Authorization[];
}

interface CallRule {
  doc: string;
  scenarios: (w: World, site: CallSite) => Scenario[] | Promise<Scenario[]>;
}

const ANY = (action: string, doc: string): CallRule => ({ doc, scenarios: () => [{ name: 'no resource-level permissions', auths: [{ action, resource: '*' }] }] });

const oldInstance = ec2Arn('instance', 'i-0old000000000000a');
/** The replacement: launched with the cluster tag, so it carries it from then on. */
const newInstance = ec2Arn('instance', 'i-0new000000000000a');
const dataVolume = ec2Arn('volume', 'vol-0a');
const slotEni = ec2Arn('network-interface', 'eni-0a');

/** RunInstances as launchReplacement sends it, captured from a recording client. */
async function runInstancesInput(withInterface: boolean): Promise<RunInstancesCommandInput> {
  const sent: RunInstancesCommandInput[] = [];
  const ec2 = {
    send: async (cmd: { input: RunInstancesCommandInput }) => {
      sent.push(cmd.input);
      return { Instances: [{ InstanceId: 'i-0new000000000000a', State: { Name: 'pending' } }] };
    },
  } as unknown as EC2Client;
  await launchReplacement(ec2, {
    launchTemplateId: 'lt-0123456789abcdef0',
    launchTemplateVersion: '$Latest',
    availabilityZone: `${R}a`,
    subnetId: 'subnet-0a',
    ...(withInterface ? { networkInterfaceId: 'eni-0a' } : {}),
    clientToken: 'replace-prod-vault-a-1',
    // The tags the replace-node handler's launch step passes.
    tags: { 'vault-cluster': 'prod', 'vault-slot': 'vault-a', [REPLACED_BY_TAG]: 'exec-1', Name: 'prod-vault-a' },
  });
  assert.equal(sent.length, 1);
  return sent[0]!;
}

/**
 * Every authorization one RunInstances request needs [EC2-RUN][EC2-SAR], plus
 * the implied CreateTags for requested tags [EC2-TAGCREATE] and PassRole for
 * the template's instance profile [PASSROLE].
 */
function runInstancesAuths(input: RunInstancesCommandInput, lt: LaunchTemplateFixture): Authorization[] {
  const requestTags = (type: 'instance' | 'volume' | 'network-interface'): Record<string, string> => {
    const fromRequest: Record<string, string> = {};
    for (const spec of input.TagSpecifications ?? []) {
      if (spec.ResourceType === type) for (const t of spec.Tags ?? []) fromRequest[t.Key!] = t.Value ?? '';
    }
    return { ...lt.tagSpecifications[type], ...fromRequest };
  };
  const auths: Authorization[] = [];
  const created = (type: 'instance' | 'volume' | 'network-interface'): void => {
    // A resource being created has no id yet and no tags: only the tags requested for it.
    const tags = requestTags(type);
    const resource = ec2Arn(type, '*');
    auths.push({ action: 'ec2:RunInstances', resource, context: requestedTags(tags) });
    if (Object.keys(tags).length > 0) {
      auths.push({ action: 'ec2:CreateTags', resource, context: { ...requestedTags(tags), 'ec2:CreateAction': 'RunInstances' } });
    }
  };
  created('instance');
  created('volume'); // the root volume, from the AMI's snapshot
  const reused = input.NetworkInterfaces?.find((n) => n.NetworkInterfaceId !== undefined);
  if (reused) {
    // The slot's own interface, attached to the new instance: an existing resource with its tags.
    auths.push({ action: 'ec2:RunInstances', resource: ec2Arn('network-interface', reused.NetworkInterfaceId!), context: existingTags(CLUSTER_TAG) });
    auths.push({ action: 'ec2:RunInstances', resource: ec2Arn('subnet', 'subnet-0a') });
    auths.push({ action: 'ec2:RunInstances', resource: ec2Arn('security-group', 'sg-0eni0000000000000') });
  } else {
    assert.ok(input.SubnetId, 'a launch without an interface names the subnet');
    created('network-interface');
    auths.push({ action: 'ec2:RunInstances', resource: ec2Arn('subnet', input.SubnetId!) });
    for (const sg of lt.securityGroupIds) auths.push({ action: 'ec2:RunInstances', resource: ec2Arn('security-group', sg) });
  }
  assert.equal(input.LaunchTemplate?.LaunchTemplateId, lt.id);
  auths.push({ action: 'ec2:RunInstances', resource: ec2Arn('launch-template', lt.id), context: existingTags(lt.tags) });
  auths.push({ action: 'ec2:RunInstances', resource: `arn:${P}:ec2:${R}::image/${lt.imageId}` });
  if (lt.keyName) auths.push({ action: 'ec2:RunInstances', resource: ec2Arn('key-pair', lt.keyName) });
  if (lt.instanceProfileRoleArn) {
    auths.push({ action: 'iam:PassRole', resource: lt.instanceProfileRoleArn, context: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
  }
  return auths;
}

/** The topic an SNS publish goes to, and its key (for the implied KMS calls [SNS-SSE]). */
function snsPublishAuths(w: World): Authorization[] {
  const topicArn = w.env.VAULT_HA_NOTIFY_TOPIC_ARN!;
  const key = topicKey(w.resolver, topicArn);
  const kmsCtx: Context = { 'kms:ViaService': `sns.${R}.amazonaws.com`, 'kms:CallerAccount': A };
  return [
    { action: 'sns:Publish', resource: topicArn },
    { action: 'kms:GenerateDataKey', resource: key.arn, context: kmsCtx },
    { action: 'kms:Decrypt', resource: key.arn, context: kmsCtx },
  ];
}

const TAGGED = existingTags(CLUSTER_TAG);

/** Which resources AWS authorizes each call on, and with which context. */
const CALLS: Record<string, CallRule> = {
  // --- DynamoDB [DDB-FGAC]: the table ARN; LeadingKeys is the partition key of the items touched.
  ...Object.fromEntries(
    ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'].map((op) => [
      `dynamodb:${op}`,
      {
        doc: 'DDB-FGAC',
        scenarios: (w: World, site: CallSite) =>
          site.where.endsWith('lock-reader.ts')
            ? // Vault's HA lock item: Path = core, Key = _lock (DESIGN §3.4).
              [{ name: 'Vault lock item', auths: [{ action: `dynamodb:${op}`, resource: w.lockTableArn, context: { 'dynamodb:LeadingKeys': ['core'] } }] }]
            : [{ name: 'control table', auths: [{ action: `dynamodb:${op}`, resource: w.controlTableArn, context: { 'dynamodb:LeadingKeys': ['prod'] } }] }],
      } satisfies CallRule,
    ]),
  ),

  // The controller's one read per tick: the Vault lock items (Path = core) and its own control-table
  // items (state, pause, run lease) in one BatchGetItem, authorized per table [DDB-FGAC].
  'dynamodb:BatchGetItem': {
    doc: 'DDB-FGAC',
    scenarios: (w: World) => [
      {
        name: 'lock items and control items of a tick',
        auths: [
          { action: 'dynamodb:BatchGetItem', resource: w.lockTableArn, context: { 'dynamodb:LeadingKeys': ['core'] } },
          { action: 'dynamodb:BatchGetItem', resource: w.controlTableArn, context: { 'dynamodb:LeadingKeys': ['prod', 'staging', 'run#controller:0f1e2d3c'] } },
        ],
      },
    ],
  },

  // --- EC2 [EC2-SAR]
  'ec2:DescribeInstances': ANY('ec2:DescribeInstances', 'EC2-SAR'),
  'ec2:DescribeInstanceStatus': ANY('ec2:DescribeInstanceStatus', 'EC2-SAR'),
  'ec2:DescribeVolumes': ANY('ec2:DescribeVolumes', 'EC2-SAR'),
  'ec2:DescribeNetworkInterfaces': ANY('ec2:DescribeNetworkInterfaces', 'EC2-SAR'),
  'ec2:ModifyInstanceAttribute': {
    doc: 'EC2-SAR',
    // DeleteOnTermination of the data volume's mapping: the instance, and the volume it names.
    scenarios: () => [
      {
        name: 'keep the data volume on termination',
        auths: [
          { action: 'ec2:ModifyInstanceAttribute', resource: oldInstance, context: TAGGED },
          { action: 'ec2:ModifyInstanceAttribute', resource: dataVolume, context: TAGGED },
        ],
      },
    ],
  },
  'ec2:ModifyNetworkInterfaceAttribute': {
    doc: 'EC2-SAR',
    scenarios: () => [{ name: 'keep the slot interface on termination', auths: [{ action: 'ec2:ModifyNetworkInterfaceAttribute', resource: slotEni, context: TAGGED }] }],
  },
  'ec2:StartInstances': {
    doc: 'EC2-SAR',
    // The failover drill's restore of the instance it stopped.
    scenarios: () => [{ name: 'drilled instance', auths: [{ action: 'ec2:StartInstances', resource: oldInstance, context: TAGGED }] }],
  },
  'ec2:StopInstances': {
    doc: 'EC2-SAR',
    scenarios: () => [{ name: 'old instance', auths: [{ action: 'ec2:StopInstances', resource: oldInstance, context: TAGGED }] }],
  },
  'ec2:TerminateInstances': {
    doc: 'EC2-SAR',
    scenarios: () => [
      { name: 'old instance', auths: [{ action: 'ec2:TerminateInstances', resource: oldInstance, context: TAGGED }] },
      { name: 'half-launched replacement (compensation)', auths: [{ action: 'ec2:TerminateInstances', resource: newInstance, context: TAGGED }] },
    ],
  },
  'ec2:DetachVolume': {
    doc: 'EC2-VOL',
    scenarios: () => [
      {
        name: 'data volume from the old instance',
        auths: [
          { action: 'ec2:DetachVolume', resource: oldInstance, context: TAGGED },
          { action: 'ec2:DetachVolume', resource: dataVolume, context: TAGGED },
        ],
      },
    ],
  },
  'ec2:AttachVolume': {
    doc: 'EC2-VOL',
    scenarios: () => [
      {
        name: 'data volume to the replacement',
        auths: [
          { action: 'ec2:AttachVolume', resource: newInstance, context: TAGGED },
          { action: 'ec2:AttachVolume', resource: dataVolume, context: TAGGED },
        ],
      },
    ],
  },
  'ec2:DetachNetworkInterface': {
    doc: 'EC2-SAR',
    scenarios: () => [
      {
        name: 'slot interface from the old instance',
        auths: [
          { action: 'ec2:DetachNetworkInterface', resource: oldInstance, context: TAGGED },
          { action: 'ec2:DetachNetworkInterface', resource: slotEni, context: TAGGED },
        ],
      },
    ],
  },
  'ec2:RunInstances': {
    doc: 'EC2-RUN, EC2-TAGCREATE, PASSROLE',
    scenarios: async (w) => {
      const plainTemplate: LaunchTemplateFixture = { ...w.launchTemplate, tagSpecifications: {} };
      return [
        { name: 'slot with its own network interface', auths: runInstancesAuths(await runInstancesInput(true), plainTemplate) },
        { name: 'slot without a network interface (new interface in the subnet)', auths: runInstancesAuths(await runInstancesInput(false), plainTemplate) },
        {
          name: 'launch template that tags the instance, its volumes and its interfaces',
          auths: runInstancesAuths(await runInstancesInput(false), w.launchTemplate),
        },
        { name: 'launch template that tags volumes, slot with its interface', auths: runInstancesAuths(await runInstancesInput(true), w.launchTemplate) },
      ];
    },
  },
  'ec2:CreateTags': {
    doc: 'EC2-TAGCREATE',
    // tagInstance marks a failed replacement (an existing instance that carries the cluster tag).
    scenarios: () => [
      {
        name: 'mark a failed replacement',
        auths: [{ action: 'ec2:CreateTags', resource: newInstance, context: { ...TAGGED, ...requestedTags({ 'vault-ha:failed-replacement': 'exec-1' }) } }],
      },
    ],
  },

  // --- Systems Manager
  'ssm:DescribeInstanceInformation': ANY('ssm:DescribeInstanceInformation', 'SSM-RC'),
  'ssm:GetCommandInvocation': ANY('ssm:GetCommandInvocation', 'SSM-RC'),
  'ssm:SendCommand': {
    doc: 'SSM-RC',
    scenarios: (w) =>
      [w.env.VAULT_HA_PREPARE_DOCUMENT!, w.env.VAULT_HA_CONTROL_DOCUMENT!].map((doc) => ({
        name: `${doc} on a cluster node`,
        auths: [
          { action: 'ssm:SendCommand', resource: `arn:${P}:ssm:${R}:${A}:document/${doc}` },
          { action: 'ssm:SendCommand', resource: newInstance, context: { 'ssm:resourceTag/vault-cluster': 'prod' } },
        ],
      })),
  },
  'ssm:GetParameter': {
    doc: 'SSM-PS',
    // The configuration (functions/config/load.ts): a parameter named /a/b has the ARN ...:parameter/a/b.
    scenarios: (w) => [{ name: 'configuration', auths: [{ action: 'ssm:GetParameter', resource: `arn:${P}:ssm:${R}:${A}:parameter${w.env.VAULT_HA_CONFIG_PARAMETER}` }] }],
  },

  // --- SNS [SNS-SSE]
  'sns:Publish': { doc: 'SNS-SSE', scenarios: (w) => [{ name: 'notification to the stack topic', auths: snsPublishAuths(w) }] },

  // --- Step Functions [SFN-START][SFN-SYNC]
  'states:StartExecution': {
    doc: 'SFN-START',
    scenarios: (w, site) => [{ name: site.where.includes('.') ? 'nested replace-node (failover-drill restore)' : 'auto-replace', auths: [{ action: 'states:StartExecution', resource: w.env.VAULT_HA_REPLACE_NODE_ARN! }] }],
  },
  ...Object.fromEntries(
    ['DescribeExecution', 'StopExecution'].map((op) => [
      `states:${op}`,
      {
        doc: 'SFN-SYNC',
        scenarios: (w: World) => [{ name: 'the nested replace-node execution', auths: [{ action: `states:${op}`, resource: `${w.env.VAULT_HA_REPLACE_NODE_ARN!.replace(':stateMachine:', ':execution:')}:drill-1-restore` }] }],
      } satisfies CallRule,
    ]),
  ),
  ...Object.fromEntries(
    ['PutTargets', 'PutRule', 'DescribeRule'].map((op) => [
      `events:${op}`,
      {
        doc: 'SFN-SYNC',
        scenarios: () => [{ name: 'the managed rule of .sync executions', auths: [{ action: `events:${op}`, resource: `arn:${P}:events:${R}:${A}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule` }] }],
      } satisfies CallRule,
    ]),
  ),

  // --- CloudWatch [CW-ALARMS]: the failover drill's stop conditions
  'cloudwatch:DescribeAlarms': ANY('cloudwatch:DescribeAlarms', 'CW-ALARMS'),

  // --- Elastic Load Balancing [ELB-SAR]
  'elasticloadbalancing:DescribeTargetHealth': ANY('elasticloadbalancing:DescribeTargetHealth', 'ELB-SAR'),
  // The target type (instance or ip) of the configured target group.
  'elasticloadbalancing:DescribeTargetGroups': ANY('elasticloadbalancing:DescribeTargetGroups', 'ELB-SAR'),
  'elasticloadbalancing:DescribeInstanceHealth': ANY('elasticloadbalancing:DescribeInstanceHealth', 'ELB-SAR-CLASSIC'),
  'elasticloadbalancing:RegisterInstancesWithLoadBalancer': {
    doc: 'ELB-SAR-CLASSIC',
    scenarios: (w) => [{ name: 'cluster Classic Load Balancer', auths: [{ action: 'elasticloadbalancing:RegisterInstancesWithLoadBalancer', resource: w.classicLoadBalancerArn }] }],
  },
  'elasticloadbalancing:DeregisterInstancesFromLoadBalancer': {
    doc: 'ELB-SAR-CLASSIC',
    scenarios: (w) => [{ name: 'cluster Classic Load Balancer', auths: [{ action: 'elasticloadbalancing:DeregisterInstancesFromLoadBalancer', resource: w.classicLoadBalancerArn }] }],
  },
  'elasticloadbalancing:RegisterTargets': {
    doc: 'ELB-SAR',
    scenarios: (w) => [{ name: 'cluster target group', auths: [{ action: 'elasticloadbalancing:RegisterTargets', resource: w.targetGroupArn }] }],
  },
  'elasticloadbalancing:DeregisterTargets': {
    doc: 'ELB-SAR',
    scenarios: (w) => [{ name: 'cluster target group', auths: [{ action: 'elasticloadbalancing:DeregisterTargets', resource: w.targetGroupArn }] }],
  },
};

/* ------------------------------------------------------------ the template */

let resolver: TemplateResolver;
let world: World;

beforeAll(async () => {
  const { template } = await packagedService();
  resolver = new TemplateResolver(template);
  const env = resolver.resolve(template.Resources.ReplaceNodeTasksLambdaFunction?.Properties?.Environment?.Variables) as Record<string, string>;
  world = {
    resolver,
    env,
    controlTableArn: resolver.getAtt('ControlTable', 'Arn'),
    lockTableArn: `arn:${P}:dynamodb:${R}:${A}:table/vault-dynamodb-backend`,
    targetGroupArn: `arn:${P}:elasticloadbalancing:${R}:${A}:targetgroup/vault/0123456789abcdef`,
    classicLoadBalancerArn: `arn:${P}:elasticloadbalancing:${R}:${A}:loadbalancer/vault`,
    nodeRoleArn: `arn:${P}:iam::${A}:role/vault-node`,
    launchTemplate: {
      id: 'lt-0123456789abcdef0',
      tags: CLUSTER_TAG,
      imageId: 'ami-0123456789abcdef0',
      keyName: 'vault-nodes',
      securityGroupIds: ['sg-0node000000000000'],
      instanceProfileRoleArn: `arn:${P}:iam::${A}:role/vault-node`,
      tagSpecifications: { instance: { CostCenter: 'platform' }, volume: { CostCenter: 'platform' }, 'network-interface': { CostCenter: 'platform' } },
    },
  };
});

function rolePrincipal(roleLogicalId: string): Principal {
  return { kind: 'role', arn: resolver.getAtt(roleLogicalId, 'Arn'), accountId: A };
}

/** The KMS key that encrypts a topic of the template, with its key policy. */
function topicKey(r: TemplateResolver, topicArn: string): { arn: string; statements: Statement[] } {
  const [topicId, topic] = Object.entries(r.template.Resources).find(([id, res]) => res.Type === 'AWS::SNS::Topic' && r.ref(id) === topicArn) ?? [];
  assert.ok(topicId && topic, `no topic ${topicArn} in the template`);
  const keyRef = topic.Properties?.KmsMasterKeyId;
  if (keyRef === undefined) return { arn: '', statements: [] };
  if (typeof keyRef === 'object' && typeof keyRef.Ref === 'string') {
    const key = r.resource(keyRef.Ref);
    return { arn: r.getAtt(keyRef.Ref, 'Arn'), statements: statementsOf(r.resolve(key.Properties?.KeyPolicy) as unknown as PolicyDocument) };
  }
  const alias = String(r.resolve(keyRef));
  if (alias === 'alias/aws/sns') {
    // The AWS managed key's policy (it cannot be changed): use through SNS by principals of the
    // account, metadata to the account; no statement for AWS service principals [CW-SNS].
    return {
      arn: `arn:${P}:kms:${R}:${A}:key/aws-managed-sns`,
      statements: [
        {
          Sid: 'Allow access through SNS for all principals in the account that are authorized to use SNS',
          Effect: 'Allow',
          Principal: { AWS: '*' },
          Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
          Resource: '*',
          Condition: { StringEquals: { 'kms:CallerAccount': A, 'kms:ViaService': `sns.${R}.amazonaws.com` } },
        },
        { Sid: 'Allow direct access to key metadata to the account', Effect: 'Allow', Principal: { AWS: `arn:${P}:iam::${A}:root` }, Action: ['kms:Describe*', 'kms:Get*', 'kms:List*', 'kms:RevokeGrant'], Resource: '*' },
      ],
    };
  }
  const aliasRes = Object.entries(r.template.Resources).find(([id, res]) => res.Type === 'AWS::KMS::Alias' && r.ref(id) === alias);
  assert.ok(aliasRes, `topic key ${alias} is neither a key of the stack nor alias/aws/sns`);
  const keyId = String((aliasRes[1].Properties?.TargetKeyId as { Ref?: string }).Ref);
  return { arn: r.getAtt(keyId, 'Arn'), statements: statementsOf(r.resolve(r.resource(keyId).Properties?.KeyPolicy) as unknown as PolicyDocument) };
}

/** The resource policy AWS consults for a request, if the resource has one in the template. */
function resourcePolicyFor(req: Authorization): { kind: 'kms' | 'other'; statements: Statement[] } | undefined {
  if (req.action.startsWith('kms:')) {
    const topics = Object.keys(resolver.template.Resources).filter((id) => resolver.resource(id).Type === 'AWS::SNS::Topic');
    for (const id of topics) {
      const key = topicKey(resolver, resolver.ref(id));
      if (key.arn === req.resource) return { kind: 'kms', statements: key.statements };
    }
    return { kind: 'kms', statements: [] };
  }
  if (req.action.startsWith('sns:')) {
    const statements = Object.values(resolver.template.Resources)
      .filter((r) => r.Type === 'AWS::SNS::TopicPolicy' && (resolver.resolve(r.Properties?.Topics) as string[]).includes(req.resource))
      .flatMap((r) => statementsOf(resolver.resolve(r.Properties?.PolicyDocument) as unknown as PolicyDocument));
    return statements.length > 0 ? { kind: 'other', statements } : undefined;
  }
  return undefined;
}

function check(principal: Principal, roleLogicalId: string | undefined, req: Authorization): Decision {
  const identity = roleLogicalId ? resolver.roleStatements(roleLogicalId) : [];
  return authorize(principal, identity, resourcePolicyFor(req), req);
}

const describeAuth = (a: Authorization): string => `${a.action} on ${a.resource}${a.context ? ` with ${JSON.stringify(a.context)}` : ''}`;

async function deniedCalls(roleLogicalId: string, sites: CallSite[]): Promise<string[]> {
  const problems: string[] = [];
  for (const site of sites) {
    const rule = CALLS[site.action];
    if (!rule) {
      problems.push(`${site.where}: ${site.action} has no row in CALLS (say which resources AWS authorizes it on, and cite the page)`);
      continue;
    }
    for (const scenario of await rule.scenarios(world, site)) {
      for (const auth of scenario.auths) {
        const d = check(rolePrincipal(roleLogicalId), roleLogicalId, auth);
        if (!d.allowed) problems.push(`${site.where} ${site.action} [${scenario.name}]: denied ${describeAuth(auth)}: ${d.reason} [${rule.doc}]`);
      }
    }
  }
  return problems;
}

/** The AWS calls of one Task: the task function invocation, or the service integration's action. */
function taskCalls(smId: string, task: { path: string; Resource: string }): CallSite[] {
  const where = `${smId}.${task.path}`;
  const sdk = /^arn:[^:]+:states:::aws-sdk:([a-z0-9]+):([A-Za-z0-9]+)(\.[a-zA-Z]+)?$/.exec(task.Resource);
  if (sdk) {
    const prefix = SFN_SDK_SERVICE_PREFIX[sdk[1]!];
    assert.ok(prefix, `${where}: no IAM prefix known for aws-sdk:${sdk[1]}`);
    return [{ action: `${prefix}:${sdk[2]![0]!.toUpperCase()}${sdk[2]!.slice(1)}`, where }];
  }
  const optimized = /^arn:[^:]+:states:::sns:publish$/.exec(task.Resource);
  if (optimized) return [{ action: 'sns:Publish', where }];
  // A nested execution the Task waits for [SFN-SYNC].
  if (/^arn:[^:]+:states:::states:startExecution\.sync(:2)?$/.test(task.Resource)) {
    return ['states:StartExecution', 'states:DescribeExecution', 'states:StopExecution', 'events:PutTargets', 'events:PutRule', 'events:DescribeRule'].map((action) => ({ action, where }));
  }
  throw new Error(`${where}: Task resource ${task.Resource} is not modelled`);
}

/* -------------------------------------------------------------------- tests */

describe('the evaluator (test/support/iam-policy.ts) decides as IAM does', () => {
  const role: Principal = { kind: 'role', arn: `arn:${P}:iam::${A}:role/r`, accountId: A };
  const allow = (extra: Partial<Statement>): Statement => ({ Effect: 'Allow', Action: 'ec2:RunInstances', Resource: '*', ...extra });
  const cases: Array<{ name: string; statements: Statement[]; auth: Authorization; allowed: boolean }> = [
    { name: 'action wildcard, case-insensitive', statements: [allow({ Action: 'EC2:Run*' })], auth: { action: 'ec2:RunInstances', resource: '*' }, allowed: true },
    { name: 'resource wildcard stays in its ARN segment', statements: [allow({ Resource: `arn:${P}:ec2:*:${A}:instance/*` })], auth: { action: 'ec2:RunInstances', resource: `arn:${P}:ec2:${R}:999999999999:instance/i-1` }, allowed: false },
    { name: 'NotResource', statements: [allow({ Resource: undefined, NotResource: `arn:${P}:ec2:${R}:${A}:subnet/*` })], auth: { action: 'ec2:RunInstances', resource: ec2Arn('subnet', 'subnet-1') }, allowed: false },
    { name: 'StringLike on a missing key fails', statements: [allow({ Condition: { StringLike: { 'aws:ResourceTag/vault-cluster': '*' } } })], auth: { action: 'ec2:RunInstances', resource: '*' }, allowed: false },
    { name: 'StringLikeIfExists on a missing key holds', statements: [allow({ Condition: { StringLikeIfExists: { 'aws:ResourceTag/vault-cluster': '*' } } })], auth: { action: 'ec2:RunInstances', resource: '*' }, allowed: true },
    { name: 'condition keys are case-insensitive', statements: [allow({ Condition: { StringEquals: { 'AWS:RequestTag/vault-cluster': 'prod' } } })], auth: { action: 'ec2:RunInstances', resource: '*', context: { 'aws:requesttag/vault-cluster': 'prod' } }, allowed: true },
    { name: 'condition values are case-sensitive', statements: [allow({ Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } } })], auth: { action: 'ec2:RunInstances', resource: '*', context: { 'iam:PassedToService': 'EC2.amazonaws.com' } }, allowed: false },
    { name: 'ForAllValues holds for every value only', statements: [allow({ Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['core'] } } })], auth: { action: 'ec2:RunInstances', resource: '*', context: { 'dynamodb:LeadingKeys': ['core', 'sys'] } }, allowed: false },
    { name: 'Null: true means absent', statements: [allow({ Condition: { Null: { 'aws:RequestTag/x': 'true' } } })], auth: { action: 'ec2:RunInstances', resource: '*', context: { 'aws:RequestTag/x': 'y' } }, allowed: false },
    { name: 'explicit deny wins', statements: [allow({}), { Effect: 'Deny', Action: '*', Resource: '*' }], auth: { action: 'ec2:RunInstances', resource: '*' }, allowed: false },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(authorize(role, c.statements, undefined, c.auth).allowed, c.allowed));
  }

  it('refuses to evaluate a condition operator it does not model', () => {
    assert.throws(() => authorize(role, [allow({ Condition: { NumericLessThan: { 'ec2:VolumeSize': '20' } } })], undefined, { action: 'ec2:RunInstances', resource: '*' }), { name: 'UnsupportedConditionError' });
  });

  it('KMS: a key policy delegating to the account needs the role\'s own allow; one naming the role does not', () => {
    const key = `arn:${P}:kms:${R}:${A}:key/k`;
    const auth: Authorization = { action: 'kms:Decrypt', resource: key };
    const delegating: Statement[] = [{ Effect: 'Allow', Principal: { AWS: `arn:${P}:iam::${A}:root` }, Action: 'kms:*', Resource: '*' }];
    assert.equal(authorize(role, [], { kind: 'kms', statements: delegating }, auth).allowed, false);
    assert.equal(authorize(role, [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: key }], { kind: 'kms', statements: delegating }, auth).allowed, true);
    assert.equal(authorize(role, [], { kind: 'kms', statements: [{ Effect: 'Allow', Principal: { AWS: role.arn }, Action: 'kms:Decrypt', Resource: '*' }] }, auth).allowed, true);
    assert.equal(authorize(role, [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: key }], { kind: 'kms', statements: [] }, auth).allowed, false);
  });
});

describe('IAM: every call the code makes is allowed to its function\'s role', () => {
  it('every AWS SDK command in functions/ has a row in CALLS, and every row is used', () => {
    const found = new Set(allSourceFiles('functions').flatMap((f) => sdkCallsIn(f).map((c) => c.action)));
    assert.ok(found.has('ec2:RunInstances') && found.has('ssm:SendCommand'), 'the scan finds the replacement calls');
    const missing = [...found].filter((a) => !CALLS[a]);
    assert.deepEqual(missing, [], 'calls without a row');
    const sdkTasks = new Set<string>();
    for (const sm of stateMachinesOf(resolver)) {
      for (const task of tasksOf(sm.definition)) if (!invokedFunction(resolver, task)) for (const c of taskCalls(sm.logicalId, task)) sdkTasks.add(c.action);
    }
    const stale = Object.keys(CALLS).filter((a) => !found.has(a) && !sdkTasks.has(a));
    assert.deepEqual(stale, [], 'rows no code or state machine uses any more');
  });

  for (const fn of ['ControllerLambdaFunction', 'ReplaceNodeTasksLambdaFunction', 'FailoverDrillTasksLambdaFunction']) {
    it(`${fn}: its role allows every call in the code it bundles`, async () => {
      const props = resolver.resource(fn).Properties!;
      const roleId = getAttTarget(props.Role);
      const entry = `${String(props.Handler).slice(0, String(props.Handler).lastIndexOf('.'))}.ts`;
      const files = importClosure(entry);
      const sites = files.flatMap((f) => sdkCallsIn(f));
      assert.ok(sites.length > 0, `${fn}: no AWS call found in ${entry} and its imports`);
      assert.deepEqual(await deniedCalls(roleId, sites), []);
    });
  }
});

describe('IAM: every Task is allowed to its state machine\'s role', () => {
  it('finds the SDK-integration Tasks of the packaged definitions', () => {
    const actions = stateMachinesOf(resolver).flatMap((sm) =>
      tasksOf(sm.definition).flatMap((t) => (invokedFunction(resolver, t) ? [] : taskCalls(sm.logicalId, t).map((c) => c.action))),
    );
    for (const a of ['ec2:DescribeInstances', 'elasticloadbalancing:DeregisterTargets', 'sns:Publish']) assert.ok(actions.includes(a), a);
  });

  it('each state machine role may invoke its task functions and call its SDK integrations', async () => {
    const problems: string[] = [];
    for (const sm of stateMachinesOf(resolver)) {
      for (const task of tasksOf(sm.definition)) {
        const fn = invokedFunction(resolver, task);
        if (fn) {
          // [SFN-LAMBDA]
          const auth: Authorization = { action: 'lambda:InvokeFunction', resource: resolver.getAtt(fn, 'Arn') };
          const d = check(rolePrincipal(sm.roleLogicalId), sm.roleLogicalId, auth);
          if (!d.allowed) problems.push(`${sm.logicalId}.${task.path}: denied ${describeAuth(auth)}: ${d.reason} [SFN-LAMBDA]`);
          continue;
        }
        problems.push(...(await deniedCalls(sm.roleLogicalId, taskCalls(sm.logicalId, task))));
      }
    }
    assert.deepEqual(problems, []);
  });
});

describe('IAM: what must stay denied', () => {
  const lambdaRole = (): string => getAttTarget(resolver.resource('ReplaceNodeTasksLambdaFunction').Properties!.Role);
  const denied = (roleId: string, auth: Authorization): void => {
    const d = check(rolePrincipal(roleId), roleId, auth);
    assert.equal(d.allowed, false, `${roleId} may ${describeAuth(auth)} (allowed by ${d.by.join(', ')})`);
  };
  const UNTAGGED: Context = existingTags({ team: 'other' });

  it('no stop, terminate, detach or attach on resources without the cluster tag [EC2-SAR][EC2-VOL]', () => {
    for (const action of ['ec2:StopInstances', 'ec2:TerminateInstances', 'ec2:ModifyInstanceAttribute', 'ec2:DetachVolume', 'ec2:AttachVolume']) {
      denied(lambdaRole(), { action, resource: ec2Arn('instance', 'i-0other00000000000'), context: UNTAGGED });
    }
    denied(lambdaRole(), { action: 'ec2:AttachVolume', resource: ec2Arn('volume', 'vol-0other'), context: UNTAGGED });
    denied('ReplaceNodeStateMachineRole', { action: 'ec2:AttachVolume', resource: ec2Arn('volume', 'vol-0other'), context: UNTAGGED });
    denied(lambdaRole(), { action: 'ec2:DetachNetworkInterface', resource: ec2Arn('network-interface', 'eni-0other'), context: UNTAGGED });
  });

  it('no launch that takes over an untagged interface or uses an untagged launch template [EC2-RUN]', () => {
    denied(lambdaRole(), { action: 'ec2:RunInstances', resource: ec2Arn('network-interface', 'eni-0other'), context: UNTAGGED });
    denied(lambdaRole(), { action: 'ec2:RunInstances', resource: ec2Arn('launch-template', 'lt-0other'), context: UNTAGGED });
    // A new instance must be requested with the cluster tag.
    denied(lambdaRole(), { action: 'ec2:RunInstances', resource: ec2Arn('instance', '*'), context: requestedTags({ Name: 'x' }) });
  });

  it('no tagging of an existing resource into the cluster [EC2-TAGCREATE]', () => {
    denied(lambdaRole(), { action: 'ec2:CreateTags', resource: ec2Arn('volume', 'vol-0other'), context: { ...UNTAGGED, ...requestedTags(CLUSTER_TAG) } });
    denied(lambdaRole(), { action: 'ec2:CreateTags', resource: ec2Arn('instance', 'i-0other00000000000'), context: { ...UNTAGGED, ...requestedTags(CLUSTER_TAG) } });
  });

  it('passes the node role to EC2 only, and no other role [PASSROLE]', () => {
    denied(lambdaRole(), { action: 'iam:PassRole', resource: world.nodeRoleArn, context: { 'iam:PassedToService': 'lambda.amazonaws.com' } });
    denied(lambdaRole(), { action: 'iam:PassRole', resource: world.nodeRoleArn });
    denied(lambdaRole(), { action: 'iam:PassRole', resource: `arn:${P}:iam::${A}:role/admin`, context: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
  });

  it('runs only the project\'s documents, only on cluster nodes [SSM-RC]', () => {
    denied(lambdaRole(), { action: 'ssm:SendCommand', resource: `arn:${P}:ssm:${R}::document/AWS-RunShellScript` });
    denied(lambdaRole(), { action: 'ssm:SendCommand', resource: ec2Arn('instance', 'i-0other00000000000'), context: { 'ssm:resourceTag/team': 'other' } });
  });

  // [LAMBDA-SRC]: calls made by a function's code carry lambda:SourceFunctionArn; the network
  // interface calls Lambda makes for a VPC function with the same role do not.
  const fromCode = (fnLogicalId: string, ctx: Context = {}): Context => ({ ...ctx, 'lambda:SourceFunctionArn': resolver.getAtt(fnLogicalId, 'Arn') });
  const functionRole = (fnLogicalId: string): string => getAttTarget(resolver.resource(fnLogicalId).Properties!.Role);

  it('gives each function its own role', () => {
    const roles = ['ControllerLambdaFunction', 'ReplaceNodeTasksLambdaFunction', 'FailoverDrillTasksLambdaFunction'].map(functionRole);
    assert.equal(new Set(roles).size, 3, `roles: ${roles.join(', ')}`);
  });

  it('the controller can change no instance, volume or interface, run no command and pass no role, whatever the tags', () => {
    const role = functionRole('ControllerLambdaFunction');
    const ctx = fromCode('ControllerLambdaFunction', TAGGED);
    for (const action of ['ec2:RunInstances', 'ec2:StartInstances', 'ec2:StopInstances', 'ec2:TerminateInstances', 'ec2:ModifyInstanceAttribute', 'ec2:AttachVolume', 'ec2:DetachVolume', 'ec2:CreateTags']) {
      denied(role, { action, resource: oldInstance, context: ctx });
      denied(role, { action, resource: ec2Arn('instance', '*'), context: { ...ctx, ...requestedTags(CLUSTER_TAG) } });
    }
    for (const action of ['ec2:AttachVolume', 'ec2:DetachVolume', 'ec2:ModifyVolume', 'ec2:DeleteVolume']) denied(role, { action, resource: dataVolume, context: ctx });
    for (const action of ['ec2:ModifyNetworkInterfaceAttribute', 'ec2:DetachNetworkInterface', 'ec2:AttachNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:CreateNetworkInterface']) {
      denied(role, { action, resource: slotEni, context: ctx });
    }
    for (const doc of [world.env.VAULT_HA_PREPARE_DOCUMENT!, world.env.VAULT_HA_CONTROL_DOCUMENT!]) {
      denied(role, { action: 'ssm:SendCommand', resource: `arn:${P}:ssm:${R}:${A}:document/${doc}`, context: ctx });
    }
    denied(role, { action: 'ssm:SendCommand', resource: oldInstance, context: { ...ctx, 'ssm:resourceTag/vault-cluster': 'prod' } });
    denied(role, { action: 'iam:PassRole', resource: world.nodeRoleArn, context: { ...ctx, 'iam:PassedToService': 'ec2.amazonaws.com' } });
    // No statement of the role grants an EC2 action other than Describe*, except the network
    // interfaces Lambda itself manages for the VPC (denied to the code above).
    const ec2Grants = resolver.roleStatements(role).filter((st) => st.Effect === 'Allow').flatMap((st) => [st.Action ?? []].flat()).filter((a) => /^ec2:/i.test(a) && !/^ec2:Describe/i.test(a));
    assert.deepEqual(ec2Grants.sort(), ['ec2:AssignPrivateIpAddresses', 'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:UnassignPrivateIpAddresses']);
  });

  it('lets Lambda manage each VPC function\'s network interfaces, and never the function\'s own code [LAMBDA-SRC]', () => {
    for (const fn of ['ControllerLambdaFunction', 'ReplaceNodeTasksLambdaFunction', 'FailoverDrillTasksLambdaFunction']) {
      const role = functionRole(fn);
      const eni = ec2Arn('network-interface', 'eni-0lambda');
      for (const auth of [
        { action: 'ec2:CreateNetworkInterface', resource: eni },
        { action: 'ec2:CreateNetworkInterface', resource: ec2Arn('subnet', 'subnet-0a') },
        { action: 'ec2:CreateNetworkInterface', resource: ec2Arn('security-group', 'sg-0a') },
        { action: 'ec2:DeleteNetworkInterface', resource: eni },
        { action: 'ec2:DescribeNetworkInterfaces', resource: '*' },
      ]) {
        const d = check(rolePrincipal(role), role, auth);
        assert.ok(d.allowed, `${fn}: Lambda may not ${describeAuth(auth)}: ${d.reason}`);
      }
      denied(role, { action: 'ec2:CreateNetworkInterface', resource: eni, context: fromCode(fn) });
      denied(role, { action: 'ec2:DeleteNetworkInterface', resource: slotEni, context: fromCode(fn, TAGGED) });
    }
  });

  it('the drill can stop, start and terminate, but not launch, attach, detach, tag or pass a role', () => {
    const role = functionRole('FailoverDrillTasksLambdaFunction');
    const ctx = fromCode('FailoverDrillTasksLambdaFunction', TAGGED);
    denied(role, { action: 'ec2:RunInstances', resource: ec2Arn('instance', '*'), context: fromCode('FailoverDrillTasksLambdaFunction', requestedTags(CLUSTER_TAG)) });
    denied(role, { action: 'ec2:RunInstances', resource: ec2Arn('launch-template', world.launchTemplate.id), context: ctx });
    for (const action of ['ec2:AttachVolume', 'ec2:DetachVolume']) denied(role, { action, resource: dataVolume, context: ctx });
    denied(role, { action: 'ec2:DetachNetworkInterface', resource: slotEni, context: ctx });
    denied(role, { action: 'ec2:CreateTags', resource: oldInstance, context: { ...ctx, ...requestedTags({ 'vault-ha:failed-replacement': 'x' }) } });
    denied(role, { action: 'iam:PassRole', resource: world.nodeRoleArn, context: { ...ctx, 'iam:PassedToService': 'ec2.amazonaws.com' } });
    for (const action of ['ec2:StopInstances', 'ec2:StartInstances', 'ec2:TerminateInstances']) {
      const d = check(rolePrincipal(role), role, { action, resource: oldInstance, context: ctx });
      assert.ok(d.allowed, `the drill may not ${action} its cluster's active: ${d.reason}`);
    }
  });

  it('the workflows act only on this stage\'s clusters: a resource tagged with another vault-cluster value is out of reach', () => {
    const other = existingTags({ 'vault-cluster': 'payments' });
    for (const fn of ['ReplaceNodeTasksLambdaFunction', 'FailoverDrillTasksLambdaFunction']) {
      const role = functionRole(fn);
      for (const action of ['ec2:StopInstances', 'ec2:StartInstances', 'ec2:TerminateInstances', 'ec2:DetachVolume', 'ec2:AttachVolume', 'ec2:ModifyInstanceAttribute']) {
        denied(role, { action, resource: ec2Arn('instance', 'i-0payments00000000'), context: fromCode(fn, other) });
      }
      denied(role, { action: 'ec2:DetachVolume', resource: ec2Arn('volume', 'vol-0payments'), context: fromCode(fn, other) });
      denied(role, { action: 'ec2:RunInstances', resource: ec2Arn('instance', '*'), context: fromCode(fn, requestedTags({ 'vault-cluster': 'payments' })) });
      denied(role, { action: 'ec2:RunInstances', resource: ec2Arn('launch-template', 'lt-0payments'), context: fromCode(fn, other) });
      denied(role, { action: 'ssm:SendCommand', resource: ec2Arn('instance', 'i-0payments00000000'), context: fromCode(fn, { 'ssm:resourceTag/vault-cluster': 'payments' }) });
      // ...while both of the stage's own values are in reach.
      for (const value of TEST_CLUSTER_TAG_VALUES) {
        const d = check(rolePrincipal(role), role, { action: 'ec2:StopInstances', resource: oldInstance, context: fromCode(fn, existingTags({ 'vault-cluster': value })) });
        assert.ok(d.allowed, `${fn} may not stop an instance of its own cluster ${value}: ${d.reason}`);
      }
    }
  });

  it('routes only the configured balancers: no other Classic Load Balancer, no ALB by the Classic API [ELB-SAR][ELB-SAR-CLASSIC]', () => {
    for (const action of ['elasticloadbalancing:RegisterInstancesWithLoadBalancer', 'elasticloadbalancing:DeregisterInstancesFromLoadBalancer']) {
      denied(lambdaRole(), { action, resource: `arn:${P}:elasticloadbalancing:${R}:${A}:loadbalancer/payments` });
      denied(lambdaRole(), { action, resource: `arn:${P}:elasticloadbalancing:${R}:${A}:loadbalancer/app/vault/0123456789abcdef` });
    }
    denied(lambdaRole(), { action: 'elasticloadbalancing:RegisterTargets', resource: `arn:${P}:elasticloadbalancing:${R}:${A}:targetgroup/payments/0123456789abcdef` });
  });

  it('deletes from the Vault table only the lock partition [DDB-FGAC]', () => {
    denied(lambdaRole(), { action: 'dynamodb:DeleteItem', resource: world.lockTableArn, context: { 'dynamodb:LeadingKeys': ['sys/token'] } });
    // ...and the controller reads nothing else of Vault's data there, batched or not.
    denied(functionRole('ControllerLambdaFunction'), { action: 'dynamodb:BatchGetItem', resource: world.lockTableArn, context: { 'dynamodb:LeadingKeys': ['core', 'logical/secret'] } });
  });

  it('uses the topic key only through SNS, and CloudWatch only for this account [SNS-SSE]', () => {
    const key = topicKey(resolver, world.env.VAULT_HA_NOTIFY_TOPIC_ARN!);
    denied(lambdaRole(), { action: 'kms:Decrypt', resource: key.arn, context: { 'kms:CallerAccount': A } });
    const cw: Principal = { kind: 'service', service: 'cloudwatch.amazonaws.com' };
    const d = authorize(cw, [], { kind: 'kms', statements: key.statements }, {
      action: 'kms:GenerateDataKey',
      resource: key.arn,
      context: { 'aws:SourceAccount': '999999999999', 'aws:SourceArn': `arn:${P}:cloudwatch:${R}:999999999999:alarm:vault-ha-citest-x` },
    });
    assert.equal(d.allowed, false, 'another account\'s alarms may not use the key');
  });
});

describe('alarms can deliver to their topic', () => {
  it('CloudWatch may publish every alarm action to the topic and use its key [CW-SNS][SNS-SSE]', () => {
    const cw: Principal = { kind: 'service', service: 'cloudwatch.amazonaws.com' };
    const problems: string[] = [];
    let checked = 0;
    for (const [id, alarm] of Object.entries(resolver.template.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')) {
      const props = resolver.resolve(alarm.Properties) as Record<string, string[] | undefined>;
      const alarmArn = resolver.getAtt(id, 'Arn');
      for (const target of [...(props.AlarmActions ?? []), ...(props.OKActions ?? []), ...(props.InsufficientDataActions ?? [])]) {
        if (!target.startsWith(`arn:${P}:sns:`)) continue;
        checked += 1;
        const ctx: Context = { 'aws:SourceAccount': A, 'aws:SourceArn': alarmArn, 'aws:SourceOwner': A };
        // No topic policy in the template: SNS's default policy lets the owning account's
        // sources publish (its only statement is conditioned on AWS:SourceOwner).
        const topicPolicy = resourcePolicyFor({ action: 'sns:Publish', resource: target }) ?? {
          kind: 'other' as const,
          statements: [{ Sid: '__default_statement_ID', Effect: 'Allow' as const, Principal: '*' as const, Action: ['SNS:Publish'], Resource: target, Condition: { StringEquals: { 'AWS:SourceOwner': A } } }],
        };
        const auths: Array<[Authorization, { kind: 'kms' | 'other'; statements: Statement[] }]> = [[{ action: 'sns:Publish', resource: target, context: ctx }, topicPolicy]];
        const key = topicKey(resolver, target);
        if (key.arn) {
          for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) auths.push([{ action, resource: key.arn, context: ctx }, { kind: 'kms', statements: key.statements }]);
        }
        for (const [auth, policy] of auths) {
          const d = authorize(cw, [], policy, auth);
          if (!d.allowed) problems.push(`${id}: cloudwatch.amazonaws.com denied ${describeAuth(auth)}: ${d.reason}`);
        }
      }
    }
    assert.ok(checked >= 4, `only ${checked} alarm actions found`);
    assert.deepEqual(problems, []);
  });
});

/* ------------------------------------------------ the Vault nodes' own role */

/**
 * config/vault-node-instance-policy.json, the example the README's "Deploy"
 * section gives for the nodes' instance role. Placeholders are upper-case words
 * in the ARNs; the test substitutes the fixture's values.
 */
describe('example policy of the Vault nodes\' instance role', () => {
  const file = path.join(repoRoot, 'config/vault-node-instance-policy.json');
  const placeholders: Record<string, string> = {
    PARTITION: P,
    REGION: R,
    ACCOUNT_ID: A,
    UNSEAL_KEY_ID: '11111111-2222-3333-4444-555555555555',
    SSM_KEY_ID: '66666666-7777-8888-9999-000000000000',
    VAULT_TABLE: 'vault-data',
  };
  const load = (): Statement[] => {
    let text = readFileSync(file, 'utf8');
    const doc = JSON.parse(text) as PolicyDocument; // must be valid JSON as shipped
    assert.equal(doc.Version, '2012-10-17');
    for (const [k, v] of Object.entries(placeholders)) text = text.replaceAll(k, v);
    return statementsOf(JSON.parse(text) as PolicyDocument);
  };
  const allowed = (statements: Statement[], auth: Authorization): boolean =>
    authorize({ kind: 'role', arn: `arn:${P}:iam::${A}:role/vault-node`, accountId: A }, statements, undefined, auth).allowed;

  it('is a valid identity policy: Version 2012-10-17, every statement with Sid, Effect, Action and Resource', () => {
    const statements = load();
    assert.ok(statements.length >= 4);
    for (const s of statements) {
      assert.ok(s.Sid, `statement without Sid: ${JSON.stringify(s)}`);
      assert.ok(s.Effect === 'Allow' || s.Effect === 'Deny', `${s.Sid}: Effect`);
      assert.ok([s.Action].flat().length > 0 && [s.Action].flat().every((a) => typeof a === 'string' && /^[a-z0-9-]+:[A-Za-z0-9*]+$/.test(a)), `${s.Sid}: Action`);
      assert.ok([s.Resource].flat().length > 0 && [s.Resource].flat().every((r) => typeof r === 'string' && (r === '*' || r.startsWith('arn:'))), `${s.Sid}: Resource`);
      assert.equal(s.Principal, undefined, `${s.Sid}: an identity policy has no Principal`);
      assert.ok(!JSON.stringify(s).match(/\b[A-Z][A-Z_]{3,}\b/), `${s.Sid}: unknown placeholder left in ${JSON.stringify(s)}`);
    }
  });

  it('grants every AWS CLI call the SSM documents make on the node, on the parameters they read [SSM-PS]', () => {
    const statements = load();
    const docs = parseYaml(readFileSync(path.join(repoRoot, 'serverless/ssm-documents.yml'), 'utf8')) as Record<string, { Properties: { Content: { mainSteps: Array<{ inputs: { runCommand: string[] } }> } } }>;
    const scripts = Object.values(docs).flatMap((d) => d.Properties.Content.mainSteps.flatMap((s) => s.inputs.runCommand)).join('\n');
    const cliCalls = [...scripts.matchAll(/\baws\s+([a-z0-9-]+)\s+([a-z0-9-]+)/g)].map((m) => `${m[1]} ${m[2]}`);
    assert.ok(cliCalls.length > 0, 'the documents read their parameters with the AWS CLI');
    // The parameters they read: the shares under unseal.sharesParameterPrefix (config/example.json)
    // and the step-down token (VAULT_HA_STEP_DOWN_TOKEN_PARAMETER, default /vault-ha/<cluster>/step-down-token).
    const example = JSON.parse(readFileSync(path.join(repoRoot, 'config/example.json'), 'utf8')) as { clusters: Array<{ name: string; unseal: { sharesParameterPrefix: string } }> };
    const cluster = example.clusters[0]!;
    const param = (name: string): string => `arn:${P}:ssm:${R}:${A}:parameter${name}`;
    const prefix = cluster.unseal.sharesParameterPrefix;
    const cliAuths: Record<string, Authorization[]> = {
      // GetParametersByPath is authorized on the path of the request; accept the prefix with and without its slash.
      'ssm get-parameters-by-path': [
        { action: 'ssm:GetParametersByPath', resource: param(prefix) },
        { action: 'ssm:GetParametersByPath', resource: param(prefix.replace(/\/$/, '')) },
      ],
      'ssm get-parameter': [{ action: 'ssm:GetParameter', resource: param(`/vault-ha/${cluster.name}/step-down-token`) }],
    };
    const problems: string[] = [];
    for (const call of new Set(cliCalls)) {
      const auths = cliAuths[call];
      if (!auths) {
        problems.push(`aws ${call}: not modelled here: add which IAM action and resource it needs`);
        continue;
      }
      for (const auth of auths) if (!allowed(statements, auth)) problems.push(`aws ${call}: ${describeAuth(auth)} is not granted`);
    }
    // --with-decryption: SSM decrypts the SecureStrings with the node's permission on their key.
    if (/--with-decryption/.test(scripts)) {
      const auth: Authorization = { action: 'kms:Decrypt', resource: `arn:${P}:kms:${R}:${A}:key/${placeholders.SSM_KEY_ID}`, context: { 'kms:ViaService': `ssm.${R}.amazonaws.com` } };
      if (!allowed(statements, auth)) problems.push(`SecureString decryption: ${describeAuth(auth)} is not granted`);
    }
    assert.deepEqual(problems, []);
    // Nothing else: a share prefix of another cluster stays out of reach.
    assert.equal(allowed(statements, { action: 'ssm:GetParametersByPath', resource: param('/vault/staging/unseal/') }), false);
  });

  it('lets the SSM agent work, awskms auto-unseal use its key and Vault use its DynamoDB table', () => {
    const statements = load();
    // The agent's own calls (AmazonSSMManagedInstanceCore): registration, Run Command messages, sessions.
    for (const action of ['ssm:UpdateInstanceInformation', 'ssm:ListInstanceAssociations', 'ec2messages:GetMessages', 'ec2messages:SendReply', 'ssmmessages:CreateControlChannel', 'ssmmessages:OpenDataChannel']) {
      assert.ok(allowed(statements, { action, resource: '*' }), action);
    }
    // Vault's awskms seal: "kms:Encrypt, kms:Decrypt, kms:DescribeKey" (Vault docs, seal/awskms).
    for (const action of ['kms:Encrypt', 'kms:Decrypt', 'kms:DescribeKey']) {
      assert.ok(allowed(statements, { action, resource: `arn:${P}:kms:${R}:${A}:key/${placeholders.UNSEAL_KEY_ID}` }), action);
    }
    // Vault's dynamodb storage: the "Required AWS permissions" list of its documentation.
    const table = `arn:${P}:dynamodb:${R}:${A}:table/vault-data`;
    for (const op of ['DescribeTable', 'GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'Scan', 'BatchGetItem', 'BatchWriteItem', 'DescribeTimeToLive', 'ListTagsOfResource', 'CreateTable', 'UpdateTable', 'GetRecords']) {
      assert.ok(allowed(statements, { action: `dynamodb:${op}`, resource: table }), `dynamodb:${op}`);
    }
    for (const op of ['ListTables', 'DescribeLimits', 'DescribeReservedCapacity', 'DescribeReservedCapacityOfferings']) {
      assert.ok(allowed(statements, { action: `dynamodb:${op}`, resource: '*' }), `dynamodb:${op}`);
    }
    assert.equal(allowed(statements, { action: 'dynamodb:DeleteTable', resource: table }), false);
  });
});
