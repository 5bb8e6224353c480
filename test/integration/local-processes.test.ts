import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import {
  identify,
  isAlive,
  Ownership,
  type ProcessIdentity,
  spawnTethered,
  stopRecorded,
} from '../../local/processes.ts';

const PROCESSES = new URL('../../local/processes.ts', import.meta.url).pathname;

/** Resolves once `check` holds, or rejects after `ms`. */
async function eventually(check: () => boolean, ms = 10_000): Promise<void> {
  for (let waited = 0; !check(); waited += 50) {
    if (waited > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('processes a stack owns', () => {
  const started: ChildProcess[] = [];
  const grandchildren: ProcessIdentity[] = [];
  afterEach(async () => {
    for (const child of started.splice(0)) child.kill('SIGKILL');
    // A tethered binary that outlived its parent (the failure the tether prevents): stopped all the same.
    for (const binary of grandchildren.splice(0)) await stopRecorded(binary, 1_000);
  });
  const sleeper = () => {
    const child = spawn('sleep', ['300'], { stdio: 'ignore' });
    started.push(child);
    return child;
  };

  it('identifies a process by PID, start time and command line, and a gone one as gone', async () => {
    const child = sleeper();
    const pid = child.pid ?? 0;
    await eventually(() => identify(pid)?.command === 'sleep 300');
    const identity = identify(pid) as ProcessIdentity;
    expect(identity.startTime).toMatch(/\S/);
    expect(isAlive(identity)).toBe(true);
    child.kill('SIGKILL');
    await eventually(() => !isAlive(identity));
    expect(identify(pid)).toBeUndefined();
  });

  it('never signals a PID whose start time or command line is not the recorded one', async () => {
    const child = sleeper();
    const pid = child.pid ?? 0;
    await eventually(() => identify(pid)?.command === 'sleep 300');
    const now = identify(pid) as ProcessIdentity;
    // The same PID, but another process: what a reused PID looks like.
    expect(await stopRecorded({ ...now, startTime: `${now.startTime}0` })).toBe(false);
    expect(await stopRecorded({ ...now, command: 'dynoxide serve' })).toBe(false);
    expect(isAlive(now)).toBe(true);
    expect(await stopRecorded(now)).toBe(true);
    expect(isAlive(now)).toBe(false);
  });

  it('stops a tethered binary when its parent is killed with SIGKILL', async () => {
    // The parent: a Node process that tethers `sleep 300` and prints its PID, then idles.
    const parent = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { spawnTethered } from ${JSON.stringify(PROCESSES)};
         const child = await spawnTethered('sleep', ['300']);
         console.log(child.pid);
         setInterval(() => undefined, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    started.push(parent);
    const line = await new Promise<string>((resolve) =>
      createInterface({ input: parent.stdout }).once('line', resolve),
    );
    const binary = identify(Number(line)) as ProcessIdentity;
    grandchildren.push(binary);
    expect(binary.command).toBe('sleep 300');
    parent.kill('SIGKILL');
    await eventually(() => !isAlive(binary));
  });

  it('records a tethered binary while it runs, and forgets it once stopped', async () => {
    const ownership = new Ownership();
    const changes: number[] = [];
    ownership.onChange(() => changes.push(ownership.snapshot().processes.length));
    const child = await spawnTethered('sleep', ['300'], { ownership, role: 'sleeper' });
    const recorded = ownership.snapshot().processes;
    expect(recorded.map((p) => p.role).sort()).toEqual(['sleeper', 'tether of sleeper']);
    expect(recorded.find((p) => p.role === 'sleeper')?.pid).toBe(child.pid);
    expect(child.running()).toBe(true);
    await child.stop('SIGTERM');
    expect(child.running()).toBe(false);
    expect(ownership.snapshot().processes).toEqual([]);
    expect(changes).toEqual([1, 2, 1, 0]);
  });

  it('knows a tethered binary runs as soon as it has started, even when caught in the middle of its exec', async () => {
    // While execve swaps images the new one briefly has an empty command line; once that was taken for
    // an exit, and a DynamoDB restart under chaos failed with the binary alive (about 1 start in 400).
    let notRunning = 0;
    for (let round = 0; round < 10; round++) {
      const children = await Promise.all(Array.from({ length: 20 }, () => spawnTethered('sleep', ['300'])));
      notRunning += children.filter((child) => !child.running()).length;
      await Promise.all(children.map((child) => child.stop('SIGKILL')));
    }
    expect(notRunning).toBe(0);
  });
});
