import type { CacheRule } from './hooks.js';
import { parseCidrList } from './purge-access.js';

// Every knob of the proxy, its default and its validation. The CLI, the JSON config file and
// createProxy() all end here, so a value is checked the same way whichever door it came through.

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ProxyOptions {
  /** The origin every request is relayed to: `http://host:port` or `https://host:port`. */
  origin: string;
  /** Where to listen, `HOST:PORT` (default 127.0.0.1:8080). `listen()` arguments override it. */
  listen?: string;
  /** O1: origin connect timeout, ms (Fastly: 1 s). */
  connectTimeout?: number;
  /** O1: from request sent to the first byte of the origin's response head, ms (Fastly: 15 s). */
  firstByteTimeout?: number;
  /** O1: longest silence between two body reads from the origin, ms (Fastly: 10 s). */
  betweenBytesTimeout?: number;
  /** L1: maximum object size for a streaming fetch, bytes (a number, or a size such as `'5g'`). */
  maxObjectSize?: Size;
  /** L1: maximum object size when the body is buffered (not streaming), bytes or a size. */
  maxObjectSizeBuffered?: Size;
  /** L5: capacity of the object store, bytes or a size (`'2g'`). */
  storeSize?: Size;
  /** Commit the whole store's memory at startup, in a background worker, so cold misses take no page faults. */
  storePrefault?: boolean;
  /** Turns streaming miss off for every fetch (`--no-stream`). */
  stream?: boolean;
  logLevel?: LogLevel;
  /** P2: request head size limit, bytes or a size. */
  maxHeadSize?: Size;
  /** P2: a request head must be complete this long after its first byte, ms. */
  headerTimeout?: number;
  /** P2: an idle keep-alive client connection is closed after this long, ms. */
  idleTimeout?: number;
  /** P3: most client connections open at once. */
  maxClientConnections?: number;
  /** P3: most connections open to the origin at once. */
  maxOriginConnections?: number;
  /** P3: how long a request may wait for an origin connection, ms, before it gets 503. */
  originQueueTimeout?: number;
  /** A client that accepts no bytes for this long is disconnected, ms. */
  sendTimeout?: number;
  /** close(): how long responses in flight may take to finish before their connections are cut, ms. */
  closeDeadline?: number;
  /** Trust this CA (PEM) for an https:// origin, beside the system store. */
  originCa?: string | Buffer;
  /** Skip certificate verification for an https:// origin (tests and labs only). */
  originInsecure?: boolean;
  /** The name in Via headers. */
  viaName?: string;
  /** C2: seconds of freshness when a response gives none (0: such responses are not cached). */
  defaultTtl?: number;
  /** R4: seconds a key passes straight to the origin after an unshareable response. */
  hitForPassTtl?: number;
  /** Size of one slab of the store, bytes or a size (64 MiB; smaller in tests). */
  storeSlabSize?: Size;
  /** L5: bytes an object that overflowed the store may hold beyond its slowest client (bytes or a size). */
  overflowWindow?: Size;
  /** Where the admin listener serves /stats, /metrics and /healthz, `HOST:PORT`; off when unset. */
  admin?: string;
  /** Issue 5: an in-flight object whose buffered bytes pass this gets one warning (the seed's 500 KB); bytes or a size. */
  backlogWarningBytes?: Size;
  // ---- serving stale (issue 15) ----
  /** G1: seconds past expiry a response that states no stale-while-revalidate is served while revalidated (Varnish's grace). */
  grace?: number;
  /** G2: seconds past expiry a response that states no stale-if-error is served when its refresh fails. */
  staleIfError?: number;
  // ---- end serving stale ----
  /** Config rules by path: pass, ttl, doStream, cacheable (see src/proxy/hooks.ts). */
  rules?: CacheRule[];
  // -- issue 18: start-up --
  /** Run a private warm-up (misses and hits through a throwaway proxy) before listening, so the first client is not slow (src/proxy/warm-up.ts). */
  warmUp?: boolean;
  // ---- HTTP/2 and TLS towards clients (H1) ----
  /** H1: PEM certificate (chain) for the listener; with tlsKey the listener speaks TLS, ALPN h2 and http/1.1. */
  tlsCert?: string | Buffer;
  /** H1: PEM private key of tlsCert. */
  tlsKey?: string | Buffer;
  /** H1: cleartext listener also accepts HTTP/2 with prior knowledge (h2c), beside HTTP/1.x. */
  h2c?: boolean;
  /** HTTP/2: streams open at once per connection; more are refused (REFUSED_STREAM). */
  h2MaxConcurrentStreams?: number;
  /** HTTP/2: advertised SETTINGS_MAX_HEADER_LIST_SIZE, bytes; node:http2 resets a stream above it (431 comes at maxHeadSize). */
  h2MaxHeaderListSize?: number;
  /** HTTP/2 rapid reset (CVE-2023-44487): streams a client may cancel per second before GOAWAY. */
  h2ResetLimit?: number;
  /** HTTP/2: PING frames per second per connection before GOAWAY. */
  h2PingLimit?: number;
  /** HTTP/2: SETTINGS frames per second per connection before GOAWAY. */
  h2SettingsLimit?: number;
  // ---- B4 segmented caching ----
  /** B4: fetch and cache responses as segments of this many bytes (Range requests); 0: off (the default). */
  segmentSize?: number;
  // ---- invalidation and the fleet (I1, I5, shielding) ----
  /** I1: networks allowed to purge, `CIDR[,CIDR...]` (replaces the loopback default). */
  purgeAllow?: string | string[];
  /** I1: a request whose X-Purge-Token equals this may purge from anywhere. */
  purgeToken?: string;
  /** I5: `redis://HOST:PORT[/CHANNEL]`: purges are published there and applied from there. */
  purgeBus?: string;
  /** Misses go to this streamcache node (`http://host:port`) instead of the origin; the origin when it cannot be reached. */
  shield?: string;
}

/** A byte count: a number, or text with a binary unit (`'64k'`, `'512m'`, `'2g'`, `'1.5g'`). */
export type Size = number | string;

/** The options whose value is a Size; resolved to a number of bytes. */
export const SIZE_KEYS = ['maxObjectSize', 'maxObjectSizeBuffered', 'storeSize', 'maxHeadSize', 'storeSlabSize', 'overflowWindow', 'backlogWarningBytes'] as const;
type SizeKey = (typeof SIZE_KEYS)[number];

/** Options that are on or off; anything but a boolean is refused (so `"false"` never reads as on). */
const BOOLEAN_KEYS = ['stream', 'storePrefault', 'originInsecure'] as const;

export type ResolvedOptions = Required<Omit<ProxyOptions, 'originCa' | 'listen' | 'rules' | 'admin' | 'tlsCert' | 'tlsKey' | SizeKey | PurgeOptionKey>> & Record<SizeKey, number> & ResolvedPurgeOptions & {
  admin?: string;
  tlsCert?: string | Buffer;
  tlsKey?: string | Buffer;
  rules: CacheRule[];
  originCa?: string | Buffer;
  listenHost: string;
  listenPort: number;
  originUrl: URL;
};

type PurgeOptionKey = 'purgeAllow' | 'purgeToken' | 'purgeBus' | 'shield';

export interface ResolvedPurgeOptions {
  /** Undefined: loopback only. */
  purgeAllow?: string[];
  purgeToken?: string;
  purgeBus?: { url: string; host: string; port: number; channel: string };
  shieldUrl?: URL;
}

/** I5: the channel when the purge-bus URL names none. */
export const DEFAULT_PURGE_CHANNEL = 'streamcache:purge';

export function parsePurgeBus(text: string): NonNullable<ResolvedPurgeOptions['purgeBus']> {
  const bad = (why: string) => new OptionError(`purgeBus: "${text}" ${why} (example: redis://127.0.0.1:6379/streamcache:purge)`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad('is not a URL');
  }
  if (url.protocol !== 'redis:') throw bad('must be redis://HOST:PORT[/CHANNEL]');
  if (!url.hostname || !url.port) throw bad('must name a host and a port');
  if (url.username || url.password || url.search || url.hash) throw bad('must not have credentials, a query or a fragment');
  const channel = decodeURIComponent(url.pathname.replace(/^\//, '')) || DEFAULT_PURGE_CHANNEL;
  return { url: text, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port), channel };
}

function resolvePurgeOptions(options: ProxyOptions): ResolvedPurgeOptions {
  const resolved: ResolvedPurgeOptions = {};
  if (options.purgeAllow !== undefined) resolved.purgeAllow = parseCidrList(options.purgeAllow, 'purgeAllow');
  if (options.purgeToken !== undefined) {
    if (typeof options.purgeToken !== 'string' || options.purgeToken.length < 16) throw new OptionError('purgeToken: must be a string of 16 characters at least');
    resolved.purgeToken = options.purgeToken;
  }
  if (options.purgeBus !== undefined) resolved.purgeBus = parsePurgeBus(options.purgeBus);
  if (options.shield !== undefined) resolved.shieldUrl = parseOrigin(options.shield, 'shield');
  return resolved;
}

export const DEFAULTS = {
  listen: '127.0.0.1:8080',
  connectTimeout: 1_000,
  firstByteTimeout: 15_000,
  betweenBytesTimeout: 10_000,
  maxObjectSize: 5_368_578_048,
  maxObjectSizeBuffered: 2_147_352_576,
  storeSize: 1024 * 1024 * 1024,
  storePrefault: false,
  stream: true,
  logLevel: 'info' as LogLevel,
  maxHeadSize: 16 * 1024,
  headerTimeout: 10_000,
  idleTimeout: 5_000,
  maxClientConnections: 20_000,
  maxOriginConnections: 512,
  originQueueTimeout: 2_000,
  sendTimeout: 60_000,
  closeDeadline: 10_000,
  originInsecure: false,
  viaName: 'streamcache',
  defaultTtl: 0,
  hitForPassTtl: 120,
  storeSlabSize: 64 * 1024 * 1024,
  overflowWindow: 16 * 1024 * 1024,
  backlogWarningBytes: 500 * 1000,
  // issue 18
  warmUp: true,
  // serving stale (issue 15)
  grace: 0,
  staleIfError: 0,
  // HTTP/2 (H1): nginx's stream limit; header list 4x the request head limit (HPACK lists count 32 bytes a field).
  h2c: false,
  h2MaxConcurrentStreams: 128,
  h2MaxHeaderListSize: 64 * 1024,
  h2ResetLimit: 100,
  h2PingLimit: 100,
  h2SettingsLimit: 100,
  segmentSize: 0,
} as const;

/** A configuration value that cannot be used, with the option's name in the message. */
export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4 };

/** `512m`, `2g`, `65536`, `1.5g` (binary units) → bytes. */
export function parseSize(text: string | number, name: string): number {
  if (typeof text === 'number') return checkPositiveInteger(text, name);
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new OptionError(`${name}: "${text}" is not a size (examples: 65536, 512k, 512m, 2g)`);
  return checkPositiveInteger(Math.floor(Number(match[1]) * unit), name);
}

function checkPositiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new OptionError(`${name}: ${value} must be a positive integer`);
  return value;
}

export function parseHostPort(text: string, name: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim()) ?? /^()()(\d+)$/.exec(text.trim());
  if (!match) throw new OptionError(`${name}: "${text}" is not HOST:PORT`);
  const port = Number(match[3]);
  if (port > 65535) throw new OptionError(`${name}: port ${port} is out of range`);
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

function parseOrigin(text: string, name = 'origin'): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OptionError(`${name}: "${text}" is not a URL (example: http://127.0.0.1:3000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OptionError(`${name}: "${text}" must be http:// or https://`);
  if (url.pathname !== '/' || url.search || url.hash) throw new OptionError(`${name}: "${text}" must not have a path, query or fragment`);
  return url;
}

/** Fills defaults and checks every value; throws OptionError naming the first bad one. */
export function resolveOptions(options: ProxyOptions): ResolvedOptions {
  if (!options || typeof options.origin !== 'string') throw new OptionError('origin: required (example: http://127.0.0.1:3000)');
  const merged = { ...DEFAULTS, ...stripUndefined(options), origin: options.origin };
  const listen = parseHostPort(merged.listen, 'listen');
  if (merged.admin !== undefined) parseHostPort(merged.admin, 'admin');
  const durations = ['connectTimeout', 'firstByteTimeout', 'betweenBytesTimeout', 'headerTimeout', 'idleTimeout', 'originQueueTimeout', 'sendTimeout', 'closeDeadline'] as const;
  for (const key of durations) checkPositiveInteger(merged[key], key);
  for (const key of ['maxClientConnections', 'maxOriginConnections'] as const) checkPositiveInteger(merged[key], key);
  for (const key of BOOLEAN_KEYS) {
    if (typeof merged[key] !== 'boolean') throw new OptionError(`${key}: must be true or false, not ${JSON.stringify(merged[key])}`);
  }
  if (typeof merged.viaName !== 'string' || !TOKEN.test(merged.viaName)) throw new OptionError(`viaName: ${JSON.stringify(merged.viaName)} must be a token (letters, digits, !#$%&'*+-.^_\`|~), it goes into Via headers`);
  for (const key of ['h2MaxConcurrentStreams', 'h2MaxHeaderListSize', 'h2ResetLimit', 'h2PingLimit', 'h2SettingsLimit'] as const) checkPositiveInteger(merged[key], key);
  if ((merged.tlsCert === undefined) !== (merged.tlsKey === undefined)) {
    const [given, missing] = merged.tlsCert === undefined ? ['tlsKey', 'the certificate (tlsCert, --tls-cert)'] : ['tlsCert', 'the key (tlsKey, --tls-key)'];
    throw new OptionError(`${given}: TLS needs a certificate and its key; ${missing} is missing`);
  }
  for (const key of ['defaultTtl', 'hitForPassTtl', 'grace', 'staleIfError'] as const) {
    if (!Number.isSafeInteger(merged[key]) || merged[key] < 0) throw new OptionError(`${key}: ${merged[key]} must be a whole number of seconds, 0 or more`);
  }
  const rules = checkRules(options.rules ?? []);
  if (!LOG_LEVELS.includes(merged.logLevel)) throw new OptionError(`logLevel: "${merged.logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  const sizes = Object.fromEntries(SIZE_KEYS.map((key) => [key, parseSize(merged[key], key)])) as Record<SizeKey, number>;
  // The invalidation options are resolved apart (resolvePurgeOptions), into their own shapes.
  const { purgeAllow: _allow, purgeToken: _token, purgeBus: _bus, shield: _shield, ...base } = merged;
  return {
    ...base,
    ...sizes,
    stream: merged.stream !== false,
    storePrefault: merged.storePrefault === true,
    originInsecure: merged.originInsecure === true,
    warmUp: merged.warmUp !== false,
    h2c: merged.h2c === true,
    listenHost: listen.host,
    listenPort: listen.port,
    originUrl: parseOrigin(merged.origin),
    rules,
    // B4: 0 is off; any other value is a size.
    segmentSize: merged.segmentSize === 0 ? 0 : parseSize(merged.segmentSize, 'segmentSize'),
    ...resolvePurgeOptions(options),
  };
}

/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const RULE_FIELDS: Record<string, 'boolean' | 'number' | 'string'> = { path: 'string', regex: 'string', pass: 'boolean', ttl: 'number', doStream: 'boolean', cacheable: 'boolean', compress: 'string', esi: 'boolean', segmentSize: 'number' };
// serving stale (issue 15): a rule's windows, whole seconds
RULE_FIELDS.grace = 'number';
RULE_FIELDS.staleIfError = 'number';

function checkRules(rules: unknown): CacheRule[] {
  if (!Array.isArray(rules)) throw new OptionError('rules: must be a list of { path or regex, pass?, ttl?, doStream?, cacheable?, compress?, esi? }');
  rules.forEach((rule: unknown, i) => {
    if (!rule || typeof rule !== 'object') throw new OptionError(`rules[${i}]: must be an object`);
    for (const [key, value] of Object.entries(rule)) {
      const type = RULE_FIELDS[key];
      if (!type) throw new OptionError(`rules[${i}]: unknown field "${key}"`);
      if (typeof value !== type) throw new OptionError(`rules[${i}].${key}: must be a ${type}`);
    }
    const { path, regex, compress, segmentSize, ttl } = rule as CacheRule;
    // Same as defaultTtl: a whole number of seconds, 0 or more (0: not cached).
    if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl < 0)) throw new OptionError(`rules[${i}].ttl: ${ttl} must be a whole number of seconds, 0 or more`);
    if (segmentSize !== undefined && (!Number.isSafeInteger(segmentSize) || segmentSize < 0)) throw new OptionError(`rules[${i}].segmentSize: must be a whole number of bytes, 0 (off) or more`);
    for (const key of ['grace', 'staleIfError'] as const) {
      const value = (rule as CacheRule)[key];
      if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) throw new OptionError(`rules[${i}].${key}: must be a whole number of seconds, 0 or more`);
    }
    if (compress !== undefined && compress !== 'gzip' && compress !== 'br') throw new OptionError(`rules[${i}].compress: must be "gzip" or "br"`);
    if ((path === undefined) === (regex === undefined)) throw new OptionError(`rules[${i}]: give exactly one of path (a glob) or regex`);
    if (regex !== undefined) {
      try {
        new RegExp(regex);
      } catch (err) {
        throw new OptionError(`rules[${i}].regex: ${(err as Error).message}`);
      }
    }
  });
  return rules as CacheRule[];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
