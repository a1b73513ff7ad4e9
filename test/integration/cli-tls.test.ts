// H1 from the command line: `--tls-cert` and `--tls-key` make the listener speak TLS (ALPN h2 and
// http/1.1); SIGHUP re-reads both files for new connections and keeps the process and its open
// connections; a pair that does not load is refused with a log line. `--h2c` turns on HTTP/2 with
// prior knowledge on cleartext. Runs the built CLI (the test script builds first).
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSession, connectH2, h2Request } from '../support/h2-client.js';
import { waitFor } from '../support/ports.js';
import { makeTestCertificate } from '../support/tls-cert.js';
import { startScriptedOrigin } from '../support/scripted-origin.js';

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function start(args: string[]): { child: ChildProcess; output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STREAMCACHE_LOG_LEVEL: 'info' } });
  cleanups.push(() => void child.kill('SIGKILL'));
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (t: string) => (output.stdout += t));
  child.stderr?.setEncoding('utf8').on('data', (t: string) => (output.stderr += t));
  return { child, output };
}

async function listeningPort(run: { output: { stdout: string } }): Promise<number> {
  const line = /listening on https?:\/\/127\.0\.0\.1:(\d+)/;
  await waitFor(() => line.test(run.output.stdout), 20_000, 'the listening line', 20);
  return Number(line.exec(run.output.stdout)?.[1]);
}

describe('CLI: TLS and HTTP/2 (H1)', () => {
  it('H1: --tls-cert/--tls-key serve TLS with ALPN h2; SIGHUP swaps in the files as they are now; a bad pair is refused', async () => {
    const origin = await startScriptedOrigin((req, res) => res.send({ body: `body of ${req.target}` }));
    cleanups.push(() => origin.close());
    const dir = mkdtempSync(join(tmpdir(), 'streamcache-cli-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const [certPath, keyPath] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    const first = makeTestCertificate();
    writeFileSync(certPath, first.cert);
    writeFileSync(keyPath, first.key);
    const run = start(['--origin', origin.url, '--listen', '127.0.0.1:0', '--tls-cert', certPath, '--tls-key', keyPath, '--log-level', 'info']);
    const port = await listeningPort(run);
    expect(run.output.stdout).toMatch(/listening on https:\/\//);
    const fingerprint = async (ca: string): Promise<string> => {
      const s = connectH2(port, { ca });
      try {
        expect((await h2Request(s, '/x')).body.toString()).toBe('body of /x');
        return (s.socket as TLSSocket).getPeerCertificate().fingerprint256;
      } finally {
        await closeSession(s);
      }
    };
    expect(await fingerprint(first.cert)).toBe(new X509Certificate(first.cert).fingerprint256);
    const second = makeTestCertificate();
    writeFileSync(certPath, second.cert);
    writeFileSync(keyPath, second.key);
    run.child.kill('SIGHUP');
    await waitFor(() => run.output.stdout.includes('TLS certificate reloaded'), 5_000, 'the reload log line', 20);
    expect(await fingerprint(second.cert)).toBe(new X509Certificate(second.cert).fingerprint256);
    writeFileSync(keyPath, 'not a key');
    run.child.kill('SIGHUP');
    await waitFor(() => run.output.stdout.includes('TLS reload refused, the running certificate stays'), 5_000, 'the refusal log line', 20);
    expect(await fingerprint(second.cert)).toBe(new X509Certificate(second.cert).fingerprint256);
    expect(run.child.exitCode).toBeNull();
  }, 40_000);

  it('H1: --tls-cert without --tls-key is a one-line usage error (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'streamcache-cli-tls-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'cert.pem'), makeTestCertificate().cert);
    const run = start(['--origin', 'http://127.0.0.1:9', '--tls-cert', join(dir, 'cert.pem')]);
    const code = await new Promise<number | null>((resolve) => run.child.on('close', resolve));
    expect(code).toBe(2);
    expect(run.output.stderr).toBe('streamcache: --tls-cert: TLS needs a certificate and its key; the key (tlsKey, --tls-key) is missing\n');
  });

  it('H1: --h2c answers HTTP/2 with prior knowledge beside HTTP/1.1', async () => {
    const origin = await startScriptedOrigin((req, res) => res.send({ body: `body of ${req.target}` }));
    cleanups.push(() => origin.close());
    const run = start(['--origin', origin.url, '--listen', '127.0.0.1:0', '--h2c', '--log-level', 'silent']);
    const port = await listeningPort(run);
    const s = connectH2(port);
    cleanups.push(() => closeSession(s));
    expect((await h2Request(s, '/h2c')).body.toString()).toBe('body of /h2c');
    const h1 = await fetch(`http://127.0.0.1:${port}/h1`);
    expect(await h1.text()).toBe('body of /h1');
  });
});
