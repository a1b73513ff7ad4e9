// Command line and JSON config file → ProxyOptions. Hand-written so that every error message can
// name the flag (or config key) the operator typed, and so that nothing here depends on a library.
// The values themselves are validated by resolveOptions, the same check createProxy() applies.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULTS, LOG_LEVELS, OptionError, parseHostPort, parseSize, resolveOptions } from './options.js';
import type { LogLevel, ProxyOptions } from './options.js';

export type CliResult = { options: ProxyOptions } | { help: true } | { version: true };

/** What kind of value an option takes: decides how a flag's text and a config value are read. */
type ValueKind = 'url' | 'hostport' | 'ms' | 'seconds' | 'count' | 'size' | 'level' | 'text' | 'file';

interface ValueOption {
  flag: string;
  key: keyof ProxyOptions;
  kind: ValueKind;
  /** Placeholder shown in --help. */
  arg: string;
  help: string;
}

interface SwitchOption {
  flag: string;
  key: keyof ProxyOptions;
  /** The value the switch sets: `--no-stream` sets stream to false. */
  value: boolean;
  help: string;
}

const VALUE_OPTIONS = [
  { flag: '--origin', key: 'origin', kind: 'url', arg: 'URL', help: 'origin to relay to, http://host:port or https://host:port (required)' },
  { flag: '--listen', key: 'listen', kind: 'hostport', arg: 'HOST:PORT', help: 'address to listen on' },
  { flag: '--connect-timeout', key: 'connectTimeout', kind: 'ms', arg: 'MS', help: 'origin connect timeout' },
  { flag: '--first-byte-timeout', key: 'firstByteTimeout', kind: 'ms', arg: 'MS', help: 'wait for the origin response head' },
  { flag: '--between-bytes-timeout', key: 'betweenBytesTimeout', kind: 'ms', arg: 'MS', help: 'longest origin silence within a body' },
  { flag: '--max-object-size', key: 'maxObjectSize', kind: 'size', arg: 'BYTES', help: 'largest object for a streaming fetch' },
  { flag: '--max-object-size-buffered', key: 'maxObjectSizeBuffered', kind: 'size', arg: 'BYTES', help: 'largest object for a buffered fetch' },
  { flag: '--store-size', key: 'storeSize', kind: 'size', arg: 'BYTES', help: 'object store capacity' },
  { flag: '--log-level', key: 'logLevel', kind: 'level', arg: 'LEVEL', help: `one of ${LOG_LEVELS.join(', ')}` },
  { flag: '--max-head-size', key: 'maxHeadSize', kind: 'size', arg: 'BYTES', help: 'request head size limit, 431 above it' },
  { flag: '--header-timeout', key: 'headerTimeout', kind: 'ms', arg: 'MS', help: 'a request head must complete within this, else 408' },
  { flag: '--idle-timeout', key: 'idleTimeout', kind: 'ms', arg: 'MS', help: 'close idle keep-alive client connections after this' },
  { flag: '--max-client-connections', key: 'maxClientConnections', kind: 'count', arg: 'N', help: 'most client connections open at once' },
  { flag: '--max-origin-connections', key: 'maxOriginConnections', kind: 'count', arg: 'N', help: 'most connections open to the origin' },
  { flag: '--origin-queue-timeout', key: 'originQueueTimeout', kind: 'ms', arg: 'MS', help: 'wait for an origin connection before 503' },
  { flag: '--default-ttl', key: 'defaultTtl', kind: 'seconds', arg: 'SECONDS', help: 'freshness of a response that states none; 0: not cached' },
  { flag: '--hit-for-pass-ttl', key: 'hitForPassTtl', kind: 'seconds', arg: 'SECONDS', help: 'a key with an unshareable response goes straight to the origin this long' },
  { flag: '--store-slab-size', key: 'storeSlabSize', kind: 'size', arg: 'BYTES', help: 'size of one slab of the object store' },
  { flag: '--overflow-window', key: 'overflowWindow', kind: 'size', arg: 'BYTES', help: 'bytes an object too big for the store keeps ahead of its slowest client' },
  { flag: '--send-timeout', key: 'sendTimeout', kind: 'ms', arg: 'MS', help: 'disconnect a client that accepts no bytes for this long' },
  { flag: '--close-deadline', key: 'closeDeadline', kind: 'ms', arg: 'MS', help: 'on shutdown, cut responses still running after this' },
  { flag: '--origin-ca', key: 'originCa', kind: 'file', arg: 'FILE', help: 'PEM file of a CA to trust for an https:// origin' },
  { flag: '--via-name', key: 'viaName', kind: 'text', arg: 'NAME', help: 'name used in Via headers' },
  { flag: '--admin', key: 'admin', kind: 'hostport', arg: 'HOST:PORT', help: 'serve /stats, /metrics and /healthz on this address (off by default)' },
  // serving stale (issue 15)
  { flag: '--grace', key: 'grace', kind: 'seconds', arg: 'SECONDS', help: 'serve an expired object this long while it is revalidated, when the response states no stale-while-revalidate (G1)' },
  { flag: '--stale-if-error', key: 'staleIfError', kind: 'seconds', arg: 'SECONDS', help: 'serve an expired object this long when its refresh fails, when the response states no stale-if-error (G2)' },
  { flag: '--backlog-warning-bytes', key: 'backlogWarningBytes', kind: 'size', arg: 'BYTES', help: 'warn once when an in-flight object buffers more than this for a slow client' },
  // HTTP/2 and TLS towards clients (H1)
  { flag: '--tls-cert', key: 'tlsCert', kind: 'file', arg: 'FILE', help: 'PEM certificate: the listener speaks TLS, ALPN h2 and http/1.1 (with --tls-key; SIGHUP re-reads both)' },
  { flag: '--tls-key', key: 'tlsKey', kind: 'file', arg: 'FILE', help: 'PEM private key of --tls-cert' },
  { flag: '--h2-max-concurrent-streams', key: 'h2MaxConcurrentStreams', kind: 'count', arg: 'N', help: 'HTTP/2 streams open at once per connection' },
  { flag: '--h2-max-header-list-size', key: 'h2MaxHeaderListSize', kind: 'size', arg: 'BYTES', help: 'HTTP/2 header list size advertised; a larger list is reset (431 above --max-head-size)' },
  { flag: '--h2-reset-limit', key: 'h2ResetLimit', kind: 'count', arg: 'N', help: 'HTTP/2 streams a client may cancel per second before GOAWAY (rapid reset)' },
  { flag: '--h2-ping-limit', key: 'h2PingLimit', kind: 'count', arg: 'N', help: 'HTTP/2 PING frames per second per connection before GOAWAY' },
  { flag: '--h2-settings-limit', key: 'h2SettingsLimit', kind: 'count', arg: 'N', help: 'HTTP/2 SETTINGS frames per second per connection before GOAWAY' },
  { flag: '--segment-size', key: 'segmentSize', kind: 'size', arg: 'BYTES', help: 'cache large responses as segments of this size, fetched as Range requests (B4)' },
  // Invalidation and the fleet (I1, I5, shielding).
  { flag: '--purge-allow', key: 'purgeAllow', kind: 'text', arg: 'CIDR[,CIDR...]', help: 'networks allowed to PURGE (replaces the default, loopback only)' },
  { flag: '--purge-token', key: 'purgeToken', kind: 'text', arg: 'TOKEN', help: 'a request with X-Purge-Token equal to this may purge from anywhere (16 characters at least)' },
  { flag: '--purge-bus', key: 'purgeBus', kind: 'url', arg: 'redis://HOST:PORT[/CHANNEL]', help: 'publish every accepted purge there and apply every purge received from there' },
  { flag: '--shield', key: 'shield', kind: 'url', arg: 'URL', help: 'send misses to this streamcache node instead of the origin (the origin when it cannot be reached)' },
] as const satisfies readonly ValueOption[];

const SWITCH_OPTIONS = [
  { flag: '--no-stream', key: 'stream', value: false, help: 'turn streaming miss off: clients get a body once it is complete' },
  { flag: '--origin-insecure', key: 'originInsecure', value: true, help: 'skip certificate checks for an https:// origin (labs only)' },
  { flag: '--store-prefault', key: 'storePrefault', value: true, help: 'commit the whole store\'s memory at startup (a background worker), so cold misses take no page faults' },
  // issue 18
  { flag: '--no-warm-up', key: 'warmUp', value: false, help: 'skip the warm-up before listening (a private run of misses and hits that spares the first client the cold start)' },
  { flag: '--h2c', key: 'h2c', value: true, help: 'accept HTTP/2 with prior knowledge on the cleartext listener, beside HTTP/1.x' },
] as const satisfies readonly SwitchOption[];

const CONFIG_FLAG = '--config';

/** Options too structured for a flag: only the config file sets them (resolveOptions checks the content). */
const CONFIG_ONLY_OPTIONS = [['rules', 'list']] as const satisfies ReadonlyArray<readonly [keyof ProxyOptions, 'list']>;

// A new ProxyOptions key without a flag or a config entry above fails the build here, naming the key.
type ReachableKey = (typeof VALUE_OPTIONS)[number]['key'] | (typeof SWITCH_OPTIONS)[number]['key'] | (typeof CONFIG_ONLY_OPTIONS)[number][0];
type UnreachableKey = Exclude<keyof ProxyOptions, ReachableKey>;
const everyOptionReachable: [UnreachableKey] extends [never] ? true : UnreachableKey = true;

type ConfigKind = ValueKind | 'boolean' | 'list';

const CONFIG_KINDS: ReadonlyMap<string, ConfigKind> = new Map<string, ConfigKind>([
  ...VALUE_OPTIONS.map((o) => [o.key, o.kind] as const),
  ...SWITCH_OPTIONS.map((o) => [o.key, 'boolean'] as const),
  ...CONFIG_ONLY_OPTIONS,
]);

/** Reads argv (without `node` and the script path). Throws OptionError naming the bad flag. */
export function parseCliArgs(argv: readonly string[]): CliResult {
  // --help and --version win wherever they appear, so a broken command line can still ask for help.
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  if (argv.includes('--version')) return { version: true };

  const { flagOptions, configPath } = readFlags(argv);
  const fileOptions = configPath === undefined ? {} : loadConfigFile(configPath);
  const options = { ...fileOptions, ...flagOptions } as Partial<ProxyOptions>;
  if (options.origin === undefined) throw new OptionError('--origin: required (example: --origin http://127.0.0.1:3000)');
  validate(options as ProxyOptions, flagOptions, configPath);
  return { options: options as ProxyOptions };
}

/** resolveOptions names the option key; say instead where the operator wrote the bad value. */
function validate(options: ProxyOptions, flagOptions: Partial<ProxyOptions>, configPath: string | undefined): void {
  try {
    resolveOptions(options);
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    // Its messages start with the key: `idleTimeout: …`, `rules[2].ttl: …`.
    const key = /^\w+/.exec(err.message)?.[0];
    if (!key || !CONFIG_KINDS.has(key)) throw err;
    const rest = err.message.slice(key.length);
    const flag = [...VALUE_OPTIONS, ...SWITCH_OPTIONS].find((o) => o.key === key)?.flag;
    if (flag && key in flagOptions) throw new OptionError(`${flag}${rest}`);
    if (configPath !== undefined) throw new OptionError(`${CONFIG_FLAG} ${configPath}: ${key}${rest}`);
    throw err;
  }
}

/** K1: the `--config` path on a command line, if any (what SIGHUP re-reads). */
export function configFileOf(argv: readonly string[]): string | undefined {
  let path: string | undefined;
  argv.forEach((arg, i) => {
    if (arg === CONFIG_FLAG) path = argv[i + 1];
    else if (arg.startsWith(`${CONFIG_FLAG}=`)) path = arg.slice(CONFIG_FLAG.length + 1);
  });
  return path;
}

function readFlags(argv: readonly string[]): { flagOptions: Partial<ProxyOptions>; configPath?: string } {
  const flagOptions: Record<string, unknown> = {};
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const { flag, inlineValue } = splitFlag(argv[i]);
    const switchOption = SWITCH_OPTIONS.find((o) => o.flag === flag);
    if (switchOption) {
      if (inlineValue !== undefined) throw new OptionError(`${flag}: takes no value`);
      flagOptions[switchOption.key] = switchOption.value;
      continue;
    }
    const valueOption = VALUE_OPTIONS.find((o) => o.flag === flag);
    if (!valueOption && flag !== CONFIG_FLAG) throw unknownArgument(argv[i]);
    let value = inlineValue;
    if (value === undefined) {
      const next = argv[i + 1];
      // `--origin --listen x` is a forgotten value, not an origin called "--listen".
      if (next === undefined || next.startsWith('--')) throw new OptionError(`${flag}: missing value`);
      value = next;
      i++;
    }
    if (value === '') throw new OptionError(`${flag}: missing value`);
    if (valueOption) flagOptions[valueOption.key] = parseFlagValue(valueOption, value);
    else configPath = value;
  }
  return { flagOptions: flagOptions as Partial<ProxyOptions>, configPath };
}

function splitFlag(arg: string): { flag: string; inlineValue?: string } {
  const eq = arg.indexOf('=');
  if (!arg.startsWith('--') || eq < 0) return { flag: arg };
  return { flag: arg.slice(0, eq), inlineValue: arg.slice(eq + 1) };
}

function unknownArgument(arg: string): OptionError {
  if (!arg.startsWith('-')) return new OptionError(`unexpected argument "${arg}" (options start with --, see --help)`);
  return new OptionError(`${arg.split('=')[0]}: unknown option (see --help)`);
}

/** A flag's text → the option's value, with errors that name the flag. */
function parseFlagValue(option: ValueOption, text: string): unknown {
  const { flag } = option;
  switch (option.kind) {
    case 'ms':
      return parsePositiveInteger(text, flag, 'a whole number of milliseconds');
    case 'seconds':
      return parseWholeNumber(text, flag, 'a whole number of seconds');
    case 'count':
      return parsePositiveInteger(text, flag, 'a positive whole number');
    case 'size':
      return parseSize(text, flag);
    case 'hostport':
      parseHostPort(text, flag);
      return text;
    case 'level':
      return parseLogLevel(text, flag);
    case 'file':
      return readTextFile(text, flag);
    case 'url':
    case 'text':
      return text;
  }
}

function parsePositiveInteger(text: string, name: string, what: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value <= 0) throw new OptionError(`${name}: "${text}" is not ${what} above 0`);
  return value;
}

function parseWholeNumber(text: string, name: string, what: string): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new OptionError(`${name}: "${text}" is not ${what}`);
  return value;
}

function parseLogLevel(text: string, name: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) throw new OptionError(`${name}: "${text}" is not one of ${LOG_LEVELS.join(', ')}`);
  return text as LogLevel;
}

function readTextFile(path: string, name: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new OptionError(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * Reads a JSON config file: one object whose keys are ProxyOptions names (camelCase). Unknown keys
 * and values of the wrong type are errors, so a typo never silently falls back to a default.
 * `originCa` is a path to a PEM file, relative to the config file.
 */
export function loadConfigFile(path: string): Partial<ProxyOptions> {
  const where = `${CONFIG_FLAG} ${path}`;
  const text = readTextFile(path, CONFIG_FLAG);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new OptionError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new OptionError(`${where}: must hold a JSON object`);
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const kind = CONFIG_KINDS.get(key);
    if (kind === undefined) throw new OptionError(`${where}: unknown option "${key}"${configKeyHint(key)}`);
    checkConfigType(key, value, kind, where);
    options[key] = kind === 'file' ? readTextFile(resolve(dirname(path), value as string), `${where}: ${key}`) : value;
  }
  return options as Partial<ProxyOptions>;
}

/**
 * A hint for a config key written as its flag would be: `noStream` or `no-stream` (a switch that
 * turns something off) is `"stream": false`; `store-size` is `"storeSize"`.
 */
function configKeyHint(key: string): string {
  const camel = camelCase(key);
  const switchOption = SWITCH_OPTIONS.find((o) => o.flag.slice(2) === key || camelCase(o.flag.slice(2)) === camel);
  if (switchOption) return ` (write "${switchOption.key}": ${switchOption.value})`;
  if (camel !== key && CONFIG_KINDS.has(camel)) return ` (write "${camel}")`;
  return '';
}

function camelCase(kebab: string): string {
  return kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

function checkConfigType(key: string, value: unknown, kind: ConfigKind, where: string): void {
  const expected = configType(kind);
  const actual = Array.isArray(value) ? 'list' : typeof value;
  if (!expected.split(' or ').includes(actual)) throw new OptionError(`${where}: "${key}" must be a ${expected}, not ${JSON.stringify(value)}`);
}

function configType(kind: ConfigKind): string {
  switch (kind) {
    case 'boolean':
    case 'list':
      return kind;
    case 'ms':
    case 'seconds':
    case 'count':
      return 'number';
    case 'size':
      return 'number or string';
    default:
      return 'string';
  }
}

/** ` (default 512m)`, read from DEFAULTS so that --help cannot drift from the code. */
function describeDefault(option: ValueOption): string {
  const value = (DEFAULTS as Partial<Record<keyof ProxyOptions, unknown>>)[option.key];
  if (value === undefined) return '';
  if (option.kind === 'size' && value === 0) return ' (default off)';
  return ` (default ${option.kind === 'size' ? formatSize(value as number) : String(value)})`;
}

/** A unit only where it reads better: 512m, 16k; Fastly's odd limits stay exact byte counts. */
function formatSize(bytes: number): string {
  for (const [unit, scale] of [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const) {
    if (bytes % scale === 0 && bytes / scale < 1024) return `${bytes / scale}${unit}`;
  }
  return String(bytes);
}

/** One line per flag, for --help. */
export function usage(): string {
  const rows: Array<[string, string]> = [
    ...VALUE_OPTIONS.map((o): [string, string] => [`${o.flag} ${o.arg}`, o.help + describeDefault(o)]),
    ...SWITCH_OPTIONS.map((o): [string, string] => [o.flag, o.help]),
    [`${CONFIG_FLAG} FILE`, 'JSON file of options in camelCase, rules too (e.g. {"storeSize": "2g"}); flags override it'],
    ['--help', 'print this help and exit'],
    ['--version', 'print the version and exit'],
  ];
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    'Usage: streamcache --origin URL [options]',
    '',
    'HTTP/1.x caching reverse proxy with streaming miss and request collapsing.',
    'Flags take a value as --flag VALUE or --flag=VALUE. Sizes accept k, m, g suffixes (binary).',
    '',
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
    '',
  ].join('\n');
}
