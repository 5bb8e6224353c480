/**
 * The user-activity item on the DynamoDB emulator (dynalite, which enforces the 400 KB item limit):
 * a merge is a union of event ids, so a re-sent event, a re-sent partial and a retried write change no
 * total; and a user-window too big for one item spills to overflow items that every reader (a scan, the
 * alerter's Query of a user's windows) merges.
 */
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachStoredTotal, scanAll } from '../../analytics/verify.ts';
import {
  chunksOf,
  ITEM_ATTRIBUTES,
  mergePartial,
  readUserWindows,
  totalsOfItems,
} from '../../consumers/user-activity-item.ts';
import {
  purchaseEntry,
  totalOf,
  type UserWindowPartial,
  type UserWindowTotal,
} from '../../core/aggregate.ts';
import { mergePartials } from '../../core/window.ts';
import { startDynamo } from '../support/consumers-emulators.ts';

let dynamo: Awaited<ReturnType<typeof startDynamo>>['dynamo'];
let stop: () => Promise<void>;
let tableCount = 0;

beforeAll(async () => {
  const started = await startDynamo({ userActivityTable: 'ua-0', alertDedupeTable: 'ad-0' });
  dynamo = started.dynamo;
  stop = started.stop;
});
afterAll(async () => stop?.());

/** A fresh table per test, so scans see only that test's items. */
async function freshTable(): Promise<string> {
  tableCount++;
  const { DYNAMO_TABLES } = await import('../../core/dynamo-tables.ts');
  const { createTableCommand } = await import('../../local/dynamodb-emulator.ts');
  const [spec] = DYNAMO_TABLES({
    userActivityTable: `ua-${tableCount}`,
    alertDedupeTable: `ad-${tableCount}`,
  });
  if (!spec) throw new Error('no user-activity table spec');
  await dynamo.send(createTableCommand(spec.tableName, spec.keys));
  return spec.tableName;
}

const WINDOW = '2019-10-01T00:01:00Z';

function partial(contribution: string, overrides: Partial<UserWindowPartial>): UserWindowPartial {
  return {
    user_id: '512345678',
    window_start: WINDOW,
    window_seconds: 60,
    contribution_id: contribution,
    view_ids: [],
    cart_ids: [],
    remove_from_cart_ids: [],
    purchases: [],
    sessions: ['s1'],
    products: ['p1'],
    first_event_time: '2019-10-01T00:01:10Z',
    last_event_time: '2019-10-01T00:01:20Z',
    ...overrides,
  };
}

/** `count` view ids `<tag><line in base36>`, as the producer names the Kaggle rows (13 characters). */
function viewIds(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `Xk3_a9Qz${(36 ** 4 + from + i).toString(36)}`);
}

const TTL = 2_000_000_000;

describe('user-activity merge', () => {
  it('counts a re-sent event once: same id in another partial under another contribution id', async () => {
    const table = await freshTable();
    const first = partial('flush-1', {
      view_ids: ['e1', 'e2', 'e3'],
      cart_ids: ['e4'],
      purchases: [purchaseEntry('e5', 19.99)],
      sessions: ['s1'],
      products: ['p1', 'p2'],
    });
    // A resumed producer sent e3..e5 again: they fold into a later flush with one new event.
    const resent = partial('flush-2', {
      view_ids: ['e3', 'e6'],
      cart_ids: ['e4'],
      purchases: [purchaseEntry('e5', 19.99)],
      sessions: ['s1', 's2'],
      products: ['p2'],
      first_event_time: '2019-10-01T00:01:05Z',
      last_event_time: '2019-10-01T00:01:30Z',
    });
    const calls = [];
    for (const p of [first, resent, first, resent])
      calls.push((await mergePartial(dynamo, table, p, TTL)).calls);
    // One UpdateItem per partial: no condition fails, no read, no widening of times.
    expect(calls).toEqual([1, 1, 1, 1]);

    const expected = totalOf([...mergePartials([first, resent]).values()][0] as never);
    expect(expected).toMatchObject({
      view_count: 4,
      cart_count: 1,
      purchase_count: 1,
      total_count: 6,
      revenue: 19.99,
      distinct_sessions: 2,
      distinct_products: 2,
      first_event_time: '2019-10-01T00:01:05Z',
      last_event_time: '2019-10-01T00:01:30Z',
      contributions: 2,
    });
    const stored = totalsOfItems(await scanAll(dynamo, table));
    expect(stored).toEqual([expected]);
    const read = await readUserWindows(dynamo, table, '512345678', WINDOW, WINDOW);
    expect(read.map((window) => window.total)).toEqual([expected]);
    expect(read[0]?.sessions).toEqual(new Set(['s1', 's2']));
    expect(read[0]?.products).toEqual(new Set(['p1', 'p2']));
  });

  it('cuts a partial bigger than a chunk into chunks that keep every id once', () => {
    const big = partial('flush-1', { view_ids: viewIds(0, 1_000), products: ['p1', 'p2'] });
    const chunks = chunksOf(big, 2_000);
    expect(chunks.length).toBe(Math.ceil((1_000 * 14 + 2 * 3 + 3) / 2_000));
    for (const chunk of chunks) expect(chunk.bytes).toBeLessThanOrEqual(2_000);
    expect(chunks.flatMap((chunk) => chunk.ids[0])).toEqual(big.view_ids);
    expect(chunks.flatMap((chunk) => chunk.products)).toEqual(['p1', 'p2']);
  });

  it('spills a user-window past the item budget to overflow items, which every reader merges exactly', async () => {
    const table = await freshTable();
    // 2,000-byte items: about 140 ids each, so 1,000 events need several overflow items.
    const options = { itemBudgetBytes: 2_000 };
    const partials = [0, 1, 2, 3].map((i) =>
      partial(`flush-${i}`, { view_ids: viewIds(i * 250, 250), products: [`p${i}`] }),
    );
    // A resumed producer's partial: 300 events already merged, sent again.
    const resent = partial('flush-resumed', { view_ids: viewIds(100, 300), products: ['p1'] });
    let spilled = 0;
    for (const p of [...partials, resent, partials[0] as UserWindowPartial])
      spilled += (await mergePartial(dynamo, table, p, TTL, options)).spilled;
    expect(spilled).toBeGreaterThan(0);

    const items = await scanAll(dynamo, table);
    const base = items.find((item) => item.window_start === WINDOW);
    const overflow = items.filter((item) => item.window_start !== WINDOW);
    expect(overflow.length).toBeGreaterThanOrEqual(5);
    expect(base?.[ITEM_ATTRIBUTES.overflow]).toBe(overflow.length);
    expect(overflow.map((item) => item.window_start).sort()).toEqual(
      Array.from({ length: overflow.length }, (_, i) => `${WINDOW}#${i + 1}`).sort(),
    );
    for (const item of items) expect(item[ITEM_ATTRIBUTES.bytes]).toBeLessThanOrEqual(2_000);

    const expected = totalOf([...mergePartials([...partials, resent]).values()][0] as never);
    expect(expected).toMatchObject({ view_count: 1_000, distinct_products: 4, contributions: 5 });
    expect(totalsOfItems(items)).toEqual([expected]);
    // Verify and the demo stream the table: with one item per page, the window's items arrive in
    // separate pages and still make exactly one total.
    const streamed: UserWindowTotal[] = [];
    await forEachStoredTotal(dynamo, table, (total) => streamed.push(total), { pageSize: 1 });
    expect(streamed).toEqual([expected]);
    // The alerter's Query: a range that ends at the window's start still takes its overflow items.
    const read = await readUserWindows(dynamo, table, '512345678', WINDOW, WINDOW);
    expect(read.map((window) => window.total)).toEqual([expected]);
    expect(read[0]?.products).toEqual(new Set(['p0', 'p1', 'p2', 'p3']));
  });

  it("reads a user's windows in a range with their overflow items, and no other window's or user's", async () => {
    const table = await freshTable();
    const options = { itemBudgetBytes: 2_000 };
    const starts = ['2019-10-01T00:00:00Z', WINDOW, '2019-10-01T00:02:00Z'];
    const partials = starts.map((window_start, i) =>
      partial(`flush-${i}`, {
        window_start,
        view_ids: viewIds(i * 400, 400),
        sessions: [`s${i}`],
        first_event_time: window_start,
        last_event_time: window_start,
      }),
    );
    const other = partial('flush-other', { user_id: '512345679', view_ids: viewIds(5_000, 400) });
    for (const p of [...partials, other]) await mergePartial(dynamo, table, p, TTL, options);
    const items = await scanAll(dynamo, table);
    // Every window of both users spilled: overflow items sit between each window and the next.
    expect(items.filter((item) => String(item.window_start).includes('#')).length).toBeGreaterThanOrEqual(8);

    const expected = [...mergePartials(partials).values()].map(totalOf);
    const byKey = (a: UserWindowTotal, b: UserWindowTotal) =>
      `${a.user_id}|${a.window_start}`.localeCompare(`${b.user_id}|${b.window_start}`);
    const streamed: UserWindowTotal[] = [];
    await forEachStoredTotal(dynamo, table, (total) => streamed.push(total), { pageSize: 2 });
    expect(streamed.sort(byKey)).toEqual(totalsOfItems(items).sort(byKey));
    expect(streamed.map((total) => total.view_count)).toEqual([400, 400, 400, 400]);
    const all = await readUserWindows(dynamo, table, '512345678', starts[0]!, starts[2]!);
    expect(all.map((window) => window.total)).toEqual(expected);
    expect(all.map((window) => window.total.view_count)).toEqual([400, 400, 400]);
    expect(all.map((window) => [...window.sessions])).toEqual([['s0'], ['s1'], ['s2']]);
    // Bounds between window starts, as the alerter's horizons give them.
    const middle = await readUserWindows(
      dynamo,
      table,
      '512345678',
      '2019-10-01T00:00:01Z',
      '2019-10-01T00:01:59Z',
    );
    expect(middle.map((window) => window.total)).toEqual([expected[1]]);
    expect(
      await readUserWindows(dynamo, table, '512345678', '2019-10-01T00:03:00Z', '2019-10-01T01:00:00Z'),
    ).toEqual([]);
  });

  it('keeps a heavy bot under the 400 KB item limit that one item would pass', async () => {
    const table = await freshTable();
    // 40,000 views in one minute: about 560 KB of 13-character ids.
    const ids = viewIds(0, 40_000);
    const key = { user_id: '900000001', window_start: WINDOW };
    await expect(
      dynamo.send(
        new UpdateCommand({
          TableName: table,
          Key: key,
          UpdateExpression: 'ADD view_ids :ids',
          ExpressionAttributeValues: { ':ids': new Set(ids) },
        }),
      ),
    ).rejects.toThrow(/maximum allowed size/);

    const partials = [0, 1, 2, 3].map((i) =>
      partial(`flush-${i}`, { ...key, view_ids: ids.slice(i * 10_000, (i + 1) * 10_000) }),
    );
    let spilled = 0;
    for (const p of partials) spilled += (await mergePartial(dynamo, table, p, TTL)).spilled;
    expect(spilled).toBeGreaterThan(0);
    const read = await readUserWindows(dynamo, table, key.user_id, WINDOW, WINDOW);
    expect(read.map((window) => window.total.view_count)).toEqual([40_000]);
  }, 180_000);
});
