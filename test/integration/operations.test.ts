// docs/operations.md's promises that a file can hold: the systemd unit in packaging/ is valid for
// systemd (systemd-analyze verify, where installed), reloads with SIGHUP (K1), stops with SIGTERM,
// and does not restart on a configuration error (exit 2).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const UNIT = fileURLToPath(new URL('../../packaging/streamcache.service', import.meta.url));

async function systemdAnalyze(): Promise<string | undefined> {
  try {
    const { stdout } = await run('sh', ['-c', 'command -v systemd-analyze']);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

describe('packaging/streamcache.service', () => {
  it('K1: reload is SIGHUP, stop is SIGTERM, exit 2 (a config error) is not restarted', () => {
    const unit = readFileSync(UNIT, 'utf8');
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=2$/m);
    expect(unit).toMatch(/^ExecStart=.*streamcache --config \S+$/m);
    expect(unit).not.toContain('../shared');
  });

  it('passes systemd-analyze verify (checked where systemd-analyze is installed)', async () => {
    const analyze = await systemdAnalyze();
    if (!analyze) {
      // The one assertion that needs systemd; everything else in this file runs anywhere.
      console.warn('operations.test.ts: systemd-analyze is not installed here, so the unit file was not verified by systemd');
      return;
    }
    const result = await run(analyze, ['verify', UNIT]).then(
      ({ stderr }) => ({ code: 0, stderr }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(result.stderr.split('\n').filter((line) => line.includes('streamcache.service'))).toEqual([]);
    expect(result.code).toBe(0);
  });
});
