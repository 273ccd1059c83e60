/**
 * Throw-away PKI for tests: a private CA, a server certificate it signed for
 * 127.0.0.1 / localhost, and a second, unrelated CA. Generated with the openssl
 * CLI at test time (EC P-256, two days of validity) so no key material is ever
 * committed. The working directory is removed as soon as the PEMs are read, so
 * keys never outlive the call on disk even if the test process crashes.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestPki {
  /** The private CA a client should trust. */
  caPem: string;
  serverKeyPem: string;
  /** Signed by `caPem`; SAN IP:127.0.0.1, DNS:localhost. */
  serverCertPem: string;
  /** A CA that signed nothing the server presents. */
  otherCaPem: string;
  /** Signed by `caPem` for `serverKeyPem`, but only for DNS:vault.invalid (hostname mismatch on 127.0.0.1). */
  wrongHostCertPem: string;
  /** Signed by `caPem` for `serverKeyPem`, SAN 127.0.0.1/localhost, already expired. */
  expiredCertPem: string;
  cleanup(): Promise<void>;
}

const OPENSSL = '/usr/bin/openssl';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function openssl(cwd: string, args: string[]): Promise<void> {
  await run(OPENSSL, args, { cwd, timeout: 20_000 });
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req', '-x509', '-new', ...EC_KEY,
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2',
    '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

async function signLeaf(dir: string, out: string, san: string, days: string, serial: string): Promise<void> {
  const ext = `${out}.ext`;
  await writeFile(
    join(dir, ext),
    `subjectAltName=${san}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl(dir, [
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-set_serial', serial, '-days', days, '-extfile', ext, '-out', `${out}.pem`,
  ]);
}

export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'vault-ha-pki-'));
  try {
    await Promise.all([
      makeCa(dir, 'ca'),
      makeCa(dir, 'other-ca'),
      openssl(dir, ['req', '-new', ...EC_KEY, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']),
    ]);
    await Promise.all([
      signLeaf(dir, 'server', 'IP:127.0.0.1,DNS:localhost', '2', '0x1001'),
      signLeaf(dir, 'wrong-host', 'DNS:vault.invalid', '2', '0x1002'),
      // OpenSSL 3.0 has no -not_after; a negative validity puts notAfter one day
      // before notBefore (now), which verifiers report as CERT_HAS_EXPIRED.
      signLeaf(dir, 'expired', 'IP:127.0.0.1,DNS:localhost', '-1', '0x1003'),
    ]);
    const read = (f: string): Promise<string> => readFile(join(dir, f), 'utf8');
    const [caPem, otherCaPem, serverKeyPem, serverCertPem, wrongHostCertPem, expiredCertPem] = await Promise.all([
      read('ca.pem'),
      read('other-ca.pem'),
      read('server.key'),
      read('server.pem'),
      read('wrong-host.pem'),
      read('expired.pem'),
    ]);
    return {
      caPem,
      otherCaPem,
      serverKeyPem,
      serverCertPem,
      wrongHostCertPem,
      expiredCertPem,
      // Key material is already off disk (see finally); kept for callers that
      // expect to release the fixture explicitly.
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
