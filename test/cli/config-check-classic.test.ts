/**
 * `vault-ha config check --live` for `loadBalancer.type: classic`: the Classic
 * Load Balancer is looked up by name (DescribeLoadBalancers, exact command),
 * a name ELB does not know is a failing line naming the config field, and its
 * health check is reported against README "Classic Load Balancer" (target,
 * interval, timeout, thresholds), as the target-group check reports its own.
 * AWS answers follow the API reference's shapes (DescribeLoadBalancers →
 * LoadBalancerDescriptions[].HealthCheck { Target, Interval, Timeout,
 * UnhealthyThreshold, HealthyThreshold }); SDK clients are mocked with
 * aws-sdk-client-mock, every instance of each class (no network).
 */
import assert from 'node:assert/strict';
import { afterAll, afterEach, describe, it } from '@jest/globals';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AccessPointNotFoundException,
  DescribeLoadBalancersCommand,
  ElasticLoadBalancingClient,
  ElasticLoadBalancingServiceException,
  type HealthCheck,
} from '@aws-sdk/client-elastic-load-balancing';
import { DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { SNSClient } from '@aws-sdk/client-sns';
import { STSClient } from '@aws-sdk/client-sts';
import { parseConfig } from '../../functions/config/load.js';
import type { ClusterConfig } from '../../functions/config/schema.js';
import { CliContext } from '../../cli/lib/context.js';
import { Output } from '../../cli/lib/output.js';
import { RECOMMENDED_CLASSIC_HEALTH_CHECK, classicHealthCheckNotes, classicLoadBalancerCheck, liveChecks } from '../../cli/config-check.js';
import { RECOMMENDED_CLASSIC_HEALTH_CHECK as SANDBOX_RECOMMENDED } from '../../sandbox/environment.js';

const elb = mockClient(ElasticLoadBalancingClient);
// Everything else liveChecks touches answers nothing (undefined), so no call leaves the process.
const elbv2 = mockClient(ElasticLoadBalancingV2Client);
const others = [mockClient(EC2Client), elbv2, mockClient(DynamoDBClient), mockClient(SSMClient), mockClient(SNSClient), mockClient(STSClient)];
afterEach(() => {
  elb.reset();
  for (const m of others) m.reset();
});
afterAll(() => {
  elb.restore();
  for (const m of others) m.restore();
});

const LB = 'vault-prod';
const client = new ElasticLoadBalancingClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const metadata = { httpStatusCode: 400, requestId: 'req-1' };

function configWith(loadBalancer: Record<string, unknown>, scheme: 'http' | 'https' = 'https') {
  return parseConfig({
    controlTable: 'vault-ha-control-prod',
    clusters: [
      {
        name: 'prod',
        discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
        vault: { scheme, port: 8200, address: 'privateIp', probeTimeoutMs: 2000 },
        loadBalancer,
        haLock: { type: 'raft' },
        unseal: { mode: 'auto' },
      },
    ],
  });
}
const classicCluster = (routing: 'active-only' | 'all-unsealed' = 'all-unsealed', scheme: 'http' | 'https' = 'https'): ClusterConfig =>
  configWith({ type: 'classic', loadBalancerName: LB, routing }, scheme).clusters[0]!;

/** DescribeLoadBalancers' answer for one balancer (API reference "LoadBalancerDescription"). */
function described(hc: HealthCheck, instances: string[] = ['i-0a1b2c3d4e5f60718', 'i-0b1b2c3d4e5f60718']) {
  return {
    LoadBalancerDescriptions: [
      {
        LoadBalancerName: LB,
        DNSName: `internal-${LB}-1234567890.eu-west-1.elb.amazonaws.com`,
        Scheme: 'internal',
        ListenerDescriptions: [{ Listener: { Protocol: 'TCP', LoadBalancerPort: 443, InstanceProtocol: 'TCP', InstancePort: 8200 }, PolicyNames: [] }],
        HealthCheck: hc,
        Instances: instances.map((InstanceId) => ({ InstanceId })),
      },
    ],
  };
}
const RECOMMENDED_HC: HealthCheck = { Target: 'HTTPS:8200/v1/sys/health?standbyok=true', Interval: 5, Timeout: 3, UnhealthyThreshold: 2, HealthyThreshold: 2 };
/** What the console proposes for a new Classic Load Balancer. */
const CONSOLE_DEFAULT_HC: HealthCheck = { Target: 'HTTP:80/index.html', Interval: 30, Timeout: 5, UnhealthyThreshold: 2, HealthyThreshold: 10 };

describe('config check --live: Classic Load Balancer', () => {
  it('sends exactly DescribeLoadBalancers with the configured name, and passes with the recommended health check', async () => {
    elb.on(DescribeLoadBalancersCommand).resolves(described(RECOMMENDED_HC));
    const check = await classicLoadBalancerCheck(client, classicCluster(), 0);
    assert.deepEqual(
      elb.commandCalls(DescribeLoadBalancersCommand).map((c) => c.args[0].input),
      [{ LoadBalancerNames: [LB] }],
    );
    assert.equal(check.ok, true, check.detail);
    assert.equal(check.check, `Classic Load Balancer ${LB}`);
    assert.deepEqual(check.confirms, [LB]);
    assert.match(check.detail, /^2 registered instance\(s\); health check HTTPS:8200\/v1\/sys\/health\?standbyok=true every 5 s, timeout 3 s, healthy\/unhealthy threshold 2\/2$/);
  });

  it('LoadBalancerNotFound is a failing line naming the field .loadBalancer.loadBalancerName', async () => {
    elb.on(DescribeLoadBalancersCommand).rejects(
      Object.assign(new AccessPointNotFoundException({ message: `There is no ACTIVE Load Balancer named '${LB}'`, $metadata: metadata }), { Code: 'LoadBalancerNotFound' }),
    );
    const check = await classicLoadBalancerCheck(client, classicCluster(), 0);
    assert.equal(check.ok, false);
    assert.match(check.detail, /^not found: no Classic Load Balancer named "vault-prod" in this account and region; fix clusters\[0\]\.loadBalancer\.loadBalancerName/);
  });

  it('any other error (AccessDenied) fails the line with the error, not as "not found"', async () => {
    elb.on(DescribeLoadBalancersCommand).rejects(
      new ElasticLoadBalancingServiceException({ name: 'AccessDenied', $fault: 'client', message: 'User is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers', $metadata: metadata }),
    );
    const check = await classicLoadBalancerCheck(client, classicCluster(), 0);
    assert.equal(check.ok, false);
    assert.match(check.detail, /^AccessDenied: User is not authorized to perform: elasticloadbalancing:DescribeLoadBalancers/);
  });

  it('the console\'s defaults on an HTTPS Vault: failing (HTTP to a TLS listener never passes), every deviation named', async () => {
    elb.on(DescribeLoadBalancersCommand).resolves(described(CONSOLE_DEFAULT_HC));
    const check = await classicLoadBalancerCheck(client, classicCluster(), 0);
    assert.equal(check.ok, false);
    for (const part of [
      /speaks HTTP but Vault \(vault\.scheme\) speaks HTTPS: no instance can ever pass/,
      /port 80, Vault listens on 8200/,
      /not \/v1\/sys\/health: use HTTPS:8200\/v1\/sys\/health\?standbyok=true/,
      /interval 30 s \(recommended 5 s\), timeout 5 s \(recommended 3 s\), healthy threshold 10 \(recommended 2\)/,
      /serves only after 10 × 30 s = 300 s/,
    ]) {
      assert.match(check.detail, part);
    }
    assert.doesNotMatch(check.detail, /unhealthy threshold 2 \(recommended/);
  });
});

describe('classicHealthCheckNotes: the README\'s recommendation per routing and scheme', () => {
  const rows: Array<{ name: string; hc: HealthCheck | undefined; routing: 'active-only' | 'all-unsealed'; scheme: 'http' | 'https'; broken: boolean; note?: RegExp; clean?: true }> = [
    { name: 'recommended, all-unsealed, HTTPS', hc: RECOMMENDED_HC, routing: 'all-unsealed', scheme: 'https', broken: false, clean: true },
    { name: 'recommended for active-only', hc: { ...RECOMMENDED_HC, Target: 'HTTP:8200/v1/sys/health' }, routing: 'active-only', scheme: 'http', broken: false, clean: true },
    {
      name: 'all-unsealed without standbyok: standbys never serve',
      hc: { ...RECOMMENDED_HC, Target: 'HTTPS:8200/v1/sys/health' },
      routing: 'all-unsealed',
      scheme: 'https',
      broken: false,
      note: /only the active passes \/v1\/sys\/health: the unsealed standbys that all-unsealed routing registers never serve/,
    },
    { name: 'active-only with standbyok', hc: RECOMMENDED_HC, routing: 'active-only', scheme: 'https', broken: false, note: /active-only routing the README recommends HTTPS:8200\/v1\/sys\/health \(/ },
    { name: 'a TCP check passes sealed nodes', hc: { ...RECOMMENDED_HC, Target: 'TCP:8200' }, routing: 'all-unsealed', scheme: 'https', broken: false, note: /TCP check passes on any running Vault, sealed or not/ },
    { name: 'HTTPS check on a plain-HTTP Vault', hc: { ...RECOMMENDED_HC, Target: 'HTTPS:8200/v1/sys/health' }, routing: 'active-only', scheme: 'http', broken: true, note: /speaks HTTPS but Vault \(vault\.scheme\) speaks HTTP/ },
    { name: 'no health check in the answer', hc: undefined, routing: 'all-unsealed', scheme: 'https', broken: false, note: /no health check reported/ },
  ];
  for (const row of rows) {
    it(`${row.name} → ${row.broken ? 'broken' : 'ok'}`, () => {
      const cluster = { vault: { scheme: row.scheme, port: 8200 }, loadBalancer: { routing: row.routing } };
      const r = classicHealthCheckNotes(row.hc, cluster);
      assert.equal(r.broken, row.broken, r.notes.join('; '));
      if (row.note) assert.ok(r.notes.some((n) => row.note!.test(n)), r.notes.join('; '));
      if (row.clean) assert.equal(r.notes.length, 1, `only the summary: ${r.notes.join('; ')}`);
    });
  }

  it('is the recommendation the sandbox measures (sandbox/environment.ts RECOMMENDED_CLASSIC_HEALTH_CHECK)', () => {
    assert.equal(RECOMMENDED_CLASSIC_HEALTH_CHECK.allUnsealedPath, SANDBOX_RECOMMENDED.healthCheckPath);
    for (const k of ['intervalSeconds', 'timeoutSeconds', 'healthyThreshold', 'unhealthyThreshold'] as const) {
      assert.equal(RECOMMENDED_CLASSIC_HEALTH_CHECK[k], SANDBOX_RECOMMENDED[k], k);
    }
  });
});

describe('liveChecks wiring', () => {
  const context = () => new CliContext({ positionals: [], options: {} }, { out: new Output({ stdout: { write: () => true }, stderr: { write: () => true }, json: true, color: false }), env: { ...process.env } });

  it('a classic cluster gets the Classic Load Balancer check and no target-group check', async () => {
    elb.on(DescribeLoadBalancersCommand).resolves(described(RECOMMENDED_HC));
    const ctx = context();
    const config = configWith({ type: 'classic', loadBalancerName: LB, routing: 'all-unsealed' });
    ctx.useConfig(config);
    try {
      const live = await liveChecks(ctx, config);
      const lines = live.filter((l) => l.cluster === 'prod').map((l) => l.check);
      assert.ok(lines.includes(`Classic Load Balancer ${LB}`), lines.join('\n'));
      assert.ok(!lines.some((l) => l.startsWith('target group')), lines.join('\n'));
      assert.equal(live.find((l) => l.check === `Classic Load Balancer ${LB}`)?.ok, true);
    } finally {
      ctx.destroy();
    }
  });

  it('a target-group cluster never calls the Classic ELB API', async () => {
    const ctx = context();
    const config = configWith({ targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/vault/6d0ecf831eec9f09' });
    ctx.useConfig(config);
    try {
      await liveChecks(ctx, config);
      assert.equal(elb.calls().length, 0);
      assert.equal(elbv2.commandCalls(DescribeTargetGroupsCommand).length, 1);
    } finally {
      ctx.destroy();
    }
  });
});
