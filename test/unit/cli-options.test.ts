import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseCliArgs, usage } from '../../src/proxy/cli-options.js';
import { DEFAULTS, OptionError, parseSize, resolveOptions } from '../../src/proxy/options.js';
import type { ProxyOptions } from '../../src/proxy/options.js';

const ORIGIN = ['--origin', 'http://127.0.0.1:3000'];

const tempDir = mkdtempSync(join(tmpdir(), 'streamcache-cli-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

let fileCount = 0;
function writeTemp(content: string, name = `config-${++fileCount}.json`): string {
  const path = join(tempDir, name);
  writeFileSync(path, content);
  return path;
}

function optionsOf(argv: string[]): ProxyOptions {
  const result = parseCliArgs(argv);
  if (!('options' in result)) throw new Error(`expected options, got ${JSON.stringify(result)}`);
  return result.options;
}

function errorOf(argv: string[]): string {
  try {
    parseCliArgs(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(OptionError);
    return (err as OptionError).message;
  }
  throw new Error(`expected an OptionError for ${argv.join(' ')}`);
}

describe('parseCliArgs: every flag', () => {
  it('--origin alone gives the defaults after resolveOptions', () => {
    const options = optionsOf(ORIGIN);
    expect(options).toEqual({ origin: 'http://127.0.0.1:3000' });
    const resolved = resolveOptions(options);
    expect(resolved.listenHost).toBe('127.0.0.1');
    expect(resolved.listenPort).toBe(8080);
    expect(resolved.stream).toBe(true);
  });

  it('O1: timeout flags default to Fastly values (connect 1 s, first byte 15 s, between bytes 10 s)', () => {
    const resolved = resolveOptions(optionsOf(ORIGIN));
    expect(resolved.connectTimeout).toBe(1_000);
    expect(resolved.firstByteTimeout).toBe(15_000);
    expect(resolved.betweenBytesTimeout).toBe(10_000);
  });

  it('O1: timeout flags set the origin timeouts', () => {
    expect(optionsOf([...ORIGIN, '--connect-timeout', '250', '--first-byte-timeout', '3000', '--between-bytes-timeout', '700'])).toMatchObject({
      connectTimeout: 250,
      firstByteTimeout: 3000,
      betweenBytesTimeout: 700,
    });
  });

  it('L1/L5: size flags accept plain bytes and binary units', () => {
    expect(optionsOf([...ORIGIN, '--max-object-size', '2g', '--max-object-size-buffered', '512m', '--store-size', '65536'])).toMatchObject({
      maxObjectSize: 2 * 1024 ** 3,
      maxObjectSizeBuffered: 512 * 1024 ** 2,
      storeSize: 65536,
    });
  });

  it('P2/P3: head size, header and idle timeouts, connection limits, queue timeout', () => {
    const argv = [
      ...ORIGIN,
      '--max-head-size=32k',
      '--header-timeout=2000',
      '--idle-timeout=4000',
      '--max-client-connections=100',
      '--max-origin-connections=8',
      '--origin-queue-timeout=500',
    ];
    expect(optionsOf(argv)).toMatchObject({
      maxHeadSize: 32 * 1024,
      headerTimeout: 2000,
      idleTimeout: 4000,
      maxClientConnections: 100,
      maxOriginConnections: 8,
      originQueueTimeout: 500,
    });
  });

  it('--listen, --log-level, --no-stream, --send-timeout, --close-deadline, --via-name, --origin-insecure', () => {
    const argv = [
      ...ORIGIN,
      '--listen',
      '0.0.0.0:9000',
      '--log-level',
      'warn',
      '--no-stream',
      '--send-timeout',
      '1500',
      '--close-deadline',
      '250',
      '--via-name',
      'edge-1',
      '--origin-insecure',
    ];
    expect(optionsOf(argv)).toMatchObject({
      listen: '0.0.0.0:9000',
      logLevel: 'warn',
      stream: false,
      sendTimeout: 1500,
      closeDeadline: 250,
      viaName: 'edge-1',
      originInsecure: true,
    });
  });

  it('L5: --store-prefault commits the store up front; off unless asked', () => {
    expect(optionsOf([...ORIGIN, '--store-prefault'])).toMatchObject({ storePrefault: true });
    expect(optionsOf([...ORIGIN]).storePrefault).toBeUndefined();
  });

  it('C2/R4/L5: --default-ttl, --hit-for-pass-ttl (0 allowed), --store-slab-size, --overflow-window', () => {
    const argv = [...ORIGIN, '--default-ttl', '0', '--hit-for-pass-ttl=30', '--store-slab-size', '1m', '--overflow-window=256k'];
    expect(optionsOf(argv)).toMatchObject({ defaultTtl: 0, hitForPassTtl: 30, storeSlabSize: 1024 ** 2, overflowWindow: 256 * 1024 });
  });

  it('--admin and --backlog-warning-bytes', () => {
    expect(optionsOf([...ORIGIN, '--admin', '127.0.0.1:9090', '--backlog-warning-bytes=500k'])).toMatchObject({
      admin: '127.0.0.1:9090',
      backlogWarningBytes: 500 * 1024,
    });
  });

  it('--origin-ca reads the PEM file', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    expect(optionsOf([...ORIGIN, '--origin-ca', writeTemp(pem, 'ca.pem')]).originCa).toBe(pem);
  });

  it('--flag=value and --flag value are the same; a later flag wins', () => {
    expect(optionsOf(['--origin=http://a.test:81', '--store-size=1g'])).toEqual(optionsOf(['--origin', 'http://a.test:81', '--store-size', '1g']));
    expect(optionsOf([...ORIGIN, '--connect-timeout', '5', '--connect-timeout=6']).connectTimeout).toBe(6);
  });

  it('--help and --version win wherever they appear, even beside a bad flag', () => {
    expect(parseCliArgs(['--help'])).toEqual({ help: true });
    expect(parseCliArgs(['--bogus', '-h'])).toEqual({ help: true });
    expect(parseCliArgs(['--version'])).toEqual({ version: true });
    expect(parseCliArgs([...ORIGIN, '--version'])).toEqual({ version: true });
  });

  it('usage() has one line for every flag', () => {
    const text = usage();
    const flags = [
      '--origin',
      '--listen',
      '--connect-timeout',
      '--first-byte-timeout',
      '--between-bytes-timeout',
      '--max-object-size',
      '--max-object-size-buffered',
      '--store-size',
      '--no-stream',
      '--log-level',
      '--config',
      '--max-head-size',
      '--header-timeout',
      '--idle-timeout',
      '--max-client-connections',
      '--max-origin-connections',
      '--origin-queue-timeout',
      '--send-timeout',
      '--close-deadline',
      '--default-ttl',
      '--hit-for-pass-ttl',
      '--store-slab-size',
      '--overflow-window',
      '--origin-ca',
      '--origin-insecure',
      '--via-name',
      '--admin',
      '--backlog-warning-bytes',
      '--help',
      '--version',
    ];
    for (const flag of flags) expect(text.split('\n').filter((line) => line.startsWith(`  ${flag} `))).toHaveLength(1);
  });
});

describe('parseCliArgs: --config FILE', () => {
  it('reads every option from the file', () => {
    const path = writeTemp(
      JSON.stringify({ origin: 'http://127.0.0.1:4000', listen: '127.0.0.1:0', storeSize: '2g', maxObjectSize: 1000, stream: false, logLevel: 'silent' }),
    );
    expect(optionsOf(['--config', path])).toEqual({
      origin: 'http://127.0.0.1:4000',
      listen: '127.0.0.1:0',
      storeSize: '2g',
      maxObjectSize: 1000,
      stream: false,
      logLevel: 'silent',
    });
    expect(resolveOptions(optionsOf(['--config', path])).storeSize).toBe(2 * 1024 ** 3);
  });

  it('flags override the file whatever their position', () => {
    const path = writeTemp(JSON.stringify({ origin: 'http://127.0.0.1:4000', connectTimeout: 111, idleTimeout: 222 }));
    expect(optionsOf(['--connect-timeout', '333', '--config', path, '--origin', 'http://o.test'])).toMatchObject({
      origin: 'http://o.test',
      connectTimeout: 333,
      idleTimeout: 222,
    });
  });

  it('accepts every option that has a default, and rules', () => {
    const rules = [{ path: '/events', ttl: 5, doStream: true }];
    const path = writeTemp(JSON.stringify({ ...DEFAULTS, origin: 'http://o.test', admin: '127.0.0.1:0', rules }));
    const options = optionsOf(['--config', path]);
    expect(options).toEqual({ ...DEFAULTS, origin: 'http://o.test', admin: '127.0.0.1:0', rules });
  });

  it('originCa in the file is a PEM path relative to the file', () => {
    writeTemp('PEM DATA', 'relative-ca.pem');
    const path = writeTemp(JSON.stringify({ origin: 'https://o.test', originCa: 'relative-ca.pem' }));
    expect(loadConfigFile(path).originCa).toBe('PEM DATA');
  });
});

describe('parseCliArgs: errors name the flag', () => {
  it.each([
    [['--bogus'], '--bogus: unknown option'],
    [[...ORIGIN, '--bogus=3'], '--bogus: unknown option'],
    [[...ORIGIN, 'extra'], 'unexpected argument "extra"'],
    [[...ORIGIN, '-x'], '-x: unknown option'],
    [['--listen', '127.0.0.1:1'], '--origin: required'],
    [['--origin'], '--origin: missing value'],
    [['--origin', '--listen', '127.0.0.1:1'], '--origin: missing value'],
    [['--origin='], '--origin: missing value'],
    [[...ORIGIN, '--connect-timeout', 'soon'], '--connect-timeout: "soon" is not a whole number of milliseconds'],
    [[...ORIGIN, '--first-byte-timeout=0'], '--first-byte-timeout: "0" is not a whole number of milliseconds above 0'],
    [[...ORIGIN, '--between-bytes-timeout=-5'], '--between-bytes-timeout: "-5"'],
    [[...ORIGIN, '--idle-timeout=1.5'], '--idle-timeout: "1.5"'],
    [[...ORIGIN, '--default-ttl=-1'], '--default-ttl: "-1" is not a whole number of seconds'],
    [[...ORIGIN, '--hit-for-pass-ttl', '2m'], '--hit-for-pass-ttl: "2m" is not a whole number of seconds'],
    [[...ORIGIN, '--store-slab-size', 'big'], '--store-slab-size: "big" is not a size'],
    [[...ORIGIN, '--max-client-connections=many'], '--max-client-connections: "many" is not a positive whole number'],
    [[...ORIGIN, '--store-size', 'huge'], '--store-size: "huge" is not a size'],
    [[...ORIGIN, '--max-object-size=12q'], '--max-object-size: "12q" is not a size'],
    [[...ORIGIN, '--max-object-size-buffered=0'], '--max-object-size-buffered: 0 must be a positive integer'],
    [[...ORIGIN, '--max-head-size=lots'], '--max-head-size: "lots" is not a size'],
    [[...ORIGIN, '--listen', 'localhost'], '--listen: "localhost" is not HOST:PORT'],
    [[...ORIGIN, '--listen', '127.0.0.1:70000'], '--listen: port 70000 is out of range'],
    [[...ORIGIN, '--admin', 'nowhere'], '--admin: "nowhere" is not HOST:PORT'],
    [[...ORIGIN, '--log-level', 'loud'], '--log-level: "loud" is not one of fatal, error'],
    [[...ORIGIN, '--no-stream=yes'], '--no-stream: takes no value'],
    [['--origin', 'not a url'], '--origin: "not a url" is not a URL'],
    [['--origin', 'ftp://o.test'], '--origin: "ftp://o.test" must be http:// or https://'],
    [['--origin', 'http://o.test/path'], '--origin: "http://o.test/path" must not have a path'],
    [[...ORIGIN, '--origin-ca', '/nonexistent/ca.pem'], '--origin-ca: cannot read /nonexistent/ca.pem (ENOENT)'],
    [[...ORIGIN, '--config'], '--config: missing value'],
    [[...ORIGIN, '--config', '/nonexistent/streamcache.json'], '--config: cannot read /nonexistent/streamcache.json (ENOENT)'],
  ])('%j → %s', (argv, message) => {
    expect(errorOf(argv as string[])).toContain(message);
  });

  it('a config file that is not JSON', () => {
    const path = writeTemp('{ origin: nope');
    expect(errorOf(['--config', path])).toMatch(new RegExp(`^--config ${path}: not valid JSON \\(`));
  });

  it('a config file that is not an object', () => {
    const path = writeTemp('[1, 2]');
    expect(errorOf(['--config', path])).toBe(`--config ${path}: must hold a JSON object`);
  });

  it('a config file with an unknown key (a typo never falls back to a default)', () => {
    const path = writeTemp(JSON.stringify({ origin: 'http://o.test', storesize: '1g' }));
    expect(errorOf(['--config', path])).toBe(`--config ${path}: unknown option "storesize"`);
  });

  it('a config value of the wrong type', () => {
    const path = writeTemp(JSON.stringify({ origin: 'http://o.test', connectTimeout: '1000' }));
    expect(errorOf(['--config', path])).toBe(`--config ${path}: "connectTimeout" must be a number, not "1000"`);
    const other = writeTemp(JSON.stringify({ origin: 'http://o.test', stream: 'no' }));
    expect(errorOf(['--config', other])).toBe(`--config ${other}: "stream" must be a boolean, not "no"`);
  });

  it('a config value that resolveOptions rejects is reported with the file and key', () => {
    const path = writeTemp(JSON.stringify({ origin: 'http://o.test', idleTimeout: -1 }));
    expect(errorOf(['--config', path])).toBe(`--config ${path}: idleTimeout: -1 must be a positive integer`);
    const size = writeTemp(JSON.stringify({ origin: 'http://o.test', storeSize: 'big' }));
    expect(errorOf(['--config', size])).toContain(`--config ${size}: storeSize: "big" is not a size`);
  });

  it('rules that resolveOptions rejects are reported with the file', () => {
    const notList = writeTemp(JSON.stringify({ origin: 'http://o.test', rules: { path: '/' } }));
    expect(errorOf(['--config', notList])).toBe(`--config ${notList}: "rules" must be a list, not {"path":"/"}`);
    const badRule = writeTemp(JSON.stringify({ origin: 'http://o.test', rules: [{ path: '/', tll: 5 }] }));
    expect(errorOf(['--config', badRule])).toBe(`--config ${badRule}: rules[0]: unknown field "tll"`);
  });

  it('a config without origin and no --origin flag', () => {
    const path = writeTemp(JSON.stringify({ listen: '127.0.0.1:0' }));
    expect(errorOf(['--config', path])).toContain('--origin: required');
  });

  it('the defaults in --help match DEFAULTS', () => {
    const text = usage();
    expect(text).toContain(`(default ${DEFAULTS.connectTimeout})`);
    expect(text).toContain(`(default ${DEFAULTS.firstByteTimeout})`);
    expect(text).toContain(`(default ${DEFAULTS.betweenBytesTimeout})`);
    expect(text).toContain(`(default ${DEFAULTS.maxObjectSize})`);
    expect(text).toContain(`(default ${DEFAULTS.maxObjectSizeBuffered})`);
    expect(text).toContain(`(default ${DEFAULTS.listen})`);
    // Sizes are shown with a unit where exact (512m, 1g): reading one back must give the default.
    const storeSize = /--store-size BYTES +object store capacity \(default (\d+[kmg])\)/.exec(text)?.[1];
    expect(parseSize(storeSize ?? 'missing', 'storeSize')).toBe(DEFAULTS.storeSize);
    expect(text).toMatch(/--log-level LEVEL +one of .* \(default info\)/);
  });
});

describe('serving stale: --grace, --stale-if-error, rule fields (G1, G2)', () => {
  it('G1/G2 --grace and --stale-if-error take whole seconds, 0 by default', () => {
    expect(DEFAULTS).toMatchObject({ grace: 0, staleIfError: 0 });
    expect(optionsOf([...ORIGIN, '--grace', '30', '--stale-if-error=86400'])).toMatchObject({ grace: 30, staleIfError: 86_400 });
    expect(errorOf([...ORIGIN, '--grace', '1m'])).toBe('--grace: "1m" is not a whole number of seconds');
    expect(errorOf([...ORIGIN, '--stale-if-error', '-1'])).toMatch(/^--stale-if-error: /);
    const text = usage();
    for (const flag of ['--grace', '--stale-if-error']) expect(text.split('\n').filter((line) => line.startsWith(`  ${flag} `))).toHaveLength(1);
  });

  it('G1/G2 a config file sets them, and rules may carry grace and staleIfError', () => {
    const rules = [{ path: '/news/*', grace: 60, staleIfError: 3600 }];
    const path = writeTemp(JSON.stringify({ origin: 'http://o.test', grace: 5, staleIfError: 10, rules }));
    expect(optionsOf(['--config', path])).toMatchObject({ grace: 5, staleIfError: 10, rules });
    const bad = writeTemp(JSON.stringify({ origin: 'http://o.test', rules: [{ path: '/x', grace: 1.5 }] }));
    expect(errorOf(['--config', bad])).toBe(`--config ${bad}: rules[0].grace: must be a whole number of seconds, 0 or more`);
    expect(() => resolveOptions({ origin: 'http://o.test', rules: [{ path: '/x', staleIfError: '5' as unknown as number }] })).toThrow('rules[0].staleIfError: must be a number');
  });
});
