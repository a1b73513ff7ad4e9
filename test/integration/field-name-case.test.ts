// The field-name table (src/http1/field-names.ts) from outside, on real sockets: known names in
// their usual spelling, in lower case and in odd cases, and unknown names, keep the case they were
// sent in on the way to the origin, and every lookup the proxy makes ignores case exactly as before
// (the Host in the cache key, Content-Length framing a body, Connection: close, Vary on the
// response). Pipelined requests cut at every byte of a name still come out the same.
import { describe, expect, it } from 'vitest';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import { cleanupAfterEach, startOriginAndProxy } from '../support/proxy.js';

const cleanups = cleanupAfterEach();

async function setup() {
  return startOriginAndProxy(cleanups, async (req, res) => {
    const vary = req.target.startsWith('/vary') ? [['VARY', 'accept-LANGUAGE'] as [string, string]] : [];
    await res.send({ body: `ok ${req.method} ${req.target} ${req.body.length}`, headers: [['Cache-Control', 'max-age=60'], ...vary] });
  });
}

describe('field names in any case, through the proxy', () => {
  it('names reach the origin as sent; Host, Content-Length and Connection are read in any case', async () => {
    const { origin, proxy } = await setup();
    const exchange = await sendRaw(
      proxy.port,
      'POST /post HTTP/1.1\r\nhOST: t\r\nUser-Agent: ua\r\naccept: */*\r\nX-Own-Field: 1\r\nCONTENT-LENGTH: 3\r\n\r\nabc' +
        'GET /get HTTP/1.1\r\nhost: t\r\nREFERER: r\r\nconnection: CLOSE\r\n\r\n',
      { idleMs: 2000 },
    );
    const responses = parseResponses(exchange);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(responses[0].body.toString()).toBe('ok POST /post 3');
    expect(exchange.closedByServer).toBe(true);
    expect(origin.requests).toHaveLength(2);
    const [post, get] = origin.requests.map((r) => r.headers);
    expect(post).toContainEqual(['User-Agent', 'ua']);
    expect(post).toContainEqual(['accept', '*/*']);
    expect(post).toContainEqual(['X-Own-Field', '1']);
    expect(get).toContainEqual(['REFERER', 'r']);
    expect(post.filter(([n]) => n.toLowerCase() === 'host').map(([, v]) => v)).toEqual(['t']);
  });

  it('a cached object is found whatever the case of Host, and Vary names match in any case', async () => {
    const { origin, proxy } = await setup();
    const ask = async (host: string, extra = '') => {
      const [res] = parseResponses(await sendRaw(proxy.port, `GET /vary HTTP/1.1\r\n${host}: t\r\n${extra}Connection: close\r\n\r\n`, { idleMs: 2000 }));
      return res.status;
    };
    expect(await ask('Host', 'Accept-Language: de\r\n')).toBe(200);
    expect(await ask('HOST', 'accept-language: de\r\n')).toBe(200);
    expect(await ask('host', 'ACCEPT-LANGUAGE: de\r\n')).toBe(200);
    expect(origin.requests).toHaveLength(1);
    expect(await ask('Host', 'Accept-Language: fr\r\n')).toBe(200);
    expect(origin.requests).toHaveLength(2);
  });

  it('a pipeline cut inside its field names parses as in one piece', async () => {
    const { origin, proxy } = await setup();
    const wire = 'GET /a HTTP/1.1\r\nHost: t\r\nUser-Agent: ua\r\n\r\nGET /b HTTP/1.1\r\nhost: t\r\nConnection: close\r\n\r\n';
    const cuts = [18, 19, 20, 29, 33, 61, 62, 70];
    const parts = cuts.map((cut, i) => wire.slice(i === 0 ? 0 : cuts[i - 1], cut)).concat(wire.slice(cuts.at(-1)));
    const exchange = await sendRaw(proxy.port, parts, { idleMs: 2000, writeGapMs: 5 });
    expect(parseResponses(exchange).map((r) => r.status)).toEqual([200, 200]);
    expect(origin.requests.map((r) => r.target)).toEqual(['/a', '/b']);
    expect(origin.requests[0].headers).toContainEqual(['User-Agent', 'ua']);
  });
});
