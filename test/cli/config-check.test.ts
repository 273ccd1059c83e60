/**
 * `vault-ha config check FILE` offline: each deploy trap the issue names is
 * caught with the field it is in, and a clean config passes. The CA bundle is
 * judged as real X.509 (node:crypto) with a throw-away PKI from openssl.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { caBundleFindings, checkConfigText, ELB_DESCRIBE_REFILL_PER_SECOND, ELB_DESCRIBE_SHARE, type Finding } from '../../cli/config-check.js';
import { run } from '../../cli/vault-ha.js';
import { makeTestPki, type TestPki } from '../support/tls.js';

const NOW = Date.now();
let pki: TestPki;
let dir: string;

beforeAll(async () => {
  pki = await makeTestPki();
  dir = await mkdtemp(path.join(tmpdir(), 'vault-ha-config-check-'));
});
afterAll(async () => {
  await pki.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** A config that should pass: real-looking ids, one region, a real CA. */
function cleanConfig(): Record<string, unknown> {
  return {
    controlTable: 'vault-ha-control-prod',
    notifications: { topicArn: 'arn:aws:sns:eu-west-1:210987654321:vault-ha-prod' },
    clusters: [
      {
        name: 'prod',
        discovery: { tagKey: 'vault-cluster', tagValue: 'prod' },
        vault: { scheme: 'https', port: 8200, address: 'privateIp', caBundle: pki.caPem, probeTimeoutMs: 2000 },
        loadBalancer: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/vault/6d0ecf831eec9f09', routing: 'active-only' },
        haLock: { type: 'dynamodb', table: 'vault-data' },
        unseal: { mode: 'shamir', sharesParameterPrefix: '/vault/prod/unseal/' },
        replacement: {
          launchTemplate: { id: 'lt-07a3c5e9b1d2f4680', version: '$Latest' },
          slots: [
            { name: 'vault-a', availabilityZone: 'eu-west-1a', subnetId: 'subnet-0a1b2c3d4e5f60718', networkInterfaceId: 'eni-0f9e8d7c6b5a43210', dataVolume: { volumeId: 'vol-0123abcd4567ef890', device: '/dev/sdf' } },
          ],
        },
      },
    ],
  };
}

type Mutate = (c: Record<string, any>) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
const slot0 = (c: Record<string, any>) => c.clusters[0].replacement.slots[0]; // eslint-disable-line @typescript-eslint/no-explicit-any

function check(mutate: Mutate = () => undefined, stage?: string): Finding[] {
  const c = cleanConfig();
  mutate(c);
  return checkConfigText(JSON.stringify(c), { stage, nowMs: NOW }).findings;
}
const errors = (fs: Finding[]) => fs.filter((f) => f.level === 'error');

describe('config check (offline): every trap is an error naming its field', () => {
  it('a clean config has no error (the 2-day test CA only warns that it expires soon)', () => {
    const fs = check();
    assert.deepEqual(errors(fs), []);
    assert.ok(fs.some((f) => f.level === 'warning' && f.path === 'clusters[0].vault.caBundle' && /expires/.test(f.message)));
  });

  const traps: Array<{ name: string; mutate: Mutate; path: string; message: RegExp }> = [
    { name: 'subnet-REPLACE-ME left in a slot', mutate: (c) => (slot0(c).subnetId = 'subnet-REPLACE-ME'), path: 'clusters[0].replacement.slots[0].subnetId', message: /placeholder "subnet-REPLACE-ME"/ },
    { name: 'sg-REPLACE-ME-style text in any field', mutate: (c) => (c.clusters[0].discovery.tagValue = 'REPLACE_ME'), path: 'clusters[0].discovery.tagValue', message: /placeholder/ },
    { name: 'the design example subnet id subnet-0a', mutate: (c) => (slot0(c).subnetId = 'subnet-0a'), path: 'clusters[0].replacement.slots[0].subnetId', message: /not a real subnet id/ },
    { name: 'the example interface eni-0a', mutate: (c) => (slot0(c).networkInterfaceId = 'eni-0a'), path: 'clusters[0].replacement.slots[0].networkInterfaceId', message: /not a real eni id/ },
    { name: 'the example volume vol-0a', mutate: (c) => (slot0(c).dataVolume.volumeId = 'vol-0a'), path: 'clusters[0].replacement.slots[0].dataVolume.volumeId', message: /not a real vol id/ },
    { name: 'the example launch template lt-0123456789abcdef0', mutate: (c) => (c.clusters[0].replacement.launchTemplate.id = 'lt-0123456789abcdef0'), path: 'clusters[0].replacement.launchTemplate.id', message: /example launch template/ },
    {
      name: 'the example account 111122223333 in the target group ARN',
      mutate: (c) => (c.clusters[0].loadBalancer.targetGroupArn = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/vault/6d0ecf831eec9f09'),
      path: 'clusters[0].loadBalancer.targetGroupArn',
      message: /example account/,
    },
    {
      name: 'the example target group id',
      mutate: (c) => (c.clusters[0].loadBalancer.targetGroupArn = 'arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/vault/0123456789abcdef'),
      path: 'clusters[0].loadBalancer.targetGroupArn',
      message: /example target group/,
    },
    { name: 'the example account in the topic ARN', mutate: (c) => (c.notifications.topicArn = 'arn:aws:sns:eu-west-1:111122223333:vault'), path: 'notifications.topicArn', message: /example account/ },
    { name: 'a caBundle that is the "..." placeholder', mutate: (c) => (c.clusters[0].vault.caBundle = '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----'), path: 'clusters[0].vault.caBundle', message: /X\.509|PEM/ },
    { name: 'a caBundle with no certificate at all', mutate: (c) => (c.clusters[0].vault.caBundle = '-----BEGIN CERTIFICATE-----\n...'), path: 'clusters[0].vault.caBundle', message: /certificate/ },
    { name: 'an expired certificate as caBundle', mutate: (c) => (c.clusters[0].vault.caBundle = pki.expiredCertPem), path: 'clusters[0].vault.caBundle', message: /expired/ },
    { name: 'a slot in another region than the target group', mutate: (c) => (slot0(c).availabilityZone = 'us-east-1a'), path: 'clusters[0]', message: /more than one region/ },
    { name: 'a field the schema does not know (a typo)', mutate: (c) => (c.clusters[0].polcy = {}), path: 'clusters[0]', message: /unknown field/ },
    { name: 'a wrong type', mutate: (c) => (c.clusters[0].vault.port = '8200'), path: 'clusters[0].vault.port', message: /number/ },
  ];
  for (const t of traps) {
    it(`${t.name} → error at ${t.path}`, () => {
      const found = errors(check(t.mutate)).filter((f) => f.path === t.path);
      assert.ok(found.some((f) => t.message.test(f.message)), JSON.stringify(check(t.mutate), null, 1));
    });
  }

  it('not JSON at all → one error at (root)', () => {
    assert.deepEqual(checkConfigText('{"clusters": [', { nowMs: NOW }).findings.map((f) => [f.level, f.path]), [['error', '(root)']]);
  });

  it('a placeholder is reported once (not again as a schema error on the same field)', () => {
    const fs = errors(check((c) => (slot0(c).subnetId = 'subnet-REPLACE-ME')));
    assert.equal(fs.filter((f) => f.path === 'clusters[0].replacement.slots[0].subnetId').length, 1);
  });
});

describe('config check (offline): warnings that do not fail the check', () => {
  it('controlTable left out is fine: the deployed functions use their stack\'s table (env VAULT_HA_CONTROL_TABLE)', () => {
    const fs = check((c) => delete c.controlTable);
    assert.ok(fs.some((f) => f.level === 'info' && f.path === 'controlTable' && /vault-ha-control-<stage>/.test(f.message)));
    assert.ok(!fs.some((f) => f.level === 'warning' && f.path === 'controlTable'));
    assert.ok(check((c) => delete c.controlTable, 'staging').some((f) => f.level === 'info' && /vault-ha-control-staging/.test(f.message)));
    assert.deepEqual(errors(fs), []);
  });
  it('with --stage, a controlTable that is not the stage table is a warning', () => {
    assert.ok(check(undefined, 'staging').some((f) => f.path === 'controlTable' && /vault-ha-control-staging/.test(f.message)));
    assert.ok(!check(undefined, 'prod').some((f) => f.path === 'controlTable'));
  });
  it('a leaf certificate in caBundle is a warning (not a CA)', () => {
    const fs = check((c) => (c.clusters[0].vault.caBundle = pki.serverCertPem));
    assert.ok(fs.some((f) => f.level === 'warning' && /not a CA certificate/.test(f.message)));
  });
  it('policy.dryRun true is a warning that suggests vault-ha pause', () => {
    assert.ok(check((c) => (c.clusters[0].policy = { dryRun: true })).some((f) => f.level === 'warning' && /vault-ha pause/.test(f.message)));
  });
});

describe('caBundleFindings: validity judged at the time given', () => {
  it('the CA is an error once past its notAfter and before its notBefore', () => {
    assert.match(caBundleFindings(pki.caPem, 'p', NOW + 10 * 86_400_000)[0]?.message ?? '', /expired/);
    assert.match(caBundleFindings(pki.caPem, 'p', NOW - 10 * 86_400_000)[0]?.message ?? '', /not valid before/);
  });
  it('each certificate of a bundle is judged: a real CA followed by garbage is an error on the second', () => {
    const fs = caBundleFindings(`${pki.caPem}\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`, 'p', NOW);
    assert.ok(fs.some((f) => f.level === 'error' && /certificate 2 of 2 is not a valid X\.509/.test(f.message)), JSON.stringify(fs));
  });
});

describe('vault-ha config check (the command)', () => {
  const io = () => {
    let stdout = '';
    let stderr = '';
    return {
      io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: { ...process.env } },
      out: () => stdout,
      err: () => stderr,
    };
  };
  const file = async (name: string, c: unknown): Promise<string> => {
    const p = path.join(dir, name);
    await writeFile(p, typeof c === 'string' ? c : JSON.stringify(c));
    return p;
  };

  it('exit 0 and "OK" for a clean config', async () => {
    const f = await file('clean.json', cleanConfig());
    const t = io();
    assert.equal(await run(['config', 'check', f], t.io), 0, t.err());
    assert.match(t.out(), /: OK/);
  });

  it('exit 1 with every trap listed, and --json gives the findings', async () => {
    const c = cleanConfig() as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    slot0(c).subnetId = 'subnet-REPLACE-ME';
    c.clusters[0].replacement.launchTemplate.id = 'lt-0123456789abcdef0';
    const f = await file('traps.json', c);
    const t = io();
    assert.equal(await run(['config', 'check', f, '--json'], t.io), 1);
    const doc = JSON.parse(t.out()) as { ok: boolean; findings: Finding[] };
    assert.equal(doc.ok, false);
    assert.deepEqual(errors(doc.findings).map((x) => x.path).sort(), ['clusters[0].replacement.launchTemplate.id', 'clusters[0].replacement.slots[0].subnetId']);
  });

  it('a missing file is exit 3, no FILE is exit 2', async () => {
    const t = io();
    assert.equal(await run(['config', 'check', path.join(dir, 'nope.json')], t.io), 3);
    assert.equal(await run(['config', 'check'], io().io), 2);
    assert.equal(await run(['config', 'lint', 'x'], io().io), 2);
  });
});

describe('config check: ELB API rate (README "Scale")', () => {
  const many = (n: number, probeIntervalSeconds?: number): Mutate => (c) => {
    const one = c.clusters[0];
    c.clusters = Array.from({ length: n }, (_, i) => ({
      ...one,
      name: `c${i}`,
      discovery: { tagKey: 'vault-cluster', tagValue: `c${i}` },
      loadBalancer: { ...one.loadBalancer, targetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:210987654321:targetgroup/vault-${i}/6d0ecf831eec9f${String(i).padStart(2, '0')}` },
      replacement: undefined,
      ...(probeIntervalSeconds !== undefined ? { policy: { probeIntervalSeconds } } : {}),
    }));
  };
  const rateWarnings = (fs: Finding[]) => fs.filter((f) => f.level === 'warning' && /Describe\* per account and Region/.test(f.message));
  const limit = Math.floor(ELB_DESCRIBE_REFILL_PER_SECOND * ELB_DESCRIBE_SHARE * 5);

  it(`${limit} clusters at the default 5 s interval pass; one more warns, naming the rate and what to do`, () => {
    assert.deepEqual(rateWarnings(check(many(limit))), []);
    const w = rateWarnings(check(many(limit + 1)));
    assert.equal(w.length, 1);
    assert.equal(w[0]!.path, 'clusters');
    assert.match(w[0]!.message, /DescribeTargetHealth .* comes to 8\.2 requests a second/);
    assert.match(w[0]!.message, /probeIntervalSeconds/);
    assert.equal(errors(check(many(limit + 1))).length, 0, 'a warning, not an error: the limit can be raised');
  });

  it('a longer probe interval makes room', () => {
    assert.deepEqual(rateWarnings(check(many(2 * limit, 10))), []);
  });
});

