/** How the package bin starts the program: dist/ or the sources, and the relaunch for `local up`. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtIsFresh, exitStatus, needsLegacyProvider } from '../../bin/launch.js';
import { tempDirs } from '../support/cli-support.ts';

const tempDir = tempDirs('clickstream-launch-');
const LAUNCH = pathToFileURL(join(import.meta.dirname, '..', '..', 'bin', 'launch.js')).href;

/** A wrapper process that relaunches `childScript` as bin/clickstream.js relaunches `local up`. */
function wrapper(childScript: string): ChildProcess {
  const script = `import { relaunchWithLegacyProvider } from ${JSON.stringify(LAUNCH)};
relaunchWithLegacyProvider(['--input-type=module', '-e', ${JSON.stringify(childScript)}]);`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

async function firstLine(child: ChildProcess): Promise<string> {
  let text = '';
  for await (const chunk of child.stdout ?? []) {
    text += chunk;
    if (text.includes('\n')) return text.slice(0, text.indexOf('\n'));
  }
  throw new Error(`no line from the child: ${text}`);
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('the relaunch for OpenSSL legacy provider', () => {
  const idle = "process.stdout.write(process.pid + '\\n'); setInterval(() => {}, 1000);";

  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGKILL', 137],
    ['SIGUSR2', 140],
  ] as const) {
    it(`exits ${status} when ${signal} kills the child, as a shell would report it`, async () => {
      const parent = wrapper(idle);
      const end = exited(parent);
      const childPid = Number(await firstLine(parent));
      expect(childPid).toBeGreaterThan(0);
      expect(childPid).not.toBe(parent.pid);
      process.kill(childPid, signal);
      expect(await end).toEqual({ code: status, signal: null });
    });
  }

  it('passes the exit code of a child that exits', async () => {
    const parent = wrapper('process.exitCode = 3;');
    expect(await exited(parent)).toEqual({ code: 3, signal: null });
  });

  it('gives the child the legacy provider', async () => {
    const parent = wrapper("process.stdout.write(process.execArgv.join(' ') + '\\n');");
    expect(await firstLine(parent)).toContain('--openssl-legacy-provider');
  });

  it('stops the child when the parent is killed with SIGKILL', async () => {
    const marker = join(tempDir(), 'stopped');
    const parent = wrapper(`import { stopWithParent } from ${JSON.stringify(LAUNCH)};
import { writeFileSync } from 'node:fs';
stopWithParent();
process.once('SIGTERM', () => { writeFileSync(${JSON.stringify(marker)}, 'SIGTERM'); process.exit(0); });
process.stdout.write(process.pid + '\\n');
setInterval(() => {}, 1000);`);
    const childPid = Number(await firstLine(parent));
    try {
      parent.kill('SIGKILL');
      for (let i = 0; i < 100 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(marker)).toBe(true);
    } finally {
      // Should the test fail, the child it started must not outlive it.
      if (!existsSync(marker)) process.kill(childPid, 'SIGKILL');
    }
  });

  it('is needed by local up only, and not when the provider is already there or for help', () => {
    expect(needsLegacyProvider(['local', 'up'], [], {})).toBe(true);
    expect(needsLegacyProvider(['--region', 'x', 'local', 'up', '--ports', 's3=1'], [], {})).toBe(true);
    expect(needsLegacyProvider(['local', 'status'], [], {})).toBe(false);
    expect(needsLegacyProvider(['local', 'up', '--help'], [], {})).toBe(false);
    expect(needsLegacyProvider(['query', '--', 'local', 'up'], [], {})).toBe(false);
    expect(needsLegacyProvider(['demo'], [], {})).toBe(false);
    expect(needsLegacyProvider(['local', 'up'], ['--openssl-legacy-provider'], {})).toBe(false);
    expect(needsLegacyProvider(['local', 'up'], [], { NODE_OPTIONS: '--openssl-legacy-provider' })).toBe(
      false,
    );
  });

  it('maps exit codes and signals like a shell', () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(2, null)).toBe(2);
    expect(exitStatus(null, 'SIGINT')).toBe(130);
    expect(exitStatus(null, 'SIGTERM')).toBe(143);
    expect(exitStatus(null, 'SIGKILL')).toBe(137);
  });
});

describe('the built program', () => {
  function builtTree(): { root: string; input: string; startedAt: number } {
    const root = tempDir();
    mkdirSync(join(root, 'dist'));
    mkdirSync(join(root, 'cli'));
    const input = join(root, 'cli', 'main.ts');
    writeFileSync(input, '');
    const changed = new Date('2026-01-01T00:00:00Z');
    utimesSync(input, changed, changed);
    const startedAt = changed.getTime() + 1000;
    writeFileSync(join(root, 'dist', 'build.json'), JSON.stringify({ startedAt, inputs: ['cli/main.ts'] }));
    return { root, input, startedAt };
  }

  it('runs while no input changed since the build started', () => {
    expect(builtIsFresh(builtTree().root)).toBe(true);
  });

  it('is stale once an input changes, disappears, or without a build', () => {
    const changed = builtTree();
    const later = new Date(changed.startedAt + 1);
    utimesSync(changed.input, later, later);
    expect(builtIsFresh(changed.root)).toBe(false);

    const removed = builtTree();
    writeFileSync(
      join(removed.root, 'dist', 'build.json'),
      JSON.stringify({ startedAt: removed.startedAt, inputs: ['cli/main.ts', 'cli/gone.ts'] }),
    );
    expect(builtIsFresh(removed.root)).toBe(false);

    expect(builtIsFresh(tempDir())).toBe(false);
  });
});
