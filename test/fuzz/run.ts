// The fuzz harness's command line (SPEC P4):
//
//   npm run fuzz -- --minutes N      fuzz for N minutes (or --seconds N; default 60 s)
//   npm run fuzz -- --seed S         start from run seed S (decimal or 0x-hex) instead of a random one
//   npm run fuzz -- --replay SEED    rerun one case alone and print what happened
//
// Progress every ~10 s, a summary at the end; exit code 0 only when the run was clean.
import { hex32, parseSeed } from './prng.js';
import { formatSummary, replayCase, runFuzz } from './harness.js';

const USAGE = 'usage: node dist/test/fuzz/run.js [--minutes N | --seconds N] [--seed S] | --replay SEED';

function parseArgs(argv: string[]): { seconds: number; seed?: number; replay?: number } {
  let seconds = 60;
  let seed: number | undefined;
  let replay: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    const positive = (text: string): number => {
      const n = Number(text);
      if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${arg}: "${text}" is not a positive number\n${USAGE}`);
      return n;
    };
    if (arg === '--minutes') seconds = positive(value()) * 60;
    else if (arg === '--seconds') seconds = positive(value());
    else if (arg === '--seed') seed = parseSeed(value());
    else if (arg === '--replay') replay = parseSeed(value());
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument "${arg}"\n${USAGE}`);
  }
  return { seconds, ...(seed !== undefined ? { seed } : {}), ...(replay !== undefined ? { replay } : {}) };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const log = (line: string): void => console.log(line);
  if (args.replay !== undefined) {
    const result = await replayCase(args.replay, log);
    return result.clean ? 0 : 1;
  }
  const seed = args.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
  log(`fuzzing streamcache for ${args.seconds} s from run seed ${hex32(seed)} (progress every 10 s)`);
  const report = await runFuzz({ seconds: args.seconds, seed, log });
  log('');
  log(formatSummary(report));
  return report.clean ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(3);
  },
);
