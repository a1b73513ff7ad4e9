// The built CLI as an operator runs it (`node dist/src/cli.js …`; the test script builds first):
// spawn it, wait for what it prints, collect its exit. Processes still running are killed after
// each test of a file that calls killCliProcessesAfterEach().
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  exit: Promise<Exit>;
  /** Everything printed so far. */
  output: { stdout: string; stderr: string };
}

const running = new Set<ChildProcess>();

export function killCliProcessesAfterEach(): void {
  afterEach(() => {
    for (const child of running) child.kill('SIGKILL');
    running.clear();
  });
}

/** `env` entries replace the test's environment; an undefined value removes the variable. */
export function spawnCli(args: string[], env: Record<string, string | undefined> = {}): CliRun {
  const childEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  running.add(child);
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output.stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output.stderr += text));
  const exit = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, ...output });
    });
  });
  return { child, exit, output };
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<Exit> {
  return spawnCli(args, env).exit;
}

/** Resolves with the first group of `pattern` in stdout, or rejects with what the CLI said instead. */
export function waitForOutput(run: CliRun, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const match = pattern.exec(run.output.stdout);
      if (match) resolve(match[1]);
    };
    check();
    run.child.stdout?.on('data', check);
    run.exit.then((exit) => reject(new Error(`CLI exited before printing ${pattern}: ${JSON.stringify(exit)}`)));
  });
}

export function waitForListening(run: CliRun): Promise<string> {
  return waitForOutput(run, /listening on (http:\/\/\S+)/);
}

export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}
