// An https:// origin, over node:tls with a certificate generated at test time: verified against
// the CA we pass, streamed like a plain origin, keep-alive reused; a wrong certificate is a 503.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { generateTestCertificate } from '../support/tls-cert.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';

let origin: ScriptedOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  const certificate = generateTestCertificate();
  origin = await startScriptedOrigin(
    (req, res) =>
      req.target === '/stream'
        ? res.send({ body: 's'.repeat(300_000), framing: 'chunked', chunkSizes: [10_000], gapMs: 2 })
        : res.send({ body: `secure ${req.target}` }),
    { tls: certificate },
  );
  proxy = await startProxy(origin.url.replace('127.0.0.1', 'localhost'), { originCa: certificate.cert });
});

afterAll(async () => {
  await proxy.close();
  await origin.close();
});

describe('https:// origins', () => {
  it('relays a response from a TLS origin whose certificate is verified', async () => {
    const [res] = parseResponses(await sendRaw(proxy.port, 'GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'));
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('secure /a');
  });

  it('streams a chunked body from a TLS origin like a plain one (F2), reusing the connection', async () => {
    const before = origin.connections;
    const [res] = parseResponses(await sendRaw(proxy.port, 'GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', { idleMs: 2000 }));
    expect(res.terminatingChunk).toBe(true);
    expect(res.body.length).toBe(300_000);
    const [again] = parseResponses(await sendRaw(proxy.port, 'GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'));
    expect(again.body.toString()).toBe('secure /b');
    expect(origin.connections - before).toBeLessThanOrEqual(1);
  });

  it('O1: a certificate that does not verify is a 503 with the reason', async () => {
    const untrusting = await startProxy(origin.url.replace('127.0.0.1', 'localhost'));
    try {
      const [res] = parseResponses(await sendRaw(untrusting.port, 'GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', { idleMs: 2000 }));
      expect(res.status).toBe(503);
      expect(res.body.toString()).toMatch(/SELF_SIGNED|certificate/i);
    } finally {
      await untrusting.close();
    }
  });
});
