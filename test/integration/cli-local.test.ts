import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { portTaken } from '../../local/net.ts';
import { identify, isAlive, type ProcessIdentity, stopRecorded } from '../../local/processes.ts';
import { freePort } from '../../local/stack.ts';
import { BIN, runBin, tempDirs } from '../support/cli-support.ts';

const tempDir = tempDirs('clickstream-cli-');
// A hang fails the test instead of holding it.
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runBin(args, env, { timeoutMs: 180_000 });
const HAS_PROC = existsSync('/proc/self/task');

describe('clickstream CLI', () => {
  it('lists every subcommand in --help', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const name of ['local', 'generate', 'replay', 'query', 'report', 'verify', 'demo']) {
      expect(stdout).toMatch(new RegExp(`\\n  ${name} `));
    }
  });

  describe('local up | status | down', () => {
    const started: ChildProcess[] = [];
    const seen: ProcessIdentity[] = [];
    afterAll(async () => {
      // Only when a test failed midway: stop each stack through the bin, as Ctrl-C would, then
      // anything of ours still running, proven ours by start time and command line.
      for (const child of started) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
        child.kill('SIGKILL');
      }
      for (const process of seen) await stopRecorded(process, 1_000).catch(() => undefined);
    });

    /**
     * A state file of its own for one test, and a temp directory for the stacks it starts: a leaked
     * temp directory is seen there, and nobody else's is.
     */
    function sandbox() {
      const dir = tempDir();
      const tmp = join(dir, 'tmp');
      mkdirSync(tmp);
      // tsx keeps its compile cache in the temp directory: shared, a start need not compile it all again.
      const tsxCache = `tsx-${process.getuid?.() ?? 0}`;
      if (existsSync(join(tmpdir(), tsxCache))) symlinkSync(join(tmpdir(), tsxCache), join(tmp, tsxCache));
      const env = { CLICKSTREAM_STATE_FILE: join(dir, 'stack.json'), TMPDIR: tmp };
      const leakedTempDirs = () => readdirSync(tmp).filter((name) => name.startsWith('clickstream-'));
      return { env, tmp, leakedTempDirs };
    }

    /** `local up` on free ports, as a user starts it; resolves once it is up, with its stderr so far. */
    async function start(env: Record<string, string>) {
      const ports = await Promise.all(SERVICES.map(() => freePort()));
      const child = spawn(process.execPath, [BIN, 'local', 'up', '--ports', portList(ports)], {
        env: { ...process.env, NO_COLOR: '1', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      started.push(child);
      let stderr = '';
      child.stderr?.on('data', (chunk) => {
        stderr += chunk;
      });
      // A loaded machine takes tens of seconds to start the emulators and consumers.
      await eventually(() => stderr.includes('to stop') || child.exitCode !== null, 180_000);
      expect(stderr).toContain('to stop');
      return { child, ports, stderr: () => stderr };
    }

    /** `start`, and the process tree of the stack it started (Linux: found through /proc). */
    async function up(env: Record<string, string>) {
      const launched = await start(env);
      const stack = identify(JSON.parse(readFileSync(env.CLICKSTREAM_STATE_FILE ?? '', 'utf8')).pid);
      if (!stack) throw new Error('local up is not running');
      const tree = [stack, ...descendants(stack.pid)];
      seen.push(...tree);
      return { ...launched, stack, tree };
    }

    it('says how to start a stack when --local finds none', async () => {
      const { env } = sandbox();
      const { code, stderr } = await cli(['replay', '--local', '--source', 'x.csv'], env);
      expect(code).toBe(2);
      expect(stderr).toContain('no local stack is running');
      expect(stderr).toContain('clickstream local up');
    });

    // Where /proc is, the kill -9 test below asserts all this on the stack it starts second.
    it.skipIf(HAS_PROC)(
      'starts the stack on the given ports, reports it running, and stops it',
      async () => {
        const { env } = sandbox();
        const { ports, stderr } = await start(env);
        expect(stderr()).toContain(`http://127.0.0.1:${ports[0]}`);

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
      },
      300_000,
    );

    it.runIf(HAS_PROC)(
      'kill -9 of local up leaves no orphan; status sees what is left; the next up clears it, runs, stops',
      async () => {
        const { env, tmp, leakedTempDirs } = sandbox();
        const first = await up(env);
        expect(first.tree.some(isDynoxide)).toBe(true);
        process.kill(first.stack.pid, 'SIGKILL');
        await eventually(() => first.tree.every((p) => !isAlive(p)));

        const status = await cli(['local', 'status', '--json'], env);
        expect(status.code).toBe(3);
        const leftovers: string[] = JSON.parse(status.stdout).leftovers;
        expect(leftovers).toHaveLength(1);
        expect(leftovers[0]).toMatch(new RegExp(`^${tmp}/clickstream-stack-`));

        const second = await up(env);
        expect(second.stderr()).toContain(
          `an earlier stack ended without stopping; cleared what it left: removed ${leftovers[0]}\n`,
        );
        expect(second.stderr()).toContain('data: fresh');
        expect(second.stderr()).toContain(`http://127.0.0.1:${second.ports[0]}`);
        const running = await cli(['local', 'status', '--json'], env);
        expect(running.code).toBe(0);
        const summary = JSON.parse(running.stdout);
        expect(summary.running).toBe(true);
        expect(summary.endpoints.kinesis).toBe(`http://127.0.0.1:${second.ports[0]}`);
        const children: Array<{ role: string; pid: number }> = summary.processes;
        const dynoxide = second.tree.find(isDynoxide);
        expect(children.find((p) => p.role === 'dynamodb emulator (dynoxide)')?.pid).toBe(dynoxide?.pid);
        // Where the consumers stand, noted every 2 s: nothing sent yet, so nothing read or written.
        let noted: { aggregator: { records: number; shards: number }; lake: { objects: number } } | undefined;
        for (let i = 0; i < 30 && !noted; i++) {
          noted = JSON.parse((await cli(['local', 'status', '--json'], env)).stdout).pipeline;
          if (!noted) await new Promise((resolve) => setTimeout(resolve, 500));
        }
        expect(noted?.aggregator).toMatchObject({ records: 0, shards: DEFAULT_CONFIG.eventsShards });
        expect(noted?.lake.objects).toBe(0);
        expect((await cli(['local', 'status'], env)).stdout).toMatch(
          /consumers aggregator 0 Kinesis records, 0 windows open/,
        );

        const down = await cli(['local', 'down'], env);
        expect(down.code).toBe(0);
        expect(down.stdout).toContain(`stopped local stack (pid ${second.stack.pid})`);
        await eventually(() => second.tree.every((p) => !isAlive(p)));
        expect((await cli(['local', 'status'], env)).code).toBe(3);
        expect(leakedTempDirs()).toEqual([]);
      },
      900_000,
    );

    it.runIf(HAS_PROC)(
      'kill -9 of the clickstream launcher stops the stack it started',
      async () => {
        const { env, leakedTempDirs } = sandbox();
        const stack = await up(env);
        stack.child.kill('SIGKILL');
        await eventually(() => stack.tree.every((p) => !isAlive(p)), 60_000);
        expect(existsSync(env.CLICKSTREAM_STATE_FILE)).toBe(false);
        expect(leakedTempDirs()).toEqual([]);
      },
      300_000,
    );

    it('a port taken by another program: one line naming it and --ports, exit 2, nothing left', async () => {
      const { env, leakedTempDirs } = sandbox();
      for (const [i, service] of SERVICES.entries()) {
        const foreign = await foreignServer();
        const ports = await Promise.all(SERVICES.map(() => freePort()));
        ports[i] = foreign.port;
        const result = await cli(['local', 'up', '--ports', portList(ports)], env);
        foreign.server.close();
        expect([service, result.code, result.stdout]).toEqual([service, 2, '']);
        expect(result.stderr.trim().split('\n')).toEqual([
          `error: port ${foreign.port} for local ${service} is in use by another program; free it or choose another with --ports ${service}=<port>`,
        ]);
        for (const port of ports.filter((_, j) => j !== i))
          expect([service, port, await portTaken('127.0.0.1', port)]).toEqual([service, port, false]);
        expect(leakedTempDirs()).toEqual([]);
        expect(existsSync(env.CLICKSTREAM_STATE_FILE)).toBe(false);
      }
    }, 900_000);
  });
});

const SERVICES = ['kinesis', 'dynamodb', 's3', 'sns', 'smtp', 'mailWeb'] as const;

function portList(ports: number[]): string {
  return SERVICES.map((name, i) => `${name}=${ports[i]}`).join(',');
}

const isDynoxide = (p: ProcessIdentity) => p.command.split(' ')[0]?.endsWith('/dynoxide') ?? false;

/** Resolves once `check` holds; rejects after `ms`. */
async function eventually(check: () => boolean, ms = 15_000): Promise<void> {
  for (let waited = 0; !check(); waited += 100) {
    if (waited > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every process below `pid`, found through /proc (its children, theirs, and so on). */
function descendants(pid: number): ProcessIdentity[] {
  const found: ProcessIdentity[] = [];
  const visit = (parent: number) => {
    const tasks = `/proc/${parent}/task`;
    if (!existsSync(tasks)) return;
    for (const task of readdirSync(tasks)) {
      const children = readFileSync(`${tasks}/${task}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ').map(Number) : []) {
        const identity = identify(child);
        if (identity) found.push(identity);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

/** An HTTP server that is not ours, on an ephemeral port. */
async function foreignServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end('not an emulator'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0 };
}
