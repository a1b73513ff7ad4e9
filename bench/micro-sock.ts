// Micro benchmarks of the client socket I/O (src/net): writes to a loopback socket through the
// socket's Writable vs straight to its handle (src/net/raw-write.ts), alone and through an
// OutputBatch; and reads of small requests through 'data' events vs into the shared buffer
// (src/net/shared-reads.ts). The socket's peer is in this process and reads between samples.
//   npm run build && node dist/bench/micro-sock.js     (env BENCH_TIME = ms per task, default 1000)
// Timings include the syscalls, which are the same on both paths: the difference between two rows
// of a pair is the JavaScript (and Node bookkeeping) saved. Instruction counts per hit: stages.js.
import net, { type Socket } from 'node:net';
import { OutputBatch } from '../src/net/output-batch.js';
import { socketOutput, type SocketOutput } from '../src/net/raw-write.js';
import { shareReads } from '../src/net/shared-reads.js';
import { runMicroSuite } from './micro-suite.js';

/** Writes per sample; between samples the event loop runs, so the peer reads what was sent. */
const WRITES_PER_SAMPLE = 16;
const BODY_1K = Buffer.alloc(1024, 'x');
const HEAD =
  'HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\nCache-Control: public, max-age=3600\r\n' +
  'ETag: "00000001"\r\nX-Cache: HIT\r\nCache-Status: streamcache; hit\r\n\r\n';
const REQUEST = Buffer.from('GET /hit HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: micro-sock\r\nAccept: */*\r\n\r\n', 'latin1');

interface Pair {
  server: net.Server;
  /** The accepted side: what a ClientConnection writes to and reads from. */
  accepted: Socket;
  /** The connecting side, our stand-in client. */
  peer: Socket;
}

async function pair(options: { pauseOnConnect?: boolean } = {}): Promise<Pair> {
  const server = net.createServer({ pauseOnConnect: options.pauseOnConnect ?? false, noDelay: true });
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const peer = net.connect(port, '127.0.0.1');
  peer.setNoDelay(true);
  await new Promise((resolve) => peer.once('connect', resolve));
  return { server, accepted: await accepted, peer };
}

/** Resolves once `socket`'s writes are all in the kernel and the event loop has turned (the peer read). */
function settled(queued: () => number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (queued() === 0) resolve();
      else setImmediate(check);
    };
    setImmediate(check);
  });
}

interface Task {
  name: string;
  fn: () => Promise<void>;
  /** Operations per sample. */
  ops: number;
}

async function writeTasks(): Promise<{ tasks: Task[]; close(): void; checks: Array<() => string | null> }> {
  const stream = await pair();
  const raw = await pair();
  let streamBytes = 0;
  let rawBytes = 0;
  stream.peer.on('data', (chunk: Buffer) => (streamBytes += chunk.length));
  raw.peer.on('data', (chunk: Buffer) => (rawBytes += chunk.length));
  const streamOut: SocketOutput = socketOutput(stream.accepted, () => {}, false);
  const rawOut: SocketOutput = socketOutput(raw.accepted, () => {}, true);
  if (!rawOut.raw) throw new Error('the raw path is not available on this Node: nothing to compare');
  const streamBatch = new OutputBatch(stream.accepted, () => {}, false);
  const rawBatch = new OutputBatch(raw.accepted, () => {}, true);
  let sentStream = 0;
  let sentRaw = 0;
  const loop = (write: () => void, queued: () => number) => async () => {
    for (let i = 0; i < WRITES_PER_SAMPLE; i++) write();
    await settled(queued);
  };
  const tasks: Task[] = [
    {
      name: '1 KiB buffer: socket.write',
      fn: loop(() => (streamOut.write(BODY_1K), (sentStream += 1024)), () => stream.accepted.writableLength),
      ops: WRITES_PER_SAMPLE,
    },
    {
      name: '1 KiB buffer: raw handle write',
      fn: loop(() => (rawOut.write(BODY_1K), (sentRaw += 1024)), () => rawOut.queuedBytes),
      ops: WRITES_PER_SAMPLE,
    },
    {
      name: 'head string (latin1): socket.write',
      fn: loop(() => (streamOut.write(HEAD), (sentStream += HEAD.length)), () => stream.accepted.writableLength),
      ops: WRITES_PER_SAMPLE,
    },
    {
      name: 'head string (latin1): raw handle write',
      fn: loop(() => (rawOut.write(HEAD), (sentRaw += HEAD.length)), () => rawOut.queuedBytes),
      ops: WRITES_PER_SAMPLE,
    },
    {
      name: 'hit batch (head + 1 KiB, joined): OutputBatch on socket.write',
      fn: loop(() => (streamBatch.add([HEAD, BODY_1K]), streamBatch.flush(), (sentStream += HEAD.length + 1024)), () => stream.accepted.writableLength),
      ops: WRITES_PER_SAMPLE,
    },
    {
      name: 'hit batch (head + 1 KiB, joined): OutputBatch raw',
      fn: loop(() => (rawBatch.add([HEAD, BODY_1K]), rawBatch.flush(), (sentRaw += HEAD.length + 1024)), () => rawBatch.bufferedBytes),
      ops: WRITES_PER_SAMPLE,
    },
  ];
  const checks = [
    () => (streamBytes === sentStream ? null : `socket.write: the peer got ${streamBytes} of ${sentStream} bytes`),
    () => (rawBytes === sentRaw ? null : `raw: the peer got ${rawBytes} of ${sentRaw} bytes`),
  ];
  return {
    tasks,
    checks,
    close() {
      for (const p of [stream, raw]) {
        p.peer.destroy();
        p.accepted.destroy();
        p.server.close();
      }
    },
  };
}

async function readTasks(): Promise<{ tasks: Task[]; close(): void; checks: Array<() => string | null> }> {
  const events = await pair();
  const shared = await pair({ pauseOnConnect: true });
  let eventBytes = 0;
  let sharedBytes = 0;
  events.accepted.on('data', (chunk: Buffer) => (eventBytes += chunk.length));
  const adopted = shareReads(shared.accepted, (bytes) => (sharedBytes += bytes.length));
  if (!adopted) throw new Error('the shared-buffer reader is not available on this Node: nothing to compare');
  let sentEvents = 0;
  let sentShared = 0;
  // One op: a request written by the peer and read by the accepted side, one read each.
  const round = (peer: Socket, sent: () => number, got: () => number, count: () => void) => async () => {
    for (let i = 0; i < WRITES_PER_SAMPLE; i++) {
      peer.write(REQUEST);
      count();
      await new Promise<void>((resolve) => {
        const check = (): void => (got() >= sent() ? resolve() : void setImmediate(check));
        setImmediate(check);
      });
    }
  };
  const tasks: Task[] = [
    { name: "small request read: 'data' events", fn: round(events.peer, () => sentEvents, () => eventBytes, () => (sentEvents += REQUEST.length)), ops: WRITES_PER_SAMPLE },
    { name: 'small request read: shared buffer (onread)', fn: round(shared.peer, () => sentShared, () => sharedBytes, () => (sentShared += REQUEST.length)), ops: WRITES_PER_SAMPLE },
  ];
  const checks = [
    () => (eventBytes === sentEvents ? null : `'data': read ${eventBytes} of ${sentEvents} bytes`),
    () => (sharedBytes === sentShared ? null : `shared: read ${sharedBytes} of ${sentShared} bytes`),
  ];
  return {
    tasks,
    checks,
    close() {
      events.peer.destroy();
      events.accepted.destroy();
      events.server.close();
      shared.peer.destroy();
      adopted.destroy();
      shared.server.close();
    },
  };
}

const writes = await writeTasks();
const reads = await readTasks();
await runMicroSuite(
  'streamcache micro benchmarks (src/net: client socket reads and writes)',
  [...writes.tasks, ...reads.tasks].map((task) => ({ name: task.name, fn: task.fn, opsPerSample: task.ops })),
  {
    footer: [`mean ns = per write (or per request read), including the syscall and a share of the wait between samples of ${WRITES_PER_SAMPLE}.`],
    checks: [...writes.checks, ...reads.checks],
  },
);
writes.close();
reads.close();
