/**
 * How fast `clickstream` starts: the built CLI (dist/, which `npm ci` builds) against the same command run
 * from the TypeScript sources through tsx (what every run cost before the build, and what a checkout
 * with stale dist/ still costs), alternated round by round so the machine's load falls on both alike.
 * `local status` and `local down` are timed too: they must not load the emulators' code.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface CliStartFigures {
  rounds: number;
  /** Median wall time of each command, in ms. */
  builtHelpMs: number;
  sourcesHelpMs: number;
  builtStatusMs: number;
  builtDownMs: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function timed(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) =>
    // local status exits 3 when no stack runs: a finished command is all that is timed.
    execFile(process.execPath, args, { cwd, env }, (error) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve(performance.now() - started);
    }),
  );
}

export async function benchCliStart(repo: string, rounds: number): Promise<CliStartFigures> {
  // A state file of its own: `local status` and `down` must find no stack, never another one's.
  const dir = mkdtempSync(join(tmpdir(), 'clickstream-cli-start-'));
  const env = { ...process.env, CLICKSTREAM_STATE_FILE: join(dir, 'local-stack.json'), NO_COLOR: '1' };
  const built = join(repo, 'bin', 'clickstream.js');
  const sources = ['--import', 'tsx', join(repo, 'bin', 'clickstream.ts')];
  const times = {
    builtHelp: [] as number[],
    sourcesHelp: [] as number[],
    status: [] as number[],
    down: [] as number[],
  };
  try {
    for (let round = 0; round < rounds; round++) {
      times.builtHelp.push(await timed([built, '--help'], repo, env));
      times.sourcesHelp.push(await timed([...sources, '--help'], repo, env));
      times.status.push(await timed([built, 'local', 'status'], repo, env));
      times.down.push(await timed([built, 'local', 'down'], repo, env));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    rounds,
    builtHelpMs: Math.round(median(times.builtHelp)),
    sourcesHelpMs: Math.round(median(times.sourcesHelp)),
    builtStatusMs: Math.round(median(times.status)),
    builtDownMs: Math.round(median(times.down)),
  };
}
