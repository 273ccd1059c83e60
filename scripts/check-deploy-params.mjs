#!/usr/bin/env node
/**
 * `npm run package` (and, the same way, a deploy): refuse to package a stack
 * that would fail late or quietly.
 *
 *   node scripts/check-deploy-params.mjs [package|deploy] [serverless options…]
 *   npm run package -- --stage prod --region eu-west-1 --param="subnetIds=subnet-0a…,subnet-0b…" …
 *
 * Checks the `params` serverless.yml will use for the stage (params.default,
 * then params.<stage>, then every `--param="name=value"`, as osls merges
 * them) and the region, offline, before anything is built:
 *   - subnetIds, securityGroupIds: real ids, not the `REPLACE-ME` placeholders;
 *   - instanceRoleArn: set on purpose (the default `role/vault-node` is a guess;
 *     iam:PassRole fails mid-replacement when the nodes' role has another name);
 *   - clusterTagValues: set on purpose (the default, the stage's name, is a guess;
 *     replace-node and drills are denied on nodes whose `vault-cluster` tag is not listed);
 *   - no value left from the README's examples (account 111122223333, …);
 *   - a region (`--region`, AWS_REGION or AWS_DEFAULT_REGION).
 * Each problem names the param and says how to find its value. With a
 * command, it then builds the bundles and runs `serverless <command>` with the
 * same options (one `--stage`: the last given). Without one, it only checks.
 *
 * The test suite's packaging (test/support/packaged-service.ts) runs osls
 * directly, on purpose with the placeholders, and is not affected.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const COMMANDS = new Set(['package', 'deploy']);
const EXAMPLE_VALUES = /111122223333|123456789012|0123456789abcdef|REPLACE[-_ ]?ME|CHANGE[-_ ]?ME/i;
/** A reference serverless or CloudFormation resolves later (`${ssm:…}`, `${AWS::AccountId}`): not checkable offline, not a placeholder. */
const REFERENCE = /\$\{(?!AWS::)[^}]+\}/;

export class UsageError extends Error {
  name = 'UsageError';
}

/** The serverless options that matter here, as osls reads them (`--x value` or `--x=value`; `--param` repeatable). */
export function parseOptions(argv) {
  const out = { command: undefined, stage: undefined, region: undefined, params: {}, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--stage' || flag === '-s') out.stage = value();
    else if (flag === '--region' || flag === '-r') out.region = value();
    else if (flag === '--param') {
      const p = value();
      const eq = p.indexOf('=');
      if (eq <= 0) throw new UsageError(`--param needs name=value, not "${p}"`);
      out.params[p.slice(0, eq)] = p.slice(eq + 1);
    } else if (out.command === undefined && !a.startsWith('-') && out.rest.length === 0) out.command = a;
    else out.rest.push(a);
  }
  return out;
}

/** params.default < params.<stage> < --param, and which names were set on purpose (anything but the default). */
export function effectiveParams(serverlessYml, stage, cliParams) {
  const doc = parseDocument(serverlessYml, { logLevel: 'silent' }).toJS({ maxAliasCount: 100 }) ?? {};
  const defaults = doc.params?.default ?? {};
  const ofStage = (stage && doc.params?.[stage]) || {};
  const values = { ...defaults, ...ofStage, ...cliParams };
  const explicit = new Set([...Object.keys(ofStage), ...Object.keys(cliParams)]);
  return { values, defaults, explicit };
}

const HOW_TO_FIND = {
  subnetIds:
    'the private subnets the controller runs in, comma-separated, in the Vault nodes\' VPC (they need a route to the AWS APIs): aws ec2 describe-subnets --filters Name=vpc-id,Values=<vpc-id> --query "Subnets[].[SubnetId,AvailabilityZone,Tags]"',
  securityGroupIds:
    'a security group for the controller that the nodes\' group admits on 8200: aws ec2 describe-security-groups --filters Name=vpc-id,Values=<vpc-id> --query "SecurityGroups[].[GroupId,GroupName]"',
  instanceRoleArn:
    'the role of the Vault nodes\' instance profile (the launch template\'s IamInstanceProfile): aws iam get-instance-profile --instance-profile-name <profile> --query "InstanceProfile.Roles[].Arn"',
  targetGroupArns: 'the target group(s) of the Vault load balancer: aws elbv2 describe-target-groups --query "TargetGroups[].TargetGroupArn"',
  classicLoadBalancerArns: 'a Classic Load Balancer: arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/<name> (aws elb describe-load-balancers)',
  vaultLockTableArns: 'Vault\'s DynamoDB table (ha_table, or table): aws dynamodb describe-table --table-name <table> --query Table.TableArn',
  configParameter: 'the SSM parameter holding the config JSON (default /vault-ha/<stage>/config)',
  clusterTagValues:
    'the `vault-cluster` tag values of the clusters this stage manages, comma-separated (each cluster\'s discovery.tagValue in the config): aws ec2 describe-instances --filters Name=tag-key,Values=vault-cluster --query "Reservations[].Instances[].Tags[?Key==\'vault-cluster\'].Value[]"',
};

const how = (name) => HOW_TO_FIND[name] ?? 'see README "Deploying"';
const list = (v) => String(v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** Every problem with the params and the region, as operator-facing sentences naming the param. */
export function checkDeployParams({ values, defaults, explicit }, { region } = {}) {
  const problems = [];
  const ids = (name, prefix) => {
    const v = values[name];
    if (REFERENCE.test(String(v))) return;
    const items = list(v);
    if (items.length === 0) {
      problems.push(`params.${name} is empty: set --param="${name}=${prefix}-…" (${how(name)})`);
      return;
    }
    for (const id of items) {
      if (EXAMPLE_VALUES.test(id)) problems.push(`params.${name} is the placeholder "${id}": set --param="${name}=${prefix}-…" (${how(name)})`);
      else if (!new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`).test(id)) problems.push(`params.${name}: "${id}" is not a ${prefix} id (${prefix}- and 8 or 17 hex digits)`);
    }
  };
  ids('subnetIds', 'subnet');
  ids('securityGroupIds', 'sg');

  const role = String(values.instanceRoleArn ?? '');
  if (!explicit.has('instanceRoleArn') || role === String(defaults.instanceRoleArn ?? '')) {
    problems.push(
      `params.instanceRoleArn is not set (the default "${defaults.instanceRoleArn ?? ''}" is a guess, and replace-node fails at iam:PassRole if the nodes' role has another name): set --param="instanceRoleArn=arn:aws:iam::<account>:role/<role>" (${how('instanceRoleArn')})`,
    );
  } else if (EXAMPLE_VALUES.test(role)) {
    problems.push(`params.instanceRoleArn is an example value ("${role}"): set the real role (${how('instanceRoleArn')})`);
  } else if (!REFERENCE.test(role) && !/^arn:(aws[a-zA-Z-]*|\$\{AWS::Partition\}):iam::(\d{12}|\$\{AWS::AccountId\}):role\/[\w+=,.@/-]+$/.test(role)) {
    problems.push(`params.instanceRoleArn: "${role}" is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)`);
  }

  const tagValues = list(values.clusterTagValues);
  if (!explicit.has('clusterTagValues') || String(values.clusterTagValues) === String(defaults.clusterTagValues ?? '')) {
    problems.push(
      `params.clusterTagValues is not set (the default, the stage name, is a guess, and replace-node and drills are denied on nodes whose vault-cluster tag it does not list): set --param="clusterTagValues=<value>,<value>" (${how('clusterTagValues')})`,
    );
  } else if (!REFERENCE.test(String(values.clusterTagValues))) {
    if (tagValues.length === 0) problems.push(`params.clusterTagValues is empty: set --param="clusterTagValues=<value>" (${how('clusterTagValues')})`);
    for (const v of tagValues) {
      // A wildcard would be a literal in StringEquals, and would admit every stage in a pattern (IAM User Guide, "Condition operators").
      if (/[*?]/.test(v)) problems.push(`params.clusterTagValues: "${v}" is a pattern; list the exact vault-cluster values (IAM compares them with StringEquals)`);
      else if (v.length > 256) problems.push(`params.clusterTagValues: a value of ${v.length} characters is longer than an EC2 tag value (256)`);
    }
  }

  for (const name of ['targetGroupArns', 'classicLoadBalancerArns', 'vaultLockTableArns', 'configParameter']) {
    const v = String(values[name] ?? '');
    if (EXAMPLE_VALUES.test(v)) problems.push(`params.${name} holds an example value ("${v}"): set the real one (${how(name)})`);
  }

  if (!region) {
    problems.push('no AWS region: pass --region REGION, or set AWS_REGION (with a profile: export AWS_REGION=$(aws configure get region))');
  }
  return problems;
}

function runServerless(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'node_modules/osls/bin/serverless.js'), ...args], { cwd: root, stdio: 'inherit' });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(argv, env) {
  let opts;
  try {
    opts = parseOptions(argv);
    if (opts.command !== undefined && !COMMANDS.has(opts.command)) throw new UsageError(`unknown command "${opts.command}" (package or deploy)`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`check-deploy-params: ${e.message}`);
    return 2;
  }
  const stage = opts.stage ?? 'dev';
  const params = effectiveParams(await readFile(path.join(root, 'serverless.yml'), 'utf8'), stage, opts.params);
  const region = opts.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined);
  const problems = checkDeployParams(params, { region });
  if (problems.length > 0) {
    console.error(`Refusing to ${opts.command ?? 'deploy'} stage "${stage}": ${problems.length} parameter(s) to fix (README "Deploying" says where each value comes from):`);
    for (const p of problems) console.error(`  - ${p}`);
    return 2;
  }
  console.log(`deploy parameters of stage "${stage}" (region ${region}): ok`);
  if (opts.command === undefined) return 0;
  const { buildAll } = await import('./build.mjs');
  await buildAll();
  const args = [opts.command, '--stage', stage, ...(opts.region ? ['--region', opts.region] : []), ...Object.entries(opts.params).map(([k, v]) => `--param=${k}=${v}`), ...opts.rest];
  return runServerless(args);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (e) => {
      // As scripts/build.mjs: esbuild's message lists every build error; its stack adds nothing.
      console.error(e?.message ?? e);
      process.exit(1);
    },
  );
}
