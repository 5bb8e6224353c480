import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuMsBetween, processTreeCpu, processTreePeaks } from '../../local/process-usage.ts';

const MB = 2 ** 20;

describe.skipIf(!existsSync('/proc/self/status'))('memory and CPU of a process tree', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  /** Writes a script of these lines, starts it with Node, and resolves with what it prints first. */
  const startScript = async (name: string, lines: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'clickstream-usage-'));
    dirs.push(dir);
    const script = join(dir, name);
    writeFileSync(script, lines.join('\n'));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const firstOutput = await new Promise<string>((resolve) =>
      child.stdout?.once('data', (data) => resolve(String(data))),
    );
    return { child, firstOutput };
  };

  it("finds every descendant by parentage, names each by its script, and reads each one's high-water mark", async () => {
    // A script that touches 200 MB, lets it go, and starts a grandchild: its peak stays, its RSS falls.
    const { child } = await startScript('hungry.mjs', [
      "import { spawn } from 'node:child_process';",
      'let block = Buffer.alloc(200 * 2 ** 20, 1);',
      'block = undefined;',
      "spawn('sleep', ['30'], { stdio: 'ignore' });",
      "process.stdout.write('ready\\n');",
      'setInterval(() => {}, 1000);',
    ]);

    const peaks = processTreePeaks(child.pid) ?? [];
    expect(peaks.map((peak) => peak.program)).toEqual(['hungry.mjs', 'sleep']);
    expect(peaks[0]?.pid).toBe(child.pid);
    expect(peaks[0]?.peakRssBytes).toBeGreaterThan(200 * MB);
    expect(peaks[1]?.peakRssBytes).toBeLessThan(50 * MB);
    // The tree is this process's own: a process it did not start is never in it.
    expect(processTreePeaks(child.pid)?.some((peak) => peak.pid === process.pid)).toBe(false);
    // The grandchild outlives the kill of its parent; stop it with the tree's own list.
    for (const peak of peaks.slice(1)) process.kill(peak.pid, 'SIGKILL');
  });

  it("reads each process's CPU time as the process itself counts it, and what the tree spent between two readings", async () => {
    const before = processTreeCpu() ?? [];
    // Burns 400 ms of CPU, says how much it has used in all (Node's own count), then idles.
    const { child, firstOutput } = await startScript('busy.mjs', [
      'const start = process.cpuUsage();',
      'while (process.cpuUsage(start).user < 400_000) {}',
      'const used = process.cpuUsage();',
      'process.stdout.write(`${Math.round((used.user + used.system) / 1000)}\\n`);',
      'setInterval(() => {}, 1000);',
    ]);
    const ownCount = Number(firstOutput);
    const after = processTreeCpu() ?? [];

    const busy = after.find((p) => p.pid === child.pid);
    expect(busy?.program).toBe('busy.mjs');
    // /proc counts in 10 ms ticks, and the process used a little more between its count and the read.
    expect(busy?.cpuMs).toBeGreaterThanOrEqual(ownCount - 20);
    expect(busy?.cpuMs).toBeLessThanOrEqual(ownCount + 100);
    expect(ownCount).toBeGreaterThanOrEqual(400);
    // The child started after the first reading: all of its time is in the difference, besides this
    // process's own.
    const spent = cpuMsBetween(before, after);
    const ours =
      (after.find((p) => p.pid === process.pid)?.cpuMs ?? 0) -
      (before.find((p) => p.pid === process.pid)?.cpuMs ?? 0);
    expect(spent - ours).toBeGreaterThanOrEqual(busy?.cpuMs ?? 0);
  });
});
