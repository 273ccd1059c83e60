/**
 * `loadBalancer.type` (DESIGN §4.1): `target-group` (default; `targetGroupArn`
 * required) or `classic` (`loadBalancerName` required), each failing fast with
 * a message naming the field.
 */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { parseConfig } from '../../../functions/config/load.js';
import { ConfigError } from '../../../functions/config/errors.js';

const TG = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/0123456789abcdef';
const config = (loadBalancer: unknown) => ({
  clusters: [{ name: 'prod', discovery: { tagKey: 'vault-cluster', tagValue: 'prod' }, loadBalancer, haLock: { type: 'raft' } }],
});
const problemsOf = (loadBalancer: unknown): string[] => {
  try {
    parseConfig(config(loadBalancer));
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return assert.fail('expected a ConfigError');
};

describe('loadBalancer.type', () => {
  it('defaults to target-group: a config written before the field keeps its meaning', () => {
    const lb = parseConfig(config({ targetGroupArn: TG, routing: 'active-only' })).clusters[0]!.loadBalancer;
    assert.deepEqual(lb, { type: 'target-group', targetGroupArn: TG, routing: 'active-only' });
  });

  it('classic takes a load balancer name and the shared routing default', () => {
    const lb = parseConfig(config({ type: 'classic', loadBalancerName: 'vault-prod' })).clusters[0]!.loadBalancer;
    assert.deepEqual(lb, { type: 'classic', loadBalancerName: 'vault-prod', routing: 'all-unsealed' });
  });

  const rows: Array<{ name: string; lb: unknown; problem: RegExp }> = [
    { name: 'target-group without targetGroupArn', lb: { type: 'target-group' }, problem: /^clusters\[0\]\.loadBalancer\.targetGroupArn: Required/ },
    { name: 'classic without loadBalancerName', lb: { type: 'classic' }, problem: /^clusters\[0\]\.loadBalancer\.loadBalancerName: Required/ },
    { name: 'classic with a name ELB refuses', lb: { type: 'classic', loadBalancerName: '-vault' }, problem: /loadBalancerName: must be a Classic Load Balancer name/ },
    { name: 'classic with a target group field', lb: { type: 'classic', loadBalancerName: 'vault', targetGroupArn: TG }, problem: /loadBalancer: unknown field\(s\) "targetGroupArn"/ },
    { name: 'classic with targetPort (its listener decides the port)', lb: { type: 'classic', loadBalancerName: 'vault', targetPort: 8200 }, problem: /unknown field\(s\) "targetPort"/ },
    { name: 'an unknown type', lb: { type: 'alb', targetGroupArn: TG }, problem: /^clusters\[0\]\.loadBalancer\.type: must be "target-group" \(the default\) or "classic"$/ },
    { name: 'a listenerUrl that is not http(s)', lb: { targetGroupArn: TG, listenerUrl: 'ftp://vault.internal' }, problem: /loadBalancer\.listenerUrl/ },
  ];
  for (const r of rows) {
    it(`${r.name}: fails naming the field`, () => {
      const problems = problemsOf(r.lb);
      assert.ok(problems.some((p) => r.problem.test(p)), problems.join('\n'));
    });
  }
});
