/**
 * The aggregator's flush: every partial merged, and each user's records put on the user-activity
 * stream only once all of that user's merges in the flush are done (the alerter reads a user's windows
 * together, and some rules are not monotonic), as users complete rather than after the whole flush.
 */
import type { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { flushPartials } from '../../consumers/window-aggregator/flush.ts';
import type { UserWindowPartial } from '../../core/aggregate.ts';

const expiry = { now: () => Date.parse('2019-10-01T01:00:00Z'), ttlSeconds: 86_400 };

/** `users` users with `windows` windows each, in the fold's order: window by window, not user by user. */
function partialsOf(users: number, windows: number): UserWindowPartial[] {
  const partials: UserWindowPartial[] = [];
  for (let w = 0; w < windows; w++) {
    const start = `2019-10-01T00:0${w}:00Z`;
    for (let u = 0; u < users; u++) {
      partials.push({
        user_id: `user-${u}`,
        window_start: start,
        window_seconds: 60,
        contribution_id: 'shardId-000000000000:1-9',
        view_ids: [`v${w}-${u}`],
        cart_ids: [],
        remove_from_cart_ids: [],
        purchases: w === windows - 1 ? [`p${u}:1999`] : [],
        sessions: [`s${u}`],
        products: ['42'],
        first_event_time: start,
        last_event_time: start,
      });
    }
  }
  return partials;
}

interface Seen {
  /** Merges that have answered, by user. */
  mergedByUser: Map<string, number>;
  inFlight: { merges: number; puts: number };
  /** For every record put: the user, its window, and how many of the user's merges had answered. */
  put: Array<{ user: string; window: string; userMergesDone: number }>;
  /** Merges answered in all when each PutRecords call began. */
  mergesDoneAtPut: number[];
}

/**
 * DynamoDB and Kinesis fakes that answer after a few event-loop turns (a varying number, so merges
 * finish out of order) and record what the flush did. `failMerge` makes that (user, window) merge fail;
 * `failPuts` makes every PutRecords call fail.
 */
function fakes(options: { failMerge?: { user: string; window: string }; failPuts?: boolean } = {}) {
  const seen: Seen = {
    mergedByUser: new Map(),
    inFlight: { merges: 0, puts: 0 },
    put: [],
    mergesDoneAtPut: [],
  };
  let calls = 0;
  let mergesDone = 0;
  const later = async (turns: number) => {
    for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  const dynamo = {
    send: async (command: UpdateCommand) => {
      const [user, window] = Object.values(command.input.Key ?? {}) as [string, string];
      seen.inFlight.merges++;
      await later(1 + ((calls++ * 7) % 5));
      seen.inFlight.merges--;
      if (options.failMerge?.user === user && options.failMerge.window === window) {
        throw new Error('merge failed: internal server error');
      }
      seen.mergedByUser.set(user, (seen.mergedByUser.get(user) ?? 0) + 1);
      mergesDone++;
      return { Attributes: {} };
    },
  } as unknown as DynamoDBDocumentClient;
  const kinesis = {
    send: async (command: PutRecordsCommand) => {
      seen.mergesDoneAtPut.push(mergesDone);
      seen.inFlight.puts++;
      await later(3);
      seen.inFlight.puts--;
      if (options.failPuts) throw new Error('AccessDeniedException');
      for (const record of command.input.Records ?? []) {
        const partial = JSON.parse(
          Buffer.from(record.Data as Uint8Array).toString('utf8'),
        ) as UserWindowPartial;
        seen.put.push({
          user: partial.user_id,
          window: partial.window_start,
          userMergesDone: seen.mergedByUser.get(partial.user_id) ?? 0,
        });
      }
      return { FailedRecordCount: 0, Records: [] };
    },
  } as unknown as KinesisClient;
  return { target: { dynamo, kinesis, tableName: 'user-activity', streamName: 'user-activity' }, seen };
}

describe('flushPartials', () => {
  it('puts each user once all of its merges are done, while other users are still merging', async () => {
    const { target, seen } = fakes();
    const partials = partialsOf(800, 2);

    const counts = await flushPartials(target, partials, expiry);

    expect(counts).toEqual({ merged: 1_600, mergeCalls: 1_600, spilled: 0 });
    // Every partial put exactly once.
    expect(seen.put).toHaveLength(1_600);
    expect(new Set(seen.put.map((record) => `${record.user}|${record.window}`)).size).toBe(1_600);
    // Never a record of a user with a merge still to answer.
    expect(seen.put.filter((record) => record.userMergesDone !== 2)).toEqual([]);
    // The first PutRecords call began while most of the flush was still merging.
    expect(seen.mergesDoneAtPut.length).toBeGreaterThanOrEqual(4);
    expect(seen.mergesDoneAtPut[0]).toBeLessThan(1_600 / 2);
    expect(seen.inFlight).toEqual({ merges: 0, puts: 0 });
  });

  it('fails on a failed merge only once nothing is in flight, and puts nothing of that user', async () => {
    const { target, seen } = fakes({ failMerge: { user: 'user-700', window: '2019-10-01T00:01:00Z' } });

    await expect(flushPartials(target, partialsOf(800, 2), expiry)).rejects.toThrow('merge failed');

    expect(seen.inFlight).toEqual({ merges: 0, puts: 0 });
    expect(seen.mergedByUser.get('user-700')).toBe(1);
    expect(seen.put.filter((record) => record.user === 'user-700')).toEqual([]);
    expect(seen.put.filter((record) => record.userMergesDone !== 2)).toEqual([]);
    // No put starts after the failure: the calls made were all made before the flush settled.
    const putsAtFailure = seen.mergesDoneAtPut.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen.mergesDoneAtPut.length).toBe(putsAtFailure);
  });

  it('fails on a failed put once every merge has answered', async () => {
    const { target, seen } = fakes({ failPuts: true });

    await expect(flushPartials(target, partialsOf(800, 2), expiry)).rejects.toThrow('AccessDeniedException');

    expect(seen.inFlight).toEqual({ merges: 0, puts: 0 });
    expect([...seen.mergedByUser.values()].reduce((sum, merged) => sum + merged, 0)).toBe(1_600);
    // After the first failure no further call was made.
    expect(seen.mergesDoneAtPut).toHaveLength(1);
  });
});
