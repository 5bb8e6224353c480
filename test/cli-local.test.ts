import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../local/stack.ts';
import { BIN, runBin as cli, tempDirs } from './cli-support.ts';

const tempDir = tempDirs('clickstream-cli-');

describe('clickstream CLI', () => {
  it('lists every subcommand in --help', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const name of ['local', 'generate', 'replay', 'query', 'report', 'verify', 'demo']) {
      expect(stdout).toMatch(new RegExp(`\\n  ${name} `));
    }
  });

  it('says how to start a stack when --local finds none', async () => {
    const state = join(tempDir(), 'state.json');
    const { code, stderr } = await cli(['replay', '--local', '--source', 'x.csv'], {
      CLICKSTREAM_STATE_FILE: state,
    });
    expect(code).toBe(2);
    expect(stderr).toContain('no local stack is running');
    expect(stderr).toContain('clickstream local up');
  });

  describe('local up | status | down', () => {
    const state = join(tempDir(), 'local-stack.json');
    const env = { CLICKSTREAM_STATE_FILE: state };
    let up: ChildProcess | undefined;
    afterAll(async () => {
      // Only when the test failed midway: stop the stack through the bin, as Ctrl-C would.
      if (!up || up.exitCode !== null || up.signalCode !== null) return;
      const exited = once(up, 'exit');
      up.kill('SIGTERM');
      await exited;
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
      // A loaded machine takes tens of seconds to start the emulators and consumers.
      for (let i = 0; i < 900 && !stderr.includes('to stop'); i++)
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
    }, 180_000);
  });
});
