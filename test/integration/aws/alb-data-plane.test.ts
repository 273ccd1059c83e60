/**
 * The ALB listener as clients see it: round robin over healthy targets, fail-open
 * when every registered target is unhealthy, 503 from the load balancer itself when
 * nothing is routable, no new requests to draining targets, and the client probe's
 * success rate over a rolling window.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, beforeEach, describe, test } from '@jest/globals';
import { LocalAws, ScaledClock, clientProbe } from '../../../sandbox/aws/index.js';
import type { SimInstance } from '../../../sandbox/aws/index.js';
import { fakeNode as fakeHealthNode, type FakeNode } from '../../support/aws-contract.js';

/** Each node names itself in a header and its body, so a test sees which target served a request. */
const fakeNode = (name: string, status: number): Promise<FakeNode> => fakeHealthNode(status, { headers: { 'x-node': name }, body: () => JSON.stringify({ node: name }) });

const SPEED = 25;

async function get(url: string): Promise<{ status: number; node: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, node: res.headers['x-node'] as string | undefined, body }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
  });
}

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 6_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('ALB data plane', () => {
  let aws: LocalAws;
  let nodes: FakeNode[];
  let tgArn: string;
  let listenerUrl: string;

  beforeEach(async () => {
    nodes = [];
    aws = new LocalAws({
      worldOptions: { clock: new ScaledClock(SPEED), timings: { pendingMs: 2_000, stoppingMs: 2_000, shuttingDownMs: 2_000 } },
      alb: { registrationDelayMs: 1_000 },
    });
    aws.world.addSubnet({ subnetId: 'subnet-0a', availabilityZone: 'eu-west-1a' });
    tgArn = aws.targetGroups.addTargetGroup({
      name: 'vault',
      healthCheck: { path: '/v1/sys/health', intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 2, unhealthyThresholdCount: 2, matcher: '200' },
      deregistrationDelaySeconds: 20,
    }).arn;
    await aws.start();
    listenerUrl = (await aws.alb.addListener(tgArn)).url;
  });

  afterEach(async () => {
    await aws.stop();
    await Promise.all(nodes.map((n) => n.close()));
  });

  async function member(name: string, status: number): Promise<{ inst: SimInstance; node: FakeNode }> {
    const node = await fakeNode(name, status);
    nodes.push(node);
    const inst = await aws.world.launchInitialInstance({ subnetId: 'subnet-0a', tags: { 'vault-url': node.url } });
    return { inst, node };
  }

  const stateOf = (id: string): string | undefined => aws.targetGroups.describeHealth(tgArn, [{ id }])[0]?.state;

  test('with no registered target the listener answers 503 itself', async () => {
    const r = await get(`${listenerUrl}/v1/sys/health`);
    assert.equal(r.status, 503);
    assert.equal(r.node, undefined);
    assert.match(r.body, /503 Service Temporarily Unavailable/);
    assert.equal(aws.alb.stats(tgArn).noRoutableTarget, 1);
  });

  test('a target that is still initial receives no traffic', async () => {
    const { inst } = await member('a', 200);
    aws.targetGroups.register(tgArn, [{ id: inst.instanceId }]);
    assert.equal(stateOf(inst.instanceId), 'initial');
    assert.equal((await get(`${listenerUrl}/`)).status, 503);
  });

  // AWS "Health checks for Application Load Balancer target groups": "After your target is
  // registered, it must pass one health check to be considered healthy"; HealthyThresholdCount
  // is what puts an unhealthy target back in service.
  test('a newly registered target turns healthy after ONE passing check, whatever HealthyThresholdCount says', async () => {
    const arn = aws.targetGroups.addTargetGroup({
      name: 'vault-aws-default',
      healthCheck: { path: '/v1/sys/health', intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 5, unhealthyThresholdCount: 2, matcher: '200' },
    }).arn;
    const { inst, node } = await member('a', 200);
    aws.targetGroups.register(arn, [{ id: inst.instanceId }]);
    const health = (): string | undefined => aws.targetGroups.describeHealth(arn, [{ id: inst.instanceId }])[0]?.state;
    await waitUntil(() => health() === 'healthy' || node.hits >= 3, 'healthy or three checks');
    assert.equal(health(), 'healthy');
    assert.equal(node.hits, 1, 'one health check, not HealthyThresholdCount (5)');
  });

  test('an unhealthy target needs HealthyThresholdCount consecutive passes to come back', async () => {
    const arn = aws.targetGroups.addTargetGroup({
      name: 'vault-aws-default',
      healthCheck: { path: '/v1/sys/health', intervalSeconds: 5, timeoutSeconds: 2, healthyThresholdCount: 4, unhealthyThresholdCount: 2, matcher: '200' },
    }).arn;
    const { inst, node } = await member('a', 503);
    aws.targetGroups.register(arn, [{ id: inst.instanceId }]);
    const health = (): string | undefined => aws.targetGroups.describeHealth(arn, [{ id: inst.instanceId }])[0]?.state;
    await waitUntil(() => health() === 'unhealthy', 'unhealthy');
    node.status = 200;
    const hitsAtRecovery = node.hits;
    await waitUntil(() => health() === 'healthy', 'healthy again');
    assert.equal(node.hits - hitsAtRecovery, 4, 'exactly HealthyThresholdCount passing checks');
  });

  test('requests are spread round robin over healthy targets', async () => {
    const a = await member('a', 200);
    const b = await member('b', 200);
    aws.targetGroups.register(tgArn, [{ id: a.inst.instanceId }, { id: b.inst.instanceId }]);
    await waitUntil(() => stateOf(a.inst.instanceId) === 'healthy' && stateOf(b.inst.instanceId) === 'healthy', 'both healthy');
    const seen: Array<string | undefined> = [];
    for (let i = 0; i < 4; i++) seen.push((await get(`${listenerUrl}/v1/secret/x`)).node);
    assert.deepEqual([...seen].sort(), ['a', 'a', 'b', 'b']);
    assert.equal(aws.alb.stats(tgArn).byTarget[a.inst.instanceId], 2);
  });

  test('only healthy targets get traffic while at least one is healthy', async () => {
    const a = await member('a', 200);
    const b = await member('b', 503);
    aws.targetGroups.register(tgArn, [{ id: a.inst.instanceId }, { id: b.inst.instanceId }]);
    await waitUntil(() => stateOf(a.inst.instanceId) === 'healthy' && stateOf(b.inst.instanceId) === 'unhealthy', 'a healthy, b unhealthy');
    for (let i = 0; i < 4; i++) assert.equal((await get(`${listenerUrl}/`)).node, 'a');
    assert.equal(aws.alb.stats(tgArn).failOpen, 0);
  });

  test('fails open: when every target is unhealthy, the listener routes to all of them', async () => {
    const a = await member('a', 503);
    const b = await member('b', 503);
    aws.targetGroups.register(tgArn, [{ id: a.inst.instanceId }, { id: b.inst.instanceId }]);
    await waitUntil(() => stateOf(a.inst.instanceId) === 'unhealthy' && stateOf(b.inst.instanceId) === 'unhealthy', 'both unhealthy');
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 4; i++) {
      const r = await get(`${listenerUrl}/`);
      assert.equal(r.status, 503);
      seen.add(r.node);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b'], 'the 503s come from the targets, not the load balancer');
    const s = aws.alb.stats(tgArn);
    assert.equal(s.failOpen, 4);
    assert.equal(s.noRoutableTarget, 0);
  });

  test('a draining target receives no new requests', async () => {
    const a = await member('a', 200);
    const b = await member('b', 200);
    aws.targetGroups.register(tgArn, [{ id: a.inst.instanceId }, { id: b.inst.instanceId }]);
    await waitUntil(() => stateOf(a.inst.instanceId) === 'healthy' && stateOf(b.inst.instanceId) === 'healthy', 'both healthy');
    aws.targetGroups.deregister(tgArn, [{ id: a.inst.instanceId }]);
    assert.equal(stateOf(a.inst.instanceId), 'draining');
    for (let i = 0; i < 4; i++) assert.equal((await get(`${listenerUrl}/`)).node, 'b');
  });

  test('a dead node that stays registered as the only target keeps getting traffic (fail-open) and clients fail', async () => {
    const a = await member('a', 200);
    aws.targetGroups.register(tgArn, [{ id: a.inst.instanceId }]);
    await waitUntil(() => stateOf(a.inst.instanceId) === 'healthy', 'healthy');
    await a.node.close();
    await waitUntil(() => stateOf(a.inst.instanceId) === 'unhealthy', 'unhealthy');
    const r = await get(`${listenerUrl}/`);
    assert.equal(r.status, 502);
    const s = aws.alb.stats(tgArn);
    assert.equal(s.failOpen, 1);
    assert.equal(s.targetConnectionErrors, 1);
  });

  test('the client probe sees the success rate fall when the only node starts failing', async () => {
    const a = await member('a', 200);
    aws.targetGroups.register(tgArn, [{ id: a.inst.instanceId }]);
    await waitUntil(() => stateOf(a.inst.instanceId) === 'healthy', 'healthy');
    const probe = clientProbe({ url: listenerUrl, clock: aws.world.clock, intervalMs: 1_000, timeoutMs: 2_000, windowMs: 4_000, maxRequests: 60 });
    try {
      await waitUntil(() => probe.stats().windowSamples >= 3, 'first samples');
      assert.equal(probe.stats().successRate, 1);
      a.node.status = 503;
      await waitUntil(() => probe.stats().successRate === 0 && probe.stats().windowSamples >= 2, 'window full of failures');
      assert.ok(probe.stats().failed >= 2);
      assert.equal(probe.stats().last?.status, 503);
    } finally {
      await probe.stop();
    }
    assert.ok(probe.stats().sent <= 60);
  });

  test('the client probe stops by itself after maxRequests', async () => {
    const probe = clientProbe({ url: listenerUrl, clock: aws.world.clock, intervalMs: 100, timeoutMs: 2_000, windowMs: 10_000, maxRequests: 3 });
    await probe.done;
    assert.equal(probe.stats().sent, 3);
    assert.equal(probe.stats().successRate, 0, 'no targets: every request got the load balancer 503');
  });
});
