// Property (T2), through the proxy on real sockets: however the origin cuts an ESI template into
// reads (chunk sizes, chunked or Content-Length or close-delimited framing), the page a client gets
// is the same: the template with its markup processed and its includes replaced by their fragments,
// with Content-Length.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcOptions } from '../support/fc.js';
import { parseResponses, sendRaw } from '../support/raw-client.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';

const FRAGMENTS = ['alpha', 'beta <b>bold</b>', ''];

type Part =
  | { kind: 'text'; text: string }
  | { kind: 'include'; fragment: number; continueOnError: boolean }
  | { kind: 'missing-continue' }
  | { kind: 'remove'; inner: string }
  | { kind: 'comment' }
  | { kind: 'esi-comment'; text: string; fragment: number };

const textArb = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\n', '>', '<', '-', 'é', 'e', 's', 'i', ':'), minLength: 1, maxLength: 12 }).map((t) =>
  // No accidental markup in text: a '<' followed by e or ! or / could open ESI.
  t.replace(/<(?=[es!/])/g, '< ').replace(/<$/, '< '),
);
const partArb: fc.Arbitrary<Part> = fc.oneof(
  textArb.map((text): Part => ({ kind: 'text', text })),
  fc.record({ fragment: fc.nat(FRAGMENTS.length - 1), continueOnError: fc.boolean() }).map((p): Part => ({ kind: 'include', ...p })),
  fc.constant<Part>({ kind: 'missing-continue' }),
  fc.string({ maxLength: 15 }).map((inner): Part => ({ kind: 'remove', inner: inner.replace(/<\/esi:remove>/g, '') })),
  fc.constant<Part>({ kind: 'comment' }),
  fc.record({ text: textArb.map((t) => t.replace(/-/g, '')), fragment: fc.nat(FRAGMENTS.length - 1) }).map((p): Part => ({ kind: 'esi-comment', ...p })),
);

function render(part: Part): string {
  switch (part.kind) {
    case 'text':
      return part.text;
    case 'include':
      return `<esi:include src="/f/${part.fragment}"${part.continueOnError ? ' onerror="continue"' : ''}/>`;
    case 'missing-continue':
      return '<esi:include src="/nowhere" onerror="continue"/>';
    case 'remove':
      return `<esi:remove>${part.inner}</esi:remove>`;
    case 'comment':
      return '<esi:comment text="x"/>';
    case 'esi-comment':
      return `<!--esi ${part.text}<esi:include src="/f/${part.fragment}"/>-->`;
  }
}

function assembled(part: Part): string {
  switch (part.kind) {
    case 'text':
      return part.text;
    case 'include':
      return FRAGMENTS[part.fragment];
    case 'esi-comment':
      return ` ${part.text}${FRAGMENTS[part.fragment]}`;
    default:
      return '';
  }
}

const templates = new Map<string, { body: Buffer; chunkSizes: number[]; framing: 'chunked' | 'length' | 'close' }>();
let origin: ScriptedOrigin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startScriptedOrigin((req, res) => {
    const fragment = /^\/f\/(\d)$/.exec(req.target);
    if (fragment) return res.send({ headers: [['Cache-Control', 'max-age=600']], body: Buffer.from(FRAGMENTS[Number(fragment[1])], 'utf8') });
    const template = templates.get(req.target);
    if (!template) return res.send({ status: 404, headers: [['Cache-Control', 'no-store']], body: 'none' });
    return res.send({ headers: [['Cache-Control', 'max-age=600']], body: template.body, chunkSizes: template.chunkSizes, framing: template.framing, gapMs: 0 });
  });
  proxy = await startProxy(origin.url, { rules: [{ path: '/t/*', esi: true }] });
});

afterAll(async () => {
  await proxy?.close();
  await origin?.close();
});

describe('T2 through the proxy: any chunking of the template assembles the same page', () => {
  it('T2: a template cut into any reads by the origin (chunked, Content-Length, close) assembles to the same page, with Content-Length', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(partArb, { maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom<'chunked' | 'length' | 'close'>('chunked', 'length', 'close'),
        async (parts, chunkSizes, framing) => {
          const path = `/t/${run++}`;
          const body = Buffer.from(parts.map(render).join(''), 'utf8');
          templates.set(path, { body, chunkSizes, framing });
          const exchange = await sendRaw(proxy.port, `GET ${path} HTTP/1.1\r\nHost: p.test\r\nConnection: close\r\n\r\n`, { idleMs: 3000 });
          const [res] = parseResponses(exchange, ['GET']);
          const expected = Buffer.from(parts.map(assembled).join(''), 'utf8');
          expect(res.status).toBe(200);
          expect(res.header('content-length')).toBe(String(expected.length));
          expect(res.body.toString('utf8')).toBe(expected.toString('utf8'));
        },
      ),
      fcOptions(30),
    );
  });
});
