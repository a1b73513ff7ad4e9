// src/proxy/purge-access.ts and the purge request checks (SPEC I1, I5): who may purge, how a
// library purge names its objects, and what a bus message must hold to be applied.
import { describe, expect, it } from 'vitest';
import { PurgeAccess, parseCidrList } from '../../src/proxy/purge-access.js';
import { OptionError, parsePurgeBus, resolveOptions } from '../../src/proxy/options.js';
import { PurgeError, toPurge } from '../../src/proxy/purge.js';
import { readMessage } from '../../src/proxy/purge-bus.js';

describe('I1: who may purge', () => {
  it('I1: loopback by default, IPv4, IPv6 and IPv4-mapped IPv6 alike', () => {
    const access = new PurgeAccess(undefined, undefined);
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(access.allows(address, undefined), address).toBe(true);
    for (const address of ['10.0.0.1', '::2', '::ffff:10.0.0.1', '', 'garbage']) expect(access.allows(address, undefined), address).toBe(false);
  });

  it('I1: --purge-allow replaces the default', () => {
    const access = new PurgeAccess(parseCidrList('10.1.0.0/16, fd00::/8', 'purgeAllow'), undefined);
    expect(access.allows('10.1.200.3', undefined)).toBe(true);
    expect(access.allows('::ffff:10.1.0.9', undefined)).toBe(true);
    expect(access.allows('fd12::1', undefined)).toBe(true);
    expect(access.allows('10.2.0.1', undefined)).toBe(false);
    expect(access.allows('127.0.0.1', undefined)).toBe(false);
  });

  it('I1: the token is allowed from anywhere; a wrong one, of any length, is not; no token configured means none is accepted', () => {
    const token = 'correct horse battery staple';
    const access = new PurgeAccess(['10.0.0.0/8'], token);
    expect(access.allows('203.0.113.7', token)).toBe(true);
    for (const wrong of ['', 'c', token.slice(0, -1), `${token} `, token.toUpperCase(), 'x'.repeat(10_000)]) expect(access.allows('203.0.113.7', wrong)).toBe(false);
    expect(new PurgeAccess(undefined, undefined).allows('203.0.113.7', '')).toBe(false);
  });

  it('I1: bad CIDRs and short tokens are refused at configuration time, naming the option', () => {
    for (const bad of ['', '10.0.0.0/8,', '10.0.0.0/33', '300.0.0.0/8', '::1/129', '10.0.0.0/8/1', 'localhost']) {
      expect(() => parseCidrList(bad, 'purgeAllow'), bad).toThrow(OptionError);
    }
    expect(() => resolveOptions({ origin: 'http://127.0.0.1:1', purgeToken: 'short' })).toThrow(/purgeToken: must be a string of 16 characters at least/);
    expect(resolveOptions({ origin: 'http://127.0.0.1:1', purgeAllow: ['10.0.0.0/8'] }).purgeAllow).toEqual(['10.0.0.0/8']);
  });
});

describe('I5: --purge-bus', () => {
  it('I5: redis://HOST:PORT[/CHANNEL], with a default channel; anything else is refused', () => {
    expect(parsePurgeBus('redis://127.0.0.1:6379')).toMatchObject({ host: '127.0.0.1', port: 6379, channel: 'streamcache:purge' });
    expect(parsePurgeBus('redis://[::1]:7000/fleet%3Aeu')).toMatchObject({ host: '::1', port: 7000, channel: 'fleet:eu' });
    for (const bad of ['http://127.0.0.1:6379', 'redis://127.0.0.1', 'redis://u:p@127.0.0.1:1', 'rediss://h:1', 'redis://h:1/c?x', 'nonsense']) {
      expect(() => parsePurgeBus(bad), bad).toThrow(OptionError);
    }
  });

  it('I5: a bus message is applied only when it is a purge we can read', () => {
    const base = { v: 1, node: 'n1', seq: 1, at: 1 };
    expect(readMessage(JSON.stringify({ ...base, purge: { kind: 'url', cacheKey: 'h/x', soft: false, hard: false } }))).toMatchObject({ purge: { kind: 'url', cacheKey: 'h/x' } });
    expect(readMessage(JSON.stringify({ ...base, purge: { kind: 'keys', keys: ['a', 'b'], soft: true, hard: false } }))).toMatchObject({ purge: { kind: 'keys', keys: ['a', 'b'], soft: true } });
    expect(readMessage(JSON.stringify({ ...base, purge: { kind: 'all', soft: false, hard: true, extra: 1 } }))).toEqual({ ...base, purge: { kind: 'all', soft: false, hard: true } });
    for (const bad of ['', 'null', '[]', JSON.stringify({ ...base, v: 2 }), JSON.stringify({ ...base, purge: { kind: 'url', cacheKey: '', soft: false, hard: false } }), JSON.stringify({ ...base, purge: { kind: 'keys', keys: [], soft: false, hard: false } }), JSON.stringify({ ...base, purge: { kind: 'all' } }), 'x'.repeat(600_000)]) {
      expect(typeof readMessage(bad), bad.slice(0, 40)).toBe('string');
    }
  });
});

describe('I1: library purge requests', () => {
  it('I1: { url }, { key }, { all } become the index operation; anything else throws PurgeError', () => {
    expect(toPurge({ url: 'https://Example.COM/a?b' })).toEqual({ kind: 'url', cacheKey: 'example.com/a?b', soft: false, hard: false });
    expect(toPurge({ url: '/a', host: 'Example.com:8080', soft: true })).toEqual({ kind: 'url', cacheKey: 'example.com:8080/a', soft: true, hard: false });
    expect(toPurge({ key: ['x', 'y', 'x'], hard: true })).toEqual({ kind: 'keys', keys: ['x', 'y'], soft: false, hard: true });
    expect(toPurge({ all: true })).toEqual({ kind: 'all', soft: false, hard: false });
    for (const bad of [{ url: '/a' }, { url: '/a', host: 'bad host' }, { url: 'a/b' }, { key: '' }, { all: false }, {}, null] as unknown[]) {
      expect(() => toPurge(bad as never), JSON.stringify(bad)).toThrow(PurgeError);
    }
  });
});
