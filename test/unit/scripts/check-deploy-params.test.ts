/**
 * `npm run package` refuses a stack that would fail late: placeholder subnets
 * and security groups, an instance role nobody chose, example values, no
 * region (scripts/check-deploy-params.mjs).
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { checkDeployParams, effectiveParams, parseOptions, UsageError } from '../../../scripts/check-deploy-params.mjs';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SERVERLESS_YML = readFileSync(path.join(root, 'serverless.yml'), 'utf8');
const GOOD = {
  subnetIds: 'subnet-0123abcd,subnet-0a1b2c3d4e5f67890',
  securityGroupIds: 'sg-0a1b2c3d4e5f67890',
  instanceRoleArn: 'arn:aws:iam::444455556666:role/vault-node',
  clusterTagValues: 'prod,prod-dr',
};
/** `region` null: none given. */
const check = (cli: Record<string, string>, region: string | null = 'eu-west-1', yml = SERVERLESS_YML, stage = 'prod'): string[] =>
  checkDeployParams(effectiveParams(yml, stage, cli), region === null ? {} : { region });

describe('check-deploy-params', () => {
  it('with serverless.yml\'s defaults it refuses, naming each param and how to find its value', () => {
    const problems = check({}, null);
    const joined = problems.join('\n');
    assert.match(joined, /params\.subnetIds is the placeholder "subnet-REPLACE-ME": set --param="subnetIds=subnet-…" \(.*describe-subnets/);
    assert.match(joined, /params\.securityGroupIds is the placeholder "sg-REPLACE-ME": set --param="securityGroupIds=sg-…" \(.*describe-security-groups/);
    assert.match(joined, /params\.instanceRoleArn is not set .*iam:PassRole.*get-instance-profile/);
    assert.match(joined, /params\.clusterTagValues is not set .*vault-cluster.*describe-instances/);
    assert.match(joined, /no AWS region: pass --region REGION, or set AWS_REGION/);
    assert.equal(problems.length, 5, joined);
  });

  it('accepts real-looking values given with --param', () => {
    assert.deepEqual(check(GOOD), []);
  });

  const rows: Array<{ behaviour: string; cli: Record<string, string>; problem: RegExp }> = [
    { behaviour: 'one placeholder among real subnets', cli: { ...GOOD, subnetIds: 'subnet-0123abcd,subnet-REPLACE-ME' }, problem: /subnetIds is the placeholder "subnet-REPLACE-ME"/ },
    { behaviour: 'a malformed security group id', cli: { ...GOOD, securityGroupIds: 'sg-xyz' }, problem: /securityGroupIds: "sg-xyz" is not a sg id/ },
    { behaviour: 'an empty subnet list', cli: { ...GOOD, subnetIds: '' }, problem: /subnetIds is empty/ },
    { behaviour: 'the README\'s example account in the role', cli: { ...GOOD, instanceRoleArn: 'arn:aws:iam::111122223333:role/vault-node' }, problem: /instanceRoleArn is an example value/ },
    { behaviour: 'a role value that is not a role ARN', cli: { ...GOOD, instanceRoleArn: 'vault-node' }, problem: /instanceRoleArn: "vault-node" is not an IAM role ARN/ },
    { behaviour: 'the default role repeated explicitly is still the guess', cli: { ...GOOD, instanceRoleArn: 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/vault-node' }, problem: /instanceRoleArn is not set/ },
    { behaviour: 'a wildcard among the cluster tag values', cli: { ...GOOD, clusterTagValues: 'prod,*' }, problem: /clusterTagValues: "\*" is a pattern/ },
    { behaviour: 'no cluster tag value at all', cli: { ...GOOD, clusterTagValues: ' , ' }, problem: /clusterTagValues is empty/ },
    { behaviour: 'the stage name repeated explicitly is still the guess', cli: { ...GOOD, clusterTagValues: '${sls:stage}' }, problem: /clusterTagValues is not set/ },
    {
      behaviour: 'the README\'s example target group',
      cli: { ...GOOD, targetGroupArns: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef' },
      problem: /params\.targetGroupArns holds an example value/,
    },
  ];
  for (const row of rows) {
    it(`refuses ${row.behaviour}`, () => {
      assert.match(check(row.cli).join('\n'), row.problem);
    });
  }

  it('reads params.<stage> from serverless.yml over params.default, and --param over both', () => {
    const yml = `${SERVERLESS_YML}\n`.replace(
      'params:\n  default:',
      `params:\n  prod:\n    subnetIds: ${GOOD.subnetIds}\n    securityGroupIds: ${GOOD.securityGroupIds}\n    instanceRoleArn: \${ssm:/ops/vault-node-role-arn}\n    clusterTagValues: prod\n  default:`,
    );
    assert.deepEqual(check({}, 'eu-west-1', yml, 'prod'), [], 'a reference resolved at deploy time is not a placeholder');
    assert.match(check({}, 'eu-west-1', yml, 'dev').join('\n'), /subnetIds is the placeholder/, 'another stage keeps the defaults');
    assert.match(check({ subnetIds: 'subnet-REPLACE-ME' }, 'eu-west-1', yml, 'prod').join('\n'), /subnetIds is the placeholder/);
  });

  it('parses serverless options as osls does: the last --stage wins, --param in both spellings', () => {
    const o = parseOptions(['package', '--stage', 'dev', '--stage=prod', '--param=subnetIds=subnet-0a', '--param', 'securityGroupIds=sg-0b', '--region', 'eu-west-1', '--verbose']);
    assert.equal(o.command, 'package');
    assert.equal(o.stage, 'prod');
    assert.equal(o.region, 'eu-west-1');
    assert.deepEqual(o.params, { subnetIds: 'subnet-0a', securityGroupIds: 'sg-0b' });
    assert.deepEqual(o.rest, ['--verbose']);
    assert.throws(() => parseOptions(['--param', 'nameonly']), UsageError);
    assert.throws(() => parseOptions(['--stage']), UsageError);
  });

  it('npm run package runs the check first; the script refuses with exit 2 and builds nothing', async () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts['package']!, /^node scripts\/check-deploy-params\.mjs package\b/);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'AWS_REGION' && k !== 'AWS_DEFAULT_REGION'));
    const err = await run(process.execPath, [path.join(root, 'scripts/check-deploy-params.mjs'), 'package', '--stage', 'dev', '--stage', 'ci'], { cwd: root, env, timeout: 60_000 }).then(
      () => assert.fail('the check passed with placeholders'),
      (e: { code?: number; stdout?: string; stderr?: string }) => e,
    );
    assert.equal(err.code, 2);
    assert.match(err.stderr ?? '', /Refusing to package stage "ci": 5 parameter\(s\) to fix/);
    assert.match(err.stderr ?? '', /params\.subnetIds/);
    assert.doesNotMatch(err.stdout ?? '', /KiB zipped/, 'nothing was built');
  });

  it('README "Deploying" documents every param of serverless.yml, with how to find its value', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Parameters'), readme.indexOf('### Notifications'));
    assert.ok(section.length > 100, 'README has a "### Parameters" section under "Deploying"');
    const { defaults } = effectiveParams(SERVERLESS_YML, 'dev', {});
    for (const name of Object.keys(defaults)) {
      const row = section.split('\n').find((l) => l.startsWith('|') && l.split('|')[1]!.includes(`\`${name}\``));
      assert.ok(row, `params.${name} is not in README "Deploying" › Parameters`);
      assert.ok(row.split('|').filter((c) => c.trim() !== '').length >= 4, `params.${name}: the row says what it is and how to find it`);
    }
  });
});
