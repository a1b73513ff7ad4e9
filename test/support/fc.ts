// Shared fast-check settings for every property test.
//
// Each property names its own CI-sized default run count (`fcOptions(200)`): the whole property
// suite stays within a few seconds. The environment overrides it, for every property at once:
//
//   FC_RUNS=5000        every property runs 5000 times
//   FC_RUNS=10x         every property runs 10 times its own default
//   FC_SEED=-1234 FC_PATH="7:1:0"   replay a failure exactly as fast-check printed it
//                                    (FC_PATH is optional; the seed alone reruns the whole sequence)
//
// A failure found once and worth keeping is pinned as an explicit example (fast-check `examples`,
// passed through `fcOptions(base, { examples: [...] })`) or as a separate `it` case, with a comment
// that says what it caught.
import type { Parameters } from 'fast-check';

/** The run count of a property that names no default of its own. */
export const FC_DEFAULT_RUNS = 100;

interface RunsSetting {
  /** An absolute count for every property (`FC_RUNS=N`), or undefined. */
  absolute?: number;
  /** A multiplier of each property's default (`FC_RUNS=Nx`); 1 when not set. */
  scale: number;
}

function parseRuns(raw: string | undefined): RunsSetting {
  const text = raw?.trim();
  if (!text) return { scale: 1 };
  const multiplier = /^(\d+(?:\.\d+)?)x$/i.exec(text);
  if (multiplier) {
    const scale = Number(multiplier[1]);
    if (scale > 0) return { scale };
  } else if (/^\d+$/.test(text) && Number(text) > 0) {
    return { absolute: Number(text), scale: 1 };
  }
  throw new Error(`FC_RUNS must be a positive count (FC_RUNS=500) or a multiplier (FC_RUNS=10x), not ${JSON.stringify(raw)}`);
}

function parseSeed(raw: string | undefined): number | undefined {
  const text = raw?.trim();
  if (!text) return undefined;
  const seed = Number(text);
  if (!Number.isFinite(seed)) throw new Error(`FC_SEED must be a number, not ${JSON.stringify(raw)}`);
  return seed;
}

const runs = parseRuns(process.env.FC_RUNS);

/** The run count for properties without a default of their own, after FC_RUNS. */
export const FC_RUNS = runs.absolute ?? Math.max(1, Math.round(FC_DEFAULT_RUNS * runs.scale));
/** FC_SEED, when replaying a failure. */
export const FC_SEED = parseSeed(process.env.FC_SEED);
/** FC_PATH, when replaying a failure (only meaningful with FC_SEED). */
export const FC_PATH = process.env.FC_PATH?.trim() || undefined;

/** The run count for a property whose CI-sized default is `base`, after FC_RUNS. */
export function fcRuns(base: number = FC_DEFAULT_RUNS): number {
  return runs.absolute ?? Math.max(1, Math.round(base * runs.scale));
}

/**
 * Parameters for `fc.assert`: `base` runs by default (scaled or replaced by FC_RUNS), the replay
 * seed and path from FC_SEED / FC_PATH, and any `extra` settings (e.g. pinned `examples`).
 */
export function fcOptions<Ts>(base: number = FC_DEFAULT_RUNS, extra: Parameters<Ts> = {}): Parameters<Ts> {
  const options: Parameters<Ts> = { ...extra, numRuns: fcRuns(base) };
  if (FC_SEED !== undefined) {
    options.seed = FC_SEED;
    if (FC_PATH !== undefined) options.path = FC_PATH;
  }
  return options;
}
