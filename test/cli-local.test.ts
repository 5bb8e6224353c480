import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../local/stack.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'clickstream.js');
const run = promisify(execFile);

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    // NO_COLOR: picocolors colours output whenever CI is set, and these tests read the text.
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('clickstream CLI', () => {
  it('lists every subcommand in --help', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const name of ['local', 'generate', 'replay', 'query', 'report', 'verify', 'demo']) {
      expect(stdout).toMatch(new RegExp(`\\n  ${name} `));
    }
  });

  it('prints one error line and a hint, exit 2, for a bad argument', async () => {
    const { code, stderr, stdout } = await cli(['local', 'sideways']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toEqual([
      'error: unknown action "sideways"',
      'hint: use one of: clickstream local up | down | status',
    ]);
  });

  it('says how to start a stack when --local finds none', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'clickstream-cli-')), 'state.json');
    const { code, stderr } = await cli(['replay', '--local', '--source', 'x.csv'], {
      CLICKSTREAM_STATE_FILE: state,
    });
    expect(code).toBe(2);
    expect(stderr).toContain('no local stack is running');
    expect(stderr).toContain('clickstream local up');
  });

  describe('local up | status | down', () => {
    const state = join(mkdtempSync(join(tmpdir(), 'clickstream-cli-')), 'local-stack.json');
    const env = { CLICKSTREAM_STATE_FILE: state };
    let up: ChildProcess | undefined;
    afterAll(() => {
      up?.kill('SIGKILL');
    });

    it('starts the stack on the given ports, reports it running, and stops it', async () => {
      const names = ['kinesis', 'dynamodb', 's3', 'sns', 'smtp', 'mailWeb'];
      const ports = await Promise.all(names.map(() => freePort()));
      const portList = names.map((name, i) => `${name}=${ports[i]}`).join(',');
      up = spawn(process.execPath, [BIN, 'local', 'up', '--ports', portList], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      up.stderr?.on('data', (chunk) => {
        stderr += chunk;
      });
      for (let i = 0; i < 150 && !stderr.includes('to stop'); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(stderr).toContain(`http://127.0.0.1:${ports[0]}`);

      const status = await cli(['local', 'status', '--json'], env);
      expect(status.code).toBe(0);
      const summary = JSON.parse(status.stdout);
      expect(summary.running).toBe(true);
      expect(summary.endpoints.kinesis).toBe(`http://127.0.0.1:${ports[0]}`);

      const down = await cli(['local', 'down'], env);
      expect(down.code).toBe(0);
      expect(down.stdout).toContain('stopped local stack');
      const after = await cli(['local', 'status'], env);
      expect(after.code).toBe(3);
    });
  });
});
