// A self-signed certificate for TLS origins in tests, made at test time with the `openssl` CLI.
// CN=localhost, subjectAltName DNS:localhost and IP:127.0.0.1, EC P-256 key (fast to make), valid
// for 30 days from now. The same certificate serves as the client's trust anchor (`ca`).
// We write our own minimal openssl config so the system's openssl.cnf cannot change the result.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  /** PEM private key (PKCS#8). */
  key: string;
  /** PEM certificate; pass it as `ca` to a client to trust it. */
  cert: string;
}

const CONFIG = `
[req]
distinguished_name = dn
x509_extensions = v3
prompt = no

[dn]
CN = localhost

[v3]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
`;

let cached: TestCertificate | undefined;

/** Generates (once per process) and returns the test certificate and its key. */
export function generateTestCertificate(): TestCertificate {
  if (cached) return cached;
  cached = makeTestCertificate();
  return cached;
}

/** A new certificate and key at every call (a certificate reload must be told apart from the first). */
export function makeTestCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'streamcache-cert-'));
  try {
    const config = join(dir, 'openssl.cnf');
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    writeFileSync(config, CONFIG);
    try {
      execFileSync(
        'openssl',
        [
          'req', '-x509', '-new',
          '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
          '-nodes', '-sha256', '-days', '30',
          '-config', config,
          '-keyout', keyPath, '-out', certPath,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OPENSSL_CONF: config }, timeout: 30_000 },
      );
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      throw new Error(`generateTestCertificate: openssl failed: ${e.stderr?.toString() || e.message}`);
    }
    return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
