/**
 * Client-visible measurement (functions/core/drill-client.ts): what the drill
 * requests through the listener, what counts as served, and the RTO clients saw.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { clientProbeTarget, clientRtoSeconds, clientsServed, DEFAULT_CLIENT_PROBE_PATH, emptyTally, isClientSuccess, MAX_CLIENT_TRANSITIONS, tallyClient, type ClientSample } from '../../../functions/core/drill-client.js';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const iso = (ms: number) => new Date(T0 + ms).toISOString();
const sample = (ms: number, ok: boolean): ClientSample => ({ atMs: T0 + ms, ok, detail: ok ? 'HTTP 200' : 'refused' });

describe('clientProbeTarget', () => {
  it('uses the listener URL\'s own path (a request clients really make), query included', () => {
    assert.deepEqual(clientProbeTarget('https://vault.example.internal/v1/secret/data/probe?version=1'), {
      url: 'https://vault.example.internal/v1/secret/data/probe?version=1',
      path: '/v1/secret/data/probe?version=1',
      usesDefaultPath: false,
    });
  });

  it('falls back to sys/health with standbyok and perfstandbyok when the URL names no path', () => {
    for (const url of ['https://vault.example.internal:8200', 'https://vault.example.internal:8200/']) {
      const t = clientProbeTarget(url);
      assert.equal(t.url, `https://vault.example.internal:8200${DEFAULT_CLIENT_PROBE_PATH}`);
      assert.equal(t.usesDefaultPath, true);
    }
  });
});

describe('isClientSuccess', () => {
  it('counts 2xx and 403 (an active handled the unauthenticated request) as served; redirects, 5xx and 429 as not', () => {
    for (const s of [200, 204, 403]) assert.equal(isClientSuccess(s), true, String(s));
    for (const s of [307, 429, 473, 500, 502, 503, 504]) assert.equal(isClientSuccess(s), false, String(s));
  });
});

describe('tallyClient and clientRtoSeconds', () => {
  it('measures from the injection to the first success after the last failure, counting the failures', () => {
    let t = tallyClient(undefined, [sample(100, true), sample(400, false), sample(700, false)]);
    assert.deepEqual([t.sent, t.failed, t.lastOk, t.recoveredAt, t.firstOkAt], [3, 2, false, '', iso(100)]);
    assert.equal(clientRtoSeconds(iso(0), t), null, 'still failing');
    t = tallyClient(t, [sample(1_200, true), sample(900, false)]);
    assert.deepEqual([t.failed, t.firstFailedAt, t.lastFailedAt, t.recoveredAt, t.lastOk], [3, iso(400), iso(900), iso(1_200), true]);
    assert.equal(clientRtoSeconds(iso(0), t), 1.2);
    assert.equal(clientsServed(t), true);
    assert.deepEqual(t.transitions.map((x) => x.ok), [true, false, true]);
  });

  it('is 0 when no request failed, and null when none was sent', () => {
    assert.equal(clientRtoSeconds(iso(0), tallyClient(undefined, [sample(10, true)])), 0);
    assert.equal(clientRtoSeconds(iso(0), emptyTally()), null);
    assert.equal(clientRtoSeconds(iso(0), undefined), null);
    assert.equal(clientsServed(undefined), false);
  });

  it('a new failure after a recovery restarts the clock', () => {
    const t = tallyClient(undefined, [sample(100, false), sample(200, true), sample(300, false), sample(500, true)]);
    assert.equal(clientRtoSeconds(iso(0), t), 0.5);
  });

  it('keeps the transitions bounded (the first and the latest)', () => {
    const samples = Array.from({ length: 200 }, (_, i) => sample(i * 10, i % 2 === 0));
    const t = tallyClient(undefined, samples);
    assert.equal(t.transitions.length, MAX_CLIENT_TRANSITIONS);
    assert.equal(t.transitions[0]?.at, iso(0));
    assert.equal(t.transitions.at(-1)?.at, iso(1_990));
    assert.equal(t.sent, 200);
  });
});
