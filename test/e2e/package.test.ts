// The package as a user gets it: `npm pack` (whose `prepare` script builds), the tarball installed
// into an empty ESM project, and the README's embedding example, unchanged, type-checked with our
// tsc against the installed declarations and then run with node. Also: the installed `bin` runs.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM_ENV = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

/** The first ```ts block after the README's "## Embedding" heading: the example a user copies. */
export function embeddingExample(readme: string): string {
  const section = readme.slice(readme.indexOf('## Embedding'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README has no ```ts block under "## Embedding"');
  return match[1];
}

describe('the npm package', () => {
  let work: string;
  let project: string;
  let tarball: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'streamcache-pack-'));
    project = join(work, 'app');
    // A copy of the checkout without dist/ (as a fresh clone has it), so that the tests running beside
    // this one keep their dist/ while `npm pack` runs `prepare` (clean dist/src, build) in the copy.
    const checkout = join(work, 'checkout');
    for (const entry of await readdir(ROOT)) {
      if (['node_modules', 'dist', '.git'].includes(entry)) continue;
      await cp(join(ROOT, entry), join(checkout, entry), { recursive: true });
    }
    await symlink(join(ROOT, 'node_modules'), join(checkout, 'node_modules'), 'dir');
    const packed = await run('npm', ['pack', '--pack-destination', work, '--json'], { cwd: checkout, env: NPM_ENV, maxBuffer: 16 * 1024 * 1024 });
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string }>;
    tarball = join(work, info.filename);
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }, null, 2));
    // Offline first: pino and undici come from the npm cache that `npm ci` filled; the registry otherwise.
    await run('npm', ['install', '--prefer-offline', '--no-package-lock', tarball], { cwd: project, env: NPM_ENV, timeout: 120_000 });
  }, 180_000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('ships the build, its declarations and the sources its maps name; no tests, no benchmarks', async () => {
    const installed = join(project, 'node_modules', 'streamcache');
    const dist = await readdir(join(installed, 'dist', 'src'));
    expect(dist).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'cli.js']));
    const top = await readdir(installed);
    expect(top).not.toContain('test');
    expect(top).not.toContain('bench');
    expect(await readdir(join(installed, 'dist'))).toEqual(['src']);
  });

  it("the README's embedding example type-checks against the installed types and runs", async () => {
    const example = embeddingExample(await readFile(join(ROOT, 'README.md'), 'utf8'));
    await writeFile(join(project, 'example.ts'), example);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          // Declarations are checked too (no skipLibCheck): a broken .d.ts in the package fails here.
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['example.ts'],
      }),
    );
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: project });
    const { stdout } = await run(process.execPath, ['example.js'], { cwd: project, env: { ...process.env, PORT: '0' }, timeout: 20_000 });
    expect(stdout).toMatch(/^streamcache on http:\/\/127\.0\.0\.1:\d+$/m);
    // About 15 s on an idle machine (tsc loads @types/node); room for a machine shared by many runs.
  }, 120_000);

  it('the installed bin runs: streamcache --version prints the version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const { stdout } = await run(join(project, 'node_modules', '.bin', 'streamcache'), ['--version'], { cwd: project });
    expect(stdout.trim()).toBe(pkg.version);
  });
});
