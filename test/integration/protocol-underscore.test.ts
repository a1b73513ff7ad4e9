// P5 from outside: a request whose field name folds into Transfer-Encoding or Content-Length
// (`_` read as `-`, case ignored) gets 400 on a raw socket and never reaches the origin; every other
// field with an underscore is forwarded exactly as received.
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';
import { delay } from '../support/ports.js';

const cleanups = cleanupAfterEach();

async function setup() {
  return startOriginAndProxy(cleanups, async (req, res) => {
    await res.send({ body: `ok ${req.method} ${req.target} ${req.body.length}` });
  });
}

const ALIASED: Array<[string, string]> = [
  ['Transfer_Encoding beside Content-Length on a POST', 'POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['transfer_encoding on a GET', 'GET /g HTTP/1.1\r\nHost: t\r\ntransfer_encoding: chunked\r\n\r\n'],
  ['CONTENT_LENGTH on a GET', 'GET /g HTTP/1.1\r\nHost: t\r\nCONTENT_LENGTH: 10\r\n\r\n'],
  ['Content_Length beside Content-Length', 'POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent_Length: 0\r\n\r\nok'],
];

describe('P5: field names that read as a framing or routing field with _ as -', () => {
  for (const [name, bytes] of ALIASED) {
    it(`P5: ${name} gets 400, the connection closes, and the origin sees nothing`, async () => {
      const { origin, proxy } = await setup();
      const exchange = await sendRaw(proxy.port, bytes, { idleMs: 2000 });
      const [res] = parseResponses(exchange);
      expect(res.status).toBe(400);
      expect(res.body.toString()).toMatch(/reads as (Transfer-Encoding|Content-Length)/i);
      expect(exchange.closedByServer).toBe(true);
      await delay(20);
      expect(origin.requests).toEqual([]);
    });
  }

  it('P5: other underscore fields are forwarded as received (name and value unchanged)', async () => {
    const { origin, proxy } = await setup();
    const exchange = await sendRaw(proxy.port, 'GET /fine HTTP/1.1\r\nHost: t\r\nX_Request_Id: abc\r\nAccept_Language: de\r\nConnection: close\r\n\r\n', { idleMs: 2000 });
    const [res] = parseResponses(exchange);
    expect(res.status).toBe(200);
    expect(origin.requests).toHaveLength(1);
    const forwarded = origin.requests[0].headers;
    expect(forwarded).toContainEqual(['X_Request_Id', 'abc']);
    expect(forwarded).toContainEqual(['Accept_Language', 'de']);
  });
});
