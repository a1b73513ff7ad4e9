// I5: the fleet over a real redis-server. Three proxies subscribe to one channel; a purge
// accepted by one is applied by every one, its own node once; the bus going down leaves local
// purges working (queued for the others, counted, logged) and the nodes reconnect by themselves.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestKit } from '../support/requests.js';
import { startScriptedOrigin, type ScriptedOrigin } from '../support/scripted-origin.js';
import { startProxy, type RunningProxy } from '../support/proxy.js';
import { startRedis, type RunningRedis } from '../support/redis.js';
import { freePort, waitFor } from '../support/ports.js';

const HOST = 'fleet.test';
const { fetchOnce } = requestKit({ host: HOST });
const NODES = 3;

describe('I5: purges across a fleet over Redis', () => {
  let redis: RunningRedis;
  let origin: ScriptedOrigin;
  const nodes: RunningProxy[] = [];
  const adminPorts: number[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    let n = 0;
    origin = await startScriptedOrigin((req, res) => {
      const tags = new URL(req.target, 'http://x').searchParams.get('tags');
      return res.send({ headers: [['Cache-Control', 'max-age=300'], ...(tags ? [['Surrogate-Key', tags] as [string, string]] : [])], body: `fetch ${n++}` });
    });
    for (let i = 0; i < NODES; i++) {
      adminPorts.push(await freePort());
      nodes.push(await startProxy(origin.url, { purgeBus: redis.url('fleet-test'), admin: `127.0.0.1:${adminPorts[i]}` }));
    }
    await waitFor(() => nodes.every((node) => node.proxy.busConnected()), 5_000, 'every node on the bus');
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await origin?.close();
    await redis?.stop();
  });

  /** Every node fetches `path` (each a miss of its own), then has it as a hit. */
  async function everyNodeHas(path: string): Promise<void> {
    for (const node of nodes) await fetchOnce(node.port, path);
    for (const node of nodes) expect((await fetchOnce(node.port, path)).header('x-cache'), `node ${node.port} ${path}`).toBe('HIT');
  }

  const cached = (node: RunningProxy) => node.proxy.stats().store.objects;
  const busStats = (node: RunningProxy) => node.proxy.stats().purge.bus!;

  it('I5: a PURGE on one node is applied by every node within 1 s; the node that took it applies it once', async () => {
    await everyNodeHas('/page');
    await everyNodeHas('/kept');
    const before = nodes.map((node) => busStats(node).busApplied);
    const started = Date.now();
    const res = await fetchOnce(nodes[0].port, '/page', { method: 'PURGE' });
    expect(JSON.parse(res.body.toString())).toEqual({ purged: 1 });
    await waitFor(() => nodes.slice(1).every((node, i) => busStats(node).busApplied === before[i + 1] + 1), 1_000, 'the purge at every other node');
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const node of nodes) {
      expect((await fetchOnce(node.port, '/page')).header('x-cache')).toBe('MISS');
      expect((await fetchOnce(node.port, '/kept')).header('x-cache')).toBe('HIT');
    }
    // Its own message came back and was not applied a second time.
    await waitFor(() => busStats(nodes[0]).busOwnIgnored >= 1, 1_000, 'node 0 sees its own message');
    expect(nodes[0].proxy.stats().purge.applied).toMatchObject({ method: 1, bus: 0 });
    expect(busStats(nodes[0]).busApplied).toBe(before[0]);
    expect(nodes[1].proxy.stats().purge.applied).toMatchObject({ method: 0, bus: 1 });
  });

  it('I5: purges by surrogate key from the admin listener and from the library reach every node too; /metrics names the bus counters', async () => {
    await everyNodeHas('/a?tags=red');
    await everyNodeHas('/b?tags=red%20blue');
    await everyNodeHas('/c?tags=green');
    const objects = nodes.map(cached);
    const admin = await fetchOnce(adminPorts[1], '/purge/key/red', { method: 'POST' });
    expect(JSON.parse(admin.body.toString())).toEqual({ purged: 2 });
    await waitFor(() => nodes.every((node, i) => cached(node) === objects[i] - 2), 1_000, 'the key purge at every node');
    nodes[2].proxy.purge({ key: 'green', soft: true });
    await waitFor(() => nodes.every((node) => node.proxy.stats().purge.applied.bus + node.proxy.stats().purge.applied.library >= 2), 1_000, 'the soft purge at every node');
    // Soft: still stored, but no longer served fresh.
    for (const node of nodes) expect((await fetchOnce(node.port, '/c?tags=green')).header('x-cache')).toBe('MISS');
    const metrics = (await fetchOnce(adminPorts[0], '/metrics')).body.toString();
    expect(metrics).toMatch(/^streamcache_bus_connected 1$/m);
    expect(metrics).toMatch(/^streamcache_bus_published_total [1-9]/m);
  });

  it('I5: a message on the channel that is not a purge is counted and ignored', async () => {
    await everyNodeHas('/safe');
    const publisher = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    await publisher.connect();
    const invalid = busStats(nodes[0]).busInvalid;
    for (const text of ['not json', '{"v":1}', JSON.stringify({ v: 1, node: 'x', seq: 1, at: 0, purge: { kind: 'keys', keys: [], soft: false, hard: false } })]) {
      await publisher.publish('fleet-test', text);
    }
    await waitFor(() => busStats(nodes[0]).busInvalid === invalid + 3, 1_000, 'three invalid messages');
    publisher.disconnect();
    for (const node of nodes) expect((await fetchOnce(node.port, '/safe')).header('x-cache')).toBe('HIT');
  });

  it('I5: with Redis down, purges apply locally, are counted and queued; every node reconnects by itself and the queued purges arrive', async () => {
    await everyNodeHas('/during-outage');
    await everyNodeHas('/after-outage');
    const lostBefore = busStats(nodes[0]).busDisconnects;
    const appliedBefore = nodes.map((node) => busStats(node).busApplied);
    await redis.stop();
    await waitFor(() => nodes.every((node) => !node.proxy.busConnected()), 5_000, 'every node notices the bus is down');

    // Local purges still work, at once.
    const res = await fetchOnce(nodes[0].port, '/during-outage', { method: 'PURGE' });
    expect(JSON.parse(res.body.toString())).toEqual({ purged: 1 });
    expect((await fetchOnce(nodes[0].port, '/during-outage')).header('x-cache')).toBe('MISS');
    expect(busStats(nodes[0])).toMatchObject({ busConnected: 0, busQueued: 1 });
    expect(busStats(nodes[0]).busDisconnects).toBeGreaterThan(lostBefore);
    // The other nodes have not heard of it yet.
    expect((await fetchOnce(nodes[1].port, '/during-outage')).header('x-cache')).toBe('HIT');

    const restarted = Date.now();
    await redis.start();
    await waitFor(() => nodes.every((node) => node.proxy.busConnected()), 5_000, 'every node back on the bus');
    const reconnectMs = Date.now() - restarted;
    expect(reconnectMs).toBeLessThan(5_000);
    // The queued purge went out once the bus was back, and reached the others.
    await waitFor(() => busStats(nodes[0]).busQueued === 0 && nodes.slice(1).every((node, i) => busStats(node).busApplied === appliedBefore[i + 1] + 1), 5_000, 'the queued purge at every node');
    for (const node of nodes.slice(1)) expect((await fetchOnce(node.port, '/during-outage')).header('x-cache')).toBe('MISS');
    expect(busStats(nodes[0]).busReconnects).toBeGreaterThan(0);

    // And the bus works as before.
    await fetchOnce(nodes[2].port, '/after-outage', { method: 'PURGE' });
    await waitFor(() => nodes.slice(0, 2).every((node, i) => busStats(node).busApplied === appliedBefore[i] + (i === 0 ? 1 : 2)), 1_000, 'a purge after the outage at every node');
    for (const node of nodes) expect((await fetchOnce(node.port, '/after-outage')).header('x-cache')).toBe('MISS');
    console.log(`I5: bus down ${JSON.stringify(busStats(nodes[0]))}; every node reconnected ${reconnectMs} ms after Redis restarted`);
  }, 20_000);
});

describe('I5: a bus that is down when the node starts', () => {
  it('I5: the node starts and serves, purges apply locally and are queued, and it joins the bus once Redis comes up', async () => {
    const origin = await startScriptedOrigin((req, res) => res.send({ headers: [['Cache-Control', 'max-age=300']], body: 'x' }));
    const redisPort = await freePort();
    const node = await startProxy(origin.url, { purgeBus: `redis://127.0.0.1:${redisPort}/late` });
    try {
      await fetchOnce(node.port, '/early');
      expect((await fetchOnce(node.port, '/early', { method: 'PURGE' })).status).toBe(200);
      expect(node.proxy.busConnected()).toBe(false);
      expect(node.proxy.stats().purge.bus).toMatchObject({ busConnected: 0, busQueued: 1 });
      expect((await fetchOnce(node.port, '/early')).header('x-cache')).toBe('MISS');
      const redis = await startRedis(redisPort);
      try {
        await waitFor(() => node.proxy.busConnected(), 5_000, 'the node on the bus once Redis is up');
        await waitFor(() => node.proxy.stats().purge.bus!.busPublished >= 1, 2_000, 'the queued purge published');
        expect(node.proxy.stats().purge.bus).toMatchObject({ busQueued: 0, busQueuedTotal: 1 });
      } finally {
        await redis.stop();
      }
    } finally {
      await node.close();
      await origin.close();
    }
  });
});
