// createProxy(): the library's front door. Wires the listener, the origin pool and the pipeline.
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Logger } from 'pino';
import { Listener, type ListenerConfig } from '../net/listener.js';
import { OriginPool } from '../net/origin-pool.js';
import type { ProxyContext } from './context.js';
import { createLogger, effectiveLogLevel } from './logger.js';
import { parseHostPort, resolveOptions, type ProxyOptions, type ResolvedOptions } from './options.js';
import { planReload, type RestartOnlyKey } from './reload.js';
import { protocolErrorFields } from './cache-status.js';
import { ProxyCounters, statsSnapshot, type InvalidationSnapshot, type StatsSnapshot, type StatsSources } from './stats.js';
import { AdminListener } from './admin.js';
import { handleExchange } from './pipeline.js';
import { hitReaderHooks } from './cache-flow.js';
import { assemblePage } from './esi/assemble.js';
import { compileRules, type ProxyHooks } from './hooks.js';
import { RingStore } from '../cache/store.js';
import { CacheIndex } from '../cache/index.js';
import { FetchRegistry } from '../stream/registry.js';
import { warmUp } from './warm-up.js';
import { SegmentFiles } from '../cache/segment-files.js';
import { randomUUID } from 'node:crypto';
import { Purger, toPurge, type PurgeRequest } from './purge.js';
import { PurgeAccess } from './purge-access.js';
import { answerAdminPurge } from './purge-http.js';
import { PurgeBus } from './purge-bus.js';
import { Shield } from './shield.js';

export interface Proxy {
  /** Starts listening; arguments override `options.listen`. Rejects with the socket error (EADDRINUSE, ...). */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** Graceful: stops accepting, lets responses in flight finish, cuts what is left after the deadline. */
  close(deadlineMs?: number): Promise<void>;
  address(): AddressInfo | null;
  /** The admin listener's address, when `admin` is set and listening. */
  adminAddress(): AddressInfo | null;
  /** The counters the admin listener serves. */
  stats(): StatsSnapshot;
  /** Settles once the store's memory is committed (`storePrefault`), at once otherwise. */
  storeCommitted(): Promise<void>;
  /**
   * K1: takes a new configuration for new requests, keeping every connection, fetch and object.
   * Validates first: a bad value throws OptionError and changes nothing. Restart-only options
   * (src/proxy/reload.ts) keep their running value and are listed in the result.
   */
  reload(options: ReloadOptions): ReloadResult;
  /**
   * H1: a new certificate and key (PEM) for TLS connections from now on; connections already open
   * keep theirs. Throws (and the running pair stays) when the PEM does not load or TLS is off.
   */
  reloadTls(material: { cert: string | Buffer; key: string | Buffer }): void;
  /**
   * I1-I4: purges by URL, surrogate key or everything, as PURGE and the admin listener do, and
   * publishes it on the purge bus (I5). Throws PurgeError on a bad request.
   */
  purge(request: PurgeRequest): { purged: number };
  /** I5: true while the purge bus (publish and subscribe) is connected; false without one. */
  busConnected(): boolean;
  /** The options in force (a reload updates them in place). */
  readonly options: ResolvedOptions;
}

/** What a reload takes: the options, as createProxy takes them; `hooks`, when given, replace the running ones. */
export interface ReloadOptions extends ProxyOptions {
  hooks?: ProxyHooks;
}

export interface ReloadResult {
  /** Option keys whose new value applies to new requests. */
  applied: string[];
  /** Option keys that changed but keep their running value until the process restarts. */
  needsRestart: RestartOnlyKey[];
}

export interface CreateProxyOptions extends ProxyOptions {
  /** A pino logger to use instead of the proxy's own. */
  logger?: Logger;
  /** Code that changes how requests are cached: recv, fetch, deliver (src/proxy/hooks.ts). */
  hooks?: ProxyHooks;
}

/** Keep-alive connections to the origin are dropped a little before a typical origin (5 s) drops them. */
const ORIGIN_IDLE_TIMEOUT = 4_000;

/** Shared by every upstream pool, and updated in place by a reload. */
type PoolConfig = ConstructorParameters<typeof OriginPool>[1];

/** The connection pool to one upstream server (the origin, or a shield node), with the configured limits. */
function upstreamPool(url: URL, options: ResolvedOptions, poolConfig: PoolConfig): OriginPool {
  const isTls = url.protocol === 'https:';
  return new OriginPool(
    {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port) || (isTls ? 443 : 80),
      tls: isTls,
      servername: /^[\d.]+$|:/.test(url.hostname) ? undefined : url.hostname,
      ca: options.originCa,
      insecure: options.originInsecure,
    },
    poolConfig,
  );
}

/** A warm-up's private proxy: our code with defaults, its own small store, silent, no hooks, no admin. */
const WARM_UP_STORE = 4 * 1024 * 1024;

/**
 * Runs the warm-up (src/proxy/warm-up.ts) and commits the first pages of the real store's first
 * slab, so the first client finds the code compiled and the first append takes no page faults;
 * says what it did in one log line.
 */
async function warmUpBeforeListen(input: CreateProxyOptions, store: RingStore, logger: Logger): Promise<void> {
  // Compiled code is the process's, not the proxy's: the code runs once per process.
  const first = processWarmUp === null;
  processWarmUp ??= warmUp((origin) =>
    createProxy({ origin, logLevel: 'silent', storeSize: WARM_UP_STORE, storeSlabSize: WARM_UP_STORE, warmUp: false, maxHeadSize: input.maxHeadSize, viaName: input.viaName }),
  );
  const report = await processWarmUp;
  const slabStarted = performance.now();
  // Every slab allocated now (not committed): none sets off a full collection while serving.
  const slabs = store.allocateSlabs();
  const committedBytes = store.warmFirstSlab();
  const slabMs = performance.now() - slabStarted;
  // The warm-up's garbage and the first slab (64 MiB of external memory) would set off a full
  // collection during the first real requests (27-55 ms measured): it runs now instead.
  const gcMs = collectGarbageNow();
  const fields = { ...report, ms: round(report.ms), slabs, slabBytes: committedBytes, slabMs: round(slabMs), gcMs: round(gcMs) };
  if (report.error) logger.warn(fields, 'warm-up failed: the first requests pay for it');
  else logger.info(fields, first ? 'warm-up done' : 'warm-up done (code warmed by an earlier proxy in this process)');
}

/** A full garbage collection now (V8's gc(), reached without --expose-gc); its duration, NaN if unavailable. */
function collectGarbageNow(): number {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const started = performance.now();
    gc();
    return performance.now() - started;
  } catch {
    return NaN;
  }
}

let processWarmUp: Promise<Awaited<ReturnType<typeof warmUp>>> | null = null;

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export function createProxy(input: CreateProxyOptions): Proxy {
  const options = resolveOptions(input);
  const logger = input.logger ?? createLogger(options.logLevel);
  const { originUrl } = options;
  const poolConfig = {
    maxConnections: options.maxOriginConnections,
    queueTimeout: options.originQueueTimeout,
    idleTimeout: ORIGIN_IDLE_TIMEOUT,
    connectTimeout: options.connectTimeout,
    firstByteTimeout: options.firstByteTimeout,
    betweenBytesTimeout: options.betweenBytesTimeout,
  };
  const pool = upstreamPool(originUrl, options, poolConfig);
  const store = new RingStore(options.storeSize, options.storeSlabSize, { prefault: options.storePrefault });
  if (options.storePrefault) {
    void store.committed().then((state) => {
      if (state === 'failed') logger.warn({ storeSize: options.storeSize }, 'store prefault failed: pages are committed as they are first written');
      else logger.info({ storeSize: options.storeSize }, 'store memory committed');
    });
  }
  const index = new CacheIndex(store);
  const registry = new FetchRegistry();
  // I1-I5: one purger for every door; the bus publishes what it accepts and feeds it what others accept.
  const segments = new SegmentFiles();
  const purger = new Purger({ index, registry, logger, segments });
  const bus = options.purgeBus ? new PurgeBus(options.purgeBus, randomUUID(), logger, (purge, node) => purger.apply(purge, { door: 'bus', who: node })) : null;
  purger.publisher = bus;
  const shield = options.shieldUrl ? new Shield(upstreamPool(options.shieldUrl, options, poolConfig), options.shieldUrl, logger) : null;
  const ctx: ProxyContext = {
    options,
    logger,
    pool,
    store,
    index,
    registry,
    hooks: input.hooks ?? {},
    rules: compileRules(options.rules),
    stats: new ProxyCounters(),
    segments,
    // Built once: what re-enters the pipeline (a released reader, an ESI include) gets it from here.
    dispatch: (exchange) => handleExchange(ctx, exchange),
    esi: (template, reader) => assemblePage(ctx, template, reader.exchange),
    hitReaderHooks: hitReaderHooks(() => ctx),
    purge: { purger, access: new PurgeAccess(options.purgeAllow, options.purgeToken), logger },
    shield,
  };
  // K2: what the socket layer answers itself (before a request exists) says so too. A view of
  // options (its prototype), not a copy, so that a reload's new limits and timeouts reach the listener.
  const tls = options.tlsCert !== undefined && options.tlsKey !== undefined ? { cert: options.tlsCert, key: options.tlsKey } : undefined;
  const h2 = {
    maxConcurrentStreams: options.h2MaxConcurrentStreams,
    maxHeaderListSize: options.h2MaxHeaderListSize,
    resetLimit: options.h2ResetLimit,
    pingLimit: options.h2PingLimit,
    settingsLimit: options.h2SettingsLimit,
  };
  const listenerConfig: ListenerConfig = Object.create(options, {
    tls: { value: tls },
    h2: { value: h2 },
    errorFields: { value: (status: number) => protocolErrorFields(status, options.viaName) },
  }) as ListenerConfig;
  const listener = new Listener(listenerConfig, {
    onExchange: (exchange) => {
      ctx.stats.requests++;
      ctx.dispatch(exchange);
    },
    onProtocolError: (status, reason, client) => {
      ctx.stats.protocolErrors++;
      logger.warn({ status, reason, client }, 'bad request');
    },
    onConnectionRefused: (reason, client) => {
      ctx.stats.protocolErrors++;
      logger.warn({ reason, client }, 'connection refused');
    },
    onHttp2Abuse: (kind, reason, client) => {
      ctx.stats.protocolErrors++;
      logger.warn({ kind, reason, client }, 'http2 limit');
    },
  });
  const invalidation = (): InvalidationSnapshot => ({ ...purger.counters, applied: { ...purger.counters.applied }, bus: bus?.stats() ?? null, shieldFallbacks: shield?.fallbacks ?? null });
  const sources = (): StatsSources => ({ counters: ctx.stats, pool, listener, store, index: ctx.index, registry: ctx.registry, invalidation });
  const admin = options.admin ? new AdminListener(options, sources, (exchange) => answerAdminPurge(ctx.purge, exchange)) : null;

  return {
    options,
    async listen(port = options.listenPort, host = options.listenHost) {
      if (options.warmUp) {
        await warmUpBeforeListen(input, store, logger);
        // The first miss's origin handshake, done now (src/net/origin-pool.ts: nothing if the origin is down).
        pool.preconnect();
        shield?.pool.preconnect();
      }
      const address = await listener.listen(port, host);
      bus?.start();
      if (admin && options.admin) {
        const { host: adminHost, port: adminPort } = parseHostPort(options.admin, 'admin');
        const adminAddress = await admin.listen(adminPort, adminHost).catch(async (err: unknown) => {
          await listener.close(0);
          throw err;
        });
        logger.info({ admin: `${adminAddress.address}:${adminAddress.port}` }, 'admin listening (/stats, /metrics)');
      }
      logger.info({ listen: `${address.address}:${address.port}`, origin: originUrl.origin, tls: tls !== undefined, h2c: options.h2c }, 'streamcache listening');
      return address;
    },
    async close(deadlineMs = options.closeDeadline) {
      bus?.close();
      pool.close();
      shield?.pool.close();
      const cut = setTimeout(() => pool.destroy(), deadlineMs);
      await Promise.all([listener.close(deadlineMs), admin?.close(deadlineMs), store.close()]);
      clearTimeout(cut);
      pool.destroy();
      shield?.pool.destroy();
    },
    address: () => listener.address(),
    adminAddress: () => admin?.address() ?? null,
    stats: () => statsSnapshot(sources()),
    storeCommitted: async () => {
      await store.committed();
    },
    reload(input) {
      const plan = planReload(options, resolveOptions(input));
      // In place: the listener, its connections and the pipeline read these at each use, and a fetch
      // copies what it needs when it starts (K1: a stream in flight keeps the config it started with).
      Object.assign(options, plan.next);
      Object.assign(poolConfig, {
        maxConnections: options.maxOriginConnections,
        queueTimeout: options.originQueueTimeout,
        connectTimeout: options.connectTimeout,
        firstByteTimeout: options.firstByteTimeout,
        betweenBytesTimeout: options.betweenBytesTimeout,
      });
      ctx.rules = compileRules(options.rules);
      if (input.hooks) ctx.hooks = input.hooks;
      logger.level = effectiveLogLevel(options.logLevel);
      logger.info({ applied: plan.applied }, 'configuration reloaded');
      if (plan.needsRestart.length > 0) logger.warn({ needsRestart: plan.needsRestart }, 'configuration reloaded: these options apply only after a restart');
      return { applied: plan.applied, needsRestart: plan.needsRestart };
    },
    reloadTls: (material) => {
      listener.reloadTls(material);
      logger.info('TLS certificate reloaded');
    },
    purge: (request) => ({ purged: purger.apply(toPurge(request), { door: 'library', who: 'library' }) }),
    busConnected: () => bus?.connected ?? false,
  };
}
