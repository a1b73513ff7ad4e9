// Starts streamcache on a free loopback port in front of an origin, quiet, for a test.
import { createProxy, type CreateProxyOptions, type Proxy } from '../../src/index.js';

export interface RunningProxy {
  proxy: Proxy;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startProxy(origin: string, options: Partial<CreateProxyOptions> = {}): Promise<RunningProxy> {
  const proxy = createProxy({ logLevel: 'silent', ...options, origin });
  const address = await proxy.listen(0, '127.0.0.1');
  return {
    proxy,
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    close: () => proxy.close(2_000),
  };
}
