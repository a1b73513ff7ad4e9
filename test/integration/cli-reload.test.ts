// K1 from outside: the built CLI with --config, the file changed, SIGHUP. New requests get the new
// TTL, rules and log level; a live stream and a keep-alive connection go on; an invalid file is
// refused with one log line and the old behaviour stays; SIGHUP never ends the process.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killCliProcessesAfterEach, lines, spawnCli, waitForListening, type CliRun } from '../support/cli.js';
import { cleanupAfterEach, testKit } from '../support/proxy.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { requestKit } from '../support/requests.js';
import { delay } from '../support/ports.js';

killCliProcessesAfterEach();
const cleanups = cleanupAfterEach();
const { signal, client } = testKit(cleanups);
const { request, fetchOnce } = requestKit({ host: 'sighup.test', idleMs: 2000 });

let dir: string;
let origin: ScriptedOrigin;
let streamGate: { promise: Promise<void>; resolve(): void } | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'streamcache-reload-'));
  origin = await startScriptedOrigin(async (req, res) => {
    if (req.target === '/stream') {
      // A stream: its head and first chunk now, the rest when the test says.
      await res.head(200, [['Transfer-Encoding', 'chunked'], ['Cache-Control', 'no-cache, s-maxage=30']]);
      await res.chunk('first\n');
      await streamGate?.promise;
      await res.chunk('second\n');
      return res.lastChunk();
    }
    await res.send({ body: `body of ${req.target}` });
  });
});
afterAll(async () => {
  await origin.close();
  await rm(dir, { recursive: true, force: true });
});

/** A JSON log line on stdout whose msg matches. */
function logLines(run: CliRun, msg: RegExp): Array<Record<string, unknown>> {
  return lines(run.output.stdout)
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => msg.test(String(entry.msg)));
}

async function start(config: object): Promise<{ run: CliRun; port: number; file: string }> {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify({ origin: origin.url, ...config }));
  // The test environment silences logs through STREAMCACHE_LOG_LEVEL; here the config decides.
  const run = spawnCli(['--config', file, '--listen', '127.0.0.1:0'], { STREAMCACHE_LOG_LEVEL: undefined });
  const url = await waitForListening(run);
  return { run, port: Number(new URL(url).port), file };
}

async function sighup(run: CliRun, file: string, config: object | string, expectLog: RegExp): Promise<void> {
  const before = logLines(run, expectLog).length;
  await writeFile(file, typeof config === 'string' ? config : JSON.stringify({ origin: origin.url, ...config }));
  run.child.kill('SIGHUP');
  await expect.poll(() => logLines(run, expectLog).length, { timeout: 5_000 }).toBe(before + 1);
}

describe('SIGHUP re-reads --config (K1)', () => {
  it('K1: new TTL, rules and log level for new requests; a live stream and a keep-alive connection go on', async () => {
    streamGate = signal();
    const { run, port, file } = await start({ logLevel: 'warn', rules: [{ path: '/ruled', ttl: 60 }] });
    // A live stream and an idle keep-alive connection, both opened under the first config.
    const subscriber = await client(port);
    await subscriber.write(request('/stream'));
    await subscriber.readUntil((bytes) => bytes.includes('first\n'));
    const keepAlive = await client(port);
    await keepAlive.write(request('/k1', { keepAlive: true }));
    expect((await keepAlive.readResponse()).header('x-cache')).toBe('PASS');

    await sighup(run, file, { logLevel: 'info', defaultTtl: 30, rules: [{ path: '/ruled', pass: true }] }, /^configuration reloaded$/);
    // The new default TTL: a new URL is stored; the new rule passes /ruled.
    expect((await fetchOnce(port, '/after')).header('x-cache')).toBe('MISS');
    expect((await fetchOnce(port, '/after')).header('x-cache')).toBe('HIT');
    expect((await fetchOnce(port, '/ruled')).header('x-cache')).toBe('PASS');
    // The new log level: access lines now appear (logLevel warn had none).
    await expect.poll(() => logLines(run, /^access$/).map((entry) => entry.path)).toContain('/after');
    // The keep-alive connection and the stream are still there.
    await keepAlive.write(request('/k2', { keepAlive: true }));
    expect((await keepAlive.readResponse()).header('x-cache')).toBe('MISS');
    streamGate.resolve();
    const stream = await subscriber.readResponse();
    expect([stream.complete, stream.body.toString()]).toEqual([true, 'first\nsecond\n']);
    expect(run.child.exitCode).toBe(null);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
  });

  it('K1: an invalid file is refused with one log line naming the key; the old config stays', async () => {
    const { run, port, file } = await start({ logLevel: 'warn', defaultTtl: 30 });
    await sighup(run, file, { defaultTtl: 0, rules: [{ path: '/x', ttl: -28 }] }, /^configuration reload refused/);
    const [refused] = logLines(run, /^configuration reload refused/);
    expect(refused.msg).toMatch(/rules\[0\]\.ttl/);
    expect(refused.level).toBe(50);
    await sighup(run, file, '{ "origin": ', /^configuration reload refused/);
    expect(logLines(run, /^configuration reload refused/).at(-1)?.msg).toMatch(/not valid JSON/);
    // Still defaultTtl 30.
    await fetchOnce(port, '/old');
    expect((await fetchOnce(port, '/old')).header('x-cache')).toBe('HIT');
    expect(logLines(run, /^configuration reloaded$/)).toEqual([]);
    run.child.kill('SIGTERM');
    expect((await run.exit).code).toBe(0);
  });

  it('K1: without --config, SIGHUP logs that there is nothing to re-read and the process goes on', async () => {
    const run = spawnCli(['--origin', origin.url, '--listen', '127.0.0.1:0', '--log-level', 'warn'], { STREAMCACHE_LOG_LEVEL: undefined });
    const url = await waitForListening(run);
    run.child.kill('SIGHUP');
    await expect.poll(() => logLines(run, /no --config file/).length).toBe(1);
    await delay(50);
    expect((await fetch(`${url}/alive`)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exit).toMatchObject({ code: 0, signal: null });
  });
});
