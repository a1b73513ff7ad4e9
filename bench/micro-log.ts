// Micro benchmarks of the access log's line writer (issue 18): a hit's line built as a string
// (the way every line went before, and still the way for a line with an error, a reason or a
// string to escape), beside the same line written as bytes into the log batch's slab, and a turn
// of lines handed to a bytes sink. Socket-free, stdout-free: the batch's sink only counts bytes.
//   npm run build && node dist/bench/micro-log.js        (env BENCH_TIME = ms per task, default 1000)
import type { ClientExchange } from '../src/net/client-exchange.js';
import { accessLine, writeAccessFields, writeAccessLine, type AccessRecord } from '../src/proxy/access-log.js';
import { LogBatch } from '../src/proxy/log-batch.js';
import { runMicroSuite, type MicroTask } from './micro-suite.js';


/** The stages bench's hit as the access line reads it (a stand-in with the fields it reads). */
function hitExchange(target = '/hit'): ClientExchange {
  return {
    request: { method: 'GET', target, version: { major: 1, minor: 1 } },
    startedAt: 1000.25,
    bytesSent: 1325,
    clientAddress: '127.0.0.1',
    state: 'ended',
  } as unknown as ClientExchange;
}

/** A bytes sink that keeps nothing: the batch's flush cost without a system call. */
let bytesOut = 0;
const batch = new LogBatch({ writeBytes: (b: Buffer) => void (bytesOut += b.length) });

/** Every task here loops a synchronous fn `batch` times per sample. */
type Spec = MicroTask & { batch: number };

const specs: Spec[] = [];
let sink: unknown;
const TIME = 1_796_000_000_000;

{
  const exchange = hitExchange();
  const record: AccessRecord = { exchange, status: 200, cache: 'HIT', firstByteAt: exchange.startedAt + 0.05 };
  const expected = accessLine(record, exchange.startedAt + 0.1, TIME);
  specs.push({
    name: 'hit line as a string (accessLine; the string way)',
    batch: 64,
    fn: () => {
      sink = accessLine(record, exchange.startedAt + 0.1, TIME);
    },
  });
  let lines = 0;
  specs.push({
    name: 'hit line as bytes into the batch (writeAccessFields), flushed every 32 lines',
    batch: 64,
    fn: () => {
      writeAccessFields(batch, exchange, 200, 'HIT', exchange.startedAt + 0.05, undefined, undefined, exchange.startedAt + 0.1, TIME);
      if (++lines % 32 === 0) batch.flush();
    },
    check: () => {
      batch.flush();
      const before = bytesOut;
      writeAccessLine(batch, record, exchange.startedAt + 0.1, TIME);
      batch.flush();
      return bytesOut - before === Buffer.byteLength(expected) ? null : `a line of ${bytesOut - before} bytes, the string is ${Buffer.byteLength(expected)}`;
    },
  });
  specs.push({
    name: '  same, a new millisecond every line (the head made again)',
    batch: 64,
    fn: () => {
      writeAccessFields(batch, exchange, 200, 'HIT', exchange.startedAt + 0.05, undefined, undefined, exchange.startedAt + 0.1, TIME + (++lines % 1000));
      if (lines % 32 === 0) batch.flush();
    },
  });
}

{
  // A path the fast writer gives up on (a quote to escape): the string way, into the batch.
  const exchange = hitExchange('/a"b');
  const record: AccessRecord = { exchange, status: 200, cache: 'HIT', firstByteAt: exchange.startedAt + 0.05 };
  let lines = 0;
  specs.push({
    name: 'line with a path to escape (the string way, into the batch)',
    batch: 64,
    fn: () => {
      writeAccessLine(batch, record, exchange.startedAt + 0.1, TIME);
      if (++lines % 32 === 0) batch.flush();
    },
  });
}

specs.push({
  name: 'turnTime (Date.now() once per turn; here every call after a flush)',
  batch: 64,
  fn: () => {
    sink = batch.turnTime();
    batch.flush();
  },
});

specs.push({
  name: '  reference: Date.now()',
  batch: 256,
  fn: () => {
    sink = Date.now();
  },
});

// ---------------------------------------------------------------------------------------------

await runMicroSuite('streamcache micro benchmarks (the access log: line writer and batch)', specs);
void sink;
