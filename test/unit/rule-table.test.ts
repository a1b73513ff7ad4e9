// docs/rules.md holds every rule id, and docs/rule-files.md (scripts/rule-table.ts) maps each one
// to files that exist, so that the room of any rule is one look away.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { idPattern, readRules, ruleTable } from '../../scripts/rule-table.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Every rule id of the behaviour contract, group by group. */
const GROUPS: Record<string, number> = { R: 8, F: 6, V: 4, L: 5, O: 3, T: 2, C: 4, P: 5, G: 4, I: 5, B: 4, H: 3, K: 4 };
const ALL_IDS = Object.entries(GROUPS).flatMap(([letter, n]) => Array.from({ length: n }, (_, i) => `${letter}${i + 1}`));

describe('docs/rules.md and docs/rule-files.md', () => {
  it('rules.md states every rule id once, each with a title, grouped by letter', () => {
    const rules = readRules(read('docs/rules.md'));
    expect(rules.map((r) => r.id)).toEqual(ALL_IDS);
    for (const rule of rules) {
      expect(rule.title, rule.id).not.toBe('');
      expect(rule.section, rule.id).toMatch(new RegExp(`\\(${rule.id[0]}\\)$`));
    }
  });

  it('rule-files.md has a row for every id, and every file it names exists', () => {
    const table = read('docs/rule-files.md');
    for (const id of ALL_IDS) expect(table, id).toMatch(new RegExp(`^\\| ${id} \\|`, 'm'));
    const files = [...table.matchAll(/`((?:src|test)\/[^`]+)`/g)].map((m) => m[1]);
    expect(files.length).toBeGreaterThan(50);
    for (const file of new Set(files)) expect(existsSync(`${ROOT}${file}`), file).toBe(true);
  });

  it("the generator finds the files of this round's rules: the underscore check and the reload", () => {
    const table = ruleTable(ROOT);
    const row = (id: string) => table.split('\n').find((line) => line.startsWith(`| ${id} |`)) ?? '';
    expect(row('P5')).toContain('`src/http1/semantics.ts`');
    expect(row('P5')).toContain('`test/integration/protocol-underscore.test.ts`');
    expect(row('K1')).toContain('`src/proxy/reload.ts`');
    expect(row('K1')).toContain('`test/integration/cli-reload.test.ts`');
  });

  it('an id matches as a word: not a longer id, not inside a longer token', () => {
    const pattern = idPattern('R' + '1');
    expect(['R1: streaming', '(R1)', 'R1/F1'].map((text) => pattern.test(text))).toEqual([true, true, true]);
    expect(['R10', 'XR1', '0xR1'].map((text) => pattern.test(text))).toEqual([false, false, false]);
  });
});
