/**
 * The producer is killed (SIGKILL) mid-run, at a moment when it has sent events that its checkpoint
 * does not cover yet, and resumed from the checkpoint. The resumed run sends those events again, under
 * the event ids they had the first time. The contract is exactly once: nothing is lost, and verify
 * against the source CSV itself passes, so DynamoDB and the lake count every re-sent event once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { expect, it } from 'vitest';
import { openLocalEngine } from '../../analytics/local-engine.ts';
import { SOURCE_TAG_LENGTH } from '../../core/event.ts';
import { type CheckpointFile, loadCheckpoint } from '../../producer/checkpoint.ts';
import type { ReplaySummary } from '../../producer/replay.ts';
import { readStream } from '../support/producer-support.ts';
import { spawnReplayChild } from '../support/replay-child-process.ts';
import {
  BAD_ROWS,
  expectedRejects,
  expectVerified,
  replayOnce,
  runScenario,
  type ScenarioContext,
} from './scenario.ts';

const TOTAL_ROWS = 4_000 + BAD_ROWS.length + 1;

/** Events in the stream by event id: how many copies of each. */
async function copiesById(context: ScenarioContext): Promise<Map<string, number>> {
  const copies = new Map<string, number>();
  for (const { body } of await readStream(context.stack.kinesis, context.stack.names.eventsStream)) {
    const id = String(body.event_id);
    copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  return copies;
}

/** The source line an event id names (core/event.ts eventId: the tag, then the line in base36). */
const lineOf = (id: string) => Number.parseInt(id.slice(SOURCE_TAG_LENGTH), 36);

/**
 * Kills the paced child once its checkpoint is past a third of the file and it has sent events the
 * checkpoint does not cover: the child is frozen (SIGSTOP) while the stream is read, so what is seen
 * is what it leaves behind, and let go again (SIGCONT) to try a little later when too little is unsaved.
 */
async function killThenResume(
  context: ScenarioContext,
  files: { checkpoint: string; rejects: string; failedOut: string },
) {
  const { stack, source } = context;
  const { child, exited, output } = spawnReplayChild(
    {
      endpoint: stack.endpoints.kinesis,
      streamName: stack.names.eventsStream,
      source: source.path,
      ...files,
    },
    { paced: true },
  );
  let unsaved = 0;
  let saved: CheckpointFile | undefined;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || i > 3_000)
      throw new Error(`child ended or stalled before it could be killed: ${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const state = existsSync(files.checkpoint) ? loadCheckpoint(files.checkpoint) : undefined;
    if (!state || state.line <= 1_500) continue;
    child.kill('SIGSTOP');
    saved = loadCheckpoint(files.checkpoint);
    const line = saved?.line ?? 0;
    unsaved = [...(await copiesById(context)).keys()].filter((id) => lineOf(id) > line).length;
    // Enough re-sent events to show (fifty or more), or any, once the run is nearly through.
    if (unsaved >= 50 || (unsaved > 0 && line > 3_000)) break;
    child.kill('SIGCONT');
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  expect(output()).not.toContain('finished');
  expect(saved?.complete).toBe(false);
  expect(loadCheckpoint(files.checkpoint)).toEqual(saved);
  const resumed = await replayOnce(context, files);
  return { saved, resumed, unsaved };
}

it('producer-kill: a producer killed mid-run and resumed counts every event exactly once', async () => {
  let run: { saved: CheckpointFile | undefined; resumed: ReplaySummary; unsaved: number } | undefined;
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
    },
    async (result) => {
      // Verify against the source itself: every DynamoDB count, every user window, the lake's events.
      expectVerified(result);
      const { saved, resumed, unsaved = 0 } = run ?? {};
      expect(resumed?.resumedFrom?.line).toBe(saved?.line);
      // Every row read exactly once over both runs, and accounted for.
      expect((saved?.read ?? 0) + (resumed?.read ?? 0)).toBe(TOTAL_ROWS);
      expect(resumed?.read).toBe(
        (resumed?.sent ?? 0) + (resumed?.rejected.total ?? 0) + (resumed?.failed ?? 0),
      );
      expect(resumed?.failed).toBe(0);

      // The stream holds every event, the ones sent after the checkpoint twice under one id.
      const copies = await copiesById(result.context);
      const accepted = result.truth.accepted;
      expect(copies.size).toBe(accepted);
      const twice = [...copies.values()].filter((n) => n === 2).length;
      expect([...copies.values()].every((n) => n === 1 || n === 2)).toBe(true);
      expect(twice).toBeGreaterThanOrEqual(unsaved);
      expect(unsaved).toBeGreaterThan(0);
      expect(twice).toBeLessThanOrEqual(resumed?.possibleDuplicates ?? 0);

      // Zero double counts: DynamoDB's totals add up to the source's events, and so does the lake,
      // which holds the re-sent events twice and counts them once.
      const stored = result.checks.filter((check) => check.name.startsWith('DynamoDB '));
      expect(stored.reduce((sum, check) => sum + Number(check.actual), 0)).toBe(accepted);
      const engine = await openLocalEngine({
        s3: result.context.stack.s3,
        names: result.context.stack.names,
      });
      try {
        const lake = await engine.query(
          'SELECT count(*) AS n, count(DISTINCT event_id) AS events FROM events',
        );
        expect(lake.rows).toEqual([{ n: accepted + twice, events: accepted }]);
        // user_activity holds the re-sent events' ids in the resumed run's partials too; counted as the
        // named queries count (distinct ids per window), every event once.
        const ids = ['view_ids', 'cart_ids', 'remove_from_cart_ids', 'purchases'];
        const activity = await engine.query(
          `SELECT sum(stored) AS stored, sum(distinct_ids) AS distinct_ids FROM (
             SELECT sum(${ids.map((c) => `cardinality(${c})`).join(' + ')}) AS stored,
               ${ids.map((c) => `cardinality(array_distinct(flatten(array_agg(${c}))))`).join(' + ')} AS distinct_ids
             FROM user_activity GROUP BY user_id, window_start) windows`,
        );
        expect(Number(activity.rows[0]?.distinct_ids)).toBe(accepted);
        expect(Number(activity.rows[0]?.stored)).toBeGreaterThanOrEqual(accepted + twice);
      } finally {
        await engine.close();
      }

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
  // A whole stack, a paced producer killed and resumed, and the drain: minutes on a busy machine.
}, 300_000);
