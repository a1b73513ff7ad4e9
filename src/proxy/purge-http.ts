// The purge doors of HTTP (I1, I2, I3): the PURGE method on the proxy's listener and POST /purge,
// /purge/key/<key>, /purge/all on the admin listener. Both check who asks (src/proxy/purge-access.ts),
// refuse bad input with a status and a reason, and answer `200 {"purged": N}`; a PURGE never
// reaches the origin.
import type { ClientExchange } from '../net/client-exchange.js';
import { cacheKey } from '../cache/index.js';
import { purgeKeys } from '../cache/surrogate-index.js';
import { sendGenerated } from './admin.js';
import type { PurgeAccess } from './purge-access.js';
import { PurgeError, purgeCacheKey, type Purge, type PurgeDoor, type Purger } from './purge.js';

export interface PurgeHttp {
  purger: Purger;
  access: PurgeAccess;
  logger: { warn(obj: object, msg: string): void };
}

/** I3: Fastly's field for a soft purge; ours for a hard one (I4: attached clients are cut too). */
const SOFT_FIELD = 'fastly-soft-purge';
const HARD_FIELD = 'streamcache-hard-purge';

/** The PURGE method (on the proxy's listener). */
export function answerPurgeMethod(http: PurgeHttp, exchange: ClientExchange): void {
  const { request } = exchange;
  const refused = refusal(http, exchange);
  if (refused) return refuse(http, exchange, 'method', ...refused);
  // Origin-form only: an absolute URL would let a client purge another site's key by its target.
  if (!request.target.startsWith('/')) return refuse(http, exchange, 'method', 400, 'PURGE needs an origin-form target (/path?query)');
  const modes = { soft: flag(exchange, SOFT_FIELD), hard: flag(exchange, HARD_FIELD) };
  const surrogate = request.headers.getAll('surrogate-key');
  let purge: Purge;
  if (surrogate.length > 0) {
    // I2: the target is then ignored.
    const keys = purgeKeys(surrogate.join(' '));
    if (typeof keys === 'string') return refuse(http, exchange, 'method', 400, keys);
    purge = { kind: 'keys', keys, ...modes };
  } else {
    purge = { kind: 'url', cacheKey: cacheKey(request, request.target), ...modes };
  }
  answer(http, exchange, purge, 'method');
}

/** The admin listener's purge endpoints; false when the request is not for one of them. */
export function answerAdminPurge(http: PurgeHttp, exchange: ClientExchange): boolean {
  const { request } = exchange;
  const [path, query = ''] = request.target.split('?', 2);
  if (path !== '/purge' && path !== '/purge/all' && !path.startsWith('/purge/key/')) return false;
  if (request.method !== 'POST') {
    refuse(http, exchange, 'admin', 405, 'purge endpoints take POST');
    return true;
  }
  const refused = refusal(http, exchange);
  if (refused) {
    refuse(http, exchange, 'admin', ...refused);
    return true;
  }
  const params = new URLSearchParams(query);
  const modes = { soft: flag(exchange, SOFT_FIELD) || params.get('soft') === '1', hard: flag(exchange, HARD_FIELD) || params.get('hard') === '1' };
  let purge: Purge;
  try {
    if (path === '/purge/all') purge = { kind: 'all', ...modes };
    else if (path === '/purge') purge = { kind: 'url', cacheKey: purgeCacheKey(params.get('url') ?? missing('url'), params.get('host') ?? undefined), ...modes };
    else {
      const keys = purgeKeys(decodeURIComponent(path.slice('/purge/key/'.length)));
      if (typeof keys === 'string') throw new PurgeError(keys);
      purge = { kind: 'keys', keys, ...modes };
    }
  } catch (err) {
    if (!(err instanceof PurgeError || err instanceof URIError)) throw err;
    refuse(http, exchange, 'admin', 400, err.message);
    return true;
  }
  answer(http, exchange, purge, 'admin');
  return true;
}

function missing(name: string): never {
  throw new PurgeError(`missing query parameter "${name}"`);
}

/** The checks every purge request passes first: no body (400), an allowed client (403). */
function refusal(http: PurgeHttp, exchange: ClientExchange): [number, string] | null {
  if (exchange.hasBody) return [400, 'a purge request takes no body'];
  if (!http.access.allows(exchange.clientAddress, exchange.request.headers.get('x-purge-token'))) return [403, 'not allowed to purge'];
  return null;
}

function flag(exchange: ClientExchange, name: string): boolean {
  return exchange.request.headers.get(name)?.trim() === '1';
}

function answer(http: PurgeHttp, exchange: ClientExchange, purge: Purge, door: PurgeDoor): void {
  const purged = http.purger.apply(purge, { door, who: exchange.clientAddress });
  sendGenerated(exchange, 200, 'application/json', `${JSON.stringify({ purged })}\n`);
}

function refuse(http: PurgeHttp, exchange: ClientExchange, door: PurgeDoor, status: number, reason: string): void {
  if (status === 403) http.purger.counters.refused++;
  else http.purger.counters.invalid++;
  http.logger.warn({ status, reason, door, client: exchange.clientAddress, method: exchange.request.method, path: exchange.request.target }, 'purge refused');
  sendGenerated(exchange, status, 'application/json', `${JSON.stringify({ error: reason })}\n`, exchange.hasBody);
}
