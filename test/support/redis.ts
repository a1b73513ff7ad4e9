// A real redis-server for a test (I5): on a free loopback port, no persistence, stopped with the
// test. `stop()` kills it (SIGKILL: an outage, not a shutdown); `start()` brings it back on the
// same port, so that clients reconnect to the address they were given.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { delay, freePort, LOOPBACK } from './ports.js';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RunningRedis {
  readonly port: number;
  /** `redis://127.0.0.1:PORT/CHANNEL`. */
  url(channel?: string): string;
  start(): Promise<void>;
  /** Kills the process and waits until it is gone. */
  stop(): Promise<void>;
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, LOOPBACK);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts redis-server on `port` (a free one by default). */
export async function startRedis(port?: number): Promise<RunningRedis> {
  port ??= await freePort();
  let child: ChildProcess | null = null;
  const redis: RunningRedis = {
    port: port as number,
    url: (channel) => `redis://${LOOPBACK}:${port}${channel ? `/${channel}` : ''}`,
    async start() {
      const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
      child = proc;
      let failed: Error | null = null;
      proc.once('error', (err) => (failed = err));
      const deadline = Date.now() + 5_000;
      while (!(await accepting(port))) {
        if (failed) throw new Error(`cannot start ${REDIS_SERVER}: ${(failed as Error).message} (install Debian's redis-server)`);
        if (proc.exitCode !== null) throw new Error(`${REDIS_SERVER} exited with ${proc.exitCode} on port ${port}`);
        if (Date.now() > deadline) throw new Error(`${REDIS_SERVER} not accepting on port ${port} after 5 s`);
        await delay(20);
      }
    },
    async stop() {
      const proc = child;
      child = null;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      });
    },
  };
  await redis.start();
  return redis;
}
