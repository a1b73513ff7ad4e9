// A loopback port whose connects never complete: a listening socket with a backlog of 0 that never
// accepts, its one queue slot taken by a connection we hold. Later SYNs are dropped by the kernel,
// so a client's connect hangs until its own timeout: the "origin (or shield) that does not answer"
// without sending a packet anywhere but loopback. Node's net.Server always accepts, so the socket
// belongs to a small python3 child (python3 is on every machine of this kind).
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { LOOPBACK, withTimeout } from './ports.js';

export interface SilentListener {
  readonly port: number;
  close(): void;
}

const SCRIPT = [
  'import socket, sys',
  's = socket.socket()',
  `s.bind(('${LOOPBACK}', 0))`,
  's.listen(0)',
  'print(s.getsockname()[1], flush=True)',
  'sys.stdin.read()', // until the test closes our stdin (or dies)
].join('\n');

export async function startSilentListener(): Promise<SilentListener> {
  const child: ChildProcess = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.stdout!.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
    }),
    10_000,
    'the silent listener (python3) to print its port',
  );
  // The one connection the kernel completes for a backlog of 0: held, so every later one waits.
  const filler = net.connect(port, LOOPBACK);
  await withTimeout(new Promise<void>((resolve, reject) => filler.once('connect', resolve).once('error', reject)), 5_000, 'the silent listener queue filler to connect');
  return {
    port,
    close() {
      filler.destroy();
      child.stdin!.end();
      child.kill();
    },
  };
}
