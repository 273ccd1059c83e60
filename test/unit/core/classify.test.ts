import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { classifyHealth } from '../../../functions/core/classify.js';
import type { InstanceState, NodeClass, ProbeFailureReason, ProbeResult } from '../../../functions/core/types.js';
import type { VaultHealthBody } from '../../../functions/core/vault-api.js';
import { addressOf, answer, apiAddrOf, bodies, failure, leaderBody, probe } from './factories.js';

function classify(p: ProbeResult, state: InstanceState = 'running') {
  return classifyHealth({ member: { instanceId: 'i-0a', state, address: addressOf('i-0a') }, probe: p });
}

describe('classifyHealth: default /v1/sys/health status codes', () => {
  const rows: { status: number; cls: NodeClass; claimsActive: boolean }[] = [
    { status: 200, cls: 'active', claimsActive: true },
    { status: 429, cls: 'standby', claimsActive: false },
    { status: 473, cls: 'perf-standby', claimsActive: false },
    { status: 472, cls: 'dr-secondary', claimsActive: false },
    { status: 474, cls: 'ha-unhealthy', claimsActive: false },
    { status: 501, cls: 'uninitialized', claimsActive: false },
    { status: 503, cls: 'sealed', claimsActive: false },
    { status: 530, cls: 'removed', claimsActive: false },
  ];
  for (const row of rows) {
    it(`HTTP ${row.status} with its matching body is ${row.cls}, a definitive answer without findings`, () => {
      const node = classify(probe({ status: row.status }));
      assert.equal(node.class, row.cls);
      assert.equal(node.claimsActive, row.claimsActive);
      assert.equal(node.answered, true);
      assert.equal(node.evidenceIsAbsence, false);
      assert.equal(node.statusCode, row.status);
      assert.deepEqual(node.findings, []);
    });
  }

  for (const status of [400, 404, 418, 500, 502, 504]) {
    it(`HTTP ${status} (not a Vault health code) is unknown, never claims active, and counts as absence`, () => {
      const node = classify(probe({ status, body: undefined }));
      assert.equal(node.class, 'unknown');
      assert.equal(node.claimsActive, false);
      assert.equal(node.evidenceIsAbsence, true);
      assert.ok(node.findings.some((f) => f.includes(String(status))));
    });
  }
});

describe('classifyHealth: OpenBao bodies (no 1.16+/1.19+ fields)', () => {
  const rows: { status: number; kind: 'active' | 'standby' | 'sealed' | 'uninitialized'; cls: NodeClass }[] = [
    { status: 200, kind: 'active', cls: 'active' },
    { status: 429, kind: 'standby', cls: 'standby' },
    { status: 501, kind: 'uninitialized', cls: 'uninitialized' },
    { status: 503, kind: 'sealed', cls: 'sealed' },
  ];
  for (const row of rows) {
    it(`OpenBao ${row.status} is ${row.cls} with no findings`, () => {
      const node = classify(probe({ status: row.status, body: bodies.openBao(row.kind) }));
      assert.equal(node.class, row.cls);
      assert.deepEqual(node.findings, []);
      assert.equal(node.version, '2.2.0');
    });
  }
});

describe('classifyHealth: code and body disagree → finding, less routable reading wins', () => {
  const rows: { name: string; status: number; body: VaultHealthBody; cls: NodeClass; claimsActive: boolean }[] = [
    { name: '200 with sealed:true is sealed, not active', status: 200, body: { ...bodies.active(), sealed: true }, cls: 'sealed', claimsActive: false },
    { name: '200 with initialized:false is uninitialized', status: 200, body: { ...bodies.active(), initialized: false }, cls: 'uninitialized', claimsActive: false },
    { name: '200 with standby:true is standby', status: 200, body: { ...bodies.active(), standby: true }, cls: 'standby', claimsActive: false },
    { name: '200 with performance_standby:true is perf-standby', status: 200, body: { ...bodies.active(), standby: true, performance_standby: true }, cls: 'perf-standby', claimsActive: false },
    { name: '200 with removed_from_cluster:true is removed', status: 200, body: { ...bodies.active(), removed_from_cluster: true }, cls: 'removed', claimsActive: false },
    { name: '200 with replication_dr_mode secondary is dr-secondary', status: 200, body: { ...bodies.active(), replication_dr_mode: 'secondary' }, cls: 'dr-secondary', claimsActive: false },
    { name: '429 with ha_connection_healthy:false is ha-unhealthy (Vault gives 474 precedence)', status: 429, body: { ...bodies.standby(), ha_connection_healthy: false }, cls: 'ha-unhealthy', claimsActive: false },
    { name: '429 with standby:false stays standby (never promoted by the body)', status: 429, body: { ...bodies.standby(), standby: false }, cls: 'standby', claimsActive: false },
    { name: '429 with sealed:true is sealed', status: 429, body: { ...bodies.standby(), sealed: true }, cls: 'sealed', claimsActive: false },
    { name: '473 with ha_connection_healthy:false is ha-unhealthy', status: 473, body: { ...bodies.perfStandby(), ha_connection_healthy: false }, cls: 'ha-unhealthy', claimsActive: false },
    { name: '474 with ha_connection_healthy:true stays ha-unhealthy', status: 474, body: { ...bodies.haUnhealthy(), ha_connection_healthy: true }, cls: 'ha-unhealthy', claimsActive: false },
    { name: '503 with sealed:false stays sealed', status: 503, body: { ...bodies.active() }, cls: 'sealed', claimsActive: false },
    { name: '501 with initialized:true stays uninitialized', status: 501, body: { ...bodies.sealed() }, cls: 'uninitialized', claimsActive: false },
    { name: '530 with removed_from_cluster:false stays removed', status: 530, body: { ...bodies.standby() }, cls: 'removed', claimsActive: false },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const node = classify(probe({ status: row.status, body: row.body, leader: answer(200, leaderBody({ isSelf: false })) }));
      assert.equal(node.class, row.cls);
      assert.equal(node.claimsActive, row.claimsActive);
      assert.ok(
        node.findings.some((f) => f.includes(String(row.status)) && f.includes('disagrees')),
        `expected a disagreement finding, got ${JSON.stringify(node.findings)}`,
      );
    });
  }

  it('a known code without a JSON body keeps its class and records a finding', () => {
    const node = classify(probe({ status: 503, body: undefined }));
    assert.equal(node.class, 'sealed');
    assert.ok(node.findings.some((f) => f.includes('without a JSON body')));
  });
});

describe('classifyHealth: /v1/sys/leader', () => {
  it('an active reports its own api_addr as leaderAddress', () => {
    const node = classify(probe({ status: 200, leaderAddress: apiAddrOf('i-0a') }));
    assert.equal(node.leaderAddress, apiAddrOf('i-0a'));
  });

  it("a standby's leaderAddress is the active it names", () => {
    const node = classify(probe({ status: 429, leaderAddress: apiAddrOf('i-0b') }));
    assert.equal(node.leaderAddress, apiAddrOf('i-0b'));
    assert.equal(node.claimsActive, false);
  });

  it('an empty leader_address (no leader known) leaves leaderAddress unset', () => {
    const node = classify(probe({ status: 429, leader: answer(200, leaderBody({ isSelf: false, leaderAddress: '' })) }));
    assert.equal(node.leaderAddress, undefined);
  });

  it('a standby whose /v1/sys/leader says is_self claims active, with a finding', () => {
    const node = classify(probe({ status: 429, leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf('i-0a') })) }));
    assert.equal(node.class, 'standby');
    assert.equal(node.claimsActive, true);
    assert.ok(node.findings.some((f) => f.includes('is_self')));
  });

  it('an active whose /v1/sys/leader says is_self=false still claims active, with a finding', () => {
    const node = classify(probe({ status: 200, leader: answer(200, leaderBody({ isSelf: false, leaderAddress: apiAddrOf('i-0b') })) }));
    assert.equal(node.class, 'active');
    assert.equal(node.claimsActive, true);
    assert.ok(node.findings.some((f) => f.includes('is_self=false')));
  });

  it('a sealed node cannot claim active even if /v1/sys/leader says is_self', () => {
    const node = classify(probe({ status: 503, leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf('i-0a') })) }));
    assert.equal(node.class, 'sealed');
    assert.equal(node.claimsActive, false);
    assert.ok(node.findings.some((f) => f.includes('not counted')));
  });

  it("a sealed node's 503 from /v1/sys/leader is expected and not a finding", () => {
    const node = classify(probe({ status: 503 }));
    assert.deepEqual(node.findings, []);
  });

  it('a failed leader request on an active is a finding but the health claim stands', () => {
    const node = classify(probe({ status: 200, leader: failure('timeout', 'after 2000 ms') }));
    assert.equal(node.claimsActive, true);
    assert.ok(node.findings.some((f) => f.startsWith('leader: timeout')));
  });
});

describe('classifyHealth: no answer', () => {
  for (const state of ['stopped', 'stopping', 'terminated', 'shutting-down', 'pending'] as InstanceState[]) {
    it(`an instance that is ${state} is unreachable and the evidence is definitive`, () => {
      const node = classifyHealth({ member: { instanceId: 'i-0a', state, address: addressOf('i-0a') } });
      assert.equal(node.class, 'unreachable');
      assert.equal(node.evidenceIsAbsence, false);
      assert.equal(node.answered, false);
      assert.equal(node.instanceState, state);
      assert.ok(node.findings.some((f) => f.includes(state)));
    });
  }

  for (const reason of ['timeout', 'refused', 'tls', 'dns', 'network', 'bad-json', 'oversized'] as ProbeFailureReason[]) {
    it(`a probe failure (${reason}) on a running instance is unreachable and counts as absence`, () => {
      const node = classify({ address: addressOf('i-0a'), health: failure(reason, 'x'), leader: failure(reason, 'x') });
      assert.equal(node.class, 'unreachable');
      assert.equal(node.evidenceIsAbsence, true);
      assert.equal(node.answered, false);
      assert.equal(node.claimsActive, false);
      assert.ok(node.findings.some((f) => f.includes(reason)));
    });
  }

  it('a running instance with no probe (no address) is unreachable absence', () => {
    const node = classifyHealth({ member: { instanceId: 'i-0a', state: 'running', address: undefined } });
    assert.equal(node.class, 'unreachable');
    assert.equal(node.evidenceIsAbsence, true);
  });

  it('health failing while /v1/sys/leader answers is unknown, answered, and absence', () => {
    const node = classify({ address: addressOf('i-0a'), health: failure('timeout'), leader: answer(200, leaderBody({ isSelf: false, leaderAddress: apiAddrOf('i-0b') })) });
    assert.equal(node.class, 'unknown');
    assert.equal(node.answered, true);
    assert.equal(node.evidenceIsAbsence, true);
    assert.equal(node.claimsActive, false);
  });

  it('health failing while /v1/sys/leader says is_self still counts as a claim (split-brain evidence)', () => {
    const node = classify({ address: addressOf('i-0a'), health: failure('timeout'), leader: answer(200, leaderBody({ isSelf: true, leaderAddress: apiAddrOf('i-0a') })) });
    assert.equal(node.class, 'unknown');
    assert.equal(node.claimsActive, true);
  });
});

describe('classifyHealth: clock skew', () => {
  for (const skew of [7_000, -8_000, 60_000]) {
    it(`clock_skew_ms ${skew} is a finding`, () => {
      const node = classify(probe({ status: 429, body: { ...bodies.standby(), clock_skew_ms: skew } }));
      assert.ok(node.findings.some((f) => f.includes('clock skew')));
      assert.equal(node.class, 'standby');
    });
  }

  for (const skew of [0, 250, -4_999]) {
    it(`clock_skew_ms ${skew} is not a finding`, () => {
      const node = classify(probe({ status: 429, body: { ...bodies.standby(), clock_skew_ms: skew } }));
      assert.deepEqual(node.findings, []);
    });
  }

  it('the skew limit is configurable', () => {
    const node = classifyHealth(
      { member: { instanceId: 'i-0a', state: 'running', address: addressOf('i-0a') }, probe: probe({ status: 429, body: { ...bodies.standby(), clock_skew_ms: 1_500 } }) },
      { clockSkewFindingMs: 1_000 },
    );
    assert.ok(node.findings.some((f) => f.includes('clock skew')));
  });
});
