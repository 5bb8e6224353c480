/**
 * The scale bench (opt-in, `npm run bench -- --with scale`): `clickstream demo` as a user runs it, the
 * built CLI in its own process, on a large generated input and on a tenth of it. It reports the large
 * run's time and verify result, how its throughput compares with the small run's, and each process's
 * peak RSS at both sizes (memory that holds flat does not grow with the input), and each function's
 * longest invocation beside the timeout the template deploys it with (locally watched, not enforced: a
 * final flush that runs past it here would be cut off and retried in AWS unless DynamoDB merges faster
 * there). Each run takes a fresh work dir, so nothing of one is read by the other.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pc from 'picocolors';
import { type DemoSummary, renderInvocationTimes } from '../../cli/commands/demo.ts';

const plain = pc.createColors(false);

export interface ScaleRun {
  events: number;
  seconds: number;
  /** Events sent over the whole demo, setup included. */
  eventsPerSecond: number;
  replaySeconds: number;
  drainSeconds: number;
  windows: number;
  verifyPassed: boolean;
  checks: number;
  failedChecks: string[];
  /** Peak RSS per process of the demo's tree, by the demo's own names (esbuild and shells left out). */
  peaks: Array<{ process: string; peakRssMb: number }>;
  /** Each function's longest invocation against its deployed timeout, as the demo's runners saw it. */
  functions: DemoSummary['consumers'];
}

export interface ScaleFigures {
  runs: ScaleRun[];
}

/** What the bench reads of `clickstream demo --json`. */
interface DemoJson {
  events: { sent: number };
  aggregates: { windows: number };
  verify: { passed: boolean; checks: Array<{ name: string; ok: boolean }> };
  stages: Array<{ name: string; ms: number }>;
  memory: Array<{ process: string; peakRssMb: number }> | null;
  consumers: DemoSummary['consumers'];
  durationMs: number;
}

/** Short names for the processes the demo reports, for the bench's table and metric ids. */
export const SCALE_PROCESSES = [
  { key: 'demo', prefix: 'demo' },
  { key: 'stack', prefix: 'local stack' },
  { key: 'dynamodb', prefix: 'dynoxide' },
] as const;

export async function benchScale(options: {
  repo: string;
  sizes: readonly number[];
  log: (line: string) => void;
}): Promise<ScaleFigures> {
  const runs: ScaleRun[] = [];
  for (const events of options.sizes) {
    options.log(`    demo --events ${events.toLocaleString('en')} (built CLI, its own process)…`);
    runs.push(await runDemo(options.repo, events));
    const run = runs[runs.length - 1] as ScaleRun;
    options.log(
      `      ${run.seconds.toFixed(1)} s (replay ${run.replaySeconds.toFixed(1)} s, drain ${run.drainSeconds.toFixed(1)} s), verify ${run.verifyPassed ? 'passed' : `FAILED: ${run.failedChecks.join('; ')}`}; peak RSS ${run.peaks.map((p) => `${p.process} ${p.peakRssMb} MB`).join(', ')}; ${describeFunctions(run)}`,
    );
  }
  return { runs };
}

async function runDemo(repo: string, events: number): Promise<ScaleRun> {
  const workDir = mkdtempSync(join(tmpdir(), 'clickstream-bench-scale-'));
  try {
    // Exit code 1 is a failed verify, which the figures report; anything else is the bench failing.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        join(repo, 'bin', 'clickstream.js'),
        'demo',
        '--events',
        String(events),
        '--json',
        '--progress',
        'none',
        '--work-dir',
        join(workDir, 'demo'),
      ],
      { cwd: workDir, maxBuffer: 64 << 20 },
    ).catch((error: { code?: number; stdout?: string; stderr?: string }) => {
      if (error.code === 1 && error.stdout) return { stdout: error.stdout };
      throw new Error(
        `demo --events ${events} failed: ${(error.stderr ?? String(error)).trim().slice(-500)}`,
      );
    });
    const demo = JSON.parse(stdout) as DemoJson;
    const stageSeconds = (prefix: string) =>
      (demo.stages.find((stage) => stage.name.startsWith(prefix))?.ms ?? 0) / 1000;
    const seconds = demo.durationMs / 1000;
    return {
      events: demo.events.sent,
      seconds,
      eventsPerSecond: Math.round(demo.events.sent / seconds),
      replaySeconds: stageSeconds('replaying'),
      drainSeconds: stageSeconds('draining'),
      windows: demo.aggregates.windows,
      verifyPassed: demo.verify.passed,
      checks: demo.verify.checks.length,
      failedChecks: demo.verify.checks.filter((check) => !check.ok).map((check) => check.name),
      peaks: SCALE_PROCESSES.flatMap(({ key, prefix }) => {
        const peak = demo.memory?.find((p) => p.process.startsWith(prefix));
        return peak ? [{ process: key, peakRssMb: peak.peakRssMb }] : [];
      }),
      functions: demo.consumers,
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** Each function's longest invocation beside its deployed timeout, as the demo's summary words it. */
export function describeFunctions(run: ScaleRun): string {
  return renderInvocationTimes(run.functions, plain);
}
