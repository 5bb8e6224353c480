import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { partialRecords, totalOf, type UserWindowPartial } from '../../core/aggregate.ts';
import {
  aggregateEvents,
  emptyWindowState,
  foldEvent,
  isWindowState,
  mergePartials,
  readEventRecord,
  takePartials,
  toUserWindowTotal,
  upgradeWindowState,
  type WindowState,
} from '../../core/window.ts';
import { eventsOfType, makeEvent } from '../support/consumers-factories.ts';

function foldAll(events: ReturnType<typeof makeEvent>[], windowSeconds = 60, firstPosition = 1) {
  const state = emptyWindowState(windowSeconds);
  events.forEach((event, i) =>
    foldEvent(
      state,
      event,
      Date.parse(event.event_time),
      String(firstPosition + i),
      undefined,
      event.event_id,
    ),
  );
  return takePartials(state, 'shard-a');
}

const totalOfPartials = (partials: UserWindowPartial[]) => [...mergePartials(partials).values()].map(totalOf);

describe('window fold', () => {
  it('names events per type, distinct sessions and products, purchase prices and first/last time per (user, window)', () => {
    const events = [
      makeEvent({
        event_time: '2019-10-01T00:00:59Z',
        event_type: 'view',
        product_id: '1',
        user_session: 's1',
      }),
      makeEvent({
        event_time: '2019-10-01T00:00:01Z',
        event_type: 'cart',
        product_id: '1',
        user_session: 's1',
      }),
      makeEvent({
        event_time: '2019-10-01T00:00:30Z',
        event_type: 'purchase',
        product_id: '2',
        price: 0.1,
        user_session: 's2',
      }),
      makeEvent({
        event_time: '2019-10-01T00:00:31Z',
        event_type: 'purchase',
        product_id: '2',
        price: 0.2,
        user_session: null,
      }),
      makeEvent({ event_time: '2019-10-01T00:00:32Z', event_type: 'remove_from_cart', product_id: '3' }),
      makeEvent({ event_time: '2019-10-01T00:01:00Z', event_type: 'view', product_id: '9' }),
      makeEvent({ event_time: '2019-10-01T00:00:10Z', user_id: '7', product_id: '1' }),
    ];
    const partials = foldAll(events);
    expect(partials).toHaveLength(3);
    const first = partials.find(
      (p) => p.user_id === '512345678' && p.window_start === '2019-10-01T00:00:00Z',
    );
    const ids = events.map((e) => e.event_id);
    expect(first).toMatchObject({
      window_seconds: 60,
      view_ids: [ids[0]],
      cart_ids: [ids[1]],
      remove_from_cart_ids: [ids[4]],
      purchases: [`${ids[2]}:10`, `${ids[3]}:20`],
      first_event_time: '2019-10-01T00:00:01Z',
      last_event_time: '2019-10-01T00:00:59Z',
    });
    expect(totalOfPartials(first ? [first] : [])[0]).toMatchObject({
      view_count: 1,
      cart_count: 1,
      remove_from_cart_count: 1,
      purchase_count: 2,
      total_count: 5,
      revenue: 0.3,
    });
    expect(new Set(first?.sessions)).toEqual(new Set(['s1', 's2', 'c6f1a1c2-0000-4000-8000-000000000001']));
    expect(new Set(first?.products)).toEqual(new Set(['1', '2', '3']));
    const next = partials.find((p) => p.window_start === '2019-10-01T00:01:00Z');
    expect(next?.view_ids).toEqual([ids[5]]);
  });

  it('uses the configured window length', () => {
    const events = [
      makeEvent({ event_time: '2019-10-01T00:04:59Z' }),
      makeEvent({ event_time: '2019-10-01T00:05:00Z' }),
    ];
    expect(
      foldAll(events, 300)
        .map((p) => p.window_start)
        .sort(),
    ).toEqual(['2019-10-01T00:00:00Z', '2019-10-01T00:05:00Z']);
  });

  it('gives the same contribution ids for the same records from the same state, and different ones per shard', () => {
    const events = eventsOfType('view', 3);
    const a = foldAll(events).map((p) => p.contribution_id);
    const b = foldAll(events).map((p) => p.contribution_id);
    expect(a).toEqual(b);
    const state = emptyWindowState(60);
    events.forEach((event, i) => foldEvent(state, event, Date.parse(event.event_time), String(i + 1)));
    expect(takePartials(state, 'shard-b').map((p) => p.contribution_id)).not.toEqual(a);
  });

  it('names a flush with one contribution id for all its partials, and the next flush with another', () => {
    const state = emptyWindowState(60);
    const users = ['1', '2', '3'];
    users.forEach((user, i) => {
      const event = makeEvent({ user_id: user, event_time: `2019-10-01T00:0${i}:10Z` });
      foldEvent(state, event, Date.parse(event.event_time), String(i + 1));
    });
    const first = takePartials(state, 'shard-a');
    expect(first.map((p) => p.user_id).sort()).toEqual(users);
    expect(new Set(first.map((p) => p.contribution_id)).size).toBe(1);
    // The same user and window again, in the next flush: a second contribution, not a redelivery.
    const again = makeEvent({ user_id: '1', event_time: '2019-10-01T00:00:20Z' });
    foldEvent(state, again, Date.parse(again.event_time), '4');
    const [second] = takePartials(state, 'shard-a');
    expect(second?.contribution_id).not.toBe(first[0]?.contribution_id);
    const merged = mergePartials([...first, ...(second ? [second] : []), ...first]);
    const total = merged.get('1|2019-10-01T00:00:00Z');
    expect(total && totalOf(total)).toMatchObject({ total_count: 2, contributions: 2 });
  });

  it('flushes at the same records whatever the batching, with state serialized between batches as Lambda does', () => {
    const events = Array.from({ length: 400 }, (_, i) =>
      makeEvent({
        user_id: String(i % 97),
        product_id: String(i),
        event_time: `2019-10-01T00:0${i % 10}:00Z`,
      }),
    );
    const run = (cuts: number[]): UserWindowPartial[] => {
      const partials: UserWindowPartial[] = [];
      let stateJson = JSON.stringify(emptyWindowState(60));
      let start = 0;
      for (const end of [...cuts, events.length]) {
        const state = JSON.parse(stateJson) as WindowState;
        for (let i = start; i < end; i++) {
          const event = events[i]!;
          if (foldEvent(state, event, Date.parse(event.event_time), String(i), 4096))
            partials.push(...takePartials(state, 's'));
        }
        stateJson = JSON.stringify(state);
        start = end;
      }
      partials.push(...takePartials(JSON.parse(stateJson) as WindowState, 's'));
      return partials;
    };
    const reference = run([]);
    expect(reference.length).toBeGreaterThan(97); // the 4 KB cap forced early flushes
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: events.length - 1 }), { maxLength: 20 }),
        (cuts) => {
          const partials = run(cuts.sort((x, y) => x - y));
          expect(partials.map((p) => p.contribution_id)).toEqual(reference.map((p) => p.contribution_id));
          expect(partials).toEqual(reference);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('keeps its byte estimate at or above the serialized size', () => {
    const state = emptyWindowState(60);
    for (let i = 0; i < 5000; i++) {
      const event = makeEvent({
        user_id: String(500_000_000 + i),
        user_session: `session-"é-${i}`,
        product_id: String(i),
      });
      foldEvent(state, event, Date.parse(event.event_time), String(10n ** 55n + BigInt(i)));
    }
    expect(state.bytes).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(state)));
  });

  it('gives back every event id exactly, kept compact or not, and estimates the state at or above its size', () => {
    const ids = [
      ...Array.from({ length: 3_000 }, (_, i) => `Xk3_a9Qz${(i * 7919).toString(36)}`),
      'Xk3_a9Qz0', // line 0
      'Xk3_a9Qz01', // a leading zero prints back differently: kept as it is
      'Xk3_a9QzA1', // upper case, likewise
      'Xk3_a9Qz-1',
      'Xk3_a9Qz1234567890a', // eleven digits: past 2^53 in base36
      'Other_tg2s1', // another source
      'short',
      '12345/7',
    ];
    const events = ids.map((id, i) =>
      makeEvent({
        event_id: id,
        event_type: i % 3 === 0 ? 'cart' : i % 3 === 1 ? 'view' : 'remove_from_cart',
      }),
    );
    let state = emptyWindowState(60);
    events.forEach((event, i) => {
      if (i === 1_500) state = JSON.parse(JSON.stringify(state)) as WindowState; // a new invocation
      foldEvent(state, event, Date.parse(event.event_time), String(i + 1), undefined, event.event_id);
    });
    expect(state.t).toBe('Xk3_a9Qz');
    expect(state.bytes).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(state)));
    const [partial] = takePartials(state, 'shard-a');
    const byType = (type: string) => events.filter((e) => e.event_type === type).map((e) => e.event_id);
    expect(partial?.view_ids).toEqual(byType('view'));
    expect(partial?.cart_ids).toEqual(byType('cart'));
    expect(partial?.remove_from_cart_ids).toEqual(byType('remove_from_cart'));
  });

  it('cuts a partial too big for one Kinesis record into records that merge as the partial does', () => {
    const events = Array.from({ length: 90_000 }, (_, i) =>
      makeEvent({
        event_id: `Xk3_a9Qz${(36 ** 4 + i).toString(36)}`,
        event_type: i % 50 === 0 ? 'purchase' : 'view',
        product_id: String(i % 5_000),
        user_session: `s${i % 300}`,
      }),
    );
    const [partial] = foldAll(events);
    if (!partial) throw new Error('no partial');
    expect(Buffer.byteLength(JSON.stringify(partial))).toBeGreaterThan(1_000_000);
    const records = partialRecords(partial);
    expect(records.length).toBeGreaterThan(1);
    for (const record of records) expect(Buffer.byteLength(record)).toBeLessThanOrEqual(1_000_000);
    const pieces = records.map((record) => JSON.parse(record) as UserWindowPartial);
    expect(totalOfPartials(pieces)).toEqual(totalOfPartials([partial]));
    expect(totalOfPartials(pieces)[0]).toMatchObject({ total_count: 90_000, purchase_count: 1_800 });
    expect(partialRecords(foldAll(events.slice(0, 10))[0] as UserWindowPartial)).toHaveLength(1);
  });

  it('takes over a state of the counting fold (a deployment mid-window) with the same totals, the same ids on a retry', () => {
    const counting = {
      v: 1,
      ws: 60,
      first: '4960',
      last: '4999',
      bytes: 400,
      entries: {
        '1569888000|7': {
          u: '7',
          w: 1569888000,
          n: [3, 1, 0, 2],
          r: 1234,
          f: 1569888001,
          l: 1569888050,
          s: ['s1'],
          p: ['p1', 'p2'],
        },
      },
    };
    const state = upgradeWindowState(JSON.parse(JSON.stringify(counting)));
    expect(state && isWindowState(state)).toBe(true);
    expect(state?.bytes).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(state)));
    const partials = takePartials(state as WindowState, 'shard-a');
    const again = takePartials(upgradeWindowState(counting) as WindowState, 'shard-a');
    expect(again).toEqual(partials);
    expect(totalOfPartials([...partials, ...again])[0]).toMatchObject({
      user_id: '7',
      window_start: '2019-10-01T00:00:00Z',
      view_count: 3,
      cart_count: 1,
      remove_from_cart_count: 0,
      purchase_count: 2,
      total_count: 6,
      revenue: 12.34,
      distinct_sessions: 1,
      distinct_products: 2,
      first_event_time: '2019-10-01T00:00:01Z',
      last_event_time: '2019-10-01T00:00:50Z',
    });
    expect(upgradeWindowState({})).toBeUndefined();
    expect(upgradeWindowState(emptyWindowState(60))).toBeUndefined();
  });

  it('keeps sessions and products distinct, in first-seen order, for users with hundreds of ids, across serialized state', () => {
    // A scraper-like user: far more ids than the fold scans linearly, revisiting old ones.
    const events = Array.from({ length: 600 }, (_, i) =>
      makeEvent({ product_id: String((i * 7) % 250), user_session: i % 5 === 0 ? null : `s${i % 40}` }),
    );
    let state = emptyWindowState(60);
    events.forEach((event, i) => {
      if (i === 300) state = JSON.parse(JSON.stringify(state)) as WindowState; // a new invocation
      foldEvent(state, event, Date.parse(event.event_time), String(i + 1));
    });
    expect(state.bytes).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(state)));
    const [partial] = takePartials(state, 'shard-a');
    expect(partial?.products).toEqual([...new Set(events.map((e) => e.product_id))]);
    expect(partial?.sessions).toEqual([
      ...new Set(events.flatMap((e) => (e.user_session === null ? [] : [e.user_session]))),
    ]);
    expect(partial?.products).toHaveLength(250);
    expect(partial?.sessions).toHaveLength(32); // s0..s39 without the multiples of 5 (those events have no session)
  });

  it('merges partials exactly, counting a partial delivered twice once', () => {
    const partials = foldAll(eventsOfType('view', 4));
    const twice = mergePartials([...partials, ...partials]);
    expect([...twice.values()].map(toUserWindowTotal)[0]).toMatchObject({
      view_count: 4,
      total_count: 4,
      contributions: 1,
    });
    const reference = aggregateEvents(eventsOfType('view', 4));
    expect([...reference.values()].map(totalOf)[0]?.total_count).toBe(4);
  });

  it('counts an event re-sent by a resumed producer once: same id, another partial and contribution', () => {
    const events = [
      ...eventsOfType('view', 3),
      makeEvent({ event_type: 'purchase', price: 12.34, user_session: 's9', product_id: '77' }),
      makeEvent({ event_type: 'cart', event_time: '2019-10-01T00:00:50Z' }),
    ];
    const reference = totalOfPartials(foldAll(events));
    // The resumed run sends the last three again: new records at later positions, so a later flush.
    const resent = foldAll(events.slice(2), 60, 1_000);
    expect(resent[0]?.contribution_id).not.toBe(foldAll(events)[0]?.contribution_id);
    const merged = totalOfPartials([...foldAll(events), ...resent]);
    expect(merged.map(({ contributions: _c, ...total }) => total)).toEqual(
      reference.map(({ contributions: _c, ...total }) => total),
    );
    expect(merged[0]).toMatchObject({ total_count: 5, purchase_count: 1, revenue: 12.34, contributions: 2 });
    // The same events under new ids are new events: this is what the ids decide.
    const renamed = events.slice(2).map((event) => ({ ...event, event_id: `${event.event_id}r` }));
    expect(totalOfPartials([...foldAll(events), ...foldAll(renamed, 60, 1_000)])[0]?.total_count).toBe(8);
  });
});

describe('readEventRecord', () => {
  it('accepts a producer record', () => {
    const result = readEventRecord(JSON.stringify(makeEvent()));
    expect(result.ok).toBe(true);
  });

  it('reads event times exactly as Date.parse does, also within a minute it has just seen', () => {
    const read = (time: string) => readEventRecord(JSON.stringify(makeEvent({ event_time: time })));
    for (const time of [
      '2019-10-01T00:07:00Z',
      '2019-10-01T00:07:59Z',
      '2019-10-01T00:07:09Z',
      '2020-02-29T23:59:30Z',
    ]) {
      const result = read(time);
      expect(result.ok && result.eventMs, time).toBe(Date.parse(time));
    }
    read('2019-10-01T00:07:00Z');
    for (const time of [
      '2019-10-01T00:07:60Z',
      '2019-10-01T00:07:5Z',
      '2019-10-01T00:07:0aZ',
      '2019-10-01T00:07:00z',
    ]) {
      expect(read(time).ok, time).toBe(false);
    }
    expect(read('2019-10-01T24:00:00Z').ok).toBe(true);
    expect(read('2019-10-01T24:00:30Z').ok).toBe(false); // hour 24 only as 24:00:00
  });

  it.each([
    ['not json', '{"event_time":', 'bad_json'],
    ['bad base64 decoded to garbage', Buffer.from('%%%', 'base64').toString('utf8'), 'bad_json'],
    ['an array', '[1]', 'not_an_object'],
    ['missing user_id', JSON.stringify({ ...makeEvent(), user_id: undefined }), 'missing_field'],
    ['numeric user_id', JSON.stringify({ ...makeEvent(), user_id: 512345678 }), 'bad_field'],
    ['Kaggle time format', JSON.stringify(makeEvent({ event_time: '2019-10-01 00:00:00 UTC' })), 'bad_field'],
    ['unknown type', JSON.stringify({ ...makeEvent(), event_type: 'click' }), 'bad_field'],
    ['price as string', JSON.stringify({ ...makeEvent(), price: '1.00' }), 'bad_field'],
    ['missing session', JSON.stringify({ ...makeEvent(), user_session: undefined }), 'missing_field'],
    ['missing event id', JSON.stringify({ ...makeEvent(), event_id: undefined }), 'missing_field'],
    ['event id with a colon', JSON.stringify(makeEvent({ event_id: 'a:1' })), 'bad_field'],
    ['oversize event id', JSON.stringify(makeEvent({ event_id: 'a'.repeat(65) })), 'bad_field'],
    ['oversize product id', JSON.stringify(makeEvent({ product_id: '1'.repeat(300) })), 'bad_field'],
  ])('rejects %s', (_name, json, reason) => {
    const result = readEventRecord(json);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toBe(reason);
  });
});
