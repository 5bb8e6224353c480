/**
 * What the CLI tests share: the program run in this process with its output captured, the package bin
 * run as a user runs it, and temporary directories that are gone when the file's tests end.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, vi } from 'vitest';
import { main } from '../../cli/main.ts';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'clickstream.js');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** `main(argv)` in this process, with what it writes to stdout and stderr. */
export async function runMain(argv: string[]): Promise<Ran> {
  // The tests read the text; a developer's FORCE_COLOR must not change it.
  vi.stubEnv('NO_COLOR', '1');
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    vi.unstubAllEnvs();
  }
}

const execFileAsync = promisify(execFile);

/**
 * The package bin in a child process; NO_COLOR because the tests read the text. With `timeoutMs`, a
 * hang is killed (SIGKILL) and fails the test instead of holding it.
 */
export async function runBin(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  { timeoutMs }: { timeoutMs?: number } = {},
): Promise<Ran> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
      ...(timeoutMs ? { timeout: timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** A maker of temporary directories, all removed after the calling test file's tests. */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  afterAll(() => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}
