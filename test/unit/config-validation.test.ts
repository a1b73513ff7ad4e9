// Config validation as strict as the CLI's (issue 13): every bad value in a config file or in
// createProxy() options is an OptionError naming the key; sizes take units wherever a size goes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseCliArgs } from '../../src/proxy/cli-options.js';
import { effectiveLogLevel } from '../../src/proxy/logger.js';
import { OptionError, resolveOptions, type ProxyOptions } from '../../src/proxy/options.js';
import type { CacheRule, CreateProxyOptions, DeliverContext, FetchContext, ProxyHooks, RecvContext } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'streamcache-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let count = 0;

function configError(config: object): string {
  const path = join(dir, `c${++count}.json`);
  writeFileSync(path, JSON.stringify({ origin: 'http://127.0.0.1:3000', ...config }));
  try {
    parseCliArgs(['--config', path]);
  } catch (err) {
    expect(err).toBeInstanceOf(OptionError);
    return (err as Error).message.replace(`--config ${path}: `, '');
  }
  throw new Error(`expected ${JSON.stringify(config)} to be refused`);
}

describe('config file values', () => {
  it.each([
    [{ noStream: true }, 'unknown option "noStream" (write "stream": false)'],
    [{ 'no-stream': true }, 'unknown option "no-stream" (write "stream": false)'],
    [{ 'store-size': '1g' }, 'unknown option "store-size" (write "storeSize")'],
    [{ rules: [{ path: '/a', ttl: -28 }] }, 'rules[0].ttl: -28 must be a whole number of seconds, 0 or more'],
    [{ rules: [{ path: '/a', ttl: 1.5 }] }, 'rules[0].ttl: 1.5 must be a whole number of seconds, 0 or more'],
    [{ maxHeadSize: 'lots' }, 'maxHeadSize: "lots" is not a size'],
    [{ overflowWindow: 0 }, 'overflowWindow: 0 must be a positive integer'],
    [{ viaName: 'my cache' }, 'viaName: "my cache" must be a token'],
    [{ viaName: 'a\r\nX-Injected: 1' }, 'viaName: "a\\r\\nX-Injected: 1" must be a token'],
    [{ logLevel: 'verbose' }, 'logLevel: "verbose" is not one of'],
    [{ defaultTtl: -1 }, 'defaultTtl: -1 must be a whole number of seconds'],
    [{ admin: 'anywhere' }, 'admin: "anywhere" is not HOST:PORT'],
  ])('%j is refused naming the key: %s', (config, message) => {
    expect(configError(config)).toContain(message);
  });

  it('sizes take units for every size key, in the file as on the command line', () => {
    const path = join(dir, 'sizes.json');
    writeFileSync(path, JSON.stringify({ origin: 'http://o.test', maxHeadSize: '32k', storeSlabSize: '8m', overflowWindow: '1m', backlogWarningBytes: '500k', storeSize: '2g' }));
    const result = parseCliArgs(['--config', path]);
    if (!('options' in result)) throw new Error('expected options');
    expect(resolveOptions(result.options)).toMatchObject({ maxHeadSize: 32 * 1024, storeSlabSize: 8 * 1024 ** 2, overflowWindow: 1024 ** 2, backlogWarningBytes: 500 * 1024, storeSize: 2 * 1024 ** 3 });
  });
});

describe('createProxy() options', () => {
  it("storeSize: '2g' is a valid ProxyOptions (the type takes what the runtime takes)", () => {
    const options: ProxyOptions = { origin: 'http://o.test', storeSize: '2g', maxObjectSize: '1g' };
    expect(resolveOptions(options)).toMatchObject({ storeSize: 2 * 1024 ** 3, maxObjectSize: 1024 ** 3 });
  });

  it.each([
    [{ stream: 'no' }, 'stream: must be true or false, not "no"'],
    [{ storePrefault: 1 }, 'storePrefault: must be true or false, not 1'],
    [{ originInsecure: 'true' }, 'originInsecure: must be true or false, not "true"'],
    [{ viaName: '' }, 'viaName: "" must be a token'],
  ])('%j throws an OptionError naming the key', (bad, message) => {
    expect(() => resolveOptions({ origin: 'http://o.test', ...(bad as Partial<ProxyOptions>) })).toThrow(message);
  });

  it('the hook and rule types are exported from the package entry', () => {
    const rule: CacheRule = { path: '/a/*', ttl: 10 };
    const hooks: ProxyHooks = {
      recv: (ctx: RecvContext) => void (ctx.pass = ctx.path === '/x'),
      fetch: (ctx: FetchContext) => void (ctx.ttl = 5),
      deliver: (ctx: DeliverContext) => void ctx.headers.delete('x-internal'),
    };
    const options: CreateProxyOptions = { origin: 'http://o.test', rules: [rule], hooks };
    expect(resolveOptions(options).rules).toEqual([rule]);
  });
});

describe('STREAMCACHE_LOG_LEVEL', () => {
  const saved = process.env.STREAMCACHE_LOG_LEVEL;
  afterEach(() => {
    if (saved === undefined) delete process.env.STREAMCACHE_LOG_LEVEL;
    else process.env.STREAMCACHE_LOG_LEVEL = saved;
  });

  it('overrides the configured level; a level it does not know is an OptionError naming the variable', () => {
    process.env.STREAMCACHE_LOG_LEVEL = 'debug';
    expect(effectiveLogLevel('info')).toBe('debug');
    process.env.STREAMCACHE_LOG_LEVEL = 'verbose';
    expect(() => effectiveLogLevel('info')).toThrow(new OptionError('STREAMCACHE_LOG_LEVEL: "verbose" is not one of fatal, error, warn, info, debug, trace, silent'));
  });
});
