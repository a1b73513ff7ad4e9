// The floor under any Node.js fan-out on this machine: how long one `socket.write` of a small SSE
// event takes per socket, looped over N open loopback connections whose readers are other processes.
// No HTTP, no proxy: a fan-out server cannot deliver one event to N clients faster than this loop.
//   npm run build && node dist/bench/write-floor.js
// Env: BENCH_FLOOR_SOCKETS (1000,5000,10000), BENCH_FLOOR_ROUNDS (5), BENCH_FANOUT_WORKERS (reader processes, 4).
import { fork } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { envNumber, envNumbers, fixed, int, printMachine, printTable } from './common.js';

const SOCKETS = envNumbers('BENCH_FLOOR_SOCKETS', [1000, 5000, 10000]);
const ROUNDS = Math.max(1, envNumber('BENCH_FLOOR_ROUNDS', 5));
const WORKERS = Math.max(1, envNumber('BENCH_FANOUT_WORKERS', 4));
/** One framed SSE event, the size the fan-out benchmark sends. */
const EVENT = Buffer.from('2c\r\nid: 1\ndata: t=12345678901234567890123456\n\n\r\n', 'latin1');

/** A reader process: opens `count` connections, reads and discards, says 'ready' when all are open. */
function runReaders(port: number, count: number): void {
  let open = 0;
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      if (++open === count) process.send?.('ready');
    });
    socket.on('data', () => {});
    socket.on('error', () => {});
  }
  process.on('disconnect', () => process.exit(0));
}

/** Writes EVENT to every socket ROUNDS times, a pause between rounds; returns each round's ms. */
async function measure(sockets: net.Socket[]): Promise<number[]> {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const t0 = performance.now();
    for (const socket of sockets) socket.write(EVENT);
    rounds.push(performance.now() - t0);
  }
  return rounds;
}

async function runOne(n: number): Promise<number[]> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.on('error', () => {});
    sockets.push(socket);
  });
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 65535 }, resolve));
  const { port } = server.address() as AddressInfo;
  const self = fileURLToPath(import.meta.url);
  const readers = Array.from({ length: WORKERS }, (_, w) =>
    fork(self, ['readers', String(port), String(Math.floor(n / WORKERS) + (w < n % WORKERS ? 1 : 0))]),
  );
  await Promise.all(readers.map((child) => new Promise((resolve) => child.once('message', resolve))));
  while (sockets.length < n) await new Promise((resolve) => setTimeout(resolve, 10));
  const rounds = await measure(sockets);
  for (const child of readers) child.kill();
  for (const socket of sockets) socket.destroy();
  server.close();
  return rounds;
}

async function main(): Promise<void> {
  if (process.argv[2] === 'readers') return runReaders(Number(process.argv[3]), Number(process.argv[4]));
  printMachine({ scenario: `one ${EVENT.length}-byte socket.write to each of N loopback sockets, ${ROUNDS} rounds; readers in ${WORKERS} processes` });
  const rows: string[][] = [];
  for (const n of SOCKETS) {
    const rounds = await runOne(n);
    const sorted = [...rounds].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    rows.push([int(n), fixed(median, 1), fixed((median * 1000) / n, 2), rounds.map((ms) => fixed(ms, 0)).join(' ')]);
  }
  printTable(['sockets', 'median ms per event', 'µs per socket', 'rounds (ms)'], rows);
}

await main();
