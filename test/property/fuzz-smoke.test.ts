// CI's short run of the fuzz harness (test/fuzz/, `npm run fuzz` for long runs): hostile clients
// and a hostile origin against streamcache in-process for a fixed time, with well-behaved clients
// checked byte for byte alongside. FUZZ_SEED pins the run seed; FUZZ_SECONDS changes the length.
// On failure the harness's summary (with a `--replay` command per failing seed) is printed.
import { describe, expect, it } from 'vitest';
import { formatSummary, runFuzz } from '../fuzz/harness.js';
import { hex32, parseSeed } from '../fuzz/prng.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 15);
const SEED = process.env.FUZZ_SEED ? parseSeed(process.env.FUZZ_SEED) : 0x5eed_0004;

describe('fuzz smoke (SPEC P4)', () => {
  it(`P4: ${SECONDS} s of hostile clients and a hostile origin (run seed ${hex32(SEED)}): no crash, every well-behaved response byte-exact, nothing leaked`, async () => {
    const report = await runFuzz({ seconds: SECONDS, seed: SEED });
    const summary = formatSummary(report, 'npm run fuzz -- --replay');
    if (!report.clean) console.log(summary);
    // The harness did work of every kind.
    expect(report.executions.hostileClientInputs, summary).toBeGreaterThan(0);
    expect(report.executions.hostileOriginResponses, summary).toBeGreaterThan(0);
    expect(report.executions.wellBehavedRequestsChecked, summary).toBeGreaterThan(0);
    expect(report.crashes, summary).toBe(0);
    expect(report.mismatches, summary).toBe(0);
    expect(report.leaks, summary).toBe(0);
  }, (SECONDS + 120) * 1000);
});
