/**
 * The producer is killed (SIGKILL) mid-run and resumed from its checkpoint. Its contract is
 * at-least-once: nothing below the checkpoint is sent again, rows after it that the killed run had
 * already sent arrive twice, at most `possibleDuplicates` of them (producer/checkpoint.ts). The
 * pipeline then counts exactly what the stream carries, so verify compares against the source plus
 * the records the stream holds twice ("as delivered"), and every source event must be in the stream.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { expect, it } from 'vitest';
import { eventToFields, parseRow } from '../../core/event.ts';
import { loadCheckpoint } from '../../producer/checkpoint.ts';
import type { ReplaySummary } from '../../producer/replay.ts';
import { readStream } from '../producer-support.ts';
import {
  BAD_ROWS,
  expectedRejects,
  expectVerified,
  replayOnce,
  runScenario,
  type ScenarioContext,
  writeSource,
} from './scenario.ts';

const TOTAL_ROWS = 4_000 + BAD_ROWS.length + 1;

async function killThenResume(
  context: ScenarioContext,
  files: { checkpoint: string; rejects: string; failedOut: string },
) {
  const { stack, source } = context;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'producer-child.ts'),
      stack.endpoints.kinesis,
      stack.names.eventsStream,
      source.path,
      files.checkpoint,
      files.rejects,
      files.failedOut,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  // Kill once the checkpoint is past a third of the file: mid-run, with calls in flight.
  for (let i = 0; ; i++) {
    const state = existsSync(files.checkpoint) ? loadCheckpoint(files.checkpoint) : undefined;
    if (state && state.line > 1_500) break;
    if (child.exitCode !== null || i > 3_000)
      throw new Error(`child ended or stalled before it could be killed: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  expect(output).not.toContain('finished');
  const saved = loadCheckpoint(files.checkpoint);
  expect(saved?.complete).toBe(false);
  const resumed = await replayOnce(context, files);
  return { saved, resumed };
}

/** Source rows plus the events the stream carries more often than the source has them. */
async function asDelivered(
  context: ScenarioContext,
): Promise<{ path: string; lost: number; duplicates: number }> {
  const key = (event: Record<string, unknown>) => {
    const { replayed_at: _sentAt, ...fields } = event;
    return JSON.stringify(fields, Object.keys(fields).sort());
  };
  const expected = new Map<string, number>();
  for (const line of context.source.goodLines) {
    const parsed = parseRow(line.split(','));
    if (!parsed.ok) throw new Error(`generated row rejected: ${line}`);
    const k = key({ ...parsed.event });
    expected.set(k, (expected.get(k) ?? 0) + 1);
  }
  const extraLines: string[] = [];
  for (const record of await readStream(context.stack.kinesis, context.stack.names.eventsStream)) {
    const k = key(record.body);
    const left = expected.get(k) ?? 0;
    if (left > 0) expected.set(k, left - 1);
    else extraLines.push(eventToFields(record.body as never).join(','));
  }
  const lost = [...expected.values()].reduce((a, b) => a + b, 0);
  return { path: writeSource(context.dir, extraLines).path, lost, duplicates: extraLines.length };
}

it('producer-kill: a producer killed mid-run and resumed loses nothing, and the pipeline counts what was delivered', async () => {
  let run: { saved: ReturnType<typeof loadCheckpoint>; resumed: ReplaySummary } | undefined;
  let delivered: Awaited<ReturnType<typeof asDelivered>> | undefined;
  let rejectsFile = '';
  await runScenario(
    {
      profile: 'producer-kill',
      replay: async (context) => {
        rejectsFile = join(context.dir, 'replay.rejects.csv');
        const files = {
          checkpoint: join(context.dir, 'replay.checkpoint.json'),
          rejects: rejectsFile,
          failedOut: join(context.dir, 'replay.failed.jsonl'),
        };
        run = await killThenResume(context, files);
        return run.resumed;
      },
      truthSource: async (context) => {
        delivered = await asDelivered(context);
        return delivered.path;
      },
    },
    (result) => {
      expectVerified(result);
      const { saved, resumed } = run ?? {};
      expect(resumed?.resumedFrom?.line).toBe(saved?.line);
      // Every row read exactly once over both runs, and accounted for.
      expect((saved?.read ?? 0) + (resumed?.read ?? 0)).toBe(TOTAL_ROWS);
      expect(resumed?.read).toBe(
        (resumed?.sent ?? 0) + (resumed?.rejected.total ?? 0) + (resumed?.failed ?? 0),
      );
      expect(resumed?.failed).toBe(0);
      expect(delivered?.lost).toBe(0);
      expect(delivered?.duplicates).toBeLessThanOrEqual(resumed?.possibleDuplicates ?? 0);
      // Rejects of both runs: each bad row once by line (a row re-read after the checkpoint is written again).
      const rows = parse(readFileSync(rejectsFile), { columns: true, relax_column_count: true }) as Array<{
        line: string;
        reason: string;
      }>;
      const byLine = new Map(rows.map((row) => [row.line, row.reason]));
      const reasons: Record<string, number> = {};
      for (const reason of byLine.values()) reasons[reason] = (reasons[reason] ?? 0) + 1;
      expect(reasons).toEqual(expectedRejects());
    },
  );
});
