// The built CLI refuses every bad config value the same way it refuses a bad flag: exit 2 and one
// line `streamcache: <reason>` naming the key (issue 13). Also the STREAMCACHE_LOG_LEVEL variable.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killCliProcessesAfterEach, lines, runCli } from '../support/cli.js';

killCliProcessesAfterEach();
const ORIGIN = 'http://127.0.0.1:9';
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'streamcache-cli-config-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('a bad config value: exit 2 and one line naming the key', () => {
  it.each([
    [{ noStream: true }, 'unknown option "noStream" (write "stream": false)'],
    [{ rules: [{ path: '/events*', ttl: -28 }] }, 'rules[0].ttl: -28 must be a whole number of seconds, 0 or more'],
    [{ storeSize: 'lots' }, 'storeSize: "lots" is not a size'],
    [{ maxHeadSize: '16 KiB please' }, 'maxHeadSize: "16 KiB please" is not a size'],
    [{ viaName: 'two words' }, 'viaName: "two words" must be a token'],
    [{ idleTimeout: 0 }, 'idleTimeout: 0 must be a positive integer'],
    [{ stream: 'off' }, '"stream" must be a boolean, not "off"'],
  ])('%j', async (config, message) => {
    const file = join(dir, `bad-${Object.keys(config)[0]}.json`);
    await writeFile(file, JSON.stringify({ origin: ORIGIN, listen: '127.0.0.1:0', ...config }));
    const exit = await runCli(['--config', file]);
    expect(exit.code).toBe(2);
    const said = lines(exit.stderr);
    expect(said).toHaveLength(1);
    expect(said[0].startsWith(`streamcache: --config ${file}: ${message}`), said[0]).toBe(true);
    expect(exit.stdout).toBe('');
  });

  it('STREAMCACHE_LOG_LEVEL=verbose: exit 2 and our one line, not the logger library\'s error', async () => {
    const exit = await runCli(['--origin', ORIGIN, '--listen', '127.0.0.1:0'], { STREAMCACHE_LOG_LEVEL: 'verbose' });
    expect(exit.code).toBe(2);
    expect(lines(exit.stderr)).toEqual(['streamcache: STREAMCACHE_LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent']);
  });
});
