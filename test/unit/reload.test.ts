// src/proxy/reload.ts: which keys a reload applies and which wait for a restart (K1).
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/proxy/options.js';
import { planReload, RESTART_ONLY } from '../../src/proxy/reload.js';

const base = resolveOptions({ origin: 'http://127.0.0.1:3000', storeSize: '64m', rules: [{ path: '/a', ttl: 5 }] });

describe('planReload (K1)', () => {
  it('K1: the same options change nothing', () => {
    expect(planReload(base, resolveOptions({ origin: 'http://127.0.0.1:3000', storeSize: 64 * 1024 * 1024, rules: [{ path: '/a', ttl: 5 }] }))).toMatchObject({ applied: [], needsRestart: [] });
  });

  it('K1: rules, TTLs, limits, timeouts and the log level apply', () => {
    const plan = planReload(base, resolveOptions({ origin: 'http://127.0.0.1:3000', storeSize: '64m', rules: [{ path: '/b', ttl: 9 }], defaultTtl: 7, maxObjectSize: '1m', idleTimeout: 900, logLevel: 'debug' }));
    expect(plan.applied).toEqual(['defaultTtl', 'idleTimeout', 'logLevel', 'maxObjectSize', 'rules']);
    expect(plan.needsRestart).toEqual([]);
    expect(plan.next).toMatchObject({ defaultTtl: 7, maxObjectSize: 1024 * 1024, idleTimeout: 900, logLevel: 'debug', rules: [{ path: '/b', ttl: 9 }] });
  });

  it('K1: the logger and hooks createProxy was given are not configuration: never reported as changed', () => {
    const running = resolveOptions({ origin: 'http://127.0.0.1:3000', storeSize: '64m', rules: [{ path: '/a', ttl: 5 }], logger: {}, hooks: {} } as Parameters<typeof resolveOptions>[0]);
    expect(planReload(running, base)).toMatchObject({ applied: [], needsRestart: [] });
  });

  it('K1: origin, listen, admin and the store keep their running value and are reported', () => {
    const plan = planReload(base, resolveOptions({ origin: 'http://127.0.0.1:4000', listen: '127.0.0.1:9999', admin: '127.0.0.1:9090', storeSize: '128m', defaultTtl: 3 }));
    expect(plan.needsRestart).toEqual(['admin', 'listen', 'origin', 'storeSize']);
    expect(plan.applied).toEqual(['defaultTtl', 'rules']);
    expect(plan.next.originUrl.href).toBe('http://127.0.0.1:3000/');
    expect([plan.next.listenHost, plan.next.listenPort, plan.next.storeSize, plan.next.admin]).toEqual([base.listenHost, base.listenPort, base.storeSize, undefined]);
    for (const key of plan.needsRestart) expect(RESTART_ONLY).toContain(key);
  });
});
